// Starting and stopping the benchmark's processes: baseline servers and the echo Degas (forked,
// they report their port over IPC), the real gateway bin (spawned, its port is parsed from its
// "listening" log line) and load generators (forked, driven by request/response messages).
import { fork, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const SRC_DIR = join(here, '..');
export const REPO_DIR = join(SRC_DIR, '..', '..');
export let GATEWAY_BIN = join(REPO_DIR, 'packages', 'gateway', 'dist', 'bin.js');

/**
 * Benchmarks another build of the gateway (e.g. a copy of dist/ from before a change).
 * @param {string} path
 */
export function setGatewayBin(path) {
  GATEWAY_BIN = path;
}

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();

/** Kills every process this module started (used on errors and at exit). */
export function killAll() {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {}
  }
  live.clear();
}
process.on('exit', killAll);

/**
 * @param {import('node:child_process').ChildProcess} child
 * @param {number} [timeoutMs]
 */
export function stopProcess(child, timeoutMs = 10_000) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      resolve(undefined);
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      live.delete(child);
      resolve(undefined);
    });
    child.kill('SIGTERM');
  });
}

/**
 * Forks one of src/servers/*.js and waits for its port.
 * @param {string} name e.g. 'raw-echo'
 * @param {string[]} [args]
 * @param {string[]} [execArgv] node flags (default: this process's)
 * @param {string} [stdoutFile] append the server's stdout here (default: inherited)
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, pid: number, port: number, url: string }>}
 */
export function startServer(name, args = [], execArgv = process.execArgv, stdoutFile = undefined) {
  const stdout = stdoutFile ? openSync(stdoutFile, 'a') : 'inherit';
  const child = fork(join(SRC_DIR, 'servers', `${name}.js`), args, {
    stdio: ['ignore', stdout, 'inherit', 'ipc'],
    execArgv,
  });
  if (typeof stdout === 'number') closeSync(stdout);
  live.add(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)));
    child.on('message', (/** @type {any} */ m) => {
      if (m?.type === 'ready') {
        child.removeAllListeners('exit');
        resolve({
          child,
          pid: /** @type {number} */ (child.pid),
          port: m.port,
          url: `${scheme(args)}://127.0.0.1:${m.port}`,
        });
      }
    });
  });
}

/**
 * `wss` for a server started with `--tls-cert`, else `ws`.
 * @param {readonly string[]} args
 */
function scheme(args) {
  return args.includes('--tls-cert') ? 'wss' : 'ws';
}

/** Whether the gateway has been built. */
export function gatewayAvailable() {
  return existsSync(GATEWAY_BIN);
}

/**
 * Starts the real gateway bin.
 * @param {{ accountsFile: string, degasUrl: string, degasIdHex: string, nodeArgs?: string[], extraArgs?: string[],
 *   stdoutFile?: string | undefined, port?: number }} o (`port`: 0 = any free port, the default; a
 *   restart passes the port of the gateway it replaces)
 */
export function startGateway(o) {
  const args = [
    ...(o.nodeArgs ?? []),
    GATEWAY_BIN,
    '--host',
    '127.0.0.1',
    '--port',
    String(o.port ?? 0),
    '--admin-port',
    '0',
    '--accounts',
    o.accountsFile,
    '--degas',
    `${o.degasIdHex}=${o.degasUrl}`,
    '--rate-limit',
    '0',
    '--log-level',
    'info',
    ...(o.extraArgs ?? []),
  ];
  const stdout = o.stdoutFile ? openSync(o.stdoutFile, 'a') : 'ignore';
  const child = spawn(process.execPath, args, { stdio: ['ignore', stdout, 'pipe'] });
  if (typeof stdout === 'number') closeSync(stdout);
  live.add(child);
  /** @type {any[]} */
  const logLines = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    let settled = false;
    child.once('exit', (code) => {
      if (!settled)
        reject(
          new Error(
            `gateway exited with ${code} before listening:\n${buf}${logLines.map((l) => JSON.stringify(l)).join('\n')}`,
          ),
        );
    });
    /** @type {NodeJS.ReadableStream} */ (child.stderr).setEncoding('utf8');
    /** @type {NodeJS.ReadableStream} */ (child.stderr).on('data', (/** @type {string} */ chunk) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          if (line.trim()) logLines.push({ raw: line });
          continue;
        }
        if (logLines.length < 1000) logLines.push(rec);
        if (!settled && rec.msg === 'listening' && typeof rec.port === 'number') {
          settled = true;
          const adminPort = rec.adminPort ?? rec.admin_port;
          resolve({
            child,
            pid: /** @type {number} */ (child.pid),
            port: rec.port,
            adminPort,
            url: `${scheme(args)}://127.0.0.1:${rec.port}`,
            info: rec,
            logLines,
          });
        }
      }
    });
  });
}

