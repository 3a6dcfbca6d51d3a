import { ErrorCode, encodeDegasToClient } from '@degas/proto';
import { degasFrame, startTestGateway, type TestGateway, testBytes, until, type WsTestClient } from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { LocalRegistry } from '../src/registry.js';

let env: TestGateway<GatewayHandle>;
afterEach(async () => {
  await env?.close();
});

test('registry release compares the session object, never only the account id', () => {
  const registry = new LocalRegistry();
  const kicked: number[] = [];
  const session = (n: number) => ({
    accountId: new Uint8Array(16),
    accountKey: 'a',
    sessionId: BigInt(n),
    ticketHash: '',
    deliver: () => true,
    kick: () => kicked.push(n),
  });
  const s1 = session(1);
  const s2 = session(2);
  expect(registry.claim(s1)).toBe('ok');
  expect(registry.claim(s2)).toBe('ok');
  expect(kicked).toEqual([1]);
  registry.release(s1, true);
  expect(registry.local('a')).toBe(s2);
  registry.release(s2, true);
  expect(registry.local('a')).toBeUndefined();
});

/** A gateway, a Degas, and a session S1 that has sent it one message. */
async function firstSessionAtDegas() {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas();
  const { client: s1, account } = await env.loggedIn();
  s1.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil((r) => r.length === 1);
  return { degas, s1, account };
}

test('sequential replacement: DUP_SESSION + 4002 to the old one, Degas traffic goes to the new one', async () => {
  const { degas, s1, account } = await firstSessionAtDegas();
  const s2 = env.client();
  await s2.login(account);
  const e = await s1.nextError();
  expect(e.code).toBe(ErrorCode.DUP_SESSION);
  expect((await s1.closed()).code).toBe(4002);
  await degas.send(encodeDegasToClient(account.id, testBytes(5)));
  expect((await s2.nextDegas()).payload).toEqual(testBytes(5));
});

test('a late close of the replaced (half-open) connection never removes the new session', async () => {
  env = await startTestGateway(startGateway, { closeTimeoutMs: 300 });
  const degas = await env.startDegas();
  const { client: s1, account } = await env.loggedIn();
  // S1 goes silent: it reads nothing and never completes the close handshake.
  (s1.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const s2 = env.client();
  await s2.login(account); // admitted at once, no waiting for S1
  // S1 is destroyed after closeTimeout; afterwards S2 still receives.
  await until(
    () => env.gateway.snapshot().connectionsForward === 1 && env.gateway.snapshot().connectionsAuth === 0,
    3000,
    'S1 gone',
  );
  s2.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil((r) => r.length === 1);
  await degas.send(encodeDegasToClient(account.id, testBytes(6)));
  expect((await s2.nextDegas()).payload).toEqual(testBytes(6));
  expect(degas.errors()).toHaveLength(0);
});

test('session_closed of the replaced session reaches the Degas before the new session’s first message', async () => {
  const { degas, account } = await firstSessionAtDegas();
  const firstSession = degas.clientMessages()[0]!.sessionId;
  const s2 = env.client();
  await s2.login(account);
  s2.send(degasFrame(degas.degasId, testBytes(2)));
  await degas.waitUntil((r) => r.length === 3);
  const kinds = degas.received.map((m) => m.payload?.$case);
  expect(kinds).toEqual(['clientMessage', 'sessionClosed', 'clientMessage']);
  expect(degas.sessionClosed()[0]!.sessionId).toBe(firstSession);
  const secondSession = degas.clientMessages()[1]!.sessionId;
  expect(secondSession).not.toBe(firstSession);
});

test('10 simultaneous logins of one account: exactly one survivor, the last to complete auth', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas();
  const account = env.account();
  const opener = await env.loggedIn();
  opener.client.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil((r) => r.length === 1);
  for (let round = 0; round < 5; round++) {
    env.accounts.delayMs = () => Math.floor(Math.random() * 50);
    const clients: WsTestClient[] = [];
    for (let i = 0; i < 10; i++) clients.push(env.client());
    await Promise.all(clients.map((c) => c.login(account)));
    // Every one reached ForwardState; all but one were then replaced.
    await until(() => clients.filter((c) => c.closedWith !== undefined).length === 9, 5000, '9 replaced sessions');
    const survivors = clients.filter((c) => c.closedWith === undefined);
    expect(survivors).toHaveLength(1);
    const last = survivors[0]!;
    for (const c of clients) {
      if (c === last) continue;
      expect(c.closedWith?.code).toBe(4002);
      expect(
        c.messages.some((m) => m.payload?.$case === 'error' && m.payload.value.code === ErrorCode.DUP_SESSION),
      ).toBe(true);
    }
    expect(env.gateway.snapshot().connectionsForward).toBe(2); // the survivor + the opener
    await degas.send(encodeDegasToClient(account.id, testBytes(3, round)));
    expect((await last.nextDegas()).payload).toEqual(testBytes(3, round));
    expect(last.closedWith).toBeUndefined();
    last.close();
    await last.closed();
  }
});

test('session_closed goes to every Degas the session used, on close and on abrupt loss', async () => {
  env = await startTestGateway(startGateway);
  const x = await env.startDegas();
  const y = await env.startDegas();
  const unused = await env.startDegas();
  const { client } = await env.loggedIn();
  client.send(degasFrame(x.degasId, testBytes(1)));
  client.send(degasFrame(y.degasId, testBytes(1)));
  await x.waitUntil((r) => r.length === 1);
  await y.waitUntil((r) => r.length === 1);
  const sid = x.clientMessages()[0]!.sessionId;
  client.close();
  await x.waitUntil(() => x.sessionClosed().length === 1);
  await y.waitUntil(() => y.sessionClosed().length === 1);
  expect(x.sessionClosed()[0]!.sessionId).toBe(sid);
  expect(y.sessionClosed()[0]!.sessionId).toBe(sid);
  expect(unused.received).toHaveLength(0);
  const other = await env.loggedIn();
  other.client.send(degasFrame(x.degasId, testBytes(1)));
  await x.waitUntil(() => x.clientMessages().length === 2);
  other.client.terminate();
  await x.waitUntil(() => x.sessionClosed().length === 2);
});
