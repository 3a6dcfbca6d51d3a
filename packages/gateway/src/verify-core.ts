/**
 * The two signature verification back ends, as plain functions (used by the worker threads, and
 * directly by tests that check that both accept and reject exactly the same inputs).
 *
 * Both paths call @degas/auth-eth's `parseSignature` first, so every shape rule (65 bytes,
 * v ∈ {0,1,27,28}, 0 < r,s < n, low s) is enforced by the same code whichever curve library runs.
 */
import { createRequire } from 'node:module';
import { loginDigest, parseSignature, publicKeyToAddress, recoverAddress } from '@degas/auth-eth';

/** The part of the `secp256k1` package's native binding that verification uses. */
export interface NativeSecp256k1 {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
}

/** Which implementation verifies signatures. */
export type VerifierKind = 'native' | 'noble';

let nativeCache: NativeSecp256k1 | null | undefined;

/**
 * libsecp256k1 through the `secp256k1` package's native addon, or `undefined` when the addon does
 * not load. `require('secp256k1')` would silently fall back to a pure-JS elliptic build, so the
 * native entry (`secp256k1/bindings`) is loaded on purpose and its failure is what we detect.
 * @example
 * const kind = loadNativeSecp256k1() ? 'native' : 'noble';
 */
export function loadNativeSecp256k1(): NativeSecp256k1 | undefined {
  if (nativeCache === undefined) {
    try {
      const require = createRequire(import.meta.url);
      nativeCache = require('secp256k1/bindings') as NativeSecp256k1;
    } catch {
      nativeCache = null;
    }
  }
  return nativeCache ?? undefined;
}

/**
 * Whether `signature` over `digest` recovers to `address` (lowercase `0x` hex), using
 * libsecp256k1. Never throws.
 * @example
 * verifyDigestNative(native, digest, sig, '0xabc…')
 */
export function verifyDigestNative(
  native: NativeSecp256k1,
  digest: Uint8Array,
  signature: Uint8Array,
  address: string,
): boolean {
  try {
    const parsed = parseSignature(signature);
    const pub = native.ecdsaRecover(parsed.compact, parsed.recovery, digest, false);
    return publicKeyToAddress(pub) === address;
  } catch {
    return false;
  }
}

/**
 * Whether `signature` over `digest` recovers to `address`, using @noble/secp256k1 (through
 * @degas/auth-eth's `recoverAddress`). Never throws.
 * @example
 * verifyDigestNoble(digest, sig, '0xabc…')
 */
export function verifyDigestNoble(digest: Uint8Array, signature: Uint8Array, address: string): boolean {
  try {
    // recoverAddress applies parseSignature's rules itself.
    return recoverAddress(digest, signature) === address;
  } catch {
    return false;
  }
}

/** secp256k1's group order n. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;

function readScalar(bytes: Uint8Array, at: number): bigint {
  let n = 0n;
  for (let i = at; i < at + 32; i++) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/**
 * The low-s twin (s → n − s, recovery id flipped) of a 65-byte signature whose only broken rule
 * is s in the upper half of the order; `undefined` for anything else. The twin recovers to the
 * same address, and passes every rule.
 * @example
 * const twin = lowSTwin(signature); // Uint8Array(65) | undefined
 */
export function lowSTwin(signature: Uint8Array): Uint8Array | undefined {
  if (signature.length !== 65) return undefined;
  const v = signature[64]!;
  if (v !== 0 && v !== 1 && v !== 27 && v !== 28) return undefined;
  const r = readScalar(signature, 0);
  const s = readScalar(signature, 32);
  if (r === 0n || r >= N || s <= HALF_N || s >= N) return undefined;
  const twin = Uint8Array.from(signature);
  let low = N - s;
  for (let i = 63; i >= 32; i--) {
    twin[i] = Number(low & 0xffn);
    low >>= 8n;
  }
  twin[64] = v === 0 || v === 27 ? v + 1 : v - 1;
  return twin;
}

/**
 * Result of one EOA check: {@link EOA_VALID}; {@link EOA_INVALID} (not a valid signature of the
 * address: it may still be a contract wallet's); {@link EOA_RULE_BROKEN} (an ECDSA signature of
 * the address itself that breaks a rule, e.g. the high-s twin of a valid one: never valid, and
 * never handed to a contract-wallet check, whose ECDSA fallbacks would accept it).
 */
export type EoaResult = 0 | 1 | 2;
export const EOA_INVALID = 0;
export const EOA_VALID = 1;
export const EOA_RULE_BROKEN = 2;

/**
 * A verification function bound to one back end, prompt and domain; it takes the chain id the
 * client signed with (`eth_auth.chain_id`, already mapped 0 → 1).
 * @example
 * const verify = makeLoginVerifier('noble', DEFAULT_AUTH_MESSAGE, 'Degas Authentication');
 * verify(challenge, signature, '0xabc…', 8453); // 0, 1 or 2
 */
export function makeLoginVerifier(
  kind: VerifierKind,
  message: string,
  domainName: string,
): (challenge: string, signature: Uint8Array, address: string, chainId: number) => EoaResult {
  const native = kind === 'native' ? loadNativeSecp256k1() : undefined;
  if (kind === 'native' && native === undefined) throw new Error('the native secp256k1 binding does not load');
  const check = (digest: Uint8Array, signature: Uint8Array, address: string): boolean =>
    native !== undefined
      ? verifyDigestNative(native, digest, signature, address)
      : verifyDigestNoble(digest, signature, address);
  return (challenge, signature, address, chainId) => {
    let digest: Uint8Array;
    try {
      digest = loginDigest({ Message: message, Challenge: challenge }, { domainName, chainId });
    } catch {
      return EOA_INVALID;
    }
    if (check(digest, signature, address)) return EOA_VALID;
    const twin = lowSTwin(signature);
    return twin !== undefined && check(digest, twin, address) ? EOA_RULE_BROKEN : EOA_INVALID;
  };
}
