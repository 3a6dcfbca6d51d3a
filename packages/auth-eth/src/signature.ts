import { Point, recoverPublicKey } from '@noble/secp256k1';
import { parseAddress, publicKeyToAddress } from './address.js';
import { bytesToBigInt, bytesToHex, equalBytes, hexToBytes, isBytes } from './bytes.js';
import { CHALLENGE_RE } from './challenge.js';
import { AuthEthError, invalidArgument } from './errors.js';
import { type LoginFields, loginDigest } from './typed-data.js';

/**
 * Length in bytes of a login signature: r (32) ‖ s (32) ‖ v (1).
 *
 * @example
 * ```ts
 * import { SIGNATURE_LENGTH } from '@degas/auth-eth';
 * const looksRight = (sig: Uint8Array) => sig.length === SIGNATURE_LENGTH;
 * ```
 */
export const SIGNATURE_LENGTH = 65;

/**
 * Longest signature a smart-contract wallet may send (PROTOCOL.md 4.2 step 5): ERC-1271 and
 * ERC-6492 signatures are 1 to 8192 bytes.
 *
 * @example
 * ```ts
 * import { MAX_WALLET_SIGNATURE_LENGTH } from '@degas/auth-eth';
 * const fits = (sig: Uint8Array) => sig.length >= 1 && sig.length <= MAX_WALLET_SIGNATURE_LENGTH;
 * ```
 */
export const MAX_WALLET_SIGNATURE_LENGTH = 8192;

/**
 * A signature that passed every shape rule of {@link parseSignature}.
 *
 * @example
 * ```ts
 * import { type ParsedSignature, parseSignature } from '@degas/auth-eth';
 * declare const sig: Uint8Array;
 * const { r, s, recovery, compact }: ParsedSignature = parseSignature(sig);
 * ```
 */
export interface ParsedSignature {
  /** The r scalar, 0 < r < n. */
  r: bigint;
  /** The s scalar, 0 < s <= n/2. */
  s: bigint;
  /** The recovery id (y parity of R): v − 27 for v ∈ {27, 28}, v for v ∈ {0, 1}. */
  recovery: 0 | 1;
  /** A copy of the 64 bytes r ‖ s. */
  compact: Uint8Array;
}

const N = Point.CURVE().n;
const HALF_N = N >> 1n;

function invalid(reason: string, cause?: unknown): AuthEthError {
  return new AuthEthError('INVALID_SIGNATURE', reason, cause === undefined ? undefined : { cause });
}

/**
 * Checks the shape of a login signature against every rule of PROTOCOL.md 4.2 step 5, so that
 * any verifier (this package's, or a native libsecp256k1 one) applies the same rules:
 * exactly 65 bytes r ‖ s ‖ v; v ∈ {0, 1, 27, 28}; 0 < r < n; 0 < s < n; and s <= n/2 (low s,
 * EIP-2), which rules out the malleable high-s twin of a valid signature. A 64-byte EIP-2098
 * compact signature, recovery ids 2/3 (v 29/30), EIP-155 style v (35+) and contract-wallet blobs
 * are all rejected.
 *
 * @param signature - the `eth_auth` signature bytes.
 * @returns r, s, the recovery id (0 or 1) and a copy of the 64 bytes r ‖ s.
 * @throws AuthEthError `INVALID_SIGNATURE` naming the broken rule.
 * @example
 * ```ts
 * import { hexToBytes, parseSignature } from '@degas/auth-eth';
 * declare const walletResult: string; // '0x' + 130 hex digits from eth_signTypedData_v4
 * const { recovery } = parseSignature(hexToBytes(walletResult));
 * ```
 */
export function parseSignature(signature: Uint8Array): ParsedSignature {
  if (!isBytes(signature)) throw invalid('signature must be a Uint8Array');
  if (signature.length !== SIGNATURE_LENGTH) {
    throw invalid(`signature must be ${SIGNATURE_LENGTH} bytes, got ${signature.length}`);
  }
  const v = signature[64]!;
  let recovery: 0 | 1;
  if (v === 0 || v === 27) recovery = 0;
  else if (v === 1 || v === 28) recovery = 1;
  else throw invalid(`signature v must be 0, 1, 27 or 28, got ${v}`);
  const compact = signature.slice(0, 64);
  const r = bytesToBigInt(compact.subarray(0, 32));
  const s = bytesToBigInt(compact.subarray(32, 64));
  if (r === 0n || r >= N) throw invalid('signature r must be in [1, n)');
  if (s === 0n || s >= N) throw invalid('signature s must be in [1, n)');
  if (s > HALF_N) throw invalid('signature s must be in the lower half of the curve order (EIP-2)');
  return { r, s, recovery, compact };
}

