/**
 * The session registry (ARCHITECTURE.md 2): the seam between one node and a cluster. It owns
 * accounts only — who holds each account, delivery to it, and the per-account state that resume
 * tickets need. Degas links are per node and live in the link pool, not here.
 *
 * Two implementations behind {@link SessionRegistry}: {@link LocalRegistry} (in-process maps,
 * the default) and the NATS registry (`nats-registry.ts`, loaded only with `--nats`). Everything
 * above the registry is identical in both modes.
 */

import { idKey } from '@degas/proto';
import type { Logger } from './logger.js';
import type { GatewayStats } from './stats.js';

/** A connection that holds (or is claiming) an account, as the registry sees it. */
export interface RegisteredSession {
  readonly accountId: Uint8Array;
  /** `idKey(accountId)`. */
  readonly accountKey: string;
  /** Set before `claim` and never changed afterwards. */
  readonly sessionId: bigint;
  /**
   * SHA-256 (hex) of the nonce of the resume ticket issued to this session, '' when none was;
   * set before `claim`. The registry keeps it with the account's state, never the ticket itself.
   */
  readonly ticketHash: string;
  /** Sends one ready-made `GatewayMessage` frame; false when this connection cannot take it. */
  deliver(frame: Uint8Array): boolean;
  /** Replaced by a newer session of the account: `error{DUP_SESSION}`, close 4002. */
  kick(): void;
}

/** Where the misses of a delivery are reported: the Degas link it came in on. */
export interface DeliveryOrigin {
  /** Sends `error{CLIENT_ERROR, account_id}` to the Degas. */
  clientError(accountId: Uint8Array): void;
}

/** What a registry needs from the gateway that runs it (given once, at `start`). */
export interface RegistryHost {
  /**
   * A delivery from Degas `degasId` that crossed the bus found no session on the other node:
   * send CLIENT_ERROR on this node's link to that Degas (if it still has one).
   */
  clientError(degasId: Uint8Array, accountId: Uint8Array): void;
  /** Counters; deliveries that arrive over the bus count in `degasToClientMessages/Bytes`. */
  stats: GatewayStats;
  logger: Logger;
}

/**
 * Outcome of {@link SessionRegistry.claim}:
 * - `ok`: the session holds the account; any older session, on any node, is being kicked;
 * - `unavailable`: the cluster bus is unreachable, nothing was registered (the gateway answers
 *   `error{UNAVAILABLE}` and closes 1013);
 * - `conflict`: a conditional claim (`expectSessionId`) found another latest session.
 */
export type ClaimResult = 'ok' | 'unavailable' | 'conflict';

/** Outcome of {@link SessionRegistry.deliver}. */
export const Delivery = {
  /** No session of the account anywhere (or the bus is down): the caller sends CLIENT_ERROR. */
  MISS: 0,
  /** Delivered to a session of this node. */
  LOCAL: 1,
  /** Sent to the node that holds the account; a miss there comes back as `host.clientError`. */
  REMOTE: 2,
} as const;
export type Delivery = (typeof Delivery)[keyof typeof Delivery];

/** The latest session of an account, cluster-wide (what a resume ticket is checked against). */
export interface AccountState {
  readonly sessionId: bigint;
  /** Still in ForwardState on a live node. */
  readonly open: boolean;
  /** When it ended (ms since the epoch); 0 while open. A node that died ends its sessions when its heartbeat lapses. */
  readonly endedAt: number;
  /** Whether the way it ended allows resume (PROTOCOL.md 4.5); false while open. */
  readonly resumable: boolean;
  /** The session's {@link RegisteredSession.ticketHash}. */
  readonly ticketHash: string;
}

/** Gauges and counters of a registry, for /metrics. */
export interface RegistrySnapshot {
  readonly kind: 'local' | 'nats';
  /** Cluster and node name (cluster registries only). */
  readonly cluster?: string;
  readonly node?: string;
  /** 1 when the bus is connected (always 1 for a single node). */
  readonly busConnected: boolean;
  /** Nodes whose heartbeat is current, this one included. */
  readonly liveNodes: number;
  readonly claims: number;
  /** Local sessions kicked because a session on another node claimed their account. */
  readonly remoteKicks: number;
  /** Bus messages of deliveries sent to other nodes, and received from them. */
  readonly deliveriesSent: number;
  readonly deliveriesReceived: number;
  /** Deliveries that found no session on the node that was supposed to hold the account. */
  readonly remoteMisses: number;
  /** Malformed bus messages dropped (garbage, or a node of another version). */
  readonly busDropped?: number;
  /** Registry operation latency histogram (claim, release): counts per bound of `latencyBucketsMs`, +Inf last. */
  readonly latencyBucketsMs: readonly number[];
  readonly latencyCounts: readonly number[];
  readonly latencySumMs: number;
  readonly latencyCount: number;
}

