import { createHash, timingSafeEqual } from 'node:crypto';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  DegasError,
  decodeGatewayInternalMessage,
  ErrorCode,
  type ErrorCodeName,
  encodeDegasToClient,
  encodeDegasToClients,
  errorCodeName,
  idEquals,
  idFromHex,
  idKey,
  idToHex,
  isIdHex,
  Limits,
  toId,
} from '@degas/proto';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { TypedEmitter } from './events.js';

/**
 * Options of {@link DegasServer}. Exactly one of `port`, `server` and `noServer` is required.
 * Durations are in milliseconds, sizes in bytes.
 * @example
 * const options: DegasServerOptions = { degasId: '0x00112233445566778899aabbccddeeff', token: process.env.DEGAS_TOKEN, port: 7000 };
 */
export interface DegasServerOptions {
  /** This Degas's id: 16 bytes, or `0x` + 32 hex digits. The gateway's `Degas-Id` header must equal it (else HTTP 403). */
  degasId: Uint8Array | string;
  /**
   * Bearer token the gateway must present in `Authorization: Bearer <token>` (else HTTP 401).
   * Without one, any gateway that knows the id may connect: set one in production.
   */
  token?: string;
  /** Listen on this port (0 = any free port; see {@link DegasServer.address}). Call {@link DegasServer.listen}. */
  port?: number;
  /** Listen address with `port`. Default: all interfaces (Node's default). */
  host?: string;
  /** Attach to this existing HTTP(S) server's `upgrade` event instead of listening. */
  server?: HttpServer | HttpsServer;
  /** Listen nowhere; pass upgrades to {@link DegasServer.handleUpgrade} yourself. */
  noServer?: boolean;
  /** Accept upgrades only for this URL path (e.g. `"/degas"`). Default: any path. */
  path?: string;
  /** Largest WebSocket message accepted from a gateway. Default 131072 (128 KiB); at least 66560. */
  maxPayload?: number;
  /**
   * Bytes that may wait in one gateway connection's send buffer; a frame for a connection over
   * this is dropped and the send call returns `false`. Default 8388608 (8 MiB).
   */
  sendBufferLimit?: number;
  /** Ping interval; a gateway that has not answered the previous ping is terminated. 0 = off. Default 30000. */
  pingIntervalMs?: number;
  /** How long {@link DegasServer.close} waits for a gateway to complete the close handshake. Default 5000. */
  closeTimeoutMs?: number;
  /**
   * Where a message for an account with no known route goes (see {@link DegasServer.send}).
   * `false` (default): to one gateway connection, the oldest, which in a cluster delivers to the
   * account wherever it is connected. `true`: to every connected gateway, for independent
   * (unclustered) gateway nodes; in a cluster this would deliver duplicates.
   */
  broadcastUnrouted?: boolean;
}

/**
 * One internal connection from a gateway node. Several may be open at once (one per gateway
 * node; more during a gateway's restart).
 * @example
 * degas.on('gatewayConnected', (gw) => console.log(`gateway #${gw.id} from ${gw.remoteAddress}`));
 */
export class GatewayConnection {
  /** Sequence number of this connection within its {@link DegasServer}, from 1. */
  readonly id: number;
  /** The peer's IP address, when known. */
  readonly remoteAddress: string | undefined;
  /** When the upgrade completed. */
  readonly connectedAt: Date;
  readonly #ws: WebSocket;

  /** @internal Created by {@link DegasServer} only. */
  constructor(id: number, remoteAddress: string | undefined, ws: WebSocket) {
    this.id = id;
    this.remoteAddress = remoteAddress;
    this.connectedAt = new Date();
    this.#ws = ws;
  }

  /** Whether the connection is open (messages can be sent on it). */
  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Bytes queued on this connection and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /**
   * Starts the closing handshake. The gateway dials again on the next message a client sends.
   * @example
   * for (const gw of degas.gateways) gw.close(1001, 'maintenance');
   */
  close(code = 1000, reason = ''): void {
    this.#ws.close(code, reason);
  }
}

