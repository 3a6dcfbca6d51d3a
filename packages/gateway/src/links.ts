/**
 * Internal connections to Degas instances (PROTOCOL.md 4.3, 5): one link per Degas id, dialed
 * lazily on the first message, a bounded queue while dialing, capped exponential backoff with
 * jitter after a failed dial, re-dial on the next message after a loss. What a Degas sends over its
 * link is handled by link-inbound.ts.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { idKey, idToHex } from '@degas/proto';
import WebSocket from 'ws';
import { DegasInbound, type LinkOutput } from './link-inbound.js';
import type { Logger } from './logger.js';
import type { DeliveryOrigin, SessionRegistry } from './registry.js';
import type { GatewayStats } from './stats.js';
import type { DegasDirectory, DegasEndpoint, LinkState } from './types.js';

/** Frames shorter than this start a per-turn cork of the link socket (see corkUntilNextTurn). */
const CORK_BELOW = 8192;
/** Whoever sent a message on a link; gets DEGAS_ERROR when the message is dropped. */
export interface LinkSender {
  linkError(degasId: Uint8Array, detail: string): void;
}

/** Options of {@link LinkPool}. */
export interface LinkPoolOptions {
  directory: DegasDirectory;
  /** Token for Degas endpoints without a token of their own. */
  internalToken: string | undefined;
  /** Bytes queued while dialing, and the internal send buffer beyond which a Degas is congested. */
  queueLimit: number;
  maxInternalFrame: number;
  dialTimeoutMs: number;
  closeTimeoutMs: number;
  stats: GatewayStats;
  logger: Logger;
  /** Who holds each account (deliveries go through it). */
  registry: SessionRegistry;
}

/** First and last backoff step after a failed dial (PROTOCOL.md 5.2). */
export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 10_000;
/** A link lost sooner than this after opening counts towards flapping (see onClose). */
const STABLE_LINK_MS = 1_000;

interface Queued {
  frame: Uint8Array;
  sender: LinkSender | null;
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/**
 * The capped, jittered backoff delay before dial attempt number `failures + 1`.
 * @example
 * backoffDelay(1) // between 50 and 100
 */
export function backoffDelay(failures: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, Math.min(failures - 1, 20)));
  return Math.max(BACKOFF_MIN_MS / 2, Math.round(base / 2 + (random() * base) / 2));
}

/** One internal connection to one Degas: its socket and its dialing lifecycle. */
export class DegasLink implements DeliveryOrigin, LinkOutput {
  readonly degasId: Uint8Array;
  readonly key: string;
  readonly hex: string;
  state: LinkState = 'idle';
  /** Set when the pool dropped this link (unknown Degas): sessions must not cache it. */
  removed = false;
  queuedBytes = 0;
  /** The link's socket while it is corked until the end of this event-loop turn. */
  private corked: Socket | undefined;
  private readonly uncork = (): void => {
    const socket = this.corked;
    this.corked = undefined;
    socket?.uncork();
  };
  private ws: WebSocket | undefined;
  private queue: Queued[] = [];
  private failures = 0;
  /** Consecutive losses of links that were open less than STABLE_LINK_MS. */
  private quickLosses = 0;
  private openedAt = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private alive = true;
  /** Handles what the Degas sends. */
  private readonly inbound: DegasInbound;
  private readonly pool: LinkPool;
  private readonly log: Logger;
  private closeWaiters: (() => void)[] = [];

  constructor(pool: LinkPool, degasId: Uint8Array) {
    this.pool = pool;
    this.degasId = Uint8Array.from(degasId);
    this.key = idKey(this.degasId);
    this.hex = idToHex(this.degasId);
    this.inbound = new DegasInbound(this.degasId, this, pool.registry, pool.stats);
    this.log = pool.logger.child({ degas: this.hex });
  }

