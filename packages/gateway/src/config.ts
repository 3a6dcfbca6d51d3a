/**
 * Configuration of the `degas-gateway` command (ARCHITECTURE.md 3): flags > environment
 * (`DEGAS_*`) > `--config` file > defaults, validated once at start against the option schema
 * (options.ts, which declares every option). Every problem is a {@link ConfigError} with a
 * one-line message naming the flag and the source; the bin prints it and exits 2.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { idKey, idToHex } from '@degas/proto';
import { createFileAccountDirectory, createRpcAccountDirectory } from './accounts.js';
import { createNatsRegistry } from './cluster.js';
import {
  chainDegasDirectories,
  createStaticDegasDirectory,
  createTemplateDegasDirectory,
  isPlainObject,
  loadDegasFile,
  show,
} from './degas-directory.js';
import { GatewayError } from './errors.js';
import { type Logger, silentLogger } from './logger.js';
import {
  type CommandValues,
  type DegasConfigEntry,
  defaultText,
  GATEWAY_OPTIONS,
  OPTION_ROWS,
  type OptionRow,
} from './options.js';
import { loadTlsPair, TlsFileError } from './tls.js';
import type { AccountDirectory, DegasDirectory, GatewayOptions } from './types.js';

export type { DegasConfigEntry } from './options.js';

/**
 * Invalid command-line, environment or config-file input (code `CONFIG_INVALID`). `flag` is the
 * option concerned; the message is one line naming it and the source.
 */
export class ConfigError extends GatewayError<'CONFIG_INVALID'> {
  override name = 'ConfigError' as const;
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super('CONFIG_INVALID', message);
  }
}

/**
 * The validated configuration of one gateway process: every option of the schema (options.ts)
 * with its default filled in, plus what the command read from files.
 */
export type Config = CommandValues & {
  /** The config file read, if any (absolute path). */
  readonly configFile: string | undefined;
  /** Absolute path of the accounts file (default `./accounts.json`); unused with `accountsRpc`. */
  readonly accounts: string;
  /** Entries read from `degasFile`. */
  readonly degasFileEntries: readonly DegasConfigEntry[];
};

const byFlag = new Map(OPTION_ROWS.map((r) => [r.flag, r]));
const byName = new Map(OPTION_ROWS.map((r) => [r.name, r]));
const byConfigKey = new Map(OPTION_ROWS.filter((r) => r.configKey !== undefined).map((r) => [r.configKey!, r]));

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
    if (name === 'check-config') {
      if (eq >= 0) throw new ConfigError('--check-config', '--check-config takes no value');
      continue;
    }
    const row = byFlag.get(name);
    if (row === undefined) throw new ConfigError(`--${name}`, `unknown option --${name} (see --help)`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (row.spec.kind.switch === true) value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new ConfigError(`--${name}`, `--${name}: missing value (${row.spec.kind.arg})`);
      }
      value = next;
      i++;
    }
    const values = out.get(name);
    if (values === undefined) out.set(name, [value]);
    else if (row.spec.kind.repeatable === true) values.push(value);
    else throw new ConfigError(`--${name}`, `--${name}: given more than once`);
  }
  return out;
}

/** A value as found in one source, before validation. */
interface Raw {
  value: unknown;
  /** Names the source in messages: `--port`, `DEGAS_PORT (--port)`, `/etc/gw.json "port" (--port)`. */
  label: string;
  baseDir: string;
}

/** Converts and checks one raw value against its row; throws ConfigError naming the source. */
function convert(row: OptionRow, raw: Raw): unknown {
  const { kind } = row.spec;
  const fromText = (v: unknown) => (typeof v === 'string' && kind.fromText !== undefined ? kind.fromText(v) : v);
  try {
    // A list's fromText reads one item.
    const v = Array.isArray(raw.value) && kind.repeatable === true ? raw.value.map(fromText) : fromText(raw.value);
    return kind.check(v, raw.baseDir);
  } catch (err) {
    throw new ConfigError(`--${row.flag}`, `${raw.label}: ${(err as Error).message}`);
  }
}