/**
 * `message`: a client's message, forwarded by a gateway.
 * @example
 * degas.on('message', (m: DegasMessageEvent) => degas.send(m.accountId, m.payload));
 */
export interface DegasMessageEvent {
  /** The authenticated sender (16 bytes). */
  accountId: Uint8Array;
  /** `accountId` as `0x` + 32 lowercase hex digits. */
  accountIdHex: string;
  /** The client's payload (a view; copy it if you keep it past the listener and mutate the original). */
  payload: Uint8Array;
  /** The sender's session (PROTOCOL.md 5.3); changes when the account reconnects. */
  sessionId: bigint;
  /**
   * On the first message of a resumed session to this Degas (PROTOCOL.md 4.5): the id of the
   * session it continues, so the game can keep the player's seat across a drop. `0n` otherwise
   * (a new login, or any later message).
   * @example
   * degas.on('message', (m) => { if (m.resumedFrom !== 0n) seats.move(m.resumedFrom, m.sessionId); });
   */
  resumedFrom: bigint;
  /** The gateway connection it arrived on; replies to this account go there. */
  gateway: GatewayConnection;
}

/**
 * `sessionClosed`: a client session ended.
 * @example
 * degas.on('sessionClosed', (e: SessionClosedEvent) => { if (!e.stale) players.delete(e.accountIdHex); });
 */
export interface SessionClosedEvent {
  accountId: Uint8Array;
  accountIdHex: string;
  /** The session that ended. */
  sessionId: bigint;
  /**
   * `true` when this is not the session of the last message seen from the account (an old
   * session's notice that arrived after the new session's messages, or an account never seen):
   * the account is still present. Only `stale: false` ends presence.
   */
  stale: boolean;
  /**
   * `"notice"`: the gateway sent `session_closed`. `"gatewayDisconnected"`: the gateway
   * connection the account's messages came over closed, so its notice could never arrive; the
   * account counts as gone until its next message.
   */
  reason: 'notice' | 'gatewayDisconnected';
  gateway: GatewayConnection;
}

/**
 * `clientError` / `gatewayError`: an `error` frame from a gateway.
 * `clientError` is CLIENT_ERROR (a message for an account that is not connected was dropped);
 * `gatewayError` is any other code (e.g. PROTOCOL_ERROR, PAYLOAD_TOO_LARGE).
 * @example
 * degas.on('clientError', (e: GatewayErrorEvent) => players.delete(e.accountIdHex ?? ''));
 */
export interface GatewayErrorEvent {
  /** Numeric {@link ErrorCode}. */
  code: number;
  /** Its name (e.g. `"CLIENT_ERROR"`), or `"UNKNOWN"` for a code this version does not know. */
  codeName: ErrorCodeName | 'UNKNOWN';
  /** The account concerned, when the gateway named one. */
  accountId?: Uint8Array;
  accountIdHex?: string;
  /** Short human-readable reason from the gateway (may be empty). */
  detail: string;
  gateway: GatewayConnection;
}

/**
 * `gatewayDisconnected`: an internal connection closed.
 * @example
 * degas.on('gatewayDisconnected', (e: GatewayDisconnectedEvent) => console.log(e.code, e.reason));
 */
export interface GatewayDisconnectedEvent {
  gateway: GatewayConnection;
  /** WebSocket close code (1006 when the connection dropped without a close frame). */
  code: number;
  reason: string;
  /**
   * How many accounts were routed through this connection and are no longer present: one
   * `sessionClosed` event with `reason: 'gatewayDisconnected'` follows for each (PROTOCOL.md 8,
   * node loss). Already removed when this event is emitted.
   */
  sessionsEnded: number;
}

