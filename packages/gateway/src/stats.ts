import { ErrorCode } from '@degas/proto';
import { RESUME_RESULTS, type ResumeResult } from './resume.js';

/** Why a login failed, for /metrics (never sent to the client: the client only sees AUTH_FAIL). */
export type AuthFailReason =
  | 'hello_timeout'
  | 'auth_timeout'
  | 'bad_frame'
  | 'unexpected_message'
  | 'bad_hello'
  | 'unknown_signer'
  | 'bad_signature'
  | 'chain_not_accepted'
  | 'wallet_unavailable'
  | 'directory_error'
  | 'unavailable'
  | 'shutdown';

/** Why an upgrade was refused before the WebSocket handshake completed. */
export type UpgradeRejectReason = 'rate' | 'origin' | 'capacity' | 'per_ip' | 'draining' | 'bad_request';

const authFailReasons: AuthFailReason[] = [
  'hello_timeout',
  'auth_timeout',
  'bad_frame',
  'unexpected_message',
  'bad_hello',
  'unknown_signer',
  'bad_signature',
  'chain_not_accepted',
  'wallet_unavailable',
  'directory_error',
  'unavailable',
  'shutdown',
];
const upgradeRejectReasons: UpgradeRejectReason[] = ['rate', 'origin', 'capacity', 'per_ip', 'draining', 'bad_request'];

/** Upper bounds (ms) of the signature verification latency histogram. */
export const VERIFY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 1000] as const;

/**
 * Counters of a gateway. Plain numbers incremented in place on the hot path (no closures, no
 * allocation); /metrics renders them.
 */
export interface GatewayStats {
  connectionsOpened: number;
  connectionsClosed: number;
  upgradesRejected: Record<UpgradeRejectReason, number>;
  authSuccesses: number;
  authFailures: Record<AuthFailReason, number>;
  /** Resume tickets presented, by how they ended (`ok` = a session resumed without a signature). */
  resumes: Record<ResumeResult, number>;
  /** Resume tickets issued (one per `auth_ok` while resume is on). */
  ticketsIssued: number;
  clientToDegasMessages: number;
  clientToDegasBytes: number;
  degasToClientMessages: number;
  degasToClientBytes: number;
  /** Errors sent to clients, indexed by ErrorCode. */
  errorsToClients: number[];
  /** Errors sent to Degas instances, indexed by ErrorCode. */
  errorsToDegas: number[];
  /** Client connections closed by the gateway, by close code. */
  closesByCode: Map<number, number>;
  dials: number;
  dialFailures: number;
  /** Verification latency histogram: counts per VERIFY_BUCKETS_MS bound, plus +Inf last. */
  verifyBucketCounts: number[];
  verifySumMs: number;
  verifyCount: number;
  /** TLS handshakes on the client port that failed (plain ws://, old TLS versions, bad clients). */
  tlsHandshakeFailures: number;
  /** Admission slots freed by `loginSlotTimeoutMs` while their client was still silent. */
  loginSlotsExpired: number;
}

/**
 * Fresh zeroed stats.
 * @example
 * const stats = createStats(); stats.authSuccesses++;
 */
export function createStats(): GatewayStats {
  const codes = Object.keys(ErrorCode).length;
  return {
    connectionsOpened: 0,
    connectionsClosed: 0,
    upgradesRejected: Object.fromEntries(upgradeRejectReasons.map((r) => [r, 0])) as Record<
      UpgradeRejectReason,
      number
    >,
    authSuccesses: 0,
    authFailures: Object.fromEntries(authFailReasons.map((r) => [r, 0])) as Record<AuthFailReason, number>,
    resumes: Object.fromEntries(RESUME_RESULTS.map((r) => [r, 0])) as Record<ResumeResult, number>,
    ticketsIssued: 0,
    clientToDegasMessages: 0,
    clientToDegasBytes: 0,
    degasToClientMessages: 0,
    degasToClientBytes: 0,
    errorsToClients: new Array<number>(codes).fill(0),
    errorsToDegas: new Array<number>(codes).fill(0),
    closesByCode: new Map(),
    dials: 0,
    dialFailures: 0,
    verifyBucketCounts: new Array<number>(VERIFY_BUCKETS_MS.length + 1).fill(0),
    verifySumMs: 0,
    verifyCount: 0,
    tlsHandshakeFailures: 0,
    loginSlotsExpired: 0,
  };
}

/** Records one verification latency. */
export function observeVerify(stats: GatewayStats, ms: number): void {
  let i = 0;
  while (i < VERIFY_BUCKETS_MS.length && ms > VERIFY_BUCKETS_MS[i]!) i++;
  stats.verifyBucketCounts[i]!++;
  stats.verifySumMs += ms;
  stats.verifyCount++;
}

/** Counts a close code the gateway sent. */
export function countClose(stats: GatewayStats, code: number): void {
  stats.closesByCode.set(code, (stats.closesByCode.get(code) ?? 0) + 1);
}
