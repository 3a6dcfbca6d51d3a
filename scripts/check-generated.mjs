#!/usr/bin/env node
// Fails when the committed generated code differs from what `buf generate` produces now.
// Regenerates in place, then asks git whether anything under packages/proto/src/gen changed.
import { execFileSync } from 'node:child_process';

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', ...opts });

run('pnpm', ['--filter', '@degas/proto', 'run', 'generate']);
try {
  run('git', ['diff', '--exit-code', '--stat', '--', 'packages/proto/src/gen']);
  const untracked = execFileSync('git', ['ls-files', '--others', '--exclude-standard', 'packages/proto/src/gen'], {
    encoding: 'utf8',
  }).trim();
  if (untracked) throw new Error(`untracked generated files:\n${untracked}`);
} catch (e) {
  console.error('\nGenerated code is stale: run `pnpm generate` and commit packages/proto/src/gen.');
  if (e instanceof Error && e.message) console.error(e.message);
  process.exit(1);
}
console.log('generated code is up to date');

// The gateway README's option table, generated from its option schema.
run('node', ['packages/gateway/scripts/options-table.mjs', '--check']);
