/**
 * End to end through the real gateway (@degas/gateway, in process): the gateway dials this
 * DegasServer with its token and id, forwards client messages, delivers replies and multicasts,
 * reports CLIENT_ERROR and session_closed.
 */
import { type GatewayHandle, startGateway } from '@degas/gateway';
import { idToHex, randomId } from '@degas/proto';
import { degasFrame, memoryAccounts, startTestGateway, type TestGateway, testAccount } from '@degas/test-utils';
import { DegasServer, type DegasServerEvents } from '../src/index.js';
import { dec, enc, nextText } from './helpers.js';

const TOKEN = 'sdk-e2e-token';
const degasId = randomId();
const alice = testAccount(7001);
const bob = testAccount(7002);

let degas: DegasServer;
let env: TestGateway<GatewayHandle>;

function next<K extends keyof DegasServerEvents>(event: K): Promise<DegasServerEvents[K]> {
  return new Promise((resolve) => degas.once(event, resolve));
}

/** A gateway (in process) whose one Degas is ours, reached with `token`. */
function gatewayWithToken(token: string, options: { dialTimeoutMs?: number } = {}) {
  const url = `ws://127.0.0.1:${degas.address()!.port}`;
  return startTestGateway(startGateway, options, {
    accounts: memoryAccounts([alice, bob]),
    degas: [{ degasId, url, token }],
  });
}

beforeAll(async () => {
  degas = new DegasServer({ degasId, token: TOKEN, port: 0, host: '127.0.0.1' });
  await degas.listen();
  env = await gatewayWithToken(TOKEN);
});

afterAll(async () => {
  await env.close();
  await degas.close();
});

test('messages, replies, multicast, CLIENT_ERROR and session_closed through the real gateway', async () => {
  const { client: a } = await env.loggedIn(alice);
  const { client: b } = await env.loggedIn(bob);

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
  expect(await nextText(a, degasId)).toBe('hi alice');

  // Multicast: one frame, both players (bob never wrote, so he is reached through the fallback).
  expect(degas.sendMany([alice.id, bob.id], enc.encode('tick'))).toBe(true);
  expect(await nextText(a, degasId)).toBe('tick');
  expect(await nextText(b, degasId)).toBe('tick');

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
  const wrong = await gatewayWithToken('not-the-token', { dialTimeoutMs: 1000 });
  try {
    const { client: c } = await wrong.loggedIn(alice);
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
