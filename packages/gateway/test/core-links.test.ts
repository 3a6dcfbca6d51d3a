import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { ErrorCode, encodeDegasToClient, encodeDegasToClients, idEquals, randomId } from '@degas/proto';
import { degasFrame, startTestDegas, startTestGateway, type TestGateway, testBytes, until } from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { backoffDelay } from '../src/links.js';

let env: TestGateway<GatewayHandle>;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await env?.close();
  for (const c of cleanups.splice(0)) await c();
});

/** A TCP server that accepts and never answers (a blackholed Degas). */
async function blackhole(): Promise<{ url: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

test('backoff delay: jittered, doubling from 100 ms, capped at 10 s', () => {
  expect(backoffDelay(1, () => 0)).toBe(50);
  expect(backoffDelay(1, () => 1)).toBe(100);
  expect(backoffDelay(2, () => 1)).toBe(200);
  expect(backoffDelay(30, () => 1)).toBe(10_000);
  expect(backoffDelay(30, () => 0)).toBe(5_000);
});

test('unknown Degas → DEGAS_ERROR with its id; the connection stays open; no link object is kept', async () => {
  env = await startTestGateway(startGateway);
  const known = await env.startDegas({ echo: true });
  const { client } = await env.loggedIn();
  const unknown = randomId();
  client.send(degasFrame(unknown, testBytes(4)));
  const e = await client.nextError();
  expect(e.code).toBe(ErrorCode.DEGAS_ERROR);
  expect(idEquals(e.degasId, unknown)).toBe(true);
  expect(e.detail).toBe('unknown Degas');
  client.send(degasFrame(known.degasId, testBytes(4)));
  expect((await client.nextDegas()).payload).toEqual(testBytes(4));
  expect(env.gateway.snapshot().links.map((l) => l.state)).toEqual(['open']);
});

test('Degas down (refused) → DEGAS_ERROR; messages during backoff fail at once; a restarted Degas gets traffic', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas({ echo: true });
  await degas.kill(); // its port now refuses connections
  const { client } = await env.loggedIn();
  client.send(degasFrame(degas.degasId, testBytes(1)));
  const e = await client.nextError();
  expect(e.code).toBe(ErrorCode.DEGAS_ERROR);
  expect(idEquals(e.degasId, degas.degasId)).toBe(true);
  expect(client.closedWith).toBeUndefined();
  // restart (on a new port; the directory is consulted at every dial)
  const again = await startTestDegas({ degasId: degas.degasId, echo: true });
  cleanups.push(() => again.kill());
  env.directory.set(degas.degasId, { url: again.url });
  let delivered = false;
  for (let i = 0; i < 100 && !delivered; i++) {
    client.send(degasFrame(degas.degasId, testBytes(2)));
    const m = await client.nextMessage();
    delivered = m.payload?.$case === 'degas';
    if (!delivered) await new Promise((r) => setTimeout(r, 20));
  }
  expect(delivered).toBe(true);
});

test('a Degas that answers 401: DEGAS_ERROR and backoff, not a hot loop of dials', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas();
  degas.setMode({ kind: 'reject', status: 401 });
  const { client } = await env.loggedIn();
  const started = Date.now();
  let errors = 0;
  while (Date.now() - started < 1000) {
    client.send(degasFrame(degas.degasId, testBytes(1)));
    const e = await client.nextError();
    expect(e.code).toBe(ErrorCode.DEGAS_ERROR);
    errors++;
    await new Promise((r) => setTimeout(r, 5));
  }
  expect(errors).toBeGreaterThan(20);
  // 100, 200, 400, 800 ms steps (with jitter ≥ half): at most ~8 dials in one second
  expect(degas.upgradeHeaders.length).toBeGreaterThanOrEqual(2);
  expect(degas.upgradeHeaders.length).toBeLessThanOrEqual(8);
  expect(env.gateway.stats.dialFailures).toBe(degas.upgradeHeaders.length);
});

test('Degas killed mid-stream: later messages get DEGAS_ERROR, nothing is duplicated, traffic resumes', async () => {
  env = await startTestGateway(startGateway, { rateLimit: 0 });
  const degas = await env.startDegas({ echo: true });
  const { client } = await env.loggedIn();
  for (let i = 0; i < 50; i++) client.send(degasFrame(degas.degasId, Uint8Array.of(i)));
  for (let i = 0; i < 50; i++) expect((await client.nextDegas()).payload).toEqual(Uint8Array.of(i));
  await degas.kill();
  await until(() => env.gateway.snapshot().links[0]?.state !== 'open', 5000, 'link loss');
  client.send(degasFrame(degas.degasId, Uint8Array.of(99)));
  expect((await client.nextError()).code).toBe(ErrorCode.DEGAS_ERROR);
  const again = await startTestDegas({ degasId: degas.degasId, echo: true });
  cleanups.push(() => again.kill());
  env.directory.set(degas.degasId, { url: again.url });
  let got: Uint8Array | undefined;
  for (let i = 0; i < 200 && got === undefined; i++) {
    client.send(degasFrame(degas.degasId, Uint8Array.of(100 + (i % 100))));
    const m = await client.nextMessage();
    if (m.payload?.$case === 'degas') got = m.payload.value.payload;
    else await new Promise((r) => setTimeout(r, 20));
  }
  expect(got).toBeDefined();
  expect(again.clientMessages()).toHaveLength(1);
  expect(client.closedWith).toBeUndefined();
});

