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
import { checkChainId, DEFAULT_AUTH_DOMAIN, DEFAULT_AUTH_MESSAGE } from '@degas/auth-eth';
import { CloseCode, ErrorCode, Limits } from '@degas/proto';
import { WebSocketServer } from 'ws';
import { startAdminServer } from './admin.js';
import type { EthRpc } from './eth-rpc.js';
import { LinkPool } from './links.js';
import { type Logger, silentLogger } from './logger.js';
import { LocalRegistry, type SessionRegistry } from './registry.js';
import { resumePolicy } from './resume.js';
import { MAX_RESUME_WINDOW_MS, TicketCodec } from './resume-ticket.js';
import {
  ClientSession,
  GOING_AWAY_FRAME,
  pooledRandomBytes,
  type SessionContext,
  type SessionSettings,
} from './session.js';
import { countClose, createStats, type GatewayStats } from './stats.js';
import type { AdminServer, GatewayOptions, GatewaySnapshot, MutableDegasDirectory } from './types.js';
import { GATEWAY_DEFAULTS } from './types.js';
import { createUpgradeServer, parseProxySpec, rejectUpgrade, UpgradeGuard, type UpgradeTicket } from './upgrade.js';
import { createVerifier, type Verifier, type VerifierKind } from './verifier.js';

/** WebSocket upgrades completed per event-loop turn (see handleUpgrade). */
const UPGRADES_PER_TURN = 16;