  /** Bytes waiting in the WebSocket send buffer of the open link. */
  get bufferedBytes(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /**
   * Sends one client_message frame (hot path). `frame` may be overwritten once this returns: `ws`
   * copies it while masking it (the link is a WebSocket client: every frame it sends is masked),
   * and a frame that has to wait for the link is copied into the queue.
   */
  send(frame: Uint8Array, sender: LinkSender): void {
    const ws = this.ws;
    if (this.state === 'open' && ws !== undefined) {
      if (ws.bufferedAmount > this.pool.queueLimit) {
        sender.linkError(this.degasId, 'Degas is congested');
        return;
      }
      if (this.corked === undefined && frame.length < CORK_BELOW) this.corkUntilNextTurn(ws);
      ws.send(frame);
      return;
    }
    this.sendSlow(frame, sender);
  }

  /**
   * Many clients' messages for this Degas arrive in one poll phase; corking the link's socket
   * until setImmediate sends them in one writev instead of one write syscall each (the syscalls
   * were ~65% of the gateway's CPU in the relay benchmark). Only small frames start a cork
   * (CORK_BELOW): holding large frames back costs more than the syscalls it saves (bench, 16–64 KiB).
   */
  private corkUntilNextTurn(ws: WebSocket): void {
    const socket = (ws as unknown as { _socket?: Socket | null })._socket;
    if (socket === undefined || socket === null || socket.destroyed) return;
    socket.cork();
    this.corked = socket;
    setImmediate(this.uncork);
  }

  private sendSlow(frame: Uint8Array, sender: LinkSender): void {
    switch (this.state) {
      case 'dialing':
        this.enqueue(frame, sender);
        return;
      case 'idle':
        this.enqueue(frame, sender);
        this.dial();
        return;
      case 'backoff':
        sender.linkError(this.degasId, 'Degas unavailable');
        return;
      default:
        sender.linkError(this.degasId, 'gateway shutting down');
    }
  }

  private enqueue(frame: Uint8Array, sender: LinkSender): void {
    if (this.queuedBytes + frame.length > this.pool.queueLimit) {
      sender.linkError(this.degasId, 'Degas queue full');
      return;
    }
    // A frame is only the caller's for the duration of send() (large forward frames are written
    // into one reused buffer, see forwardAlloc in session.ts): a frame that must wait is copied.
    this.queue.push({ frame: Buffer.from(frame), sender });
    this.queuedBytes += frame.length;
  }

  /**
   * Sends a notice (session_closed) that no client waits for: sent when open, queued while
   * dialing, dropped otherwise (a Degas that lost its link lost those sessions' traffic anyway).
   */
  sendNotice(frame: Uint8Array): void {
    if (this.state === 'open' && this.ws !== undefined) this.ws.send(frame);
    else if (this.state === 'dialing' && this.queuedBytes + frame.length <= this.pool.queueLimit) {
      this.queue.push({ frame, sender: null });
      this.queuedBytes += frame.length;
    }
  }

  private dial(): void {
    this.state = 'dialing';
    this.pool.stats.dials++;
    let result: DegasEndpoint | undefined | Promise<DegasEndpoint | undefined>;
    try {
      result = this.pool.directory.resolve(this.degasId);
    } catch (err) {
      this.resolveFailed(err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (endpoint) => this.connect(endpoint),
        (err: unknown) => this.resolveFailed(err),
      );
    } else {
      this.connect(result);
    }
  }

  private resolveFailed(err: unknown): void {
    if (this.state !== 'dialing') return;
    this.log.warn('degas directory lookup failed', { error: errorText(err) });
    this.dialFailed('Degas directory unavailable');
  }

  private connect(endpoint: DegasEndpoint | undefined): void {
    if (this.state !== 'dialing') return;
    if (endpoint === undefined) {
      // Do not keep a link object per unknown id: a client could otherwise grow the map forever.
      this.pool.stats.dialFailures++;
      this.failQueue('unknown Degas');
      this.state = 'idle';
      this.pool.forget(this);
      return;
    }
    const headers: Record<string, string> = { 'Degas-Id': this.hex };
    const token = endpoint.token ?? this.pool.internalToken;
    if (token !== undefined && token !== '') headers.Authorization = `Bearer ${token}`;
    let ws: WebSocket;
    try {
      ws = new WebSocket(endpoint.url, {
        maxPayload: this.pool.maxInternalFrame,
        perMessageDeflate: false,
        handshakeTimeout: this.pool.dialTimeoutMs,
        followRedirects: false,
        skipUTF8Validation: false,
        headers,
        // ws >= 8.19 / 8.23 options missing from @types/ws 8.18
        ...({ closeTimeout: this.pool.closeTimeoutMs, maxFragments: 1024 } as object),
      });
    } catch (err) {
      this.log.warn('degas dial failed', { error: errorText(err) });
      this.dialFailed('Degas unreachable');
      return;
    }
    this.ws = ws;
    ws.on('open', () => this.onOpen(ws));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(ws, data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err: Error) => {
      if (this.ws === ws) this.log.warn('degas link error', { error: errorText(err), state: this.state });
    });
    ws.on('close', (code: number) => this.onClose(ws, code));
  }

