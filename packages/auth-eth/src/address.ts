import { keccak_256 } from '@noble/hashes/sha3.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { Point } from '@noble/secp256k1';
import { bytesToHex, hexToBytes, isBytes } from './bytes.js';
import { AuthEthError, invalidArgument } from './errors.js';

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const HAS_LOWER_RE = /[a-f]/;
const HAS_UPPER_RE = /[A-F]/;

/** EIP-55 checksum of 40 lowercase hex digits (no prefix). */
function checksumHex(lowerHex: string): string {
  const hash = keccak_256(utf8ToBytes(lowerHex));
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    const c = lowerHex[i]!;
    const nibble = (hash[i >> 1]! >> (i % 2 === 0 ? 4 : 0)) & 15;
    out += nibble >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

/**
 * Parses an Ethereum address as PROTOCOL.md 3 and CATALOGUE #66 require: `0x` (lowercase x)
 * followed by exactly 40 hex digits, nothing around it. All-lowercase and all-uppercase digits
 * are accepted; mixed case must be a valid EIP-55 checksum. Neither ethers (it accepts a missing
 * `0x`) nor viem's strict mode (it rejects all-uppercase) implements exactly this rule.
 *
 * @param address - the address text.
 * @returns the 20 address bytes.
 * @throws AuthEthError `INVALID_ADDRESS` for a malformed address, `INVALID_CHECKSUM` for a
 *   mixed-case address with a wrong checksum.
 * @example
 * ```ts
 * import { parseAddress } from '@degas/auth-eth';
 * parseAddress('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23').length; // 20
 * ```
 */
export function parseAddress(address: string): Uint8Array {
  if (typeof address !== 'string' || !ADDRESS_RE.test(address)) {
    throw new AuthEthError('INVALID_ADDRESS', 'address must be "0x" followed by 40 hex digits');
  }
  const digits = address.slice(2);
  if (HAS_LOWER_RE.test(digits) && HAS_UPPER_RE.test(digits)) {
    if (checksumHex(digits.toLowerCase()) !== address) {
      throw new AuthEthError('INVALID_CHECKSUM', 'mixed-case address has an invalid EIP-55 checksum');
    }
  }
  return hexToBytes(digits);
}

/**
 * Validates an address with {@link parseAddress} and returns it as lowercase `0x` hex, the form
 * to store and compare.
 *
 * @param address - the address text.
 * @returns `0x` + 40 lowercase hex digits.
 * @throws AuthEthError `INVALID_ADDRESS` or `INVALID_CHECKSUM`.
 * @example
 * ```ts
 * import { normalizeAddress } from '@degas/auth-eth';
 * normalizeAddress('0x2C7536E3605D9C16A7A3D7B1898E529396A65C23');
 * // '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23'
 * ```
 */
export function normalizeAddress(address: string): string {
  return `0x${bytesToHex(parseAddress(address))}`;
}

/**
 * Formats an address with its EIP-55 checksum (mixed case).
 *
 * @param address - address text (validated with {@link parseAddress}) or 20 address bytes.
 * @returns the checksummed `0x` address.
 * @throws AuthEthError `INVALID_ADDRESS` or `INVALID_CHECKSUM`.
 * @example
 * ```ts
 * import { toChecksumAddress } from '@degas/auth-eth';
 * toChecksumAddress('0x2c7536e3605d9c16a7a3d7b1898e529396a65c23');
 * // '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23'
 * ```
 */
export function toChecksumAddress(address: string | Uint8Array): string {
  if (isBytes(address)) {
    if (address.length !== 20) throw new AuthEthError('INVALID_ADDRESS', 'address must be 20 bytes');
    return checksumHex(bytesToHex(address));
  }
  return checksumHex(bytesToHex(parseAddress(address)));
}

/**
 * Whether {@link parseAddress} accepts `address`. Never throws.
 *
 * @param address - the value to test.
 * @returns `true` for a well-formed address with a valid checksum (if mixed case).
 * @example
 * ```ts
 * import { isAddress } from '@degas/auth-eth';
 * isAddress('0x2c7536e3605d9c16a7a3d7b1898e529396a65c23'); // true
 * isAddress('2c7536e3605d9c16a7a3d7b1898e529396a65c23'); // false: no 0x
 * ```
 */
export function isAddress(address: string): boolean {
  try {
    parseAddress(address);
    return true;
  } catch {
    return false;
  }
}

/**
 * Derives the Ethereum address of a secp256k1 public key: the last 20 bytes of
 * keccak256(x ‖ y).
 *
 * @param publicKey - SEC 1 public key, 65 bytes uncompressed (`0x04 ‖ x ‖ y`) or 33 bytes
 *   compressed (`0x02`/`0x03 ‖ x`); it must be a point on the curve.
 * @returns the lowercase `0x` address.
 * @throws AuthEthError `INVALID_ARGUMENT` when `publicKey` is not a valid SEC 1 encoded point.
 * @example
 * ```ts
 * import { publicKeyToAddress } from '@degas/auth-eth';
 * import { getPublicKey } from '@noble/secp256k1';
 * const key = new Uint8Array(32).fill(1);
 * publicKeyToAddress(getPublicKey(key, false)); // '0x1a642f0e3c3af545e7acbd38b07251b3990914f1'
 * ```
 */
export function publicKeyToAddress(publicKey: Uint8Array): string {
  if (!isBytes(publicKey) || (publicKey.length !== 33 && publicKey.length !== 65)) {
    throw invalidArgument('publicKey must be a 33- or 65-byte SEC 1 public key');
  }
  let uncompressed: Uint8Array;
  try {
    uncompressed = Point.fromBytes(publicKey).toBytes(false);
  } catch (cause) {
    throw invalidArgument('publicKey is not a valid secp256k1 point', cause);
  }
  return `0x${bytesToHex(keccak_256(uncompressed.subarray(1)).subarray(12))}`;
}
