// The token bucket of both rate limits (token-bucket.ts): per-connection messages and per-IP
// upgrades. Time is passed in, so these run without timers.
import { TokenBucket } from '../src/token-bucket.js';

test('starts full: a burst of `burst` tokens passes, the next one is refused', () => {
  const b = new TokenBucket(10, 20, 1000);
  for (let i = 0; i < 20; i++) expect(b.take(1000)).toBe(true);
  expect(b.take(1000)).toBe(false);
  expect(b.tokens).toBe(0);
});

test('refills at `rate` per second, fractions included', () => {
  const b = new TokenBucket(10, 20, 0);
  for (let i = 0; i < 20; i++) b.take(0);
  // 50 ms at 10/s is half a token: not enough.
  expect(b.take(50)).toBe(false);
  expect(b.tokens).toBeCloseTo(0.5);
  // Another 50 ms completes the token.
  expect(b.take(100)).toBe(true);
  expect(b.take(100)).toBe(false);
  // One second later: ten tokens, and only ten.
  let passed = 0;
  while (b.take(1100)) passed++;
  expect(passed).toBe(10);
});

test('never holds more than `burst`, however long it was idle', () => {
  const b = new TokenBucket(1000, 5, 0);
  b.take(0);
  let passed = 0;
  while (b.take(3_600_000)) passed++;
  expect(passed).toBe(5);
});

test('a refused take spends nothing', () => {
  const b = new TokenBucket(1, 1, 0);
  expect(b.take(0)).toBe(true);
  for (let i = 0; i < 5; i++) expect(b.take(500)).toBe(false);
  // 1 s after the last spent token there is exactly one again, refusals notwithstanding.
  expect(b.take(1000)).toBe(true);
});

test('a steady rate at the limit passes for ever; just above it is refused once the burst is gone', () => {
  const atLimit = new TokenBucket(100, 200, 0);
  for (let t = 0; t < 10_000; t += 10) expect(atLimit.take(t)).toBe(true);
  const above = new TokenBucket(100, 200, 0);
  let refused = 0;
  // 125 per second for 10 s: 1250 tries, 200 burst + 1000 refilled pass.
  for (let t = 0; t < 10_000; t += 8) if (!above.take(t)) refused++;
  expect(refused).toBeGreaterThanOrEqual(49);
  expect(refused).toBeLessThanOrEqual(51);
});
