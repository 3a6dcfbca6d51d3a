/**
 * `startGateway`: wires the modules of ARCHITECTURE.md 2 together — upgrade guard and pacer, ws
 * server, client sessions, session registry, Degas links, verification pool and admin server. The
 * {@link Gateway} owns what belongs to none of them: the shared ping timer, the gauges, the admin
 * wiring and the shutdown sequence.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Server as TlsServer } from 'node:tls';
import { CloseCode, ErrorCode } from '@degas/proto';
import { WebSocketServer } from 'ws';
import { startAdminServer } from './admin.js';
import type { EthRpc } from './eth-rpc.js';
import { LinkPool } from './links.js';
import type { Logger } from './logger.js';
import { type ResolvedGatewayOptions, resolveGatewayOptions } from './options.js';
import { pooledRandomBytes } from './random-pool.js';
import { LocalRegistry, type SessionRegistry } from './registry.js';
import { resumePolicy } from './resume.js';
import { ClientSession, GOING_AWAY_FRAME, type SessionContext, type SessionSettings } from './session.js';
import { countClose, createStats, type GatewayStats } from './stats.js';
import { openTlsFiles, type TlsFiles } from './tls.js';
import type { AdminServer, GatewayOptions, GatewaySnapshot, MutableDegasDirectory } from './types.js';
import { createUpgradeServer, rejectUpgrade, UpgradeGuard, UpgradePacer, type UpgradeTicket } from './upgrade.js';
import { createVerifier, type Verifier, type VerifierKind } from './verifier.js';

/** A running gateway. */
export interface GatewayHandle {
  /** The client WebSocket port (0 in `server`/`noServer` mode when it cannot be known). */
  readonly port: number;
  /** The admin HTTP port, or undefined without an admin server. */
  readonly adminPort: number | undefined;
  /** The HTTP server the gateway listens on (its own, or the one passed as `server`); an `https.Server` with `tlsCert`. */
  readonly server: HttpServer | undefined;
  /** The certificate files in use with `tlsCert`/`tlsKey` (reload events, `reload()`), else undefined. */
  readonly tls: TlsFiles | undefined;
  /** Which signature verifier runs. */
  readonly verifier: VerifierKind;
  /** Whether ws masks/unmasks with the `bufferutil` addon ("bufferutil") or in JavaScript ("js"). */
  readonly masking: 'bufferutil' | 'js';
  /** Live counters (also rendered on /metrics). */
  readonly stats: GatewayStats;
  /** Passes an HTTP upgrade request to the gateway (for `noServer`, usable in every mode). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Gauges: connections by state, links, verifier. */
  snapshot(): GatewaySnapshot;
  /** Graceful shutdown (GOING_AWAY + 1001 to every client, notices, links, workers); idempotent. */
  close(): Promise<void>;
}

/** Whether ws found the `bufferutil` addon (it silently falls back to JS masking otherwise). */
function detectMasking(): 'bufferutil' | 'js' {
  if (process.env.WS_NO_BUFFER_UTIL) return 'js';
  try {
    const require = createRequire(import.meta.url);
    const fromWs = createRequire(require.resolve('ws'));
    fromWs('bufferutil');
    return 'bufferutil';
  } catch {
    return 'js';
  }
}

function isMutable(dir: GatewayOptions['degas']): dir is MutableDegasDirectory {
  return typeof (dir as Partial<MutableDegasDirectory>).register === 'function';
}

function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What a gateway runs on, opened before anything listens (each closed again if a later step fails). */
interface Services {
  o: ResolvedGatewayOptions;
  stats: GatewayStats;
  tlsFiles: TlsFiles | undefined;
  ethRpc: EthRpc | undefined;
  verifier: Verifier;
  registry: SessionRegistry;
  guard: UpgradeGuard;
  links: LinkPool;
}

/**
 * Opens the certificate files, the contract-wallet endpoints, the verification pool and the
 * session registry, in that order; a failure closes what was opened before it.
 */
