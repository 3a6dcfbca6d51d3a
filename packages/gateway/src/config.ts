/**
 * Configuration of the `degas-gateway` command (ARCHITECTURE.md 3): flags > environment
 * (`DEGAS_*`) > `--config` file > defaults, validated once at start. Every problem is a
 * {@link ConfigError} with a one-line message naming the flag; the bin prints it and exits 2.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { idFromHex, idKey, idToHex, Limits } from '@degas/proto';
import { createFileAccountDirectory, createRpcAccountDirectory } from './accounts.js';
import { CLUSTER_NAME, createNatsRegistry, NATS_DEFAULTS, parseNatsServer } from './cluster.js';
import {
  chainDegasDirectories,
  createStaticDegasDirectory,
  createTemplateDegasDirectory,
  isPlainObject,
  loadDegasFile,
  parseDegasSpec,
  show,
  validateDegasUrl,
  validateToken,
} from './degas-directory.js';
import { isLogLevel, type Logger, type LogLevel, silentLogger } from './logger.js';
import { MAX_RESUME_KEYS, MAX_RESUME_WINDOW_MS, parseResumeKey } from './resume-ticket.js';
import type { AccountDirectory, DegasDirectory, GatewayOptions } from './types.js';
import { GATEWAY_DEFAULTS as D } from './types.js';
import { parseProxySpec } from './upgrade.js';

/** Invalid command-line, environment or config-file input. `flag` is the option concerned. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(message.replace(/[\r\n]+/g, ' '));
  }
}

/** A Degas given on the command line, in the config file or in `--degas-file`. */
export interface DegasConfigEntry {
  id: Uint8Array;
  url: string;
  token?: string;
}

/** The validated configuration of one gateway process. */
export interface Config {
  /** The config file read, if any (absolute path). */
  configFile: string | undefined;
  host: string;
  port: number;
  adminHost: string;
  /** `false` = no admin server. */
  adminPort: number | false;
  /** Accounts file (absolute path); unused when `accountsRpc` is set. */
  accounts: string;
  accountsRpc: string | undefined;
  accountsRpcTimeoutMs: number;
  accountsCacheTtlMs: number;
  /** From `--degas` (flags, env or config file). */
  degas: DegasConfigEntry[];
  /** Absolute path of `--degas-file`, if given. */
  degasFile: string | undefined;
  /** Entries read from `degasFile`. */
  degasFileEntries: DegasConfigEntry[];
  degasUrlTemplate: string | undefined;
  internalToken: string | undefined;
  authDomain: string | undefined;
  authMessage: string | undefined;
  /** From `--auth-chain-id`; empty = any. */
  authChainIds: number[];
  /** From `--eth-rpc`: contract-wallet endpoints, one per chain. */
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
  /** Trusted proxy addresses or CIDR blocks, as given (validated). */
  trustedProxies: string[];
  allowedOrigins: string[];
  adminToken: string | undefined;
  logLevel: LogLevel;
  sendBufferLimit: number;
  degasQueueLimit: number;
  dialTimeoutMs: number;
  closeTimeoutMs: number;
  headersTimeoutMs: number;
  shutdownTimeoutMs: number;
  verifier: 'auto' | 'native' | 'noble';
  verifierThreads: number | undefined;
  /** Resume-ticket keys (the first signs, all verify); empty = none configured. */
  resumeKeys: Uint8Array[];
  /** NATS seed servers (`--nats`); empty = a single node. */
  nats: string[];
  /** Absolute path of `--nats-creds`. */
  natsCreds: string | undefined;
  cluster: string;
  /** Default: the host name. */
  nodeName: string | undefined;
  kvReplicas: number;
  resumeWindowMs: number;
  resumeMaxAgeMs: number;
  verifierNice: number;
  maxLoginsInProgress: number;
}

type Kind =
  | { t: 'string' }
  | { t: 'path' }
  | { t: 'port' }
  | { t: 'adminPort' }
  | { t: 'int'; min: number; max: number }
  | { t: 'httpUrl' }
  | { t: 'template' }
  | { t: 'token' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'degasList' }
  | { t: 'originList' }
  | { t: 'proxyList' }
  | { t: 'keyList' }
  | { t: 'chainIdList' }
  | { t: 'natsList' }
  | { t: 'clusterName' }
  | { t: 'ethRpcList' };

interface OptionSpec {
  /** Flag name without the leading dashes. */
  flag: string;
  kind: Kind;
  /** Shown in --help after the flag. */
  arg: string;
  help: string;
  /** Shown in --help; undefined = none. */
  def?: string;
}

const MAX_MS = 2_147_483_647; // setTimeout's limit; longer delays fire at once
const ms = (min = 1): Kind => ({ t: 'int', min, max: MAX_MS });
const count = (min: number, max = Number.MAX_SAFE_INTEGER): Kind => ({ t: 'int', min, max });