/**
 * Reads and validates the configuration. `argv` excludes the node and script paths.
 * Throws {@link ConfigError} (one line, naming the flag and the source) on any invalid input,
 * including an unreadable or invalid `--config` or `--degas-file`.
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
  const configRow = byFlag.get('config')!;

  // The config file itself comes from a flag or the environment only.
  let configFile: string | undefined;
  let fileValues = new Map<string, unknown>();
  const cfgFlag = flags.get('config')?.[0];
  const cfgEnv = nonEmpty(env[configRow.env]);
  if (cfgFlag !== undefined || cfgEnv !== undefined) {
    const label = cfgFlag !== undefined ? '--config' : `${configRow.env} (--config)`;
    configFile = convert(configRow, { value: cfgFlag ?? cfgEnv, label, baseDir: cwd }) as string;
    fileValues = await readConfigFile(configFile, label);
  }

  /** The first source that sets `row`, or undefined. */
  const pick = (row: OptionRow): Raw | undefined => {
    const fromFlag = flags.get(row.flag);
    if (fromFlag !== undefined) {
      return {
        value: row.spec.kind.repeatable === true ? fromFlag : fromFlag[0],
        label: `--${row.flag}`,
        baseDir: cwd,
      };
    }
    const e = nonEmpty(env[row.env]);
    if (e !== undefined) {
      return {
        value: row.spec.kind.repeatable === true ? e.split(/[\s,]+/).filter((s) => s !== '') : e,
        label: `${row.env} (--${row.flag})`,
        baseDir: cwd,
      };
    }
    if (row.configKey !== undefined && fileValues.has(row.configKey)) {
      return {
        value: fileValues.get(row.configKey),
        label: `${configFile} "${row.configKey}" (--${row.flag})`,
        baseDir: dirname(configFile!),
      };
    }
    return undefined;
  };

  const values: Record<string, unknown> = { configFile };
  const given = new Map<string, Raw>();
  for (const row of OPTION_ROWS) {
    if (row.name === 'config') continue;
    const raw = pick(row);
    if (raw === undefined) values[row.name] = row.spec.default;
    else {
      given.set(row.name, raw);
      values[row.name] = convert(row, raw);
    }
  }

  // Contradictions between options.
  const rpc = given.get('accountsRpc');
  const accounts = given.get('accounts');
  if (rpc !== undefined && accounts !== undefined) {
    throw new ConfigError('--accounts-rpc', `${rpc.label} cannot be combined with ${accounts.label}`);
  }
  values.accounts ??= resolvePath(cwd, 'accounts.json');
  if (values.nats === undefined) {
    for (const name of ['natsCreds', 'cluster', 'nodeName', 'kvReplicas']) {
      const raw = given.get(name);
      if (raw !== undefined)
        throw new ConfigError(`--${byName.get(name)!.flag}`, `${raw.label}: needs --nats (cluster mode)`);
    }
  }

  const tlsCert = given.get('tlsCert');
  const tlsKey = given.get('tlsKey');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    const [has, lacks] = tlsCert === undefined ? [tlsKey!, '--tls-cert'] : [tlsCert, '--tls-key'];
    throw new ConfigError(lacks, `${has.label}: needs ${lacks} too`);
  }
  const adminTls = given.get('adminTls');
  if (values.adminTls === true && tlsCert === undefined) {
    throw new ConfigError(
      '--admin-tls',
      `${adminTls!.label}: needs --tls-cert and --tls-key (the certificate it serves)`,
    );
  }

  let degasFileEntries: DegasConfigEntry[] = [];
  if (values.degasFile !== undefined) {
    try {
      degasFileEntries = await loadDegasFile(values.degasFile as string);
    } catch (err) {
      throw new ConfigError('--degas-file', `${given.get('degasFile')!.label}: ${(err as Error).message}`);
    }
  }
  const seen = new Set<string>();
  for (const e of values.degas as readonly DegasConfigEntry[]) {
    if (seen.has(idKey(e.id))) throw new ConfigError('--degas', `--degas: ${idToHex(e.id)} is given twice`);
    seen.add(idKey(e.id));
  }
  for (const e of degasFileEntries) {
    if (seen.has(idKey(e.id))) {
      throw new ConfigError('--degas-file', `--degas-file: ${idToHex(e.id)} is also given with --degas`);
    }
  }
  values.degasFileEntries = degasFileEntries;
  return values as Config;
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
    if (!byConfigKey.has(key)) {
      throw new ConfigError('--config', `${label}: ${path}: unknown key ${JSON.stringify(key.slice(0, 60))}`);
    }
    if (value !== null && value !== undefined) out.set(key, value);
  }
  return out;
}

