/**
 * The `degas-gateway` command: argument handling, `accounts add`, and running a gateway until
 * SIGTERM/SIGINT. `bin.ts` only calls {@link main}; tests call it or spawn the bin.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { addAccount } from './accounts.js';
import type { ClusterRegistry } from './cluster.js';
import { buildGatewayOptions, loadConfig, usage } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { resolveGatewayOptions } from './options.js';

/** Where the command writes; replaceable for tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Exit codes of the command. */
export const ExitCode = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/**
 * The exit code for an error that stopped the command, by its stable `code`: 2 for what the
 * operator fixes in the configuration (the gateway's configuration, TLS file, chain and verifier codes,
 * and Node's codes for a listen address that is taken, absent or not allowed), 1 for anything else.
 * @example
 * exitCodeOf(new ConfigError('--port', '--port: must be a number')) // 2
 */
export function exitCodeOf(err: unknown): number {
  switch ((err as { code?: unknown } | null | undefined)?.code) {
    case 'CONFIG_INVALID':
    case 'TLS_FILE_INVALID':
    case 'ETH_RPC_CHAIN_MISMATCH':
    case 'VERIFIER_UNAVAILABLE':
    case 'EADDRINUSE':
    case 'EADDRNOTAVAIL':
    case 'EACCES':
      return ExitCode.USAGE;
    default:
      return ExitCode.FAILURE;
  }
}

/** The option an `accounts add` error is about, by its stable code. */
function accountsFlagOf(err: unknown): string {
  switch ((err as { code?: unknown } | null | undefined)?.code) {
    case 'INVALID_ADDRESS':
    case 'INVALID_CHECKSUM':
      return '--address';
    case 'INVALID_ID':
    case 'DUPLICATE_ACCOUNT_ID':
      return '--id';
    default:
      return '--accounts';
  }
}

/** One line of an error's message. */
function oneLine(err: unknown): string {
  return ((err as Error | undefined)?.message ?? String(err)).replace(/[\r\n]+/g, ' ');
}

/** The package version, read from package.json next to dist/ (or src/). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

type GatewayHandleLike = Awaited<ReturnType<typeof import('./gateway.js').startGateway>>;

/** How long the start waits for the cluster join before logging `listening` anyway. */
const CLUSTER_JOIN_WAIT_MS = 5000;

const ACCOUNTS_USAGE = 'Usage: degas-gateway accounts add --address 0x… [--accounts FILE] [--id 0x…]\n';

