/**
 * Resume tickets on one gateway node (PROTOCOL.md 4.5): real sockets on loopback, an in-process
 * gateway. Restarts of the real bin are in resume-process.test.ts, cluster cases in
 * resume-cluster.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { CloseCode, ErrorCode, encodeDegasToClient } from '@degas/proto';
import {
  degasFrame,
  freshTestAccount,
  startTestGateway,
  type TestAccount,
  type TestGateway,
  testBytes,
  until,
  type WsTestClient,
} from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { createLogger } from '../src/logger.js';
import { renderMetrics } from '../src/metrics.js';
import { MAX_TICKET_BYTES, resumeKeyId } from '../src/resume-ticket.js';
import type { GatewayOptions } from '../src/types.js';
import { type AuthOk, hello, nextAuthOk, walletLogin } from './resume-helpers.js';

const KEY1 = Uint8Array.from(randomBytes(32));
const KEY2 = Uint8Array.from(randomBytes(32));

const envs: TestGateway<GatewayHandle>[] = [];
afterEach(async () => {
  for (const e of envs.splice(0)) await e.close();
});

async function start(options: Partial<GatewayOptions> = {}, keyless = false): Promise<TestGateway<GatewayHandle>> {
  const env = await startTestGateway(startGateway, keyless ? options : { resumeKeys: [KEY1], ...options });
  envs.push(env);
  return env;
}

/** A wallet login; returns its auth_ok. */
async function login(
  env: TestGateway<GatewayHandle>,
  account: TestAccount,
  client = env.client(),
): Promise<{ client: WsTestClient; ok: AuthOk }> {
  return { client, ok: await walletLogin(client, account) };
}

/** Presents `ticket` and expects a resume: auth_ok{resumed} at once, no challenge. */
async function resume(
  env: TestGateway<GatewayHandle>,
  account: TestAccount,
  ticket: Uint8Array,
): Promise<{ client: WsTestClient; ok: AuthOk }> {
  const client = await env.connect();
  hello(client, account, ticket);
  const ok = await nextAuthOk(client);
  expect(ok.resumed).toBe(true);
  return { client, ok };
}

/** Presents `ticket` and expects it to be refused: the normal challenge follows on the same connection. */
async function refused(
  env: TestGateway<GatewayHandle>,
  account: TestAccount,
  ticket: Uint8Array,
  resumeOn = true,
): Promise<WsTestClient> {
  const client = env.client();
  // The refusal costs nothing: the same connection logs in with the wallet.
  const ok = await walletLogin(client, account, ticket);
  expect(ok.resumed).toBe(false);
  expect(ok.resumeTicket.length > 0).toBe(resumeOn);
  return client;
}

/** Drops the connection without a close frame (as a network cut does) and waits until the gateway saw it. */
async function drop(env: TestGateway<GatewayHandle>, client: WsTestClient): Promise<void> {
  const before = env.gateway.snapshot().connectionsForward;
  client.terminate();
  await until(() => env.gateway.snapshot().connectionsForward < before, 5000, 'the gateway to notice the drop');
}

function resumes(env: TestGateway<GatewayHandle>) {
  return env.gateway.stats.resumes;
}

test('resume on the same node after a drop: no challenge, a new session and ticket, resumed_from once per Degas', async () => {
  const env = await start();
  const d1 = await env.startDegas();
  const d2 = await env.startDegas();
  const a = env.account();
  const { client: c1, ok: ok1 } = await login(env, a);
  expect(ok1.resumed).toBe(false);
  expect(ok1.sessionId).not.toBe(0n);
  expect(ok1.resumeWindowMs).toBe(60_000);
  expect(ok1.resumeTicket.length).toBeGreaterThan(0);
  expect(ok1.resumeTicket.length).toBeLessThanOrEqual(MAX_TICKET_BYTES);
  c1.send(degasFrame(d1.degasId, testBytes(1)));
  await d1.waitUntil(() => d1.clientMessages().length === 1);
  await drop(env, c1);
  await d1.waitUntil(() => d1.sessionClosed().length === 1);

  const { client: c2, ok: ok2 } = await resume(env, a, ok1.resumeTicket);
  expect(ok2.accountId).toEqual(a.id);
  expect(ok2.sessionId).not.toBe(ok1.sessionId);
  expect(ok2.resumeTicket.length).toBeGreaterThan(0);
  expect(Buffer.from(ok2.resumeTicket).equals(Buffer.from(ok1.resumeTicket))).toBe(false);
  expect(ok2.resumeWindowMs).toBe(60_000);

  c2.send(degasFrame(d1.degasId, testBytes(2)));
  c2.send(degasFrame(d1.degasId, testBytes(3)));
  c2.send(degasFrame(d2.degasId, testBytes(4)));
  c2.send(degasFrame(d2.degasId, testBytes(5)));
  await d1.waitUntil(() => d1.clientMessages().length === 3);
  await d2.waitUntil(() => d2.clientMessages().length === 2);
  const m1 = d1.clientMessages();
  expect(m1.map((m) => [m.sessionId, m.resumedFrom])).toEqual([
    [ok1.sessionId, 0n],
    [ok2.sessionId, ok1.sessionId],
    [ok2.sessionId, 0n],
  ]);
  const m2 = d2.clientMessages();
  expect(m2.map((m) => m.resumedFrom)).toEqual([ok1.sessionId, 0n]);
  expect(d1.sessionClosed()[0]!.sessionId).toBe(ok1.sessionId);
  expect(resumes(env).ok).toBe(1);
  expect(env.gateway.stats.ticketsIssued).toBe(2);
  expect(env.accounts.lookups).toBe(2); // check 2 asks the directory again

  // The Degas can answer the resumed session.
  await d1.send(encodeDegasToClient(a.id, testBytes(9)));
  expect((await c2.nextDegas()).payload).toEqual(testBytes(9));
});

