/**
 * secp256k1 numbers for hostile signature tests: the group order and field prime, 32-byte
 * big-endian conversion, and signatures built from (r, s, v) or twisted from a valid one.
 */

/** The order n of the secp256k1 group. */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** The prime p of the secp256k1 field. */
export const SECP256K1_P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;

/** Big-endian bytes as an unsigned integer. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** `n` as 32 big-endian bytes (mod 2^256). */
export function bigIntTo32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** The 65-byte signature r ‖ s ‖ v. */
export function signatureOf(r: bigint, s: bigint, v: number): Uint8Array {
  return Uint8Array.from([...bigIntTo32(r), ...bigIntTo32(s), v]);
}

/**
 * The high-s twin of a valid 65-byte signature: s′ = n − s and the recovery bit flipped, v as
 * 27/28. It recovers the same address, and strict (EIP-2) verification must refuse it.
 */
export function highSTwin(signature: Uint8Array): Uint8Array {
  const r = bytesToBigInt(signature.subarray(0, 32));
  const s = bytesToBigInt(signature.subarray(32, 64));
  const v = signature[64]! >= 27 ? signature[64]! - 27 : signature[64]!;
  return signatureOf(r, SECP256K1_N - s, 27 + (1 - v));
}
