/**
 * Runs the real `degas-gateway` bin as a child process on port 0 and waits for its "listening"
 * log line, which carries the ports it actually bound.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { idToHex } from '@degas/proto';
import { deferred, within } from './wait.js';

/**
 * The `degas-gateway` bin, resolved through the `@degas/gateway` package as seen from `from` (a
 * file URL or path; default: the package whose tests run, i.e. the working directory). That
 * package must have `@degas/gateway` as a (dev) dependency, or be the gateway itself. test-utils
 * does not depend on the gateway: the gateway's own tests use test-utils.
 * @example
 * const bin = gatewayBin(import.meta.url);
 */
export function gatewayBin(from: string | URL = pathToFileURL(join(process.cwd(), 'package.json'))): string {
  const manifest = createRequire(from).resolve('@degas/gateway/package.json');
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: Record<string, string> };
  const rel = bin?.['degas-gateway'];
  if (rel === undefined) throw new Error(`${manifest} declares no degas-gateway bin`);
  return join(dirname(manifest), rel);
}

/**
 * The value of `--degas` for a Degas: `<id hex>=<url>`.
 * @example
 * await spawnGateway(['--accounts', file, '--degas', degasFlag(degas)]);
 */
export function degasFlag(degas: { degasId: Uint8Array; url: string }): string {
  return `${idToHex(degas.degasId)}=${degas.url}`;
}

/** How a run of the bin ended, with everything it printed. */
export interface BinRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the gateway bin to completion (`--help`, `--check-config`, `accounts add`, a failing
 * start) with a clean environment: only PATH and `env`, so no DEGAS_* variable of the test run
 * leaks in. Killed after `timeoutMs` (then `code` is null).
 * @example
 * const r = await runGatewayBin(['--ping-interval-ms', '5']);
 * expect(r.code).toBe(2);
 */
export function runGatewayBin(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; bin?: string; timeoutMs?: number } = {},
): Promise<BinRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [options.bin ?? gatewayBin(), ...args], {
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 10_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** A running gateway process. */
export interface SpawnedGateway {
  port: number;
  adminPort: number;
  proc: ChildProcess;
  /** Every stderr line so far (JSON log lines and anything else). */
  stderrLines: string[];
  stdoutLines: string[];
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `node dist/bin.js --port 0 --admin-port 0 --host 127.0.0.1 ...args` (each default left out
 * when `args` gives that flag) and resolves once it logs
 * `{"msg":"listening","port":…,"adminPort":…}`. Rejects (and kills it) if it exits first or
 * does not get there within `timeoutMs`.
 * @example
 * const gw = await spawnGateway(['--accounts', file, '--degas', `${id}=${url}`]);
 * gw.kill('SIGTERM'); expect((await gw.exited()).code).toBe(0);
 */
export async function spawnGateway(
  args: readonly string[],
  options: {
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    nodeArgs?: readonly string[];
    /** The bin to run; default {@link gatewayBin}(). */
    bin?: string;
  } = {},
): Promise<SpawnedGateway> {
  const proc = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      options.bin ?? gatewayBin(),
      // Defaults that `args` may override (a restart on the same port, for example).
      ...(args.some((a) => a === '--port' || a.startsWith('--port=')) ? [] : ['--port', '0']),
      ...(args.some((a) => a === '--admin-port' || a.startsWith('--admin-port=')) ? [] : ['--admin-port', '0']),
      ...(args.some((a) => a === '--host' || a.startsWith('--host=')) ? [] : ['--host', '127.0.0.1']),
      ...args,
    ],
    { env: { ...process.env, NODE_OPTIONS: '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stderrLines: string[] = [];
  const stdoutLines: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const exit = deferred<{ code: number | null; signal: NodeJS.Signals | null }>();
  proc.on('exit', (code, signal) => exit.resolve({ code, signal }));
  const listening = deferred<{ port: number; adminPort: number }>();
  const onLine = (line: string) => {
    stderrLines.push(line);
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof obj !== 'object' || obj === null) return;
    const rec = obj as Record<string, unknown>;
    logs.push(rec);
    if (rec.msg === 'listening' && typeof rec.port === 'number') {
      listening.resolve({ port: rec.port, adminPort: typeof rec.adminPort === 'number' ? rec.adminPort : -1 });
    }
  };
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', onLine);
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    stdoutLines.push(l);
    onLine(l);
  });
  void exit.promise.then(({ code, signal }) =>
    listening.reject(
      new Error(`gateway exited (code ${code}, signal ${signal}) before listening:\n${stderrLines.join('\n')}`),
    ),
  );
  let ports: { port: number; adminPort: number };
  try {
    ports = await within(options.timeoutMs ?? 10_000, listening.promise, 'the gateway to log "listening"');
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  return {
    ...ports,
    proc,
    stderrLines,
    stdoutLines,
    logs,
    kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    exited(ms = 15_000) {
      return within(ms, exit.promise, 'the gateway process to exit');
    },
  };
}