test('blackholed Degas: queued messages fail at the dial timeout; the queue is bounded; other Degas are unaffected', async () => {
  env = await startTestGateway(startGateway, { dialTimeoutMs: 300, degasQueueLimit: 10_000, rateLimit: 0 });
  const hole = await blackhole();
  const holeId = randomId();
  env.directory.set(holeId, { url: hole.url });
  const good = await env.startDegas({ echo: true });
  const { client } = await env.loggedIn();
  for (let i = 0; i < 5; i++) client.send(degasFrame(holeId, testBytes(3000, i))); // 3 fit, 2 overflow
  client.send(degasFrame(good.degasId, testBytes(7)));
  const first: string[] = [];
  for (let i = 0; i < 3; i++) {
    const m = await client.nextMessage();
    first.push(m.payload?.$case === 'error' ? `error:${m.payload.value.detail}` : (m.payload?.$case ?? '?'));
  }
  // the two overflow errors and the good Degas' echo arrive before the dial times out
  expect(first.sort()).toEqual(['degas', 'error:Degas queue full', 'error:Degas queue full']);
  const started = Date.now();
  for (let i = 0; i < 3; i++) {
    const e = await client.nextError();
    expect(e.code).toBe(ErrorCode.DEGAS_ERROR);
    expect(idEquals(e.degasId, holeId)).toBe(true);
  }
  expect(Date.now() - started).toBeLessThan(2000);
});

test('congested Degas (stops reading): DEGAS_ERROR per message beyond the limit, no head-of-line blocking', async () => {
  env = await startTestGateway(startGateway, { degasQueueLimit: 256 * 1024, rateLimit: 0 });
  const slow = await env.startDegas();
  const good = await env.startDegas({ echo: true });
  const { client } = await env.loggedIn();
  client.send(degasFrame(slow.degasId, testBytes(1)));
  const link = await slow.waitForLink();
  await slow.waitUntil((r) => r.length === 1);
  (link as unknown as { _socket: { pause(): void } })._socket.pause();
  let congested = false;
  for (let round = 0; round < 200 && !congested; round++) {
    for (let i = 0; i < 20; i++) client.send(degasFrame(slow.degasId, testBytes(60_000, i)));
    client.send(degasFrame(good.degasId, Uint8Array.of(round)));
    for (;;) {
      const m = await client.nextMessage();
      if (m.payload?.$case === 'degas') {
        expect(m.payload.value.payload).toEqual(Uint8Array.of(round));
        break;
      }
      expect(m.payload?.$case).toBe('error');
      if (m.payload?.$case === 'error') {
        expect(m.payload.value.code).toBe(ErrorCode.DEGAS_ERROR);
        expect(m.payload.value.detail).toBe('Degas is congested');
        congested = true;
      }
    }
  }
  expect(congested).toBe(true);
  const snap = env.gateway.snapshot().links.find((l) => idEquals(l.degasId, slow.degasId));
  expect(snap?.bufferedBytes).toBeLessThan(256 * 1024 + 70_000);
  (link as unknown as { _socket: { resume(): void } })._socket.resume();
});

test('degas_to_clients: 3 present, 2 absent, a duplicate; 1025 ids → PROTOCOL_ERROR and nothing delivered', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas();
  const present = await Promise.all([env.loggedIn(), env.loggedIn(), env.loggedIn()]);
  present[0]!.client.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil((r) => r.length === 1);
  const absent = [randomId(), randomId()];
  const ids = [...present.map((p) => p.account.id), ...absent, present[1]!.account.id];
  await degas.send(encodeDegasToClients(ids, testBytes(100, 5)));
  for (const p of present) {
    const m = await p.client.nextDegas();
    expect(idEquals(m.degasId, degas.degasId)).toBe(true);
    expect(m.payload).toEqual(testBytes(100, 5));
  }
  await degas.waitUntil(() => degas.errors().length === 2);
  expect(degas.errors().map((e) => e.code)).toEqual([ErrorCode.CLIENT_ERROR, ErrorCode.CLIENT_ERROR]);
  expect(degas.errors().map((e) => e.accountId)).toEqual(absent);
  // 1025 ids (hand-built: the SDK encoder refuses it)
  const many = Array.from({ length: 1025 }, (_, i) => (i === 0 ? present[0]!.account.id : randomId()));
  const parts: number[] = [];
  for (const id of many) parts.push(0x0a, 16, ...id);
  parts.push(0x12, 1, 7);
  const len = parts.length;
  const frame = Uint8Array.from([0x12, (len & 0x7f) | 0x80, (len >> 7) & 0x7f, ...parts]);
  await degas.send(frame);
  await degas.waitUntil(() => degas.errors().length === 3);
  expect(degas.errors()[2]!.code).toBe(ErrorCode.PROTOCOL_ERROR);
  // the present accounts got nothing more: a marker sent next is the next thing they see
  await degas.send(encodeDegasToClient(present[0]!.account.id, Uint8Array.of(42)));
  expect((await present[0]!.client.nextDegas()).payload).toEqual(Uint8Array.of(42));
  // a duplicated id was delivered once
  expect(present[1]!.client.messages.filter((m) => m.payload?.$case === 'degas')).toHaveLength(1);
});

