// Scenario 5: what one login costs the server's main thread, counted rather than timed, so that
// it holds on a loaded machine: system calls (strace -c attached to the main thread only), bytes
// allocated on the main thread's V8 heap (the `allocated=` of --trace-gc-nvp, summed over the
// storm), and CPU time of the main thread and of the whole process. The same storm (no calm
// clients) runs against the gateway and against the raw ws server of `raw_storm` (connect + 2
// echoed frames). A warm-up storm of the same size runs first and is not counted.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEGAS_ID_HEX, writeAccountsFile } from '../lib/keys.js';
import { round1 } from '../lib/measure.js';
import { localAddresses } from '../lib/net.js';
import { LoadGen, startGateway, startServer, stopProcess } from '../lib/procs.js';
import { cpuSeconds, sampleProc, sampleThread } from '../lib/procstat.js';
import { round3 } from '../lib/stats.js';

/** @typedef {{ logins: number, strace: boolean }} CostConfig */

function straceAvailable() {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Attaches `strace -c` to one thread; `stop()` detaches and returns calls per syscall name.
 * @param {number} tid
 * @param {string} file
 */
async function straceThread(tid, file) {
  const child = spawn('strace', ['-c', '-U', 'name,calls,errors', '-p', String(tid), '-o', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // strace reports "Process N attached" on stderr once it is in place.
  await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`strace exited with ${code}`)));
    child.stderr.on('data', (d) => {
      if (String(d).includes('attached')) resolve(undefined);
    });
  });
  return {
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
      /** @type {Record<string, number>} */
      const calls = {};
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const m = /^\s*([a-z_0-9]+)\s+(\d+)/.exec(line);
        if (m && m[1] !== 'total' && m[1] !== 'syscall') calls[/** @type {string} */ (m[1])] = Number(m[2]);
      }
      return calls;
    },
  };
}

/**
 * Bytes allocated between two offsets of a --trace-gc-nvp log, by the main thread (the isolate
 * that allocated most) and by all other isolates (the verifier threads) together.
 * @param {string} file
 * @param {number} from
 * @param {number} to
 */
function allocatedBetween(file, from, to) {
  /** @type {Map<string, number>} */
  const byIsolate = new Map();
  for (const line of readFileSync(file, 'utf8').slice(from, to).split('\n')) {
    const m = /^\[\d+:(0x[0-9a-f]+)\].* allocated=(\d+)/.exec(line);
    if (m)
      byIsolate.set(/** @type {string} */ (m[1]), (byIsolate.get(/** @type {string} */ (m[1])) ?? 0) + Number(m[2]));
  }
  const sorted = [...byIsolate.values()].sort((a, b) => b - a);
  return { main: sorted[0] ?? 0, others: sorted.slice(1).reduce((a, b) => a + b, 0) };
}

/**
 * @param {LoadGen[]} lgs
 * @param {number} first
 * @param {number} count
 * @param {Record<string, unknown>} args
 */
async function storm(lgs, first, count, args) {
  const per = Math.ceil(count / lgs.length);
  await Promise.all(
    lgs.map((l, k) =>
      l.call('prepare', {
        ...args,
        first: first + k * per,
        count: Math.min(per, count - k * per),
        localAddresses: localAddresses(200),
      }),
    ),
  );
  const results = await Promise.all(lgs.map((l) => l.call('connect', { concurrency: 1_000_000 })));
  let ok = 0;
  for (const r of results) ok += r.connected;
  for (const l of lgs) await l.call('close');
  return ok;
}

/**
 * @param {CostConfig} cfg
 * @param {import('../run.js').Context} ctx
 */
