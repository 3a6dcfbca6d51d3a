// One measured window of a closed loop: start the loop on every load generator, let it warm up,
// sample the server process(es) from /proc, record for `durationMs`, sample again, stop.
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuPercent, cpuSeconds, sampleProc } from './procstat.js';
import { concatSamples, round3, summarize } from './stats.js';

/**
 * `serverPid` may list several processes (the nodes of a cluster): CPU, CPU per message and RSS
 * are then their sums. `busPid` (the NATS server of a cluster) is reported apart.
 * @typedef {import('./procs.js').LoadGen} LoadGen
 * @typedef {{ loadgens: LoadGen[], serverPid: number | number[], backendPid?: number | undefined,
 *   busPid?: number | undefined, cmd: 'run' | 'fanout', payloadBytes: number, warmupMs: number,
 *   durationMs: number, deliveriesPerRound?: number, intervalMs?: number }} MeasureOptions
 */

/**
 * @param {MeasureOptions} o
 */
export async function measureLoop(o) {
  await Promise.all(o.loadgens.map((l) => l.call(o.cmd, { payloadBytes: o.payloadBytes, intervalMs: o.intervalMs })));
  await sleep(o.warmupMs);
  return measureWindow(o, () => sleep(o.durationMs));
}

/**
 * Records while `during()` runs (the loop must already be running), returns the figures.
 * @param {MeasureOptions} o
 * @param {() => Promise<unknown>} during
 */
export async function measureWindow(o, during) {
  const pids = Array.isArray(o.serverPid) ? o.serverPid : [o.serverPid];
  const s0 = pids.map(sampleProc);
  const b0 = o.backendPid ? sampleProc(o.backendPid) : undefined;
  const n0 = o.busPid ? sampleProc(o.busPid) : undefined;
  const l0 = o.loadgens.map((l) => sampleProc(l.pid));
  await Promise.all(o.loadgens.map((l) => l.call('mark')));
  const extra = await during();
  const s1 = pids.map(sampleProc);
  const b1 = o.backendPid ? sampleProc(o.backendPid) : undefined;
  const n1 = o.busPid ? sampleProc(o.busPid) : undefined;
  const l1 = o.loadgens.map((l) => sampleProc(l.pid));
  const results = await Promise.all(o.loadgens.map((l) => l.call('stop')));
  let rounds = 0;
  let errors = 0;
  /** @type {Record<string, number>} */
  const errorKinds = {};
  for (const r of results) {
    rounds += (r.completed / Number(r.windowNs)) * 1e9;
    errors += r.errors;
    for (const [k, v] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
  }
  const perRound = o.deliveriesPerRound ?? 1;
  const lat = summarize(concatSamples(results.map((r) => r.samples)));
  const first0 = /** @type {import('./procstat.js').ProcSample} */ (s0[0]);
  const first1 = /** @type {import('./procstat.js').ProcSample} */ (s1[0]);
  const windowS = Number(first1.at - first0.at) / 1e9;
  const sum = (/** @type {(a: any, b: any) => number} */ f) => s0.reduce((acc, a, i) => acc + f(a, s1[i]), 0);
  const serverCpuS = sum(cpuSeconds);
  const msgs = rounds * perRound;
  /** @type {Record<string, unknown>} */
  const figures = {
    msgs_per_s: Math.round(msgs),
    ...(perRound > 1 ? { rounds_per_s: round3(rounds) } : {}),
    p50_ms: lat.p50_ms,
    p99_ms: lat.p99_ms,
    p999_ms: lat.p999_ms,
    mean_ms: lat.mean_ms,
    max_ms: lat.max_ms,
    samples: lat.count,
    cpu_percent: round1(sum(cpuPercent)),
    cpu_us_per_msg: msgs > 0 ? round1((serverCpuS / (msgs * windowS)) * 1e6) : 0,
    rss_bytes: s1.reduce((acc, x) => acc + x.rssBytes, 0),
    ...(pids.length > 1 ? { processes: pids.length } : {}),
    ...(b0 && b1 ? { backend_cpu_percent: round1(cpuPercent(b0, b1)) } : {}),
    ...(n0 && n1 ? { bus_cpu_percent: round1(cpuPercent(n0, n1)) } : {}),
    loadgen_cpu_percent: round1(l0.reduce((acc, a, i) => acc + cpuPercent(a, /** @type {any} */ (l1[i])), 0)),
    window_s: round3(windowS),
    errors,
    ...(errors > 0 ? { error_kinds: errorKinds } : {}),
  };
  return { figures, extra };
}

/** @param {number} x */
export function round1(x) {
  return Math.round(x * 10) / 10;
}

/**
 * The run with the highest throughput: interference from other processes on a shared machine
 * only ever makes a run slower, so the best of R is the least disturbed one.
 * @param {any[]} runs
 */
export function bestOf(runs) {
  let best = runs[0];
  for (const r of runs) if (r.msgs_per_s > best.msgs_per_s) best = r;
  return { ...best, runs_msgs_per_s: runs.map((r) => r.msgs_per_s) };
}

/**
 * Measures every topology `repeat` times, alternating between them so that interference hits
 * gateway and baseline alike, and returns the best run of each, by topology key. A topology's
 * `before()` runs before each of its runs (e.g. to switch the Degas's reply mode).
 * @param {{ key: string, lg: LoadGen, serverPid: number | number[], backendPid?: number | undefined,
 *   busPid?: number | undefined, before?: () => Promise<unknown> }[]} topo
 * @param {{ repeat: number, warmupMs: number, durationMs: number }} cfg
 * @param {Pick<MeasureOptions, 'cmd' | 'payloadBytes' | 'deliveriesPerRound'>} what
 * @returns {Promise<Record<string, any>>}
 */
export async function measureBest(topo, cfg, what) {
  /** @type {Record<string, any[]>} */
  const runs = {};
  for (let rep = 0; rep < cfg.repeat; rep++) {
    for (const t of topo) {
      await t.before?.();
      const { figures } = await measureLoop({
        loadgens: [t.lg],
        serverPid: t.serverPid,
        backendPid: t.backendPid,
        busPid: t.busPid,
        warmupMs: cfg.warmupMs,
        durationMs: cfg.durationMs,
        ...what,
      });
      runs[t.key] = [...(runs[t.key] ?? []), figures];
    }
  }
  return Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, bestOf(r)]));
}
