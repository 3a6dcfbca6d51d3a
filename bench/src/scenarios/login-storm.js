// Scenario 4: `logins` clients log in at once while `calm` already-authenticated clients keep
// exchanging 64-byte messages (1 in flight each, paced at one message per `intervalMs` per
// client: a game-like load that leaves CPU headroom, so the latency shows how much the storm
// stalls forwarding rather than how a saturated CPU queues; --calm-interval-ms 0 = unpaced).
// Reports logins/s, the time until every storm client is authenticated, and the calm clients'
// latency during the storm (gateway) against their latency without it (baseline);
// ratio = storm p99 ÷ calm p99. For scale, the same storm is also run against a raw ws server
// with a login-shaped exchange (connect + 2 echoed messages, no crypto): `raw_storm`.
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEGAS_ID_HEX, writeAccountsFile } from '../lib/keys.js';
import { measureWindow, round1 } from '../lib/measure.js';
import { localAddresses } from '../lib/net.js';
import {
  fetchMetrics,
  LoadGen,
  loopWindow,
  startGateway,
  startServer,
  stopProcess,
  verifierFromMetrics,
} from '../lib/procs.js';
import { cpuPercent, cpuSeconds, sampleProc, sampleSched, sampleThread, waitPercent } from '../lib/procstat.js';
import { concatSamples, round3, summarize } from '../lib/stats.js';

/**
 * @typedef {{ logins: number, calm: number, stormProcs: number, payloadBytes: number, warmupMs: number,
 *   durationMs: number, intervalMs: number, verifier?: string | undefined, rawBaseline: boolean,
 *   stormNice: number, nobleRate?: number, control?: boolean }} StormConfig
 */

/**
 * Prepares `storm` load generators for clients [first, first + logins).
 * @param {LoadGen[]} storm
 * @param {StormConfig} cfg
 * @param {Record<string, unknown>} args
 */
async function prepareStorm(storm, cfg, args) {
  const per = Math.ceil(cfg.logins / storm.length);
  await Promise.all(
    storm.map((l, k) =>
      l.call('prepare', {
        ...args,
        first: cfg.calm + k * per,
        count: Math.min(per, cfg.logins - k * per),
        localAddresses: localAddresses(200),
      }),
    ),
  );
}

/**
 * Σ f(a[i], b[i]) over two lists of samples of the same processes.
 * @template T
 * @param {T[]} a
 * @param {T[]} b
 * @param {(x: T, y: T) => number} f
 */
function sumOver(a, b, f) {
  return a.reduce((acc, x, i) => acc + f(x, /** @type {T} */ (b[i])), 0);
}

/**
 * Connects every prepared client at once; returns login figures and the server's CPU (the sum
 * over `serverPid` when it lists several processes, e.g. the nodes of a cluster).
 * @param {LoadGen[]} storm
 * @param {number | number[]} serverPid
 */