/** Every option of the command, in --help order. */
export const OPTIONS: readonly OptionSpec[] = [
  { flag: 'config', kind: { t: 'path' }, arg: 'FILE', help: 'JSON file with camelCase keys of these options' },
  { flag: 'host', kind: { t: 'string' }, arg: 'ADDR', help: 'client WebSocket listen address', def: D.host },
  {
    flag: 'port',
    kind: { t: 'port' },
    arg: 'N',
    help: 'client WebSocket port, 0 = any free port',
    def: String(D.port),
  },
  { flag: 'admin-host', kind: { t: 'string' }, arg: 'ADDR', help: 'admin HTTP listen address', def: D.adminHost },
  {
    flag: 'admin-port',
    kind: { t: 'adminPort' },
    arg: 'N|off',
    help: 'admin HTTP port for /healthz /readyz /metrics /v1/degas; 0 = any free port, off = none',
    def: String(D.adminPort),
  },
  {
    flag: 'admin-token',
    kind: { t: 'token' },
    arg: 'TOKEN',
    help: "bearer token for the admin API's PUT/DELETE (without it they answer 403)",
  },
  {
    flag: 'accounts',
    kind: { t: 'path' },
    arg: 'FILE',
    help: 'account directory file (re-read on change)',
    def: './accounts.json',
  },
  { flag: 'accounts-rpc', kind: { t: 'httpUrl' }, arg: 'URL', help: 'JSON-RPC GetAccount endpoint instead of a file' },
  { flag: 'accounts-rpc-timeout-ms', kind: ms(), arg: 'N', help: 'timeout of one GetAccount call', def: '2000' },
  {
    flag: 'accounts-cache-ttl-ms',
    kind: ms(0),
    arg: 'N',
    help: 'how long GetAccount answers are cached, 0 = off',
    def: '5000',
  },
  {
    flag: 'degas',
    kind: { t: 'degasList' },
    arg: '0xID=URL',
    help: 'a Degas and its ws:// or wss:// URL (repeatable)',
  },
  {
    flag: 'degas-file',
    kind: { t: 'path' },
    arg: 'FILE',
    help: 'JSON {"degas":[{"id":"0x…","url":"ws://…","token":"…"}]}',
  },
  {
    flag: 'degas-url-template',
    kind: { t: 'template' },
    arg: 'T',
    help: 'URL for any other id; {id} = 32 hex digits, e.g. ws://degas-{id}.ns.svc:7000',
  },
  {
    flag: 'internal-token',
    kind: { t: 'token' },
    arg: 'TOKEN',
    help: 'bearer token sent to Degas instances that have none of their own',
  },
  {
    flag: 'auth-domain',
    kind: { t: 'string' },
    arg: 'NAME',
    help: 'EIP-712 domain name',
    def: '"Degas Authentication"',
  },
  {
    flag: 'auth-message',
    kind: { t: 'string' },
    arg: 'TEXT',
    help: 'human-readable prompt inside the challenge',
    def: 'built-in text',
  },
  {
    flag: 'auth-chain-id',
    kind: { t: 'chainIdList' },
    arg: 'ID',
    help: 'accept logins signed for this EIP-712 chain id only (repeatable; none = any)',
  },
  {
    flag: 'eth-rpc',
    kind: { t: 'ethRpcList' },
    arg: 'CHAINID=URL',
    help: 'Ethereum JSON-RPC endpoint enabling smart-contract wallet logins on that chain (repeatable)',
  },
  {
    flag: 'eth-rpc-concurrency',
    kind: count(1, 1024),
    arg: 'N',
    help: 'contract-wallet checks in flight per --eth-rpc endpoint',
    def: '8',
  },
  {
    flag: 'eth-rpc-timeout-ms',
    kind: ms(),
    arg: 'N',
    help: 'longest one --eth-rpc call may take (the eth_auth deadline also bounds it)',
    def: '5000',
  },
  {
    flag: 'hello-timeout-ms',
    kind: ms(),
    arg: 'N',
    help: 'deadline for hello after the upgrade',
    def: String(Limits.HELLO_TIMEOUT_MS),
  },
  {
    flag: 'auth-timeout-ms',
    kind: ms(),
    arg: 'N',
    help: 'deadline for eth_auth after auth_request',
    def: String(Limits.AUTH_TIMEOUT_MS),
  },
  {
    flag: 'ping-interval-ms',
    kind: ms(),
    arg: 'N',
    help: 'ping interval; the pong deadline is the next ping',
    def: String(Limits.PING_INTERVAL_MS),
  },
  {
    flag: 'rate-limit',
    kind: count(0),
    arg: 'N',
    help: 'client messages per second per connection, burst 2N, 0 = off',
    def: String(Limits.RATE_LIMIT),
  },
  {
    flag: 'rate-limit-grace-ms',
    kind: ms(),
    arg: 'N',
    help: 'time over the rate after the first drop before close 4008',
    def: String(Limits.RATE_LIMIT_GRACE_MS),
  },
  {
    flag: 'max-connections',
    kind: count(1),
    arg: 'N',
    help: 'refuse upgrades (HTTP 503) beyond this many connections',
    def: String(D.maxConnections),
  },
  {
    flag: 'max-pending-per-ip',
    kind: count(1),
    arg: 'N',
    help: 'unauthenticated connections per IP before HTTP 429',
    def: String(D.maxPendingPerIp),
  },
  {
    flag: 'handshake-rate',
    kind: count(0, 1_000_000),
    arg: 'N',
    help: 'upgrades per second per client IP, burst 2N, before HTTP 429; 0 = off',
    def: String(D.handshakeRate),
  },
  {
    flag: 'trusted-proxy',
    kind: { t: 'proxyList' },
    arg: 'ADDR',
    help: 'honour X-Forwarded-For from this proxy address or CIDR block (repeatable)',
  },
  {
    flag: 'allowed-origin',
    kind: { t: 'originList' },
    arg: 'ORIGIN',
    help: 'accept browser upgrades only from this origin (repeatable; none = any)',
  },
  {
    flag: 'send-buffer-limit',
    kind: count(1024),
    arg: 'BYTES',
    help: 'per-client send buffer before close 4009',
    def: String(Limits.SEND_BUFFER),
  },
  {
    flag: 'degas-queue-limit',
    kind: count(1024),
    arg: 'BYTES',
    help: 'per-Degas queue while dialing or congested',
    def: String(Limits.DEGAS_QUEUE),
  },
  {
    flag: 'dial-timeout-ms',
    kind: ms(),
    arg: 'N',
    help: 'time a dial to a Degas may take',
    def: String(D.dialTimeoutMs),
  },
  {
    flag: 'close-timeout-ms',
    kind: ms(),
    arg: 'N',
    help: 'wait for a close handshake before destroying the socket',
    def: String(D.closeTimeoutMs),
  },
  {
    flag: 'headers-timeout-ms',
    kind: ms(),
    arg: 'N',
    help: 'HTTP headers timeout of the upgrade request',
    def: String(D.headersTimeoutMs),
  },
  {
    flag: 'shutdown-timeout-ms',
    kind: ms(),
    arg: 'N',
    help: 'bound on a graceful shutdown (SIGTERM/SIGINT)',
    def: String(D.shutdownTimeoutMs),
  },
  {
    flag: 'verifier',
    kind: { t: 'enum', values: ['auto', 'native', 'noble'] },
    arg: 'auto|native|noble',
    help: 'signature verifier: libsecp256k1 addon or pure JS',
    def: 'auto',
  },
  {
    flag: 'verifier-threads',
    kind: count(1, 256),
    arg: 'N',
    help: 'signature verification worker threads',
    def: 'CPU cores',
  },
  {
    flag: 'nats',
    kind: { t: 'natsList' },
    arg: 'URL',
    help: 'join a cluster through this NATS server: nats:// or tls://, [user:pass@] (repeatable)',
    def: 'none = single node',
  },
  { flag: 'nats-creds', kind: { t: 'path' }, arg: 'FILE', help: 'NATS credentials file (JWT and nkey seed)' },
  {
    flag: 'cluster',
    kind: { t: 'clusterName' },
    arg: 'NAME',
    help: 'cluster name: prefix of its NATS subjects and KV bucket',
    def: NATS_DEFAULTS.cluster,
  },
  {
    flag: 'node-name',
    kind: { t: 'string' },
    arg: 'NAME',
    help: 'readable node name in logs and metrics',
    def: 'the host name',
  },
  {
    flag: 'kv-replicas',
    kind: count(1, 5),
    arg: 'N',
    help: "replicas of the cluster's KV bucket (3 on a NATS cluster)",
    def: String(NATS_DEFAULTS.kvReplicas),
  },
  {
    flag: 'resume-key',
    kind: { t: 'keyList' },
    arg: 'HEX',
    help: 'resume-ticket key, ≥ 32 bytes hex (repeatable: the first signs, all verify)',
    def: 'random (single node)',
  },
  {
    flag: 'resume-window-ms',
    kind: { t: 'int', min: 0, max: MAX_RESUME_WINDOW_MS },
    arg: 'N',
    help: 'how long after a drop a resume ticket works; 0 = resume off',
    def: String(D.resumeWindowMs),
  },
  {
    flag: 'resume-max-age-ms',
    kind: { t: 'int', min: 1, max: Number.MAX_SAFE_INTEGER },
    arg: 'N',
    help: 'longest chain of resumes after one wallet login',
    def: String(D.resumeMaxAgeMs),
  },
  {
    flag: 'verifier-nice',
    kind: count(0, 19),
    arg: 'N',
    help: "added to the verification threads' nice value (Linux), so forwarding wins the CPU; 0 = same as main",
    def: String(D.verifierNice),
  },
  {
    flag: 'max-logins-in-progress',
    kind: count(0),
    arg: 'N',
    help: 'most logins in progress; later connections wait unread until one ends; 0 = no bound',
    def: String(D.maxLoginsInProgress),
  },
  {
    flag: 'log-level',
    kind: { t: 'enum', values: ['debug', 'info', 'warn', 'error', 'silent'] },
    arg: 'LEVEL',
    help: 'debug, info, warn, error or silent',
    def: 'info',
  },
];

