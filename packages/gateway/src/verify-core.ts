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

/**
 * A verification function bound to one back end, prompt and domain.
 * @example
 * const verify = makeLoginVerifier('noble', DEFAULT_AUTH_MESSAGE, 'Degas Authentication');
 */
export function makeLoginVerifier(
  kind: VerifierKind,
  message: string,
  domainName: string,
): (challenge: string, signature: Uint8Array, address: string) => boolean {
  const native = kind === 'native' ? loadNativeSecp256k1() : undefined;
  if (kind === 'native' && native === undefined) throw new Error('the native secp256k1 binding does not load');
  return (challenge, signature, address) => {
    let digest: Uint8Array;
    try {
      digest = loginDigest({ Message: message, Challenge: challenge }, { domainName });
    } catch {
      return false;
    }
    return native !== undefined
      ? verifyDigestNative(native, digest, signature, address)
      : verifyDigestNoble(digest, signature, address);
  };
}
