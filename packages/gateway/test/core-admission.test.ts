// Admission of logins (--max-logins-in-progress): connections beyond the bound are accepted but
// not read; each one starts, in arrival order, when a login in progress gets its challenge (the
// client's signing time holds no slot), authenticates, fails or closes. The bound is checked at
// every step through snapshot() and /metrics.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { CloseCode } from '@degas/proto';
import {
  memoryAccounts,
  signChallenge,
  startTestGateway,
  type TestGateway,
  until,
  type WsTestClient,
} from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { renderMetrics } from '../src/metrics.js';
import type { GatewayOptions } from '../src/types.js';
import { hello, nextAuthOk, walletLogin } from './resume-helpers.js';

let env: TestGateway<GatewayHandle>;
afterEach(async () => {
  await env?.close();
});

const BOUND = 2;

/**
 * A bound of `max`, without the slot deadline unless `options` sets one (so a slow machine cannot
 * move a count), and without the per-IP limits (every test client comes from 127.0.0.1).
 */
async function boundedEnv(
  max = BOUND,
  options: Partial<GatewayOptions> = {},
  fixture: Parameters<typeof startTestGateway>[2] = {},
): Promise<TestGateway<GatewayHandle>> {
  return startTestGateway(
    startGateway,
    { maxLoginsInProgress: max, loginSlotTimeoutMs: 0, maxPendingPerIp: 1000, handshakeRate: 0, ...options },
    fixture,
  );
}

function snap(): { inProgress: number; waiting: number; auth: number; forward: number } {
  const s = env.gateway.snapshot();
  return {
    inProgress: s.loginsInProgress,
    waiting: s.loginsWaiting,
    auth: s.connectionsAuth,
    forward: s.connectionsForward,
  };
}

/** Whether the client's upgrade got an answer yet (open, refused or closed). */
function answered(c: WsTestClient): boolean {
  return c.ws.readyState !== c.ws.CONNECTING;
}

test('connections beyond the bound wait unread, and start one by one as slots free up', async () => {
  env = await boundedEnv();
  const a = env.client();
  const b = env.client();
  await Promise.all([a.opened, b.opened]);
  const c = env.client();
  const d = env.client();
  // c and d are accepted (the kernel completed their handshake) but the gateway reads nothing.
  await until(() => snap().waiting === 2, 5000, 'two connections waiting');
  expect(snap()).toEqual({ inProgress: 2, waiting: 2, auth: 2, forward: 0 });
  expect(answered(c) || answered(d)).toBe(false);
  const metrics = renderMetrics(env.gateway.stats, env.gateway.snapshot());
  expect(metrics).toMatch(/^degas_gateway_logins_in_progress 2$/m);
  expect(metrics).toMatch(/^degas_gateway_logins_waiting 2$/m);

  // a gets its challenge: while its client signs (a wallet prompt may take seconds), its slot
  // goes to c (first in), not d.
  const aAccount = env.account();
  a.hello(aAccount);
  const challenge = await a.authRequest();
  await c.opened;
  expect(answered(d)).toBe(false);
  expect(snap()).toEqual({ inProgress: 2, waiting: 1, auth: 3, forward: 0 });
  // Its signature, however late, is accepted without a slot; nothing else moves.
  a.ethAuth(await signChallenge(aAccount.signer, challenge));
  expect((await a.nextMessage()).payload?.$case).toBe('authOk');
  expect(snap()).toEqual({ inProgress: 2, waiting: 1, auth: 2, forward: 1 });

  // b fails its login (a bad first frame): AUTH_FAIL frees its slot at once, d starts.
  b.send(new Uint8Array([0xff]));
  expect((await b.closed()).code).toBe(CloseCode.AUTH_FAILED);
  await d.opened;
  await until(() => snap().waiting === 0 && snap().inProgress === 2, 5000, 'd admitted');

  // The admitted ones log in normally; the bound then has room for everyone.
  await Promise.all([c.login(env.account()), d.login(env.account())]);
  await until(() => snap().inProgress === 0, 5000, 'no login in progress');
  expect(snap()).toEqual({ inProgress: 0, waiting: 0, auth: 0, forward: 3 });
  const late = await env.loggedIn();
  expect(late.client.closedWith).toBeUndefined();
});

