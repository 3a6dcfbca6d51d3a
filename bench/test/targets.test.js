// How the report judges the login-storm p99 target: against the control storm when there is one
// (the machine's share), else by the calm window's run-queue wait (the older rule).
import { expect, test } from '@jest/globals';
import { CONTENDED_WAIT_PERCENT, evaluateTargets } from '../src/lib/report.js';

/**
 * A login-storm row with the figures the p99 target reads.
 * @param {{ ratio: number, calmWait?: number, elsewhere?: number }} o
 */
function storm(o) {
  return {
    name: 'login-storm',
    ratio: o.ratio,
    gateway: { verifier: 'native' },
    baseline: { main_thread_runqueue_wait_percent: o.calmWait ?? 1 },
    ...(o.elsewhere === undefined ? {} : { ratio_storm_elsewhere: o.elsewhere }),
  };
}

/** @param {any} row */
const p99Target = (row) => evaluateTargets([row]).find((t) => t.target.startsWith('p99 during storm'));

test.each([
  // ratio, control ratio, met, shown as
  [2.5, 1.8, true, 'yes'],
  [4.0, 2.9, false, 'NO'],
  [4.0, 3.0, false, 'NO'],
  [6.7, 3.02, null, 'n/a (machine)'],
  [2.0, 3.5, null, 'n/a (machine)'],
])('storm ratio %p with the control at %p: met %p', (ratio, elsewhere, met, shown) => {
  const t = p99Target(storm({ ratio, elsewhere, calmWait: 50 }));
  expect(t.met).toBe(met);
  expect(t.measured).toBe(ratio);
  if (met === null) {
    expect(t.na).toBe(shown);
    expect(t.note).toContain(String(elsewhere));
  } else expect(t.na).toBeUndefined();
});

test('without the control, a calm window that already waited for a CPU is not judged', () => {
  expect(p99Target(storm({ ratio: 2, calmWait: CONTENDED_WAIT_PERCENT + 1 })).met).toBeNull();
  expect(p99Target(storm({ ratio: 2, calmWait: CONTENDED_WAIT_PERCENT })).met).toBe(true);
  expect(p99Target(storm({ ratio: 4, calmWait: 1 })).met).toBe(false);
});
