import { bytesToHex, isBytes, isWellFormed } from './bytes.js';
import { AuthEthError, invalidArgument } from './errors.js';
import type { LoginFields } from './typed-data.js';

/**
 * The default prompt shown in the wallet (the `Message` field). Operators should configure one
 * that names their official site (CATALOGUE #68).
 *
 * @example
 * ```ts
 * import { DEFAULT_AUTH_MESSAGE, createChallenge } from '@degas/auth-eth';
 * createChallenge().fields.Message === DEFAULT_AUTH_MESSAGE; // true
 * ```
 */
export const DEFAULT_AUTH_MESSAGE =
  'Sign this message to log in to Degas. Signing is free: it does not send a transaction and does not grant permission to spend any of your funds or tokens.';

/** Format of a challenge: 16 bytes as 32 lowercase hex digits (PROTOCOL.md 4.2 step 2). */
export const CHALLENGE_RE = /^[0-9a-f]{32}$/;
const CHALLENGE_BYTES = 16;

type CryptoLike = { getRandomValues(array: Uint8Array): Uint8Array };

function cryptoRandomBytes(n: number): Uint8Array {
  const crypto = (globalThis as { crypto?: Partial<CryptoLike> }).crypto;
  if (typeof crypto?.getRandomValues !== 'function') {
    throw new Error('globalThis.crypto.getRandomValues is not available');
  }
  return crypto.getRandomValues(new Uint8Array(n));
}

/**
 * Makes a fresh login challenge (PROTOCOL.md 4.2 step 2): 16 bytes from a CSPRNG as 32 lowercase
 * hex digits, and the JSON text `{"Message": <prompt>, "Challenge": <hex>}` to send in
 * `auth_request`. Never reuse a challenge: make one per connection and forget it after use.
 *
 * @param options.message - the prompt; default {@link DEFAULT_AUTH_MESSAGE}. Non-empty.
 * @param options.randomBytes - source of randomness, `(n) => n random bytes`; default
 *   `globalThis.crypto.getRandomValues`. A replacement must return fresh CSPRNG bytes on every
 *   call, never the same bytes twice (e.g. slices of one larger CSPRNG draw, each used once);
 *   tests pass fixed bytes.
 * @returns `challenge` (the hex), `json` (keys in the order Message, Challenge) and `fields`.
 * @throws AuthEthError `INVALID_ARGUMENT` for a non-string or empty message, or a randomBytes
 *   result that is not 16 bytes.
 * @example
 * ```ts
 * import { createChallenge } from '@degas/auth-eth';
 * const { challenge, json, fields } = createChallenge({ message: 'Sign in to example.com. Signing is free.' });
 * // json === JSON.stringify({ Message: fields.Message, Challenge: challenge })
 * ```
 */
export function createChallenge(options?: { message?: string; randomBytes?: (n: number) => Uint8Array }): {
  challenge: string;
  json: string;
  fields: LoginFields;
} {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalidArgument('options must be an object');
  }
  const message = options?.message ?? DEFAULT_AUTH_MESSAGE;
  if (typeof message !== 'string' || !isWellFormed(message)) {
    throw invalidArgument('options.message must be a well-formed string');
  }
  if (message === '') throw invalidArgument('options.message must not be empty');
  const random = options?.randomBytes ?? cryptoRandomBytes;
  if (typeof random !== 'function') throw invalidArgument('options.randomBytes must be a function');
  const bytes = random(CHALLENGE_BYTES);
  if (!isBytes(bytes) || bytes.length !== CHALLENGE_BYTES) {
    throw invalidArgument(`options.randomBytes must return ${CHALLENGE_BYTES} bytes`);
  }
  const challenge = bytesToHex(bytes);
  const fields: LoginFields = { Message: message, Challenge: challenge };
  return { challenge, json: JSON.stringify(fields), fields };
}

/**
 * Parses the challenge JSON a client receives in `auth_request`. Strict: the text must be a JSON
 * object with exactly the keys `Message` and `Challenge`, both strings (well-formed UTF-16), and
 * `Challenge` must be 32 lowercase hex digits.
 *
 * @param json - the `challenge` string of `EthereumAuthMessage`.
 * @returns the two fields, to pass to {@link loginTypedData} unchanged.
 * @throws AuthEthError `INVALID_CHALLENGE` for anything else.
 * @example
 * ```ts
 * import { parseChallenge } from '@degas/auth-eth';
 * const fields = parseChallenge('{"Message":"Sign in","Challenge":"0123456789abcdef0123456789abcdef"}');
 * ```
 */
export function parseChallenge(json: string): LoginFields {
  if (typeof json !== 'string') throw new AuthEthError('INVALID_CHALLENGE', 'challenge must be a string');
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new AuthEthError('INVALID_CHALLENGE', 'challenge is not valid JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AuthEthError('INVALID_CHALLENGE', 'challenge must be a JSON object');
  }
  const keys = Object.keys(value);
  if (keys.length !== 2 || !keys.includes('Message') || !keys.includes('Challenge')) {
    throw new AuthEthError('INVALID_CHALLENGE', 'challenge must have exactly the keys Message and Challenge');
  }
  const { Message, Challenge } = value as Record<string, unknown>;
  if (typeof Message !== 'string' || !isWellFormed(Message)) {
    throw new AuthEthError('INVALID_CHALLENGE', 'Message must be a string');
  }
  if (typeof Challenge !== 'string' || !CHALLENGE_RE.test(Challenge)) {
    throw new AuthEthError('INVALID_CHALLENGE', 'Challenge must be 32 lowercase hex digits');
  }
  return { Message, Challenge };
}
