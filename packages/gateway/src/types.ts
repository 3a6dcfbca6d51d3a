/**
 * Contracts between the gateway's modules (ARCHITECTURE.md 2). Each module owns one concern and
 * talks to the others only through these interfaces.
 */
import type { Server as HttpServer } from 'node:http';
import type { EthRpcEndpointStats, EthRpcEndpointStatus } from './eth-rpc.js';
import type { Logger } from './logger.js';
import type { SchemaGatewayOptions } from './options.js';
import type { RegistrySnapshot, SessionRegistry } from './registry.js';
import type { GatewayStats } from './stats.js';
import type { TlsFiles } from './tls.js';

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
  /** Logins the gateway is working on: admitted connections until their challenge is sent, or until they authenticate, fail or close. */
  loginsInProgress: number;
  /** Accepted connections waiting, unread, for a login slot (`maxLoginsInProgress`). */
  loginsWaiting: number;
  verifierPending: number;
  draining: boolean;
  /** The session registry's gauges and counters. */
  registry?: RegistrySnapshot;
  /** Contract-wallet endpoints (`ethRpc`), with their counters; empty without any. */
  ethRpc?: (EthRpcEndpointStatus & { stats: EthRpcEndpointStats })[];
  /** Present when the client port serves TLS. */
  tls?: { notAfter: number; reloads: number; reloadFailures: number } | undefined;
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
  /** Serve HTTPS with this certificate (reloaded with it). Default: plain HTTP. */
  tls?: TlsFiles | undefined;
  /** 200 on /readyz once this returns true. */
  ready(): boolean;
  /** Extra lines of the /readyz body (e.g. contract-wallet endpoint health); they do not change the status. */
  readyDetail?: (() => string[]) | undefined;
  logger: Logger;
}

/** A running admin HTTP server. */
export interface AdminServer {
  readonly port: number;
  /** An `https.Server` when started with `tls`. */
  readonly server: HttpServer;
  close(): Promise<void>;
}

/**
 * Options of `startGateway` (ARCHITECTURE.md 3). The plain options (numbers, strings, lists) come
 * from the option schema, `GATEWAY_OPTIONS` in options.ts, where each one is declared with its
 * type, range, default, unit and help, and from which the command line, environment, config
 * file, `--help` and the README table derive; the objects are declared here. Every duration is
 * in milliseconds, every size in bytes. The `degas-gateway` bin builds this object from flags,
 * environment and config file (config.ts); embedders pass it directly.
 */
export interface GatewayOptions extends SchemaGatewayOptions {
  /** Attach to this existing HTTP server instead of listening (ws `server` mode; not with `port` or `host`). */
  server?: HttpServer;
  /** Listen nowhere; the embedder calls `handle.handleUpgrade(req, socket, head)` (ws `noServer` mode; not with `port`, `host` or `server`). */
  noServer?: boolean;
  /** Where accounts and their signers are looked up. Required. */
  accounts: AccountDirectory;
  /** Where Degas instances are found. Required. A MutableDegasDirectory enables admin registration. */
  degas: DegasDirectory;
  /**
   * Who holds each account: `new LocalRegistry()` (in-process, the default) or the registry of
   * `createNatsRegistry` (a cluster of nodes joined by NATS). The gateway starts it and closes it.
   */
  registry?: SessionRegistry;
  /** Structured logger. Default: silent. */
  logger?: Logger;
}
