// Upgrade pacing (upgrade.ts UpgradePacer): at most `perTurn` admitted upgrades complete per
// event-loop turn, the rest in later turns, first come first served.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { UPGRADES_PER_TURN, UpgradePacer, type UpgradeTicket } from '../src/upgrade.js';

function pacerLog(perTurn?: number) {
  const done: number[] = [];
  const pacer = new UpgradePacer((req) => done.push((req as unknown as { n: number }).n), perTurn);
  const submit = (n: number) =>
    pacer.submit({ n } as never, {} as never, Buffer.alloc(0), { ip: '127.0.0.1' } as UpgradeTicket);
  return { done, pacer, submit };
}

test(`a burst completes ${UPGRADES_PER_TURN} per turn, in arrival order`, async () => {
  const { done, pacer, submit } = pacerLog();
  for (let i = 0; i < 40; i++) submit(i);
  expect(done).toEqual([...Array(16).keys()]);
  expect(pacer.waitingCount).toBe(24);
  await nextTurn();
  expect(done.length).toBe(32);
  await nextTurn();
  expect(done).toEqual([...Array(40).keys()]);
  expect(pacer.waitingCount).toBe(0);
});

test('arrivals while others wait queue behind them, even when the turn has room', async () => {
  const { done, submit } = pacerLog(2);
  submit(0);
  submit(1);
  submit(2);
  expect(done).toEqual([0, 1]);
  await nextTurn();
  // 2 completed in the new turn; 3 arrives with room left in it but behind nobody: completes now.
  expect(done).toEqual([0, 1, 2]);
  submit(3);
  expect(done).toEqual([0, 1, 2, 3]);
  submit(4);
  expect(done).toEqual([0, 1, 2, 3]);
  await nextTurn();
  expect(done).toEqual([0, 1, 2, 3, 4]);
});

test('a quiet turn resets the count', async () => {
  const { done, submit } = pacerLog(1);
  submit(0);
  await nextTurn();
  await nextTurn();
  submit(1);
  expect(done).toEqual([0, 1]);
});

test('perTurn must be a positive integer', () => {
  expect(() => new UpgradePacer(() => {}, 0)).toThrow(RangeError);
  expect(() => new UpgradePacer(() => {}, 1.5)).toThrow(RangeError);
});