/** Recovers the signer's 20 address bytes; never the zero address. */
function recoverAddressBytes(digest: Uint8Array, signature: Uint8Array): Uint8Array {
  if (!isBytes(digest) || digest.length !== 32) throw invalidArgument('digest must be 32 bytes');
  const { recovery, compact } = parseSignature(signature);
  // noble's "recovered" format puts the recovery id first: rec ‖ r ‖ s. Ethereum puts v last.
  const nobleSig = new Uint8Array(65);
  nobleSig[0] = recovery;
  nobleSig.set(compact, 1);
  let publicKey: Uint8Array;
  try {
    // prehash: false, because the digest is already keccak256; noble would otherwise sha256 it.
    publicKey = recoverPublicKey(nobleSig, digest, { prehash: false, isCompressed: false });
  } catch (cause) {
    throw invalid('no public key can be recovered from this signature', cause);
  }
  const address = hexToBytes(publicKeyToAddress(publicKey));
  if (address.every((b) => b === 0)) throw invalid('signature recovers to the zero address');
  return address;
}

/**
 * Recovers the address that signed `digest`, after {@link parseSignature} accepted the
 * signature's shape.
 *
 * @param digest - the 32-byte EIP-712 digest (from {@link loginDigest} or {@link hashTypedData}).
 * @param signature - 65 bytes r ‖ s ‖ v.
 * @returns the signer's lowercase `0x` address; never the zero address.
 * @throws AuthEthError `INVALID_SIGNATURE` when a rule is broken or recovery fails (e.g. r is
 *   not the x coordinate of a curve point); `INVALID_ARGUMENT` when `digest` is not 32 bytes.
 * @example
 * ```ts
 * import { loginDigest, recoverAddress } from '@degas/auth-eth';
 * declare const fields: { Message: string; Challenge: string };
 * declare const signature: Uint8Array;
 * const signer = recoverAddress(loginDigest(fields), signature); // '0x…' lowercase
 * ```
 */
export function recoverAddress(digest: Uint8Array, signature: Uint8Array): string {
  const bytes = recoverAddressBytes(digest, signature);
  return `0x${bytesToHex(bytes)}`;
}

/**
 * The gateway's login check (PROTOCOL.md 4.2 step 5): `true` iff `fields.Challenge` is a
 * well-formed challenge, `address` is a valid address, the signature passes every rule of
 * {@link parseSignature}, and it recovers, over the Login typed data of `fields` and
 * `domainName`, to `address` (compared as 20 bytes, so letter case does not matter). Any invalid
 * input gives `false`; it never throws. Comparing `fields` with the challenge issued on this
 * connection is the caller's job: pass the issued fields, never ones the client sent back.
 *
 * @param params.fields - the challenge fields the gateway issued on this connection.
 * @param params.signature - the `eth_auth` signature.
 * @param params.address - the `hello` signer address.
 * @param params.domainName - the EIP-712 domain name; default {@link DEFAULT_AUTH_DOMAIN}.
 * @param params.chainId - the chain id the client signed with (`eth_auth.chain_id`, 0 meaning 1);
 *   default 1.
 * @returns whether the login is valid.
 * @example
 * ```ts
 * import { createChallenge, loginTypedData, privateKeySigner, verifyLogin } from '@degas/auth-eth';
 * const { fields } = createChallenge();
 * const signer = privateKeySigner('0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318');
 * const signature = await signer.signTypedData(loginTypedData(fields));
 * verifyLogin({ fields, signature, address: signer.address }); // true
 * ```
 */
export function verifyLogin(params: {
  fields: LoginFields;
  signature: Uint8Array;
  address: string;
  domainName?: string;
  chainId?: number | bigint;
}): boolean {
  try {
    if (typeof params !== 'object' || params === null) return false;
    const { fields, signature, address, domainName, chainId } = params;
    if (typeof fields !== 'object' || fields === null) return false;
    if (typeof fields.Challenge !== 'string' || !CHALLENGE_RE.test(fields.Challenge)) return false;
    const expected = parseAddress(address);
    // On the wire, chain id 0 (absent) means 1.
    const digest = loginDigest(fields, { domainName, chainId: chainId === 0 || chainId === 0n ? 1 : chainId });
    return equalBytes(recoverAddressBytes(digest, signature), expected);
  } catch {
    return false;
  }
}
