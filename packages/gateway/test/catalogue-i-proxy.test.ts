/**
 * docs/CATALOGUE.md #91 (scaled): idle but alive behind a proxy. A TCP proxy written here closes a
 * connection after a period without traffic in either direction — the behaviour of nginx
 * `proxy_read_timeout` and HAProxy `timeout tunnel` — scaled from 60 s / 30 s pings / 3 min idle
 * to 600 ms / 200 ms pings / 3 s idle. The negative control (pings slower than the proxy timeout)
 * shows the proxy really cuts idle connections, so the positive case could fail.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { degasFrame, loginRaw, Opcode, RawClient } from '@degas/test-utils';
import { type CatalogueEnv, startCatalogueEnv } from './catalogue-env.js';

interface IdleProxy {
  port: number;
  /** Connections closed for idleness, with how long they had been idle (ms). */
  cuts: number[];
  close(): Promise<void>;
}

/** A TCP proxy to 127.0.0.1:`target` that closes both sides after `idleMs` without a byte either way. */
async function startIdleProxy(target: number, idleMs: number): Promise<IdleProxy> {
  const cuts: number[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = tcpConnect({ port: target, host: '127.0.0.1' });
    sockets.add(down);
    sockets.add(up);
    let last = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      last = performance.now();
      clearTimeout(timer);
      timer = setTimeout(() => {
        cuts.push(performance.now() - last);
        down.destroy();
        up.destroy();
      }, idleMs);
    };
    const end = () => {
      clearTimeout(timer);
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    for (const [from, to] of [
      [down, up],
      [up, down],
    ] as const) {
      from.on('data', (d: Buffer) => {
        arm();
        to.write(d);
      });
      from.on('error', end);
      from.on('close', end);
    }
    arm();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    port,
    cuts,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const PROXY_IDLE_MS = 600;

describe('#91 idle behind a proxy', () => {
  let env: CatalogueEnv | undefined;
  let proxy: IdleProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await env?.close();
    proxy = undefined;
    env = undefined;
  });

  it('#91 pings every 200 ms keep a session idle for 3 s alive behind a proxy with a 600 ms idle timeout; it then completes a round trip', async () => {
    env = await startCatalogueEnv({ pingIntervalMs: 200 });
    proxy = await startIdleProxy(env.port, PROXY_IDLE_MS);
    const client = await RawClient.connect({ port: proxy.port });
    const account = env.account();
    await loginRaw(client, account);
    const t0 = performance.now();
    // The idle period is the input of this case, not a synchronisation.
    await new Promise((r) => setTimeout(r, 3000));
    expect(client.isClosed).toBe(false);
    expect(proxy.cuts).toEqual([]);
    // The gateway's pings (answered by the client) were the only traffic.
    const pings = client.received.filter((f) => f.opcode === Opcode.PING && f.at > t0).length;
    expect(pings).toBeGreaterThanOrEqual(8);
    expect(client.pendingMessages()).toBe(0);
    const payload = Buffer.from('after 3 s idle');
    client.binary(degasFrame(env.degasId, payload));
    const m = await client.nextMessage();
    expect(m.payload?.$case === 'degas' && Buffer.from(m.payload.value.payload)).toEqual(payload);
    await env.assertHealthy(env.mark(), { allow: [account.id] });
    client.destroy();
  });

  it('#91 negative control: pings slower than the proxy timeout → the proxy cuts the idle session (client sees 1006)', async () => {
    env = await startCatalogueEnv({ pingIntervalMs: 5000 });
    proxy = await startIdleProxy(env.port, PROXY_IDLE_MS);
    const client = await RawClient.connect({ port: proxy.port });
    await loginRaw(client, env.account());
    const idleFrom = performance.now();
    const r = await client.closed(3000);
    expect(r.tcpClosedWithoutCloseFrame).toBe(true);
    expect(r.code).toBe(1006);
    expect(proxy.cuts).toHaveLength(1);
    expect(proxy.cuts[0]).toBeGreaterThanOrEqual(PROXY_IDLE_MS - 5);
    expect(r.tcpClosedAt - idleFrom).toBeGreaterThanOrEqual(PROXY_IDLE_MS - 50);
  });
});
