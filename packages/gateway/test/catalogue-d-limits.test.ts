/** docs/CATALOGUE.md section D: limits and resource exhaustion after the upgrade. */
import { idEquals } from '@degas/proto';
import { degasFrame, encodeFrame, helloAndChallenge, Opcode, RawClient } from '@degas/test-utils';
import { type CatalogueEnv, expectClose, expectError, startCatalogueEnv, useCatalogueEnv } from './catalogue-env.js';
import { slowConsumer } from './hostile-cases.js';

const HELLO_MS = 400;
const AUTH_MS = 600;
let env: CatalogueEnv;
beforeAll(async () => {
  // maxPendingPerIp 1000: #40 holds 500 unauthenticated connections from 127.0.0.1 at once.
  env = await startCatalogueEnv({
    sendBufferLimit: 512 * 1024,
    helloTimeoutMs: HELLO_MS,
    authTimeoutMs: AUTH_MS,
    maxPendingPerIp: 1000,
  });
});
afterAll(async () => {
  await env.close();
});

describe('D. limits', () => {
  it('#35 payload of exactly 65536 → forwarded byte-identical; 65537 → PAYLOAD_TOO_LARGE{degas_id}, connection stays open', async () => {
    const { client, account } = await env.rawLoggedIn();
    const max = Buffer.alloc(65_536);
    for (let i = 0; i < max.length; i++) max[i] = (i * 17 + 3) & 0xff;
    client.binary(degasFrame(env.degasId, max));
    const echo = await client.nextMessage();
    expect(echo.payload?.$case === 'degas' && Buffer.from(echo.payload.value.payload).equals(max)).toBe(true);
    const from = env.mark();
    client.binary(degasFrame(env.degasId, Buffer.alloc(65_537, 1)));
    const err = await expectError(client, 5);
    expect(idEquals(err.degasId, env.degasId)).toBe(true);
    client.binary(degasFrame(env.degasId, Buffer.from('still open')));
    const again = await client.nextMessage();
    expect(again.payload?.$case).toBe('degas');
    expect(env.degas.clientMessages(account.id).filter((m) => m.payload.length > 65_536)).toHaveLength(0);
    await env.assertHealthy(from, { allow: [account.id] });
  });

  it('#36 envelope over the frame limit (66561 bytes, whole and in 4 fragments) → 1009, nothing forwarded', async () => {
    const mark = env.mark();
    for (const fragments of [1, 4]) {
      const { client } = await env.rawLoggedIn();
      const body = Buffer.alloc(66_561, 2);
      if (fragments === 1) client.binary(body);
      else {
        const q = Math.ceil(body.length / 4);
        for (let i = 0; i < 4; i++) {
          client.frame({
            opcode: i === 0 ? Opcode.BINARY : Opcode.CONTINUATION,
            fin: i === 3,
            payload: body.subarray(i * q, (i + 1) * q),
          });
        }
      }
      await expectClose(client, 1009);
    }
    await env.assertHealthy(mark);
  });

  it('#37 tiny-fragment exhaustion (20,000 one-byte/empty continuations, 10 connections at once) → 1008 each', async () => {
    const mark = env.mark();
    const clients: RawClient[] = [];
    for (let i = 0; i < 10; i++) clients.push(await env.raw());
    const before = process.memoryUsage().heapUsed;
    const cont = encodeFrame({
      opcode: Opcode.CONTINUATION,
      fin: false,
      payload: 'x',
      maskKey: Buffer.from([1, 2, 3, 4]),
    });
    const empty = encodeFrame({ opcode: Opcode.CONTINUATION, fin: false, maskKey: Buffer.from([1, 2, 3, 4]) });
    await Promise.all(
      clients.map(async (c, n) => {
        c.frame({ opcode: Opcode.BINARY, fin: false, payload: 'start' });
        const unit = n % 2 === 0 ? cont : empty;
        const batch = Buffer.concat(Array.from({ length: 1000 }, () => unit));
        for (let i = 0; i < 20 && !c.isClosed; i++) c.writeRaw(batch);
        await expectClose(c, 1008);
      }),
    );
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(10 * 10 * 1024 * 1024);
    await env.assertHealthy(mark);
  });

  it('#38 slow consumer: client stops reading while the Degas streams 64 KiB messages → 4009 (or terminate), later messages → CLIENT_ERROR', async () => {
    const from = env.mark();
    const account = env.account();
    await slowConsumer(env.port, env.degas, account);
    await env.assertHealthy(from, { allow: [account.id] });
  });

  it('#40 pre-auth hoarding: 450 silent connections and 50 hello-then-silence get AUTH_FAIL + 4001 at their deadline', async () => {
    const mark = env.mark();
    // [client, when it saw its deadline start (101 or auth_request; the gateway's timer started
    // a little earlier), deadline]
    const held: [RawClient, number, number][] = [];
    try {
      for (let batch = 0; batch < 9; batch++) {
        const opened = await Promise.all(
          Array.from({ length: 50 }, () =>
            RawClient.connect({ port: env.port }).then(
              (c) => [c, performance.now(), HELLO_MS] as [RawClient, number, number],
            ),
          ),
        );
        held.push(...opened);
      }
      const accounts = Array.from({ length: 50 }, () => env.account());
      await Promise.all(
        accounts.map(async (a) => {
          const c = await RawClient.connect({ port: env.port });
          await helloAndChallenge(c, a);
          held.push([c, performance.now(), AUTH_MS]);
        }),
      );
      expect(held).toHaveLength(500);
      const late: string[] = [];
      await Promise.all(
        held.map(async ([c, startedAt, deadline]) => {
          await expectError(c, 0, 5000);
          const r = await c.closed();
          expect(r.code).toBe(4001);
          const after = r.tcpClosedAt - startedAt;
          // Not before the deadline, nor long after it (kept until the ping timeout would be the
          // bug). The lower slack covers the client seeing its 101 late when its event loop is
          // busy (the whole suite runs in parallel on 2 cores).
          if (after < deadline - 150 || after > deadline + 2000)
            late.push(`${Math.round(after)} ms (deadline ${deadline})`);
        }),
      );
      expect(late).toEqual([]);
    } finally {
      for (const [c] of held) c.destroy();
    }
    await env.assertHealthy(mark);
  });
});

