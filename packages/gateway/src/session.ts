/**
 * One client connection: the AuthState → ForwardState machine of PROTOCOL.md 4, its deadlines,
 * rate limit and close codes. It talks to the transport only through the ws socket it is given,
 * and to routing only through the session registry and the link pool.
 */

import { performance } from 'node:perf_hooks';
import { createChallenge, MAX_CHAIN_ID, normalizeAddress } from '@degas/auth-eth';
import {
  type ClientHelloMessage,
  type ClientMessage,
  CloseCode,
  decodeClientMessage,
  ErrorCode,
  encodeGatewayInternalMessage,
  encodeGatewayMessage,
  forwardEncoder,
  gatewayErrorEncoder,
  idEquals,
  idKey,
  Limits,
} from '@degas/proto';
import { errorEncoderCache } from '@degas/proto/wire';
import type WebSocket from 'ws';
import type { DegasLink, LinkPool, LinkSender } from './links.js';
import type { Logger } from './logger.js';
import { pooledRandomBytes, randomSessionId } from './random-pool.js';
import type { AccountState, ClaimResult, RegisteredSession, SessionRegistry } from './registry.js';
import { checkState, openTicket, type ResumePolicy, type ResumeResult } from './resume.js';
import type { TicketClaims } from './resume-ticket.js';
import { type AuthFailReason, countClose, type GatewayStats } from './stats.js';
import { TokenBucket } from './token-bucket.js';
import type { Account, AccountDirectory } from './types.js';
import type { UpgradeGuard, UpgradeTicket } from './upgrade.js';
import type { Verifier, VerifyOutcome } from './verifier.js';

const EMPTY = new Uint8Array(0);

/** The settings a session needs (already validated and defaulted by startGateway). */
export interface SessionSettings {
  helloTimeoutMs: number;
  authTimeoutMs: number;
  rateLimit: number;
  rateLimitGraceMs: number;
  sendBufferLimit: number;
  authMessage: string;
  /** Resume tickets (PROTOCOL.md 4.5). */
  resume: ResumePolicy;
  /** Accepted `eth_auth` chain ids; undefined = any (PROTOCOL.md 4.2 step 3). */
  authChainIds?: ReadonlySet<number> | undefined;
}

/** Everything a session shares with the rest of the gateway. */
export interface SessionContext {
  settings: SessionSettings;
  stats: GatewayStats;
  logger: Logger;
  accounts: AccountDirectory;
  verifier: Verifier;
  links: LinkPool;
  registry: SessionRegistry;
  guard: UpgradeGuard;
  /** Called once when the socket has closed. */
  onClosed(session: ClientSession): void;
}

/**
 * Where a connection is. `hello`, `lookup`, `resuming` (reading the registry's state for a resume
 * ticket), `challenge`, `verifying` and `claiming` (waiting for the session registry) are
 * AuthState; `closed` means the gateway started closing (or the socket is gone) and nothing more
 * is processed.
 */
export type SessionPhase =
  | 'hello'
  | 'lookup'
  | 'resuming'
  | 'challenge'
  | 'verifying'
  | 'claiming'
  | 'forward'
  | 'closed';

/** Same text for every authentication failure, so that replies cannot enumerate accounts or signers. */
export const AUTH_FAIL_DETAIL = 'authentication failed';

/**
 * An encoded `GatewayMessage{error}`.
 * @example
 * ws.send(errorFrame(ErrorCode.AUTH_FAIL, 'authentication failed'));
 */
export function errorFrame(
  code: ErrorCode,
  detail: string,
  degasId: Uint8Array = EMPTY,
  accountId: Uint8Array = EMPTY,
): Uint8Array {
  return errorEncoder(code, detail)(degasId, accountId);
}

/**
 * Errors go out once per dropped message (RATE_LIMITED, DEGAS_ERROR…), so a client or Degas at
 * fault must not cost more per message than forwarding does: each encoder is built once.
 */
const errorEncoder = errorEncoderCache(gatewayErrorEncoder, Buffer.allocUnsafe);