/** A gateway (test defaults) and a wallet login of a fresh account on it. */
async function freshLogin() {
  const env = await start();
  const a = env.account();
  const { client, ok } = await login(env, a);
  return { env, a, client, ok };
}

/** A gateway with `options`, an account's wallet login, its drop, and the resume of its ticket. */
async function resumedOnce(options: Partial<GatewayOptions> = {}) {
  const env = await start(options);
  const a = env.account();
  const { client: c1, ok: ok1 } = await login(env, a);
  await drop(env, c1);
  const { client: c2, ok: ok2 } = await resume(env, a, ok1.resumeTicket);
  return { env, a, ok1, c2, ok2 };
}

test('a replayed ticket gets the challenge; the newest ticket still resumes', async () => {
  const { env, a, ok1, c2, ok2 } = await resumedOnce();
  await drop(env, c2);
  const c3 = await refused(env, a, ok1.resumeTicket);
  expect(resumes(env).superseded).toBe(1);
  // c3's wallet login made ok2's ticket the past too.
  await drop(env, c3);
  await refused(env, a, ok2.resumeTicket);
});

test('the same ticket on two connections at once: exactly one resumes, the other gets the challenge', async () => {
  const env = await start();
  const a = env.account();
  for (let round = 0; round < 10; round++) {
    const { client: c1, ok } = await login(env, a);
    await drop(env, c1);
    const x = env.client();
    const y = env.client();
    await Promise.all([x.opened, y.opened]);
    hello(x, a, ok.resumeTicket);
    hello(y, a, ok.resumeTicket);
    const [mx, my] = await Promise.all([x.nextMessage(), y.nextMessage()]);
    const kinds = [mx.payload?.$case, my.payload?.$case].sort();
    expect(kinds).toEqual(['authOk', 'authRequest']);
    const winner = mx.payload?.$case === 'authOk' ? x : y;
    expect(winner.closedWith).toBeUndefined();
    winner.terminate();
    (mx.payload?.$case === 'authOk' ? y : x).terminate();
    await until(
      () => env.gateway.snapshot().connectionsForward === 0 && env.gateway.snapshot().connectionsAuth === 0,
      5000,
      'condition',
    );
  }
  expect(resumes(env).ok).toBe(10);
});

test('after the window: challenge', async () => {
  const env = await start({ resumeWindowMs: 200 });
  const a = env.account();
  const { client, ok } = await login(env, a);
  expect(ok.resumeWindowMs).toBe(200);
  await drop(env, client);
  const droppedAt = Date.now();
  // Waiting out the window is the point of this test.
  await new Promise((r) => setTimeout(r, 250));
  expect(Date.now() - droppedAt).toBeGreaterThan(200);
  await refused(env, a, ok.resumeTicket);
  // Past the window the single-node registry may already have forgotten the session.
  expect(resumes(env).expired + resumes(env).unknown).toBe(1);
  expect(resumes(env).ok).toBe(0);
});

test('after the maximum age of the chain (counted from the wallet login, across resumes): challenge', async () => {
  const { env, a, c2, ok2 } = await resumedOnce({ resumeMaxAgeMs: 400 });
  await new Promise((r) => setTimeout(r, 450));
  await drop(env, c2);
  await refused(env, a, ok2.resumeTicket);
  expect(resumes(env).max_age).toBe(1);
});

