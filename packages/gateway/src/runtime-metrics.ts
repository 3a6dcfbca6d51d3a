/**
 * The standard Node.js process and runtime series (`process_*`, `nodejs_*`) for /metrics, in the
 * names and units of prom-client's default metrics, so dashboards made for Node services work
 * unchanged. Each admin server owns one instance with its own prom-client `Registry` (never the
 * global one), so several gateways in one process never collide, and `close()` stops its two
 * collectors that run between scrapes (the event-loop delay monitor and the GC observer).
 *
 * Why not `collectDefaultMetrics()`: it cannot be stopped (its event-loop monitor and GC
 * observer stay for the life of the process, one more set per registry: prom-client issues #494
 * and #500), and its GC histogram counts only the first entry of each observer callback (Node
 * batches them: 2 of 108 collections counted in a burst, measured on Node 20). Everything else is
 * read at scrape time; nothing here runs per message.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { monitorEventLoopDelay, PerformanceObserver, constants as perfConstants, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Upper bounds (seconds) of `nodejs_gc_duration_seconds`: young-generation scavenges take 0.1–5 ms. */
export const GC_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/**
 * Open descriptors of this process (Linux). Since Linux 6.2 the size of `/proc/self/fd` is their
 * count, read from the descriptor bitmap in microseconds. Older kernels report 0: list the
 * directory then, which costs about 2.5 µs of CPU per descriptor (a quarter of a second at
 * 100 000 connections), on the thread pool.
 */
async function countOpenFds(): Promise<number | undefined> {
  try {
    const { size } = await stat('/proc/self/fd');
    if (size > 0) return size;
    // One of the listed descriptors is the directory being read.
    return (await readdir('/proc/self/fd')).length - 1;
  } catch {
    return undefined;
  }
}

/** Options of {@link startRuntimeMetrics}. */
export interface RuntimeMetricsOptions {
  /** Sampling interval of the event-loop delay monitor, in milliseconds (integer ≥ 1); default 10. */
  eventLoopResolutionMs?: number;
}

/** A running set of runtime collectors; see {@link startRuntimeMetrics}. */
export interface RuntimeMetrics {
  /** The registry holding the series (this instance's own). */
  readonly registry: Registry;
  /** The series in the Prometheus text format (0.0.4), ending with a newline. */
  metrics(): Promise<string>;
  /** Stops the event-loop monitor and the GC observer; later scrapes show the last values. Idempotent. */
  close(): void;
}

