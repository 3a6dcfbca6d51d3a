/**
 * Upgrade hardening (CATALOGUE A): checks that run on the raw HTTP upgrade request, before ws
 * does any WebSocket work — Origin allowlist (403), drain (503), global connection cap (503) and a
 * per-IP cap on connections that have not authenticated yet (429).
 */
import { createServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from './logger.js';
import type { GatewayStats, UpgradeRejectReason } from './stats.js';

/** Options of {@link UpgradeGuard}. */
export interface UpgradeGuardOptions {
  /** Accepted `Origin` values; empty = any. Requests without `Origin` are always accepted. */
  allowedOrigins: readonly string[];
  maxConnections: number;
  maxPendingPerIp: number;
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
export function rejectUpgrade(socket: Duplex, status: number): void {
  if (socket.destroyed) return;
  const body = STATUS_CODES[status] ?? 'Error';
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${body}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
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
  /** Unauthenticated connections per remote address. */
  readonly pendingByIp = new Map<string, number>();
  draining = false;
  private readonly origins: Set<string> | undefined;
  private readonly tickets = new WeakMap<object, UpgradeTicket>();
  private readonly opts: UpgradeGuardOptions;

  constructor(options: UpgradeGuardOptions) {
    this.opts = options;
    this.origins = options.allowedOrigins.length > 0 ? new Set(options.allowedOrigins.map(normalizeOrigin)) : undefined;
  }

  /**
   * The reason to refuse this request, or `undefined` to let it through. `selfCounted`: the
   * request's own socket is already in the per-IP count (own-server mode counts at TCP accept).
   */
  check(req: IncomingMessage, selfCounted = false): { status: number; reason: UpgradeRejectReason } | undefined {
    if (this.draining) return { status: 503, reason: 'draining' };
    const origin = req.headers.origin;
    if (this.origins !== undefined && origin !== undefined && !this.origins.has(normalizeOrigin(origin))) {
      return { status: 403, reason: 'origin' };
    }
    if (this.connections >= this.opts.maxConnections) return { status: 503, reason: 'capacity' };
    const pending = this.pendingByIp.get(req.socket.remoteAddress ?? '') ?? 0;
    if (selfCounted ? pending > this.opts.maxPendingPerIp : pending >= this.opts.maxPendingPerIp) {
      return { status: 429, reason: 'per_ip' };
    }
    return undefined;
  }

  /**
   * Counts a TCP connection of the gateway's own HTTP server from the moment it is accepted, so
   * that sockets still sending their upgrade request (half-upgraded) count against the per-IP
   * cap too (CATALOGUE #8); `headersTimeout` bounds how long they can stay in that state.
   */
  trackSocket(socket: Duplex & { remoteAddress?: string | undefined }): void {
    const ticket: UpgradeTicket = { ip: socket.remoteAddress ?? '', pending: true, open: false };
    this.pendingByIp.set(ticket.ip, (this.pendingByIp.get(ticket.ip) ?? 0) + 1);
    this.tickets.set(socket, ticket);
    socket.once('close', () => this.release(ticket));
  }

  /**
   * Admits the request (counting it) or answers it with an HTTP error and returns `undefined`.
   * The counts are released when the socket closes, whether or not the handshake completes.
   */
  admit(req: IncomingMessage, socket: Duplex): UpgradeTicket | undefined {
    // Before ws owns the socket, an ECONNRESET must not become an unhandled 'error'.
    socket.on('error', noop);
    const tracked = this.tickets.get(socket);
    const refusal = this.check(req, tracked?.pending === true);
    if (refusal !== undefined) {
      this.opts.stats.upgradesRejected[refusal.reason]++;
      this.opts.logger.debug('upgrade refused', { status: refusal.status, reason: refusal.reason });
      rejectUpgrade(socket, refusal.status);
      return undefined;
    }
    this.connections++;
    if (tracked?.pending) {
      tracked.open = true;
      return tracked;
    }
    const ticket: UpgradeTicket = { ip: req.socket.remoteAddress ?? '', pending: true, open: true };
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
    if (!ticket.pending) return;
    ticket.pending = false;
    const n = (this.pendingByIp.get(ticket.ip) ?? 1) - 1;
    if (n <= 0) this.pendingByIp.delete(ticket.ip);
    else this.pendingByIp.set(ticket.ip, n);
  }
}

function noop(): void {}

/**
 * The HTTP server the gateway creates in own-port mode: plain requests get 426, `headersTimeout`
 * bounds slow upgrade requests (Node checks it every `connectionsCheckingInterval`).
 * @example
 * const server = createUpgradeServer(10_000);
 */
export function createUpgradeServer(headersTimeoutMs: number): Server {
  const server = createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: Math.max(headersTimeoutMs, 30_000),
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
      keepAliveTimeout: 5_000,
    },
    (req, res) => {
      const body = STATUS_CODES[426] ?? 'Upgrade Required';
      res.writeHead(426, {
        'Content-Type': 'text/plain',
        'Content-Length': Buffer.byteLength(body),
        Connection: 'close',
      });
      res.end(body);
      req.resume();
    },
  );
  return server;
}