test('slow consumer: 4009 when the send buffer passes its limit; later messages get CLIENT_ERROR', async () => {
  env = await startTestGateway(startGateway, { sendBufferLimit: 256 * 1024 });
  const degas = await env.startDegas();
  const { client, account } = await env.loggedIn();
  client.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil((r) => r.length === 1);
  const raw = client.ws as unknown as { _socket: { pause(): void; resume(): void } };
  raw._socket.pause();
  const big = encodeDegasToClient(account.id, testBytes(60_000));
  for (let round = 0; round < 400 && degas.errors().length === 0; round++) {
    for (let i = 0; i < 10; i++) await degas.send(big);
    await new Promise((r) => setTimeout(r, 5));
  }
  expect(degas.errors().length).toBeGreaterThan(0);
  expect(degas.errors()[0]!.code).toBe(ErrorCode.CLIENT_ERROR);
  expect(env.gateway.stats.closesByCode.get(4009)).toBe(1);
  raw._socket.resume();
  expect((await client.closed(10_000)).code).toBe(4009);
  // no error frame before the close
  expect(client.messages.filter((m) => m.payload?.$case === 'error')).toHaveLength(0);
});

test('rate limit: RATE_LIMITED per dropped message, then 4008 when it persists', async () => {
  env = await startTestGateway(startGateway, { rateLimit: 10, rateLimitGraceMs: 300 });
  const degas = await env.startDegas();
  const { client } = await env.loggedIn();
  for (let i = 0; i < 25; i++) client.send(degasFrame(degas.degasId, testBytes(1)));
  const e = await client.nextError();
  expect(e.code).toBe(ErrorCode.RATE_LIMITED);
  expect(idEquals(e.degasId, degas.degasId)).toBe(true);
  await degas.waitUntil((r) => r.length === 20); // the burst (2 × 10)
  const timer = setInterval(() => {
    if (client.ws.readyState === 1) client.send(degasFrame(degas.degasId, testBytes(1)));
  }, 10);
  try {
    expect((await client.closed()).code).toBe(4008);
  } finally {
    clearInterval(timer);
  }
  expect(degas.clientMessages().length).toBeLessThan(40);
});

test('ping timeout: a client that does not answer pings is terminated, in AuthState and in ForwardState', async () => {
  env = await startTestGateway(startGateway, { pingIntervalMs: 100 });
  const degas = await env.startDegas();
  const silent = env.client({ autoPong: false } as object);
  await silent.opened;
  expect((await silent.closed()).code).toBe(1006);
  const a = env.account();
  const fwd = env.client({ autoPong: false } as object);
  await fwd.login(a);
  fwd.send(degasFrame(degas.degasId, testBytes(1)));
  expect((await fwd.closed()).code).toBe(1006);
  await degas.waitUntil(() => degas.sessionClosed().length === 1);
  // a normal client keeps answering and stays
  const { client } = await env.loggedIn();
  await new Promise((r) => setTimeout(r, 350));
  expect(client.closedWith).toBeUndefined();
});

test('flapping Degas (accepts, then drops the link at once): one immediate re-dial, then backoff', async () => {
  env = await startTestGateway(startGateway, { rateLimit: 0 });
  const degas = await env.startDegas();
  const { client } = await env.loggedIn();
  const started = Date.now();
  let errors = 0;
  while (Date.now() - started < 1000) {
    for (const s of degas.links) s.terminate();
    client.send(degasFrame(degas.degasId, testBytes(1)));
    await new Promise((r) => setTimeout(r, 10));
    while (client.messages.length > 0) {
      client.messages.shift();
      errors++;
    }
  }
  expect(errors).toBeGreaterThan(0);
  // ~100 attempts were made by the client; backoff keeps the dials to a handful
  expect(degas.upgradeHeaders.length).toBeLessThanOrEqual(10);
  expect(client.closedWith).toBeUndefined();
});
