// Scenario 5: two gateway nodes joined by NATS against one single node, in the same run, with the
// same load generator. Every cluster figure is a ratio to the single node:
//   cluster-relay      clients spread over both nodes; the echo Degas answers over the link the
//                      message came in on (as @degas/degas-sdk does): replies never cross the bus
//   cluster-relay-bus  the same clients; the Degas answers over the *other* node's link, so every
//                      reply crosses the bus (node → NATS → node)
//   cluster-latency    one client, one message in flight: round trip with and without the bus hop
//   cluster-login-storm  `logins` logins at once, half on each node (each login also claims the
//                      account in the cluster's KV registry) against the same storm on one node;
//                      the nodes' registry-operation histograms give the registry p50/p99
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEGAS_ID_HEX, writeAccountsFile } from '../lib/keys.js';
import { measureBest } from '../lib/measure.js';
import { localAddresses } from '../lib/net.js';
import { fetchMetrics, LoadGen, startGateway, startServer, stopProcess } from '../lib/procs.js';
import { round3 } from '../lib/stats.js';
import { fireStorm } from './login-storm.js';

/**
 * @typedef {{ clients: number, payloads: number[], warmupMs: number, durationMs: number, repeat: number,
 *   logins: number, stormRepeat: number, settleMs: number }} ClusterConfig
 */

/**
 * Switches the echo Degas's reply mode and resolves with the number of gateway links it has.
 * @param {{ child: import('node:child_process').ChildProcess }} degas
 * @param {'incoming' | 'other'} mode
 * @returns {Promise<number>}
 */
function setReplyMode(degas, mode) {
  return new Promise((resolve) => {
    const onMessage = (/** @type {any} */ m) => {
      if (m?.type !== 'reply-mode') return;
      degas.child.off('message', onMessage);
      resolve(m.links);
    };
    degas.child.on('message', onMessage);
    degas.child.send({ type: 'reply-mode', mode });
  });
}

/**
 * Histogram buckets of every metric family whose name contains "registry" and ends in
 * `_bucket`, summed over `texts` (one /metrics text per node), keyed by the `op` label (or "all").
 * @param {string[]} texts
 * @returns {Map<string, Map<number, number>>} op → (upper bound in seconds → cumulative count)
 */
export function registryBuckets(texts) {
  /** @type {Map<string, Map<number, number>>} */
  const out = new Map();
  const re = /^([a-z_:]*registry[a-z_:]*)_bucket\{([^}]*)\}\s+([0-9.eE+-]+)$/gm;
  for (const text of texts) {
    for (const m of text.matchAll(re)) {
      const labels = /** @type {string} */ (m[2]);
      const le = /le="([^"]+)"/.exec(labels)?.[1];
      if (le === undefined) continue;
      const op = /(?:^|,)op(?:eration)?="([^"]+)"/.exec(labels)?.[1] ?? 'all';
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      const buckets = out.get(op) ?? new Map();
      buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[3]));
      out.set(op, buckets);
    }
  }
  return out;
}

/**
 * p50/p99 (ms, the upper bound of the bucket the quantile falls in) of the operations counted
 * between two {@link registryBuckets} readings.
 * @param {Map<string, Map<number, number>>} before
 * @param {Map<string, Map<number, number>>} after
 */
export function registryQuantiles(before, after) {
  /** @type {Record<string, { count: number, p50_ms: number | null, p99_ms: number | null }>} */
  const out = {};
  for (const [op, buckets] of after) {
    const bounds = [...buckets.keys()].sort((a, b) => a - b);
    const counts = bounds.map((b) => (buckets.get(b) ?? 0) - (before.get(op)?.get(b) ?? 0));
    const total = counts.at(-1) ?? 0;
    if (total <= 0) continue;
    const q = (/** @type {number} */ p) => {
      const i = counts.findIndex((c) => c >= p * total);
      const b = bounds[i];
      return b === undefined || !Number.isFinite(b) ? null : round3(b * 1000);
    };
    out[op] = { count: total, p50_ms: q(0.5), p99_ms: q(0.99) };
  }
  return out;
}

/**
 * @param {ClusterConfig} cfg
 * @param {import('../run.js').Context} ctx
 */
