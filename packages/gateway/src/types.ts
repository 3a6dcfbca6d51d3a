/**
 * Contracts between the gateway's modules (ARCHITECTURE.md 2). Each module owns one concern and
 * talks to the others only through these interfaces.
 */
import type { Server as HttpServer } from 'node:http';
import type { EthRpcEndpointStats, EthRpcEndpointStatus } from './eth-rpc.js';
import type { Logger } from './logger.js';
import type { RegistrySnapshot, SessionRegistry } from './registry.js';
import type { GatewayStats } from './stats.js';

/** An Ethereum signer of an account. `address` is lowercase `0x` + 40 hex. */
export interface EthereumSigner {
  readonly type: 'ethereum';
  readonly address: string;
  readonly disabled: boolean;
}

/** An account as the account directory knows it (16-byte id, typed signers). */
export interface Account {
  readonly id: Uint8Array;
  readonly signers: readonly EthereumSigner[];
}

/** Looks accounts up. `undefined` means "no such account". Must not throw for unknown ids. */
export interface AccountDirectory {
  getAccount(accountId: Uint8Array): Account | undefined | Promise<Account | undefined>;
  close?(): void | Promise<void>;
}

/** Where a Degas listens and the bearer token the gateway presents to it. */
export interface DegasEndpoint {
  readonly url: string;
  readonly token?: string;
}

/** Resolves a Degas id to its endpoint; `undefined` = unknown Degas. Called only when dialing. */
export interface DegasDirectory {
  resolve(degasId: Uint8Array): DegasEndpoint | undefined | Promise<DegasEndpoint | undefined>;
  close?(): void | Promise<void>;
}

/** A Degas directory that the admin API can change at run time. */
export interface MutableDegasDirectory extends DegasDirectory {
  register(degasId: Uint8Array, endpoint: DegasEndpoint): void;
  unregister(degasId: Uint8Array): boolean;
  list(): { id: Uint8Array; endpoint: DegasEndpoint }[];
}

/** State of one internal link, for /metrics. */
export type LinkState = 'idle' | 'dialing' | 'open' | 'backoff' | 'closed';

/** Gauges computed on demand for /metrics (counters live in {@link GatewayStats}). */
export interface GatewaySnapshot {
  connectionsAuth: number;
  connectionsForward: number;
  links: { degasId: Uint8Array; state: LinkState; queuedBytes: number; bufferedBytes: number }[];
  verifier: 'native' | 'noble';
  verifierThreads: number;
  /** Nice value of the verifier threads, or null where it cannot be set (not Linux). */
  verifierNice: number | null;
  /** Accepted connections logging in (admitted, not yet authenticated or closed). */
  loginsInProgress: number;
  /** Accepted connections waiting, unread, for a login slot (`maxLoginsInProgress`). */
  loginsWaiting: number;
  verifierPending: number;
  draining: boolean;
  /** The session registry's gauges and counters. */
  registry?: RegistrySnapshot;
  /** Contract-wallet endpoints (`ethRpc`), with their counters; empty without any. */
  ethRpc?: (EthRpcEndpointStatus & { stats: EthRpcEndpointStats })[];
}

/** What the admin HTTP server needs from the gateway. */
export interface AdminServerOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Bearer token required by the write endpoints (PUT/DELETE /v1/degas/…); none = writes refused (403). */
  token?: string | undefined;
  stats: GatewayStats;
  snapshot(): GatewaySnapshot;
  /** Present when the Degas directory accepts registrations. */
  degas?: MutableDegasDirectory | undefined;
  /** 200 on /readyz once this returns true. */
  ready(): boolean;
  /** Extra lines of the /readyz body (e.g. contract-wallet endpoint health); they do not change the status. */
  readyDetail?: (() => string[]) | undefined;
  logger: Logger;
}

/** A running admin HTTP server. */
export interface AdminServer {
  readonly port: number;
  readonly server: HttpServer;
  close(): Promise<void>;
}