test(`a burst of 30 logins through a bound of ${BOUND}: all authenticate, never more than ${BOUND} at once`, async () => {
  env = await boundedEnv();
  let most = 0;
  const probe = setInterval(() => {
    most = Math.max(most, env.gateway.snapshot().loginsInProgress);
  }, 1);
  try {
    const logins = Array.from({ length: 30 }, () => {
      const c = env.client();
      return c.login(env.account()).then(() => {
        most = Math.max(most, env.gateway.snapshot().loginsInProgress);
      });
    });
    await Promise.all(logins);
  } finally {
    clearInterval(probe);
  }
  expect(env.gateway.stats.authSuccesses).toBe(30);
  expect(most).toBeLessThanOrEqual(BOUND);
  expect(most).toBeGreaterThan(0);
  expect(snap()).toEqual({ inProgress: 0, waiting: 0, auth: 0, forward: 30 });
});

test('a waiting connection that went away gives up its turn as soon as it is reached', async () => {
  env = await boundedEnv(1);
  const a = await env.connect();
  // A raw TCP connection that waits, then resets. An unread socket learns of its peer's reset only
  // when it is read, i.e. when its turn comes: it then closes at once and the next one starts.
  const raw: Socket = connect(env.gateway.port, '127.0.0.1');
  raw.on('error', () => {});
  const b = env.client();
  await until(() => snap().waiting === 2, 5000, 'two waiting');
  raw.resetAndDestroy();
  a.close();
  await a.closed();
  await b.opened;
  await b.login(env.account());
  await until(() => snap().inProgress === 0, 5000, 'no login in progress');
  expect(snap()).toEqual({ inProgress: 0, waiting: 0, auth: 0, forward: 1 });
});

test('a slot held by a client that never says hello ends with its hello deadline', async () => {
  env = await boundedEnv(1, { helloTimeoutMs: 200 });
  const silent = await env.connect();
  const next = env.client();
  await until(() => snap().waiting === 1, 5000, 'one waiting');
  expect((await silent.closed()).code).toBe(CloseCode.AUTH_FAILED);
  await next.login(env.account());
});

test('a silent client gives up its slot after loginSlotTimeoutMs, but keeps its connection and deadlines', async () => {
  env = await boundedEnv(1, { loginSlotTimeoutMs: 150, helloTimeoutMs: 10_000 });
  const silent = await env.connect();
  const next = env.client();
  await until(() => snap().waiting === 1, 5000, 'one waiting');
  // The silent client has the only slot; after 150 ms it goes to the next connection, which logs in
  // while the silent one is still open and counted as logging in (auth state).
  await next.login(env.account());
  expect(env.gateway.stats.loginSlotsExpired).toBe(1);
  expect(snap()).toEqual({ inProgress: 0, waiting: 0, auth: 1, forward: 1 });
  expect(silent.closedWith).toBeUndefined();
  expect(renderMetrics(env.gateway.stats, env.gateway.snapshot())).toMatch(
    /^degas_gateway_login_slots_expired_total 1$/m,
  );
  // It may still log in: the slot deadline only stops it from holding up others.
  await silent.login(env.account());
  expect(snap()).toEqual({ inProgress: 0, waiting: 0, auth: 0, forward: 2 });
});

test('a connection that never sends its upgrade request gives up its slot after loginSlotTimeoutMs', async () => {
  env = await boundedEnv(1, { loginSlotTimeoutMs: 100 });
  const raw: Socket = connect(env.gateway.port, '127.0.0.1');
  raw.on('error', () => {});
  await until(() => snap().inProgress === 1, 5000, 'the raw connection admitted');
  const next = env.client();
  await next.login(env.account());
  expect(env.gateway.stats.loginSlotsExpired).toBe(1);
  expect(raw.destroyed).toBe(false);
  raw.destroy();
});

