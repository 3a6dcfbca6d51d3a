/**
 * Upgrade hardening (docs/CATALOGUE.md A): checks that run on the raw HTTP upgrade request, before ws
 * does any WebSocket work — drain (503), per-IP handshake rate (429), Origin allowlist (403),
 * global connection cap (503) and a per-IP cap on connections that have not authenticated yet
 * (429). "IP" is the client address: the TCP peer, or the one a trusted proxy reports in
 * `X-Forwarded-For`. Admitted upgrades are then paced, a few per event-loop turn (UpgradePacer).
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { TlsOptions } from 'node:tls';
import type { Logger } from './logger.js';
import type { GatewayStats, UpgradeRejectReason } from './stats.js';
import { TokenBucket } from './token-bucket.js';

/**
 * Upper bound on the entries of each per-IP table (handshake buckets, pending counts), so that
 * a flood from many addresses (an IPv6 /64 holds 2^64 of them) cannot grow them without limit.
 */
export const MAX_TRACKED_IPS = 100_000;

/** Options of {@link UpgradeGuard}. */
export interface UpgradeGuardOptions {
  /** Accepted `Origin` values; empty = any. Requests without `Origin` are always accepted. */
  allowedOrigins: readonly string[];
  maxConnections: number;
  maxPendingPerIp: number;
  /** Upgrades per second per client IP (burst 2×); 0 = off. */
  handshakeRate: number;
  /** Addresses or CIDR blocks whose `X-Forwarded-For` is honoured. */
  trustedProxies: readonly string[];
  /** Entries per per-IP table. Default {@link MAX_TRACKED_IPS}. */
  maxTrackedIps?: number;
  /** Monotonic clock in ms (tests). Default `performance.now`. */
  now?: () => number;
  /**
   * Most logins in progress (accepted connections, own-server mode, until their challenge is
   * sent or they authenticate, fail or close); later connections wait, unread, until a slot
   * frees. 0 = no bound. Default 0.
   */
  maxLoginsInProgress?: number;
  /**
   * With a bound: the longest a connection holds its slot (its client silent: no upgrade request,
   * no `hello`), after which the slot goes to the next waiting connection; the connection keeps
   * its own deadlines. 0 = no limit. Default 1000.
   */
  loginSlotTimeoutMs?: number;
  stats: GatewayStats;
  logger: Logger;
}

/** What the guard remembers of one admitted connection until its socket closes. */
export interface UpgradeTicket {
  readonly ip: string;
  /** Still counted against the per-IP cap of unauthenticated connections. */
  pending: boolean;
  /** Still counted against `maxConnections`. */
  open: boolean;
  /** The admission slot this connection holds while it logs in, if it went through {@link UpgradeGuard.gate}. */
  slot?: AdmissionSlot | undefined;
}

/** One accepted connection's place in the admission of logins (see {@link UpgradeGuard.gate}). */
export interface AdmissionSlot {
  /** Counted in `loginsInProgress` now. */
  held: boolean;
  /** The gateway waits for the client (its upgrade request, or its `hello` after the 101): the slot deadline runs. */
  silent: boolean;
  /** When the current wait for the client began (the guard's clock, ms). */
  since: number;
  /** Ended (challenge sent, authenticated, refused, closed or expired): never admitted again. */
  done: boolean;
  start: (() => void) | undefined;
  /** Until the slot ends (then dropped, so an ended slot keeps no socket alive). */
  socket: Duplex | undefined;
}

function normalizeOrigin(origin: string): string {
  let o = origin.trim().toLowerCase();
  while (o.endsWith('/')) o = o.slice(0, -1);
  return o;
}

/**
 * Writes a minimal HTTP error response on a socket that asked for an upgrade, and closes it.
 * @example
 * rejectUpgrade(socket, 503);
 */
