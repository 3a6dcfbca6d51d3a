import { ErrorCode, idEquals } from '@degas/proto';
import {
  degasFrame,
  freshTestAccount,
  highSTwin,
  signChallenge,
  startTestGateway,
  type TestGateway,
  testBytes,
  type WsTestClient,
} from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { AUTH_FAIL_DETAIL } from '../src/session.js';

let env: TestGateway<GatewayHandle>;
afterEach(async () => {
  await env?.close();
});

/** The address with the case of one hex letter flipped: a wrong checksum when that leaves it mixed case. */
function flipOneLetter(address: string): string {
  const i = address.slice(2).search(/[a-fA-F]/) + 2;
  const ch = address[i]!;
  const flipped = ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase();
  const out = address.slice(0, i) + flipped + address.slice(i + 1);
  return /[a-f]/.test(out.slice(2)) && /[A-F]/.test(out.slice(2)) ? out : `${address}0`;
}

/** Expects AUTH_FAIL (with the one shared detail text) and close 4001. */
async function expectAuthFail(client: WsTestClient): Promise<void> {
  const e = await client.nextError();
  expect(e.code).toBe(ErrorCode.AUTH_FAIL);
  expect(e.detail).toBe(AUTH_FAIL_DETAIL);
  expect((await client.closed()).code).toBe(4001);
}

test('auth_ok carries the account id; v of 27/28 and 0/1 are both accepted', async () => {
  env = await startTestGateway(startGateway);
  const account = env.account();
  for (const shift of [0, -27]) {
    const { client: c, challenge } = await env.challenged(account);
    const sig = await signChallenge(account.signer, challenge);
    const s = Uint8Array.from(sig);
    s[64] = (s[64]! < 27 ? s[64]! + 27 : s[64]!) + shift;
    c.ethAuth(s);
    const ok = await c.nextMessage();
    expect(ok.payload?.$case).toBe('authOk');
    if (ok.payload?.$case === 'authOk') expect(idEquals(ok.payload.value.accountId, account.id)).toBe(true);
  }
  expect(env.gateway.stats.authSuccesses).toBe(2);
});

test('challenge JSON is {Message, Challenge} with 32 lowercase hex and never repeats', async () => {
  env = await startTestGateway(startGateway, { authMessage: 'Sign in to example.test. Signing is free.' });
  const account = env.account();
  const seen = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const c = await env.connect();
    c.hello(account);
    const obj = JSON.parse(await c.authRequest());
    expect(Object.keys(obj)).toEqual(['Message', 'Challenge']);
    expect(obj.Message).toBe('Sign in to example.test. Signing is free.');
    expect(obj.Challenge).toMatch(/^[0-9a-f]{32}$/);
    seen.add(obj.Challenge);
    c.close();
  }
  expect(seen.size).toBe(5);
});

test('hello deadline → AUTH_FAIL + 4001', async () => {
  env = await startTestGateway(startGateway, { helloTimeoutMs: 150 });
  const c = await env.connect();
  await expectAuthFail(c);
  expect(env.gateway.stats.authFailures.hello_timeout).toBe(1);
});

test('eth_auth deadline → AUTH_FAIL + 4001; a late signature is not accepted', async () => {
  env = await startTestGateway(startGateway, { authTimeoutMs: 150 });
  const account = env.account();
  const { client: c } = await env.challenged(account);
  await expectAuthFail(c);
  expect(env.gateway.stats.authFailures.auth_timeout).toBe(1);
});

test('wrong first frames: eth_auth before hello, degas before hello, garbage, empty frame', async () => {
  env = await startTestGateway(startGateway);
  const frames = [
    (c: WsTestClient) => c.ethAuth(new Uint8Array(65)),
    (c: WsTestClient) => c.send(degasFrame(new Uint8Array(16), testBytes(4))),
    (c: WsTestClient) => c.send(Uint8Array.from([0xde, 0xad, 0xbe, 0xef])),
    (c: WsTestClient) => c.send(new Uint8Array(0)),
  ];
  for (const f of frames) {
    const c = await env.connect();
    f(c);
    await expectAuthFail(c);
  }
});

test('second hello, and a data frame while the lookup or the verification is pending → AUTH_FAIL', async () => {
  env = await startTestGateway(startGateway);
  const account = env.account();
  // second hello after auth_request
  let c = (await env.challenged(account)).client;
  c.hello(account);
  await expectAuthFail(c);
  // during the verification
  c = await env.connect();
  c.hello(account);
  const sig = await signChallenge(account.signer, await c.authRequest());
  c.ethAuth(sig);
  c.send(degasFrame(new Uint8Array(16), testBytes(1)));
  await expectAuthFail(c);
  // during the (slow) directory lookup
  env.accounts.delayMs = 100;
  c = await env.connect();
  c.hello(account);
  c.send(degasFrame(new Uint8Array(16), testBytes(1)));
  await expectAuthFail(c);
  expect(env.gateway.stats.authFailures.unexpected_message).toBe(3);
});