/**
 * `upgradeRejected`: an upgrade was refused before it completed.
 * 401 = missing or wrong token, 403 = `Degas-Id` missing or not this Degas, 404 = wrong path,
 * 503 = the server is closing.
 * @example
 * degas.on('upgradeRejected', (e: UpgradeRejectedEvent) => console.warn(e.status, e.reason, e.remoteAddress));
 */
export interface UpgradeRejectedEvent {
  status: 401 | 403 | 404 | 503;
  reason: string;
  remoteAddress: string | undefined;
}

/**
 * Events of {@link DegasServer}; each listener gets one argument.
 * @example
 * const onMessage = (e: DegasServerEvents['message']) => {};
 */
export interface DegasServerEvents {
  message: DegasMessageEvent;
  sessionClosed: SessionClosedEvent;
  clientError: GatewayErrorEvent;
  gatewayError: GatewayErrorEvent;
  gatewayConnected: GatewayConnection;
  gatewayDisconnected: GatewayDisconnectedEvent;
  upgradeRejected: UpgradeRejectedEvent;
  /** A bad frame from a gateway (DecodeError, or DegasError `PROTOCOL_ERROR`) or a socket error. Never thrown. */
  error: Error;
}

interface Route {
  sessionId: bigint;
  gateway: GatewayConnection;
}

interface LinkState {
  ws: WebSocket;
  alive: boolean;
}

const DEFAULT_MAX_PAYLOAD = Limits.MAX_INTERNAL_FRAME;
const MIN_MAX_PAYLOAD = Limits.MAX_FRAME;
const DEFAULT_SEND_BUFFER = 8 * 1024 * 1024;
const DEFAULT_PING_MS = 30_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
const alloc = (size: number): Uint8Array => Buffer.allocUnsafe(size);

/**
 * The server side of a Degas: accepts the gateway's internal connections, checks their
 * `Authorization` and `Degas-Id` headers before the upgrade completes, delivers client messages
 * and sends messages to clients.
 *
 * Presence (PROTOCOL.md 5.3): the server remembers, per account, the session of the last message
 * seen and the gateway connection it came over. A `session_closed` notice for that session ends
 * the account's presence; a notice for any other session is stale and only reported.
 *
 * @example
 * import { DegasServer } from '@degas/degas-sdk';
 *
 * const degas = new DegasServer({ degasId: process.env.DEGAS_ID!, token: process.env.DEGAS_TOKEN, port: 7000 });
 * degas.on('message', ({ accountId, payload }) => degas.send(accountId, payload)); // echo
 * degas.on('sessionClosed', ({ accountIdHex, stale }) => { if (!stale) console.log(`${accountIdHex} left`); });
 * await degas.listen();
 */
export class DegasServer extends TypedEmitter<DegasServerEvents> {
  /** This Degas's id (16 bytes). */
  readonly degasId: Uint8Array;
  /** This Degas's id as `0x` + 32 lowercase hex digits. */
  readonly degasIdHex: string;