export function rejectUpgrade(socket: Duplex, status: number, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const body = STATUS_CODES[status] ?? 'Error';
  let extra = '';
  for (const [k, v] of Object.entries(headers)) extra += `${k}: ${v}\r\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${body}\r\nConnection: close\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * The canonical text of an address: IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what a dual-stack
 * socket reports) becomes plain IPv4 so both spellings share one bucket; IPv6 is lower-cased.
 * @example
 * normalizeIp('::FFFF:127.0.0.1'); // '127.0.0.1'
 */
export function normalizeIp(ip: string): string {
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return lower;
}

/** A parsed `--trusted-proxy` entry. */
export interface ProxySpec {
  address: string;
  /** CIDR prefix length; `undefined` = this single address. */
  prefix: number | undefined;
  family: 'ipv4' | 'ipv6';
}

/**
 * Parses a trusted proxy: an IPv4 or IPv6 address, or a CIDR block (`10.0.0.0/8`, `fd00::/8`).
 * Throws RangeError naming the problem.
 * @example
 * parseProxySpec('10.0.0.0/8'); // { address: '10.0.0.0', prefix: 8, family: 'ipv4' }
 */
export function parseProxySpec(spec: string): ProxySpec {
  if (typeof spec !== 'string') throw new TypeError('a trusted proxy must be a string');
  const slash = spec.indexOf('/');
  const address = normalizeIp((slash < 0 ? spec : spec.slice(0, slash)).trim());
  const v = isIP(address);
  if (v === 0 || address.includes('%')) {
    throw new RangeError(`expected an IP address or CIDR block like 10.0.0.0/8, got ${JSON.stringify(spec)}`);
  }
  const family = v === 4 ? 'ipv4' : 'ipv6';
  if (slash < 0) return { address, prefix: undefined, family };
  const p = spec.slice(slash + 1).trim();
  const max = v === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
    throw new RangeError(`CIDR prefix of ${JSON.stringify(spec)} must be 0 to ${max}`);
  }
  return { address, prefix: Number(p), family };
}

/**
 * The set of trusted proxies, and the client address of a request that came through them.
 * @example
 * const proxies = new TrustedProxies(['127.0.0.1']);
 * proxies.clientIp('127.0.0.1', '203.0.113.7, 127.0.0.1'); // '203.0.113.7'
 */
export class TrustedProxies {
  readonly size: number;
  private readonly list = new BlockList();

  constructor(specs: readonly string[]) {
    for (const spec of specs) {
      const p = parseProxySpec(spec);
      if (p.prefix === undefined) this.list.addAddress(p.address, p.family);
      else this.list.addSubnet(p.address, p.prefix, p.family);
    }
    this.size = specs.length;
  }

  /** Whether `ip` (already normalized) is a trusted proxy. */
  has(ip: string): boolean {
    if (this.size === 0) return false;
    const v = isIP(ip);
    return v !== 0 && this.list.check(ip, v === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client address: the TCP peer, unless the peer is a trusted proxy; then the right-most
   * `X-Forwarded-For` entry that is not itself a trusted proxy. Entries left of it were written
   * by the client and are never believed. An unparsable entry stops the walk at the nearest
   * trusted hop, which is then the address used.
   */
  clientIp(peer: string, xff: string | string[] | undefined): string {
    const ip = normalizeIp(peer);
    if (xff === undefined || !this.has(ip)) return ip;
    const parts = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
    let current = ip;
    for (let i = parts.length - 1; i >= 0; i--) {
      const hop = parseForwardedHop(parts[i] as string);
      if (hop === undefined) {
        // An empty item (trailing comma, or an empty header) carries nothing; skip it.
        if ((parts[i] as string).trim() === '') continue;
        return current;
      }
      if (!this.has(hop)) return hop;
      current = hop;
    }
    return current;
  }
}

/** One `X-Forwarded-For` item: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`. */
function parseForwardedHop(item: string): string | undefined {
  let s = item.trim();
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return undefined;
    s = s.slice(1, end);
  } else if (s.indexOf(':') > 0 && s.indexOf(':') === s.lastIndexOf(':') && s.includes('.')) {
    s = s.slice(0, s.indexOf(':'));
  }
  const ip = normalizeIp(s);
  return isIP(ip) === 0 || ip.includes('%') ? undefined : ip;
}

/** Options of {@link HandshakeRateLimiter}. */
export interface HandshakeRateLimiterOptions {
  /** Tokens per second per IP; at least 1. */
  rate: number;
  /** Bucket size. Default `2 × rate`. */
  burst?: number;
  /** Most IPs tracked at once. Default {@link MAX_TRACKED_IPS}. */
  maxEntries?: number;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
}

/**
 * A token bucket per IP with bounded memory. The map is kept in least-recently-used order
 * (an entry is re-inserted on each use), so the idle sweep stops at the first entry still in use
 * and eviction takes the least recently seen IP.
 *
 * An entry idle for `burst / rate` seconds has a full bucket again, which is the same as no entry:
 * it is dropped. When the table is full anyway (more than `maxEntries` IPs active within that
 * window), the least recently seen IP is evicted: it starts again with a full bucket on its next
 * upgrade. That fails open for one IP rather than refusing every new one.
 * @example
 * const rl = new HandshakeRateLimiter({ rate: 50 });
 * if (!rl.take(ip)) rejectUpgrade(socket, 429);
 */
