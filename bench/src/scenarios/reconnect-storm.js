// Scenario: reconnect storm. `clients` logged-in clients lose their gateway and all come back at
// once; the same storm runs twice in the same run, with resume tickets (PROTOCOL.md 4.5) and with
// resume off (every client signs a new challenge: a wallet login), and the ratio of their
// reconnects/s is the result.
//
// Variants:
//   single   one gateway with a fixed `--resume-key`, stopped with SIGTERM (GOING_AWAY to every
//            client) and started again on the same port with the same key; the storm starts when
//            the new process is listening.
//   cluster  two gateway nodes on one nats-server sharing the key; every client is on node A;
//            node A gets SIGTERM and the clients reconnect to node B as soon as A has closed them
//            (what the client SDK does after GOING_AWAY with a list of URLs).
// Each variant runs with the gateway's native verifier (libsecp256k1) and, with `verifiers`
// including it, the portable one (`--verifier noble`), where a wallet login costs far more CPU.
// Measured: time from the first reconnect to the last auth_ok, reconnects/s, how many resumed or
// signed, and the signatures the target gateway verified during the storm (from its /metrics:
// must be 0 with resume on).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DEGAS_ID_HEX, writeAccountsFile } from '../lib/keys.js';
import { round1 } from '../lib/measure.js';
import { localAddresses } from '../lib/net.js';
import { fetchMetrics, LoadGen, startGateway, startServer, stopProcess } from '../lib/procs.js';
import { cpuPercent, cpuSeconds, sampleProc } from '../lib/procstat.js';
import { concatSamples, round3, summarize } from '../lib/stats.js';

/**
 * @typedef {{ clients: number, procs: number, variants: string[], verifiers: string[],
 *   startNats?: (ctx: any) => Promise<{ url: string, stop: () => Promise<void> }> }} ReconnectConfig
 */

/**
 * A counter from the Prometheus text (sum over every label set of the family).
 * @param {string} text
 * @param {string} name without the `degas_gateway_` prefix
 * @param {string} [labelMatch] only series whose labels contain this text
 */