export async function fireStorm(storm, serverPid) {
  const pids = Array.isArray(serverPid) ? serverPid : [serverPid];
  const s0 = pids.map(sampleProc);
  const m0 = pids.map((pid) => sampleThread(pid, pid));
  const w0 = pids.map((pid) => sampleSched(pid, pid));
  const l0 = storm.map((l) => sampleProc(l.pid));
  const results = await Promise.all(storm.map((l) => l.call('connect', { concurrency: 1_000_000 })));
  const s1 = pids.map(sampleProc);
  const m1 = pids.map((pid) => sampleThread(pid, pid));
  const w1 = pids.map((pid) => sampleSched(pid, pid));
  const l1 = storm.map((l) => sampleProc(l.pid));
  let startNs = results[0].startedNs;
  let lastNs = 0n;
  let ok = 0;
  let failed = 0;
  /** @type {Record<string, number>} */
  const failures = {};
  for (const r of results) {
    if (r.startedNs < startNs) startNs = r.startedNs;
    if (r.lastReadyNs > lastNs) lastNs = r.lastReadyNs;
    ok += r.connected;
    failed += r.failed;
    for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + /** @type {number} */ (v);
  }
  const allMs = Number(lastNs - startNs) / 1e6;
  const login = summarize(concatSamples(results.map((r) => r.loginNs)));
  return {
    logins_per_s: allMs > 0 ? Math.round((ok / allMs) * 1000) : 0,
    time_to_all_authenticated_ms: round1(allMs),
    logins_ok: ok,
    logins_failed: failed,
    ...(failed > 0 ? { login_failures: failures } : {}),
    login_p50_ms: login.p50_ms,
    login_p99_ms: login.p99_ms,
    server_cpu_percent: round1(sumOver(s0, s1, cpuPercent)),
    // CPU of the whole server process (all threads) over the storm ÷ logins; in the gateway run
    // it includes the calm clients' (paced, small) traffic of the same window.
    cpu_us_per_login: ok > 0 ? Math.round((sumOver(s0, s1, cpuSeconds) * 1e6) / ok) : 0,
    // The same for the server's main thread alone (the one that forwards; it does not scale
    // with cores, the verifier threads do). Several processes: the sum of their main threads,
    // and the longest run-queue wait of them.
    main_thread_cpu_percent: round1(sumOver(m0, m1, cpuPercent)),
    main_thread_cpu_us_per_login: ok > 0 ? Math.round((sumOver(m0, m1, cpuSeconds) * 1e6) / ok) : 0,
    main_thread_runqueue_wait_percent: round1(
      Math.max(...w0.map((w, i) => waitPercent(w, /** @type {any} */ (w1[i])))),
    ),
    storm_loadgen_cpu_percent: round1(l0.reduce((acc, a, i) => acc + cpuPercent(a, /** @type {any} */ (l1[i])), 0)),
    // The storm's load generators share the machine's cores: their CPU per login bounds the storm
    // as much as the server's does.
    storm_loadgen_cpu_us_per_login:
      ok > 0
        ? Math.round((l0.reduce((acc, a, i) => acc + cpuSeconds(a, /** @type {any} */ (l1[i])), 0) * 1e6) / ok)
        : 0,
  };
}

/**
 * @param {StormConfig} cfg
 * @param {import('../run.js').Context} ctx
 */