export async function runLoginCost(cfg, ctx) {
  if (!ctx.withGateway) {
    ctx.log('login-cost: skipped (no gateway)');
    return [];
  }
  const useStrace = cfg.strace && straceAvailable();
  if (cfg.strace && !useStrace) ctx.log('login-cost: strace not found, syscalls not counted');
  const n = cfg.logins;
  /** @type {Record<string, any>} */
  const out = {};
  for (const key of ['gateway', 'baseline']) {
    const gcLog = join(ctx.tmpDir, `gc-${key}.log`);
    /** @type {any[]} */
    const procs = [];
    /** @type {any} */
    let server;
    /** @type {Record<string, unknown>} */
    let args;
    if (key === 'gateway') {
      const degas = await startServer('echo-degas');
      procs.push(degas);
      const accountsFile = join(ctx.tmpDir, 'accounts-cost.json');
      await writeAccountsFile(accountsFile, 2 * n);
      server = await startGateway({
        accountsFile,
        degasUrl: degas.url,
        degasIdHex: DEGAS_ID_HEX,
        nodeArgs: ['--trace-gc-nvp', ...ctx.gatewayNodeArgs('login-cost')],
        stdoutFile: gcLog,
        extraArgs: ctx.gatewayArgs,
      });
      args = { mode: 'gateway', url: server.url };
    } else {
      server = await startServer('raw-echo', [], ['--trace-gc-nvp'], gcLog);
      args = { mode: 'raw', url: server.url, rawRoundTrips: 2 };
    }
    procs.push(server);
    const lgs = [new LoadGen(), new LoadGen()];
    try {
      await storm(lgs, n, n, args); // warm-up: code paths compiled, heap grown
      await sleep(200);
      const size0 = statSync(gcLog).size;
      const s0 = sampleProc(server.pid);
      const m0 = sampleThread(server.pid, server.pid);
      const ok = await storm(lgs, 0, n, args);
      const s1 = sampleProc(server.pid);
      const m1 = sampleThread(server.pid, server.pid);
      await sleep(200);
      const allocated = allocatedBetween(gcLog, size0, statSync(gcLog).size);
      /** @type {Record<string, number> | undefined} */
      let perLogin;
      let syscalls = 0;
      if (useStrace) {
        // A second measured storm under strace (ptrace slows every system call, so CPU time
        // is taken from the storm above, counts from this one).
        const st = await straceThread(server.pid, join(ctx.tmpDir, `strace-${key}.txt`));
        const ok2 = await storm(lgs, 0, n, args);
        const calls = await st.stop();
        perLogin = {};
        for (const [name, c] of Object.entries(calls).sort((a, b) => b[1] - a[1])) {
          perLogin[name] = round3(c / ok2);
          syscalls += c / ok2;
        }
      }
      out[key] = {
        logins: ok,
        main_thread_cpu_us_per_login: Math.round((cpuSeconds(m0, m1) * 1e6) / ok),
        process_cpu_us_per_login: Math.round((cpuSeconds(s0, s1) * 1e6) / ok),
        main_thread_allocated_bytes_per_login: Math.round(allocated.main / ok),
        other_threads_allocated_bytes_per_login: Math.round(allocated.others / ok),
        ...(perLogin ? { main_thread_syscalls_per_login: round1(syscalls), syscalls_per_login: perLogin } : {}),
      };
      ctx.log(`login-cost ${key}: ${JSON.stringify(out[key])}`);
    } finally {
      for (const l of lgs) await l.stop();
      for (const p of procs) await stopProcess(p.child);
    }
  }
  const g = out.gateway;
  const b = out.baseline;
  return [
    {
      name: 'login-cost',
      clients: n,
      gateway: g,
      baseline: { kind: 'raw-ws-connect-and-2-echoes', ...b },
      ratio: round3(g.main_thread_cpu_us_per_login / b.main_thread_cpu_us_per_login),
      ratio_syscalls: g.main_thread_syscalls_per_login
        ? round3(g.main_thread_syscalls_per_login / b.main_thread_syscalls_per_login)
        : null,
      ratio_allocated: round3(g.main_thread_allocated_bytes_per_login / b.main_thread_allocated_bytes_per_login),
    },
  ];
}
