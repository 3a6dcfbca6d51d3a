/**
 * The gateway's error family: every error it throws at an embedder or the command line is a
 * {@link GatewayError}, a `DegasError` of `@degas/proto` with one of the stable codes below.
 * Callers switch on `code`; class names and messages may change, codes do not.
 */
import { DegasError } from '@degas/proto';

/**
 * Stable codes of {@link GatewayError} (the gateway README lists them with what they mean).
 *
 * - `CONFIG_INVALID`: a command-line, environment or config-file value ({@link ConfigError}).
 * - `ACCOUNTS_FILE_UNREADABLE`, `ACCOUNTS_FILE_INVALID`, `DUPLICATE_ACCOUNT_ID`,
 *   `ACCOUNTS_RPC_UNAVAILABLE`, `ACCOUNTS_RPC_INVALID_RESPONSE`: the account directory.
 * - `DEGAS_FILE_UNREADABLE`, `DEGAS_FILE_INVALID`: a `--degas-file`.
 * - `TLS_FILE_INVALID`: a certificate or key file (`problem` says which).
 * - `ETH_RPC_CHAIN_MISMATCH`: an `--eth-rpc` endpoint that serves another chain.
 * - `VERIFIER_UNAVAILABLE`: `verifier: 'native'` on a host where the libsecp256k1 addon does not load.
 * - `ADMIN_…`: an admin HTTP request refused; the code is in the JSON body next to `error`.
 */
export type GatewayErrorCode =
  | 'CONFIG_INVALID'
  | 'ACCOUNTS_FILE_UNREADABLE'
  | 'ACCOUNTS_FILE_INVALID'
  | 'DUPLICATE_ACCOUNT_ID'
  | 'ACCOUNTS_RPC_UNAVAILABLE'
  | 'ACCOUNTS_RPC_INVALID_RESPONSE'
  | 'DEGAS_FILE_UNREADABLE'
  | 'DEGAS_FILE_INVALID'
  | 'TLS_FILE_INVALID'
  | 'ETH_RPC_CHAIN_MISMATCH'
  | 'VERIFIER_UNAVAILABLE'
  | AdminErrorCode;

/** Codes of refused admin HTTP requests, with their HTTP status. */
export const ADMIN_ERROR_STATUS = {
  ADMIN_BAD_REQUEST: 400,
  ADMIN_UNAUTHORIZED: 401,
  ADMIN_WRITES_DISABLED: 403,
  ADMIN_NOT_FOUND: 404,
  ADMIN_METHOD_NOT_ALLOWED: 405,
  ADMIN_BODY_TOO_LARGE: 413,
  ADMIN_UNSUPPORTED_MEDIA_TYPE: 415,
  ADMIN_INTERNAL_ERROR: 500,
  ADMIN_NO_DEGAS_DIRECTORY: 501,
} as const;
/** One of the admin codes of {@link ADMIN_ERROR_STATUS}. */
export type AdminErrorCode = keyof typeof ADMIN_ERROR_STATUS;

/**
 * Base class of the gateway's errors: a literal `name`, a stable {@link GatewayErrorCode}, a
 * one-line message and the underlying error in `cause`.
 * @example
 * try { await loadDegasFile('degas.json'); }
 * catch (e) { if (e instanceof GatewayError && e.code === 'DEGAS_FILE_UNREADABLE') useDefaults(); }
 */
export class GatewayError<C extends GatewayErrorCode = GatewayErrorCode> extends DegasError<C> {
  override name: string = 'GatewayError';
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(code, message.replace(/[\r\n]+/g, ' '), options);
  }
}

/**
 * An admin HTTP request that is refused: answered with `status` and
 * `{"error": message, "code": code}` (internal to the admin server).
 */
export class AdminHttpError extends GatewayError<AdminErrorCode> {
  override name = 'AdminHttpError' as const;
  readonly status: number;
  constructor(
    code: AdminErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message);
    this.status = ADMIN_ERROR_STATUS[code];
  }
}