export async function runLoginStorm(cfg, ctx) {
  if (!ctx.withGateway) {
    ctx.log('login-storm: skipped (no gateway)');
    return [];
  }
  const degas = await startServer('echo-degas');
  const accountsFile = join(ctx.tmpDir, 'accounts-storm.json');
  await writeAccountsFile(accountsFile, cfg.calm + cfg.logins);
  const gw = await startGateway({
    accountsFile,
    degasUrl: degas.url,
    degasIdHex: DEGAS_ID_HEX,
    extraArgs: [...(cfg.verifier ? ['--verifier', cfg.verifier] : []), ...ctx.gatewayArgs],
    stdoutFile: ctx.gatewayStdout,
    nodeArgs: ctx.gatewayNodeArgs('login-storm'),
  });
  const calm = new LoadGen();
  const storm = Array.from({ length: cfg.stormProcs }, () => new LoadGen());
  // On a small machine the storm's clients compete with the calm clients' load generator for the
  // same cores; a lower priority keeps their latency about the gateway, not about the scheduler.
  for (const l of storm) os.setPriority(l.pid, cfg.stormNice);
  /** @type {any} */
  let row;
  try {
    const c = await calm.call('connect', {
      mode: 'gateway',
      url: gw.url,
      first: 0,
      count: cfg.calm,
      localAddresses: localAddresses(200),
      concurrency: 20,
    });
    if (c.failed > 0) throw new Error(`login-storm: calm clients failed: ${JSON.stringify(c.failures)}`);
    // Storm clients are prepared (keys, hello frames) before anything is measured.
    await prepareStorm(storm, cfg, { mode: 'gateway', url: gw.url });
    const base = {
      loadgens: [calm],
      serverPid: gw.pid,
      backendPid: degas.pid,
      cmd: /** @type {const} */ ('run'),
      payloadBytes: cfg.payloadBytes,
      intervalMs: cfg.intervalMs,
    };
    // Without the storm.
    // The gateway's own view of each window: its main thread's event-loop delay and GC pauses.
    const loop = loopWindow(gw.adminPort);
    await calm.call('run', { payloadBytes: cfg.payloadBytes, intervalMs: cfg.intervalMs });
    await sleep(cfg.warmupMs);
    const qw0 = sampleSched(gw.pid, gw.pid);
    await loop.start();
    const quiet = await measureWindow({ ...base, warmupMs: 0, durationMs: 0 }, () => sleep(cfg.durationMs));
    const quietLoop = await loop.end();
    const quietWait = round1(waitPercent(qw0, sampleSched(gw.pid, gw.pid)));
    // With the storm: the calm loop runs, the window is exactly the storm.
    await calm.call('run', { payloadBytes: cfg.payloadBytes, intervalMs: cfg.intervalMs });
    await sleep(cfg.warmupMs);
    /** @type {any} */
    let st;
    await loop.start();
    const during = await measureWindow({ ...base, warmupMs: 0, durationMs: 0 }, async () => {
      st = await fireStorm(storm, gw.pid);
    });
    const stormLoop = await loop.end();
    const verifier = verifierFromMetrics(await fetchMetrics(gw.adminPort).catch(() => ''));
    const g = during.figures;
    const q = quiet.figures;
    row = {
      name: 'login-storm',
      clients: cfg.logins,
      calm_clients: cfg.calm,
      calm_interval_ms: cfg.intervalMs,
      storm_loadgen_nice: cfg.stormNice,
      payload_bytes: cfg.payloadBytes,
      gateway: {
        ...g,
        ...st,
        ...stormLoop,
        verifier,
        verifier_threads: gw.info.verifierThreads ?? null,
        masking: gw.info.masking ?? null,
      },
      baseline: {
        kind: 'same-clients-without-storm',
        ...q,
        main_thread_runqueue_wait_percent: quietWait,
        ...quietLoop,
      },
      ratio: q.p99_ms > 0 ? round3(/** @type {number} */ (g.p99_ms) / /** @type {number} */ (q.p99_ms)) : null,
    };
    if (verifier === 'noble' && cfg.nobleRate !== undefined) {
      // Issue #5: without the native addon, at least 0.9 × (pool size × single-thread noble rate).
      const threads = gw.info.verifierThreads ?? 1;
      row.gateway.noble_single_thread_per_s = cfg.nobleRate;
      row.gateway.noble_pool_bound_per_s = Math.round(threads * cfg.nobleRate);
      row.ratio_vs_noble_pool = round3(st.logins_per_s / (threads * cfg.nobleRate));
    }
    if (cfg.control) {
      // Control: the very same storm, from the same load generators, against a second gateway
      // process on this machine, while the calm clients keep measuring the first one. The machine
      // carries the same CPU load, but none of it passes through the measured gateway's event
      // loop: what the calm p99 gains here is the cost of sharing the cores, not of the gateway's
      // login path. The difference between the two storm rows is what the gateway itself adds.
      for (const l of storm) await l.call('close');
      const gw2 = await startGateway({
        accountsFile,
        degasUrl: degas.url,
        degasIdHex: DEGAS_ID_HEX,
        extraArgs: [...(cfg.verifier ? ['--verifier', cfg.verifier] : []), ...ctx.gatewayArgs],
      });
      try {
        await prepareStorm(storm, cfg, { mode: 'gateway', url: gw2.url });
        await calm.call('run', { payloadBytes: cfg.payloadBytes, intervalMs: cfg.intervalMs });
        await sleep(cfg.warmupMs);
        const cw0 = sampleSched(gw.pid, gw.pid);
        await loop.start();
        /** @type {any} */
        let st2;
        const elsewhere = await measureWindow({ ...base, warmupMs: 0, durationMs: 0 }, async () => {
          st2 = await fireStorm(storm, gw2.pid);
        });
        const elsewhereLoop = await loop.end();
        const e = elsewhere.figures;
        row.storm_elsewhere = {
          kind: 'same-storm-against-a-second-gateway-process',
          ...e,
          main_thread_runqueue_wait_percent: round1(waitPercent(cw0, sampleSched(gw.pid, gw.pid))),
          ...elsewhereLoop,
          storm_logins_per_s: st2.logins_per_s,
          storm_logins_failed: st2.logins_failed,
        };
        row.ratio_storm_elsewhere = q.p99_ms > 0 ? round3(/** @type {number} */ (e.p99_ms) / q.p99_ms) : null;
        // What the gateway's own login work adds to the players' p99, beyond the shared machine.
        row.ratio_storm_vs_elsewhere =
          e.p99_ms > 0 ? round3(/** @type {number} */ (g.p99_ms) / /** @type {number} */ (e.p99_ms)) : null;
      } finally {
        await stopProcess(gw2.child);
      }
    }
    ctx.log(
      `login-storm ${cfg.logins} (${verifier}): ${st.logins_per_s} logins/s, all in ${st.time_to_all_authenticated_ms} ms, ` +
        `${st.cpu_us_per_login} µs gateway CPU/login (main thread ${st.main_thread_cpu_us_per_login}), ` +
        `main thread waiting for a CPU ${quietWait} % calm → ${st.main_thread_runqueue_wait_percent} % storm, ` +
        `p99 calm ${q.p99_ms} ms → storm ${g.p99_ms} ms (ratio ${row.ratio}), ` +
        `main-thread loop delay max ${quietLoop.main_thread_loop_delay_max_ms} → ${stormLoop.main_thread_loop_delay_max_ms} ms, ` +
        `GC ${quietLoop.main_thread_gc_pause_ms} → ${stormLoop.main_thread_gc_pause_ms} ms` +
        (row.storm_elsewhere
          ? `; the same storm against a second gateway: calm p99 ${row.storm_elsewhere.p99_ms} ms (ratio ${row.ratio_storm_elsewhere}), ` +
            `loop delay max ${row.storm_elsewhere.main_thread_loop_delay_max_ms} ms`
          : ''),
    );
  } finally {
    for (const l of [calm, ...storm]) await l.call('close').catch(() => {});
    await stopProcess(gw.child);
    await stopProcess(degas.child);
  }
  try {
    if (cfg.rawBaseline) {
      // The same burst against a raw ws server: TCP + HTTP upgrade + 2 echoed frames per client.
      const raw = await startServer('raw-echo');
      try {
        await prepareStorm(storm, cfg, { mode: 'raw', url: raw.url, rawRoundTrips: 2 });
        const r = await fireStorm(storm, raw.pid);
        row.raw_storm = { kind: 'raw-ws-connect-and-2-echoes', ...r };
        // Issue #11: gateway logins/s ≥ 0.8 × this (native verifier).
        row.logins_ratio_vs_raw_storm = r.logins_per_s > 0 ? round3(row.gateway.logins_per_s / r.logins_per_s) : null;
        ctx.log(
          `login-storm raw ws: ${r.logins_per_s} connects/s, ${r.cpu_us_per_login} µs server CPU/connect ` +
            `(gateway ÷ raw logins/s: ${row.logins_ratio_vs_raw_storm})`,
        );
        for (const l of storm) await l.call('close');
      } finally {
        await stopProcess(raw.child);
      }
    }
  } finally {
    for (const l of [calm, ...storm]) await l.stop();
  }
  return [row];
}

/**
 * Single-thread @noble/secp256k1 login verifications per second in this process (the same work
 * a noble worker does per login: digest + recovery + address compare).
 * @param {number} ms
 */
export async function measureNobleRate(ms) {
  const { loginDigest, recoverAddress } = await import('@degas/auth-eth');
  const secp = (await import('secp256k1')).default;
  const { privateKey } = await import('../lib/keys.js');
  const key = privateKey(0);
  const fields = { Message: 'bench', Challenge: '00112233445566778899aabbccddeeff' };
  const digest = loginDigest(fields);
  const { signature, recid } = secp.ecdsaSign(digest, key);
  const sig = new Uint8Array(65);
  sig.set(signature);
  sig[64] = 27 + recid;
  recoverAddress(digest, sig); // warm up
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    recoverAddress(loginDigest(fields), sig);
    n++;
  }
  return Math.round((n / (performance.now() - t0)) * 1000);
}
