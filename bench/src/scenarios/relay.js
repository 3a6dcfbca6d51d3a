// Scenario 1 + 2: relay throughput and latency through the gateway, the raw-ws relay and a
// direct raw-ws echo, cell by cell, back to back, with the same load generator code.
// `tls-relay` is the same over wss://: the gateway terminates TLS itself (--tls-cert/--tls-key),
// the raw relay and the direct echo serve the same certificate with Node's TLS defaults, and the
// load generators verify the chain against the run's own CA. The links to the backends stay plain.
import { join } from 'node:path';
import { createTestCa } from '@degas/test-utils';
import { DEGAS_ID_HEX, writeAccountsFile } from '../lib/keys.js';
import { measureBest } from '../lib/measure.js';
import { localAddresses } from '../lib/net.js';
import { LoadGen, startGateway, startServer, stopProcess } from '../lib/procs.js';
import { round3 } from '../lib/stats.js';

/**
 * @param {{ cells: { clients: number, payloads: number[] }[], warmupMs: number, durationMs: number, repeat: number }} cfg
 * @param {import('../run.js').Context} ctx
 * @param {{ tls?: boolean }} [variant] `tls`: every client connection over wss:// (rows named `tls-relay`)
 */
export async function runRelay(cfg, ctx, variant = {}) {
  const name = variant.tls ? 'tls-relay' : 'relay';
  const rows = [];
  const ca = variant.tls ? await createTestCa() : undefined;
  const cert = ca ? await ca.issue('bench') : undefined;
  const tlsArgs = cert ? ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile] : [];
  const backend = await startServer('raw-echo');
  const relay = await startServer('raw-relay', ['--backend', backend.url, ...tlsArgs]);
  const direct = await startServer('raw-echo', tlsArgs);
  /** @type {any} */
  let gw;
  /** @type {any} */
  let degas;
  if (ctx.withGateway) {
    degas = await startServer('echo-degas');
    const accountsFile = join(ctx.tmpDir, 'accounts-relay.json');
    await writeAccountsFile(accountsFile, Math.max(...cfg.cells.map((c) => c.clients)));
    gw = await startGateway({
      accountsFile,
      degasUrl: degas.url,
      degasIdHex: DEGAS_ID_HEX,
      stdoutFile: ctx.gatewayStdout,
      nodeArgs: ctx.gatewayNodeArgs(name),
      extraArgs: [...tlsArgs, ...ctx.gatewayArgs],
    });
    ctx.log(`${name}: gateway pid ${gw.pid} on ${gw.url}`);
  }
  const addrs = localAddresses(100);
  try {
    for (const { clients: n, payloads } of cfg.cells) {
      const topo = [
        ...(gw ? [{ key: 'gateway', mode: 'gateway', url: gw.url, serverPid: gw.pid, backendPid: degas.pid }] : []),
        { key: 'baseline', mode: 'raw', url: relay.url, serverPid: relay.pid, backendPid: backend.pid },
        { key: 'direct', mode: 'raw', url: direct.url, serverPid: direct.pid, backendPid: undefined },
      ].map((t) => ({ ...t, lg: new LoadGen() }));
      for (const t of topo) {
        const r = await t.lg.call('connect', {
          mode: t.mode,
          url: t.url,
          first: 0,
          count: n,
          localAddresses: addrs,
          concurrency: 50,
          ca: ca?.certPem,
        });
        if (r.failed > 0)
          throw new Error(
            `${name}: ${r.failed} of ${n} ${t.key} clients failed to connect: ${JSON.stringify(r.failures)}`,
          );
      }
      for (const p of payloads) {
        const best = await measureBest(topo, cfg, { cmd: 'run', payloadBytes: p });
        const g = best.gateway ?? null;
        const b = best.baseline;
        const d = best.direct;
        const row = {
          name,
          clients: n,
          payload_bytes: p,
          gateway: g,
          baseline: { kind: variant.tls ? 'raw-ws-relay-tls' : 'raw-ws-relay', ...b },
          direct: { kind: variant.tls ? 'raw-ws-echo-tls' : 'raw-ws-echo', ...d },
          ratio: g ? round3(g.msgs_per_s / b.msgs_per_s) : null,
          ratio_vs_direct: g ? round3(g.msgs_per_s / d.msgs_per_s) : null,
        };
        rows.push(row);
        ctx.log(
          `${name} ${n} clients × ${p} B: gateway ${g?.msgs_per_s ?? '-'} msg/s, raw relay ${b.msgs_per_s}, direct ${d.msgs_per_s}, ratio ${row.ratio ?? '-'}`,
        );
      }
      for (const t of topo) {
        await t.lg.call('close');
        await t.lg.stop();
      }
    }
  } finally {
    for (const s of [gw, degas, relay, backend, direct]) if (s) await stopProcess(s.child);
    await ca?.close();
  }
  return rows;
}
