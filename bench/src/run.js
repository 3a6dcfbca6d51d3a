#!/usr/bin/env node
// Entry point of the benchmarks: `node src/run.js [relay|fanout|login-storm|idle ...] [flags]`.
// Without scenario names it runs all four. See bench/README.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { GATEWAY_BIN, gatewayAvailable, killAll, SRC_DIR, setGatewayBin } from './lib/procs.js';
import { commitInfo, evaluateTargets, formatReport, machineInfo, writeResult } from './lib/report.js';
import { runCluster } from './scenarios/cluster.js';
import { runFanout } from './scenarios/fanout.js';
import { runIdle } from './scenarios/idle.js';
import { runLoginCost } from './scenarios/login-cost.js';
import { measureNobleRate, runLoginStorm } from './scenarios/login-storm.js';
import { runReconnectStorm } from './scenarios/reconnect-storm.js';
import { runRelay } from './scenarios/relay.js';

const SCENARIOS = ['relay', 'tls-relay', 'fanout', 'login-storm', 'idle', 'reconnect-storm', 'cluster'];
/** Run only when named. */
const EXTRA_SCENARIOS = ['login-cost'];

const USAGE = `usage: node src/run.js [${[...SCENARIOS, ...EXTRA_SCENARIOS].join('|')} ...] [options]
  --quick               smoke sizes (a few seconds per scenario; numbers are meaningless)
  --out DIR             where result JSON goes (default bench/results)
  --no-latest           do not update DIR/latest.json
  --merge-latest        replace only this run's scenarios in DIR/latest.json, keep the others
  --no-gateway          baselines only (before the gateway is built)
  --cpu-prof            run the gateway with --cpu-prof (profiles in DIR/prof/<scenario>/)
  --gateway-bin FILE    benchmark another gateway build (default packages/gateway/dist/bin.js)
  --gateway-node-args S extra node flags for the gateway, e.g. "--trace-gc" (its stdout: DIR/gateway-stdout.log)
  --gateway-args S      extra options for the gateway bin, e.g. --gateway-args="--verifier-nice 0"
  relay:        --clients 1,100,1000  --payloads 64,1024,16384,65536  --full-matrix
                --warmup-ms N  --duration-ms N  --repeat N (best of N per cell)
  tls-relay:    the relay over wss:// (gateway --tls-cert vs a raw ws relay behind https.Server), 100 clients
                × 64 B, 1 KiB, 16 KiB by default; --tls-clients, --tls-payloads (and the relay's timing flags)
  fanout:       --recipients N (default 1000)  --fanout-payloads 64,1024
  login-storm:  --logins N (default 5000)  --calm N (default 100)  --calm-interval-ms N (default 20;
                0 = unpaced closed loop)  --storm-nice N (default 10)  --verifier native|noble
                --noble-logins N (default 1000; a second storm with --verifier noble, 0 = skip)
                --no-storm-control (skip the control: the same storm against a second gateway process
                while the calm clients measure the first)
  idle:         --idle N (default 20000, capped by the open-files limit)
  reconnect-storm: --reconnect-clients N (default 2000)  --reconnect-variants single,cluster
                (default both when nats-server is installed, else single; --quick: single)
                --reconnect-verifiers native,noble (default both: the gateway's verifier in both storms)
  login-cost:   --cost-logins N (default 2000)  --no-strace   (only when named: main-thread system calls,
                allocations and CPU per login, gateway vs raw ws server; counts, so it holds on a loaded machine)
  cluster:      --cluster-clients N (default 100)  --cluster-payloads 64,1024  --cluster-logins N (default 2000)
                (needs nats-server: on PATH, in /usr/sbin, or NATS_SERVER)`;

/**
 * @typedef {{ tmpDir: string, withGateway: boolean, log: (line: string) => void,
 *   gatewayNodeArgs: (scenario: string) => string[], gatewayArgs: string[], gatewayStdout: string | undefined }} Context
 */

