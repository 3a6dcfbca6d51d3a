/**
 * Prometheus text exposition (format 0.0.4) of a gateway's counters and gauges, for /metrics.
 * Rendering is on demand (a scrape every few seconds), so it may allocate; the counters it reads
 * are plain numbers incremented on the hot path.
 */
import { ErrorCode, idToHex } from '@degas/proto';
import { ETH_RPC_BUCKETS_MS } from './eth-rpc.js';
import type { GatewayStats } from './stats.js';
import { VERIFY_BUCKETS_MS } from './stats.js';
import type { GatewaySnapshot, LinkState } from './types.js';

/** Content-Type of {@link renderMetrics} output. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Prefix of every metric name. */
export const METRIC_PREFIX = 'degas_gateway_';

const LINK_STATES: readonly LinkState[] = ['idle', 'dialing', 'open', 'backoff', 'closed'];

type Labels = Record<string, string>;

class Writer {
  out = '';
  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    this.out += `# HELP ${METRIC_PREFIX}${name} ${help}\n# TYPE ${METRIC_PREFIX}${name} ${type}\n`;
  }
  sample(name: string, value: number, labels?: Labels): void {
    this.out += `${METRIC_PREFIX}${name}${formatLabels(labels)} ${formatValue(value)}\n`;
  }
  /** A family of one sample. */
  one(name: string, type: 'counter' | 'gauge', help: string, value: number, labels?: Labels): void {
    this.family(name, type, help);
    this.sample(name, value, labels);
  }
  /**
   * The samples of one histogram kept as per-bucket counts in milliseconds (`counts` has one more
   * entry than `bucketsMs`: the overflow): cumulative `_bucket` lines in seconds up to `+Inf`,
   * then `_sum` and `_count`.
   */
  histogram(
    name: string,
    bucketsMs: readonly number[],
    counts: ArrayLike<number>,
    sumMs: number,
    count: number,
    labels: Labels = {},
  ): void {
    let cumulative = 0;
    bucketsMs.forEach((ms, i) => {
      cumulative += counts[i] ?? 0;
      this.sample(`${name}_bucket`, cumulative, { ...labels, le: String(ms / 1000) });
    });
    cumulative += counts[bucketsMs.length] ?? 0;
    this.sample(`${name}_bucket`, cumulative, { ...labels, le: '+Inf' });
    this.sample(`${name}_sum`, sumMs / 1000, labels);
    this.sample(`${name}_count`, count, labels);
  }
}

