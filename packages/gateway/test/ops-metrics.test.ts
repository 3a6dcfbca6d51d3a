import { ErrorCode, idFromHex } from '@degas/proto';
import { renderMetrics } from '../src/metrics.js';
import { countClose, createStats, observeVerify } from '../src/stats.js';
import type { GatewaySnapshot } from '../src/types.js';
import { parseExposition as parse, type Sample } from './prom-text.js';

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
    // [series without the prefix, labels, value]: one table, so a missing sample names itself.
    const expected: Array<[string, Record<string, string>, number]> = [
      ['connections', { state: 'auth' }, 3],
      ['connections', { state: 'forward' }, 7],
      ['connections_opened_total', {}, 12],
      ['connections_closed_total', {}, 2],
      ['upgrades_rejected_total', { reason: 'origin' }, 1],
      ['upgrades_rejected_total', { reason: 'capacity' }, 0],
      ['auth_successes_total', {}, 9],
      ['auth_failures_total', { reason: 'bad_signature' }, 4],
      ['auth_failures_total', { reason: 'hello_timeout' }, 0],
      ['messages_forwarded_total', { direction: 'client_to_degas' }, 100],
      ['messages_forwarded_total', { direction: 'degas_to_client' }, 50],
      ['bytes_forwarded_total', { direction: 'client_to_degas' }, 5000],
      ['bytes_forwarded_total', { direction: 'degas_to_client' }, 2500],
      ['errors_sent_total', { code: 'DEGAS_ERROR', target: 'clients' }, 6],
      ['errors_sent_total', { code: 'CLIENT_ERROR', target: 'degas' }, 3],
      ['errors_sent_total', { code: 'GOING_AWAY', target: 'clients' }, 0],
      ['closes_total', { code: '4001' }, 2],
      ['closes_total', { code: '1001' }, 1],
      ['dials_total', {}, 5],
      ['dial_failures_total', {}, 1],
      ['links', { state: 'open' }, 1],
      ['links', { state: 'dialing' }, 1],
      ['links', { state: 'backoff' }, 0],
      ['link_state', { degas_id: '0x00112233445566778899aabbccddeeff', state: 'open' }, 1],
      ['link_queued_bytes', { degas_id: '0xffeeddccbbaa99887766554433221100' }, 4096],
      ['link_buffered_bytes', { degas_id: '0x00112233445566778899aabbccddeeff' }, 12],
      ['verifier_info', { verifier: 'native', threads: '4' }, 1],
      ['verifier_pending', {}, 2],
      ['verifier_thread_nice', {}, 10],
      ['draining', {}, 0],
    ];
    for (const [name, labels, value] of expected) {
      expect([name, labels, get(samples, `degas_gateway_${name}`, labels)]).toEqual([name, labels, value]);
    }
    expect(samples.filter((s) => s.name === 'degas_gateway_errors_sent_total')).toHaveLength(18);
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
