/**
 * Resume tickets (PROTOCOL.md 4.5): a small versioned binary record authenticated with
 * HMAC-SHA256 under a key that every node of a cluster shares. The ticket is opaque to clients;
 * this module only issues and opens tickets. Whether an opened ticket may resume (the session it
 * names is still the account's latest, the window, single use) is the session registry's part.
 *
 * Layout of version 1 (105 bytes, big-endian integers):
 *
 * | bytes  | field                                                        |
 * |--------|--------------------------------------------------------------|
 * | 0      | version = 1                                                  |
 * | 1–4    | key id: first 4 bytes of SHA-256("degas resume key id" ‖ key) |
 * | 5–20   | account id                                                   |
 * | 21–40  | signer address (20 bytes)                                    |
 * | 41–48  | session id the ticket was issued to (uint64)                 |
 * | 49–56  | time of the wallet login that began the chain (ms since epoch) |
 * | 57–72  | nonce (16 random bytes); the registry keeps only its SHA-256  |
 * | 73–104 | HMAC-SHA256(key, bytes 0–72)                                 |
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Limits } from '@degas/proto';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** Largest ticket a gateway reads (PROTOCOL.md 4.5 check 1). */
export const MAX_TICKET_BYTES = 512;
/** Shortest resume key, in bytes. */
export const MIN_RESUME_KEY_BYTES = 32;
/**
 * Longest resume window, in ms (7 days): far above any sensible setting, within the wire's uint32
 * `resume_window_ms` and what a cluster registry keeps.
 */
export const MAX_RESUME_WINDOW_MS = 7 * 86_400_000;
/** Most resume keys configured at once (the first signs, all verify). */
export const MAX_RESUME_KEYS = 16;

const VERSION = 1;
const KEY_ID_BYTES = 4;
const ADDRESS_BYTES = 20;
const NONCE_BYTES = 16;
const MAC_BYTES = 32;
const O_KEY_ID = 1;
const O_ACCOUNT = O_KEY_ID + KEY_ID_BYTES;
const O_ADDRESS = O_ACCOUNT + Limits.ID_LENGTH;
const O_SESSION = O_ADDRESS + ADDRESS_BYTES;
const O_CHAIN_START = O_SESSION + 8;
const O_NONCE = O_CHAIN_START + 8;
const O_MAC = O_NONCE + NONCE_BYTES;
/** Bytes in a version-1 ticket. */
export const TICKET_BYTES = O_MAC + MAC_BYTES;

const KEY_ID_LABEL = new TextEncoder().encode('degas resume key id');

/** What a ticket says, once its MAC verified. */
export interface TicketClaims {
  /** 16 bytes. */
  readonly accountId: Uint8Array;
  /** Lowercase `0x` + 40 hex. */
  readonly address: string;
  /** The session the ticket was issued to. */
  readonly sessionId: bigint;
  /** Time of the wallet login that began the chain of resumes, ms since the epoch. */
  readonly chainStartMs: number;
  /** SHA-256 of the ticket's nonce as 64 lowercase hex digits (what the registry stores). */
  readonly nonceHash: string;
}

/** Why a ticket was refused before any registry read. */
export type TicketFormatRefusal = 'malformed' | 'unknown_key' | 'bad_mac';

/** A freshly issued ticket and the nonce hash the registry keeps in its place. */
export interface IssuedTicket {
  readonly ticket: Uint8Array;
  readonly nonceHash: string;
}

interface Key {
  readonly id: Uint8Array;
  /** HMAC state after the key, cloned for each MAC (the key schedule is paid once). */
  readonly keyed: ReturnType<typeof hmac.create>;
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** The 4-byte id of a resume key as it appears in tickets. */
export function resumeKeyId(key: Uint8Array): Uint8Array {
  const h = sha256.create();
  h.update(KEY_ID_LABEL);
  h.update(key);
  return h.digest().subarray(0, KEY_ID_BYTES);
}

/**
 * Parses a resume key given as hex (with or without `0x`); at least 32 bytes.
 * @throws RangeError naming what is wrong (the key itself is never part of the message).
 * @example
 * const key = parseResumeKey(process.env.DEGAS_RESUME_KEY!);
 */
export function parseResumeKey(hex: string): Uint8Array {
  if (typeof hex !== 'string') throw new TypeError('a resume key must be a hex string');
  const s = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new RangeError(`a resume key must be hex digits (an even number of them, ${s.length} given)`);
  }
  if (s.length / 2 < MIN_RESUME_KEY_BYTES) {
    throw new RangeError(`a resume key must be at least ${MIN_RESUME_KEY_BYTES} bytes (${s.length / 2} given)`);
  }
  return Uint8Array.from(Buffer.from(s, 'hex'));
}

/**
 * Issues and opens resume tickets under a list of keys: the first signs, every one verifies
 * (rotation: add the new key first, keep the old one until the old tickets have expired).
 * @example
 * const codec = new TicketCodec([parseResumeKey(hex)]);
 * const { ticket, nonceHash } = codec.issue(accountId, address, sessionId, Date.now());
 * const claims = codec.open(ticket); // TicketClaims, or 'malformed' | 'unknown_key' | 'bad_mac'
 */
export class TicketCodec {
  readonly #keys: readonly Key[];
  readonly #random: (n: number) => Uint8Array;

