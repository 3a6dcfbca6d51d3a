import { createHash } from 'node:crypto';
import { ErrorCode, encodeDegasToClient, idEquals, idToHex, randomId } from '@degas/proto';
import { degasFrame, startTestGateway, type TestGateway, testBytes, varintBytes } from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';

let env: TestGateway<GatewayHandle>;
afterEach(async () => {
  await env?.close();
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('round trip both ways with byte-identical payloads (empty, 65536 bytes, random)', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas({ echo: true });
  const { client, account } = await env.loggedIn();
  const payloads = [new Uint8Array(0), testBytes(65536, 7), testBytes(1000, 3), Uint8Array.from([0, 0xff, 0xfe, 0xc3])];
  for (const p of payloads) client.send(degasFrame(degas.degasId, p));
  for (const p of payloads) {
    const m = await client.nextDegas();
    expect(idEquals(m.degasId, degas.degasId)).toBe(true);
    expect(sha(m.payload)).toBe(sha(p));
  }
  const got = degas.clientMessages();
  expect(got).toHaveLength(payloads.length);
  for (let i = 0; i < payloads.length; i++) {
    expect(idEquals(got[i]!.accountId, account.id)).toBe(true);
    expect(sha(got[i]!.payload)).toBe(sha(payloads[i]!));
    expect(got[i]!.sessionId).not.toBe(0n);
  }
  // The Degas saw the headers of PROTOCOL.md 5.1 (no token configured: no Authorization).
  const headers = degas.upgradeHeaders[0]!;
  expect(headers['degas-id']).toBe(idToHex(degas.degasId));
  expect(headers.authorization).toBeUndefined();
});

test('1000 sequenced messages arrive in order, exactly once, both ways', async () => {
  env = await startTestGateway(startGateway, { rateLimit: 0 });
  const degas = await env.startDegas({ echo: true });
  const { client } = await env.loggedIn();
  const n = 1000;
  for (let i = 0; i < n; i++) {
    const p = new Uint8Array(4);
    new DataView(p.buffer).setUint32(0, i);
    client.send(degasFrame(degas.degasId, p));
  }
  for (let i = 0; i < n; i++) {
    const m = await client.nextDegas();
    expect(new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0)).toBe(i);
  }
  const seen = degas.clientMessages().map((m) => new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0));
  expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
});

test('internal token is sent as a bearer token; an endpoint token wins', async () => {
  env = await startTestGateway(startGateway, { internalToken: 'gw-secret' });
  const a = await env.startDegas();
  const b = await env.startDegas();
  env.directory.set(b.degasId, { url: b.url, token: 'b-secret' });
  const { client } = await env.loggedIn();
  client.send(degasFrame(a.degasId, testBytes(3)));
  client.send(degasFrame(b.degasId, testBytes(3)));
  await a.waitUntil((r) => r.length === 1);
  await b.waitUntil((r) => r.length === 1);
  expect(a.upgradeHeaders[0]!.authorization).toBe('Bearer gw-secret');
  expect(b.upgradeHeaders[0]!.authorization).toBe('Bearer b-secret');
});

test('degas_id not 16 bytes → PROTOCOL_ERROR; payload over 65536 → PAYLOAD_TOO_LARGE; connection stays open', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas({ echo: true });
  const { client } = await env.loggedIn();
  for (const len of [0, 15, 17]) {
    client.send(degasFrame(new Uint8Array(len).fill(1), testBytes(5)));
    const e = await client.nextError();
    expect(e.code).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(e.degasId.length).toBe(len);
  }
  client.send(degasFrame(degas.degasId, testBytes(65537)));
  const e = await client.nextError();
  expect(e.code).toBe(ErrorCode.PAYLOAD_TOO_LARGE);
  expect(idEquals(e.degasId, degas.degasId)).toBe(true);
  // still open and working
  client.send(degasFrame(degas.degasId, testBytes(9)));
  expect(sha((await client.nextDegas()).payload)).toBe(sha(testBytes(9)));
  expect(degas.clientMessages()).toHaveLength(1);
});