export class HandshakeRateLimiter {
  readonly rate: number;
  readonly burst: number;
  readonly maxEntries: number;
  /** IPs dropped because the table was full. */
  evictions = 0;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly idleMs: number;
  private readonly now: () => number;

  constructor(options: HandshakeRateLimiterOptions) {
    if (!Number.isFinite(options.rate) || options.rate <= 0) throw new RangeError('rate must be positive');
    this.rate = options.rate;
    this.burst = options.burst ?? 2 * options.rate;
    if (!(this.burst >= 1)) throw new RangeError('burst must be at least 1');
    this.maxEntries = options.maxEntries ?? MAX_TRACKED_IPS;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError('maxEntries must be a positive integer');
    }
    this.now = options.now ?? (() => performance.now());
    this.idleMs = (this.burst / this.rate) * 1000;
  }

  /** IPs tracked now. */
  get size(): number {
    return this.buckets.size;
  }

  /** Spends one token of `ip`'s bucket; false = over the rate (nothing spent). */
  take(ip: string): boolean {
    const t = this.now();
    let b = this.buckets.get(ip);
    if (b === undefined) {
      this.sweep(t);
      if (this.buckets.size >= this.maxEntries) {
        const oldest = this.buckets.keys().next().value as string;
        this.buckets.delete(oldest);
        this.evictions++;
      }
      b = new TokenBucket(this.rate, this.burst, t);
    } else this.buckets.delete(ip);
    this.buckets.set(ip, b);
    return b.take(t);
  }

  /** Drops the entries whose bucket has refilled; returns how many. */
  sweep(t = this.now()): number {
    let n = 0;
    for (const [ip, b] of this.buckets) {
      if (t - b.at < this.idleMs) break;
      this.buckets.delete(ip);
      n++;
    }
    return n;
  }
}

/**
 * Counts connections and decides whether an upgrade may proceed.
 * @example
 * const ticket = guard.admit(req, socket);
 * if (ticket) wss.handleUpgrade(req, socket, head, onConnection);
 */
export class UpgradeGuard {
  /** Client connections from admission until their socket closes. */
  connections = 0;
  /**
   * Unauthenticated connections per client IP. An entry goes when its count reaches 0; every
   * entry stands for at least one open socket. When it holds `maxTrackedIps` IPs, upgrades from
   * an IP not in it are refused (429 `per_ip`): unlike a rate bucket, a count cannot be dropped
   * without losing track of live sockets.
   */
  readonly pendingByIp = new Map<string, number>();
  draining = false;
  /**
   * Connections admitted by {@link gate} whose login the gateway is working on: until their
   * challenge is sent, or until they authenticate, fail or close.
   */
  loginsInProgress = 0;
  /** Most logins in progress; 0 = no bound. */
  readonly maxLoginsInProgress: number;
  /** The longest a slot is held while its client is silent (with a bound); 0 = no limit. */
  readonly loginSlotTimeoutMs: number;
  /**
   * Slots whose client the gateway waits for, in the order the waits began, with when each began
   * (`heldSince`; an entry is stale when its slot has spoken, ended or begun a later wait since).
   * Entries before `heldAt` are gone. At most one entry per wait within `loginSlotTimeoutMs`.
   */
  private held: (AdmissionSlot | undefined)[] = [];
  private heldSince: number[] = [];
  private heldAt = 0;
  private slotTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Accepted connections waiting for a login slot, FIFO (entries before `waitingAt` are gone). */
  private waiting: (AdmissionSlot | undefined)[] = [];
  private waitingAt = 0;
  private readonly slots = new WeakMap<object, AdmissionSlot>();
  /** Per-IP handshake buckets; undefined when `handshakeRate` is 0. */
  readonly rateLimiter: HandshakeRateLimiter | undefined;
  readonly proxies: TrustedProxies;
  private readonly origins: Set<string> | undefined;
  private readonly tickets = new WeakMap<object, UpgradeTicket>();
  private readonly opts: UpgradeGuardOptions;
  private readonly maxTrackedIps: number;