test('signer failures all look the same: unknown account, disabled signer, another account’s signer, bad address', async () => {
  env = await startTestGateway(startGateway);
  const a = env.account();
  const b = env.account();
  const disabled = env.account({ disabled: true });
  const stranger = freshTestAccount();
  const cases = [
    { id: stranger.id, address: stranger.address }, // no such account
    { id: disabled.id, address: disabled.address }, // disabled signer
    { id: a.id, address: b.address }, // signer of another account
    { id: a.id, address: a.address.slice(2) }, // no 0x
    { id: a.id, address: `0x${a.address.slice(2, 41)}` }, // 39 digits
    { id: a.id, address: flipOneLetter(a.address) }, // wrong EIP-55 checksum
    { id: new Uint8Array(15), address: a.address }, // short account id
  ];
  for (const hello of cases) {
    const c = await env.connect();
    c.hello(hello);
    await expectAuthFail(c);
  }
});

test('lowercase, checksummed and all-uppercase addresses are accepted', async () => {
  env = await startTestGateway(startGateway);
  const a = env.account();
  const hex = a.address.slice(2);
  for (const address of [a.address, `0x${hex.toLowerCase()}`, `0x${hex.toUpperCase()}`]) {
    const c = await env.connect();
    c.hello({ id: a.id, address });
    c.ethAuth(await signChallenge(a.signer, await c.authRequest()));
    expect((await c.nextMessage()).payload?.$case).toBe('authOk');
    c.close();
  }
});

test('bad signatures: other key, high-s twin, wrong domain, wrong lengths, v out of range, another connection’s challenge', async () => {
  env = await startTestGateway(startGateway);
  const a = env.account();
  const other = freshTestAccount();
  const attempts: ((challenge: string) => Promise<Uint8Array>)[] = [
    (ch) => signChallenge(other.signer, ch),
    async (ch) => highSTwin(await signChallenge(a.signer, ch)),
    (ch) => signChallenge(a.signer, ch, { domain: 'Evil' }),
    async (ch) => (await signChallenge(a.signer, ch)).subarray(0, 64),
    async (ch) => Uint8Array.from([...(await signChallenge(a.signer, ch)), 0]),
    async () => new Uint8Array(0),
    async (ch) => {
      const s = Uint8Array.from(await signChallenge(a.signer, ch));
      s[64] = 29;
      return s;
    },
    async () => new Uint8Array(65),
  ];
  for (const make of attempts) {
    const c = await env.connect();
    c.hello(a);
    const sig = await make(await c.authRequest());
    c.ethAuth(sig);
    await expectAuthFail(c);
  }
  // cross-connection: a signature over A's challenge sent on B fails; A can still use it
  const ca = env.client();
  const cb = env.client();
  await Promise.all([ca.opened, cb.opened]);
  ca.hello(a);
  cb.hello(a);
  const sigA = await signChallenge(a.signer, await ca.authRequest());
  await cb.authRequest();
  cb.ethAuth(sigA);
  await expectAuthFail(cb);
  ca.ethAuth(sigA);
  expect((await ca.nextMessage()).payload?.$case).toBe('authOk');
  // replay of the successful eth_auth on a new connection fails
  const { client: cr } = await env.challenged(a);
  cr.ethAuth(sigA);
  await expectAuthFail(cr);
});

test('text frame → 1003 before hello and in AuthState (no AUTH_FAIL)', async () => {
  env = await startTestGateway(startGateway);
  const a = env.account();
  let c = await env.connect();
  c.send('hi');
  expect((await c.closed()).code).toBe(1003);
  expect(c.messages).toHaveLength(0);
  c = (await env.challenged(a)).client;
  c.send('hi');
  expect((await c.closed()).code).toBe(1003);
  expect(c.messages).toHaveLength(1);
});

test('a failed login never affects the live session of the account', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas({ echo: true });
  const { client, account } = await env.loggedIn();
  const { client: attacker } = await env.challenged(account);
  attacker.ethAuth(
    await signChallenge(freshTestAccount().signer, '{"Message":"x","Challenge":"00000000000000000000000000000000"}'),
  );
  await expectAuthFail(attacker);
  client.send(degasFrame(degas.degasId, testBytes(8)));
  expect((await client.nextDegas()).payload).toEqual(testBytes(8));
  expect(client.closedWith).toBeUndefined();
});

test('directory errors fail authentication (no crash)', async () => {
  env = await startTestGateway(startGateway);
  const a = env.account();
  env.accounts.getAccount = () => Promise.reject(new Error('rpc down'));
  const c = await env.connect();
  c.hello(a);
  await expectAuthFail(c);
  env.accounts.getAccount = () => {
    throw new Error('sync failure');
  };
  const d = await env.connect();
  d.hello(a);
  await expectAuthFail(d);
  expect(env.gateway.stats.authFailures.directory_error).toBe(2);
});
