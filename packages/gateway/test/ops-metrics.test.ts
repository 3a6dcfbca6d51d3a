import { ErrorCode, idFromHex } from '@degas/proto';
import { renderMetrics } from '../src/metrics.js';
import { countClose, createStats, observeVerify } from '../src/stats.js';
import type { GatewaySnapshot } from '../src/types.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict parser of the Prometheus text format (0.0.4) for what renderMetrics emits. */
function parse(text: string): { samples: Sample[]; types: Map<string, string>; help: Map<string, string> } {
  expect(text.endsWith('\n')).toBe(true);
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [, name, h] = /^# HELP (\S+) (.+)$/.exec(line) ?? [];
      expect(name).toBeDefined();
      help.set(name!, h!);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, name, t] = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line) ?? [];
      expect(name).toBeDefined();
      expect(types.has(name!)).toBe(false);
      types.set(name!, t!);
      continue;
    }
    const m = sampleRe.exec(line);
    if (m === null) throw new Error(`bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3] !== undefined && m[3] !== '') {
      labelRe.lastIndex = 0;
      let pos = 0;
      while (pos < m[3].length) {
        labelRe.lastIndex = pos;
        const lm = labelRe.exec(m[3]);
        if (lm === null) throw new Error(`bad labels: ${m[3]}`);
        labels[lm[1]!] = lm[2]!;
        pos = labelRe.lastIndex;
      }
    }
    const value = m[4] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[4]);
    expect(Number.isNaN(value)).toBe(false);
    // Every sample belongs to a family declared before it.
    const family = [...types.keys()].find(
      (f) => m[1] === f || (types.get(f) === 'histogram' && m[1]!.startsWith(`${f}_`)),
    );
    if (family === undefined) throw new Error(`sample without TYPE: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types, help };
}

const D1 = idFromHex('0x00112233445566778899aabbccddeeff');
const D2 = idFromHex('0xffeeddccbbaa99887766554433221100');

function snapshot(over: Partial<GatewaySnapshot> = {}): GatewaySnapshot {
  return {
    connectionsAuth: 3,
    connectionsForward: 7,
    links: [
      { degasId: D1, state: 'open', queuedBytes: 0, bufferedBytes: 12 },
      { degasId: D2, state: 'dialing', queuedBytes: 4096, bufferedBytes: 0 },
    ],
    verifier: 'native',
    verifierThreads: 4,
    verifierNice: 10,
    loginsInProgress: 3,
    loginsWaiting: 5,
    verifierPending: 2,
    draining: false,
    ...over,
  };
}

const get = (samples: Sample[], name: string, labels: Record<string, string> = {}) => {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  expect(found).toHaveLength(1);
  return found[0]!.value;
};

