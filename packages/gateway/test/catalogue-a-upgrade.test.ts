/** docs/CATALOGUE.md section A: the HTTP upgrade, before any WebSocket frame. */
import { connect } from 'node:net';
import { httpUpgrade, loginRaw, Opcode, RawClient, until, within } from '@degas/test-utils';
import { type CatalogueEnv, expectClose, startCatalogueEnv, useCatalogueEnv } from './catalogue-env.js';

const GOOD_ORIGIN = 'https://good.example';
const env = useCatalogueEnv({ allowedOrigins: [GOOD_ORIGIN], headersTimeoutMs: 1000 });

describe('A. HTTP upgrade', () => {
  it('#1 foreign Origin → 403, no 101; allowlisted or absent Origin → 101', async () => {
    const mark = env.mark();
    const evil = await httpUpgrade({ port: env.port, origin: 'https://evil.example' });
    expect(evil.response.status).toBe(403);
    expect(evil.client).toBeUndefined();
    const good = await httpUpgrade({ port: env.port, origin: GOOD_ORIGIN });
    expect(good.response.status).toBe(101);
    good.client?.destroy();
    const none = await httpUpgrade({ port: env.port });
    expect(none.response.status).toBe(101);
    none.client?.destroy();
    await env.assertHealthy(mark);
  });

  it('#2 malformed upgrades: POST → 405, no key → 400, key "abc" → 400 (Connection: close); no Upgrade header → 426', async () => {
    const mark = env.mark();
    const post = await httpUpgrade({ port: env.port, method: 'POST' });
    expect(post.response.status).toBe(405);
    const noKey = await httpUpgrade({ port: env.port, key: null });
    expect(noKey.response.status).toBe(400);
    expect(noKey.response.headers.connection?.toLowerCase()).toBe('close');
    const badKey = await httpUpgrade({ port: env.port, key: 'abc' });
    expect(badKey.response.status).toBe(400);
    expect(badKey.response.headers.connection?.toLowerCase()).toBe('close');
    const plain = await httpUpgrade({ port: env.port, plainHttp: true });
    expect(plain.response.status).toBe(426);
    for (const r of [post, noKey, badKey, plain]) expect(r.client).toBeUndefined();
    await env.assertHealthy(mark);
  });

  it('#3 Sec-WebSocket-Version 12 → 400/426 with "Sec-WebSocket-Version: 13, 8"; version 8 is accepted (ws behaviour, documented)', async () => {
    const v12 = await httpUpgrade({ port: env.port, version: 12 });
    expect([400, 426]).toContain(v12.response.status);
    expect(v12.response.headers['sec-websocket-version']).toBe('13, 8');
    const v8 = await httpUpgrade({ port: env.port, version: 8 });
    expect(v8.response.status).toBe(101);
    v8.client?.destroy();
  });

  it('#4 permessage-deflate offered → 101 without Sec-WebSocket-Extensions; a later RSV1 frame → 1002', async () => {
    const mark = env.mark();
    const c = await RawClient.connect({ port: env.port, extensions: 'permessage-deflate; client_max_window_bits' });
    expect(c.response.headers['sec-websocket-extensions']).toBeUndefined();
    c.frame({ opcode: Opcode.BINARY, rsv: 4, payload: Buffer.from([0x4a, 0x4c, 0x04, 0x00]) });
    await expectClose(c, 1002);
    await env.assertHealthy(mark);
  });

  it('#5 slowloris (1 byte per 200 ms) → 408 / socket closed at the headers timeout (1 s here, not 60 s)', async () => {
    const socket = connect({ port: env.port, host: '127.0.0.1' });
    socket.on('error', () => {});
    let response = '';
    socket.on('data', (d) => {
      response += d.toString('latin1');
    });
    const closed = new Promise<number>((r) => socket.once('close', () => r(performance.now())));
    await new Promise((r) => socket.once('connect', r));
    const t0 = performance.now();
    const request = `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Slow: ${'a'.repeat(200)}`;
    const dribble = (async () => {
      for (const ch of request) {
        if (socket.destroyed) return;
        socket.write(ch);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    // Node checks headersTimeout every connectionsCheckingInterval; the gateway must shorten it too.
    const at = await within(6000, closed, 'the slow upgrade to be cut off');
    expect(at - t0).toBeLessThan(5000);
    expect(response === '' || response.startsWith('HTTP/1.1 408')).toBe(true);
    await dribble;
  });

  it('#6 header bomb: one 20 KB header → 431; thousands of small headers → 431; process alive', async () => {
    const mark = env.mark();
    const big = await httpUpgrade({ port: env.port, headers: { 'X-Big': 'b'.repeat(20_000) } });
    expect(big.response.status).toBe(431);
    const many = await httpUpgrade({
      port: env.port,
      headers: Array.from({ length: 3000 }, (_, i) => [`X-H${i}`, 'v'] as [string, string]),
    });
    expect(many.response.status).toBe(431);
    await env.assertHealthy(mark);
  });

  it('#7 plain GET on the WebSocket path → 426 (or 404)', async () => {
    const r = await httpUpgrade({ port: env.port, plainHttp: true, path: '/' });
    expect([426, 404]).toContain(r.response.status);
  });
});

describe('A. connection caps', () => {
  let capEnv: CatalogueEnv;
  const CAP = 4;
  beforeAll(async () => {
    capEnv = await startCatalogueEnv({ maxPendingPerIp: CAP });
  });
  afterAll(async () => {
    await capEnv.close();
  });

  it('#8 per-IP cap on unauthenticated connections: cap+1-th gets 429/503 (or 101 then 1013); existing ones unaffected', async () => {
    const mark = capEnv.mark();
    const pending: RawClient[] = [];
    for (let i = 0; i < CAP; i++) pending.push(await capEnv.raw());
    const extra = await httpUpgrade({ port: capEnv.port });
    if (extra.client) {
      expect((await extra.client.closed()).code).toBe(1013);
    } else expect([429, 503]).toContain(extra.response.status);
    // #9: a forged X-Forwarded-For from an untrusted peer does not move it into another bucket.
    const forged = await httpUpgrade({ port: capEnv.port, headers: { 'X-Forwarded-For': '203.0.113.9' } });
    if (forged.client) expect((await forged.client.closed()).code).toBe(1013);
    else expect([429, 503]).toContain(forged.response.status);
    // The existing pending connections still work: one logs in.
    const { loginRaw } = await import('@degas/test-utils');
    await loginRaw(pending[0] as RawClient, capEnv.account());
    // Now below the cap again, a new one gets in.
    const again = await httpUpgrade({ port: capEnv.port });
    expect(again.response.status).toBe(101);
    again.client?.destroy();
    for (const p of pending) p.destroy();
    await capEnv.assertHealthy(mark, { allow: [] });
  });

  it('#8 half-upgraded sockets (partial request headers) count toward the per-IP cap', async () => {
    const sockets = Array.from({ length: CAP }, () => {
      const s = connect({ port: capEnv.port, host: '127.0.0.1' });
      s.on('error', () => {});
      s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
      return s;
    });
    await Promise.all(
      sockets.map((s) => new Promise((r) => (s.readyState === 'open' ? r(null) : s.once('connect', r)))),
    );
    const extra = await httpUpgrade({ port: capEnv.port });
    try {
      if (extra.client) expect((await extra.client.closed(1500).catch(() => ({ code: 101 }))).code).toBe(1013);
      else expect([429, 503]).toContain(extra.response.status);
    } finally {
      extra.client?.destroy();
      for (const s of sockets) s.destroy();
    }
  });
});

describe('A. max connections and drain', () => {
  it('#8 --max-connections: beyond it → 503 before the upgrade', async () => {
    const e = await startCatalogueEnv({ maxConnections: 3 });
    try {
      const a = await e.raw();
      const b = await e.raw(); // canary + a + b = 3
      const r = await httpUpgrade({ port: e.port });
      expect(r.response.status).toBe(503);
      a.destroy();
      b.destroy();
    } finally {
      await e.close();
    }
  });

  it('#10 an upgrade during drain → 503 or refused, never 101', async () => {
    const e = await startCatalogueEnv({ shutdownTimeoutMs: 1500 });
    const hold = await e.raw({ autoCloseReply: false });
    const closing = e.gateway.close();
    let status: number | 'refused';
    try {
      status = (await httpUpgrade({ port: e.port }, 3000)).response.status;
    } catch {
      status = 'refused';
    }
    expect(status).not.toBe(101);
    if (status !== 'refused') expect(status).toBe(503);
    hold.destroy();
    await closing;
    await e.degas.close();
  });
});

describe('A. handshake rate and trusted proxies (#9, #69)', () => {
  /** Upgrades with `headers` until one gets 429; returns the 101 clients it got before that. */
  async function exhaust(port: number, headers: Record<string, string> = {}, max = 50): Promise<RawClient[]> {
    const admitted: RawClient[] = [];
    for (let i = 0; i < max; i++) {
      const r = await httpUpgrade({ port, headers });
      if (r.response.status === 429) return admitted;
      expect(r.response.status).toBe(101);
      admitted.push(r.client as RawClient);
    }
    throw new Error(`no 429 after ${max} upgrades`);
  }

  it('#9/#69 a burst over the rate → 429 (Retry-After) before the upgrade and any signature work; after the refill an upgrade succeeds', async () => {
    const RATE = 5; // burst 10
    const e = await startCatalogueEnv({ handshakeRate: RATE });
    const clients: RawClient[] = [];
    try {
      const mark = e.mark();
      const verifiesBefore = e.gateway.stats.verifyCount;
      const openedBefore = e.gateway.stats.connectionsOpened;
      // 20 upgrades at once: at most the burst (10, one already spent by the canary) get through.
      const burst = await Promise.all(Array.from({ length: 20 }, () => httpUpgrade({ port: e.port })));
      const ok = burst.filter((r) => r.response.status === 101);
      const limited = burst.filter((r) => r.response.status === 429);
      for (const r of ok) clients.push(r.client as RawClient);
      expect(ok.length + limited.length).toBe(20);
      expect(ok.length).toBeGreaterThanOrEqual(8);
      expect(ok.length).toBeLessThanOrEqual(2 * RATE);
      expect(limited.length).toBeGreaterThanOrEqual(10);
      for (const r of limited) {
        expect(r.client).toBeUndefined();
        expect(r.response.headers['retry-after']).toBe('1');
      }
      expect(e.gateway.stats.upgradesRejected.rate).toBe(limited.length);
      // The admitted ones log in; the refused ones never reached ws, a session or the verifier.
      for (const c of clients) await loginRaw(c, e.account());
      expect(e.gateway.stats.verifyCount - verifiesBefore).toBe(ok.length);
      expect(e.gateway.stats.connectionsOpened - openedBefore).toBe(ok.length);
      // Refill (1 token per 200 ms): poll until an upgrade is let through again.
      const t0 = performance.now();
      let later: RawClient | undefined;
      await until(
        async () => {
          const r = await httpUpgrade({ port: e.port });
          later = r.client;
          return r.response.status === 101;
        },
        3000,
        'an upgrade to succeed after the refill',
      );
      expect(performance.now() - t0).toBeLessThan(2000);
      clients.push(later as RawClient);
      await e.assertHealthy(mark, { allow: [] });
    } finally {
      for (const c of clients) c.destroy();
      await e.close();
    }
  });

  it('#9 a forged X-Forwarded-For from an untrusted peer does not move it into another bucket', async () => {
    const e = await startCatalogueEnv({ handshakeRate: 3 });
    const clients: RawClient[] = [];
    try {
      clients.push(...(await exhaust(e.port)));
      for (const xff of ['203.0.113.9', '198.51.100.1, 203.0.113.10', '127.0.0.2']) {
        const r = await httpUpgrade({ port: e.port, headers: { 'X-Forwarded-For': xff } });
        expect(r.response.status).toBe(429);
      }
    } finally {
      for (const c of clients) c.destroy();
      await e.close();
    }
  });

  it('#9 X-Forwarded-For from a trusted proxy (127.0.0.1): distinct forwarded clients get distinct rate buckets and pending caps', async () => {
    const e = await startCatalogueEnv({ handshakeRate: 2, maxPendingPerIp: 2, trustedProxies: ['127.0.0.1'] });
    const clients: RawClient[] = [];
    const xff = (v: string) => ({ 'X-Forwarded-For': v });
    try {
      // Rate: client A's bucket (burst 4) runs dry; B, behind the same proxy, is unaffected.
      for (let i = 0; i < 4; i++) {
        const r = await httpUpgrade({ port: e.port, headers: xff('203.0.113.1') });
        expect(r.response.status).toBe(101);
        await loginRaw(r.client as RawClient, e.account()); // so the pending cap (2) stays out of the way
        clients.push(r.client as RawClient);
      }
      expect((await httpUpgrade({ port: e.port, headers: xff('203.0.113.1') })).response.status).toBe(429);
      expect(e.gateway.stats.upgradesRejected.rate).toBe(1);
      const b = await httpUpgrade({ port: e.port, headers: xff('203.0.113.2') });
      expect(b.response.status).toBe(101);
      clients.push(b.client as RawClient);
      // The client-written left part of the chain is ignored: the right-most untrusted entry is A.
      const spoof = await httpUpgrade({ port: e.port, headers: xff('203.0.113.77, 203.0.113.1') });
      expect(spoof.response.status).toBe(429);
      // Trusted hops are skipped: "C, 127.0.0.1" is C.
      const c = await httpUpgrade({ port: e.port, headers: xff('203.0.113.3, 127.0.0.1') });
      expect(c.response.status).toBe(101);
      clients.push(c.client as RawClient);
      // Pending cap per forwarded client: B has 1 pending; a second fills it, a third is 429 per_ip.
      const b2 = await httpUpgrade({ port: e.port, headers: xff('203.0.113.2') });
      expect(b2.response.status).toBe(101);
      clients.push(b2.client as RawClient);
      const perIpBefore = e.gateway.stats.upgradesRejected.per_ip;
      expect((await httpUpgrade({ port: e.port, headers: xff('203.0.113.2') })).response.status).toBe(429);
      expect(e.gateway.stats.upgradesRejected.per_ip).toBe(perIpBefore + 1);
      // …while the proxy's other clients (and requests without the header) still get in.
      const d = await httpUpgrade({ port: e.port, headers: xff('2001:db8::4') });
      expect(d.response.status).toBe(101);
      clients.push(d.client as RawClient);
      const direct = await httpUpgrade({ port: e.port });
      expect(direct.response.status).toBe(101);
      clients.push(direct.client as RawClient);
      await e.assertHealthy(e.mark(), { allow: [] });
    } finally {
      for (const cl of clients) cl.destroy();
      await e.close();
    }
  });
});
