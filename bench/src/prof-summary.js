#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and the
// share of time by category (GC, idle, native, ws, gateway, proto, node internals).
// usage: node src/prof-summary.js FILE.cpuprofile [--top N] [--callers FUNCTION_NAME]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, callers: { type: 'string' } },
});
if (positionals.length !== 1) {
  console.error('usage: node src/prof-summary.js FILE.cpuprofile [--top N]');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(/** @type {string} */ (positionals[0]), 'utf8'));
/** @type {Map<number, any>} */
const nodes = new Map(prof.nodes.map((/** @type {any} */ n) => [n.id, n]));
/** @type {Map<number, number>} */
const selfUs = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
/** @type {Map<string, number>} */
const byFn = new Map();
/** @type {Map<string, number>} */
const byCat = new Map();
let total = 0;
let idle = 0;
for (const [id, us] of selfUs) {
  const n = nodes.get(id);
  const cf = n.callFrame;
  const url = String(cf.url ?? '');
  const short = url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/.*\/packages\//, 'packages/');
  const key = `${cf.functionName || '(anonymous)'}  ${short}${url ? `:${cf.lineNumber + 1}` : ''}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  const cat =
    cf.functionName === '(idle)'
      ? 'idle'
      : cf.functionName === '(garbage collector)'
        ? 'gc'
        : cf.functionName === '(program)'
          ? 'program (native, not attributed)'
          : url.includes('/ws/')
            ? 'ws'
            : url.includes('packages/gateway')
              ? 'gateway'
              : url.includes('packages/proto') || url.includes('@bufbuild')
                ? 'proto'
                : url.includes('packages/auth-eth') || url.includes('@noble')
                  ? 'auth-eth / noble'
                  : url.startsWith('node:')
                    ? 'node internals'
                    : url === ''
                      ? 'native / builtins'
                      : 'other js';
  byCat.set(cat, (byCat.get(cat) ?? 0) + us);
  total += us;
  if (cat === 'idle') idle += us;
}
const busy = total - idle;
const pct = (/** @type {number} */ us) => `${((us / busy) * 100).toFixed(1)}%`;
console.log(
  `profile: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages are of busy time)\n`,
);
console.log('by category:');
for (const [k, us] of [...byCat].filter(([k]) => k !== 'idle').sort((a, b) => b[1] - a[1])) {
  console.log(`  ${pct(us).padStart(6)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
}
console.log(`\ntop ${values.top} functions by self time:`);
for (const [k, us] of [...byFn]
  .filter(([k]) => !k.startsWith('(idle)'))
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(values.top))) {
  console.log(`  ${pct(us).padStart(6)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
}

if (values.callers) {
  // Self time of every node named --callers, attributed to its call stack (5 frames up).
  /** @type {Map<number, number>} */
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** @type {Map<string, number>} */
  const stacks = new Map();
  for (const [id, us] of selfUs) {
    if (nodes.get(id).callFrame.functionName !== values.callers) continue;
    const frames = [];
    let p = parent.get(id);
    while (p !== undefined && frames.length < 6) {
      const cf = nodes.get(p).callFrame;
      frames.push(`${cf.functionName || '(anon)'}:${String(cf.url).split('/').pop()}:${cf.lineNumber + 1}`);
      p = parent.get(p);
    }
    const key = frames.join(' < ');
    stacks.set(key, (stacks.get(key) ?? 0) + us);
  }
  console.log(`\ncallers of ${values.callers}:`);
  for (const [k, us] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 8))
    console.log(`  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}