async function openServices(options: GatewayOptions, o: ResolvedGatewayOptions): Promise<Services> {
  const log = o.logger;
  const stats = createStats();
  // First: a missing or mismatched certificate must fail the start before anything else runs.
  const tlsFiles =
    o.tlsCert === undefined || o.tlsKey === undefined
      ? undefined
      : await openTlsFiles({ certFile: o.tlsCert, keyFile: o.tlsKey, logger: log });
  // Contract-wallet logins: only with an endpoint (eth-rpc.ts loads viem).
  let ethRpc: EthRpc | undefined;
  if (o.ethRpc !== undefined && o.ethRpc.length > 0) {
    const { createEthRpc } = await import('./eth-rpc.js');
    ethRpc = await createEthRpc({
      endpoints: o.ethRpc,
      concurrency: o.ethRpcConcurrency,
      timeoutMs: o.ethRpcTimeoutMs,
      logger: log.child({ component: 'eth-rpc' }),
    });
  }
  const verifier = await createVerifier({
    kind: o.verifier,
    threads: o.verifierThreads,
    nice: o.verifierNice,
    message: o.authMessage,
    domainName: o.authDomain,
    wallets: ethRpc,
    stats,
    logger: log,
  }).catch((err: unknown) => {
    tlsFiles?.close();
    ethRpc?.close();
    throw err;
  });
  // A single node keeps the state of ended sessions for the resume window.
  const registry: SessionRegistry = options.registry ?? new LocalRegistry({ retainEndedMs: o.resumeWindowMs });
  const guard = new UpgradeGuard({
    allowedOrigins: o.allowedOrigins,
    maxConnections: o.maxConnections,
    maxPendingPerIp: o.maxPendingPerIp,
    handshakeRate: o.handshakeRate,
    trustedProxies: o.trustedProxies,
    maxLoginsInProgress: o.maxLoginsInProgress,
    loginSlotTimeoutMs: o.loginSlotTimeoutMs,
    stats,
    logger: log,
  });
  const links = new LinkPool({
    directory: options.degas,
    internalToken: o.internalToken,
    queueLimit: o.degasQueueLimit,
    maxInternalFrame: o.maxInternalFrame,
    dialTimeoutMs: o.dialTimeoutMs,
    closeTimeoutMs: o.closeTimeoutMs,
    stats,
    logger: log,
    registry,
  });
  try {
    await registry.start({
      logger: log,
      stats,
      clientError: (degasId, accountId) => links.find(degasId)?.clientError(accountId),
    });
  } catch (err) {
    await verifier.close();
    tlsFiles?.close();
    throw err;
  }
  return { o, stats, tlsFiles, ethRpc, verifier, registry, guard, links };
}

/** The settings every session shares (resume tickets included). */
function sessionSettings(s: Services): SessionSettings {
  const { o, registry } = s;
  const log = o.logger;
  const resume = resumePolicy(
    {
      keys: o.resumeKeys,
      windowMs: o.resumeWindowMs,
      maxAgeMs: o.resumeMaxAgeMs,
      cluster: registry.kind !== 'local',
      started: Date.now(),
      // One OpenSSL call per 4 KiB instead of one per ticket nonce (bench: ≈ 30 µs per reconnect).
      random: pooledRandomBytes,
    },
    (level, msg, fields) => log[level](msg, fields),
  );
  return {
    resume,
    helloTimeoutMs: o.helloTimeoutMs,
    authTimeoutMs: o.authTimeoutMs,
    rateLimit: o.rateLimit,
    rateLimitGraceMs: o.rateLimitGraceMs,
    sendBufferLimit: o.sendBufferLimit,
    authMessage: o.authMessage,
    authChainIds: o.authChainIds === undefined ? undefined : new Set(o.authChainIds),
  };
}

/** One running gateway: its connections, its listening server, the ping timer, admin and shutdown. */
class Gateway {
  readonly stats: GatewayStats;
  readonly masking = detectMasking();
  /** The client WebSocket port (0 when it cannot be known). */
  port = 0;
  server: HttpServer | undefined;
  admin: AdminServer | undefined;
  private readonly options: GatewayOptions;
  private readonly o: ResolvedGatewayOptions;
  private readonly log: Logger;
  /** What the gateway runs on (TLS files, Ethereum endpoints, verifier, registry, guard, links). */
  private readonly s: Services;
  private readonly connections = new Set<ClientSession>();
  private readonly ctx: SessionContext;
  private readonly wss: WebSocketServer;
  private readonly pacer: UpgradePacer;
  private ownServer = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private closeWaiters: (() => void)[] = [];
  private closing: Promise<void> | undefined;

