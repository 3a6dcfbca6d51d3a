// The CSPRNG pool (random-pool.ts): with a counting source, how often it refills and that no byte
// is ever handed out twice or changed after it was handed out; then the gateway's shared pool
// behind challenges and session ids.
import { randomBytes } from 'node:crypto';
import { pooledRandomBytes, RANDOM_POOL_BYTES, RandomPool, randomSessionId } from '../src/random-pool.js';

function countingSource() {
  const calls: number[] = [];
  return {
    calls,
    source: (n: number) => {
      calls.push(n);
      return randomBytes(n);
    },
  };
}

test('one source call per block: 20 draws of 8 bytes from 64-byte blocks are 3 refills', () => {
  const { calls, source } = countingSource();
  const pool = new RandomPool({ size: 64, source });
  expect(calls).toEqual([]);
  for (let i = 0; i < 20; i++) expect(pool.take(8).length).toBe(8);
  expect(calls).toEqual([64, 64, 64]);
});

test('a draw that does not fit starts a new block; one larger than a block gets a block of its own', () => {
  const { calls, source } = countingSource();
  const pool = new RandomPool({ size: 64, source });
  pool.take(60);
  pool.take(8); // 4 bytes left: dropped, a new block
  expect(calls).toEqual([64, 64]);
  const big = pool.take(100);
  expect(big.length).toBe(100);
  expect(calls).toEqual([64, 64, 100]);
  pool.take(1);
  expect(calls).toEqual([64, 64, 100, 64]);
});

test('handed-out views never overlap and never change, across many refills', () => {
  const pool = new RandomPool({ size: 100 });
  const views: Buffer[] = [];
  const copies: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const v = pool.take(1 + (i % 37));
    views.push(v);
    copies.push(v.toString('hex'));
  }
  const byBuffer = new Map<ArrayBufferLike, [number, number][]>();
  for (const v of views) {
    const ranges = byBuffer.get(v.buffer) ?? [];
    ranges.push([v.byteOffset, v.byteOffset + v.length]);
    byBuffer.set(v.buffer, ranges);
  }
  for (const ranges of byBuffer.values()) {
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]);
  }
  for (let i = 0; i < views.length; i++) expect(views[i]!.toString('hex')).toBe(copies[i]);
  // 16-byte draws are distinct (a repeat would mean bytes handed out twice).
  const nonces = new Set<string>();
  for (let i = 0; i < 2000; i++) nonces.add(pool.take(16).toString('hex'));
  expect(nonces.size).toBe(2000);
});

test('ids are non-zero: an all-zero draw is skipped', () => {
  let first = true;
  const pool = new RandomPool({
    size: 8,
    source: (n) => {
      const b = first ? Buffer.alloc(n) : Buffer.alloc(n, 0x01);
      first = false;
      return b;
    },
  });
  expect(pool.nonZeroId64()).toBe(0x0101010101010101n);
});

test('defaults and bad sizes', () => {
  expect(new RandomPool().size).toBe(RANDOM_POOL_BYTES);
  expect(() => new RandomPool({ size: 0 })).toThrow(RangeError);
  expect(() => new RandomPool({ size: 1.5 })).toThrow(RangeError);
});

// ---- the shared pool (pooledRandomBytes, randomSessionId) ----

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