function formatLabels(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/**
 * Renders the gateway's metrics in the Prometheus text format. Every name starts with
 * `degas_gateway_`; see the README ("Metrics") for the list.
 * @example
 * res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(renderMetrics(stats, snapshot()));
 */
export function renderMetrics(stats: GatewayStats, snapshot: GatewaySnapshot): string {
  const w = new Writer();

  w.family(
    'connections',
    'gauge',
    'Client connections open now, by state (auth = logging in, forward = authenticated).',
  );
  w.sample('connections', snapshot.connectionsAuth, { state: 'auth' });
  w.sample('connections', snapshot.connectionsForward, { state: 'forward' });

  w.one('connections_opened_total', 'counter', 'Client WebSocket connections accepted.', stats.connectionsOpened);
  w.one('connections_closed_total', 'counter', 'Client WebSocket connections ended.', stats.connectionsClosed);

  w.family('upgrades_rejected_total', 'counter', 'Upgrade requests refused before the WebSocket handshake, by reason.');
  for (const [reason, n] of Object.entries(stats.upgradesRejected)) w.sample('upgrades_rejected_total', n, { reason });

  w.one('auth_successes_total', 'counter', 'Successful logins.', stats.authSuccesses);
  w.family('auth_failures_total', 'counter', 'Failed logins, by reason (the client only ever sees AUTH_FAIL).');
  for (const [reason, n] of Object.entries(stats.authFailures)) w.sample('auth_failures_total', n, { reason });

  w.family(
    'resumes_total',
    'counter',
    'Resume tickets presented, by result (ok = resumed without a signature; anything else fell back to the challenge, or AUTH_FAIL/UNAVAILABLE).',
  );
  for (const [result, n] of Object.entries(stats.resumes)) w.sample('resumes_total', n, { result });
  w.one('resume_tickets_issued_total', 'counter', 'Resume tickets issued with auth_ok.', stats.ticketsIssued);

  w.family('messages_forwarded_total', 'counter', 'Messages forwarded, by direction.');
  w.sample('messages_forwarded_total', stats.clientToDegasMessages, { direction: 'client_to_degas' });
  w.sample('messages_forwarded_total', stats.degasToClientMessages, { direction: 'degas_to_client' });
  w.family('bytes_forwarded_total', 'counter', 'Payload bytes forwarded, by direction.');
  w.sample('bytes_forwarded_total', stats.clientToDegasBytes, { direction: 'client_to_degas' });
  w.sample('bytes_forwarded_total', stats.degasToClientBytes, { direction: 'degas_to_client' });

  w.family('errors_sent_total', 'counter', 'Error messages sent, by error code and target (clients or degas).');
  for (const [name, code] of Object.entries(ErrorCode)) {
    w.sample('errors_sent_total', stats.errorsToClients[code] ?? 0, { code: name, target: 'clients' });
  }
  for (const [name, code] of Object.entries(ErrorCode)) {
    w.sample('errors_sent_total', stats.errorsToDegas[code] ?? 0, { code: name, target: 'degas' });
  }

  w.family('closes_total', 'counter', 'Client connections closed by the gateway, by WebSocket close code.');
  for (const [code, n] of [...stats.closesByCode].sort((a, b) => a[0] - b[0])) {
    w.sample('closes_total', n, { code: String(code) });
  }

  w.one('dials_total', 'counter', 'Internal connections dialed to Degas instances.', stats.dials);
  w.one('dial_failures_total', 'counter', 'Dials to Degas instances that failed.', stats.dialFailures);

  const byState = new Map<LinkState, number>(LINK_STATES.map((s) => [s, 0]));
  for (const link of snapshot.links) byState.set(link.state, (byState.get(link.state) ?? 0) + 1);
  w.family('links', 'gauge', 'Internal connections to Degas instances, by state.');
  for (const [state, n] of byState) w.sample('links', n, { state });
  const links = snapshot.links.map((l) => ({ ...l, hex: idToHex(l.degasId) }));
  w.family('link_state', 'gauge', 'State of each internal link (1 for its current state).');
  for (const l of links) w.sample('link_state', 1, { degas_id: l.hex, state: l.state });
  w.family('link_queued_bytes', 'gauge', 'Bytes waiting in the queue of each internal link (while dialing).');
  for (const l of links) w.sample('link_queued_bytes', l.queuedBytes, { degas_id: l.hex });
  w.family('link_buffered_bytes', 'gauge', 'Bytes in the socket send buffer of each internal link.');
  for (const l of links) w.sample('link_buffered_bytes', l.bufferedBytes, { degas_id: l.hex });

  w.family('verify_duration_seconds', 'histogram', 'Login signature verification latency, queueing included.');
  w.histogram(
    'verify_duration_seconds',
    VERIFY_BUCKETS_MS,
    stats.verifyBucketCounts,
    stats.verifySumMs,
    stats.verifyCount,
  );

  w.one('verifier_pending', 'gauge', 'Signature verifications waiting or running.', snapshot.verifierPending);
  w.one(
    'verifier_info',
    'gauge',
    'Signature verifier in use (native = libsecp256k1, noble = pure JS) and its worker threads.',
    1,
    { verifier: snapshot.verifier, threads: String(snapshot.verifierThreads) },
  );
  w.family(
    'verifier_thread_nice',
    'gauge',
    'Nice value of the verifier threads (the main thread runs at the process nice value); absent where it cannot be set.',
  );
  if (snapshot.verifierNice !== null) w.sample('verifier_thread_nice', snapshot.verifierNice);

  w.one(
    'logins_in_progress',
    'gauge',
    'Logins the gateway is working on: admitted connections until their challenge is sent, or until they authenticate, fail or close.',
    snapshot.loginsInProgress,
  );
  w.one(
    'logins_waiting',
    'gauge',
    'Accepted connections waiting, unread, for a login slot (--max-logins-in-progress).',
    snapshot.loginsWaiting,
  );
  w.one(
    'login_slots_expired_total',
    'counter',
    'Login slots freed by --login-slot-timeout-ms while their client was still silent.',
    stats.loginSlotsExpired,
  );

  const r = snapshot.registry;
  if (r !== undefined && r.kind === 'nats') {
    w.one('cluster_info', 'gauge', 'Cluster and node name of this gateway (always 1).', 1, {
      cluster: r.cluster ?? '',
      node: r.node ?? '',
    });
    w.one(
      'cluster_bus_connected',
      'gauge',
      '1 while the node is joined to the cluster bus (NATS) and accepts logins.',
      r.busConnected ? 1 : 0,
    );
    w.one('cluster_nodes', 'gauge', 'Gateway nodes whose heartbeat is current, this one included.', r.liveNodes);
    w.one('cluster_claims_total', 'counter', 'Accounts registered in the cluster by logins on this node.', r.claims);
    w.one(
      'cluster_remote_kicks_total',
      'counter',
      'Local sessions replaced (DUP_SESSION) by a login on another node.',
      r.remoteKicks,
    );
    w.family('cluster_deliveries_total', 'counter', 'Bus messages of Degas deliveries to other nodes, by direction.');
    w.sample('cluster_deliveries_total', r.deliveriesSent, { direction: 'sent' });
    w.sample('cluster_deliveries_total', r.deliveriesReceived, { direction: 'received' });
    w.one(
      'cluster_delivery_misses_total',
      'counter',
      'Deliveries sent to another node that found no session there (CLIENT_ERROR to the Degas).',
      r.remoteMisses,
    );
    w.one(
      'cluster_bus_dropped_total',
      'counter',
      'Malformed bus messages dropped (never delivered to a client).',
      r.busDropped ?? 0,
    );
    w.family('cluster_registry_duration_seconds', 'histogram', 'Latency of registry writes (claims and releases).');
    w.histogram(
      'cluster_registry_duration_seconds',
      r.latencyBucketsMs,
      r.latencyCounts,
      r.latencySumMs,
      r.latencyCount,
    );
  }

  const endpoints = snapshot.ethRpc ?? [];
  if (endpoints.length > 0) {
    w.family('eth_rpc_up', 'gauge', 'Whether the contract-wallet JSON-RPC endpoint of a chain answered its last call.');
    for (const e of endpoints) w.sample('eth_rpc_up', e.state === 'up' ? 1 : 0, { chain_id: String(e.chainId) });
    w.family(
      'eth_rpc_endpoint_info',
      'gauge',
      'Each endpoint (URL origin only) and its state: unknown, up, down, wrong_chain.',
    );
    for (const e of endpoints) {
      w.sample('eth_rpc_endpoint_info', 1, { chain_id: String(e.chainId), origin: e.origin, state: e.state });
    }
    w.family('eth_rpc_calls_total', 'counter', 'JSON-RPC calls made to the endpoint, by method.');
    for (const e of endpoints) {
      for (const [method, n] of e.stats.calls)
        w.sample('eth_rpc_calls_total', n, { chain_id: String(e.chainId), method });
    }
    w.family(
      'eth_rpc_failures_total',
      'counter',
      'JSON-RPC calls that failed at the transport, by reason: network, timeout, http_status, bad_response, too_large.',
    );
    for (const e of endpoints) {
      for (const [reason, n] of e.stats.failures) {
        w.sample('eth_rpc_failures_total', n, { chain_id: String(e.chainId), reason });
      }
    }
    w.family('eth_rpc_call_duration_seconds', 'histogram', 'JSON-RPC call latency, failures included.');
    for (const e of endpoints) {
      const { latencyBuckets, latencySumMs, latencyCount } = e.stats;
      w.histogram('eth_rpc_call_duration_seconds', ETH_RPC_BUCKETS_MS, latencyBuckets, latencySumMs, latencyCount, {
        chain_id: String(e.chainId),
      });
    }
    w.family('eth_rpc_in_flight', 'gauge', 'Contract-wallet checks running on the endpoint.');
    for (const e of endpoints) w.sample('eth_rpc_in_flight', e.inFlight, { chain_id: String(e.chainId) });
    w.family('eth_rpc_queued', 'gauge', 'Contract-wallet checks waiting for a slot of the endpoint.');
    for (const e of endpoints) w.sample('eth_rpc_queued', e.queued, { chain_id: String(e.chainId) });
    w.family(
      'eth_rpc_rejected_total',
      'counter',
      'Contract-wallet checks refused without a call: queue full, deadline passed, or wrong chain.',
    );
    for (const e of endpoints) w.sample('eth_rpc_rejected_total', e.stats.rejected, { chain_id: String(e.chainId) });
    w.family(
      'contract_wallet_checks_total',
      'counter',
      'Contract-wallet checks, by outcome: ok, invalid, unavailable.',
    );
    for (const e of endpoints) {
      for (const outcome of ['ok', 'invalid', 'unavailable'] as const) {
        w.sample('contract_wallet_checks_total', e.stats.checks.get(outcome) ?? 0, {
          chain_id: String(e.chainId),
          outcome,
        });
      }
    }
  }

  if (snapshot.tls !== undefined) {
    w.one(
      'tls_certificate_expiry_seconds',
      'gauge',
      'Expiry of the certificate in use (Unix time, seconds).',
      Math.floor(snapshot.tls.notAfter / 1000),
    );
    w.family('tls_reloads_total', 'counter', 'Certificate reloads after a file change, by result.');
    w.sample('tls_reloads_total', snapshot.tls.reloads, { result: 'ok' });
    w.sample('tls_reloads_total', snapshot.tls.reloadFailures, { result: 'refused' });
    w.one(
      'tls_handshake_failures_total',
      'counter',
      'TLS handshakes on the client port that failed.',
      stats.tlsHandshakeFailures,
    );
  }

  w.one('draining', 'gauge', '1 while the gateway is shutting down.', snapshot.draining ? 1 : 0);

  const mem = process.memoryUsage();
  w.one('resident_memory_bytes', 'gauge', 'Resident set size of the process.', mem.rss);
  w.one('heap_used_bytes', 'gauge', 'V8 heap in use.', mem.heapUsed);
  w.one('uptime_seconds', 'gauge', 'Seconds since the process started.', Math.round(process.uptime() * 1000) / 1000);

  return w.out;
}