/** Forward frames from this size on are written into {@link forwardAlloc}'s reused buffer. */
const REUSED_FRAME_FROM = 4096;
let reusedFrame = Buffer.allocUnsafeSlow(0);

/**
 * The allocator of the forward frames (client → Degas). From 4 KiB on (where Node's allocation
 * stops using its shared pool and every buffer becomes memory outside the V8 heap, which the garbage
 * collector counts towards a full collection), every frame is written into one buffer that is reused:
 * the Degas link hands the frame to `ws`, which copies it while masking it before `send` returns,
 * and copies it itself when the frame has to wait for the link (DegasLink.send). Smaller frames come
 * from Node's pool.
 */
function forwardAlloc(size: number): Uint8Array {
  if (size < REUSED_FRAME_FROM) return Buffer.allocUnsafe(size);
  if (reusedFrame.length < size) reusedFrame = Buffer.allocUnsafeSlow(Math.max(size, 2 * reusedFrame.length));
  return reusedFrame.subarray(0, size);
}

const AUTH_FAIL_FRAME = errorFrame(ErrorCode.AUTH_FAIL, AUTH_FAIL_DETAIL);
/** AUTH_FAIL for a chain id outside `--auth-chain-id` (the gateway's setting, not the account's). */
const CHAIN_NOT_ACCEPTED_FRAME = errorFrame(ErrorCode.AUTH_FAIL, 'chain id not accepted');
/** AUTH_FAIL when a contract-wallet check could not complete (endpoint down, slow or overloaded). */
const WALLET_UNAVAILABLE_FRAME = errorFrame(ErrorCode.AUTH_FAIL, 'wallet check unavailable, try again');
/** The `error{GOING_AWAY}` frame sent before every 1001 close. */
export const GOING_AWAY_FRAME = errorFrame(ErrorCode.GOING_AWAY, 'gateway shutting down');
const DUP_SESSION_FRAME = errorFrame(ErrorCode.DUP_SESSION, 'replaced by a newer session of this account');
const UNAVAILABLE_FRAME = errorFrame(ErrorCode.UNAVAILABLE, 'cluster unavailable, try again later');

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/** One client connection. */
export class ClientSession implements LinkSender, RegisteredSession {
  phase: SessionPhase = 'hello';
  /** Answered the last ping (the shared ping timer clears it and terminates if still clear). */
  alive = true;
  accountId: Uint8Array = EMPTY;
  accountKey = '';
  sessionId = 0n;
  /** Nonce hash of the resume ticket issued to this session ('' = none), kept by the registry. */
  ticketHash = '';
  readonly ws: WebSocket;
  readonly ip: string;
  private readonly ctx: SessionContext;
  private readonly ticket: UpgradeTicket;
  private address = '';
  private challenge: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the running AuthState deadline fires (performance.now() ms). */
  private deadline = 0;
  private forward: ((payload: Uint8Array) => Uint8Array) | undefined;
  /** For the first message to each Degas of a resumed session: carries `resumed_from`. */
  private forwardResumed: ((payload: Uint8Array) => Uint8Array) | undefined;
  /** A resume ticket that passed checks 1, 2 and 4, until the registry has answered. */
  private resumeClaims: TicketClaims | undefined;
  /** The session this one resumes (0n = a wallet login). */
  private resumedFrom = 0n;
  /** Time of the wallet login that began this session's chain of resumes (ms since the epoch). */
  private chainStartMs = 0;
  /** The ticket for this session's auth_ok (dropped once sent). */
  private issuedTicket: Uint8Array = EMPTY;
  private readonly sentTo = new Set<DegasLink>();
  private lastLink: DegasLink | undefined;
  /** Client messages per second (burst 2×); set on entering ForwardState. */
  private bucket: TokenBucket | undefined;
  private firstDrop = -1;
  private socketClosed = false;