  readonly #tokenDigest: Uint8Array | undefined;
  readonly #path: string | undefined;
  readonly #port: number | undefined;
  readonly #host: string | undefined;
  readonly #externalServer: HttpServer | HttpsServer | undefined;
  readonly #ownServer: HttpServer | undefined;
  readonly #sendBufferLimit: number;
  readonly #pingIntervalMs: number;
  readonly #closeTimeoutMs: number;
  readonly #broadcastUnrouted: boolean;
  readonly #wss: WebSocketServer;
  readonly #links = new Map<GatewayConnection, LinkState>();
  readonly #routes = new Map<string, Route>();
  readonly #onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  #nextId = 1;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #listening: Promise<AddressInfo> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Validates `options` (TypeError/RangeError) and prepares the server. With `port`, nothing
   * listens until {@link listen}; with `server`, upgrades are handled from now on.
   * @example
   * const degas = new DegasServer({ degasId, token, port: 0 });
   * const { port } = await degas.listen();
   */
  constructor(options: DegasServerOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const o = options;
    this.degasId = checkDegasId(o.degasId);
    this.degasIdHex = idToHex(this.degasId);
    if (o.token !== undefined) {
      if (typeof o.token !== 'string' || o.token === '')
        throw new TypeError('options.token must be a non-empty string');
      if (!/^[\x21-\x7e]+$/.test(o.token)) {
        throw new TypeError('options.token must be printable ASCII without spaces (it travels in an HTTP header)');
      }
      this.#tokenDigest = sha256(o.token);
    }
    const modes = [o.port !== undefined, o.server !== undefined, o.noServer === true].filter(Boolean).length;
    if (modes !== 1)
      throw new TypeError('exactly one of options.port, options.server and options.noServer is required');
    if (o.noServer !== undefined && typeof o.noServer !== 'boolean')
      throw new TypeError('options.noServer must be a boolean');
    if (o.port !== undefined) {
      if (!Number.isInteger(o.port)) throw new TypeError('options.port must be an integer');
      if (o.port < 0 || o.port > 65535) throw new RangeError('options.port must be in [0, 65535]');
      this.#port = o.port;
    }
    if (o.host !== undefined) {
      if (typeof o.host !== 'string' || o.host === '') throw new TypeError('options.host must be a non-empty string');
      if (o.port === undefined) throw new TypeError('options.host only applies with options.port');
      this.#host = o.host;
    }
    if (o.server !== undefined) {
      if (typeof o.server !== 'object' || o.server === null || typeof o.server.on !== 'function') {
        throw new TypeError('options.server must be an http.Server or https.Server');
      }
      this.#externalServer = o.server;
    }
    if (o.path !== undefined) {
      if (typeof o.path !== 'string' || !o.path.startsWith('/'))
        throw new TypeError('options.path must start with "/"');
      this.#path = o.path;
    }
    const maxPayload = intOption(o.maxPayload, 'maxPayload', DEFAULT_MAX_PAYLOAD, MIN_MAX_PAYLOAD);
    this.#sendBufferLimit = intOption(o.sendBufferLimit, 'sendBufferLimit', DEFAULT_SEND_BUFFER, 1);
    this.#pingIntervalMs = intOption(o.pingIntervalMs, 'pingIntervalMs', DEFAULT_PING_MS, 0);
    this.#closeTimeoutMs = intOption(o.closeTimeoutMs, 'closeTimeoutMs', DEFAULT_CLOSE_TIMEOUT_MS, 0);
    if (o.broadcastUnrouted !== undefined && typeof o.broadcastUnrouted !== 'boolean') {
      throw new TypeError('options.broadcastUnrouted must be a boolean');
    }
    this.#broadcastUnrouted = o.broadcastUnrouted ?? false;

    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      // Gateways send binary frames only; there is nothing to gain from subprotocols.
      handleProtocols: () => false,
    });
    this.#onUpgrade = (req, socket, head) => this.#upgrade(req, socket, head, true);
    if (this.#externalServer) {
      this.#externalServer.on('upgrade', this.#onUpgrade);
    } else if (this.#port !== undefined) {
      this.#ownServer = createServer((_req, res) => {
        res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' });
        res.end('This is a Degas internal WebSocket endpoint.\n');
      });
      this.#ownServer.on('upgrade', this.#onUpgrade);
    }
  }

  /** The open gateway connections, oldest first. */
  get gateways(): GatewayConnection[] {
    return [...this.#links.keys()];
  }

  /**
   * Starts listening (with `port`) and resolves with the bound address. With `server` or
   * `noServer` it resolves with {@link address} (or a zero address) at once: the HTTP server is
   * yours to start. Calling it again returns the same promise.
   * @example
   * const { port } = await new DegasServer({ degasId, port: 0 }).listen();
   */
  listen(): Promise<AddressInfo> {
    if (this.#closing) return Promise.reject(new DegasError('CLOSED', 'the Degas server is closed'));
    if (this.#listening) return this.#listening;
    const server = this.#ownServer;
    if (!server) {
      this.#listening = Promise.resolve(this.address() ?? { address: '', family: '', port: 0 });
      return this.#listening;
    }
    this.#listening = new Promise<AddressInfo>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      const opts: { port: number; host?: string } = { port: this.#port ?? 0 };
      if (this.#host !== undefined) opts.host = this.#host;
      server.listen(opts, () => {
        server.off('error', onError);
        server.on('error', (err) => this.#emitError(err));
        resolve(server.address() as AddressInfo);
      });
    });
    return this.#listening;
  }

  /**
   * The bound address: of the own server with `port` (once listening), of the given `server`,
   * `null` with `noServer` or before listening.
   * @example
   * console.log(`Degas listening on ${degas.address()?.port}`);
   */
  address(): AddressInfo | null {
    const server = this.#ownServer ?? this.#externalServer;
    const address = server?.address();
    return address && typeof address === 'object' ? address : null;
  }

  /**
   * Handles an HTTP upgrade (for `noServer`; with `port` and `server` it is called for you).
   * Refuses with 401/403/404/503 before the upgrade completes, as described in
   * {@link UpgradeRejectedEvent}.
   * @example
   * const degas = new DegasServer({ degasId, token, noServer: true });
   * httpServer.on('upgrade', (req, socket, head) => {
   *   if (req.url === '/degas') degas.handleUpgrade(req, socket, head);
   * });
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#upgrade(req, socket, head, false);
  }

  /**
   * Whether `accountId` is present: a message of it was seen, and neither a `session_closed`
   * notice for that message's session nor the close of the gateway connection it came over has
   * been seen since.
   * @example
   * if (!degas.isPresent(accountId)) return;
   */
  isPresent(accountId: Uint8Array | string): boolean {
    return this.#routes.has(idKey(toId(accountId)));
  }

  /**
   * The session id of the last message seen from `accountId` while it is present, else `undefined`.
   * @example
   * const session = degas.sessionOf(accountId);
   */
  sessionOf(accountId: Uint8Array | string): bigint | undefined {
    return this.#routes.get(idKey(toId(accountId)))?.sessionId;
  }

  /** Number of present accounts (see {@link isPresent}). */
  get presentCount(): number {
    return this.#routes.size;
  }

  /**
   * Sends `payload` to one account (`degas_to_client`). It goes to the gateway connection the
   * account's last message came over, so in a cluster the common case never crosses the bus; for
   * an account with no known route, or whose connection is closing, see
   * {@link DegasServerOptions.broadcastUnrouted}. Delivery is at most once: if the account is not
   * connected, the gateway answers with a `clientError` event.
   *
   * @returns `false` when nothing was written (no gateway connected, or every candidate
   *   connection is over `sendBufferLimit`).
   * @throws InvalidIdError for an id that is not 16 bytes (or 0x + 32 hex), TypeError for a
   *   payload that is not a Uint8Array, RangeError for a payload over 65536 bytes.
   * @example
   * degas.send(accountId, new TextEncoder().encode('welcome'));
   */
  send(accountId: Uint8Array | string, payload: Uint8Array): boolean {
    const id = toId(accountId);
    checkPayload(payload);
    const frame = encodeDegasToClient(id, payload, alloc);
    const route = this.#routes.get(idKey(id));
    return this.#write(route?.gateway.open ? [route.gateway] : this.#fallback(), frame);
  }

  /**
   * Sends one `payload` to many accounts (`degas_to_clients`): ids are de-duplicated, grouped by
   * the gateway connection each account's last message came over (unrouted ones as in
   * {@link send}), and sent in frames of at most 1024 ids. Every id and the payload are checked
   * before anything is sent.
   *
   * @returns `false` when some frame could not be written to any connection.
   * @throws as {@link send}; TypeError when `accountIds` is not an array.
   * @example
   * degas.sendMany(players.map((p) => p.accountId), encodeBoard(board));
   */
  sendMany(accountIds: readonly (Uint8Array | string)[], payload: Uint8Array): boolean {
    if (!Array.isArray(accountIds)) throw new TypeError('accountIds must be an array');
    checkPayload(payload);
    const groups = new Map<GatewayConnection | undefined, Uint8Array[]>();
    const seen = new Set<string>();
    for (let i = 0; i < accountIds.length; i++) {
      let id: Uint8Array;
      try {
        id = toId(accountIds[i] as Uint8Array | string);
      } catch (err) {
        if (err instanceof DegasError) err.message = `accountIds[${i}]: ${err.message}`;
        throw err;
      }
      const key = idKey(id);
      if (seen.has(key)) continue;
      seen.add(key);
      const routed = this.#routes.get(key)?.gateway;
      const gateway = routed?.open ? routed : undefined;
      const group = groups.get(gateway);
      if (group) group.push(id);
      else groups.set(gateway, [id]);
    }
    let ok = true;
    for (const [gateway, ids] of groups) {
      const targets = gateway ? [gateway] : this.#fallback();
      for (let start = 0; start < ids.length; start += Limits.MAX_MULTICAST_IDS) {
        const chunk = ids.slice(start, start + Limits.MAX_MULTICAST_IDS);
        if (!this.#write(targets, encodeDegasToClients(chunk, payload, alloc))) ok = false;
      }
    }
    return ok;
  }

  /**
   * Stops accepting upgrades, closes every gateway connection with 1001 (terminating those that
   * do not complete the handshake within `closeTimeoutMs`), and closes the own HTTP server.
   * An HTTP server passed as `server` is left running (only the upgrade listener is removed).
   * Idempotent.
   * @example
   * process.on('SIGTERM', () => degas.close().then(() => process.exit(0)));
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#externalServer?.off('upgrade', this.#onUpgrade);
    this.#stopHeartbeat();
    const waits: Promise<void>[] = [];
    for (const { ws } of this.#links.values()) {
      waits.push(
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => ws.terminate(), this.#closeTimeoutMs);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.close(1001, 'Degas shutting down');
        }),
      );
    }
    await Promise.all(waits);
    this.#wss.close();
    const server = this.#ownServer;
    if (server?.listening) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  #fallback(): GatewayConnection[] {
    if (this.#broadcastUnrouted) return [...this.#links.keys()];
    for (const gateway of this.#links.keys()) if (gateway.open) return [gateway];
    return [];
  }

  #write(targets: GatewayConnection[], frame: Uint8Array): boolean {
    let written = false;
    for (const gateway of targets) {
      const link = this.#links.get(gateway);
      if (!link || link.ws.readyState !== WebSocket.OPEN) continue;
      // At most once, like the gateway: a gateway that cannot keep up loses frames rather than
      // letting this process buffer without bound.
      if (link.ws.bufferedAmount > this.#sendBufferLimit) continue;
      link.ws.send(frame, { binary: true });
      written = true;
    }
    return written;
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, attached: boolean): void {
    const remoteAddress = req.socket.remoteAddress;
    if (this.#path !== undefined && pathname(req.url) !== this.#path) {
      // Leave the request to another upgrade listener of a shared server, if there is one.
      if (attached && this.#externalServer && this.#externalServer.listenerCount('upgrade') > 1) return;
      this.#reject(socket, 404, 'wrong path', remoteAddress);
      return;
    }
    if (this.#closing) {
      this.#reject(socket, 503, 'the Degas server is closing', remoteAddress);
      return;
    }
    if (this.#tokenDigest) {
      const token = bearerToken(req.headers.authorization);
      if (token === undefined || !timingSafeEqual(sha256(token), this.#tokenDigest)) {
        this.#reject(socket, 401, token === undefined ? 'missing bearer token' : 'wrong token', remoteAddress);
        return;
      }
    }
    const degasIdHeader = req.headers['degas-id'];
    if (typeof degasIdHeader !== 'string' || !isIdHex(degasIdHeader.trim())) {
      this.#reject(socket, 403, 'missing or malformed Degas-Id header', remoteAddress);
      return;
    }
    if (!idEquals(idFromHex(degasIdHeader.trim()), this.degasId)) {
      this.#reject(socket, 403, 'Degas-Id is not this Degas', remoteAddress);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, remoteAddress));
  }

  #reject(socket: Duplex, status: 401 | 403 | 404 | 503, reason: string, remoteAddress: string | undefined): void {
    const text = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[status];
    const body = `${reason}\n`;
    socket.on('error', () => socket.destroy());
    if (socket.writable) {
      socket.once('finish', () => socket.destroy());
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
          (status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '') +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    } else {
      socket.destroy();
    }
    this.#emit('upgradeRejected', { status, reason, remoteAddress });
  }

  #accept(ws: WebSocket, remoteAddress: string | undefined): void {
    const gateway = new GatewayConnection(this.#nextId++, remoteAddress, ws);
    const link: LinkState = { ws, alive: true };
    ws.on('error', (err) => this.#emitError(err));
    if (this.#closing) {
      ws.close(1001, 'Degas shutting down');
      return;
    }
    this.#links.set(gateway, link);
    ws.on('pong', () => {
      link.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      link.alive = true;
      this.#onFrame(gateway, ws, data, isBinary);
    });
    ws.on('close', (code, reason) => this.#onClose(gateway, code, reason.toString()));
    this.#startHeartbeat();
    this.#emit('gatewayConnected', gateway);
  }

  #onFrame(gateway: GatewayConnection, ws: WebSocket, data: RawData, isBinary: boolean): void {
    if (!isBinary) {
      this.#emitError(new DegasError('PROTOCOL_ERROR', `gateway #${gateway.id} sent a text frame; closing with 1003`));
      ws.close(1003, 'binary frames only');
      return;
    }
    const bytes = data as Buffer;
    let msg: ReturnType<typeof decodeGatewayInternalMessage>;
    try {
      msg = decodeGatewayInternalMessage(bytes);
    } catch (err) {
      this.#emitError(err as Error);
      return;
    }
    const p = msg.payload;
    if (p === undefined) return; // an extension this version does not know
    switch (p.$case) {
      case 'clientMessage': {
        const { accountId, payload, sessionId, resumedFrom } = p.value;
        if (accountId.length !== Limits.ID_LENGTH) {
          this.#emitError(
            new DegasError('PROTOCOL_ERROR', `gateway #${gateway.id} sent a client message without a valid account id`),
          );
          return;
        }
        const key = idKey(accountId);
        const route = this.#routes.get(key);
        if (route) {
          route.sessionId = sessionId;
          route.gateway = gateway;
        } else {
          this.#routes.set(key, { sessionId, gateway });
        }
        this.#emit('message', {
          accountId,
          accountIdHex: idToHex(accountId),
          payload,
          sessionId,
          resumedFrom,
          gateway,
        });
        return;
      }
      case 'sessionClosed': {
        const { accountId, sessionId } = p.value;
        if (accountId.length !== Limits.ID_LENGTH) {
          this.#emitError(
            new DegasError('PROTOCOL_ERROR', `gateway #${gateway.id} sent session_closed without a valid account id`),
          );
          return;
        }
        const key = idKey(accountId);
        const route = this.#routes.get(key);
        const stale = route === undefined || route.sessionId !== sessionId;
        if (!stale) this.#routes.delete(key);
        this.#emit('sessionClosed', {
          accountId,
          accountIdHex: idToHex(accountId),
          sessionId,
          stale,
          reason: 'notice',
          gateway,
        });
        return;
      }
      case 'error': {
        const { code, accountId, detail } = p.value;
        const event: GatewayErrorEvent = { code, codeName: errorCodeName(code) ?? 'UNKNOWN', detail, gateway };
        if (accountId.length === Limits.ID_LENGTH) {
          event.accountId = accountId;
          event.accountIdHex = idToHex(accountId);
        }
        this.#emit(code === ErrorCode.CLIENT_ERROR ? 'clientError' : 'gatewayError', event);
        return;
      }
    }
  }

  #onClose(gateway: GatewayConnection, code: number, reason: string): void {
    if (!this.#links.delete(gateway)) return;
    if (this.#links.size === 0) this.#stopHeartbeat();
    // A gateway node that is gone will never send the session_closed notices of the sessions
    // whose messages came over it (PROTOCOL.md 8, node loss): they end here. An account whose
    // latest message already came over another connection (it moved to another node) keeps its
    // presence.
    const ended: [string, Route][] = [];
    for (const entry of this.#routes) if (entry[1].gateway === gateway) ended.push(entry);
    for (const [key] of ended) this.#routes.delete(key);
    this.#emit('gatewayDisconnected', { gateway, code, reason, sessionsEnded: ended.length });
    for (const [key, route] of ended) {
      this.#emit('sessionClosed', {
        accountId: idFromHex(`0x${key}`),
        accountIdHex: `0x${key}`,
        sessionId: route.sessionId,
        stale: false,
        reason: 'gatewayDisconnected',
        gateway,
      });
    }
  }

  #startHeartbeat(): void {
    if (this.#heartbeat || this.#pingIntervalMs === 0) return;
    this.#heartbeat = setInterval(() => {
      for (const link of this.#links.values()) {
        if (!link.alive) {
          link.ws.terminate();
          continue;
        }
        link.alive = false;
        link.ws.ping();
      }
    }, this.#pingIntervalMs);
    this.#heartbeat.unref?.();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #emitError(err: Error): void {
    // An 'error' nobody listens to is dropped by #emit, not thrown as EventEmitter would: a bad
    // frame must never take the Degas process down.
    this.#emit('error', err);
  }

  /**
   * EventEmitter's `emit`, except that a listener's exception does not unwind into the socket
   * handler that emitted the event (leaving the bookkeeping half-updated) nor skip the other
   * listeners: it is re-thrown on a microtask, so it still surfaces as an uncaught error. An
   * event nobody listens to, `error` included, is dropped.
   */
  #emit<K extends keyof DegasServerEvents>(event: K, value: DegasServerEvents[K]): void {
    const count = this.listenerCount(event);
    if (count === 0) return;
    if (count === 1) {
      // The common case: EventEmitter calls a lone listener without copying the listener list.
      try {
        this.emit(event, value);
      } catch (err) {
        rethrowLater(err);
      }
      return;
    }
    for (const listener of this.rawListeners(event)) {
      try {
        listener.call(this, value);
      } catch (err) {
        rethrowLater(err);
      }
    }
  }
}

function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

function checkDegasId(value: unknown): Uint8Array {
  if (value instanceof Uint8Array && value.length === Limits.ID_LENGTH) return value.slice();
  if (isIdHex(value)) return idFromHex(value);
  throw new TypeError('options.degasId must be 16 bytes or "0x" followed by 32 hex digits');
}

function checkPayload(payload: unknown): void {
  if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
  if (payload.length > Limits.MAX_PAYLOAD) {
    throw new RangeError(`payload is ${payload.length} bytes; the limit is ${Limits.MAX_PAYLOAD}`);
  }
}

function intOption(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`options.${name} must be an integer`);
  if (value < min) throw new RangeError(`options.${name} must be at least ${min}`);
  return value;
}

function sha256(text: string): Uint8Array {
  return createHash('sha256').update(text, 'utf8').digest();
}

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

function pathname(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