const byFlag = new Map(OPTIONS.map((o) => [o.flag, o]));

/** `--admin-port` → `DEGAS_ADMIN_PORT`. */
export function envName(flag: string): string {
  return `DEGAS_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** `--admin-port` → `adminPort` (the config file key). */
export function fileKey(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

const byFileKey = new Map(OPTIONS.filter((o) => o.flag !== 'config').map((o) => [fileKey(o.flag), o]));

/** A value as found in one source, before validation. */
type Raw = { value: unknown; label: string; baseDir: string };

/**
 * Splits argv into flag values. Accepts `--flag value` and `--flag=value`; repeatable flags
 * collect every value; anything else is a ConfigError.
 */
function parseArgv(argv: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      throw new ConfigError(arg, `unexpected argument ${show(arg)} (options start with --; see --help)`);
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const spec = byFlag.get(name);
    if (spec === undefined) throw new ConfigError(`--${name}`, `unknown option --${name} (see --help)`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new ConfigError(`--${name}`, `--${name}: missing value (${spec.arg})`);
      }
      value = next;
      i++;
    }
    const list = out.get(name);
    if (list === undefined) out.set(name, [value]);
    else if (isList(spec)) list.push(value);
    else throw new ConfigError(`--${name}`, `--${name}: given more than once`);
  }
  return out;
}

function isList(spec: OptionSpec): boolean {
  return (
    spec.kind.t === 'degasList' ||
    spec.kind.t === 'originList' ||
    spec.kind.t === 'proxyList' ||
    spec.kind.t === 'keyList' ||
    spec.kind.t === 'chainIdList' ||
    spec.kind.t === 'natsList' ||
    spec.kind.t === 'ethRpcList'
  );
}

/**
 * Reads and validates the configuration. `argv` excludes the node and script paths.
 * Throws {@link ConfigError} (one line, naming the flag) on any invalid input, including an
 * unreadable or invalid `--config` or `--degas-file`.
 * @example
 * const config = await loadConfig(['--port', '8080', '--degas', '0x…=ws://127.0.0.1:7000'], process.env);
 */
export async function loadConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { cwd?: string } = {},
): Promise<Config> {
  const cwd = options.cwd ?? process.cwd();
  const flags = parseArgv(argv);

  // The config file itself comes from a flag or the environment only.
  let configFile: string | undefined;
  const cfgFlag = flags.get('config')?.[0];
  const cfgEnv = nonEmpty(env[envName('config')]);
  const cfgRaw = cfgFlag ?? cfgEnv;
  const cfgLabel = cfgFlag !== undefined ? '--config' : `${envName('config')} (--config)`;
  let fileValues = new Map<string, unknown>();
  if (cfgRaw !== undefined) {
    if (cfgRaw === '') throw new ConfigError('--config', `${cfgLabel}: must not be empty`);
    configFile = resolvePath(cwd, cfgRaw);
    fileValues = await readConfigFile(configFile, cfgLabel);
  }

  const pick = (spec: OptionSpec): Raw | undefined => {
    const fromFlag = flags.get(spec.flag);
    if (fromFlag !== undefined) {
      return { value: isList(spec) ? fromFlag : fromFlag[0], label: `--${spec.flag}`, baseDir: cwd };
    }
    const e = nonEmpty(env[envName(spec.flag)]);
    if (e !== undefined) {
      return {
        value: isList(spec) ? e.split(/[\s,]+/).filter((s) => s !== '') : e,
        label: `${envName(spec.flag)} (--${spec.flag})`,
        baseDir: cwd,
      };
    }
    const key = fileKey(spec.flag);
    if (fileValues.has(key)) {
      return {
        value: fileValues.get(key),
        label: `${configFile} "${key}" (--${spec.flag})`,
        baseDir: dirname(configFile!),
      };
    }
    return undefined;
  };

  const get = <T>(flag: string, dflt: T): T | unknown => {
    const spec = byFlag.get(flag)!;
    const raw = pick(spec);
    if (raw === undefined) return dflt;
    return convert(spec, raw);
  };
  const str = (flag: string) => get(flag, undefined) as string | undefined;
  const num = (flag: string, dflt: number) => get(flag, dflt) as number;

  const accountsRpc = str('accounts-rpc');
  const accountsExplicit = pick(byFlag.get('accounts')!);
  if (accountsRpc !== undefined && accountsExplicit !== undefined) {
    throw new ConfigError('--accounts-rpc', `--accounts-rpc cannot be combined with ${accountsExplicit.label}`);
  }
  const degasFile = str('degas-file');
  let degasFileEntries: DegasConfigEntry[] = [];
  if (degasFile !== undefined) {
    try {
      degasFileEntries = await loadDegasFile(degasFile);
    } catch (err) {
      throw new ConfigError('--degas-file', `--degas-file: ${(err as Error).message}`);
    }
  }
  const degas = (get('degas', []) as DegasConfigEntry[]).slice();
  const seen = new Set<string>();
  for (const e of degas) {
    if (seen.has(idKey(e.id))) throw new ConfigError('--degas', `--degas: ${idToHex(e.id)} is given twice`);
    seen.add(idKey(e.id));
  }
  for (const e of degasFileEntries) {
    if (seen.has(idKey(e.id))) {
      throw new ConfigError('--degas-file', `--degas-file: ${idToHex(e.id)} is also given with --degas`);
    }
  }

  const nats = get('nats', []) as string[];
  const cluster = {
    nats,
    natsCreds: str('nats-creds'),
    cluster: get('cluster', NATS_DEFAULTS.cluster) as string,
    nodeName: str('node-name'),
    kvReplicas: num('kv-replicas', NATS_DEFAULTS.kvReplicas),
  };
  if (nats.length === 0) {
    for (const flag of ['nats-creds', 'cluster', 'node-name', 'kv-replicas']) {
      const raw = pick(byFlag.get(flag)!);
      if (raw !== undefined) throw new ConfigError(`--${flag}`, `${raw.label}: needs --nats (cluster mode)`);
    }
  }
  const ethRpc = get('eth-rpc', []) as { chainId: number; url: string }[];
  const chains = new Set<number>();
  for (const e of ethRpc) {
    if (chains.has(e.chainId)) throw new ConfigError('--eth-rpc', `--eth-rpc: chain ${e.chainId} is given twice`);
    chains.add(e.chainId);
  }

  return {
    configFile,
    host: get('host', '0.0.0.0') as string,
    port: num('port', D.port),
    adminHost: get('admin-host', D.adminHost) as string,
    adminPort: get('admin-port', D.adminPort) as number | false,
    accounts: get('accounts', resolvePath(cwd, 'accounts.json')) as string,
    accountsRpc,
    accountsRpcTimeoutMs: num('accounts-rpc-timeout-ms', 2000),
    accountsCacheTtlMs: num('accounts-cache-ttl-ms', 5000),
    degas,
    degasFile,
    degasFileEntries,
    degasUrlTemplate: str('degas-url-template'),
    internalToken: str('internal-token'),
    authDomain: str('auth-domain'),
    authMessage: str('auth-message'),
    authChainIds: [...new Set(get('auth-chain-id', []) as number[])],
    ethRpc,
    ethRpcConcurrency: num('eth-rpc-concurrency', 8),
    ethRpcTimeoutMs: num('eth-rpc-timeout-ms', 5000),
    helloTimeoutMs: num('hello-timeout-ms', Limits.HELLO_TIMEOUT_MS),
    authTimeoutMs: num('auth-timeout-ms', Limits.AUTH_TIMEOUT_MS),
    pingIntervalMs: num('ping-interval-ms', Limits.PING_INTERVAL_MS),
    rateLimit: num('rate-limit', Limits.RATE_LIMIT),
    rateLimitGraceMs: num('rate-limit-grace-ms', Limits.RATE_LIMIT_GRACE_MS),
    maxConnections: num('max-connections', D.maxConnections),
    maxPendingPerIp: num('max-pending-per-ip', D.maxPendingPerIp),
    handshakeRate: num('handshake-rate', D.handshakeRate),
    trustedProxies: get('trusted-proxy', []) as string[],
    allowedOrigins: get('allowed-origin', []) as string[],
    adminToken: str('admin-token'),
    logLevel: get('log-level', 'info') as LogLevel,
    sendBufferLimit: num('send-buffer-limit', Limits.SEND_BUFFER),
    degasQueueLimit: num('degas-queue-limit', Limits.DEGAS_QUEUE),
    dialTimeoutMs: num('dial-timeout-ms', D.dialTimeoutMs),
    closeTimeoutMs: num('close-timeout-ms', D.closeTimeoutMs),
    headersTimeoutMs: num('headers-timeout-ms', D.headersTimeoutMs),
    shutdownTimeoutMs: num('shutdown-timeout-ms', D.shutdownTimeoutMs),
    verifier: get('verifier', 'auto') as Config['verifier'],
    verifierThreads: get('verifier-threads', undefined) as number | undefined,
    resumeKeys: get('resume-key', []) as Uint8Array[],
    ...cluster,
    resumeWindowMs: num('resume-window-ms', D.resumeWindowMs),
    resumeMaxAgeMs: num('resume-max-age-ms', D.resumeMaxAgeMs),
    verifierNice: num('verifier-nice', D.verifierNice),
    maxLoginsInProgress: num('max-logins-in-progress', D.maxLoginsInProgress),
  };
}

function nonEmpty(v: string | undefined): string | undefined {
  // An empty variable (`DEGAS_ADMIN_TOKEN=` in a compose file) means "not set".
  return v === undefined || v === '' ? undefined : v;
}

async function readConfigFile(path: string, label: string): Promise<Map<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      '--config',
      `${label}: cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('--config', `${label}: ${path} is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(doc)) throw new ConfigError('--config', `${label}: ${path} must contain a JSON object`);
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(doc)) {
    if (!byFileKey.has(key)) {
      throw new ConfigError('--config', `${label}: ${path}: unknown key ${JSON.stringify(key.slice(0, 60))}`);
    }
    if (value !== null && value !== undefined) out.set(key, value);
  }
  return out;
}

/** Validates one raw value for `spec`; throws ConfigError naming `raw.label`. */
function convert(spec: OptionSpec, raw: Raw): unknown {
  const fail = (why: string): never => {
    throw new ConfigError(`--${spec.flag}`, `${raw.label}: ${why}`);
  };
  const k = spec.kind;
  const v = raw.value;
  const scalar = (): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && (k.t === 'int' || k.t === 'port' || k.t === 'adminPort')) return String(v);
    return fail(`expected ${k.t === 'int' || k.t === 'port' ? 'a number' : 'a string'}, got ${typeName(v)}`);
  };
  switch (k.t) {
    case 'string': {
      const s = scalar();
      if (s === '') fail('must not be empty');
      if (s.length > 4096) fail('must be at most 4096 characters');
      return s;
    }
    case 'path': {
      const s = scalar();
      if (s === '') fail('must not be empty');
      return resolvePath(raw.baseDir, s);
    }
    case 'port':
      return parseInteger(scalar(), 0, 65535, fail);
    case 'adminPort': {
      const s = scalar();
      if (s === 'off' || s === 'false') return false;
      return parseInteger(s, 0, 65535, fail, ' or "off"');
    }
    case 'int':
      return parseInteger(scalar(), k.min, k.max, fail);
    case 'httpUrl': {
      const s = scalar();
      if (!/^https?:\/\//i.test(s) || !URL.canParse(s)) fail(`expected an http:// or https:// URL, got ${show(s)}`);
      return s;
    }
    case 'template': {
      const s = scalar();
      try {
        createTemplateDegasDirectory(s);
      } catch (err) {
        fail((err as Error).message);
      }
      return s;
    }
    case 'token': {
      const s = scalar();
      try {
        return validateToken(s);
      } catch (err) {
        return fail((err as Error).message);
      }
    }
    case 'enum': {
      const s = scalar();
      if (!k.values.includes(s)) fail(`expected one of ${k.values.join(', ')}, got ${show(s)}`);
      if (spec.flag === 'log-level' && !isLogLevel(s)) fail(`unknown log level ${show(s)}`);
      return s;
    }
    case 'degasList': {
      const items = Array.isArray(v) ? v : fail(`expected a list of 0xID=URL, got ${typeName(v)}`);
      return items.map((item): DegasConfigEntry => {
        if (typeof item === 'string') {
          try {
            return parseDegasSpec(item);
          } catch (err) {
            return fail(`${show(item)}: ${(err as Error).message}`);
          }
        }
        // The config file may also use the --degas-file entry form.
        if (isPlainObject(item)) {
          try {
            const id = idFromHex(item.id as string);
            const url = validateDegasUrl(item.url);
            for (const key of Object.keys(item)) {
              if (key !== 'id' && key !== 'url' && key !== 'token')
                throw new TypeError(`unknown key ${JSON.stringify(key)}`);
            }
            return item.token === undefined ? { id, url } : { id, url, token: validateToken(item.token) };
          } catch (err) {
            return fail((err as Error).message);
          }
        }
        return fail(`expected "0xID=URL" or {"id","url","token"}, got ${typeName(item)}`);
      });
    }
    case 'originList': {
      const items = Array.isArray(v) ? v : fail(`expected a list of origins, got ${typeName(v)}`);
      return items.map((item) => {
        if (typeof item !== 'string') return fail(`expected an origin string, got ${typeName(item)}`);
        if (!URL.canParse(item)) return fail(`expected an origin like https://game.example, got ${show(item)}`);
        const origin = new URL(item).origin;
        // Browsers send the serialized origin: scheme://host[:port], no path, no trailing slash.
        if (origin === 'null' || origin !== item.toLowerCase()) {
          return fail(
            `expected an origin like https://game.example (scheme://host[:port], no path), got ${show(item)}`,
          );
        }
        return origin;
      });
    }
    case 'keyList': {
      // A single key may be given as a string in the config file.
      const items = typeof v === 'string' ? [v] : Array.isArray(v) ? v : fail(`expected hex keys, got ${typeName(v)}`);
      if (items.length > MAX_RESUME_KEYS) fail(`at most ${MAX_RESUME_KEYS} keys`);
      const seen = new Set<string>();
      return items.map((item, i) => {
        if (typeof item !== 'string') return fail(`key ${i + 1}: expected a hex string, got ${typeName(item)}`);
        let key: Uint8Array;
        try {
          key = parseResumeKey(item.trim());
        } catch (err) {
          // The message never contains the key (a secret).
          return fail(`key ${i + 1}: ${(err as Error).message}`);
        }
        const hex = Buffer.from(key).toString('hex');
        if (seen.has(hex)) return fail(`key ${i + 1} is given twice`);
        seen.add(hex);
        return key;
      });
    }
    case 'chainIdList': {
      const items = Array.isArray(v) ? v : fail(`expected a list of chain ids, got ${typeName(v)}`);
      return items.map((item) => {
        if (typeof item === 'number' && Number.isSafeInteger(item) && item >= 1) return item;
        if (typeof item !== 'string') return fail(`expected a chain id, got ${typeName(item)}`);
        return parseInteger(item, 1, Number.MAX_SAFE_INTEGER, fail);
      });
    }
    case 'natsList': {
      const items = typeof v === 'string' ? [v] : Array.isArray(v) ? v : fail(`expected NATS URLs, got ${typeName(v)}`);
      return items.map((item) => {
        if (typeof item !== 'string') return fail(`expected a NATS URL string, got ${typeName(item)}`);
        try {
          parseNatsServer(item);
        } catch (err) {
          // The message never repeats credentials: it names the URL only when it does not parse.
          return fail((err as Error).message.replace(/\/\/[^@/]*@/, '//***@'));
        }
        return item;
      });
    }
    case 'clusterName': {
      const name = scalar();
      if (!CLUSTER_NAME.test(name)) fail(`expected 1 to 64 letters, digits, "-" or "_", got ${show(name)}`);
      return name;
    }
    case 'ethRpcList': {
      // Never echo a URL: it often carries an API key.
      const items = Array.isArray(v) ? v : fail(`expected a list of CHAINID=URL, got ${typeName(v)}`);
      return items.map((item, i) => {
        let chain: unknown;
        let url: unknown;
        if (typeof item === 'string') {
          const eq = item.indexOf('=');
          if (eq < 0) return fail(`entry ${i + 1}: expected CHAINID=URL`);
          chain = item.slice(0, eq).trim();
          url = item.slice(eq + 1).trim();
        } else if (isPlainObject(item)) {
          for (const key of Object.keys(item)) {
            if (key !== 'chainId' && key !== 'url')
              return fail(`entry ${i + 1}: unknown key ${JSON.stringify(key.slice(0, 40))}`);
          }
          chain = item.chainId;
          url = item.url;
        } else return fail(`entry ${i + 1}: expected "CHAINID=URL" or {"chainId","url"}, got ${typeName(item)}`);
        let chainId: number;
        if (typeof chain === 'number' && Number.isSafeInteger(chain) && chain >= 1) chainId = chain;
        else if (typeof chain === 'string' && /^[1-9]\d{0,15}$/.test(chain) && Number.isSafeInteger(Number(chain))) {
          chainId = Number(chain);
        } else
          return fail(`entry ${i + 1}: the chain id must be a decimal integer from 1 to ${Number.MAX_SAFE_INTEGER}`);
        if (typeof url !== 'string' || !/^https?:\/\//i.test(url) || !URL.canParse(url)) {
          return fail(`chain ${chainId}: expected an http:// or https:// URL (not shown: it may contain a key)`);
        }
        return { chainId, url };
      });
    }
    case 'proxyList': {
      const items = Array.isArray(v) ? v : fail(`expected a list of addresses, got ${typeName(v)}`);
      return items.map((item) => {
        if (typeof item !== 'string') return fail(`expected an address string, got ${typeName(item)}`);
        try {
          parseProxySpec(item);
        } catch (err) {
          return fail((err as Error).message);
        }
        return item.trim();
      });
    }
  }
}

