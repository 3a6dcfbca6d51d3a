/**
 * Stable error codes of {@link AuthEthError}.
 *
 * - `INVALID_ADDRESS`: not `0x` followed by exactly 40 hex digits (or not 20 bytes).
 * - `INVALID_CHECKSUM`: a mixed-case address whose EIP-55 checksum is wrong.
 * - `INVALID_SIGNATURE`: a signature that breaks a rule of PROTOCOL.md 4.2 step 5, or from
 *   which no public key can be recovered.
 * - `INVALID_CHALLENGE`: challenge JSON that is not exactly `{"Message": string, "Challenge": hex}`.
 * - `INVALID_PRIVATE_KEY`: not 32 bytes, or not a scalar in `[1, n)`.
 * - `SIGNER_ERROR`: a wallet, provider or account failed to sign or returned something unusable;
 *   the original error is in `cause`.
 * - `INVALID_ARGUMENT`: any other argument or option of the wrong type, length or range (a
 *   value that only claims to be a `Uint8Array`, a string where bytes are expected, a number
 *   where a bigint is, `null`, malformed typed data, a chain id out of range…).
 *
 * @example
 * ```ts
 * import { type AuthEthErrorCode, AuthEthError } from '@degas/auth-eth';
 * const code: AuthEthErrorCode = 'INVALID_SIGNATURE';
 * const err = new AuthEthError(code, 'signature must be 65 bytes');
 * ```
 */
export type AuthEthErrorCode =
  | 'INVALID_ADDRESS'
  | 'INVALID_CHECKSUM'
  | 'INVALID_SIGNATURE'
  | 'INVALID_CHALLENGE'
  | 'INVALID_PRIVATE_KEY'
  | 'SIGNER_ERROR'
  | 'INVALID_ARGUMENT';

/**
 * The one error class of this package: a literal `name`, a stable `code`, a short message that
 * never contains key material, and the underlying error (if any) in `cause`.
 *
 * @example
 * ```ts
 * import { AuthEthError, parseAddress } from '@degas/auth-eth';
 * try {
 *   parseAddress('0x123');
 * } catch (err) {
 *   if (err instanceof AuthEthError && err.code === 'INVALID_ADDRESS') console.log(err.message);
 * }
 * ```
 */
export class AuthEthError extends Error {
  override readonly name = 'AuthEthError';
  readonly code: AuthEthErrorCode;

  constructor(code: AuthEthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** An `INVALID_ARGUMENT` error (internal shorthand). */
export function invalidArgument(message: string, cause?: unknown): AuthEthError {
  return new AuthEthError('INVALID_ARGUMENT', message, cause === undefined ? undefined : { cause });
}
