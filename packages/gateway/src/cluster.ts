/**
 * The parts of the cluster mode that load no NATS code: options, defaults, URL parsing, and
 * {@link createNatsRegistry}, which imports the NATS registry only when it is called (so a single
 * node never loads the NATS client).
 */
import type { SessionRegistry } from './registry.js';

/** Options of {@link NatsRegistry} (the `--nats…`, `--cluster`, `--node-name`, `--kv-replicas` flags). */
export interface NatsRegistryOptions {
  /** Seed servers: `host:port`, `nats://[user:pass@]host:port` or `tls://…` (TLS required). At least one. */
  servers: readonly string[];
  /** A NATS credentials file (JWT + nkey seed). */
  credsFile?: string | undefined;
  /** Cluster name: prefix of subjects and the KV bucket. Default "degas". */
  cluster?: string | undefined;
  /** Readable node name for logs and metrics. Default: the host name. */
  nodeName?: string | undefined;
  /** Replicas of the KV bucket (1, 3 or 5 on a NATS cluster). Default 1. */
  kvReplicas?: number | undefined;
  /** Heartbeat interval. Default 1000. */
  heartbeatMs?: number | undefined;
  /** A node whose heartbeat is older than this counts as gone. Default 3000 (PROTOCOL 8: within 5 s). */
  nodeTimeoutMs?: number | undefined;
  /** Timeout of one KV operation. Default 2000. */
  requestTimeoutMs?: number | undefined;
  /** How long ended sessions stay known for `latest` (the resume window). Default 0. */
  retainEndedMs?: number | undefined;
}

/** Defaults of {@link NatsRegistryOptions}. */
export const NATS_DEFAULTS = {
  cluster: 'degas',
  kvReplicas: 1,
  heartbeatMs: 1000,
  nodeTimeoutMs: 3000,
  requestTimeoutMs: 2000,
} as const;

/** A cluster name: a subject token and part of a bucket name. */
export const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A `--nats` server, parsed. */
export interface NatsServerSpec {
  /** `host:port` as nats.js takes it. */
  hostPort: string;
  tls: boolean;
  user?: string;
  pass?: string;
  token?: string;
}

/**
 * Parses one `--nats` value: `host[:port]`, `nats://[user:pass@|token@]host[:port]` or `tls://…`.
 * Throws RangeError with a one-line reason.
 * @example
 * parseNatsServer('tls://app:secret@nats.example:4222') // { hostPort: 'nats.example:4222', tls: true, user: 'app', pass: 'secret' }
 */
export function parseNatsServer(value: string): NatsServerSpec {
  if (typeof value !== 'string' || value.trim() === '' || /\s/.test(value)) {
    throw new RangeError(`not a NATS server URL: ${JSON.stringify(value)}`);
  }
  let url: URL;
  try {
    url = new URL(value.includes('://') ? value : `nats://${value}`);
  } catch {
    throw new RangeError(`not a NATS server URL: ${value}`);
  }
  if (url.protocol !== 'nats:' && url.protocol !== 'tls:') {
    throw new RangeError(`NATS server URL must be nats:// or tls://, got ${url.protocol}//`);
  }
  if (url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    throw new RangeError(`not a NATS server URL: ${value}`);
  }
  const port = url.port === '' ? 4222 : Number(url.port);
  const spec: NatsServerSpec = { hostPort: `${url.hostname}:${port}`, tls: url.protocol === 'tls:' };
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  if (user !== '' && pass !== '') {
    spec.user = user;
    spec.pass = pass;
  } else if (user !== '') spec.token = user;
  return spec;
}

/** A session registry that joins a cluster over NATS (see `nats-registry.ts`). */
export interface ClusterRegistry extends SessionRegistry {
  readonly kind: 'nats';
  readonly cluster: string;
  readonly nodeName: string;
  /** This process's id in the cluster. */
  readonly nodeId: string;
  /** The NATS server this node is connected to ("" while it is not). */
  readonly joined: string;
  /**
   * The node id that this node's view of the registry (the KV watch) says holds the account
   * (`idKey` form), if its session is open. The view lags a registration elsewhere by the watch's
   * delivery time: a Degas message sent in that moment gets CLIENT_ERROR.
   */
  holder(accountKey: string): string | undefined;
  /** Resolves with true once the node has joined the cluster, or false after `timeoutMs`. */
  whenUp(timeoutMs?: number): Promise<boolean>;
}

/**
 * Creates the NATS session registry (loading the NATS client on first use). Pass it to
 * `startGateway({ registry })`; the gateway starts and closes it. Throws RangeError/TypeError for
 * invalid options. The start never fails on an unreachable bus: the node keeps trying, refuses
 * logins with UNAVAILABLE and answers /readyz with 503 until it has joined.
 * @example
 * const registry = await createNatsRegistry({ servers: ['nats://127.0.0.1:4222'], cluster: 'prod' });
 * const gw = await startGateway({ accounts, degas, registry });
 */
export async function createNatsRegistry(options: NatsRegistryOptions): Promise<ClusterRegistry> {
  const { NatsRegistry } = await import('./nats-registry.js');
  return new NatsRegistry(options);
}
