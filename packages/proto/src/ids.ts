import { Limits } from './constants.js';
import { InvalidIdError } from './errors.js';

const HEX = '0123456789abcdef';
const hexTable: string[] = Array.from({ length: 256 }, (_, i) => HEX[i >> 4]! + HEX[i & 15]!);

/**
 * Whether `id` is a 16-byte id (account or Degas).
 * @example
 * isId(new Uint8Array(16)) // true
 */
export function isId(id: unknown): id is Uint8Array {
  return id instanceof Uint8Array && id.length === Limits.ID_LENGTH;
}

/**
 * An id as text: `0x` + 32 lowercase hex digits (PROTOCOL.md 1).
 * Throws {@link InvalidIdError} when `id` is not 16 bytes.
 * @example
 * idToHex(new Uint8Array(16)) // "0x00000000000000000000000000000000"
 */
export function idToHex(id: Uint8Array): string {
  if (!isId(id)) {
    throw new InvalidIdError(`an id must be ${Limits.ID_LENGTH} bytes, got ${describe(id)}`);
  }
  let s = '0x';
  for (let i = 0; i < id.length; i++) s += hexTable[id[i]!];
  return s;
}

const ID_TEXT = /^0x[0-9a-fA-F]{32}$/;

/**
 * Parses `0x` + 32 hex digits (either case) into 16 bytes. Anything else — no `0x`,
 * another length, spaces, non-hex — throws {@link InvalidIdError} with the reason.
 * @example
 * idFromHex('0x00112233445566778899AABBCCDDEEFF')
 */
export function idFromHex(text: string): Uint8Array {
  if (typeof text !== 'string') throw new InvalidIdError(`an id must be a string, got ${typeof text}`);
  if (!ID_TEXT.test(text)) {
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    throw new InvalidIdError(`an id must be "0x" followed by 32 hex digits, got ${JSON.stringify(shown)}`);
  }
  const out = new Uint8Array(Limits.ID_LENGTH);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}

/**
 * Whether `text` is a valid id text (`0x` + 32 hex digits).
 * @example
 * isIdHex('0x1234') // false
 */
export function isIdHex(text: unknown): text is string {
  return typeof text === 'string' && ID_TEXT.test(text);
}

/**
 * Accepts an id as bytes or text and returns the 16 bytes; throws {@link InvalidIdError}.
 * @example
 * toId('0x00112233445566778899aabbccddeeff').length // 16
 */
export function toId(id: Uint8Array | string): Uint8Array {
  if (typeof id === 'string') return idFromHex(id);
  if (!isId(id)) throw new InvalidIdError(`an id must be ${Limits.ID_LENGTH} bytes, got ${describe(id)}`);
  return id;
}

/**
 * A fresh random 16-byte id from the platform CSPRNG.
 * @example
 * const accountId = randomId();
 */
export function randomId(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(Limits.ID_LENGTH));
}

/**
 * Byte-wise equality of two ids (or any two byte arrays).
 * @example
 * idEquals(a, b)
 */
export function idEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A string key for maps, cheap to compute on the hot path. Not for display: use {@link idToHex}.
 * Works for any byte array; two arrays get the same key exactly when their bytes are equal.
 * @example
 * sessions.set(idKey(accountId), session)
 */
export function idKey(id: Uint8Array): string {
  let s = '';
  for (let i = 0; i < id.length; i++) s += hexTable[id[i]!];
  return s;
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return value === null ? 'null' : typeof value;
}
