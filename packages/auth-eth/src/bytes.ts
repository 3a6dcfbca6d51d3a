// Byte and hex helpers on plain Uint8Array, with no Node built-ins: this package runs in browsers.
import { invalidArgument } from './errors.js';

const HEX_RE = /^[0-9a-fA-F]*$/;
const HEX_CHARS = '0123456789abcdef';
// Lone UTF-16 surrogates cannot be encoded as UTF-8; encoders silently replace them with
// U+FFFD (TextEncoder) or throw (ethers), so two libraries would hash different bytes.
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Uint8Array check that also works across realms (jest vm contexts, iframes), as noble does:
 * `ArrayBuffer.isView` reads an internal slot that no plain object can fake, unlike
 * `Symbol.toStringTag`, which any object can claim.
 */
export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array || (ArrayBuffer.isView(value) && value.constructor.name === 'Uint8Array');
}

/** True when `text` is well-formed UTF-16 (no lone surrogates). */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE_RE.test(text);
}

/**
 * Encodes bytes as lowercase hex, without a `0x` prefix.
 *
 * @param b - the bytes to encode.
 * @returns lowercase hex, two digits per byte.
 * @throws AuthEthError `INVALID_ARGUMENT` when `b` is not a Uint8Array.
 * @example
 * ```ts
 * import { bytesToHex } from '@degas/auth-eth';
 * bytesToHex(new Uint8Array([0, 171, 255])); // '00abff'
 * ```
 */
export function bytesToHex(b: Uint8Array): string {
  if (!isBytes(b)) throw invalidArgument('bytesToHex: expected a Uint8Array');
  let out = '';
  for (const byte of b) out += HEX_CHARS[byte >> 4]! + HEX_CHARS[byte & 15]!;
  return out;
}

/**
 * Decodes hex into bytes. Accepts an optional lowercase `0x` prefix and hex digits of either
 * case; anything else (odd length, spaces, other characters) is rejected.
 *
 * @param hex - hex text, e.g. `'0x00abff'` or `'00ABFF'`.
 * @returns the decoded bytes.
 * @throws AuthEthError `INVALID_ARGUMENT` when `hex` is not a string of an even number of hex
 *   digits.
 * @example
 * ```ts
 * import { hexToBytes } from '@degas/auth-eth';
 * hexToBytes('0x00abff'); // Uint8Array [0, 171, 255]
 * ```
 */
export function hexToBytes(hex: string): Uint8Array {
  if (typeof hex !== 'string') throw invalidArgument('hexToBytes: expected a string');
  const digits = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (digits.length % 2 !== 0) throw invalidArgument('hexToBytes: odd number of hex digits');
  if (!HEX_RE.test(digits)) throw invalidArgument('hexToBytes: not a hex string');
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = Number.parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

/** Big-endian unsigned integer from bytes. */
export function bytesToBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${bytesToHex(b)}`);
}

/** Big-endian 32-byte encoding of `n` (0 <= n < 2^256). */
export function bigIntTo32Bytes(n: bigint): Uint8Array {
  return hexToBytes(n.toString(16).padStart(64, '0'));
}

/** Constant-shape equality of two byte arrays. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