test('tampered, truncated, 513-byte, empty and random tickets: challenge, before any registry read', async () => {
  const { env, a, client, ok } = await freshLogin();
  await drop(env, client);
  const t = ok.resumeTicket;
  const flipped = Uint8Array.from(t);
  flipped[30]! ^= 1;
  const macFlipped = Uint8Array.from(t);
  macFlipped[t.length - 1]! ^= 0x80;
  const big = new Uint8Array(MAX_TICKET_BYTES + 1);
  big.set(t);
  for (const bad of [flipped, macFlipped, t.subarray(0, t.length - 1), big, Uint8Array.from(randomBytes(t.length))]) {
    await refused(env, a, bad);
  }
  // An empty ticket is no ticket at all: a plain login, not a refusal.
  await refused(env, a, new Uint8Array(0));
  const r = resumes(env);
  expect(r.ok).toBe(0);
  expect(r.bad_mac + r.malformed + r.unknown_key).toBe(5);
});

test("another account's ticket, another signer's ticket: challenge", async () => {
  const env = await start();
  const a = env.account();
  const b = env.account();
  const second = freshTestAccount();
  // `a` has two signers: its own key and `second`'s.
  env.accounts.set(a, { extraSigners: [second.address] });
  const { client, ok } = await login(env, a);
  await drop(env, client);
  // b presents a's ticket.
  await refused(env, b, ok.resumeTicket);
  // a's other signer presents the ticket issued to a's first signer.
  const viaOther: TestAccount = { ...second, id: a.id };
  await refused(env, viaOther, ok.resumeTicket);
  expect(resumes(env).account_mismatch).toBe(1);
  expect(resumes(env).signer_mismatch).toBe(1);
});

test('a client close 1000 (a logout) revokes; any other client close code allows resume', async () => {
  const env = await start();
  const a = env.account();
  const { client: c1, ok: ok1 } = await login(env, a);
  c1.ws.close(1000);
  await c1.closed();
  await until(() => env.gateway.snapshot().connectionsForward === 0, 5000, 'condition');
  const c2 = await refused(env, a, ok1.resumeTicket);
  expect(resumes(env).revoked).toBe(1);
  c2.terminate();
  await until(() => env.gateway.snapshot().connectionsForward === 0, 5000, 'condition');

  const { client: c3, ok: ok3 } = await login(env, a);
  c3.ws.close(4000, 'app going to background');
  await c3.closed();
  await until(() => env.gateway.snapshot().connectionsForward === 0, 5000, 'condition');
  await resume(env, a, ok3.resumeTicket);
});

test('a protocol error (4003) revokes', async () => {
  const { env, a, client, ok } = await freshLogin();
  client.hello(a); // a second hello in ForwardState
  expect((await client.nextError()).code).toBe(ErrorCode.PROTOCOL_ERROR);
  expect((await client.closed()).code).toBe(CloseCode.PROTOCOL_VIOLATION);
  await until(() => env.gateway.snapshot().connectionsForward === 0, 5000, 'condition');
  await refused(env, a, ok.resumeTicket);
});

test('after a newer wallet login: challenge', async () => {
  const env = await start();
  const a = env.account();
  const { client: c1, ok: ok1 } = await login(env, a);
  await drop(env, c1);
  const { client: c2 } = await login(env, a);
  await drop(env, c2);
  await refused(env, a, ok1.resumeTicket);
});