  constructor(options: UpgradeGuardOptions) {
    this.opts = options;
    this.origins = options.allowedOrigins.length > 0 ? new Set(options.allowedOrigins.map(normalizeOrigin)) : undefined;
    this.maxTrackedIps = options.maxTrackedIps ?? MAX_TRACKED_IPS;
    this.proxies = new TrustedProxies(options.trustedProxies);
    this.maxLoginsInProgress = options.maxLoginsInProgress ?? 0;
    if (!Number.isInteger(this.maxLoginsInProgress) || this.maxLoginsInProgress < 0) {
      throw new RangeError('maxLoginsInProgress must be a non-negative integer');
    }
    this.now = options.now ?? (() => performance.now());
    this.loginSlotTimeoutMs = options.loginSlotTimeoutMs ?? 1000;
    if (!Number.isInteger(this.loginSlotTimeoutMs) || this.loginSlotTimeoutMs < 0 || this.loginSlotTimeoutMs > 60_000) {
      throw new RangeError('loginSlotTimeoutMs must be an integer from 0 to 60000');
    }
    this.rateLimiter =
      options.handshakeRate > 0
        ? new HandshakeRateLimiter({
            rate: options.handshakeRate,
            maxEntries: this.maxTrackedIps,
            ...(options.now ? { now: options.now } : {}),
          })
        : undefined;
  }

  /** The client IP of `req`: its peer, or what a trusted proxy put in `X-Forwarded-For`. */
  clientIp(req: IncomingMessage): string {
    return this.proxies.clientIp(req.socket.remoteAddress ?? '', req.headers['x-forwarded-for']);
  }

  /**
   * The reason to refuse this request, or `undefined` to let it through. `selfCounted`: the
   * request's own socket is already in the per-IP count (own-server mode counts at TCP accept).
   * Spends a handshake token of `ip`, whatever the outcome: every attempt counts.
   */
  check(
    req: IncomingMessage,
    selfCounted = false,
    ip = this.clientIp(req),
  ): { status: number; reason: UpgradeRejectReason } | undefined {
    if (this.draining) return { status: 503, reason: 'draining' };
    // Before anything else, so a flood costs one Map lookup per request and never reaches ws or
    // the signature verifier.
    if (this.rateLimiter !== undefined && !this.rateLimiter.take(ip)) return { status: 429, reason: 'rate' };
    const origin = req.headers.origin;
    if (this.origins !== undefined && origin !== undefined && !this.origins.has(normalizeOrigin(origin))) {
      return { status: 403, reason: 'origin' };
    }
    if (this.connections >= this.opts.maxConnections) return { status: 503, reason: 'capacity' };
    const pending = this.pendingByIp.get(ip);
    if (pending === undefined && this.pendingByIp.size >= this.maxTrackedIps) return { status: 429, reason: 'per_ip' };
    if (selfCounted ? (pending ?? 0) > this.opts.maxPendingPerIp : (pending ?? 0) >= this.opts.maxPendingPerIp) {
      return { status: 429, reason: 'per_ip' };
    }
    return undefined;
  }

  /**
   * Counts a TCP connection of the gateway's own HTTP server from the moment it is accepted, so
   * that sockets still sending their upgrade request (half-upgraded) count against the per-IP
   * cap too (docs/CATALOGUE.md #8); `headersTimeout` bounds how long they can stay in that state.
   * Sockets from a trusted proxy are not counted here: their client is known only from the
   * headers, so they are counted at the upgrade under that client's address.
   */
  trackSocket(socket: Duplex & { remoteAddress?: string | undefined }): void {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    if (this.proxies.has(ip)) return;
    if (!this.pendingByIp.has(ip) && this.pendingByIp.size >= this.maxTrackedIps) return;
    const ticket: UpgradeTicket = { ip, pending: true, open: false, slot: this.slots.get(socket) };
    this.pendingByIp.set(ip, (this.pendingByIp.get(ip) ?? 0) + 1);
    this.tickets.set(socket, ticket);
    socket.once('close', () => this.release(ticket));
  }

  /**
   * `outer` (a TLS socket) wraps `inner`, a socket already tracked and gated: lookups by `outer`,
   * the socket the upgrade request arrives on, find the same ticket and login slot.
   */
  adopt(outer: Duplex, inner: Duplex): void {
    const ticket = this.tickets.get(inner);
    if (ticket !== undefined) this.tickets.set(outer, ticket);
    const slot = this.slots.get(inner);
    if (slot !== undefined) this.slots.set(outer, slot);
  }