/**
 * Runs the command and resolves with the process exit code: 0 after a clean shutdown (or
 * --help, --version, accounts add), 1 after a runtime failure, 2 for invalid input. In gateway
 * mode it resolves only once the gateway has shut down after SIGTERM/SIGINT.
 * @example
 * main(process.argv.slice(2), process.env).then((code) => process.exit(code));
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo = defaultIo): Promise<number> {
  if (argv[0] === 'accounts') return accountsCommand(argv.slice(1), env, io);
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(usage());
    return ExitCode.OK;
  }
  if (argv.includes('--version') || argv.includes('-V')) {
    io.stdout(`${version()}\n`);
    return ExitCode.OK;
  }
  const checkOnly = argv.includes('--check-config');
  let built: Awaited<ReturnType<typeof buildGatewayOptions>>;
  let logger: Logger;
  try {
    const config = await loadConfig(argv, env);
    logger = createLogger({ level: checkOnly ? 'silent' : config.logLevel, write: io.stderr });
    built = await buildGatewayOptions(config, { logger });
  } catch (err) {
    if (exitCodeOf(err) !== ExitCode.USAGE) throw err;
    io.stderr(`degas-gateway: ${oneLine(err)}\n`);
    return ExitCode.USAGE;
  }
  // startGateway's own check, which the schema makes agree with the command's: a value it
  // refuses is a configuration error here too, never a runtime failure.
  try {
    resolveGatewayOptions(built.options);
  } catch (err) {
    await built.close();
    io.stderr(`degas-gateway: ${oneLine(err)}\n`);
    return ExitCode.USAGE;
  }
  if (checkOnly) {
    await built.close();
    io.stdout('configuration ok\n');
    return ExitCode.OK;
  }
  return run(built, logger, io);
}

async function run(built: Awaited<ReturnType<typeof buildGatewayOptions>>, logger: Logger, io: CliIo): Promise<number> {
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => {
    resolveExit = r;
  });

  // Never keep running in a state nobody planned for: log and exit 1.
  const fatal = (kind: string) => (err: unknown) => {
    logger.error(kind, {
      error: err instanceof Error ? err.message : String(err),
      stack: err instanceof Error ? err.stack : undefined,
    });
    resolveExit(ExitCode.FAILURE);
  };
  const onException = fatal('uncaught exception');
  const onRejection = fatal('unhandled rejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);

  let handle: GatewayHandleLike;
  try {
    // Loaded here, not at the top: --help, --version and accounts add should not pay for it.
    const { startGateway } = await import('./gateway.js');
    handle = await startGateway(built.options);
  } catch (err) {
    io.stderr(`degas-gateway: cannot start: ${oneLine(err)}\n`);
    await built.close();
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
    // A port in use, a bad address, an unusable TLS file or an --eth-rpc endpoint that serves
    // another chain is a configuration problem; anything else is a failure.
    return exitCodeOf(err);
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn('second signal: exiting now', { signal });
      resolveExit(ExitCode.FAILURE);
      return;
    }
    logger.info('shutting down', { signal });
    const limit = (built.options.shutdownTimeoutMs ?? 10_000) + 5_000;
    const timer = setTimeout(() => {
      logger.error('shutdown did not finish in time', { ms: limit });
      resolveExit(ExitCode.FAILURE);
    }, limit);
    timer.unref();
    handle
      .close()
      .then(() => built.close())
      .then(
        () => {
          clearTimeout(timer);
          logger.info('stopped');
          resolveExit(ExitCode.OK);
        },
        (err: unknown) => {
          clearTimeout(timer);
          logger.error('shutdown failed', { error: err instanceof Error ? err.message : String(err) });
          resolveExit(ExitCode.FAILURE);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  // In a cluster, say which NATS server the node joined (waiting a little for the join; an
  // unreachable bus is logged by the registry and the node keeps trying in the background).
  let cluster: Record<string, string | null> = {};
  const registry = built.options.registry as ClusterRegistry | undefined;
  if (registry?.kind === 'nats') {
    const up = await registry.whenUp(CLUSTER_JOIN_WAIT_MS);
    cluster = { cluster: registry.cluster, node: registry.nodeName, nats: up ? registry.joined : null };
  }
  // Only now: a supervisor may send SIGTERM the moment it reads this line, and before the
  // handlers above are installed that signal would kill the process without a drain.
  logger.info('listening', {
    ...cluster,
    port: handle.port,
    adminPort: handle.adminPort ?? null,
    host: built.options.host,
    verifier: handle.verifier,
    verifierThreads: handle.snapshot().verifierThreads,
    verifierNice: handle.snapshot().verifierNice,
    masking: handle.masking,
    accounts: 'reload' in built.accounts ? 'file' : 'rpc',
    version: version(),
    pid: process.pid,
  });

  const code = await exited;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.off('uncaughtException', onException);
  process.off('unhandledRejection', onRejection);
  return code;
}

async function accountsCommand(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    io.stdout(ACCOUNTS_USAGE);
    return argv.length === 0 ? ExitCode.USAGE : ExitCode.OK;
  }
  const fail = (msg: string) => {
    io.stderr(`degas-gateway: ${msg.replace(/[\r\n]+/g, ' ')}\n`);
    return ExitCode.USAGE;
  };
  if (argv[0] !== 'add') return fail(`accounts: unknown subcommand ${JSON.stringify(argv[0])} (expected "add")`);
  const values = new Map<string, string>();
  const rest = argv.slice(1);
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (name !== '--address' && name !== '--accounts' && name !== '--id') {
      return fail(
        `accounts add: unknown option ${JSON.stringify(name.slice(0, 60))} (expected --address, --accounts, --id)`,
      );
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = rest[i + 1];
      i++;
    }
    if (value === undefined || value === '') return fail(`accounts add: ${name}: missing value`);
    if (values.has(name)) return fail(`accounts add: ${name}: given more than once`);
    values.set(name, value);
  }
  const address = values.get('--address');
  if (address === undefined) return fail('accounts add: --address is required');
  const path = resolvePath(values.get('--accounts') ?? (env.DEGAS_ACCOUNTS || 'accounts.json'));
  const id = values.get('--id');
  try {
    const result = await addAccount(id === undefined ? { path, address } : { path, address, id });
    if (result.created) io.stderr(`degas-gateway: created ${path}\n`);
    io.stdout(`${result.id}\n`);
    return ExitCode.OK;
  } catch (err) {
    // By the stable codes of AuthEthError, InvalidIdError and AccountDirectoryError.
    return fail(`accounts add: ${accountsFlagOf(err)}: ${oneLine(err)}`);
  }
}