test('a client that has spoken keeps its slot however long the gateway takes (a slow account lookup)', async () => {
  env = await boundedEnv(1, { loginSlotTimeoutMs: 100 }, { accounts: memoryAccounts([], { delayMs: 400 }) });
  const account = env.account();
  const a = env.client();
  await a.opened;
  a.hello(account);
  const b = env.client();
  await until(() => snap().waiting === 1, 5000, 'b waiting');
  // The lookup takes 400 ms, four deadlines: the slot is a's until its challenge goes out.
  const challenge = await a.authRequest();
  await b.opened;
  expect(env.gateway.stats.loginSlotsExpired).toBe(0);
  a.ethAuth(await signChallenge(account.signer, challenge));
  expect((await a.nextMessage()).payload?.$case).toBe('authOk');
  await b.login(env.account());
  expect(env.gateway.stats.loginSlotsExpired).toBe(0);
});

test('a resume (no challenge) frees its slot when it succeeds; a refused ticket frees it at its challenge', async () => {
  env = await boundedEnv(1, { resumeKeys: [Uint8Array.from(randomBytes(32))] });
  const account = env.account();
  const first = env.client();
  const { resumeTicket } = await walletLogin(first, account);
  first.terminate();
  await until(() => snap().forward === 0, 5000, 'the drop to be seen');

  // The resume needs no challenge: it holds the one slot through hello → auth_ok, then frees it.
  const back = await env.connect();
  hello(back, account, resumeTicket);
  expect((await nextAuthOk(back)).resumed).toBe(true);
  expect(snap()).toEqual({ inProgress: 0, waiting: 0, auth: 0, forward: 1 });

  // A ticket the gateway refuses falls back to the challenge, and the slot frees there: the next
  // connection is admitted while this client is still (in a wallet) signing.
  const other = env.account();
  const refused = await env.connect();
  hello(refused, other, Uint8Array.from(randomBytes(64)));
  expect((await refused.nextMessage()).payload?.$case).toBe('authRequest');
  const next = env.client();
  await next.opened;
  expect(snap().inProgress).toBe(1);
  await next.login(env.account());
  expect(snap()).toEqual({ inProgress: 0, waiting: 0, auth: 1, forward: 2 });
});

test('a shutdown answers waiting connections 503', async () => {
  env = await boundedEnv(1);
  const a = await env.connect();
  const waiting = [env.client(), env.client()];
  await until(() => snap().waiting === 2, 5000, 'two waiting');
  const closing = env.gateway.close();
  for (const w of waiting) await expect(w.opened).rejects.toThrow('HTTP 503');
  expect((await a.closed()).code).toBe(CloseCode.GOING_AWAY);
  await closing;
});

test('without a bound (the default) nothing waits, and logins in progress are still counted', async () => {
  env = await startTestGateway(startGateway, { maxPendingPerIp: 1000, handshakeRate: 0 });
  const clients = Array.from({ length: 5 }, () => env.client());
  await Promise.all(clients.map((c) => c.opened));
  await until(() => snap().inProgress === 5, 5000, 'five in progress');
  expect(snap().waiting).toBe(0);
  await Promise.all(clients.map((c) => c.login(env.account())));
  expect(snap()).toEqual({ inProgress: 0, waiting: 0, auth: 0, forward: 5 });
});

test.each([-1, 1.5, 'x'])('maxLoginsInProgress %p is refused', async (v) => {
  await expect(startTestGateway(startGateway, { maxLoginsInProgress: v as number })).rejects.toThrow(
    /maxLoginsInProgress/,
  );
});

test.each([-1, 1.5, 'x', 60_001])('loginSlotTimeoutMs %p is refused', async (v) => {
  await expect(
    startTestGateway(startGateway, { maxLoginsInProgress: 1, loginSlotTimeoutMs: v as number }),
  ).rejects.toThrow(/loginSlotTimeoutMs/);
});
