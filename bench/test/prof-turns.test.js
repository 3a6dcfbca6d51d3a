// prof-turns.js on a profile whose timeline is known: two turns of 3 and 10 samples of 1 ms.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from '@jest/globals';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'prof-turns.js');
const dir = mkdtempSync(join(tmpdir(), 'prof-turns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** @param {string} name @param {number} id @param {number[]} [children] @param {string} [url] */
const node = (name, id, children = [], url = '') => ({
  id,
  callFrame: { functionName: name, scriptId: '0', url, lineNumber: 0, columnNumber: 0 },
  children,
});

test('turns are runs of non-idle samples; long ones are broken down by the callback that started them', () => {
  const I = 2; // (idle)
  const R = 4; // onStreamRead > writev
  const W = 5;
  const G = 3; // (garbage collector)
  const samples = [I, R, W, W, I, I, G, G, G, G, W, W, W, W, W, W, I, I];
  const file = join(dir, 'p.cpuprofile');
  writeFileSync(
    file,
    JSON.stringify({
      nodes: [
        node('(root)', 1, [2, 3, 4]),
        node('(idle)', 2),
        node('(garbage collector)', 3),
        node('onStreamRead', 4, [5], 'node:internal/stream_base_commons'),
        node('writev', 5),
      ],
      startTime: 0,
      endTime: samples.length * 1000,
      samples,
      timeDeltas: samples.map(() => 1000),
    }),
  );
  const out = JSON.parse(
    execFileSync(process.execPath, [SCRIPT, file, '--min-ms', '5', '--json'], { encoding: 'utf8' }),
  );
  expect(out.summary.turns).toBe(2);
  expect(out.summary.turn_max_ms).toBe(10);
  expect(out.summary.long_turns).toBe(1);
  expect(out.summary.long_turns_total_ms).toBe(10);
  const text = execFileSync(process.execPath, [SCRIPT, file, '--min-ms', '5'], { encoding: 'utf8' });
  // The long turn: 4 ms of GC, 6 ms of writev under onStreamRead.
  expect(text).toMatch(/6\.0 ms\s+60\.0 %\s+onStreamRead/);
  expect(text).toMatch(/4\.0 ms\s+40\.0 %\s+\(garbage collector\)/);
});
