// Scenario 5: `connections` authenticated idle connections on the gateway against as many plain
// connections on a raw ws server. RSS is read after each half has connected and settled; the
// marginal cost per connection is the RSS growth over the second half ÷ its size (the first half
// also pays for heap growth and lazily initialised code, which is not a per-connection cost).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEGAS_ID_HEX, writeAccountsFile } from '../lib/keys.js';
import { localAddresses } from '../lib/net.js';
import { LoadGen, startGateway, startServer, stopProcess } from '../lib/procs.js';
import { readRss } from '../lib/procstat.js';
import { round3 } from '../lib/stats.js';

/**
 * @param {{ connections: number, perLoadgen: number, settleMs: number }} cfg
 * @param {import('../run.js').Context} ctx
 */
export async function runIdle(cfg, ctx) {
  const n = cfg.connections;
  const addrs = localAddresses(100);
  /** @type {Record<string, any>} */
  const out = {};
  for (const key of ctx.withGateway ? ['gateway', 'baseline'] : ['baseline']) {
    /** @type {any[]} */
    const procs = [];
    /** @type {any} */
    let server;
    /** @type {'gateway' | 'raw'} */
    let mode = 'raw';
    if (key === 'gateway') {
      const degas = await startServer('echo-degas');
      procs.push(degas);
      const accountsFile = join(ctx.tmpDir, 'accounts-idle.json');
      await writeAccountsFile(accountsFile, n);
      server = await startGateway({ accountsFile, degasUrl: degas.url, degasIdHex: DEGAS_ID_HEX });
      mode = 'gateway';
    } else server = await startServer('raw-echo');
    procs.push(server);
    const lgCount = Math.max(1, Math.ceil(n / cfg.perLoadgen));
    const lgs = Array.from({ length: lgCount }, () => new LoadGen());
    try {
      await sleep(cfg.settleMs);
      const rss0 = readRss(server.pid);
      const half = Math.floor(n / 2);
      // Each half is split evenly over the load generators; client i of the whole run keeps its index.
      const connectRange = async (/** @type {number} */ from, /** @type {number} */ to) => {
        const per = Math.ceil((to - from) / lgCount);
        const rs = await Promise.all(
          lgs.map((l, k) => {
            const first = from + k * per;
            const count = Math.max(0, Math.min(per, to - first));
            return count === 0
              ? { connected: 0, failed: 0, failures: {} }
              : l.call('connect', { mode, url: server.url, first, count, localAddresses: addrs, concurrency: 100 });
          }),
        );
        let failed = 0;
        for (const r of rs) failed += r.failed;
        if (failed > 0)
          throw new Error(`idle: ${failed} ${key} connections failed: ${JSON.stringify(rs.map((r) => r.failures))}`);
      };
      const t0 = Date.now();
      await connectRange(0, half);
      await sleep(cfg.settleMs);
      const rssHalf = readRss(server.pid);
      await connectRange(half, n);
      const connectS = (Date.now() - t0) / 1000;
      await sleep(cfg.settleMs);
      const rssFull = readRss(server.pid);
      out[key] = {
        ...(key === 'baseline' ? { kind: 'raw-ws-server' } : {}),
        connections: n,
        rss_bytes: rssFull,
        rss_before_bytes: rss0,
        rss_half_bytes: rssHalf,
        rss_per_connection_bytes: Math.round((rssFull - rssHalf) / (n - half)),
        rss_per_connection_avg_bytes: Math.round((rssFull - rss0) / n),
        connect_s: round3(connectS),
      };
      ctx.log(
        `idle ${key}: ${n} connections, ${out[key].rss_per_connection_bytes} B/connection (marginal), RSS ${(rssFull / 2 ** 20).toFixed(1)} MiB`,
      );
    } finally {
      for (const l of lgs) {
        await l.call('close').catch(() => {});
        await l.stop();
      }
      for (const p of procs.reverse()) await stopProcess(p.child);
    }
  }
  const g = out.gateway ?? null;
  const b = out.baseline;
  return [
    {
      name: 'idle',
      clients: n,
      gateway: g,
      baseline: b,
      ratio:
        g && b.rss_per_connection_bytes > 0 ? round3(g.rss_per_connection_bytes / b.rss_per_connection_bytes) : null,
    },
  ];
}