/**
 * GETs the gateway's /metrics text.
 * @param {number} adminPort
 */
export async function fetchMetrics(adminPort) {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  return res.text();
}

/**
 * The verifier the gateway reports in /metrics (`degas_gateway_verifier_info{verifier="…"} 1`).
 * @param {string} text
 */
export function verifierFromMetrics(text) {
  const m = /degas_gateway_verifier_info\{[^}]*verifier="([a-z]+)"[^}]*\}\s+1/.exec(text);
  return m ? m[1] : 'unknown';
}

/**
 * A forked load generator.
 */
export class LoadGen {
  constructor() {
    this.child = fork(join(SRC_DIR, 'loadgen.js'), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    live.add(this.child);
    this.pid = /** @type {number} */ (this.child.pid);
    this.nextId = 1;
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.pending = new Map();
    this.child.on('message', (/** @type {any} */ m) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`load generator: ${m.error}`));
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited with ${code}`));
      this.pending.clear();
    });
  }

  /**
   * @param {string} cmd
   * @param {Record<string, unknown>} [args]
   * @returns {Promise<any>}
   */
  call(cmd, args = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, ...args });
    });
  }

  async stop() {
    await stopProcess(this.child, 5000);
  }
}

/**
 * The gateway main thread's event-loop delay and GC pauses (and expired login slots) over a window: call `start()` before
 * and `end()` after it. Each /metrics scrape resets the gateway's event-loop monitor, so the
 * delay figures cover exactly the window (sampled every 10 ms: how late a timer ran); the GC
 * figures are the difference of the pause histogram's sum and count (main thread only).
 * @param {number} adminPort
 */
export function loopWindow(adminPort) {
  /** @param {string} text */
  const gc = (text) => {
    let sum = 0;
    let count = 0;
    for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(sum|count)\{[^}]*\} ([0-9.e+-]+)$/gm)) {
      if (m[1] === 'sum') sum += Number(m[2]);
      else count += Number(m[2]);
    }
    return { sum, count };
  };
  /** @param {string} text @param {string} stat */
  const lag = (text, stat) => {
    const m = new RegExp(`^nodejs_eventloop_lag_${stat}_seconds ([0-9.e+-]+)$`, 'm').exec(text);
    return m ? Math.round(Number(m[1]) * 1e4) / 10 : null;
  };
  /** @param {string} text */
  const expired = (text) => {
    const m = /^degas_gateway_login_slots_expired_total ([0-9.e+-]+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  };
  /** @type {{ sum: number, count: number } | undefined} */
  let g0;
  let e0 = 0;
  return {
    async start() {
      const text = await fetchMetrics(adminPort);
      g0 = gc(text);
      e0 = expired(text);
    },
    async end() {
      const text = await fetchMetrics(adminPort);
      const g1 = gc(text);
      return {
        // With --max-logins-in-progress: slots whose client kept the gateway waiting past the deadline.
        login_slots_expired: expired(text) - e0,
        main_thread_loop_delay_p99_ms: lag(text, 'p99'),
        main_thread_loop_delay_max_ms: lag(text, 'max'),
        main_thread_gc_pauses: g0 ? g1.count - g0.count : null,
        main_thread_gc_pause_ms: g0 ? Math.round((g1.sum - g0.sum) * 1e4) / 10 : null,
      };
    },
  };
}