  private onOpen(ws: WebSocket): void {
    if (this.ws !== ws) return;
    if (this.state !== 'dialing') {
      ws.close(1001);
      return;
    }
    this.state = 'open';
    this.alive = true;
    this.openedAt = performance.now();
    this.log.info('degas link open');
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const q of queue) ws.send(q.frame);
  }

  private onClose(ws: WebSocket, code: number): void {
    if (this.ws !== ws) return;
    this.ws = undefined;
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w();
    if (this.state === 'dialing') {
      this.log.warn('degas dial failed', { code });
      this.dialFailed('Degas unreachable');
    } else if (this.state === 'open') {
      const lived = performance.now() - this.openedAt;
      this.log.warn('degas link lost', { code, lived_ms: Math.round(lived) });
      // PROTOCOL 5.2: the next message re-dials. A Degas that keeps dropping the link right after
      // accepting it (flapping) gets one immediate re-dial, then the backoff of a failed dial.
      if (lived >= STABLE_LINK_MS) {
        this.failures = 0;
        this.quickLosses = 0;
        this.state = 'idle';
      } else if (++this.quickLosses === 1) this.state = 'idle';
      else this.enterBackoff();
    }
  }

  private dialFailed(detail: string): void {
    this.pool.stats.dialFailures++;
    this.failQueue(detail);
    this.enterBackoff();
  }

  private enterBackoff(): void {
    this.failures++;
    this.state = 'backoff';
    const delay = backoffDelay(this.failures);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (this.state === 'backoff') this.state = 'idle';
    }, delay);
    this.backoffTimer.unref();
  }

  private failQueue(detail: string): void {
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const q of queue) q.sender?.linkError(this.degasId, detail);
  }

  /** Called by the shared ping timer: terminates a link that did not answer the last ping. */
  ping(): void {
    const ws = this.ws;
    if (this.state !== 'open' || ws === undefined) return;
    if (!this.alive) {
      this.log.warn('degas link ping timeout');
      ws.terminate();
      return;
    }
    this.alive = false;
    ws.ping();
  }

  // ---- Degas → gateway ------------------------------------------------------------------------

  private onMessage(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (this.ws !== ws) return;
    if (!isBinary) {
      this.log.warn('text frame from degas; closing link');
      ws.close(1003);
      return;
    }
    try {
      this.inbound.handle(data);
    } catch (err) {
      this.log.error('unexpected error handling a degas frame', { error: errorText(err) });
      ws.close(1011);
    }
  }

  /** A message of this Degas found no session of the account (the registry's cluster path). */
  clientError(accountId: Uint8Array): void {
    this.inbound.clientError(accountId);
  }

  /** LinkOutput: error frames go out only on an open link that is not congested. */
  canSendError(): boolean {
    const ws = this.ws;
    return this.state === 'open' && ws !== undefined && ws.bufferedAmount <= this.pool.queueLimit;
  }

  /** LinkOutput. */
  sendToDegas(frame: Uint8Array): void {
    this.ws?.send(frame);
  }

  /** Closes the link for good (shutdown); resolves when the socket is closed. */
  shutdown(): Promise<void> {
    const wasState = this.state;
    this.state = 'closed';
    if (this.backoffTimer !== undefined) clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.failQueue('gateway shutting down');
    const ws = this.ws;
    if (ws === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.closeWaiters.push(resolve);
      if (wasState === 'open') ws.close(1001);
      else ws.terminate();
    });
  }

  /** Destroys the socket at once (end of a shutdown that ran out of time). */
  terminate(): void {
    this.ws?.terminate();
  }
}

/** All links of a gateway. */
export class LinkPool {
  readonly directory: DegasDirectory;
  readonly internalToken: string | undefined;
  readonly queueLimit: number;
  readonly maxInternalFrame: number;
  readonly dialTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly stats: GatewayStats;
  readonly logger: Logger;
  readonly registry: SessionRegistry;
  /** Links are per node: this map is the node's own, never shared through the registry. */
  private readonly links = new Map<string, DegasLink>();
  private closed = false;

  constructor(options: LinkPoolOptions) {
    this.directory = options.directory;
    this.internalToken = options.internalToken;
    this.queueLimit = options.queueLimit;
    this.maxInternalFrame = options.maxInternalFrame;
    this.dialTimeoutMs = options.dialTimeoutMs;
    this.closeTimeoutMs = options.closeTimeoutMs;
    this.stats = options.stats;
    this.logger = options.logger;
    this.registry = options.registry;
  }

  /** The link of `degasId`, created (idle) on first use. `degasId` must be 16 bytes. */
  get(degasId: Uint8Array): DegasLink {
    const key = idKey(degasId);
    let link = this.links.get(key);
    if (link === undefined) {
      link = new DegasLink(this, degasId);
      if (this.closed) link.state = 'closed';
      this.links.set(key, link);
    }
    return link;
  }

  /** The existing link of `degasId`, if any (never creates one). */
  find(degasId: Uint8Array): DegasLink | undefined {
    return this.links.get(idKey(degasId));
  }

  /** Drops a link object (unknown Degas). */
  forget(link: DegasLink): void {
    link.removed = true;
    if (this.links.get(link.key) === link) this.links.delete(link.key);
  }

  /** Pings every open link (called from the gateway's shared ping timer). */
  pingAll(): void {
    for (const link of this.links.values()) link.ping();
  }

  /** Every link's state, for /metrics. */
  snapshot(): { degasId: Uint8Array; state: LinkState; queuedBytes: number; bufferedBytes: number }[] {
    const out = [];
    for (const link of this.links.values()) {
      out.push({
        degasId: link.degasId,
        state: link.state,
        queuedBytes: link.queuedBytes,
        bufferedBytes: link.bufferedBytes,
      });
    }
    return out;
  }

  /** Closes every link (after the clients' notices were queued); bounded by `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    const links = [...this.links.values()];
    const all = Promise.all(links.map((l) => l.shutdown()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, timeoutMs));
    });
    await Promise.race([all, timeout]);
    clearTimeout(timer);
    for (const l of links) l.terminate();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