  constructor(ctx: SessionContext, ws: WebSocket, ticket: UpgradeTicket) {
    this.ctx = ctx;
    this.ws = ws;
    this.ticket = ticket;
    this.ip = ticket.ip;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err: Error) => {
      // ws closes the socket itself (1002/1007/1008/1009); the error is the reason, for the log.
      ctx.logger.debug('client socket error', { error: err.message, ip: this.ip });
    });
    ws.on('close', (code: number) => this.onSocketClose(code));
    this.timer = setTimeout(() => this.authFail('hello_timeout'), ctx.settings.helloTimeoutMs);
    // The 101 is out: the gateway waits for the client's hello (its admission slot's deadline runs).
    ctx.guard.awaitClient(ticket);
  }

  // ---- inbound --------------------------------------------------------------------------------

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.phase === 'closed') return;
    try {
      if (!isBinary) {
        this.close(CloseCode.UNSUPPORTED_DATA);
        return;
      }
      let msg: ClientMessage;
      try {
        msg = decodeClientMessage(data);
      } catch {
        if (this.phase === 'forward') this.protocolViolation('undecodable ClientMessage');
        else this.authFail('bad_frame');
        return;
      }
      if (this.phase === 'forward') this.onForwardFrame(msg.payload);
      else this.onAuthFrame(msg.payload);
    } catch (err) {
      this.ctx.logger.error('unexpected error handling a client frame', {
        error: err instanceof Error ? err.message : String(err),
        phase: this.phase,
      });
      this.close(CloseCode.INTERNAL_ERROR);
    }
  }

  private onAuthFrame(p: ClientMessage['payload']): void {
    if (this.phase === 'hello' && p?.$case === 'hello') this.onHello(p.value);
    else if (this.phase === 'challenge' && p?.$case === 'ethAuth') this.onEthAuth(p.value.signature, p.value.chainId);
    else this.authFail(p === undefined ? 'bad_frame' : 'unexpected_message');
  }

  private onHello(hello: ClientHelloMessage): void {
    this.ctx.guard.clientSpoke(this.ticket);
    if (hello.accountId.length !== Limits.ID_LENGTH || hello.signer?.$case !== 'ethereumSigner') {
      this.authFail('bad_hello');
      return;
    }
    let address: string;
    try {
      address = normalizeAddress(hello.signer.value.address);
    } catch {
      this.authFail('bad_hello');
      return;
    }
    this.accountId = Uint8Array.from(hello.accountId);
    this.accountKey = idKey(this.accountId);
    this.address = address;
    if (!this.ctx.registry.ready()) {
      // A login could not be registered anyway: no wallet is asked to sign in vain (PROTOCOL 4.5, 8).
      if (hello.resumeTicket.length > 0) this.countResume('unavailable');
      this.unavailable();
      return;
    }
    if (hello.resumeTicket.length > 0) {
      // Checks 1, 2 (ticket side) and 4, before any directory or registry read. A refused ticket
      // is not an error: the login continues with the challenge.
      const opened = openTicket(this.ctx.settings.resume, hello.resumeTicket, this.accountId, address, Date.now());
      if (typeof opened === 'string') this.countResume(opened);
      else this.resumeClaims = opened;
    }
    this.phase = 'lookup';
    this.restartTimer('auth_timeout', this.ctx.settings.authTimeoutMs);
    this.settle(() => this.ctx.accounts.getAccount(this.accountId), this.onAccount, this.onDirectoryError);
  }

  private onDirectoryError(err: unknown): void {
    if (this.phase !== 'lookup') return;
    this.ctx.logger.warn('account directory lookup failed', {
      error: err instanceof Error ? err.message : String(err),
    });
    this.authFail('directory_error');
  }

  private onAccount(account: Account | undefined): void {
    if (this.phase !== 'lookup') return;
    const address = this.address;
    let enabled = false;
    if (account !== undefined && account !== null && Array.isArray(account.signers)) {
      for (const s of account.signers) {
        if (
          s.type === 'ethereum' &&
          !s.disabled &&
          typeof s.address === 'string' &&
          s.address.toLowerCase() === address
        ) {
          enabled = true;
          break;
        }
      }
    }
    if (!enabled) {
      // Check 2: a ticket does not outlive its signer.
      if (this.resumeClaims !== undefined) this.countResume('signer_disabled');
      this.resumeClaims = undefined;
      this.authFail('unknown_signer');
      return;
    }
    if (this.resumeClaims !== undefined) this.readResumeState();
    else this.sendChallenge();
  }

  /** Check 3: the registry's view of the account the ticket names. */
  private readResumeState(): void {
    this.phase = 'resuming';
    this.settle(() => this.ctx.registry.latest(this.accountId), this.onResumeState, this.onResumeStateError);
  }

  private onResumeStateError(err: unknown): void {
    if (this.phase !== 'resuming') return;
    this.ctx.logger.warn('session registry read failed', { error: err instanceof Error ? err.message : String(err) });
    this.resumeClaims = undefined;
    this.countResume('unavailable');
    this.unavailable();
  }

  private onResumeState(state: AccountState | undefined): void {
    const claims = this.resumeClaims;
    if (this.phase !== 'resuming' || claims === undefined) return;
    const expect = checkState(this.ctx.settings.resume, claims, state, Date.now());
    if (typeof expect === 'string') {
      this.resumeClaims = undefined;
      this.countResume(expect);
      this.sendChallenge();
      return;
    }
    this.resumedFrom = claims.sessionId;
    this.chainStartMs = claims.chainStartMs;
    this.claim(expect);
  }

  /** Step 2 of PROTOCOL.md 4.2 (also after a refused resume ticket, on the same connection). */
  private sendChallenge(): void {
    const { challenge, json } = createChallenge({
      message: this.ctx.settings.authMessage,
      randomBytes: pooledRandomBytes,
    });
    this.challenge = challenge;
    this.phase = 'challenge';
    this.restartTimer('auth_timeout', this.ctx.settings.authTimeoutMs);
    this.ws.send(
      encodeGatewayMessage({
        payload: { $case: 'authRequest', value: { request: { $case: 'ethereumAuth', value: { challenge: json } } } },
      }),
    );
    // The gateway's part of the login is done until the client signs (a wallet prompt can take
    // many seconds): its admission slot goes to the next waiting connection now.
    this.ctx.guard.releaseSlot(this.ticket);
  }

  private onEthAuth(signature: Uint8Array, wireChainId: bigint): void {
    const challenge = this.challenge;
    // One attempt per challenge: it is forgotten now, whatever the outcome.
    this.challenge = undefined;
    if (challenge === undefined) {
      this.authFail('unexpected_message');
      return;
    }
    // chain_id 0 (absent) means 1. Ids beyond MAX_CHAIN_ID cannot be signed by a wallet (JSON).
    const chainId = wireChainId === 0n ? 1 : wireChainId <= BigInt(MAX_CHAIN_ID) ? Number(wireChainId) : -1;
    const accepted = this.ctx.settings.authChainIds;
    if (chainId < 0 || (accepted !== undefined && !accepted.has(chainId))) {
      this.authFail('chain_not_accepted', CHAIN_NOT_ACCEPTED_FRAME);
      return;
    }
    this.phase = 'verifying';
    // The eth_auth deadline keeps running during the check (a contract-wallet check included).
    this.ctx.verifier
      .verify(challenge, signature, this.address, chainId, this.deadline)
      .then((outcome) => this.guarded(() => this.onVerified(outcome)));
  }

  private onVerified(outcome: VerifyOutcome): void {
    if (this.phase !== 'verifying') return;
    if (outcome !== 'ok') {
      if (outcome === 'unavailable') this.authFail('wallet_unavailable', WALLET_UNAVAILABLE_FRAME);
      else this.authFail('bad_signature');
      return;
    }
    // A wallet login begins a new chain of resumes.
    this.chainStartMs = Date.now();
    this.claim(undefined);
  }

  /**
   * Authentication succeeded: register the session (the registry replaces any older session of
   * the account, on this node or another), then enter ForwardState.
   */
  private claim(expectSessionId: bigint | undefined): void {
    this.phase = 'claiming';
    this.sessionId = randomSessionId();
    const codec = this.ctx.settings.resume.codec;
    if (codec !== undefined) {
      // Issued before the claim, so that the registry keeps its nonce hash with the session.
      const issued = codec.issue(this.accountId, this.address, this.sessionId, this.chainStartMs);
      this.issuedTicket = issued.ticket;
      this.ticketHash = issued.nonceHash;
    }
    this.settle(() => this.ctx.registry.claim(this, expectSessionId), this.onClaimed, this.onClaimError);
  }

  private onClaimError(err: unknown): void {
    this.ctx.logger.error('session registry claim failed', { error: err instanceof Error ? err.message : String(err) });
    this.onClaimed('unavailable');
  }

  private onClaimed(result: ClaimResult): void {
    if (this.phase !== 'claiming') {
      // The connection ended while the claim was under way: give the account back.
      if (result === 'ok') this.ctx.registry.release(this, false);
      return;
    }
    if (result === 'ok') {
      this.promote();
      return;
    }
    const resuming = this.resumeClaims !== undefined;
    this.resumeClaims = undefined;
    if (result === 'unavailable') {
      if (resuming) this.countResume('unavailable');
      this.unavailable();
      return;
    }
    if (!resuming) {
      // 'conflict' only answers a conditional claim (a resume), which wallet logins never make.
      this.authFail('unexpected_message');
      return;
    }
    // Another connection resumed with this ticket first: this one logs in with the wallet.
    this.countResume('conflict');
    this.resumedFrom = 0n;
    this.sessionId = 0n;
    this.ticketHash = '';
    this.issuedTicket = EMPTY;
    this.sendChallenge();
  }

  /** The cluster bus is unreachable: no login can be registered (PROTOCOL.md 8). */
  private unavailable(): void {
    this.ctx.stats.authFailures.unavailable++;
    this.ctx.stats.errorsToClients[ErrorCode.UNAVAILABLE]!++;
    this.close(CloseCode.TRY_AGAIN_LATER, UNAVAILABLE_FRAME);
  }

  private countResume(result: ResumeResult): void {
    this.ctx.stats.resumes[result]++;
  }

  /** The registry accepted the claim: enter ForwardState. */
  private promote(): void {
    const { stats, settings } = this.ctx;
    this.clearTimer();
    this.forward = forwardEncoder(this.accountId, this.sessionId, forwardAlloc);
    const resumed = this.resumeClaims !== undefined;
    this.resumeClaims = undefined;
    if (resumed) {
      this.forwardResumed = forwardEncoder(this.accountId, this.sessionId, forwardAlloc, this.resumedFrom);
      stats.resumes.ok++;
    } else stats.authSuccesses++;
    this.phase = 'forward';
    if (settings.rateLimit > 0)
      this.bucket = new TokenBucket(settings.rateLimit, settings.rateLimit * 2, performance.now());
    this.ctx.guard.releasePending(this.ticket);
    const resumeTicket = this.issuedTicket;
    this.issuedTicket = EMPTY;
    if (resumeTicket.length > 0) stats.ticketsIssued++;
    this.ws.send(
      encodeGatewayMessage({
        payload: {
          $case: 'authOk',
          value: {
            accountId: this.accountId,
            sessionId: this.sessionId,
            resumeTicket,
            resumeWindowMs: resumeTicket.length > 0 ? settings.resume.windowMs : 0,
            resumed,
          },
        },
      }),
    );
  }

  private onForwardFrame(p: ClientMessage['payload']): void {
    if (p === undefined || p.$case !== 'degas') {
      this.protocolViolation(p === undefined ? 'empty ClientMessage' : 'already authenticated');
      return;
    }
    const { degasId, payload } = p.value;
    if (this.bucket !== undefined && !this.takeToken(this.bucket, degasId)) return;
    if (degasId.length !== Limits.ID_LENGTH) {
      this.sendError(ErrorCode.PROTOCOL_ERROR, 'degas_id must be 16 bytes', degasId);
      return;
    }
    if (payload.length > Limits.MAX_PAYLOAD) {
      this.sendError(ErrorCode.PAYLOAD_TOO_LARGE, 'payload over 65536 bytes', degasId);
      return;
    }
    let link = this.lastLink;
    let encode = this.forward as (payload: Uint8Array) => Uint8Array;
    if (link === undefined || link.removed || !idEquals(link.degasId, degasId)) {
      link = this.ctx.links.get(degasId);
      this.lastLink = link;
      if (this.sentTo.size > 256) this.pruneSentTo();
      // A resumed session's first message over each link names the session it continues (a new
      // link to a Degas counts as first: that Degas ended the sessions of the link it lost).
      if (this.forwardResumed !== undefined && !this.sentTo.has(link)) encode = this.forwardResumed;
      this.sentTo.add(link);
    }
    const stats = this.ctx.stats;
    stats.clientToDegasMessages++;
    stats.clientToDegasBytes += payload.length;
    link.send(encode(payload), this);
  }

  private pruneSentTo(): void {
    for (const l of this.sentTo) if (l.removed) this.sentTo.delete(l);
  }

  /** Spends a token of the rate limit; false = the message is dropped (RATE_LIMITED, then 4008 after the grace period). */
  private takeToken(bucket: TokenBucket, degasId: Uint8Array): boolean {
    const now = performance.now();
    if (bucket.take(now)) {
      // Back under the rate for a while (half the burst refilled): the grace period starts over.
      if (this.firstDrop >= 0 && bucket.tokens >= bucket.rate) this.firstDrop = -1;
      return true;
    }
    this.sendError(ErrorCode.RATE_LIMITED, 'rate limit exceeded', degasId);
    if (this.firstDrop < 0) this.firstDrop = now;
    else if (now - this.firstDrop >= this.ctx.settings.rateLimitGraceMs) this.close(CloseCode.RATE_LIMITED);
    return false;
  }

  // ---- outbound -------------------------------------------------------------------------------

  /** Sends a frame from a Degas (RegisteredSession). False when this connection cannot take it. */
  deliver(frame: Uint8Array): boolean {
    if (this.phase !== 'forward') return false;
    return this.sendFrame(frame);
  }

  /** A link dropped a message of this session (LinkSender). */
  linkError(degasId: Uint8Array, detail: string): void {
    if (this.phase !== 'forward') return;
    this.sendError(ErrorCode.DEGAS_ERROR, detail, degasId);
  }

  private sendError(code: ErrorCode, detail: string, degasId: Uint8Array = EMPTY): void {
    this.ctx.stats.errorsToClients[code]!++;
    this.sendFrame(errorFrame(code, detail, degasId));
  }

  /** Sends unless the send buffer is over its limit, in which case the client is a slow consumer. */
  private sendFrame(frame: Uint8Array): boolean {
    const ws = this.ws;
    // The peer's Close already arrived: the socket takes no more data.
    if (ws.readyState !== 1) return false;
    if (ws.bufferedAmount > this.ctx.settings.sendBufferLimit) {
      // No error frame: it would only add to the pile (PROTOCOL.md 6).
      this.close(CloseCode.SLOW_CONSUMER);
      return false;
    }
    ws.send(frame);
    return true;
  }

  // ---- endings --------------------------------------------------------------------------------

  private authFail(reason: AuthFailReason, frame: Uint8Array = AUTH_FAIL_FRAME): void {
    if (this.phase === 'closed' || this.phase === 'forward') return;
    this.ctx.stats.authFailures[reason]++;
    this.ctx.stats.errorsToClients[ErrorCode.AUTH_FAIL]!++;
    this.close(CloseCode.AUTH_FAILED, frame);
  }

  private protocolViolation(detail: string): void {
    this.ctx.stats.errorsToClients[ErrorCode.PROTOCOL_ERROR]!++;
    this.close(CloseCode.PROTOCOL_VIOLATION, errorFrame(ErrorCode.PROTOCOL_ERROR, detail));
  }

  /** Replaced by a newer login of the same account (DUP_SESSION, 4002). */
  kick(): void {
    if (this.phase !== 'forward' && this.phase !== 'claiming') return;
    this.ctx.stats.errorsToClients[ErrorCode.DUP_SESSION]!++;
    this.close(CloseCode.DUP_SESSION, DUP_SESSION_FRAME);
  }

  /** Gateway shutdown: GOING_AWAY then 1001, in every state (AuthState included). */
  goingAway(): void {
    if (this.phase === 'closed') return;
    if (this.phase !== 'forward') this.ctx.stats.authFailures.shutdown++;
    this.ctx.stats.errorsToClients[ErrorCode.GOING_AWAY]!++;
    this.close(CloseCode.GOING_AWAY, GOING_AWAY_FRAME);
  }

  /** Ping tick of the shared timer. */
  heartbeat(): void {
    const ws = this.ws;
    if (ws.readyState !== 1) return;
    if (!this.alive) {
      this.ctx.logger.debug('ping timeout', { ip: this.ip });
      this.end(true);
      ws.terminate();
      return;
    }
    this.alive = false;
    ws.ping();
  }

  /** Terminates the socket at once (end of a shutdown that ran out of time). */
  terminate(): void {
    this.end(true);
    this.ws.terminate();
  }

  /**
   * Starts the closing handshake with `code` (after `frame`, if given). The session ends now: its
   * registry entry is released and its session_closed notices go out. ws destroys the socket if the
   * peer does not finish the handshake within closeTimeout.
   */
  close(code: number, frame?: Uint8Array): void {
    if (this.phase === 'closed') return;
    this.end(code === CloseCode.GOING_AWAY || code === CloseCode.SLOW_CONSUMER);
    countClose(this.ctx.stats, code);
    const ws = this.ws;
    if (ws.readyState !== 1) return;
    if (frame !== undefined) ws.send(frame);
    ws.close(code);
  }

  /**
   * Asks a directory or the registry, which may answer at once or with a promise: the value goes
   * to the method `onValue` and a throw or rejection to the method `onError`, synchronously for a synchronous answer,
   * else when the promise settles (guarded, as every callback outside a socket event is).
   */
  private settle<T>(
    produce: () => T | Promise<T>,
    onValue: (this: ClientSession, value: T) => void,
    onError: (this: ClientSession, err: unknown) => void,
  ): void {
    let result: T | Promise<T>;
    try {
      result = produce();
    } catch (err) {
      onError.call(this, err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.guarded(() => onValue.call(this, value)),
        (err: unknown) => this.guarded(() => onError.call(this, err)),
      );
    } else onValue.call(this, result);
  }

  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.logger.error('unexpected error in a session callback', {
        error: err instanceof Error ? err.message : String(err),
      });
      this.close(CloseCode.INTERNAL_ERROR);
    }
  }

  /**
   * Ends the session (idempotent): no more processing, registry entry and notices. `resumable`:
   * whether this ending allows resume (PROTOCOL.md 4.5).
   */
  private end(resumable: boolean): void {
    if (this.phase === 'closed') return;
    const wasForward = this.phase === 'forward';
    this.phase = 'closed';
    this.challenge = undefined;
    this.clearTimer();
    if (!wasForward) {
      // A failed login frees its admission slot now, not when the close handshake ends.
      this.ctx.guard.releaseSlot(this.ticket);
      return;
    }
    this.ctx.registry.release(this, resumable);
    if (this.sentTo.size > 0) {
      const notice = encodeGatewayInternalMessage({
        payload: { $case: 'sessionClosed', value: { accountId: this.accountId, sessionId: this.sessionId } },
      });
      for (const link of this.sentTo) if (!link.removed) link.sendNotice(notice);
      this.sentTo.clear();
    }
    this.lastLink = undefined;
  }

  private onSocketClose(code: number): void {
    if (this.socketClosed) return;
    this.socketClosed = true;
    // Reached in ForwardState only when the client closed or the socket dropped: a client's
    // close 1000 is a logout, any other ending (1006 included) allows resume.
    this.end(code !== CloseCode.NORMAL);
    this.ctx.onClosed(this);
  }

  private restartTimer(reason: AuthFailReason, ms: number): void {
    this.clearTimer();
    this.deadline = performance.now() + ms;
    this.timer = setTimeout(() => this.authFail(reason), ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