/**
 * Who holds each account, and delivery to it. One implementation per deployment shape, injected
 * into `startGateway({ registry })`.
 *
 * How a resume (PROTOCOL.md 4.5) uses it: the ticket names session X of an account. The gateway
 * calls `latest(accountId)`; the ticket is usable when the state names X and it is `open` (a
 * half-open connection not noticed yet) or ended `resumable` less than the window ago. The new
 * connection, with its fresh session id, then calls `claim(session, X)`: it succeeds only if X is
 * still the account's latest session cluster-wide (compare-and-swap), so of two connections
 * presenting the same ticket at once exactly one gets `ok` and the other `conflict` (it falls
 * back to the wallet challenge). The successful claim kicks X if it is still open anywhere, and
 * makes X the account's past: the ticket cannot be used again.
 *
 * @example
 * const result = await registry.claim(session);          // a wallet login
 * if (result === 'unavailable') closeWith(1013);
 * const delivered = registry.deliver(key, accountId, frame, degasId);
 * if (delivered === Delivery.MISS) link.clientError(accountId);
 */
export interface SessionRegistry {
  readonly kind: 'local' | 'nats';
  /** Called once by `startGateway` before anything else; rejects when the registry cannot start. */
  start(host: RegistryHost): Promise<void>;
  /**
   * Makes `session` the account's latest session, cluster-wide, replacing (kicking) any older one
   * wherever it is. With `expectSessionId` (a resume), only if the account's latest session is
   * still that one and it is open or ended in a way that allows resume; with `0n`, only if the
   * account has no state at all (else `conflict`). The session waits for the result before
   * `auth_ok`. Never rejects.
   */
  claim(session: RegisteredSession, expectSessionId?: bigint): ClaimResult | Promise<ClaimResult>;
  /**
   * The session ended (after an `ok` claim). A no-op when a newer session already replaced it.
   * `resumable` says whether the ending allows resume (PROTOCOL.md 4.5).
   */
  release(session: RegisteredSession, resumable: boolean): void;
  /** The session of this node that holds the account, if any. */
  local(accountKey: string): RegisteredSession | undefined;
  /**
   * Delivers a ready-made client frame from Degas `degasId` to the account (hot path). The
   * registry copies what it keeps: the caller may reuse `accountId` and `frame` once this returns.
   */
  deliver(accountKey: string, accountId: Uint8Array, frame: Uint8Array, degasId: Uint8Array): Delivery;
  /**
   * Delivers one frame to many accounts (distinct, already validated): local sessions directly,
   * other nodes' with one bus message per node. Local misses go to `origin.clientError` at once;
   * misses on other nodes come back later through `host.clientError`. Returns how many were
   * delivered locally.
   */
  deliverMany(
    accountKeys: readonly string[],
    accountIds: readonly Uint8Array[],
    frame: Uint8Array,
    degasId: Uint8Array,
    origin: DeliveryOrigin,
  ): number;
  /** The account's latest session cluster-wide, or undefined when none is known. */
  latest(accountId: Uint8Array): AccountState | undefined | Promise<AccountState | undefined>;
  /** Accounts held by this node. */
  localCount(): number;
  /** False while the registry cannot register logins (bus outage): /readyz answers 503. */
  ready(): boolean;
  snapshot(): RegistrySnapshot;
  /** Leaves the cluster (after the gateway closed its sessions). */
  close(): Promise<void>;
}

/** Bounds (ms) of the registry latency histogram. */
export const REGISTRY_BUCKETS_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000] as const;

/** Options of {@link LocalRegistry}. */
export interface LocalRegistryOptions {
  /**
   * How long the state of an ended session is kept for `latest` (the resume window). Default 0:
   * forgotten at once.
   */
  retainEndedMs?: number;
}

interface Ended extends AccountState {
  readonly key: string;
}

/**
 * The single-node registry: in-process maps, synchronous answers, never unavailable.
 * @example
 * const gw = await startGateway({ accounts, degas, registry: new LocalRegistry() });
 */
