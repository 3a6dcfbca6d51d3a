/**
 * End to end through the real gateway (@degas/gateway, in process): the gateway dials this
 * DegasServer with its token and id, forwards client messages, delivers replies and multicasts,
 * reports CLIENT_ERROR and session_closed.
 */
import { createStaticDegasDirectory, type GatewayHandle, startGateway } from '@degas/gateway';
import { type GatewayMessage, idToHex, randomId } from '@degas/proto';
import { degasFrame, loginRaw, memoryAccounts, testAccount, WsTestClient } from '@degas/test-utils';
import { DegasServer, type DegasServerEvents } from '../src/index.js';

const TOKEN = 'sdk-e2e-token';
const degasId = randomId();
const enc = new TextEncoder();
const dec = new TextDecoder();
const alice = testAccount(7001);
const bob = testAccount(7002);

let degas: DegasServer;
let gateway: GatewayHandle;
const clients: WsTestClient[] = [];

function next<K extends keyof DegasServerEvents>(event: K): Promise<DegasServerEvents[K]> {
  return new Promise((resolve) => degas.once(event, resolve));
}

async function login(account: typeof alice): Promise<WsTestClient> {
  const c = await WsTestClient.connect(gateway.port);
  clients.push(c);
  await loginRaw(c, account);
  return c;
}

function degasPayload(msg: GatewayMessage): string {
  if (msg.payload?.$case !== 'degas') throw new Error(`expected a degas frame, got ${msg.payload?.$case}`);
  expect(msg.payload.value.degasId).toEqual(degasId);
  return dec.decode(msg.payload.value.payload);
}

beforeAll(async () => {
  degas = new DegasServer({ degasId, token: TOKEN, port: 0, host: '127.0.0.1' });
  const { port } = await degas.listen();
  gateway = await startGateway({
    host: '127.0.0.1',
    port: 0,
    adminPort: false,
    accounts: memoryAccounts([alice, bob]),
    degas: createStaticDegasDirectory([{ id: degasId, url: `ws://127.0.0.1:${port}`, token: TOKEN }]),
    verifierThreads: 1,
    shutdownTimeoutMs: 2000,
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await gateway.close();
  await degas.close();
});

test('messages, replies, multicast, CLIENT_ERROR and session_closed through the real gateway', async () => {
  const a = await login(alice);
  const b = await login(bob);

  // The first message makes the gateway dial us; the upgrade passes the token and id checks.
  const connected = next('gatewayConnected');
  const fromAlice = next('message');
  a.send(degasFrame(degasId, enc.encode('hello from alice')));
  await connected;
  const m = await fromAlice;
  expect(m.accountIdHex).toBe(alice.idHex);
  expect(dec.decode(m.payload)).toBe('hello from alice');
  expect(typeof m.sessionId).toBe('bigint');
  expect(degas.isPresent(alice.id)).toBe(true);

  expect(degas.send(alice.id, enc.encode('hi alice'))).toBe(true);
  expect(degasPayload(await a.nextMessage())).toBe('hi alice');

  // Multicast: one frame, both players (bob never wrote, so he is reached through the fallback).
  expect(degas.sendMany([alice.id, bob.id], enc.encode('tick'))).toBe(true);
  expect(degasPayload(await a.nextMessage())).toBe('tick');
  expect(degasPayload(await b.nextMessage())).toBe('tick');

  // An account that is not connected: the gateway answers CLIENT_ERROR naming it.
  const nobody = randomId();
  const clientError = next('clientError');
  degas.send(nobody, enc.encode('lost'));
  const ce = await clientError;
  expect(ce.codeName).toBe('CLIENT_ERROR');
  expect(ce.accountIdHex).toBe(idToHex(nobody));

  // Alice leaves: the notice carries her session and ends her presence.
  const closed = next('sessionClosed');
  await a.close();
  const notice = await closed;
  expect(notice).toMatchObject({ accountIdHex: alice.idHex, sessionId: m.sessionId, stale: false, reason: 'notice' });
  expect(degas.isPresent(alice.id)).toBe(false);
});

test('a gateway with the wrong token is refused before the upgrade, and its clients get DEGAS_ERROR', async () => {
  const wrong = await startGateway({
    host: '127.0.0.1',
    port: 0,
    adminPort: false,
    accounts: memoryAccounts([alice]),
    degas: createStaticDegasDirectory([
      { id: degasId, url: `ws://127.0.0.1:${degas.address()!.port}`, token: 'not-the-token' },
    ]),
    verifierThreads: 1,
    shutdownTimeoutMs: 2000,
    dialTimeoutMs: 1000,
  });
  try {
    const c = await WsTestClient.connect(wrong.port);
    clients.push(c);
    await loginRaw(c, alice);
    const rejected = next('upgradeRejected');
    c.send(degasFrame(degasId, enc.encode('let me in')));
    expect(await rejected).toMatchObject({ status: 401, reason: 'wrong token' });
    const reply = await c.nextMessage();
    expect(reply.payload?.$case).toBe('error');
    expect(reply.payload?.value).toMatchObject({ code: 2, degasId });
  } finally {
    await wrong.close();
  }
});
