/**
 * `startGateway`: wires the modules of ARCHITECTURE.md 2 together — upgrade guard, ws server,
 * client sessions, session registry, Degas links, verification pool and admin server — and owns the
 * shared ping timer and the shutdown sequence.
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
import { resolveGatewayOptions } from './options.js';
import { pooledRandomBytes } from './random-pool.js';
import { LocalRegistry, type SessionRegistry } from './registry.js';
import { resumePolicy } from './resume.js';
import { ClientSession, GOING_AWAY_FRAME, type SessionContext, type SessionSettings } from './session.js';
import { countClose, createStats, type GatewayStats } from './stats.js';
import { openTlsFiles, type TlsFiles } from './tls.js';
import type { AdminServer, GatewayOptions, GatewaySnapshot, MutableDegasDirectory } from './types.js';
import { createUpgradeServer, rejectUpgrade, UpgradeGuard, type UpgradeTicket } from './upgrade.js';
import { createVerifier, type Verifier, type VerifierKind } from './verifier.js';

/** WebSocket upgrades completed per event-loop turn (see handleUpgrade). */
const UPGRADES_PER_TURN = 16;

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
  const log = o.logger;
  const stats = createStats();
  const masking = detectMasking();
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
  const verifier: Verifier = await createVerifier({
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
  const connections = new Set<ClientSession>();
  const guard = new UpgradeGuard({
    allowedOrigins: o.allowedOrigins,
    maxConnections: o.maxConnections,
    maxPendingPerIp: o.maxPendingPerIp,
    handshakeRate: o.handshakeRate,
    trustedProxies: o.trustedProxies,
    maxLoginsInProgress: o.maxLoginsInProgress,
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
  const settings: SessionSettings = {
    resume,
    helloTimeoutMs: o.helloTimeoutMs,
    authTimeoutMs: o.authTimeoutMs,
    rateLimit: o.rateLimit,
    rateLimitGraceMs: o.rateLimitGraceMs,
    sendBufferLimit: o.sendBufferLimit,
    authMessage: o.authMessage,
    authChainIds: o.authChainIds === undefined ? undefined : new Set(o.authChainIds),
  };
  let closeWaiters: (() => void)[] = [];
  const ctx: SessionContext = {
    settings,
    stats,
    logger: log,
    accounts: options.accounts,
    verifier,
    links,
    registry,
    guard,
    onClosed(session) {
      if (connections.delete(session)) stats.connectionsClosed++;
      if (connections.size === 0 && closeWaiters.length > 0) {
        const waiters = closeWaiters;
        closeWaiters = [];
        for (const w of waiters) w();
      }
    },
  };

  const wss = new WebSocketServer({
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
  wss.on('error', (err: Error) => log.error('websocket server error', { error: err.message }));
  // No 'wsClientError' listener: with one, ws leaves the HTTP answer (405/400 with the
  // Sec-WebSocket-Version header) to the listener and the socket would be held open (docs/CATALOGUE.md #2, #3).

  // A login storm delivers hundreds of upgrade requests in one poll phase; completing them all
  // in that turn (101 answer, session setup, and later their hello and eth_auth in step) holds up
  // every forwarded message behind them. At most UPGRADES_PER_TURN complete per event-loop turn;
  // the rest wait, already admitted by the guard, for the next turns (FIFO). Bench, 5000-login
  // storm: calm clients' p99 ≈ 70 → ≈ 33 ms with the verifier batch of 16, logins/s unchanged.
  let upgradesThisTurn = 0;
  let turnScheduled = false;
  let waiting: [IncomingMessage, Duplex, Buffer, UpgradeTicket][] = [];
  let waitingAt = 0;
  const nextTurn = (): void => {
    turnScheduled = false;
    upgradesThisTurn = 0;
    while (waitingAt < waiting.length && upgradesThisTurn < UPGRADES_PER_TURN) {
      const [req, socket, head, ticket] = waiting[waitingAt]!;
      waiting[waitingAt++] = undefined as never;
      upgradesThisTurn++;
      completeUpgrade(req, socket, head, ticket);
    }
    if (waitingAt === waiting.length) {
      waiting = [];
      waitingAt = 0;
    }
    if (waiting.length > 0 || upgradesThisTurn > 0) {
      turnScheduled = true;
      setImmediate(nextTurn);
    }
  };

  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    try {
      const ticket = guard.admit(req, socket);
      if (ticket === undefined) return;
      if (!turnScheduled) {
        turnScheduled = true;
        setImmediate(nextTurn);
      }
      if (waiting.length > 0 || upgradesThisTurn >= UPGRADES_PER_TURN) {
        waiting.push([req, socket, head, ticket]);
        return;
      }
      upgradesThisTurn++;
      completeUpgrade(req, socket, head, ticket);
    } catch (err) {
      log.error('unexpected error in upgrade', { error: err instanceof Error ? err.message : String(err) });
      stats.upgradesRejected.bad_request++;
      rejectUpgrade(socket, 500);
    }
  };

  const completeUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, ticket: UpgradeTicket): void => {
    try {
      wss.handleUpgrade(req, socket, head, (ws) => {
        try {
          if (guard.draining) {
            // PROTOCOL.md 6: 1001 always follows error{GOING_AWAY}, even for a connection that
            // completed its upgrade while the shutdown began.
            stats.errorsToClients[ErrorCode.GOING_AWAY]!++;
            ws.send(GOING_AWAY_FRAME);
            ws.close(CloseCode.GOING_AWAY);
            countClose(stats, CloseCode.GOING_AWAY);
            return;
          }
          stats.connectionsOpened++;
          const session = new ClientSession(ctx, ws, ticket);
          connections.add(session);
        } catch (err) {
          log.error('unexpected error setting up a connection', {
            error: err instanceof Error ? err.message : String(err),
          });
          ws.terminate();
        }
      });
    } catch (err) {
      log.error('unexpected error in upgrade', { error: err instanceof Error ? err.message : String(err) });
      stats.upgradesRejected.bad_request++;
      rejectUpgrade(socket, 500);
    }
  };

  let server: HttpServer | undefined;
  let ownServer = false;
  let port = 0;
  if (!o.noServer) {
    if (o.server !== undefined) server = o.server;
    else {
      server = createUpgradeServer(o.headersTimeoutMs, tlsFiles?.serverOptions());
      ownServer = true;
    }
    server.on('upgrade', handleUpgrade);
    if (ownServer) {
      // Admission of logins: the HTTP server's own 'connection' listener (its parser) runs only
      // when the guard admits the socket; until then the socket is accepted but not read. Without
      // a bound nothing waits, and sockets are not paused at all (pausing and resuming each one
      // cost an extra epoll_ctl per connection: bench login-cost).
      const s = server;
      const httpListeners = s.listeners('connection') as ((socket: Socket) => void)[];
      s.removeAllListeners('connection');
      const paused = o.maxLoginsInProgress > 0;
      (s as unknown as { pauseOnConnect: boolean }).pauseOnConnect = paused;
      s.on('connection', (socket: Socket) => {
        guard.trackSocket(socket);
        guard.gate(socket, () => {
          for (const l of httpListeners) l.call(s, socket);
          if (paused) socket.resume();
        });
      });
    }
    if (ownServer && tlsFiles !== undefined) {
      const tlsServer = server as unknown as TlsServer;
      tlsFiles.attach(tlsServer);
      // The guard tracks and gates the TCP socket (so a waiting login costs no TLS handshake
      // either); the upgrade request arrives on the TLS socket made from it, which must find the
      // same ticket and login slot. Node does not link the two publicly; the peer address does.
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
        stats.tlsHandshakeFailures++;
        socket.destroy();
      });
    }
    if (ownServer) {
      const s = server;
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
        await Promise.allSettled([verifier.close(), registry.close()]);
        tlsFiles?.close();
        throw err;
      });
      s.on('error', (err: Error) => log.error('http server error', { error: err.message }));
    }
    const addr = server.address();
    if (addr !== null && typeof addr === 'object') port = (addr as AddressInfo).port;
  }

  // One interval for every connection and link: cheaper than a timer per connection.
  const pingTimer = setInterval(() => {
    for (const session of connections) session.heartbeat();
    links.pingAll();
    guard.sweep();
  }, o.pingIntervalMs);
  pingTimer.unref();

  const snapshot = (): GatewaySnapshot => {
    // Every ForwardState session (and one waiting for its claim) holds its account in the registry.
    const forward = registry.localCount();
    return {
      connectionsAuth: connections.size - forward,
      connectionsForward: forward,
      links: links.snapshot(),
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
          : {
              notAfter: tlsFiles.current.notAfter,
              reloads: tlsFiles.reloads,
              reloadFailures: tlsFiles.reloadFailures,
            },
      ethRpc:
        ethRpc === undefined
          ? []
          : ethRpc.status().map((st) => ({ ...st, stats: (ethRpc as EthRpc).stats.get(st.chainId)! })),
    };
  };

  let admin: AdminServer | undefined;
  if (o.adminPort !== false) {
    try {
      admin = await startAdminServer({
        host: o.adminHost,
        port: o.adminPort,
        token: o.adminToken,
        tls: o.adminTls ? tlsFiles : undefined,
        stats,
        snapshot,
        degas: isMutable(options.degas) ? options.degas : undefined,
        ready: () => !guard.draining && registry.ready(),
        readyDetail:
          ethRpc === undefined
            ? undefined
            : () =>
                (ethRpc as EthRpc)
                  .status()
                  .map(
                    (st) =>
                      `eth-rpc chain ${st.chainId} ${st.origin}: ${st.state}${st.state === 'up' || st.lastError === undefined ? '' : ` (${st.lastError})`}`,
                  ),
        logger: log,
      });
    } catch (err) {
      clearInterval(pingTimer);
      if (server !== undefined) server.off('upgrade', handleUpgrade);
      if (ownServer) server?.close();
      await Promise.allSettled([verifier.close(), registry.close()]);
      ethRpc?.close();
      tlsFiles?.close();
      throw err;
    }
  }

  log.info('gateway started', {
    port,
    admin_port: admin?.port,
    mode: o.noServer ? 'noServer' : ownServer ? 'port' : 'server',
    tls: tlsFiles !== undefined,
    admin_tls: o.adminTls,
    verifier: verifier.kind,
    verifier_threads: verifier.threads,
    verifier_nice: verifier.nice,
    max_logins_in_progress: o.maxLoginsInProgress,
    masking,
    eth_rpc_chains: o.ethRpc?.map((e) => e.chainId).join(',') || undefined,
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const started = performance.now();
      const deadline = delay(o.shutdownTimeoutMs);
      guard.draining = true;
      guard.refuseWaiting();
      log.info('gateway shutting down', { connections: connections.size });
      // Stop accepting: the listening socket closes; upgrades still arriving on kept-alive
      // connections are answered 503 by the guard.
      let serverClosed: Promise<void> = Promise.resolve();
      if (ownServer && server !== undefined) {
        const s = server;
        serverClosed = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeIdleConnections();
      }
      clearInterval(pingTimer);
      for (const session of connections) session.goingAway();
      if (connections.size > 0) {
        const allClosed = new Promise<void>((resolve) => closeWaiters.push(resolve));
        await Promise.race([allClosed, deadline.promise]);
        for (const session of [...connections]) session.terminate();
      }
      // The session_closed notices are queued on the links by now; close them after the clients.
      await links.close(Math.max(100, o.shutdownTimeoutMs - (performance.now() - started)));
      await verifier.close();
      ethRpc?.close();
      tlsFiles?.close();
      await Promise.allSettled([
        registry.close(),
        Promise.resolve().then(() => options.accounts.close?.()),
        Promise.resolve().then(() => options.degas.close?.()),
        admin?.close(),
      ]);
      if (server !== undefined) server.off('upgrade', handleUpgrade);
      if (ownServer && server !== undefined) {
        server.closeAllConnections();
        await Promise.race([serverClosed, delay(100).promise]);
      }
      wss.close();
      deadline.cancel();
      log.info('gateway stopped');
    })();
    return closing;
  };

  return {
    port,
    adminPort: admin?.port,
    server,
    tls: tlsFiles,
    verifier: verifier.kind,
    masking,
    stats,
    handleUpgrade,
    snapshot,
    close,
  };
}
