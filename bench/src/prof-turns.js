#!/usr/bin/env node
// Reads a V8 .cpuprofile (from `node --cpu-prof`, best with `--cpu-prof-interval 100`) as a
// timeline: a "turn" is a run of consecutive non-idle samples, i.e. a stretch in which the thread
// did not return to the event loop's poll (or was descheduled in the middle of work: a wall-clock
// sampler cannot tell). A message that arrives during a turn waits for its end, so long turns are
// what a forwarding thread's tail latency is made of.
// Prints, per second of the profile: busy share, turns, the longest turn; then, for the turns
// of at least --min-ms, what they were made of (the callback that started them, and self time).
// usage: node src/prof-turns.js FILE.cpuprofile [--min-ms 5] [--from-s A --to-s B] [--top N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'min-ms': { type: 'string', default: '5' },
    'from-s': { type: 'string' },
    'to-s': { type: 'string' },
    top: { type: 'string', default: '15' },
    json: { type: 'boolean', default: false },
  },
});
if (positionals.length !== 1) {
  console.error('usage: node src/prof-turns.js FILE.cpuprofile [--min-ms 5] [--from-s A --to-s B] [--top N] [--json]');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(/** @type {string} */ (positionals[0]), 'utf8'));
const minUs = Number(values['min-ms']) * 1000;
const top = Number(values.top);

/** @type {Map<number, any>} */
const nodes = new Map(prof.nodes.map((/** @type {any} */ n) => [n.id, n]));
/** @type {Map<number, number>} */
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** @param {any} n */
function label(n) {
  const cf = n.callFrame;
  const url = String(cf.url ?? '')
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/.*\/packages\//, 'packages/');
  return `${cf.functionName || '(anonymous)'}${url ? ` ${url}:${cf.lineNumber + 1}` : ''}`;
}

/** @type {Map<number, string>} */
const entryCache = new Map();
/**
 * The callback a sample's stack started from: the outermost frame under (root) that is not a
 * generic dispatcher, e.g. `onconnection`, `onStreamRead`, `listOnTimeout`, `processImmediate`.
 * @param {number} id
 */
function entryOf(id) {
  const hit = entryCache.get(id);
  if (hit !== undefined) return hit;
  /** @type {any[]} */
  const chain = [];
  for (let cur = id; cur !== undefined; cur = /** @type {number} */ (parent.get(cur))) chain.push(nodes.get(cur));
  chain.reverse(); // root first
  const frames = chain.slice(1);
  const first = frames[0];
  const out = first === undefined ? '(root)' : label(first);
  entryCache.set(id, out);
  return out;
}

const isIdle = (/** @type {number} */ id) => nodes.get(id).callFrame.functionName === '(idle)';

// Sample i covers [t[i], t[i] + timeDeltas[i + 1]): V8 stores, for each sample, the time since the
// previous one, so the duration of sample i is the next delta.
const samples = prof.samples;
const deltas = prof.timeDeltas;
const n = samples.length;
const t = new Float64Array(n);
let acc = prof.startTime;
for (let i = 0; i < n; i++) {
  acc += deltas[i] ?? 0;
  t[i] = acc;
}
const dur = (/** @type {number} */ i) => (i + 1 < n ? (deltas[i + 1] ?? 0) : 0);
const t0 = prof.startTime;
const from = values['from-s'] !== undefined ? t0 + Number(values['from-s']) * 1e6 : -Infinity;
const to = values['to-s'] !== undefined ? t0 + Number(values['to-s']) * 1e6 : Infinity;

/** @type {{ start: number, us: number, first: number, last: number }[]} */
const turns = [];
let open = -1;
for (let i = 0; i < n; i++) {
  const inWindow = t[i] >= from && t[i] < to;
  const busy = inWindow && !isIdle(samples[i]);
  if (busy && open < 0) open = i;
  if (!busy && open >= 0) {
    turns.push({ start: t[open], us: t[i] - t[open], first: open, last: i - 1 });
    open = -1;
  }
}
if (open >= 0) turns.push({ start: t[open], us: t[n - 1] + dur(n - 1) - t[open], first: open, last: n - 1 });