describe('D. rate limit', () => {
  const rl = useCatalogueEnv({ rateLimit: 100, rateLimitGraceMs: 500 });

  it('#39 message flood → RATE_LIMITED per dropped message, then 4008; the Degas receives at most the configured rate', async () => {
    const { client, account } = await rl.rawLoggedIn();
    const t0 = performance.now();
    let sawRateLimited = false;
    const frame = encodeFrame({ opcode: Opcode.BINARY, payload: degasFrame(rl.degasId, Buffer.from('flood')) });
    const batch = Buffer.concat(Array.from({ length: 50 }, () => frame));
    const reader = (async () => {
      for (;;) {
        const m = await client.nextMessage(5000).catch(() => undefined);
        if (!m) return;
        if (m.payload?.$case === 'error' && m.payload.value.code === 6) {
          sawRateLimited = true;
          expect(idEquals(m.payload.value.degasId, rl.degasId)).toBe(true);
        }
      }
    })();
    while (!client.isClosed && performance.now() - t0 < 5000) {
      client.writeRaw(batch);
      await new Promise((r) => setTimeout(r, 10));
    }
    const r = await client.closed();
    await reader;
    expect(sawRateLimited).toBe(true);
    expect(r.code).toBe(4008);
    const seconds = (r.tcpClosedAt - t0) / 1000;
    // Burst 2× the rate plus the rate over the time it ran, with slack.
    expect(rl.degas.clientMessages(account.id).length).toBeLessThanOrEqual(200 + 100 * seconds + 50);
    await rl.assertHealthy(rl.mark());
  });
});
