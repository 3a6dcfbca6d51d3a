// Scenario 3: a Degas multicasts one payload to `recipients` accounts per message
// (degas_to_clients); baseline: a raw ws server sending the same buffer to as many sockets.
// One round = client 0 sends a trigger, every client receives the payload; the next round starts
// when the last one has it. msgs_per_s counts deliveries (rounds/s × recipients).
import { join } from 'node:path';
import { DEGAS_ID_HEX, writeAccountsFile } from '../lib/keys.js';
import { measureBest } from '../lib/measure.js';
import { localAddresses } from '../lib/net.js';
import { LoadGen, startGateway, startServer, stopProcess } from '../lib/procs.js';
import { round3 } from '../lib/stats.js';

/**
 * @param {{ recipients: number, payloads: number[], warmupMs: number, durationMs: number, repeat: number }} cfg
 * @param {import('../run.js').Context} ctx
 */
export async function runFanout(cfg, ctx) {
  const n = cfg.recipients;
  const rows = [];
  const raw = await startServer('raw-fanout');
  /** @type {any} */
  let gw;
  /** @type {any} */
  let degas;
  if (ctx.withGateway) {
    degas = await startServer('echo-degas', ['--fanout', String(n)]);
    const accountsFile = join(ctx.tmpDir, 'accounts-fanout.json');
    await writeAccountsFile(accountsFile, n);
    gw = await startGateway({
      accountsFile,
      degasUrl: degas.url,
      degasIdHex: DEGAS_ID_HEX,
      stdoutFile: ctx.gatewayStdout,
      nodeArgs: ctx.gatewayNodeArgs('fanout'),
      extraArgs: ctx.gatewayArgs,
    });
  }
  const addrs = localAddresses(100);
  const topo = [
    ...(gw ? [{ key: 'gateway', mode: 'gateway', url: gw.url, serverPid: gw.pid, backendPid: degas.pid }] : []),
    { key: 'baseline', mode: 'raw', url: raw.url, serverPid: raw.pid, backendPid: undefined },
  ].map((t) => ({ ...t, lg: new LoadGen() }));
  try {
    for (const t of topo) {
      const r = await t.lg.call('connect', {
        mode: t.mode,
        url: t.url,
        first: 0,
        count: n,
        localAddresses: addrs,
        concurrency: 50,
      });
      if (r.failed > 0) throw new Error(`fanout: ${r.failed} ${t.key} clients failed: ${JSON.stringify(r.failures)}`);
    }
    for (const p of cfg.payloads) {
      const best = await measureBest(topo, cfg, { cmd: 'fanout', payloadBytes: p, deliveriesPerRound: n });
      const g = best.gateway ?? null;
      const b = best.baseline;
      const row = {
        name: 'fanout',
        clients: n,
        payload_bytes: p,
        gateway: g,
        baseline: { kind: 'raw-ws-broadcast', ...b },
        ratio: g ? round3(g.msgs_per_s / b.msgs_per_s) : null,
      };
      rows.push(row);
      ctx.log(
        `fanout ${n} × ${p} B: gateway ${g?.msgs_per_s ?? '-'} deliveries/s, raw ${b.msgs_per_s}, ratio ${row.ratio ?? '-'}`,
      );
    }
  } finally {
    for (const t of topo) {
      await t.lg.call('close').catch(() => {});
      await t.lg.stop();
    }
    for (const s of [gw, degas, raw]) if (s) await stopProcess(s.child);
  }
  return rows;
}