// Per second.
/** @type {Map<number, { busy: number, turns: number, max: number, long: number, longUs: number }>} */
const perSec = new Map();
for (const tr of turns) {
  const s = Math.floor((tr.start - t0) / 1e6);
  const e = perSec.get(s) ?? { busy: 0, turns: 0, max: 0, long: 0, longUs: 0 };
  e.busy += tr.us;
  e.turns++;
  e.max = Math.max(e.max, tr.us);
  if (tr.us >= minUs) {
    e.long++;
    e.longUs += tr.us;
  }
  perSec.set(s, e);
}

const long = turns.filter((tr) => tr.us >= minUs);
/** @type {Map<string, number>} */
const byEntry = new Map();
/** @type {Map<string, number>} */
const bySelf = new Map();
/** @type {Map<string, number>} */
const byEntryAll = new Map();
let longTotal = 0;
for (const tr of long) {
  longTotal += tr.us;
  for (let i = tr.first; i <= tr.last; i++) {
    const id = samples[i];
    const d = dur(i);
    byEntry.set(entryOf(id), (byEntry.get(entryOf(id)) ?? 0) + d);
    bySelf.set(label(nodes.get(id)), (bySelf.get(label(nodes.get(id))) ?? 0) + d);
  }
}
for (const tr of turns) {
  for (let i = tr.first; i <= tr.last; i++) {
    const id = samples[i];
    byEntryAll.set(entryOf(id), (byEntryAll.get(entryOf(id)) ?? 0) + dur(i));
  }
}

/** @param {number} us */
const ms = (us) => (us / 1000).toFixed(1);
/**
 * @param {Map<string, number>} m
 * @param {number} total
 */
function table(m, total) {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => `  ${ms(us).padStart(9)} ms  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${k}`)
    .join('\n');
}

const sorted = turns.map((tr) => tr.us).sort((a, b) => a - b);
const q = (/** @type {number} */ p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
const summary = {
  turns: turns.length,
  long_turns: long.length,
  min_ms: minUs / 1000,
  turn_p50_ms: q(0.5) / 1000,
  turn_p99_ms: q(0.99) / 1000,
  turn_max_ms: (sorted[sorted.length - 1] ?? 0) / 1000,
  long_turns_total_ms: longTotal / 1000,
};
if (values.json) {
  console.log(JSON.stringify({ summary, per_second: Object.fromEntries(perSec) }, null, 2));
  process.exit(0);
}
console.log(
  `turns ${summary.turns}; p50 ${ms(q(0.5))} ms, p99 ${ms(q(0.99))} ms, max ${ms(summary.turn_max_ms * 1000)} ms; ` +
    `${long.length} of ≥ ${minUs / 1000} ms, ${ms(longTotal)} ms in all`,
);
console.log('\nsecond  busy %  turns  longest ms  turns ≥ min  (ms in them)');
for (const [s, e] of [...perSec.entries()].sort((a, b) => a[0] - b[0])) {
  console.log(
    `${String(s).padStart(6)}  ${((e.busy / 1e6) * 100).toFixed(1).padStart(6)}  ${String(e.turns).padStart(5)}  ${ms(e.max).padStart(10)}  ${String(e.long).padStart(11)}  ${ms(e.longUs).padStart(8)}`,
  );
}
if (long.length > 0) {
  console.log(`\nturns ≥ ${minUs / 1000} ms, by the callback they started from:`);
  console.log(table(byEntry, longTotal));
  console.log(`\nturns ≥ ${minUs / 1000} ms, self time:`);
  console.log(table(bySelf, longTotal));
}
const allBusy = turns.reduce((a, tr) => a + tr.us, 0);
console.log('\nall turns, by the callback they started from:');
console.log(table(byEntryAll, allBusy));