/** A running gateway. */
export interface GatewayHandle {
  /** The client WebSocket port (0 in `server`/`noServer` mode when it cannot be known). */
  readonly port: number;
  /** The admin HTTP port, or undefined without an admin server. */
  readonly adminPort: number | undefined;
  /** The HTTP server the gateway listens on (its own, or the one passed as `server`). */
  readonly server: HttpServer | undefined;
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

/** Options after validation, with every default filled in. */
interface Resolved {
  host: string;
  port: number;
  server: HttpServer | undefined;
  noServer: boolean;
  adminPort: number | false;
  adminHost: string;
  adminToken: string | undefined;
  internalToken: string | undefined;
  authDomain: string;
  authMessage: string;
  authChainIds: ReadonlySet<number> | undefined;
  ethRpc: { chainId: number; url: string }[];
  ethRpcConcurrency: number;
  ethRpcTimeoutMs: number;
  helloTimeoutMs: number;
  authTimeoutMs: number;
  pingIntervalMs: number;
  rateLimit: number;
  rateLimitGraceMs: number;
  maxConnections: number;
  maxPendingPerIp: number;
  handshakeRate: number;
  trustedProxies: readonly string[];
  allowedOrigins: readonly string[];
  sendBufferLimit: number;
  degasQueueLimit: number;
  maxFrame: number;
  maxInternalFrame: number;
  dialTimeoutMs: number;
  closeTimeoutMs: number;
  headersTimeoutMs: number;
  shutdownTimeoutMs: number;
  verifier: 'auto' | 'native' | 'noble';
  verifierThreads: number | undefined;
  /** Resume-ticket keys; undefined = none configured. */
  resumeKeys: readonly Uint8Array[] | undefined;
  resumeWindowMs: number;
  resumeMaxAgeMs: number;
  verifierNice: number | undefined;
  maxLoginsInProgress: number;
  logger: Logger;
}

function int(
  options: GatewayOptions,
  name: keyof GatewayOptions,
  def: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = options[name];
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new TypeError(`${name} must be an integer, got ${String(v)}`);
  if (v < min || v > max) throw new RangeError(`${name} must be from ${min} to ${max}, got ${v}`);
  return v;
}

function str(options: GatewayOptions, name: keyof GatewayOptions, def: string | undefined): string | undefined {
  const v = options[name];
  if (v === undefined) return def;
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string`);
  return v;
}

function resolveOptions(options: GatewayOptions): Resolved {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const accounts = options.accounts as unknown;
  if (
    accounts === null ||
    typeof accounts !== 'object' ||
    typeof (accounts as { getAccount?: unknown }).getAccount !== 'function'
  ) {
    throw new TypeError('accounts must be an AccountDirectory (an object with getAccount)');
  }
  const degas = options.degas as unknown;
  if (degas === null || typeof degas !== 'object' || typeof (degas as { resolve?: unknown }).resolve !== 'function') {
    throw new TypeError('degas must be a DegasDirectory (an object with resolve)');
  }
  const noServer = options.noServer === true;
  if (options.noServer !== undefined && typeof options.noServer !== 'boolean')
    throw new TypeError('noServer must be a boolean');
  if (noServer && options.server !== undefined) throw new TypeError('use either server or noServer, not both');
  if (options.server !== undefined && (typeof options.server !== 'object' || typeof options.server.on !== 'function')) {
    throw new TypeError('server must be an http.Server');
  }
  const host = str(options, 'host', GATEWAY_DEFAULTS.host) as string;
  let adminPort: number | false = GATEWAY_DEFAULTS.adminPort;
  if (options.adminPort === false) adminPort = false;
  else adminPort = int(options, 'adminPort', GATEWAY_DEFAULTS.adminPort, 0, 65535);
  const verifier = options.verifier ?? 'auto';
  if (verifier !== 'auto' && verifier !== 'native' && verifier !== 'noble') {
    throw new RangeError(`verifier must be "auto", "native" or "noble", got ${String(verifier)}`);
  }
  const allowedOrigins = options.allowedOrigins ?? [];
  if (!Array.isArray(allowedOrigins) || allowedOrigins.some((o) => typeof o !== 'string')) {
    throw new TypeError('allowedOrigins must be an array of strings');
  }
  const trustedProxies = options.trustedProxies ?? [];
  if (!Array.isArray(trustedProxies) || trustedProxies.some((p) => typeof p !== 'string')) {
    throw new TypeError('trustedProxies must be an array of strings');
  }
  for (const p of trustedProxies) {
    try {
      parseProxySpec(p);
    } catch (err) {
      throw new RangeError(`trustedProxies: ${(err as Error).message}`);
    }
  }
  const authMessage = str(options, 'authMessage', DEFAULT_AUTH_MESSAGE) as string;
  if (authMessage === '') throw new RangeError('authMessage must not be empty');
  const authDomain = str(options, 'authDomain', DEFAULT_AUTH_DOMAIN) as string;
  if (authDomain === '') throw new RangeError('authDomain must not be empty');
  const registry = options.registry as unknown;
  if (
    registry !== undefined &&
    (registry === null ||
      typeof registry !== 'object' ||
      typeof (registry as { claim?: unknown }).claim !== 'function' ||
      typeof (registry as { start?: unknown }).start !== 'function')
  ) {
    throw new TypeError('registry must be a SessionRegistry (an object with start and claim)');
  }
  let authChainIds: Set<number> | undefined;
  if (options.authChainIds !== undefined) {
    if (!Array.isArray(options.authChainIds)) throw new TypeError('authChainIds must be an array of chain ids');
    authChainIds = new Set(options.authChainIds.map((id, i) => checkChainId(id, `authChainIds[${i}]`)));
    if (authChainIds.size === 0) throw new RangeError('authChainIds must not be empty (leave it out to accept any)');
  }
  const ethRpc: { chainId: number; url: string }[] = [];
  if (options.ethRpc !== undefined) {
    if (!Array.isArray(options.ethRpc)) throw new TypeError('ethRpc must be an array of { chainId, url }');
    const seen = new Set<number>();
    options.ethRpc.forEach((e: unknown, i) => {
      const entry = e as { chainId?: unknown; url?: unknown } | null;
      if (entry === null || typeof entry !== 'object') throw new TypeError(`ethRpc[${i}] must be { chainId, url }`);
      const chainId = checkChainId(entry.chainId, `ethRpc[${i}].chainId`);
      if (typeof entry.url !== 'string' || !/^https?:\/\//i.test(entry.url) || !URL.canParse(entry.url)) {
        throw new TypeError(`ethRpc[${i}].url must be an http:// or https:// URL`);
      }
      if (seen.has(chainId)) throw new RangeError(`ethRpc: chain ${chainId} is given twice`);
      seen.add(chainId);
      ethRpc.push({ chainId, url: entry.url });
    });
  }
  const logger = options.logger ?? silentLogger;
  if (typeof logger !== 'object' || typeof logger.info !== 'function') throw new TypeError('logger must be a Logger');
  const maxFrame = int(options, 'maxFrame', Limits.MAX_FRAME, 1024, 64 * 1024 * 1024);
  let resumeKeys: readonly Uint8Array[] | undefined;
  if (options.resumeKeys !== undefined) {
    if (!Array.isArray(options.resumeKeys) || options.resumeKeys.length === 0) {
      throw new TypeError('resumeKeys must be a non-empty array of Uint8Array');
    }
    // Validates every key (length, duplicates, count); the codec is built again at start.
    new TicketCodec(options.resumeKeys);
    resumeKeys = options.resumeKeys.map((k) => Uint8Array.from(k));
  }
  return {
    host,
    port: int(options, 'port', GATEWAY_DEFAULTS.port, 0, 65535),
    server: options.server,
    noServer,
    adminPort,
    adminHost: str(options, 'adminHost', GATEWAY_DEFAULTS.adminHost) as string,
    adminToken: str(options, 'adminToken', undefined),
    internalToken: str(options, 'internalToken', undefined),
    authDomain,
    authMessage,
    authChainIds,
    ethRpc,
    ethRpcConcurrency: int(options, 'ethRpcConcurrency', 8, 1, 1024),
    ethRpcTimeoutMs: int(options, 'ethRpcTimeoutMs', 5000, 1, 2_147_483_647),
    helloTimeoutMs: int(options, 'helloTimeoutMs', Limits.HELLO_TIMEOUT_MS, 1),
    authTimeoutMs: int(options, 'authTimeoutMs', Limits.AUTH_TIMEOUT_MS, 1),
    pingIntervalMs: int(options, 'pingIntervalMs', Limits.PING_INTERVAL_MS, 10),
    rateLimit: int(options, 'rateLimit', Limits.RATE_LIMIT, 0),
    rateLimitGraceMs: int(options, 'rateLimitGraceMs', Limits.RATE_LIMIT_GRACE_MS, 0),
    maxConnections: int(options, 'maxConnections', GATEWAY_DEFAULTS.maxConnections, 1),
    maxPendingPerIp: int(options, 'maxPendingPerIp', GATEWAY_DEFAULTS.maxPendingPerIp, 1),
    handshakeRate: int(options, 'handshakeRate', GATEWAY_DEFAULTS.handshakeRate, 0, 1_000_000),
    trustedProxies,
    allowedOrigins,
    sendBufferLimit: int(options, 'sendBufferLimit', Limits.SEND_BUFFER, 0),
    degasQueueLimit: int(options, 'degasQueueLimit', Limits.DEGAS_QUEUE, 0),
    maxFrame,
    maxInternalFrame: int(options, 'maxInternalFrame', Limits.MAX_INTERNAL_FRAME, 1024, 64 * 1024 * 1024),
    dialTimeoutMs: int(options, 'dialTimeoutMs', GATEWAY_DEFAULTS.dialTimeoutMs, 1),
    closeTimeoutMs: int(options, 'closeTimeoutMs', GATEWAY_DEFAULTS.closeTimeoutMs, 1),
    headersTimeoutMs: int(options, 'headersTimeoutMs', GATEWAY_DEFAULTS.headersTimeoutMs, 1),
    shutdownTimeoutMs: int(options, 'shutdownTimeoutMs', GATEWAY_DEFAULTS.shutdownTimeoutMs, 0),
    verifier,
    verifierThreads: options.verifierThreads === undefined ? undefined : int(options, 'verifierThreads', 1, 1, 256),
    resumeKeys,
    // At most 7 days: within the wire's uint32 and what a cluster registry keeps.
    resumeWindowMs: int(options, 'resumeWindowMs', GATEWAY_DEFAULTS.resumeWindowMs, 0, MAX_RESUME_WINDOW_MS),
    resumeMaxAgeMs: int(options, 'resumeMaxAgeMs', GATEWAY_DEFAULTS.resumeMaxAgeMs, 1),
    verifierNice: options.verifierNice === undefined ? undefined : int(options, 'verifierNice', 0, 0, 19),
    maxLoginsInProgress: int(options, 'maxLoginsInProgress', GATEWAY_DEFAULTS.maxLoginsInProgress, 0),
    logger,
  };
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
  const o = resolveOptions(options);
  const log = o.logger;
  const stats = createStats();
  const masking = detectMasking();
  // Contract-wallet logins: only with an endpoint (eth-rpc.ts loads viem).
  let ethRpc: EthRpc | undefined;
  if (o.ethRpc.length > 0) {
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
    authChainIds: o.authChainIds,
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
  // Sec-WebSocket-Version header) to the listener and the socket would be held open (CATALOGUE #2, #3).

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
      server = createUpgradeServer(o.headersTimeoutMs);
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
      throw err;
    }
  }

  log.info('gateway started', {
    port,
    admin_port: admin?.port,
    mode: o.noServer ? 'noServer' : ownServer ? 'port' : 'server',
    verifier: verifier.kind,
    verifier_threads: verifier.threads,
    verifier_nice: verifier.nice,
    max_logins_in_progress: o.maxLoginsInProgress,
    masking,
    eth_rpc_chains: o.ethRpc.map((e) => e.chainId).join(',') || undefined,
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
    verifier: verifier.kind,
    masking,
    stats,
    handleUpgrade,
    snapshot,
    close,
  };
}
