// The CSPRNG pool behind challenges and session ids (random-pool.ts pooledRandomBytes): bytes are
// handed out once, across refills, and earlier slices are never overwritten.
import { pooledRandomBytes, randomSessionId } from '../src/random-pool.js';

test('16-byte draws across several pool refills are all distinct and stay unchanged', () => {
  const draws: Buffer[] = [];
  const copies: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const b = pooledRandomBytes(16);
    expect(b.length).toBe(16);
    draws.push(b);
    copies.push(b.toString('hex'));
  }
  // 2000 × 16 B = 32 000 B: about eight refills of 4 KiB happened in between.
  expect(new Set(copies).size).toBe(2000);
  for (let i = 0; i < draws.length; i++) expect(draws[i]!.toString('hex')).toBe(copies[i]);
});

test('consecutive draws do not overlap, and a draw larger than the pool works', () => {
  const a = pooledRandomBytes(8);
  const b = pooledRandomBytes(8);
  // Either a refill came in between (another buffer) or b starts where a ends.
  expect(a.buffer !== b.buffer || a.byteOffset + 8 === b.byteOffset).toBe(true);
  const big = pooledRandomBytes(10_000);
  expect(big.length).toBe(10_000);
  expect(new Set(big).size).toBeGreaterThan(200); // random, not zero-filled
});

test('session ids are non-zero and distinct', () => {
  const ids = new Set<bigint>();
  for (let i = 0; i < 1000; i++) ids.add(randomSessionId());
  expect(ids.size).toBe(1000);
  expect(ids.has(0n)).toBe(false);
});
