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

/**
 * The minimal protobuf varint of `n` (a non-negative integer below 2^53), for writing frames by hand.
 * @example
 * const frame = Uint8Array.from([0x12, ...varintBytes(payload.length), ...payload]);
 */
export function varintBytes(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`varintBytes: n must be a non-negative integer, got ${n}`);
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}
