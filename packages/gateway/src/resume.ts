/**
 * The rules of PROTOCOL.md 4.5 that decide whether a resume ticket opens a session, apart from
 * the session state machine (session.ts) that asks them and the registry that holds the state.
 * Checks 1, 2 (the account and signer named in the ticket) and 4 are {@link openTicket}, run
 * before any directory or registry read; check 3 is {@link checkState}, against the registry's
 * view of the account; the directory part of check 2 is the session's normal signer lookup; single
 * use is the registry's conditional claim.
 */
import type { LogFields } from './logger.js';
import type { AccountState } from './registry.js';
import { TicketCodec as Codec, type TicketClaims, type TicketCodec } from './resume-ticket.js';

/** How a presented resume ticket ended, for /metrics (`degas_gateway_resumes_total{result}`). */
export type ResumeResult =
  | 'ok'
  /** Resume is off on this node (`--resume-window-ms 0`, or a cluster node without a key). */
  | 'off'
  /** Not a ticket: wrong size (over 512 bytes included), unknown version. */
  | 'malformed'
  /** Signed with a key this node does not have (rotated out, or another cluster's). */
  | 'unknown_key'
  /** The MAC does not verify: tampered or forged. */
  | 'bad_mac'
  /** Issued to another account than the hello's. */
  | 'account_mismatch'
  /** Issued to another signer than the hello's. */
  | 'signer_mismatch'
  /** The wallet login that began the chain is older than `resumeMaxAgeMs`. */
  | 'max_age'
  /** The signer is no longer an enabled signer of the account: AUTH_FAIL. */
  | 'signer_disabled'
  /** The registry knows nothing of the account (forgotten after the window, or a restart). */
  | 'unknown'
  /** The ticket's session is no longer the account's latest: a newer login or resume (a replay). */
  | 'superseded'
  /** The session ended in a way that revokes the ticket (logout 1000, 4001, 4002, 4003, 4008). */
  | 'revoked'
  /** The session ended more than `resumeWindowMs` ago. */
  | 'expired'
  /** Another connection resumed with the same ticket first (the registry's compare-and-swap). */
  | 'conflict'
  /** The cluster bus is unreachable: UNAVAILABLE, close 1013. */
  | 'unavailable';

/** Every {@link ResumeResult}, in /metrics order. */
export const RESUME_RESULTS: readonly ResumeResult[] = [
  'ok',
  'off',
  'malformed',
  'unknown_key',
  'bad_mac',
  'account_mismatch',
  'signer_mismatch',
  'max_age',
  'signer_disabled',
  'unknown',
  'superseded',
  'revoked',
  'expired',
  'conflict',
  'unavailable',
];

/** Resume settings of a running gateway (validated by startGateway). */
export interface ResumePolicy {
  /** Undefined = resume off: no tickets issued, presented ones ignored. */
  readonly codec: TicketCodec | undefined;
  readonly windowMs: number;
  readonly maxAgeMs: number;
  /**
   * Until when (ms since the epoch) a ticket of an account the registry knows nothing of is
   * accepted: a single node keeps its state in memory, so right after a restart it has no record
   * of the sessions its previous process ended with GOING_AWAY. 0 = never (cluster registries
   * keep their state on the bus).
   */
  readonly unknownUntil: number;
}

/** A policy with resume off. */
export const RESUME_OFF: ResumePolicy = { codec: undefined, windowMs: 0, maxAgeMs: 0, unknownUntil: 0 };

/**
 * Checks 1, 2 (ticket side) and 4: size, version, key and MAC, then the account id, the signer and
 * the age of the chain. `address` is the hello's, lowercase. Never throws.
 */
export function openTicket(
  policy: ResumePolicy,
  ticket: Uint8Array,
  accountId: Uint8Array,
  address: string,
  now: number,
): TicketClaims | ResumeResult {
  if (policy.codec === undefined) return 'off';
  const claims = policy.codec.open(ticket);
  if (typeof claims === 'string') return claims;
  if (!equalBytes(claims.accountId, accountId)) return 'account_mismatch';
  if (claims.address !== address) return 'signer_mismatch';
  if (now - claims.chainStartMs > policy.maxAgeMs) return 'max_age';
  return claims;
}

/**
 * Check 3: the registry's view of the account. Returns the session id the conditional claim must
 * expect (`0n`: that the account still has no state), or why the ticket is refused.
 */
export function checkState(
  policy: ResumePolicy,
  claims: TicketClaims,
  state: AccountState | undefined,
  now: number,
): bigint | ResumeResult {
  if (state === undefined) return now < policy.unknownUntil ? 0n : 'unknown';
  // The nonce hash binds the ticket to the registry entry of the session it was issued with.
  if (state.sessionId !== claims.sessionId || state.ticketHash !== claims.nonceHash) return 'superseded';
  if (state.open) return claims.sessionId;
  if (!state.resumable) return 'revoked';
  if (now - state.endedAt >= policy.windowMs) return 'expired';
  return claims.sessionId;
}

/**
 * The resume policy of a gateway from its options: keys (or a random key on a single node),
 * window, maximum age; `started` is the start time (ms since the epoch). `log` says what was
 * chosen, never a key.
 */
export function resumePolicy(
  o: {
    keys: readonly Uint8Array[] | undefined;
    windowMs: number;
    maxAgeMs: number;
    cluster: boolean;
    started: number;
    random?: (n: number) => Uint8Array;
  },
  log: (level: 'info' | 'warn', msg: string, fields: LogFields) => void,
): ResumePolicy {
  if (o.windowMs === 0) {
    log('info', 'resume tickets off', { reason: 'resume window is 0' });
    return RESUME_OFF;
  }
  let keys = o.keys;
  if (keys === undefined) {
    if (o.cluster) {
      log('warn', 'resume tickets off: no --resume-key on a cluster node', {
        reason: 'every node of a cluster must share the resume key; give each node the same --resume-key',
      });
      return RESUME_OFF;
    }
    keys = [crypto.getRandomValues(new Uint8Array(32))];
    log('info', 'resume tickets on with a random key', { note: 'tickets survive drops, not restarts' });
  }
  const codec = o.random === undefined ? new Codec(keys) : new Codec(keys, o.random);
  if (o.keys !== undefined) log('info', 'resume tickets on', { key_ids: codec.keyIds.join(',') });
  return {
    codec,
    windowMs: o.windowMs,
    maxAgeMs: o.maxAgeMs,
    // A fresh single node accepts tickets of sessions it has no record of for one window; a
    // random key cannot have signed any of them anyway.
    unknownUntil: o.cluster || o.keys === undefined ? 0 : o.started + o.windowMs,
  };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