describe('renderMetrics', () => {
  test('renders every family with HELP and TYPE, prefixed degas_gateway_', () => {
    const stats = createStats();
    stats.connectionsOpened = 12;
    stats.connectionsClosed = 2;
    stats.upgradesRejected.origin = 1;
    stats.authSuccesses = 9;
    stats.authFailures.bad_signature = 4;
    stats.clientToDegasMessages = 100;
    stats.clientToDegasBytes = 5000;
    stats.degasToClientMessages = 50;
    stats.degasToClientBytes = 2500;
    stats.errorsToClients[ErrorCode.DEGAS_ERROR] = 6;
    stats.errorsToDegas[ErrorCode.CLIENT_ERROR] = 3;
    countClose(stats, 4001);
    countClose(stats, 4001);
    countClose(stats, 1001);
    stats.dials = 5;
    stats.dialFailures = 1;
    const { samples, types, help } = parse(renderMetrics(stats, snapshot()));
    for (const name of types.keys()) {
      expect(name.startsWith('degas_gateway_')).toBe(true);
      expect(help.has(name)).toBe(true);
      if (types.get(name) === 'counter') expect(name.endsWith('_total')).toBe(true);
    }
    expect(get(samples, 'degas_gateway_connections', { state: 'auth' })).toBe(3);
    expect(get(samples, 'degas_gateway_connections', { state: 'forward' })).toBe(7);
    expect(get(samples, 'degas_gateway_connections_opened_total')).toBe(12);
    expect(get(samples, 'degas_gateway_connections_closed_total')).toBe(2);
    expect(get(samples, 'degas_gateway_upgrades_rejected_total', { reason: 'origin' })).toBe(1);
    expect(get(samples, 'degas_gateway_upgrades_rejected_total', { reason: 'capacity' })).toBe(0);
    expect(get(samples, 'degas_gateway_auth_successes_total')).toBe(9);
    expect(get(samples, 'degas_gateway_auth_failures_total', { reason: 'bad_signature' })).toBe(4);
    expect(get(samples, 'degas_gateway_auth_failures_total', { reason: 'hello_timeout' })).toBe(0);
    expect(get(samples, 'degas_gateway_messages_forwarded_total', { direction: 'client_to_degas' })).toBe(100);
    expect(get(samples, 'degas_gateway_messages_forwarded_total', { direction: 'degas_to_client' })).toBe(50);
    expect(get(samples, 'degas_gateway_bytes_forwarded_total', { direction: 'client_to_degas' })).toBe(5000);
    expect(get(samples, 'degas_gateway_bytes_forwarded_total', { direction: 'degas_to_client' })).toBe(2500);
    expect(get(samples, 'degas_gateway_errors_sent_total', { code: 'DEGAS_ERROR', target: 'clients' })).toBe(6);
    expect(get(samples, 'degas_gateway_errors_sent_total', { code: 'CLIENT_ERROR', target: 'degas' })).toBe(3);
    expect(get(samples, 'degas_gateway_errors_sent_total', { code: 'GOING_AWAY', target: 'clients' })).toBe(0);
    expect(samples.filter((s) => s.name === 'degas_gateway_errors_sent_total')).toHaveLength(18);
    expect(get(samples, 'degas_gateway_closes_total', { code: '4001' })).toBe(2);
    expect(get(samples, 'degas_gateway_closes_total', { code: '1001' })).toBe(1);
    expect(get(samples, 'degas_gateway_dials_total')).toBe(5);
    expect(get(samples, 'degas_gateway_dial_failures_total')).toBe(1);
    expect(get(samples, 'degas_gateway_links', { state: 'open' })).toBe(1);
    expect(get(samples, 'degas_gateway_links', { state: 'dialing' })).toBe(1);
    expect(get(samples, 'degas_gateway_links', { state: 'backoff' })).toBe(0);
    expect(
      get(samples, 'degas_gateway_link_state', { degas_id: '0x00112233445566778899aabbccddeeff', state: 'open' }),
    ).toBe(1);
    expect(get(samples, 'degas_gateway_link_queued_bytes', { degas_id: '0xffeeddccbbaa99887766554433221100' })).toBe(
      4096,
    );
    expect(get(samples, 'degas_gateway_link_buffered_bytes', { degas_id: '0x00112233445566778899aabbccddeeff' })).toBe(
      12,
    );
    expect(get(samples, 'degas_gateway_verifier_info', { verifier: 'native', threads: '4' })).toBe(1);
    expect(get(samples, 'degas_gateway_verifier_pending')).toBe(2);
    expect(get(samples, 'degas_gateway_verifier_thread_nice')).toBe(10);
    expect(get(samples, 'degas_gateway_draining')).toBe(0);
    expect(get(samples, 'degas_gateway_resident_memory_bytes')).toBeGreaterThan(0);
    expect(types.get('degas_gateway_verify_duration_seconds')).toBe('histogram');
  });

  test('the verification histogram is cumulative, in seconds, with +Inf, _sum and _count', () => {
    const stats = createStats();
    for (const ms of [0.5, 1, 3, 3, 40, 5000]) observeVerify(stats, ms);
    const { samples } = parse(renderMetrics(stats, snapshot({ draining: true, verifier: 'noble', links: [] })));
    const buckets = samples.filter((s) => s.name === 'degas_gateway_verify_duration_seconds_bucket');
    const byLe = Object.fromEntries(buckets.map((b) => [b.labels.le, b.value]));
    expect(byLe).toEqual({
      '0.001': 2,
      '0.002': 2,
      '0.005': 4,
      '0.01': 4,
      '0.025': 4,
      '0.05': 5,
      '0.1': 5,
      '0.25': 5,
      '1': 5,
      '+Inf': 6,
    });
    // Non-decreasing, ending at _count.
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(get(samples, 'degas_gateway_verify_duration_seconds_count')).toBe(6);
    expect(get(samples, 'degas_gateway_verify_duration_seconds_sum')).toBeCloseTo(5.0475, 6);
    expect(get(samples, 'degas_gateway_draining')).toBe(1);
    expect(get(samples, 'degas_gateway_verifier_info', { verifier: 'noble' })).toBe(1);
    expect(samples.some((s) => s.name === 'degas_gateway_link_state')).toBe(false);
  });

  test("the verifier threads' nice value is absent where it cannot be set", () => {
    const { samples, types } = parse(renderMetrics(createStats(), snapshot({ verifierNice: null })));
    expect(types.get('degas_gateway_verifier_thread_nice')).toBe('gauge');
    expect(samples.some((s) => s.name === 'degas_gateway_verifier_thread_nice')).toBe(false);
  });
});