test('garbage, an empty ClientMessage, a second hello or eth_auth in ForwardState → PROTOCOL_ERROR + 4003', async () => {
  env = await startTestGateway(startGateway);
  const frames: Uint8Array[] = [
    Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe]),
    new Uint8Array(0),
    Uint8Array.from([0x78, 0x01]), // only an unknown field (15, varint)
  ];
  for (const f of frames) {
    const { client } = await env.loggedIn();
    client.send(f);
    expect((await client.nextError()).code).toBe(ErrorCode.PROTOCOL_ERROR);
    expect((await client.closed()).code).toBe(4003);
  }
  const { client, account } = await env.loggedIn();
  client.hello(account);
  expect((await client.nextError()).code).toBe(ErrorCode.PROTOCOL_ERROR);
  expect((await client.closed()).code).toBe(4003);
  const second = await env.loggedIn();
  second.client.ethAuth(new Uint8Array(65));
  expect((await second.client.nextError()).code).toBe(ErrorCode.PROTOCOL_ERROR);
  expect((await second.client.closed()).code).toBe(4003);
});

test('text frame in ForwardState → 1003', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas();
  const { client } = await env.loggedIn();
  client.send('hello');
  expect((await client.closed()).code).toBe(1003);
  expect(degas.received).toHaveLength(0);
});

test('a frame over the limit → 1009', async () => {
  env = await startTestGateway(startGateway);
  const { client } = await env.loggedIn();
  client.send(new Uint8Array(66561));
  expect((await client.closed()).code).toBe(1009);
});

test('Degas → absent account gets CLIENT_ERROR; bad account id and oversized payload are answered on the link', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas();
  const { client, account } = await env.loggedIn();
  client.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil((r) => r.length === 1);
  const absent = randomId();
  await degas.send(encodeDegasToClient(absent, testBytes(4)));
  await degas.waitUntil(() => degas.errors().length === 1);
  expect(degas.errors()[0]!.code).toBe(ErrorCode.CLIENT_ERROR);
  expect(idEquals(degas.errors()[0]!.accountId, absent)).toBe(true);
  // 15-byte account id (hand-built frame: field 1 { field 1 = 15 bytes })
  await degas.send(Uint8Array.from([0x0a, 17, 0x0a, 15, ...new Uint8Array(15)]));
  await degas.waitUntil(() => degas.errors().length === 2);
  expect(degas.errors()[1]!.code).toBe(ErrorCode.PROTOCOL_ERROR);
  // payload of 65537 bytes, hand-built (the SDK encoder refuses it)
  const big = testBytes(65537);
  const body = [0x0a, 16, ...account.id, 0x12, 0x81, 0x80, 0x04, ...big];
  const frame = Uint8Array.from([0x0a, ...varintBytes(body.length), ...body]);
  await degas.send(frame);
  await degas.waitUntil(() => degas.errors().length === 3);
  expect(degas.errors()[2]!.code).toBe(ErrorCode.PAYLOAD_TOO_LARGE);
  expect(idEquals(degas.errors()[2]!.accountId, account.id)).toBe(true);
  // undecodable and empty frames → PROTOCOL_ERROR, link kept
  await degas.send(Uint8Array.from([0xff, 0xff, 0xff]));
  await degas.send(new Uint8Array(0));
  await degas.waitUntil(() => degas.errors().length === 5);
  expect(degas.errors()[3]!.code).toBe(ErrorCode.PROTOCOL_ERROR);
  expect(degas.errors()[4]!.code).toBe(ErrorCode.PROTOCOL_ERROR);
  // nothing reached the client, and the link still works
  await degas.send(encodeDegasToClient(account.id, testBytes(2)));
  const m = await client.nextDegas();
  expect(sha(m.payload)).toBe(sha(testBytes(2)));
  expect(degas.links.size).toBe(1);
});

test('text frame from a Degas closes the link with 1003; the next message re-dials', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas({ echo: true });
  const { client } = await env.loggedIn();
  client.send(degasFrame(degas.degasId, testBytes(1)));
  await client.nextDegas();
  const link = await degas.waitForLink();
  const closed = new Promise<number>((resolve) => link.once('close', (code) => resolve(code)));
  link.send('text');
  expect(await closed).toBe(1003);
  client.send(degasFrame(degas.degasId, testBytes(2)));
  // a lost link is re-dialed by the next message (PROTOCOL 5.2)
  expect((await client.nextDegas()).payload).toEqual(testBytes(2));
  expect(degas.upgradeHeaders).toHaveLength(2);
});