  /** Accepted connections waiting for a login slot. */
  get loginsWaiting(): number {
    return this.waiting.length - this.waitingAt;
  }

  /**
   * Admission of logins (own-server mode): `start` (which hands the socket to the HTTP parser and
   * resumes reading it) runs now if fewer than `maxLoginsInProgress` connections are logging in,
   * else when a slot frees (a challenge sent, a login ended, a silent client's slot expired),
   * first come first served. A waiting socket was
   * accepted with reading paused: its upgrade request stays in the kernel's receive buffer and
   * costs no parsing, no WebSocket handshake, no session and no timer until it is admitted. (Node
   * has no way to stop accept(2) on a listening socket short of closing it, which would reset
   * every connection in its backlog.) With no bound, every socket starts at once but is counted.
   * Draining answers waiting sockets 503. Returns the slot (also attached to the socket's ticket).
   */
  gate(socket: Duplex, start: () => void): AdmissionSlot {
    const slot: AdmissionSlot = { held: false, silent: false, since: 0, done: false, start, socket };
    this.slots.set(socket, slot);
    const ticket = this.tickets.get(socket);
    if (ticket !== undefined) ticket.slot = slot;
    socket.once('close', () => this.endSlot(slot));
    if (this.draining) {
      slot.done = true;
      rejectUpgrade(socket, 503);
      return slot;
    }
    if (
      this.maxLoginsInProgress === 0 ||
      (this.loginsInProgress < this.maxLoginsInProgress && this.loginsWaiting === 0)
    ) {
      this.startSlot(slot);
    } else {
      this.waiting.push(slot);
    }
    return slot;
  }

  /** Answers every connection still waiting for a login slot with 503 (shutdown). */
  refuseWaiting(): void {
    if (this.slotTimer !== undefined) clearTimeout(this.slotTimer);
    this.slotTimer = undefined;
    this.held = [];
    this.heldSince = [];
    this.heldAt = 0;
    while (this.waitingAt < this.waiting.length) {
      const slot = this.waiting[this.waitingAt];
      this.waiting[this.waitingAt++] = undefined;
      if (slot === undefined || slot.done) continue;
      slot.done = true;
      slot.start = undefined;
      if (slot.socket !== undefined) rejectUpgrade(slot.socket, 503);
      slot.socket = undefined;
    }
    this.waiting = [];
    this.waitingAt = 0;
  }

  /**
   * The gateway's work on the connection's login is over for now (challenge sent, authenticated,
   * refused or closing): its slot goes to the next waiting socket. Idempotent.
   */
  releaseSlot(ticket: UpgradeTicket): void {
    this.endSlot(ticket.slot);
  }

  /**
   * The gateway now waits for the connection's client (the 101 went out, the `hello` is due):
   * the slot deadline runs again, from now.
   */
  awaitClient(ticket: UpgradeTicket): void {
    const slot = ticket.slot;
    if (slot?.held) this.waitForClient(slot);
  }

  /** The client sent its `hello`: the rest of the slot is the gateway's work, with no deadline. */
  clientSpoke(ticket: UpgradeTicket): void {
    if (ticket.slot !== undefined) ticket.slot.silent = false;
  }

  private startSlot(slot: AdmissionSlot): void {
    slot.held = true;
    this.loginsInProgress++;
    this.waitForClient(slot);
    const start = slot.start;
    slot.start = undefined;
    start?.();
  }

  /** Starts (or restarts) the slot's deadline, when there is a bound and a deadline. */
  private waitForClient(slot: AdmissionSlot): void {
    if (this.maxLoginsInProgress === 0 || this.loginSlotTimeoutMs === 0 || this.draining) return;
    slot.silent = true;
    slot.since = this.now();
    this.held.push(slot);
    this.heldSince.push(slot.since);
    this.armSlotTimer();
  }