/**
 * Options of `startGateway` (ARCHITECTURE.md 3 lists the matching command-line flags).
 * Every duration is in milliseconds, every size in bytes. The `degas-gateway` bin builds this
 * object from flags, environment and config file (config.ts); embedders pass it directly.
 */
export interface GatewayOptions {
  /** Client WebSocket listen address. Default "0.0.0.0". Ignored with `server`/`noServer`. */
  host?: string;
  /** Client WebSocket port; 0 = any free port. Default 8080. Ignored with `server`/`noServer`. */
  port?: number;
  /** Attach to this existing HTTP server instead of listening (ws `server` mode). */
  server?: HttpServer;
  /** Listen nowhere; the embedder calls `handle.handleUpgrade(req, socket, head)` (ws `noServer` mode). */
  noServer?: boolean;
  /** Admin HTTP port (/healthz, /readyz, /metrics, /v1/degas); 0 = any free port; `false` = no admin server. Default 9090. */
  adminPort?: number | false;
  /** Admin HTTP listen address. Default "127.0.0.1" (loopback only). */
  adminHost?: string;
  /**
   * Bearer token for the admin API's write endpoints (`PUT`/`DELETE /v1/degas/…`). Without one,
   * those endpoints are refused with 403.
   */
  adminToken?: string;
  /** Where accounts and their signers are looked up. Required. */
  accounts: AccountDirectory;
  /** Where Degas instances are found. Required. A MutableDegasDirectory enables admin registration. */
  degas: DegasDirectory;
  /** Bearer token sent to every Degas that has no token of its own. */
  internalToken?: string;
  /** EIP-712 domain name. Default "Degas Authentication". */
  authDomain?: string;
  /** The human-readable prompt inside each challenge. Default: @degas/auth-eth DEFAULT_AUTH_MESSAGE. */
  authMessage?: string;
  /**
   * Chain ids accepted in `eth_auth` (the chain the client's wallet signed with; 0/absent = 1);
   * another is AUTH_FAIL. Default: any.
   */
  authChainIds?: readonly number[];
  /**
   * Ethereum JSON-RPC endpoints (`http://`/`https://`), one per chain id, that enable
   * smart-contract wallet logins (ERC-1271, ERC-6492) on that chain (PROTOCOL.md 4.2 step 5).
   * Each is asked `eth_chainId` at start: another chain id makes `startGateway` reject (an error
   * with `code` `"ETH_RPC_CHAIN_MISMATCH"`). Default: none (EOA logins only; viem is not loaded).
   */
  ethRpc?: readonly { chainId: number; url: string }[];
  /** Contract-wallet checks in flight per endpoint; up to 256 more wait, beyond that `AUTH_FAIL`. Default 8. */
  ethRpcConcurrency?: number;
  /** Longest one JSON-RPC call may take; the `eth_auth` deadline also bounds it. Default 5000. */
  ethRpcTimeoutMs?: number;
  /** Deadline for `hello` after the upgrade. Default 10000. */
  helloTimeoutMs?: number;
  /** Deadline for `eth_auth` after `auth_request`. Default 60000. */
  authTimeoutMs?: number;
  /** Ping interval; a connection that has not answered the previous ping is terminated. Default 30000. */
  pingIntervalMs?: number;
  /** Client messages per second per connection (burst 2×); 0 = off. Default 1000. */
  rateLimit?: number;
  /** How long a client may stay over its rate after its first drop before close 4008. Default 5000. */
  rateLimitGraceMs?: number;
  /** Client connections beyond this get HTTP 503 at the upgrade. Default 100000. */
  maxConnections?: number;
  /** Unauthenticated connections per client IP beyond this get HTTP 429 at the upgrade. Default 64. */
  maxPendingPerIp?: number;
  /**
   * Upgrades per second per client IP, token bucket with a burst of 2×; beyond it HTTP 429 before
   * the upgrade (and before any signature work). 0 = off. Default 50.
   */
  handshakeRate?: number;
  /**
   * Addresses (or CIDR blocks such as "10.0.0.0/8") of reverse proxies whose `X-Forwarded-For` is
   * honoured: the client IP is the right-most address in it that is not itself a trusted proxy.
   * From any other peer the header is ignored. Default: none.
   */
  trustedProxies?: readonly string[];
  /** Accepted `Origin` headers; empty = any. A request without Origin (non-browser) is always accepted. */
  allowedOrigins?: readonly string[];
  /** Per-connection send buffer before close 4009. Default 4 MiB. */
  sendBufferLimit?: number;
  /** Per-Degas queue while dialing or congested. Default 4 MiB. */
  degasQueueLimit?: number;
  /** WebSocket frame limit on client connections. Default 66560. */
  maxFrame?: number;
  /** WebSocket frame limit on internal connections. Default 131072. */
  maxInternalFrame?: number;
  /** Time a dial may take before it counts as failed. Default 3000. */
  dialTimeoutMs?: number;
  /** How long an unanswered close handshake is waited for before the socket is destroyed. Default 5000. */
  closeTimeoutMs?: number;
  /** HTTP headers timeout of the upgrade request (against slowloris). Default 10000. */
  headersTimeoutMs?: number;
  /** Bound on a graceful shutdown before remaining sockets are destroyed. Default 10000. */
  shutdownTimeoutMs?: number;
  /** Signature verification: "auto" (native libsecp256k1 if it loads, else noble), "native" or "noble". Default "auto". */
  verifier?: 'auto' | 'native' | 'noble';
  /** Verification worker threads. Default: number of CPU cores. */
  verifierThreads?: number;
  /**
   * Resume-ticket keys, each at least 32 bytes (PROTOCOL.md 4.5): the first signs, all verify.
   * Default: a random key made at start (tickets then survive drops, not restarts). Every node
   * of a cluster must be given the same keys.
   */
  resumeKeys?: readonly Uint8Array[];
  /** How long after a session ends its resume ticket works; 0 = resume off. Default 60000. */
  resumeWindowMs?: number;
  /** Longest chain of resumes after one wallet login. Default 86400000 (24 h). */
  resumeMaxAgeMs?: number;
  /**
   * Added to each verification thread's nice value (Linux), so that forwarding wins the CPU over
   * a login storm's signature checks. 0–19; 0 = the main thread's priority. Default 10.
   */
  verifierNice?: number;
  /**
   * Most logins in progress at once (own-port mode): connections accepted after that wait, with
   * their upgrade request unread in the kernel, until a login ends. 0 = no bound. Default 0.
   */
  maxLoginsInProgress?: number;
  /**
   * Who holds each account: `new LocalRegistry()` (in-process, the default) or the registry of
   * `createNatsRegistry` (a cluster of nodes joined by NATS). The gateway starts it and closes it.
   */
  registry?: SessionRegistry;
  /** Structured logger. Default: silent. */
  logger?: Logger;
}

/**
 * Defaults of the gateway-only options of {@link GatewayOptions} (the protocol's own defaults are
 * `Limits` in @degas/proto). One place, read by `startGateway` and by the command line's help.
 */
export const GATEWAY_DEFAULTS = {
  host: '0.0.0.0',
  port: 8080,
  /** Loopback only: the admin API should not be reachable from other machines unless asked for. */
  adminHost: '127.0.0.1',
  adminPort: 9090,
  maxConnections: 100_000,
  maxPendingPerIp: 64,
  handshakeRate: 50,
  dialTimeoutMs: 3000,
  closeTimeoutMs: 5000,
  headersTimeoutMs: 10_000,
  shutdownTimeoutMs: 10_000,
  resumeWindowMs: 60_000,
  resumeMaxAgeMs: 86_400_000,
  verifierNice: 10,
  maxLoginsInProgress: 0,
} as const;