  /**
   * @param keys - at least 32 bytes each; the first signs.
   * @param random - CSPRNG for the nonces (default `crypto.randomBytes`; the gateway passes its pool).
   */
  constructor(keys: readonly Uint8Array[], random: (n: number) => Uint8Array = randomBytes) {
    this.#random = random;
    if (!Array.isArray(keys) || keys.length === 0) throw new TypeError('resume keys: at least one key is required');
    if (keys.length > MAX_RESUME_KEYS) throw new RangeError(`resume keys: at most ${MAX_RESUME_KEYS} keys`);
    const seen = new Set<string>();
    this.#keys = keys.map((key, i) => {
      if (!(key instanceof Uint8Array)) throw new TypeError(`resume keys: key ${i + 1} must be a Uint8Array`);
      if (key.length < MIN_RESUME_KEY_BYTES) {
        throw new RangeError(`resume keys: key ${i + 1} must be at least ${MIN_RESUME_KEY_BYTES} bytes`);
      }
      const id = resumeKeyId(key);
      const idHex = toHex(id);
      if (seen.has(idHex)) throw new RangeError(`resume keys: key ${i + 1} is given twice`);
      seen.add(idHex);
      return { id, keyed: hmac.create(sha256, key) };
    });
  }

  /** Hex ids of the keys, signing key first (safe to log: they reveal nothing about the keys). */
  get keyIds(): string[] {
    return this.#keys.map((k) => toHex(k.id));
  }

  /**
   * A new ticket for the session `sessionId` of `accountId`, logged in with `address`
   * (lowercase `0x` + 40 hex) in a chain that began with a wallet login at `chainStartMs`.
   */
  issue(accountId: Uint8Array, address: string, sessionId: bigint, chainStartMs: number): IssuedTicket {
    if (accountId.length !== Limits.ID_LENGTH) throw new RangeError('accountId must be 16 bytes');
    if (!/^0x[0-9a-f]{40}$/.test(address)) throw new RangeError('address must be lowercase 0x + 40 hex digits');
    if (sessionId <= 0n || sessionId >= 1n << 64n) throw new RangeError('sessionId must be a non-zero uint64');
    if (!Number.isSafeInteger(chainStartMs) || chainStartMs < 0) throw new RangeError('chainStartMs must be ≥ 0');
    const key = this.#keys[0]!;
    const t = Buffer.alloc(TICKET_BYTES);
    t[0] = VERSION;
    t.set(key.id, O_KEY_ID);
    t.set(accountId, O_ACCOUNT);
    t.write(address.slice(2), O_ADDRESS, 'hex');
    t.writeBigUInt64BE(sessionId, O_SESSION);
    t.writeBigUInt64BE(BigInt(chainStartMs), O_CHAIN_START);
    const nonce = this.#random(NONCE_BYTES);
    if (nonce.length !== NONCE_BYTES) throw new RangeError('random must return the number of bytes asked for');
    t.set(nonce, O_NONCE);
    t.set(mac(key, t.subarray(0, O_MAC)), O_MAC);
    return { ticket: new Uint8Array(t.buffer, t.byteOffset, t.byteLength), nonceHash: toHex(sha256(nonce)) };
  }

  /**
   * Checks a ticket's size, version, key and MAC (in constant time) and returns what it says, or
   * why it was refused. Never throws, whatever the input.
   */
  open(ticket: Uint8Array): TicketClaims | TicketFormatRefusal {
    if (!(ticket instanceof Uint8Array)) return 'malformed';
    // Size first: nothing longer than the limit is even looked at.
    if (ticket.length > MAX_TICKET_BYTES || ticket.length !== TICKET_BYTES || ticket[0] !== VERSION) return 'malformed';
    const id = ticket.subarray(O_KEY_ID, O_KEY_ID + KEY_ID_BYTES);
    let key: Key | undefined;
    for (const k of this.#keys) {
      if (k.id[0] === id[0] && k.id[1] === id[1] && k.id[2] === id[2] && k.id[3] === id[3]) {
        key = k;
        break;
      }
    }
    if (key === undefined) return 'unknown_key';
    const expected = mac(key, ticket.subarray(0, O_MAC));
    if (!timingSafeEqual(expected, ticket.subarray(O_MAC, O_MAC + MAC_BYTES))) return 'bad_mac';
    const b = Buffer.from(ticket.buffer, ticket.byteOffset, ticket.byteLength);
    const chainStart = b.readBigUInt64BE(O_CHAIN_START);
    const sessionId = b.readBigUInt64BE(O_SESSION);
    // A verified MAC means one of our nodes wrote these; still, never trust an out-of-range value.
    if (chainStart > BigInt(Number.MAX_SAFE_INTEGER) || sessionId === 0n) return 'malformed';
    return {
      accountId: Uint8Array.from(ticket.subarray(O_ACCOUNT, O_ACCOUNT + Limits.ID_LENGTH)),
      address: `0x${b.toString('hex', O_ADDRESS, O_ADDRESS + ADDRESS_BYTES)}`,
      sessionId,
      chainStartMs: Number(chainStart),
      nonceHash: toHex(sha256(ticket.subarray(O_NONCE, O_NONCE + NONCE_BYTES))),
    };
  }
}

function mac(key: Key, data: Uint8Array): Uint8Array {
  const h = key.keyed.clone();
  h.update(data);
  return h.digest();
}