  /** The slot ended (challenge sent, login ended, socket closed, or expired): the next waiting socket starts. */
  private endSlot(slot: AdmissionSlot | undefined): void {
    if (slot === undefined || slot.done) return;
    slot.done = true;
    slot.start = undefined;
    slot.socket = undefined;
    slot.silent = false;
    if (!slot.held) return;
    slot.held = false;
    this.loginsInProgress--;
    while (this.loginsWaiting > 0 && this.loginsInProgress < this.maxLoginsInProgress) {
      const next = this.waiting[this.waitingAt];
      this.waiting[this.waitingAt++] = undefined;
      if (next !== undefined && !next.done) this.startSlot(next);
    }
    if (this.waitingAt === this.waiting.length) {
      this.waiting = [];
      this.waitingAt = 0;
    } else if (this.waitingAt > 1024 && this.waitingAt * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitingAt);
      this.waitingAt = 0;
    }
  }

  /** Whether the deadline entry at `i` is the current wait of a slot still silent. */
  private live(i: number): boolean {
    const slot = this.held[i];
    return slot?.held === true && slot.silent && slot.since === this.heldSince[i];
  }

  /** Drops the deadline entries before `heldAt`, in place, once they are most of the list. */
  private compactHeld(): void {
    if (this.heldAt === this.held.length) {
      this.held = [];
      this.heldSince = [];
      this.heldAt = 0;
    } else if (this.heldAt > 1024 && this.heldAt * 2 > this.held.length) {
      this.held = this.held.slice(this.heldAt);
      this.heldSince = this.heldSince.slice(this.heldAt);
      this.heldAt = 0;
    }
  }

  /** One timer for every waiting-for-the-client slot: it fires at the oldest live deadline. */
  private armSlotTimer(): void {
    if (this.slotTimer !== undefined) return;
    while (this.heldAt < this.held.length && !this.live(this.heldAt)) this.held[this.heldAt++] = undefined;
    this.compactHeld();
    if (this.heldAt === this.held.length) return;
    const delay = Math.max(0, (this.heldSince[this.heldAt] as number) + this.loginSlotTimeoutMs - this.now());
    this.slotTimer = setTimeout(() => this.expireSlots(), delay);
    this.slotTimer.unref();
  }

  /** Frees the slots whose client has been silent for `loginSlotTimeoutMs`. */
  private expireSlots(): void {
    this.slotTimer = undefined;
    const now = this.now();
    while (this.heldAt < this.held.length) {
      const i = this.heldAt;
      if (this.live(i)) {
        if (now - (this.heldSince[i] as number) < this.loginSlotTimeoutMs) break;
        this.opts.stats.loginSlotsExpired++;
        const slot = this.held[i] as AdmissionSlot;
        this.held[this.heldAt++] = undefined;
        this.endSlot(slot);
        continue;
      }
      this.held[this.heldAt++] = undefined;
    }
    this.compactHeld();
    this.armSlotTimer();
  }

  /** Drops idle per-IP state (called from the gateway's periodic timer). */
  sweep(): void {
    this.rateLimiter?.sweep();
  }

  /**
   * Admits the request (counting it) or answers it with an HTTP error and returns `undefined`.
   * The counts are released when the socket closes, whether or not the handshake completes.
   */
  admit(req: IncomingMessage, socket: Duplex): UpgradeTicket | undefined {
    // Before ws owns the socket, an ECONNRESET must not become an unhandled 'error'.
    socket.on('error', noop);
    const tracked = this.tickets.get(socket);
    const ip = this.clientIp(req);
    const refusal = this.check(req, tracked?.pending === true, ip);
    if (refusal !== undefined) {
      this.opts.stats.upgradesRejected[refusal.reason]++;
      this.opts.logger.debug('upgrade refused', { status: refusal.status, reason: refusal.reason, ip });
      rejectUpgrade(socket, refusal.status, refusal.reason === 'rate' ? { 'Retry-After': '1' } : {});
      return undefined;
    }
    this.connections++;
    // The upgrade request is in: what follows (the pacer, the handshake) is the gateway's work.
    const slot = this.slots.get(socket);
    if (slot !== undefined) slot.silent = false;
    if (tracked?.pending) {
      tracked.open = true;
      return tracked;
    }
    const ticket: UpgradeTicket = { ip, pending: true, open: true, slot: this.slots.get(socket) };
    this.pendingByIp.set(ticket.ip, (this.pendingByIp.get(ticket.ip) ?? 0) + 1);
    socket.once('close', () => this.release(ticket));
    return ticket;
  }

  private release(ticket: UpgradeTicket): void {
    this.releasePending(ticket);
    if (ticket.open) {
      ticket.open = false;
      this.connections--;
    }
  }

  /** The connection authenticated (or ended): it no longer counts against the per-IP cap. */
  releasePending(ticket: UpgradeTicket): void {
    this.endSlot(ticket.slot);
    if (!ticket.pending) return;
    ticket.pending = false;
    const n = (this.pendingByIp.get(ticket.ip) ?? 1) - 1;
    if (n <= 0) this.pendingByIp.delete(ticket.ip);
    else this.pendingByIp.set(ticket.ip, n);
  }
}

