import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startTestGateway, type TestGateway } from '@degas/test-utils';
import { startGateway } from '../src/gateway.js';
import { startRuntimeMetrics } from '../src/runtime-metrics.js';
import { parseExposition, type Sample } from './prom-text.js';

// A synchronous full collection on demand, without starting jest with --expose-gc.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Runs a full collection and resolves once performance observers have been handed its entry. */
function gcObserved(): Promise<void> {
  return new Promise((resolve) => {
    const obs = new PerformanceObserver(() => {
      obs.disconnect();
      resolve();
    });
    obs.observe({ entryTypes: ['gc'] });
    collectGarbage();
  });
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('startRuntimeMetrics', () => {
  test('renders the process and Node.js series with sane values', async () => {
    const runtime = startRuntimeMetrics();
    try {
      const { samples, types } = parseExposition(await runtime.metrics());
      const families: Array<[string, string]> = [
        ['process_cpu_user_seconds_total', 'counter'],
        ['process_cpu_system_seconds_total', 'counter'],
        ['process_cpu_seconds_total', 'counter'],
        ['process_start_time_seconds', 'gauge'],
        ['process_resident_memory_bytes', 'gauge'],
        ['process_open_fds', 'gauge'],
        ['process_max_fds', 'gauge'],
        ['nodejs_heap_size_total_bytes', 'gauge'],
        ['nodejs_heap_size_used_bytes', 'gauge'],
        ['nodejs_external_memory_bytes', 'gauge'],
        ['nodejs_heap_space_size_total_bytes', 'gauge'],
        ['nodejs_heap_space_size_used_bytes', 'gauge'],
        ['nodejs_heap_space_size_available_bytes', 'gauge'],
        ['nodejs_version_info', 'gauge'],
        ['nodejs_eventloop_lag_p50_seconds', 'gauge'],
        ['nodejs_eventloop_lag_p90_seconds', 'gauge'],
        ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
        ['nodejs_eventloop_lag_max_seconds', 'gauge'],
        ['nodejs_gc_duration_seconds', 'histogram'],
      ];
      for (const [name, type] of families) {
        expect([name, types.get(name)]).toEqual([name, type]);
      }
      // CPU counts from the process start, not from this registry's.
      const cpu = value(samples, 'process_cpu_seconds_total')!;
      expect(cpu).toBeGreaterThan(0);
      expect(cpu).toBeCloseTo(
        value(samples, 'process_cpu_user_seconds_total')! + value(samples, 'process_cpu_system_seconds_total')!,
        6,
      );
      const usage = process.cpuUsage();
      expect(cpu).toBeLessThanOrEqual((usage.user + usage.system) / 1e6);
      expect(
        Math.abs(value(samples, 'process_start_time_seconds')! - (Date.now() / 1000 - process.uptime())),
      ).toBeLessThan(2);
      const openFds = value(samples, 'process_open_fds')!;
      expect(openFds).toBeGreaterThan(2);
      expect(openFds).toBeLessThan(value(samples, 'process_max_fds')!);
      expect(value(samples, 'process_resident_memory_bytes')).toBeGreaterThan(
        value(samples, 'nodejs_heap_size_used_bytes')!,
      );
      expect(value(samples, 'nodejs_heap_space_size_used_bytes', { space: 'old' })).toBeGreaterThan(0);
      expect(value(samples, 'nodejs_heap_space_size_total_bytes', { space: 'new' })).toBeGreaterThan(0);
      const [major = '', minor = '', patch = ''] = process.versions.node.split('.');
      expect(value(samples, 'nodejs_version_info', { version: process.version, major, minor, patch })).toBe(1);
      // Every GC kind is there from the start, so rate() over it works before the first collection.
      for (const kind of ['major', 'minor', 'incremental', 'weakcb']) {
        expect(value(samples, 'nodejs_gc_duration_seconds_bucket', { kind, le: '+Inf' })).toBeDefined();
      }
    } finally {
      runtime.close();
    }
  });

  test('the event-loop delay shows a blocked loop, beyond the sampling interval', async () => {
    const runtime = startRuntimeMetrics();
    try {
      // The monitor's first run only starts its clock. After 20 ms its timer (due 10 ms after the
      // start) is more overdue than a new 0 ms one, so it runs first in the next timers phase;
      // then block the loop for real.
      busy(20);
      await new Promise((resolve) => setTimeout(resolve, 0));
      busy(100);
      // The very next scrape shows the block, in every statistic of one window (p99 and max
      // come from the same reading as min, not from the previous scrape).
      const { samples } = parseExposition(await runtime.metrics());
      const stat = (s: string) => value(samples, `nodejs_eventloop_lag_${s}_seconds`)!;
      expect(stat('max')).toBeGreaterThanOrEqual(0.04);
      // Bounded by the block (100 ms, less the 10 ms interval), with room for a loaded machine.
      expect(stat('max')).toBeLessThan(0.5);
      expect(stat('p99')).toBeGreaterThanOrEqual(0.04);
      expect(stat('min')).toBeLessThanOrEqual(stat('p50'));
      expect(stat('p50')).toBeLessThanOrEqual(stat('p90'));
      expect(stat('p90')).toBeLessThanOrEqual(stat('p99'));
      expect(stat('p99')).toBeLessThanOrEqual(stat('max'));
      expect(stat('mean')).toBeGreaterThan(0);
    } finally {
      runtime.close();
    }
  });

  test('counts every collection by kind, and none once closed', async () => {
    const runtime = startRuntimeMetrics();
    const majors = async () =>
      value(parseExposition(await runtime.metrics()).samples, 'nodejs_gc_duration_seconds_count', { kind: 'major' })!;
    try {
      const before = await majors();
      // Three full collections in one burst: Node hands them to the observer together.
      await new Promise<void>((resolve) => {
        let seen = 0;
        const obs = new PerformanceObserver((list) => {
          seen += list.getEntries().length;
          if (seen >= 3) {
            obs.disconnect();
            resolve();
          }
        });
        obs.observe({ entryTypes: ['gc'] });
        collectGarbage();
        collectGarbage();
        collectGarbage();
      });
      expect((await majors()) - before).toBeGreaterThanOrEqual(3);
      runtime.close();
      runtime.close();
      const closed = await majors();
      await gcObserved();
      expect(await majors()).toBe(closed);
    } finally {
      runtime.close();
    }
  });

  test('rejects a bad resolution', () => {
    expect(() => startRuntimeMetrics({ eventLoopResolutionMs: 0 })).toThrow(RangeError);
    expect(() => startRuntimeMetrics({ eventLoopResolutionMs: 1.5 })).toThrow(RangeError);
  });
});

describe('runtime series on a live gateway', () => {
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    a = await startTestGateway(startGateway, { adminPort: 0, adminHost: '127.0.0.1' });
    b = await startTestGateway(startGateway, { adminPort: 0, adminHost: '127.0.0.1' });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  test('two gateways in one process each serve their own series next to the degas_gateway_ ones', async () => {
    for (const env of [a, b, a]) {
      const res = await fetch(`http://127.0.0.1:${env.adminPort}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const { samples, types } = parseExposition(await res.text());
      expect(types.get('degas_gateway_connections')).toBe('gauge');
      expect(types.get('degas_gateway_verify_duration_seconds')).toBe('histogram');
      expect(types.get('nodejs_gc_duration_seconds')).toBe('histogram');
      expect(value(samples, 'process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(value(samples, 'nodejs_version_info', { version: process.version })).toBe(1);
      // The gateway's own resident-memory series keeps its name next to the standard one.
      expect(value(samples, 'degas_gateway_resident_memory_bytes')).toBeGreaterThan(0);
      expect(value(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    }
  });
});