  constructor(options: GatewayOptions, services: Services) {
    const { o, stats } = services;
    this.options = options;
    this.o = o;
    this.log = o.logger;
    this.stats = stats;
    this.s = services;
    this.ctx = {
      settings: sessionSettings(services),
      stats,
      logger: this.log,
      accounts: options.accounts,
      verifier: services.verifier,
      links: services.links,
      registry: services.registry,
      guard: services.guard,
      onClosed: (session) => this.onSessionClosed(session),
    };
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: o.maxFrame,
      perMessageDeflate: false,
      clientTracking: false,
      skipUTF8Validation: false,
      // ws 8.19–8.23 options that @types/ws 8.18 does not know yet.
      ...({
        closeTimeout: o.closeTimeoutMs,
        maxFragments: 1024,
        maxPendingAutoPongs: 60,
        autoPong: true,
      } as object),
    });
    this.wss.on('error', (err: Error) => this.log.error('websocket server error', { error: err.message }));
    // No 'wsClientError' listener: with one, ws leaves the HTTP answer (405/400 with the
    // Sec-WebSocket-Version header) to the listener and the socket would be held open (docs/CATALOGUE.md #2, #3).
    this.pacer = new UpgradePacer((req, socket, head, ticket) => this.completeUpgrade(req, socket, head, ticket));
  }

  // ---- connections ----------------------------------------------------------------------------

  /** Passes an upgrade request through the guard, then to the pacer (GatewayHandle.handleUpgrade). */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    try {
      const ticket = this.s.guard.admit(req, socket);
      if (ticket !== undefined) this.pacer.submit(req, socket, head, ticket);
    } catch (err) {
      this.upgradeFailed(socket, err);
    }
  };

  private completeUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ticket: UpgradeTicket): void {
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        try {
          if (this.s.guard.draining) {
            // PROTOCOL.md 6: 1001 always follows error{GOING_AWAY}, even for a connection that
            // completed its upgrade while the shutdown began.
            this.stats.errorsToClients[ErrorCode.GOING_AWAY]!++;
            ws.send(GOING_AWAY_FRAME);
            ws.close(CloseCode.GOING_AWAY);
            countClose(this.stats, CloseCode.GOING_AWAY);
            return;
          }
          this.stats.connectionsOpened++;
          this.connections.add(new ClientSession(this.ctx, ws, ticket));
        } catch (err) {
          this.log.error('unexpected error setting up a connection', { error: errorText(err) });
          ws.terminate();
        }
      });
    } catch (err) {
      this.upgradeFailed(socket, err);
    }
  }

  private upgradeFailed(socket: Duplex, err: unknown): void {
    this.log.error('unexpected error in upgrade', { error: errorText(err) });
    this.stats.upgradesRejected.bad_request++;
    rejectUpgrade(socket, 500);
  }

  private onSessionClosed(session: ClientSession): void {
    const connections = this.connections;
    if (connections.delete(session)) this.stats.connectionsClosed++;
    if (connections.size === 0 && this.closeWaiters.length > 0) {
      const waiters = this.closeWaiters;
      this.closeWaiters = [];
      for (const w of waiters) w();
    }
  }

  // ---- the listening server -------------------------------------------------------------------

  /** Own port (listening), an existing `server`, or nothing (`noServer`). */
  async listen(): Promise<void> {
    const o = this.o;
    if (o.noServer) return;
    let server: HttpServer;
    if (o.server !== undefined) server = o.server;
    else {
      server = createUpgradeServer(o.headersTimeoutMs, this.s.tlsFiles?.serverOptions());
      this.ownServer = true;
    }
    this.server = server;
    server.on('upgrade', this.handleUpgrade);
    if (this.ownServer) {
      this.gateConnections(server);
      if (this.s.tlsFiles !== undefined) this.linkTlsSockets(server as unknown as TlsServer, this.s.tlsFiles);
      await this.listenOwn(server);
    }
    const addr = server.address();
    if (addr !== null && typeof addr === 'object') this.port = (addr as AddressInfo).port;
  }

  /**
   * Admission of logins: the HTTP server's own 'connection' listener (its parser) runs only when
   * the guard admits the socket; until then the socket is accepted but not read. Without a bound
   * nothing waits, and sockets are not paused at all (pausing and resuming each one cost an extra
   * epoll_ctl per connection: bench login-cost).
   */
  private gateConnections(s: HttpServer): void {
    const guard = this.s.guard;
    const httpListeners = s.listeners('connection') as ((socket: Socket) => void)[];
    s.removeAllListeners('connection');
    const paused = this.o.maxLoginsInProgress > 0;
    (s as unknown as { pauseOnConnect: boolean }).pauseOnConnect = paused;
    s.on('connection', (socket: Socket) => {
      guard.trackSocket(socket);
      guard.gate(socket, () => {
        for (const l of httpListeners) l.call(s, socket);
        if (paused) socket.resume();
      });
    });
  }

  /**
   * The guard tracks and gates the TCP socket (so a waiting login costs no TLS handshake either);
   * the upgrade request arrives on the TLS socket made from it, which must find the same ticket
   * and login slot. Node does not link the two publicly; the peer address does.
   */
  private linkTlsSockets(tlsServer: TlsServer, tlsFiles: TlsFiles): void {
    const guard = this.s.guard;
    tlsFiles.attach(tlsServer);
    const tcpByPeer = new Map<string, Socket>();
    tlsServer.on('connection', (socket: Socket) => {
      const key = `${socket.remoteAddress}|${socket.remotePort}`;
      tcpByPeer.set(key, socket);
      socket.once('close', () => {
        if (tcpByPeer.get(key) === socket) tcpByPeer.delete(key);
      });
    });
    tlsServer.on('secureConnection', (tlsSocket) => {
      const key = `${tlsSocket.remoteAddress}|${tlsSocket.remotePort}`;
      const tcp = tcpByPeer.get(key);
      tcpByPeer.delete(key);
      if (tcp !== undefined) guard.adopt(tlsSocket, tcp);
    });
    tlsServer.on('tlsClientError', (_err, socket) => {
      // A plain ws:// client, a TLS version below 1.2, a client that rejects our certificate;
      // the TCP socket's close ends its login slot.
      this.stats.tlsHandshakeFailures++;
      socket.destroy();
    });
  }

  private async listenOwn(s: HttpServer): Promise<void> {
    const o = this.o;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      s.once('error', onError);
      // Node's default backlog (511) overflows in a login storm: the kernel drops the excess
      // handshakes and those clients retry only after 1 s, 3 s, 7 s (bench: 5000 logins took 10 s).
      // The kernel caps this at net.core.somaxconn.
      s.listen({ port: o.port, host: o.host, backlog: 8192 }, () => {
        s.off('error', onError);
        resolve();
      });
    }).catch(async (err: unknown) => {
      await Promise.allSettled([this.s.verifier.close(), this.s.registry.close()]);
      this.s.tlsFiles?.close();
      throw err;
    });
    s.on('error', (err: Error) => this.log.error('http server error', { error: err.message }));
  }

  // ---- the ping timer -------------------------------------------------------------------------

  /** One interval for every connection and link: cheaper than a timer per connection. */
  startPingTimer(): void {
    this.pingTimer = setInterval(() => this.pingTick(), this.o.pingIntervalMs);
    this.pingTimer.unref();
  }

  private pingTick(): void {
    for (const session of this.connections) session.heartbeat();
    this.s.links.pingAll();
    this.s.guard.sweep();
  }

  // ---- gauges and the admin server ------------------------------------------------------------

  /** Gauges: connections by state, links, verifier, registry, TLS and Ethereum endpoints. */
  snapshot(): GatewaySnapshot {
    const { verifier, guard, registry, tlsFiles, ethRpc } = this.s;
    // Every ForwardState session (and one waiting for its claim) holds its account in the registry.
    const forward = registry.localCount();
    return {
      connectionsAuth: this.connections.size - forward,
      connectionsForward: forward,
      links: this.s.links.snapshot(),
      verifier: verifier.kind,
      verifierThreads: verifier.threads,
      verifierNice: verifier.nice,
      loginsInProgress: guard.loginsInProgress,
      loginsWaiting: guard.loginsWaiting,
      verifierPending: verifier.pending(),
      draining: guard.draining,
      registry: registry.snapshot(),
      tls:
        tlsFiles === undefined
          ? undefined
          : { notAfter: tlsFiles.current.notAfter, reloads: tlsFiles.reloads, reloadFailures: tlsFiles.reloadFailures },
      ethRpc:
        ethRpc === undefined ? [] : ethRpc.status().map((st) => ({ ...st, stats: ethRpc.stats.get(st.chainId)! })),
    };
  }

  /** Ethereum endpoints' states for /readyz, one line each. */
  private ethRpcDetail(ethRpc: EthRpc): string[] {
    return ethRpc
      .status()
      .map(
        (st) =>
          `eth-rpc chain ${st.chainId} ${st.origin}: ${st.state}${st.state === 'up' || st.lastError === undefined ? '' : ` (${st.lastError})`}`,
      );
  }

  /** Starts the admin HTTP server (unless `adminPort: false`); a failure undoes the whole start. */
  async startAdmin(): Promise<void> {
    const { o, options } = this;
    const ethRpc = this.s.ethRpc;
    if (o.adminPort === false) return;
    try {
      this.admin = await startAdminServer({
        host: o.adminHost,
        port: o.adminPort,
        token: o.adminToken,
        tls: o.adminTls ? this.s.tlsFiles : undefined,
        stats: this.stats,
        snapshot: () => this.snapshot(),
        degas: isMutable(options.degas) ? options.degas : undefined,
        ready: () => !this.s.guard.draining && this.s.registry.ready(),
        readyDetail: ethRpc === undefined ? undefined : () => this.ethRpcDetail(ethRpc),
        logger: this.log,
      });
    } catch (err) {
      clearInterval(this.pingTimer);
      this.server?.off('upgrade', this.handleUpgrade);
      if (this.ownServer) this.server?.close();
      await Promise.allSettled([this.s.verifier.close(), this.s.registry.close()]);
      ethRpc?.close();
      this.s.tlsFiles?.close();
      throw err;
    }
  }

  logStarted(): void {
    const o = this.o;
    const verifier = this.s.verifier;
    this.log.info('gateway started', {
      port: this.port,
      admin_port: this.admin?.port,
      mode: o.noServer ? 'noServer' : this.ownServer ? 'port' : 'server',
      tls: this.s.tlsFiles !== undefined,
      admin_tls: o.adminTls,
      verifier: verifier.kind,
      verifier_threads: verifier.threads,
      verifier_nice: verifier.nice,
      max_logins_in_progress: o.maxLoginsInProgress,
      login_slot_timeout_ms: o.maxLoginsInProgress > 0 ? o.loginSlotTimeoutMs : undefined,
      masking: this.masking,
      eth_rpc_chains: o.ethRpc?.map((e) => e.chainId).join(',') || undefined,
    });
  }

  // ---- shutdown -------------------------------------------------------------------------------

  /** Graceful shutdown (idempotent): see {@link GatewayHandle.close}. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const o = this.o;
    const started = performance.now();
    const deadline = delay(o.shutdownTimeoutMs);
    this.s.guard.draining = true;
    this.s.guard.refuseWaiting();
    this.log.info('gateway shutting down', { connections: this.connections.size });
    const serverClosed = this.stopListening();
    clearInterval(this.pingTimer);
    await this.closeConnections(deadline.promise);
    // The session_closed notices are queued on the links by now; close them after the clients.
    await this.s.links.close(Math.max(100, o.shutdownTimeoutMs - (performance.now() - started)));
    await this.s.verifier.close();
    this.s.ethRpc?.close();
    this.s.tlsFiles?.close();
    await Promise.allSettled([
      this.s.registry.close(),
      Promise.resolve().then(() => this.options.accounts.close?.()),
      Promise.resolve().then(() => this.options.degas.close?.()),
      this.admin?.close(),
    ]);
    this.server?.off('upgrade', this.handleUpgrade);
    if (this.ownServer && this.server !== undefined) {
      this.server.closeAllConnections();
      await Promise.race([serverClosed, delay(100).promise]);
    }
    this.wss.close();
    deadline.cancel();
    this.log.info('gateway stopped');
  }

  /**
   * Stop accepting: the listening socket closes; upgrades still arriving on kept-alive connections
   * are answered 503 by the guard. Resolves when the server has closed.
   */
  private stopListening(): Promise<void> {
    const s = this.server;
    if (!this.ownServer || s === undefined) return Promise.resolve();
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    return closed;
  }

  /** GOING_AWAY + 1001 to every client; whoever has not closed by `deadline` is terminated. */
  private async closeConnections(deadline: Promise<void>): Promise<void> {
    const connections = this.connections;
    for (const session of connections) session.goingAway();
    if (connections.size === 0) return;
    const allClosed = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    await Promise.race([allClosed, deadline]);
    for (const session of [...connections]) session.terminate();
  }

  /** The public face of this gateway. */
  handle(): GatewayHandle {
    return {
      port: this.port,
      adminPort: this.admin?.port,
      server: this.server,
      tls: this.s.tlsFiles,
      verifier: this.s.verifier.kind,
      masking: this.masking,
      stats: this.stats,
      handleUpgrade: this.handleUpgrade,
      snapshot: () => this.snapshot(),
      close: () => this.close(),
    };
  }
}

/**
 * Starts a gateway: the client WebSocket endpoint (own port, an existing HTTP server, or
 * `noServer` + `handle.handleUpgrade`), the verification pool and, unless `adminPort: false`, the
 * admin HTTP server.
 * @example
 * const gw = await startGateway({
 *   port: 8080,
 *   accounts: await createFileAccountDirectory({ path: './accounts.json' }),
 *   degas: createStaticDegasDirectory([{ id: '0x00112233445566778899aabbccddeeff', url: 'ws://127.0.0.1:7000' }]),
 * });
 * process.on('SIGTERM', () => gw.close());
 */
export async function startGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const o = resolveGatewayOptions(options);
  const gateway = new Gateway(options, await openServices(options, o));
  await gateway.listen();
  gateway.startPingTimer();
  await gateway.startAdmin();
  gateway.logStarted();
  return gateway.handle();
}