function parseInteger(s: string, min: number, max: number, fail: (why: string) => never, alt = ''): number {
  if (!/^-?\d+$/.test(s.trim())) fail(`expected an integer from ${min} to ${max}${alt}, got ${show(s)}`);
  const n = Number(s.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max)
    fail(`expected an integer from ${min} to ${max}${alt}, got ${show(s)}`);
  return n;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** What {@link buildGatewayOptions} creates; `close()` releases the directories (file watchers). */
export interface BuiltOptions {
  options: GatewayOptions;
  accounts: AccountDirectory;
  degas: DegasDirectory;
  close(): Promise<void>;
}

/**
 * Turns a {@link Config} into `startGateway` options: creates the account directory (the
 * `--accounts` file, watched, or the `--accounts-rpc` client) and the Degas directory (a static,
 * admin-mutable directory with `--degas` and `--degas-file` entries, followed by the
 * `--degas-url-template` one when given). A missing or invalid accounts file is a ConfigError.
 * @example
 * const { options, close } = await buildGatewayOptions(await loadConfig(argv, env), { logger });
 * const gateway = await startGateway(options);
 */
export async function buildGatewayOptions(config: Config, opts: { logger?: Logger } = {}): Promise<BuiltOptions> {
  const logger = opts.logger ?? silentLogger;
  let accounts: AccountDirectory & { close(): void };
  if (config.accountsRpc !== undefined) {
    accounts = createRpcAccountDirectory({
      url: config.accountsRpc,
      timeoutMs: config.accountsRpcTimeoutMs,
      cacheTtlMs: config.accountsCacheTtlMs,
      logger: logger.child({ component: 'accounts' }),
    });
  } else {
    try {
      accounts = await createFileAccountDirectory({
        path: config.accounts,
        logger: logger.child({ component: 'accounts' }),
      });
    } catch (err) {
      const hint =
        (err as { code?: string }).code === 'FILE_UNREADABLE'
          ? ' (create it with "degas-gateway accounts add --address 0x…")'
          : '';
      throw new ConfigError('--accounts', `--accounts: ${(err as Error).message}${hint}`);
    }
  }
  const staticDir = createStaticDegasDirectory([...config.degas, ...config.degasFileEntries]);
  const degas =
    config.degasUrlTemplate === undefined
      ? staticDir
      : chainDegasDirectories(staticDir, createTemplateDegasDirectory(config.degasUrlTemplate));

  const options: GatewayOptions = {
    host: config.host,
    port: config.port,
    adminHost: config.adminHost,
    adminPort: config.adminPort,
    accounts,
    degas,
    helloTimeoutMs: config.helloTimeoutMs,
    authTimeoutMs: config.authTimeoutMs,
    pingIntervalMs: config.pingIntervalMs,
    rateLimit: config.rateLimit,
    rateLimitGraceMs: config.rateLimitGraceMs,
    maxConnections: config.maxConnections,
    maxPendingPerIp: config.maxPendingPerIp,
    handshakeRate: config.handshakeRate,
    trustedProxies: config.trustedProxies,
    allowedOrigins: config.allowedOrigins,
    sendBufferLimit: config.sendBufferLimit,
    degasQueueLimit: config.degasQueueLimit,
    dialTimeoutMs: config.dialTimeoutMs,
    closeTimeoutMs: config.closeTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    verifier: config.verifier,
    resumeWindowMs: config.resumeWindowMs,
    resumeMaxAgeMs: config.resumeMaxAgeMs,
    verifierNice: config.verifierNice,
    maxLoginsInProgress: config.maxLoginsInProgress,
    logger,
  };
  if (config.resumeKeys.length > 0) options.resumeKeys = config.resumeKeys;
  if (config.nats.length > 0) {
    // Loads the NATS client now, and only in cluster mode.
    options.registry = await createNatsRegistry({
      servers: config.nats,
      credsFile: config.natsCreds,
      cluster: config.cluster,
      nodeName: config.nodeName,
      kvReplicas: config.kvReplicas,
      retainEndedMs: config.resumeWindowMs,
    });
  }
  if (config.adminToken !== undefined) options.adminToken = config.adminToken;
  if (config.internalToken !== undefined) options.internalToken = config.internalToken;
  if (config.authDomain !== undefined) options.authDomain = config.authDomain;
  if (config.authMessage !== undefined) options.authMessage = config.authMessage;
  if (config.authChainIds.length > 0) options.authChainIds = config.authChainIds;
  if (config.ethRpc.length > 0) {
    options.ethRpc = config.ethRpc;
    options.ethRpcConcurrency = config.ethRpcConcurrency;
    options.ethRpcTimeoutMs = config.ethRpcTimeoutMs;
  }
  if (config.verifierThreads !== undefined) options.verifierThreads = config.verifierThreads;
  let closed = false;
  return {
    options,
    accounts,
    degas,
    close: async () => {
      if (closed) return;
      closed = true;
      accounts.close();
      await degas.close?.();
    },
  };
}

/**
 * The `--help` text: every option on one line with its default.
 * @example
 * process.stdout.write(usage());
 */
export function usage(): string {
  const lines = OPTIONS.map((o) => {
    const left = `  --${o.flag} ${o.arg}`;
    const def = o.def === undefined ? '' : ` (default ${o.def})`;
    return `${left.padEnd(34)} ${o.help}${def}`;
  });
  return [
    'Usage: degas-gateway [--config FILE] [options]',
    '       degas-gateway accounts add --address 0x… [--accounts FILE] [--id 0x…]',
    '',
    'Relays messages between game clients (Ethereum login) and Degas servers.',
    'Each option can also be set as DEGAS_<OPTION> in the environment (e.g. DEGAS_ADMIN_TOKEN)',
    'or as a camelCase key in the --config file; flags win over the environment, which wins over the file.',
    '',
    'Options:',
    ...lines,
    `${'  --help'.padEnd(34)} print this help and exit`,
    `${'  --version'.padEnd(34)} print the version and exit`,
    '',
    'Exit codes: 0 clean shutdown, 1 runtime failure, 2 invalid configuration.',
    '',
  ].join('\n');
}