const GC_KINDS: ReadonlyArray<[number, string]> = [
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [perfConstants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
];

const EVENT_LOOP_STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

type CpuTime = { user: number; system: number };
const CPU_COUNTERS: ReadonlyArray<readonly [string, string, (t: CpuTime) => number]> = [
  ['process_cpu_user_seconds_total', 'User CPU time spent, in seconds.', (t) => t.user],
  ['process_cpu_system_seconds_total', 'System CPU time spent, in seconds.', (t) => t.system],
  ['process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', (t) => t.user + t.system],
];

const MEMORY_GAUGES = [
  ['process_resident_memory_bytes', 'Resident memory size, in bytes.', 'rss'],
  ['nodejs_heap_size_total_bytes', 'V8 heap size, in bytes.', 'heapTotal'],
  ['nodejs_heap_size_used_bytes', 'V8 heap in use, in bytes.', 'heapUsed'],
  [
    'nodejs_external_memory_bytes',
    'Memory of C++ objects bound to JavaScript objects (buffers among them), in bytes.',
    'external',
  ],
] as const;

const HEAP_SPACE_FIELDS = [
  ['total', 'space_size'],
  ['used', 'space_used_size'],
  ['available', 'space_available_size'],
] as const;

/**
 * Starts the runtime collectors. Series: `process_cpu_user_seconds_total`,
 * `process_cpu_system_seconds_total`, `process_cpu_seconds_total`, `process_start_time_seconds`,
 * `process_resident_memory_bytes`, `process_open_fds` and `process_max_fds` (Linux),
 * `nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds` (since the previous scrape),
 * `nodejs_gc_duration_seconds{kind}`, `nodejs_heap_size_total_bytes`, `nodejs_heap_size_used_bytes`,
 * `nodejs_external_memory_bytes`, `nodejs_heap_space_size_{total,used,available}_bytes{space}`,
 * `nodejs_version_info{version,major,minor,patch}`.
 * @example
 * const runtime = startRuntimeMetrics();
 * res.end((await runtime.metrics()));
 * runtime.close();
 */
export function startRuntimeMetrics(options: RuntimeMetricsOptions = {}): RuntimeMetrics {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const resolution = options.eventLoopResolutionMs ?? 10;
  if (!Number.isInteger(resolution) || resolution < 1) {
    throw new RangeError(`eventLoopResolutionMs must be an integer ≥ 1, got ${String(resolution)}`);
  }
  const registry = new Registry();
  const registers = [registry];
  // Groups read together: the first metric of a group collects for all of them (synchronously,
  // so its siblings are written with the fresh values).
  const collectsFor = (i: number, collect: () => void) => (i === 0 ? { collect } : {});

  // CPU: counters from process start (process.cpuUsage() is cumulative), moved by the delta.
  let lastCpu = { user: 0, system: 0 };
  const cpu = CPU_COUNTERS.map(
    ([name, help, pick], i) => [new Counter({ name, help, registers, ...collectsFor(i, collectCpu) }), pick] as const,
  );
  function collectCpu(): void {
    const now = process.cpuUsage();
    const delta = { user: now.user - lastCpu.user, system: now.system - lastCpu.system };
    lastCpu = now;
    for (const [counter, pick] of cpu) counter.inc(pick(delta) / 1e6);
  }

  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since the Unix epoch, in seconds.',
    registers,
  }).set(Math.round(performance.timeOrigin / 1000));

  // One read of process.memoryUsage() sets the four memory gauges.
  const memory = MEMORY_GAUGES.map(
    ([name, help, field], i) =>
      [new Gauge({ name, help, registers, ...collectsFor(i, collectMemory) }), field] as const,
  );
  function collectMemory(): void {
    const mem = process.memoryUsage();
    for (const [gauge, field] of memory) gauge.set(mem[field]);
  }

  const heapSpaces = HEAP_SPACE_FIELDS.map(
    ([what, field], i) =>
      [
        new Gauge({
          name: `nodejs_heap_space_size_${what}_bytes`,
          help: `V8 heap space size ${what}, in bytes, by space.`,
          labelNames: ['space'],
          registers,
          ...collectsFor(i, collectHeapSpaces),
        }),
        field,
      ] as const,
  );
  function collectHeapSpaces(): void {
    for (const s of getHeapSpaceStatistics()) {
      const space = s.space_name.replace(/_space$/, '');
      for (const [gauge, field] of heapSpaces) gauge.set({ space }, s[field]);
    }
  }

  // Linux only: elsewhere these two series are absent rather than wrong.
  if (process.platform === 'linux') {
    const openFds: Gauge = new Gauge({
      name: 'process_open_fds',
      help: 'Open file descriptors.',
      registers,
      collect: async () => {
        const n = await countOpenFds();
        if (n !== undefined) openFds.set(n);
      },
    });
    const maxFds: Gauge = new Gauge({
      name: 'process_max_fds',
      help: 'Limit of open file descriptors (the soft limit, RLIMIT_NOFILE).',
      registers,
      collect: async () => {
        const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
        const m = /^Max open files\s+(\d+)/m.exec(limits);
        if (m !== null) maxFds.set(Number(m[1]));
      },
    });
  }

  const [major = '', minor = '', patch = ''] = process.version.slice(1).split('.');
  new Gauge({
    name: 'nodejs_version_info',
    help: 'Node.js version (always 1).',
    labelNames: ['version', 'major', 'minor', 'patch'],
    registers,
  }).set({ version: process.version, major, minor, patch }, 1);

  // Event-loop delay: statistics of the delays sampled every `resolution` ms since the previous
  // scrape (each scrape resets the monitor, so a second scraper shortens the first one's window).
  const loop = monitorEventLoopDelay({ resolution });
  loop.enable();
  let running = true;
  const loopGauges = EVENT_LOOP_STATS.map(
    (stat) =>
      new Gauge({
        name: `nodejs_eventloop_lag_${stat}_seconds`,
        help: `Event-loop delay beyond the sampling interval since the previous scrape: ${stat === 'stddev' ? 'standard deviation' : stat}, in seconds.`,
        registers,
        // All seven wait for the same reading: prom-client collects a registry's metrics in
        // parallel, so the others would otherwise be written before an asynchronous first one.
        collect: collectEventLoop,
      }),
  );
  let reading: Promise<void> | undefined;
  function collectEventLoop(): Promise<void> {
    reading ??= readEventLoop();
    return reading;
  }
  async function readEventLoop(): Promise<void> {
    // A scrape handled right after a blocked stretch runs before the monitor's overdue timer, and
    // reset() drops the interval in progress: let the timers run first, or the block is lost.
    await new Promise((resolve) => setTimeout(resolve, 0));
    reading = undefined;
    // No sample yet (two scrapes within one period) or stopped: keep the last window's values.
    if (!running || loop.count === 0) return;
    // The monitor records the whole interval between its timer's runs: the delay is what exceeds
    // the sampling interval (prom-client reports the interval itself, ≥ 10 ms on an idle loop).
    const period = resolution * 1e6;
    const late = (ns: number) => Math.max(0, ns - period) / 1e9;
    const values = [
      late(loop.min),
      late(loop.max),
      late(loop.mean),
      loop.stddev / 1e9,
      late(loop.percentile(50)),
      late(loop.percentile(90)),
      late(loop.percentile(99)),
    ];
    for (let i = 0; i < loopGauges.length; i++) loopGauges[i]!.set(values[i] ?? 0);
    loop.reset();
  }

  const gc = new Histogram({
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection pauses, by kind: major, minor, incremental or weakcb.',
    labelNames: ['kind'],
    buckets: [...GC_BUCKETS_S],
    registers,
  });
  const kindName = new Map(GC_KINDS);
  for (const [, kind] of GC_KINDS) gc.zero({ kind });
  const observer = new PerformanceObserver((list) => {
    // Node hands over every collection since the last callback at once: count each of them.
    for (const entry of list.getEntries()) {
      const kind = kindName.get((entry as { detail?: { kind?: number } }).detail?.kind ?? -1);
      if (kind !== undefined) gc.observe({ kind }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  return {
    registry,
    metrics: () => registry.metrics(),
    close: () => {
      if (!running) return;
      running = false;
      observer.disconnect();
      loop.disable();
    },
  };
}