/** What {@link buildGatewayOptions} creates; `close()` releases the directories (file watchers). */
export interface BuiltOptions {
  options: GatewayOptions;
  accounts: AccountDirectory;
  degas: DegasDirectory;
  close(): Promise<void>;
}

/**
 * Turns a {@link Config} into `startGateway` options: every `startGateway` option of the schema
 * as configured, plus the account directory (the `--accounts` file, watched, or the
 * `--accounts-rpc` client) and the Degas directory (a static, admin-mutable directory with
 * `--degas` and `--degas-file` entries, followed by the `--degas-url-template` one when given).
 * A missing or invalid accounts file is a ConfigError.
 * @example
 * const { options, close } = await buildGatewayOptions(await loadConfig(argv, env), { logger });
 * const gateway = await startGateway(options);
 */
export async function buildGatewayOptions(config: Config, opts: { logger?: Logger } = {}): Promise<BuiltOptions> {
  const logger = opts.logger ?? silentLogger;
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    // Checked here so that a missing or mismatched file is a one-line usage error (exit 2).
    try {
      await loadTlsPair(config.tlsCert, config.tlsKey);
    } catch (err) {
      if (!(err instanceof TlsFileError)) throw err;
      const flag = err.problem === 'key' ? '--tls-key' : '--tls-cert';
      throw new ConfigError(flag, `${flag}: ${err.message}`);
    }
  }
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
        (err as { code?: string }).code === 'ACCOUNTS_FILE_UNREADABLE'
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

  const schemaOptions: Record<string, unknown> = {};
  for (const name of Object.keys(GATEWAY_OPTIONS)) {
    const v = (config as Record<string, unknown>)[name];
    if (v !== undefined) schemaOptions[name] = v;
  }
  const options: GatewayOptions = { ...schemaOptions, accounts, degas, logger };
  if (config.nats !== undefined) {
    // Loads the NATS client now, and only in cluster mode.
    options.registry = await createNatsRegistry({
      servers: [...config.nats],
      credsFile: config.natsCreds,
      cluster: config.cluster,
      nodeName: config.nodeName,
      kvReplicas: config.kvReplicas,
      retainEndedMs: config.resumeWindowMs,
    });
  }
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
 * The `--help` text: every option of the schema on one line with its default.
 * @example
 * process.stdout.write(usage());
 */
export function usage(): string {
  const line = (left: string, help: string) => `${left.padEnd(34)} ${help}`;
  const lines = OPTION_ROWS.map((r) => {
    const def = defaultText(r.spec);
    return line(
      `  --${r.flag}${r.spec.kind.arg === '' ? '' : ` ${r.spec.kind.arg}`}`,
      `${r.spec.help}${def === undefined ? '' : ` (default ${def})`}`,
    );
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
    line('  --check-config', 'validate the configuration (and the files it names), then exit 0 or 2'),
    line('  --help', 'print this help and exit'),
    line('  --version', 'print the version and exit'),
    '',
    'Exit codes: 0 clean shutdown, 1 runtime failure, 2 invalid configuration.',
    '',
  ].join('\n');
}