function noop(): void {}

/** WebSocket upgrades completed per event-loop turn by default (see {@link UpgradePacer}). */
export const UPGRADES_PER_TURN = 16;

/** Completes one admitted upgrade (the WebSocket handshake and the session setup). */
export type CompleteUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, ticket: UpgradeTicket) => void;

/**
 * Paces admitted upgrades: a login storm delivers hundreds of upgrade requests in one poll phase;
 * completing them all in that turn (101 answer, session setup, and later their hello and eth_auth
 * in step) holds up every forwarded message behind them. At most `perTurn` complete per
 * event-loop turn; the rest wait, already admitted by the guard (so bounded by its connection
 * cap), for the next turns, first come first served. Bench, 5000-login storm: calm clients' p99
 * ≈ 70 → ≈ 33 ms with the verifier batch of 16, logins/s unchanged.
 * @example
 * const pacer = new UpgradePacer((req, socket, head, ticket) => wss.handleUpgrade(req, socket, head, onWs));
 * const ticket = guard.admit(req, socket);
 * if (ticket) pacer.submit(req, socket, head, ticket);
 */
export class UpgradePacer {
  readonly perTurn: number;
  private readonly complete: CompleteUpgrade;
  private thisTurn = 0;
  private scheduled = false;
  /** Waiting upgrades, FIFO (entries before `waitingAt` are done). */
  private waiting: [IncomingMessage, Duplex, Buffer, UpgradeTicket][] = [];
  private waitingAt = 0;

  constructor(complete: CompleteUpgrade, perTurn = UPGRADES_PER_TURN) {
    if (!Number.isInteger(perTurn) || perTurn < 1) throw new RangeError('perTurn must be a positive integer');
    this.complete = complete;
    this.perTurn = perTurn;
  }

  /** Upgrades waiting for a later turn. */
  get waitingCount(): number {
    return this.waiting.length - this.waitingAt;
  }

  /** Completes the upgrade in this turn if there is room, else queues it for the next turns. */
  submit(req: IncomingMessage, socket: Duplex, head: Buffer, ticket: UpgradeTicket): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.nextTurn);
    }
    if (this.waiting.length > 0 || this.thisTurn >= this.perTurn) {
      this.waiting.push([req, socket, head, ticket]);
      return;
    }
    this.thisTurn++;
    this.complete(req, socket, head, ticket);
  }

  private readonly nextTurn = (): void => {
    this.scheduled = false;
    this.thisTurn = 0;
    const waiting = this.waiting;
    while (this.waitingAt < waiting.length && this.thisTurn < this.perTurn) {
      const [req, socket, head, ticket] = waiting[this.waitingAt]!;
      waiting[this.waitingAt++] = undefined as never;
      this.thisTurn++;
      this.complete(req, socket, head, ticket);
    }
    if (this.waitingAt === this.waiting.length) {
      this.waiting = [];
      this.waitingAt = 0;
    }
    if (this.waiting.length > 0 || this.thisTurn > 0) {
      this.scheduled = true;
      setImmediate(this.nextTurn);
    }
  };
}

/**
 * The HTTP server the gateway creates in own-port mode: plain requests get 426, `headersTimeout`
 * bounds slow upgrade requests (Node checks it every `connectionsCheckingInterval`). With `tls`,
 * an HTTPS server (`wss://`) whose TLS handshakes are bounded by the same timeout.
 * @example
 * const server = createUpgradeServer(10_000);
 */
export function createUpgradeServer(headersTimeoutMs: number, tls?: TlsOptions): Server {
  const options: ServerOptions = {
    headersTimeout: headersTimeoutMs,
    requestTimeout: Math.max(headersTimeoutMs, 30_000),
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
    keepAliveTimeout: 5_000,
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const body = STATUS_CODES[426] ?? 'Upgrade Required';
    res.writeHead(426, {
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
    });
    res.end(body);
    req.resume();
  };
  if (tls === undefined) return createServer(options, onRequest);
  // A client that never finishes its TLS handshake holds a socket like a slow upgrade request.
  return createHttpsServer({ ...options, ...tls, handshakeTimeout: headersTimeoutMs }, onRequest) as unknown as Server;
}