export async function runCluster(cfg, ctx) {
  if (!ctx.withGateway) {
    ctx.log('cluster: skipped (no gateway)');
    return [];
  }
  const n = cfg.clients;
  const accountsFile = join(ctx.tmpDir, 'accounts-cluster.json');
  // Relay clients [0, n), the latency client n, storm clients [n + 1, n + 1 + logins).
  await writeAccountsFile(accountsFile, n + 1 + cfg.logins);
  /** @type {any[]} */
  const procs = [];
  /** @type {LoadGen[]} */
  const loadgens = [];
  const rows = [];
  /** @type {import('@degas/test-utils').NatsServer | undefined} */
  let natsServer;
  try {
    // Debian's nats-server with JetStream on a free port (the test harness's helper).
    const { startNatsServer } = await import('@degas/test-utils');
    natsServer = await startNatsServer();
    const nats = { url: natsServer.url, pid: /** @type {number} */ (natsServer.proc.pid) };
    const singleDegas = await startServer('echo-degas');
    const clusterDegas = await startServer('echo-degas');
    procs.push(singleDegas, clusterDegas);
    const gateway = (/** @type {any} */ degas, /** @type {string[]} */ extraArgs, /** @type {string} */ name) =>
      startGateway({
        accountsFile,
        degasUrl: degas.url,
        degasIdHex: DEGAS_ID_HEX,
        extraArgs: [...extraArgs, ...ctx.gatewayArgs],
        stdoutFile: ctx.gatewayStdout,
        nodeArgs: ctx.gatewayNodeArgs(name),
      });
    // A cluster name of its own, so that nothing left in the NATS store from another run counts.
    const clusterArgs = (/** @type {number} */ i) => [
      '--nats',
      nats.url,
      '--cluster',
      `bench${process.pid}`,
      '--node-name',
      `bench-node-${i}`,
    ];
    // The single node and the first cluster node start together; the second node after the first
    // (which creates the cluster's bucket).
    const started = await Promise.allSettled([
      gateway(singleDegas, [], 'cluster-single'),
      gateway(clusterDegas, clusterArgs(1), 'cluster-node-1'),
    ]);
    for (const r of started) if (r.status === 'fulfilled') procs.push(r.value);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const [single, node1] = started.map((r) => /** @type {PromiseFulfilledResult<any>} */ (r).value);
    const node2 = await gateway(clusterDegas, clusterArgs(2), 'cluster-node-2');
    procs.push(node2);
    const nodes = [node1, node2];
    const nodePids = nodes.map((g) => g.pid);
    ctx.log(`cluster: nats ${nats.url}, single node pid ${single.pid}, nodes pids ${nodePids.join(', ')}`);

    const addrs = localAddresses(100);
    const connect = async (/** @type {LoadGen} */ lg, /** @type {string} */ url, first, count) => {
      const r = await lg.call('connect', {
        mode: 'gateway',
        url,
        first,
        count,
        localAddresses: addrs,
        concurrency: 50,
      });
      if (r.failed > 0)
        throw new Error(`cluster: ${r.failed} of ${count} clients failed: ${JSON.stringify(r.failures)}`);
    };
    const half = Math.ceil(n / 2);

    // Relay: n clients on the single node; the same n accounts spread over the two nodes.
    const lgSingle = new LoadGen();
    const lgCluster = new LoadGen();
    loadgens.push(lgSingle, lgCluster);
    await connect(lgSingle, single.url, 0, n);
    await connect(lgCluster, node1.url, 0, half);
    await connect(lgCluster, node2.url, half, n - half);
    let links = 0;
    const topo = (/** @type {LoadGen} */ lgS, /** @type {LoadGen} */ lgC) => [
      { key: 'single', lg: lgS, serverPid: single.pid, backendPid: singleDegas.pid },
      {
        key: 'incoming',
        lg: lgC,
        serverPid: nodePids,
        backendPid: clusterDegas.pid,
        busPid: nats.pid,
        before: () => setReplyMode(clusterDegas, 'incoming'),
      },
      {
        key: 'bus',
        lg: lgC,
        serverPid: nodePids,
        backendPid: clusterDegas.pid,
        busPid: nats.pid,
        before: async () => {
          links = await setReplyMode(clusterDegas, 'other');
          // Every node dials the Degas on its first client message (the incoming runs came first).
          if (links < 2) throw new Error(`cluster: the Degas has ${links} gateway link(s), 2 expected`);
        },
      },
    ];
    for (const p of cfg.payloads) {
      const best = await measureBest(topo(lgSingle, lgCluster), cfg, { cmd: 'run', payloadBytes: p });
      const s = best.single;
      for (const [name, key] of [
        ['cluster-relay', 'incoming'],
        ['cluster-relay-bus', 'bus'],
      ]) {
        const g = best[/** @type {string} */ (key)];
        rows.push({
          name,
          clients: n,
          nodes: 2,
          payload_bytes: p,
          replies: key === 'bus' ? 'over the other node: every reply crosses the bus' : 'over the incoming link',
          gateway: g,
          baseline: { kind: 'single-node', ...s },
          ratio: round3(g.msgs_per_s / s.msgs_per_s),
        });
      }
      ctx.log(
        `cluster relay ${n} × ${p} B: single ${s.msgs_per_s} msg/s, 2 nodes ${best.incoming.msgs_per_s} ` +
          `(${round3(best.incoming.msgs_per_s / s.msgs_per_s)}), over the bus ${best.bus.msgs_per_s} (${round3(best.bus.msgs_per_s / s.msgs_per_s)})`,
      );
    }
    for (const lg of [lgSingle, lgCluster]) await lg.call('close');

    // Latency: one client, one message in flight, 64 B.
    await connect(lgSingle, single.url, n, 1);
    await connect(lgCluster, node1.url, n, 1);
    const lat = await measureBest(topo(lgSingle, lgCluster), cfg, { cmd: 'run', payloadBytes: 64 });
    rows.push({
      name: 'cluster-latency',
      clients: 1,
      nodes: 2,
      payload_bytes: 64,
      gateway: lat.bus,
      incoming: lat.incoming,
      baseline: { kind: 'single-node', ...lat.single },
      // What the bus hop adds to a round trip (node → NATS → node), against replies that stay local.
      added_p50_ms: round3(lat.bus.p50_ms - lat.incoming.p50_ms),
      added_p99_ms: round3(lat.bus.p99_ms - lat.incoming.p99_ms),
      ratio: round3(lat.bus.p50_ms / lat.single.p50_ms),
    });
    ctx.log(
      `cluster latency (1 client): single p50/p99 ${lat.single.p50_ms}/${lat.single.p99_ms} ms, ` +
        `incoming ${lat.incoming.p50_ms}/${lat.incoming.p99_ms}, over the bus ${lat.bus.p50_ms}/${lat.bus.p99_ms}`,
    );
    for (const lg of [lgSingle, lgCluster]) await lg.call('close');
    await setReplyMode(clusterDegas, 'incoming');

    // Login storm: the same logins at once on one node, and split over the two nodes.
    const storm = [new LoadGen(), new LoadGen()];
    loadgens.push(...storm);
    const per = Math.ceil(cfg.logins / 2);
    const stormAddrs = localAddresses(200);
    const prepare = (/** @type {string[]} */ urls) =>
      Promise.all(
        storm.map((lg, k) =>
          lg.call('prepare', {
            mode: 'gateway',
            url: urls[k],
            first: n + 1 + k * per,
            count: Math.min(per, cfg.logins - k * per),
            localAddresses: stormAddrs,
          }),
        ),
      );
    /** @type {Record<string, any[]>} */
    const runs = { single: [], cluster: [] };
    /** @type {Map<string, Map<number, number>>[]} */
    const registry = [];
    for (let rep = 0; rep < cfg.stormRepeat; rep++) {
      for (const key of ['single', 'cluster']) {
        const onCluster = key === 'cluster';
        await prepare(onCluster ? [node1.url, node2.url] : [single.url, single.url]);
        const before = onCluster
          ? registryBuckets(await Promise.all(nodes.map((g) => fetchMetrics(g.adminPort))))
          : undefined;
        const r = await fireStorm(storm, onCluster ? nodePids : single.pid);
        if (before)
          registry.push(before, registryBuckets(await Promise.all(nodes.map((g) => fetchMetrics(g.adminPort)))));
        runs[key]?.push(r);
        for (const lg of storm) await lg.call('close');
        // Let the sessions' releases (registry writes on the cluster) finish before the next storm.
        await sleep(cfg.settleMs);
      }
    }
    const best = (/** @type {any[]} */ rs) => rs.reduce((a, b) => (b.logins_per_s > a.logins_per_s ? b : a), rs[0]);
    const bs = best(runs.single ?? []);
    const bc = best(runs.cluster ?? []);
    // Registry operations of the best cluster storm (its before/after pair).
    const bi = (runs.cluster ?? []).indexOf(bc);
    const reg = registryQuantiles(registry[2 * bi] ?? new Map(), registry[2 * bi + 1] ?? new Map());
    rows.push({
      name: 'cluster-login-storm',
      clients: cfg.logins,
      nodes: 2,
      gateway: { ...bc, runs_logins_per_s: runs.cluster?.map((r) => r.logins_per_s), registry: reg },
      baseline: { kind: 'single-node', ...bs, runs_logins_per_s: runs.single?.map((r) => r.logins_per_s) },
      ratio: bs.logins_per_s > 0 ? round3(bc.logins_per_s / bs.logins_per_s) : null,
    });
    ctx.log(
      `cluster login storm ${cfg.logins}: single ${bs.logins_per_s}/s, 2 nodes ${bc.logins_per_s}/s; registry ${JSON.stringify(reg)}`,
    );
  } finally {
    for (const lg of loadgens) await lg.stop();
    for (const p of procs.reverse()) await stopProcess(p.child);
    await natsServer?.stop();
  }
  return rows;
}