test('a half-open old connection (its socket silently stopped) is replaced with DUP_SESSION', async () => {
  const env = await start({ closeTimeoutMs: 300 });
  const degas = await env.startDegas();
  const a = env.account();
  const { client: c1, ok: ok1 } = await login(env, a);
  c1.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil((r) => r.length === 1);
  // The old connection goes silent: the gateway has not noticed anything yet.
  (c1.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const { client: c2, ok: ok2 } = await resume(env, a, ok1.resumeTicket);
  // The old session ended at the kick: its notice reaches the Degas before the new session's message.
  c2.send(degasFrame(degas.degasId, testBytes(2)));
  await degas.waitUntil(() => degas.clientMessages().length === 2);
  const kinds = degas.received.map((m) => m.payload?.$case);
  expect(kinds).toEqual(['clientMessage', 'sessionClosed', 'clientMessage']);
  expect(degas.sessionClosed()[0]!.sessionId).toBe(ok1.sessionId);
  // The old connection sees DUP_SESSION + 4002 once it reads again.
  (c1.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  expect((await c1.nextError()).code).toBe(ErrorCode.DUP_SESSION);
  expect((await c1.closed()).code).toBe(CloseCode.DUP_SESSION);
  expect(ok2.resumed).toBe(true);
  // A kick by a resume revokes nothing the resumed session holds: its own ticket works.
  await drop(env, c2);
  await resume(env, a, ok2.resumeTicket);
});

test('a disabled signer: AUTH_FAIL, even with a valid ticket', async () => {
  const { env, a, client, ok } = await freshLogin();
  await drop(env, client);
  env.accounts.set(a, { disabled: true });
  const c2 = await env.connect();
  hello(c2, a, ok.resumeTicket);
  expect((await c2.nextError()).code).toBe(ErrorCode.AUTH_FAIL);
  expect((await c2.closed()).code).toBe(CloseCode.AUTH_FAILED);
});

test('key rotation: a ticket signed with the previous key still resumes, new tickets use the new key', async () => {
  const old = await start({ resumeKeys: [KEY1] });
  const a = old.account();
  const { ok } = await login(old, a);
  expect(Buffer.from(ok.resumeTicket.subarray(1, 5))).toEqual(Buffer.from(resumeKeyId(KEY1)));
  await old.gateway.close(); // GOING_AWAY: resumable
  const rotated = await start({ resumeKeys: [KEY2, KEY1] });
  rotated.accounts.set(a);
  const { ok: ok2 } = await resume(rotated, a, ok.resumeTicket);
  expect(Buffer.from(ok2.resumeTicket.subarray(1, 5))).toEqual(Buffer.from(resumeKeyId(KEY2)));
  // A node that dropped the old key refuses tickets signed with it.
  await rotated.gateway.close();
  const only2 = await start({ resumeKeys: [KEY2] });
  only2.accounts.set(a);
  await refused(only2, a, ok.resumeTicket);
  expect(resumes(only2).unknown_key).toBe(1);
});

test('shutdown (GOING_AWAY) leaves sessions resumable: a restart with the same key resumes', async () => {
  const first = await start();
  const a = first.account();
  const { client, ok } = await login(first, a);
  const closing = first.gateway.close();
  expect((await client.nextError()).code).toBe(ErrorCode.GOING_AWAY);
  expect((await client.closed()).code).toBe(CloseCode.GOING_AWAY);
  await closing;
  const second = await start();
  second.accounts.set(a);
  await resume(second, a, ok.resumeTicket);
});

test('without a key a single node makes a random one: tickets survive drops, not restarts', async () => {
  const first = await start({}, true);
  const a = first.account();
  const { client, ok } = await login(first, a);
  expect(ok.resumeTicket.length).toBeGreaterThan(0);
  await drop(first, client);
  const { ok: ok2 } = await resume(first, a, ok.resumeTicket);
  await first.gateway.close();
  const second = await start({}, true);
  second.accounts.set(a);
  await refused(second, a, ok2.resumeTicket);
});

test('--resume-window-ms 0: no tickets (empty, window 0), and a presented ticket is ignored', async () => {
  const on = await start();
  const a = on.account();
  const { ok: withTicket } = await login(on, a);
  const env = await start({ resumeWindowMs: 0 });
  env.accounts.set(a);
  const { client, ok } = await login(env, a);
  expect(ok.resumeTicket).toHaveLength(0);
  expect(ok.resumeWindowMs).toBe(0);
  await drop(env, client);
  await refused(env, a, withTicket.resumeTicket, false);
  expect(env.gateway.stats.ticketsIssued).toBe(0);
  expect(resumes(env).off).toBe(1);
});

test('metrics count resumes by result and tickets issued; tickets never appear in logs', async () => {
  const lines: string[] = [];
  const env = await start({ logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }) });
  const a = env.account();
  const { client, ok } = await login(env, a);
  await drop(env, client);
  const { client: c2 } = await resume(env, a, ok.resumeTicket);
  await drop(env, c2);
  await refused(env, a, ok.resumeTicket);
  const text = renderMetrics(env.gateway.stats, env.gateway.snapshot());
  expect(text).toMatch(/^degas_gateway_resumes_total\{result="ok"\} 1$/m);
  expect(text).toMatch(/^degas_gateway_resumes_total\{result="superseded"\} 1$/m);
  expect(text).toMatch(/^degas_gateway_resumes_total\{result="bad_mac"\} 0$/m);
  expect(text).toMatch(/^degas_gateway_resume_tickets_issued_total 3$/m);
  await env.gateway.close();
  const all = lines.join('\n');
  const hex = Buffer.from(ok.resumeTicket).toString('hex');
  expect(all).not.toContain(hex);
  expect(all).not.toContain(hex.slice(0, 32));
  expect(all).not.toContain(Buffer.from(ok.resumeTicket).toString('base64').slice(0, 24));
  expect(all).not.toContain(Buffer.from(KEY1).toString('hex').slice(0, 16));
  expect(lines.length).toBeGreaterThan(3); // debug logging was on
});