function counter(text, name, labelMatch) {
  let sum = 0;
  const re = new RegExp(`^degas_gateway_${name}(\\{[^}]*\\})? ([0-9.e+]+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    if (labelMatch !== undefined && !(m[1] ?? '').includes(labelMatch)) continue;
    sum += Number(m[2]);
  }
  return sum;
}

/**
 * @param {string} adminPort
 */
async function signatureFigures(adminPort) {
  const text = await fetchMetrics(Number(adminPort));
  return {
    verified: counter(text, 'verify_duration_seconds_count'),
    resumesOk: counter(text, 'resumes_total', 'result="ok"'),
  };
}

/**
 * Sums the load generators' reconnect results.
 * @param {any[]} results
 */
function combine(results) {
  let startNs = results[0].startedNs;
  let lastNs = 0n;
  let ok = 0;
  let failed = 0;
  let resumed = 0;
  let signed = 0;
  /** @type {Record<string, number>} */
  const failures = {};
  for (const r of results) {
    if (r.startedNs < startNs) startNs = r.startedNs;
    if (r.lastReadyNs > lastNs) lastNs = r.lastReadyNs;
    ok += r.connected;
    failed += r.failed;
    resumed += r.resumed;
    signed += r.signed;
    for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + /** @type {number} */ (v);
  }
  const allMs = Number(lastNs - startNs) / 1e6;
  const lat = summarize(concatSamples(results.map((r) => r.loginNs)));
  return {
    reconnects_per_s: allMs > 0 ? Math.round((ok / allMs) * 1000) : 0,
    time_to_all_back_ms: round1(allMs),
    back: ok,
    failed,
    ...(failed > 0 ? { failures } : {}),
    resumed,
    signed,
    reconnect_p50_ms: lat.p50_ms,
    reconnect_p99_ms: lat.p99_ms,
  };
}

/**
 * One storm: log `clients` in on a gateway (node A), take it away, reconnect everyone.
 * @param {ReconnectConfig} cfg
 * @param {any} ctx
 * @param {{ variant: string, verifier: string, resume: boolean, degas: any, accountsFile: string }} o
 */
async function storm(cfg, ctx, o) {
  const key = randomBytes(32).toString('hex');
  const resumeArgs = [...(o.resume ? ['--resume-key', key] : ['--resume-window-ms', '0']), '--verifier', o.verifier];
  /** @type {{ url: string, stop: () => Promise<void> } | undefined} */
  let nats;
  /** @type {any[]} */
  const gateways = [];
  const loadgens = Array.from({ length: cfg.procs }, () => new LoadGen());
  const start = async (/** @type {string[]} */ extra, /** @type {number} */ port = 0) => {
    const gw = await startGateway({
      accountsFile: o.accountsFile,
      degasUrl: o.degas.url,
      degasIdHex: DEGAS_ID_HEX,
      extraArgs: [...resumeArgs, ...extra],
      stdoutFile: ctx.gatewayStdout,
      nodeArgs: ctx.gatewayNodeArgs('reconnect-storm'),
      port,
    });
    gateways.push(gw);
    return gw;
  };
  try {
    let clusterArgs = /** @type {string[]} */ ([]);
    if (o.variant === 'cluster') {
      if (cfg.startNats === undefined) throw new Error('reconnect-storm cluster: no nats-server helper');
      nats = await cfg.startNats(ctx);
      clusterArgs = ['--nats', nats.url, '--cluster', `bench${process.pid}`];
    }
    const a = await start([...clusterArgs, ...(o.variant === 'cluster' ? ['--node-name', 'a'] : [])]);
    const b = o.variant === 'cluster' ? await start([...clusterArgs, '--node-name', 'b']) : undefined;
    const per = Math.ceil(cfg.clients / loadgens.length);
    const connected = await Promise.all(
      loadgens.map((l, k) =>
        l.call('connect', {
          mode: 'gateway',
          url: a.url,
          first: k * per,
          count: Math.min(per, cfg.clients - k * per),
          localAddresses: localAddresses(200),
          concurrency: 64,
        }),
      ),
    );
    const loggedIn = connected.reduce((n, r) => n + r.connected, 0);
    if (loggedIn !== cfg.clients) {
      throw new Error(`reconnect-storm: only ${loggedIn} of ${cfg.clients} clients logged in`);
    }
    // Take node A away: SIGTERM, GOING_AWAY + 1001 to every client.
    const closed = Promise.all(loadgens.map((l) => l.call('closed', { timeoutMs: 30_000 })));
    const stopped = stopProcess(a.child);
    let target = b;
    if (o.variant === 'cluster') {
      // The clients move on to node B as soon as A has closed them.
      await closed;
    } else {
      await closed;
      await stopped;
      target = await start([], a.port);
    }
    const t = /** @type {any} */ (target);
    const before = await signatureFigures(t.adminPort);
    const s0 = sampleProc(t.pid);
    const results = await Promise.all(loadgens.map((l) => l.call('reconnect', { url: t.url, useTickets: o.resume })));
    const s1 = sampleProc(t.pid);
    await stopped;
    const after = await signatureFigures(t.adminPort);
    const figures = combine(results);
    return {
      ...figures,
      signatures_verified: after.verified - before.verified,
      resumes_ok_metric: after.resumesOk - before.resumesOk,
      server_cpu_percent: round1(cpuPercent(s0, s1)),
      cpu_us_per_reconnect: figures.back > 0 ? Math.round((cpuSeconds(s0, s1) * 1e6) / figures.back) : 0,
    };
  } finally {
    for (const l of loadgens) await l.call('close').catch(() => {});
    for (const l of loadgens) await l.stop();
    for (const gw of gateways) await stopProcess(gw.child);
    await nats?.stop();
  }
}

/**
 * @param {ReconnectConfig} cfg
 * @param {any} ctx
 */
export async function runReconnectStorm(cfg, ctx) {
  if (!ctx.withGateway) {
    ctx.log('reconnect-storm: skipped (no gateway)');
    return [];
  }
  const degas = await startServer('echo-degas');
  const accountsFile = join(ctx.tmpDir, 'accounts-reconnect.json');
  await writeAccountsFile(accountsFile, cfg.clients);
  /** @type {any[]} */
  const rows = [];
  try {
    for (const variant of cfg.variants) {
      for (const verifier of cfg.verifiers) {
        // Baseline first, so that a machine that warms up favours the baseline, not the result.
        const off = await storm(cfg, ctx, { variant, verifier, resume: false, degas, accountsFile });
        const on = await storm(cfg, ctx, { variant, verifier, resume: true, degas, accountsFile });
        const row = {
          name: 'reconnect-storm',
          variant,
          verifier,
          clients: cfg.clients,
          gateway: { kind: 'resume-tickets', ...on },
          baseline: { kind: 'wallet-login-resume-off', ...off },
          ratio: off.reconnects_per_s > 0 ? round3(on.reconnects_per_s / off.reconnects_per_s) : null,
        };
        rows.push(row);
        ctx.log(
          `reconnect-storm ${variant} (${verifier}) ${cfg.clients}: resume ${on.reconnects_per_s}/s (all back in ${on.time_to_all_back_ms} ms, ` +
            `${on.resumed} resumed, ${on.signatures_verified} signatures) vs wallet login ${off.reconnects_per_s}/s ` +
            `(${off.time_to_all_back_ms} ms, ${off.signatures_verified} signatures): ratio ${row.ratio}`,
        );
      }
    }
  } finally {
    await stopProcess(degas.child);
  }
  return rows;
}