function main() {
  const { values: v, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      'no-latest': { type: 'boolean', default: false },
      'merge-latest': { type: 'boolean', default: false },
      'no-gateway': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'gateway-bin': { type: 'string' },
      'gateway-node-args': { type: 'string' },
      'gateway-args': { type: 'string' },
      clients: { type: 'string' },
      payloads: { type: 'string' },
      'full-matrix': { type: 'boolean', default: false },
      'tls-clients': { type: 'string' },
      'tls-payloads': { type: 'string' },
      'warmup-ms': { type: 'string' },
      'duration-ms': { type: 'string' },
      repeat: { type: 'string' },
      recipients: { type: 'string' },
      'fanout-payloads': { type: 'string' },
      logins: { type: 'string' },
      calm: { type: 'string' },
      'calm-interval-ms': { type: 'string' },
      'storm-nice': { type: 'string' },
      'noble-logins': { type: 'string' },
      'no-storm-control': { type: 'boolean', default: false },
      verifier: { type: 'string' },
      idle: { type: 'string' },
      'reconnect-clients': { type: 'string' },
      'reconnect-variants': { type: 'string' },
      'reconnect-verifiers': { type: 'string' },
      'cost-logins': { type: 'string' },
      'no-strace': { type: 'boolean', default: false },
      'cluster-clients': { type: 'string' },
      'cluster-payloads': { type: 'string' },
      'cluster-logins': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (v.help) {
    console.log(USAGE);
    return Promise.resolve(0);
  }
  for (const p of positionals) {
    if (!SCENARIOS.includes(p) && !EXTRA_SCENARIOS.includes(p)) {
      console.error(`unknown scenario "${p}"\n${USAGE}`);
      return Promise.resolve(2);
    }
  }
  const list = (/** @type {string | undefined} */ s) =>
    s?.split(',').map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`not a size: ${x}`);
      return n;
    });
  const num = (/** @type {string | undefined} */ s, /** @type {number} */ d) => (s === undefined ? d : Number(s));
  const q = v.quick;
  const all = [64, 1024, 16384, 65536];
  /** @type {{ clients: number, payloads: number[] }[]} */
  let cells = q
    ? [{ clients: 2, payloads: [64, 1024] }]
    : v['full-matrix']
      ? [1, 100, 1000].map((clients) => ({ clients, payloads: all }))
      : [
          { clients: 1, payloads: [64, 1024] },
          { clients: 100, payloads: all },
          { clients: 1000, payloads: [64, 1024] },
        ];
  if (v.clients || v.payloads) {
    const clients = list(v.clients) ?? [...new Set(cells.map((c) => c.clients))];
    const payloads = list(v.payloads) ?? all;
    cells = clients.map((c) => ({ clients: c, payloads }));
  }
  // Open-files limit: the gateway holds one descriptor per client plus a few of its own.
  const fdLimit = openFilesLimit();
  const idleMax = Math.max(10, fdLimit - 300);
  const idleWanted = num(v.idle, q ? 50 : 20000);
  const cfg = {
    relay: {
      cells,
      warmupMs: num(v['warmup-ms'], q ? 100 : 1000),
      durationMs: num(v['duration-ms'], q ? 300 : 3000),
      repeat: num(v.repeat, q ? 1 : 2),
    },
    tlsRelay: {
      cells: (list(v['tls-clients']) ?? [q ? 2 : 100]).map((clients) => ({
        clients,
        payloads: list(v['tls-payloads']) ?? (q ? [64] : [64, 1024, 16384]),
      })),
      warmupMs: num(v['warmup-ms'], q ? 100 : 1000),
      durationMs: num(v['duration-ms'], q ? 300 : 3000),
      repeat: num(v.repeat, q ? 1 : 2),
    },
    fanout: {
      recipients: num(v.recipients, q ? 5 : 1000),
      payloads: list(v['fanout-payloads']) ?? (q ? [64] : [64, 1024]),
      warmupMs: num(v['warmup-ms'], q ? 100 : 1000),
      durationMs: num(v['duration-ms'], q ? 300 : 3000),
      repeat: num(v.repeat, q ? 1 : 2),
    },
    storm: {
      logins: num(v.logins, q ? 20 : 5000),
      calm: num(v.calm, q ? 2 : 100),
      stormProcs: q ? 1 : 2,
      payloadBytes: 64,
      intervalMs: num(v['calm-interval-ms'], 20),
      warmupMs: q ? 100 : 1000,
      durationMs: q ? 300 : 3000,
      verifier: v.verifier,
      rawBaseline: true,
      stormNice: num(v['storm-nice'], 10),
      nobleLogins: num(v['noble-logins'], q ? 0 : 1000),
      control: !v['no-storm-control'],
    },
    reconnect: {
      clients: num(v['reconnect-clients'], q ? 20 : 2000),
      procs: q ? 1 : 2,
      // Both variants of the issue by default; the cluster one needs nats-server (Debian's package).
      variants: (v['reconnect-variants'] ?? (q || !natsServerFound() ? 'single' : 'single,cluster'))
        .split(',')
        .filter(Boolean),
      verifiers: (v['reconnect-verifiers'] ?? (q ? 'native' : 'native,noble')).split(',').filter(Boolean),
      // The cluster variant's nats-server (Debian's package), started per storm.
      startNats: async () => {
        const { startNatsServer } = await import('@degas/test-utils');
        const server = await startNatsServer();
        return { url: server.url, stop: () => server.stop() };
      },
    },
    cluster: {
      clients: num(v['cluster-clients'], q ? 2 : 100),
      payloads: list(v['cluster-payloads']) ?? (q ? [64] : [64, 1024]),
      warmupMs: num(v['warmup-ms'], q ? 100 : 1000),
      durationMs: num(v['duration-ms'], q ? 300 : 3000),
      // Three processes against one: on a shared machine the best of 3 is worth the 25 s.
      repeat: num(v.repeat, q ? 1 : 3),
      logins: num(v['cluster-logins'], q ? 20 : 2000),
      stormRepeat: q ? 1 : 2,
      settleMs: q ? 200 : 2000,
    },
    cost: { logins: num(v['cost-logins'], q ? 20 : 2000), strace: !v['no-strace'] },
    idle: {
      connections: Math.min(idleWanted, idleMax),
      wanted: idleWanted,
      perLoadgen: 10000,
      settleMs: q ? 200 : 2000,
    },
  };
  if (cfg.idle.connections < idleWanted && (positionals.length === 0 || positionals.includes('idle'))) {
    console.error(
      `idle: ${idleWanted} connections wanted, the open-files limit (${fdLimit}) allows ${cfg.idle.connections}`,
    );
  }
  const outDir = v.out ?? join(SRC_DIR, '..', 'results');
  if (v['gateway-bin']) setGatewayBin(v['gateway-bin']);
  const withGateway = !v['no-gateway'];
  if (withGateway && !gatewayAvailable()) {
    console.error(`${GATEWAY_BIN} does not exist: run \`pnpm build\` first (or pass --no-gateway for baselines only)`);
    return Promise.resolve(2);
  }
  const tmpDir = mkdtempSync(join(os.tmpdir(), 'degas-bench-'));
  // The gateway's stdout (--gateway-node-args) goes to a file in DIR before any result is written.
  mkdirSync(outDir, { recursive: true });
  /** @type {Context} */
  const ctx = {
    tmpDir,
    withGateway,
    log: (line) => console.error(`[bench] ${line}`),
    gatewayNodeArgs: (scenario) => [
      ...(v['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(outDir, 'prof', scenario)}`] : []),
      ...(v['gateway-node-args']?.split(' ').filter(Boolean) ?? []),
    ],
    gatewayArgs: v['gateway-args']?.split(' ').filter(Boolean) ?? [],
    gatewayStdout: v['gateway-node-args'] ? join(outDir, 'gateway-stdout.log') : undefined,
  };
  const wanted =
    positionals.length > 0 ? [...SCENARIOS, ...EXTRA_SCENARIOS].filter((s) => positionals.includes(s)) : SCENARIOS;
  const started = new Date();
  const { commit, dirty } = commitInfo();
  const result = {
    schema_version: 1,
    date: started.toISOString(),
    commit,
    dirty,
    quick: q,
    gateway_bin: withGateway ? relative(join(SRC_DIR, '..', '..'), GATEWAY_BIN) : null,
    machine: machineInfo(),
    config: { scenarios: wanted, gateway_args: ctx.gatewayArgs, ...cfg },
    scenarios: /** @type {any[]} */ ([]),
    targets: /** @type {any[]} */ ([]),
    duration_s: 0,
  };
  return (async () => {
    try {
      for (const s of wanted) {
        const t = Date.now();
        ctx.log(`${s}: start`);
        if (s === 'relay') result.scenarios.push(...(await runRelay(cfg.relay, ctx)));
        if (s === 'tls-relay') result.scenarios.push(...(await runRelay(cfg.tlsRelay, ctx, { tls: true })));
        if (s === 'fanout') result.scenarios.push(...(await runFanout(cfg.fanout, ctx)));
        if (s === 'login-storm') {
          result.scenarios.push(...(await runLoginStorm(cfg.storm, ctx)));
          if (cfg.storm.nobleLogins > 0 && cfg.storm.verifier === undefined) {
            // The portable path: the same storm, smaller, with the pure-JS verifier.
            const nobleRate = await measureNobleRate(q ? 200 : 1500);
            ctx.log(`login-storm: @noble/secp256k1 single-thread rate ${nobleRate}/s`);
            const noble = {
              ...cfg.storm,
              logins: cfg.storm.nobleLogins,
              verifier: 'noble',
              rawBaseline: false,
              nobleRate,
            };
            result.scenarios.push(...(await runLoginStorm(noble, ctx)));
          }
        }
        if (s === 'idle') result.scenarios.push(...(await runIdle(cfg.idle, ctx)));
        if (s === 'reconnect-storm') result.scenarios.push(...(await runReconnectStorm(cfg.reconnect, ctx)));
        if (s === 'login-cost') result.scenarios.push(...(await runLoginCost(cfg.cost, ctx)));
        if (s === 'cluster') result.scenarios.push(...(await runCluster(cfg.cluster, ctx)));
        ctx.log(`${s}: done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      }
    } finally {
      rmSync(tmpDir, { recursive: true, force: true });
    }
    result.targets = q ? [] : evaluateTargets(result.scenarios);
    result.duration_s = Math.round((Date.now() - started.getTime()) / 100) / 10;
    const file = writeResult(outDir, result, v['no-latest'] ? 'no' : v['merge-latest'] ? 'merge' : 'copy');
    console.log(formatReport(result));
    console.log(`\nwritten: ${file}${v['no-latest'] ? '' : ' (and latest.json)'}; total ${result.duration_s} s`);
    if (v['cpu-prof']) {
      const profDir = join(outDir, 'prof');
      try {
        console.log(
          `CPU profiles: ${readdirSync(profDir)
            .map((d) => join(profDir, d))
            .join(', ')} (summarise with node src/prof-summary.js FILE)`,
        );
      } catch {}
    }
    return 0;
  })();
}

/** Whether a nats-server executable is installed (on PATH or in /usr/sbin, where Debian puts it). */
function natsServerFound() {
  return ['nats-server', '/usr/sbin/nats-server'].some(
    (bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0,
  );
}

/** The soft open-files limit of this process (the gateway and load generators inherit it). */
function openFilesLimit() {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : 20000;
  } catch {
    return 20000;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(e);
    killAll();
    process.exitCode = 1;
  },
);
