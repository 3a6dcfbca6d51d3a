// Smoke test: every scenario runs end to end in --quick mode (tiny sizes, real processes: the
// gateway bin, the echo Degas, the baselines, forked load generators) and writes a result file
// of the documented shape. Results go to a temporary directory, never to bench/results.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const runJs = join(benchDir, 'src', 'run.js');
const gatewayBin = join(benchDir, '..', 'packages', 'gateway', 'dist', 'bin.js');

let outDir = '';
beforeAll(() => {
  outDir = mkdtempSync(join(os.tmpdir(), 'degas-bench-smoke-'));
});
afterAll(() => {
  rmSync(outDir, { recursive: true, force: true });
});

/**
 * Runs one scenario in quick mode into its own directory and returns the parsed result file.
 * @param {string} scenario
 * @param {number} [timeoutMs]
 */
function runQuick(scenario, timeoutMs = 40_000) {
  const dir = join(outDir, scenario);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [runJs, scenario, '--quick', '--out', dir],
      { timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${scenario} failed: ${err.message}\n${stdout}\n${stderr}`));
          return;
        }
        const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
        resolve({ stdout, files, result: JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) });
      },
    );
  });
}

const positive = (/** @type {unknown} */ x) => typeof x === 'number' && Number.isFinite(x) && x > 0;

/** @param {any} result */
function expectEnvelope(result) {
  expect(typeof result.commit).toBe('string');
  expect(Number.isNaN(Date.parse(result.date))).toBe(false);
  expect(typeof result.machine.cpu_model).toBe('string');
  expect(positive(result.machine.cores)).toBe(true);
  expect(result.machine.node).toBe(process.version);
  expect(Array.isArray(result.scenarios)).toBe(true);
  expect(result.scenarios.length).toBeGreaterThan(0);
}

/** @param {any} f */
function expectThroughput(f) {
  for (const k of ['msgs_per_s', 'p50_ms', 'p99_ms', 'p999_ms', 'rss_bytes'])
    expect([k, positive(f[k])]).toEqual([k, true]);
  expect(f.p50_ms).toBeLessThanOrEqual(f.p99_ms);
  expect(f.p99_ms).toBeLessThanOrEqual(f.p999_ms);
  expect(f.cpu_percent).toBeGreaterThanOrEqual(0);
  expect(f.errors).toBe(0);
}

test('the gateway is built (the smoke test drives the real bin)', () => {
  expect(existsSync(gatewayBin)).toBe(true);
});

test.each([
  ['relay', [64, 1024], 'raw-ws-relay'],
  ['tls-relay', [64], 'raw-ws-relay-tls'],
])('%s: gateway, raw relay and direct echo figures with a ratio', async (scenario, payloads, baselineKind) => {
  const { stdout, files, result } = /** @type {any} */ (await runQuick(scenario));
  expect(files).toContain('latest.json');
  expect(files.length).toBe(2);
  expectEnvelope(result);
  expect(stdout).toContain('ratio');
  const rows = result.scenarios;
  expect(rows.map((/** @type {any} */ s) => s.payload_bytes)).toEqual(payloads);
  for (const s of rows) {
    expect(s.name).toBe(scenario);
    expect(s.clients).toBe(2);
    expect(s.baseline.kind).toBe(baselineKind);
    expectThroughput(s.gateway);
    expectThroughput(s.baseline);
    expectThroughput(s.direct);
    expect(s.ratio).toBeCloseTo(s.gateway.msgs_per_s / s.baseline.msgs_per_s, 2);
  }
});

test('fanout: deliveries per second through degas_to_clients and the raw broadcast', async () => {
  const { result } = /** @type {any} */ (await runQuick('fanout'));
  expectEnvelope(result);
  const [s] = result.scenarios;
  expect(s.name).toBe('fanout');
  expect(s.clients).toBe(5);
  expect(s.payload_bytes).toBe(64);
  expectThroughput(s.gateway);
  expectThroughput(s.baseline);
  expect(positive(s.ratio)).toBe(true);
});

test('login-storm: every login succeeds and the verifier is reported', async () => {
  const { result } = /** @type {any} */ (await runQuick('login-storm'));
  expectEnvelope(result);
  const [s] = result.scenarios;
  expect(s.name).toBe('login-storm');
  expect(s.clients).toBe(20);
  expect(s.gateway.logins_ok).toBe(20);
  expect(s.gateway.logins_failed).toBe(0);
  expect(positive(s.gateway.logins_per_s)).toBe(true);
  expect(positive(s.gateway.time_to_all_authenticated_ms)).toBe(true);
  expect(['native', 'noble']).toContain(s.gateway.verifier);
  expectThroughput(s.baseline);
  expect(positive(s.gateway.p99_ms)).toBe(true);
  expect(s.ratio).toBeCloseTo(s.gateway.p99_ms / s.baseline.p99_ms, 2);
  // The control: the same storm against a second gateway, measured from the first one's clients.
  expect(s.storm_elsewhere.storm_logins_per_s).toBeGreaterThan(0);
  expect(s.storm_elsewhere.storm_logins_failed).toBe(0);
  expect(s.ratio_storm_elsewhere).toBeCloseTo(s.storm_elsewhere.p99_ms / s.baseline.p99_ms, 2);
  expect(s.ratio_storm_vs_elsewhere).toBeCloseTo(s.gateway.p99_ms / s.storm_elsewhere.p99_ms, 2);
  // The gateway's own view of each window, read from its /metrics.
  for (const w of [s.baseline, s.gateway, s.storm_elsewhere]) {
    expect(w.main_thread_loop_delay_max_ms).toBeGreaterThanOrEqual(0);
    expect(w.main_thread_loop_delay_max_ms).toBeGreaterThanOrEqual(w.main_thread_loop_delay_p99_ms);
    expect(w.main_thread_gc_pauses).toBeGreaterThanOrEqual(0);
    expect(w.main_thread_gc_pause_ms).toBeGreaterThanOrEqual(0);
    // No --max-logins-in-progress in the smoke run: no slot, no deadline.
    expect(w.login_slots_expired).toBe(0);
  }
});

test('login-cost: main-thread CPU, allocations and (with strace) system calls per login, gateway and raw', async () => {
  const { result } = /** @type {any} */ (await runQuick('login-cost'));
  expectEnvelope(result);
  const [s] = result.scenarios;
  expect(s.name).toBe('login-cost');
  for (const f of [s.gateway, s.baseline]) {
    expect(f.logins).toBe(20);
    // 20 logins may fit between two garbage collections (none counted): a number, maybe 0.
    expect(Number.isInteger(f.main_thread_allocated_bytes_per_login)).toBe(true);
    expect(f.main_thread_allocated_bytes_per_login).toBeGreaterThanOrEqual(0);
    expect(f.main_thread_cpu_us_per_login).toBeGreaterThanOrEqual(0);
    if (f.syscalls_per_login !== undefined)
      expect(f.syscalls_per_login.writev ?? f.syscalls_per_login.write).toBeGreaterThan(0);
  }
});

test('idle: RSS per connection for the gateway and the raw ws server', async () => {
  const { result } = /** @type {any} */ (await runQuick('idle'));
  expectEnvelope(result);
  const [s] = result.scenarios;
  expect(s.name).toBe('idle');
  expect(s.clients).toBe(50);
  for (const f of [s.gateway, s.baseline]) {
    expect(f.connections).toBe(50);
    expect(positive(f.rss_bytes)).toBe(true);
    expect(Number.isFinite(f.rss_per_connection_bytes)).toBe(true);
  }
  // 50 connections are within RSS noise: the ratio may be undefined (null), never a non-number.
  expect(s.ratio === null || Number.isFinite(s.ratio)).toBe(true);
});

test('reconnect-storm: every client comes back; with resume none signs, without resume all do', async () => {
  const { result } = /** @type {any} */ (await runQuick('reconnect-storm'));
  expectEnvelope(result);
  const [s] = result.scenarios;
  expect(s.name).toBe('reconnect-storm');
  expect(s.variant).toBe('single');
  expect(s.verifier).toBe('native');
  expect(s.clients).toBe(20);
  expect(s.gateway).toMatchObject({ back: 20, failed: 0, resumed: 20, signed: 0, signatures_verified: 0 });
  expect(s.baseline).toMatchObject({ back: 20, failed: 0, resumed: 0, signed: 20, signatures_verified: 20 });
  expect(positive(s.gateway.reconnects_per_s)).toBe(true);
  expect(positive(s.baseline.reconnects_per_s)).toBe(true);
  expect(s.ratio).toBeCloseTo(s.gateway.reconnects_per_s / s.baseline.reconnects_per_s, 2);
});

test('cluster: two NATS-joined nodes against a single node — relay, relay over the bus, latency, login storm', async () => {
  // Four gateways-worth of processes (a single node, two nodes, nats-server): the longest smoke.
  const { stdout, result } = /** @type {any} */ (await runQuick('cluster', 80_000));
  expectEnvelope(result);
  expect(stdout).toContain('Cluster relay');
  const by = (/** @type {string} */ name) => result.scenarios.filter((/** @type {any} */ s) => s.name === name);
  for (const name of ['cluster-relay', 'cluster-relay-bus']) {
    const [s] = by(name);
    expect(s).toMatchObject({ clients: 2, nodes: 2, payload_bytes: 64 });
    expectThroughput(s.gateway);
    expectThroughput(s.baseline);
    expect(s.gateway.processes).toBe(2); // CPU and RSS of both nodes
    expect(s.gateway.bus_cpu_percent).toBeGreaterThanOrEqual(0);
    expect(s.ratio).toBeCloseTo(s.gateway.msgs_per_s / s.baseline.msgs_per_s, 2);
  }
  const [lat] = by('cluster-latency');
  expect(lat.clients).toBe(1);
  for (const f of [lat.gateway, lat.incoming, lat.baseline]) expectThroughput(f);
  expect(lat.added_p50_ms).toBeCloseTo(lat.gateway.p50_ms - lat.incoming.p50_ms, 3);
  const [storm] = by('cluster-login-storm');
  expect(storm.clients).toBe(20);
  for (const f of [storm.gateway, storm.baseline]) {
    expect(f.logins_ok).toBe(20);
    expect(f.logins_failed).toBe(0);
    expect(positive(f.logins_per_s)).toBe(true);
  }
  expect(storm.ratio).toBeCloseTo(storm.gateway.logins_per_s / storm.baseline.logins_per_s, 2);
  // Every login claimed its account in the cluster registry.
  const ops = Object.values(storm.gateway.registry);
  expect(ops.length).toBeGreaterThan(0);
  expect(Math.max(...ops.map((/** @type {any} */ r) => r.count))).toBeGreaterThanOrEqual(20);
}, 90_000);