export class LocalRegistry implements SessionRegistry {
  readonly kind = 'local' as const;
  private readonly sessions = new Map<string, RegisteredSession>();
  /** Ended sessions by account, oldest end first (re-inserted on every end). */
  private readonly ended = new Map<string, Ended>();
  private readonly retainEndedMs: number;
  private claims = 0;

  constructor(options: LocalRegistryOptions = {}) {
    const retain = options.retainEndedMs ?? 0;
    if (!Number.isInteger(retain) || retain < 0) {
      throw new RangeError(`retainEndedMs must be a non-negative integer, got ${String(retain)}`);
    }
    this.retainEndedMs = retain;
  }

  start(_host: RegistryHost): Promise<void> {
    return Promise.resolve();
  }

  claim(session: RegisteredSession, expectSessionId?: bigint): ClaimResult {
    const key = session.accountKey;
    const previous = this.sessions.get(key);
    if (expectSessionId !== undefined) {
      const ended = this.ended.get(key);
      if (expectSessionId === 0n) {
        if (previous !== undefined || ended !== undefined) return 'conflict';
      } else if (previous !== undefined) {
        if (previous.sessionId !== expectSessionId) return 'conflict';
      } else if (ended === undefined || ended.sessionId !== expectSessionId || !ended.resumable) return 'conflict';
    }
    this.claims++;
    // The old session's session_closed notices go out before the new one's auth_ok (PROTOCOL 5.3).
    if (previous !== undefined && previous !== session) {
      this.sessions.delete(key);
      previous.kick();
    }
    this.ended.delete(key);
    this.sessions.set(key, session);
    return 'ok';
  }

  release(session: RegisteredSession, resumable: boolean): void {
    const key = session.accountKey;
    // A late close of a replaced connection must never remove its successor.
    if (this.sessions.get(key) !== session) return;
    this.sessions.delete(key);
    if (this.retainEndedMs === 0) return;
    const now = Date.now();
    this.ended.delete(key);
    this.ended.set(key, {
      key,
      sessionId: session.sessionId,
      open: false,
      endedAt: now,
      resumable,
      ticketHash: session.ticketHash,
    });
    this.prune(now);
  }

  private prune(now: number): void {
    const before = now - this.retainEndedMs;
    for (const e of this.ended.values()) {
      if (e.endedAt >= before) break;
      this.ended.delete(e.key);
    }
  }

  local(accountKey: string): RegisteredSession | undefined {
    return this.sessions.get(accountKey);
  }

  deliver(accountKey: string, _accountId: Uint8Array, frame: Uint8Array, _degasId: Uint8Array): Delivery {
    const session = this.sessions.get(accountKey);
    return session?.deliver(frame) ? Delivery.LOCAL : Delivery.MISS;
  }

  deliverMany(
    accountKeys: readonly string[],
    accountIds: readonly Uint8Array[],
    frame: Uint8Array,
    _degasId: Uint8Array,
    origin: DeliveryOrigin,
  ): number {
    let delivered = 0;
    for (let i = 0; i < accountKeys.length; i++) {
      const session = this.sessions.get(accountKeys[i]!);
      if (session?.deliver(frame)) delivered++;
      else origin.clientError(accountIds[i]!);
    }
    return delivered;
  }

  latest(accountId: Uint8Array): AccountState | undefined {
    const key = idKey(accountId);
    const open = this.sessions.get(key);
    if (open !== undefined) {
      return { sessionId: open.sessionId, open: true, endedAt: 0, resumable: false, ticketHash: open.ticketHash };
    }
    const ended = this.ended.get(key);
    if (ended === undefined) return undefined;
    if (ended.endedAt < Date.now() - this.retainEndedMs) {
      this.ended.delete(key);
      return undefined;
    }
    return {
      sessionId: ended.sessionId,
      open: false,
      endedAt: ended.endedAt,
      resumable: ended.resumable,
      ticketHash: ended.ticketHash,
    };
  }

  localCount(): number {
    return this.sessions.size;
  }

  ready(): boolean {
    return true;
  }

  snapshot(): RegistrySnapshot {
    return {
      kind: 'local',
      busConnected: true,
      liveNodes: 1,
      claims: this.claims,
      remoteKicks: 0,
      deliveriesSent: 0,
      deliveriesReceived: 0,
      remoteMisses: 0,
      latencyBucketsMs: REGISTRY_BUCKETS_MS,
      latencyCounts: [],
      latencySumMs: 0,
      latencyCount: 0,
    };
  }

  close(): Promise<void> {
    this.sessions.clear();
    this.ended.clear();
    return Promise.resolve();
  }
}
