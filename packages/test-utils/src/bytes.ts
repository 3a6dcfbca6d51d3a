/** Deterministic test payloads. */

/**
 * `n` pseudo-random bytes from `seed` (a linear congruential generator): the same bytes in every
 * run, different for different seeds.
 * @example
 * client.send(degasFrame(degasId, testBytes(1024)));
 */
export function testBytes(n: number, seed = 1): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`testBytes: n must be a non-negative integer, got ${n}`);
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
