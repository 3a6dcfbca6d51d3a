/**
 * Runs a real `nats-server` (Debian's package, or any on PATH) with JetStream on a port the OS
 * picks, for cluster tests. The port is read from the ports file the server writes
 * (`--ports_file_dir`), so nothing races for a fixed port. `kill()` and `restart()` let a test
 * take the bus away and bring it back on the same port with the same store.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deferred, until, within } from './wait.js';

/** A running nats-server. */
export interface NatsServer {
  /** Client port (stays the same across `restart`). */
  readonly port: number;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** The JetStream store directory (kept across restarts, removed by `stop`). */
  readonly storeDir: string;
  /** The current process. */
  readonly proc: ChildProcess;
  /** Kills the server (SIGKILL by default) and waits for it to exit. The store is kept. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same store; resolves once it accepts clients. */
  restart(): Promise<void>;
  /** Kills it and removes its directories. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** The executable. Default `nats-server` (on PATH; Debian installs it in /usr/sbin). */
  bin?: string;
  /** Extra arguments (e.g. `--user a --pass b`). */
  args?: readonly string[];
  /** Bound on the start. Default 15000. */
  timeoutMs?: number;
}

/** Finds `nats-server` on PATH or in /usr/sbin (not on a user's PATH on Debian). */
export function natsServerBin(): string | undefined {
  for (const candidate of ['nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server']) {
    const r = spawnSync(candidate, ['--version'], { stdio: 'ignore' });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

function launch(
  bin: string,
  port: number,
  storeDir: string,
  portsDir: string,
  args: readonly string[],
): { proc: ChildProcess; exited: Promise<void>; output: string[] } {
  const proc = spawn(
    bin,
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '--ports_file_dir', portsDir, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  proc.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return { proc, exited, output };
}

/** Reads the client port from `<dir>/nats-server_<pid>.ports` (JSON with `nats: ["nats://host:port"]`). */
function readPort(portsDir: string, pid: number): number | undefined {
  const file = readdirSync(portsDir).find((f) => f === `nats-server_${pid}.ports`);
  if (file === undefined) return undefined;
  try {
    const ports = JSON.parse(readFileSync(join(portsDir, file), 'utf8')) as { nats?: string[] };
    const m = /:(\d+)$/.exec(ports.nats?.[0] ?? '');
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined; // written but not complete yet
  }
}

/** Resolves once a TCP client gets the server's INFO line. */
async function accepting(port: number, timeoutMs: number): Promise<void> {
  const { connect } = await import('node:net');
  await until(
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect({ host: '127.0.0.1', port });
        s.once('data', (d) => {
          s.destroy();
          resolve(d.toString().startsWith('INFO'));
        });
        s.once('error', () => resolve(false));
      }),
    timeoutMs,
    `nats-server to accept on port ${port}`,
    50,
  );
}

/**
 * Starts `nats-server -a 127.0.0.1 -p -1 -js -sd <tmp> --ports_file_dir <tmp>` and resolves once
 * it accepts clients. Always `stop()` it in teardown.
 * @example
 * const nats = await startNatsServer();
 * const gw = await spawnGateway(['--nats', nats.url, ...]);
 * await nats.kill(); await nats.restart();
 * await nats.stop();
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = options.bin ?? natsServerBin();
  if (bin === undefined) {
    throw new Error('nats-server not found: install it (Debian: apt-get install nats-server)');
  }
  const timeoutMs = options.timeoutMs ?? 15_000;
  const args = options.args ?? [];
  const root = mkdtempSync(join(tmpdir(), 'degas-nats-'));
  const storeDir = join(root, 'store');
  const portsDir = root;
  let current = launch(bin, -1, storeDir, portsDir, args);
  const failed = deferred<never>();
  // Observed by the races below; the process exiting later (kill) must not be an unhandled rejection.
  failed.promise.catch(() => {});
  void current.exited.then(() =>
    failed.reject(new Error(`nats-server exited during start:\n${current.output.join('')}`)),
  );
  let port: number;
  try {
    const pid = current.proc.pid as number;
    port = await within(
      timeoutMs,
      Promise.race([until(() => readPort(portsDir, pid), timeoutMs, 'the nats-server ports file', 20), failed.promise]),
      'nats-server to start',
    );
    await within(timeoutMs, Promise.race([accepting(port, timeoutMs), failed.promise]), 'nats-server to accept');
  } catch (err) {
    current.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const c = current;
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill(signal);
    await c.exited;
  };
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    get proc() {
      return current.proc;
    },
    kill,
    async restart() {
      await kill();
      current = launch(bin, port, storeDir, portsDir, args);
      const c = current;
      const died = c.exited.then(() => {
        throw new Error(`nats-server exited during restart:\n${c.output.join('')}`);
      });
      died.catch(() => {});
      await within(timeoutMs, Promise.race([accepting(port, timeoutMs), died]), 'nats-server to restart');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
