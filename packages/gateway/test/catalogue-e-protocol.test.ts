/** docs/CATALOGUE.md section E: application protocol and state machine (protobuf). */
import { parseChallenge } from '@degas/auth-eth';
import { decodeClientMessage, idEquals } from '@degas/proto';
import {
  degasFrame,
  ethAuthFrame,
  helloAndChallenge,
  helloFrame,
  loginRaw,
  RawClient,
  type TestAccount,
} from '@degas/test-utils';
import { expectAuthFail, expectError, expectErrorThenClose, silentFor, useCatalogueEnv } from './catalogue-env.js';

const PROMPT = 'Sign in to play.example. Signing is free and sends no transaction.';
const env = useCatalogueEnv({ authMessage: PROMPT });

const garbage: [string, Buffer][] = [
  ['deadbeefcafebabe0102', Buffer.from('deadbeefcafebabe0102', 'hex')],
  ['length overrunning the buffer', Buffer.from([0x1a, 0x7f, 0x0a, 0x10, 0x01])],
  ['11-byte varint', Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
  ['group wire type', Buffer.from([0x0b, 0x0c])],
  ['invalid wire type 7 (0x0F 0x00)', Buffer.from([0x0f, 0x00])],
  ['only unknown fields', Buffer.from([0x78, 0x01, 0x9a, 0x06, 0x01, 0x00])],
  ['empty', Buffer.alloc(0)],
];

/** A protobuf length-delimited record: tag, varint length, bytes. */
function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  const out = [(field << 3) | 2];
  let n = bytes.length;
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.concat([Buffer.from(out), bytes]);
}

async function authState(): Promise<{ c: RawClient; account: TestAccount; challenge: string }> {
  const c = await env.raw();
  const account = env.account();
  const challenge = await helloAndChallenge(c, account);
  return { c, account, challenge };
}

describe('E. application protocol', () => {
  it.each(garbage)(
    '#43/#44/#46 garbage (%s): AUTH_FAIL/4001 before hello and in AuthState, PROTOCOL_ERROR/4003 in ForwardState',
    async (_n, bytes) => {
      const mark = env.mark();
      const pre = await env.raw();
      pre.binary(bytes);
      await expectAuthFail(pre);
      const { c } = await authState();
      c.binary(bytes);
      await expectAuthFail(c);
      const { client } = await env.rawLoggedIn();
      client.binary(bytes);
      await expectErrorThenClose(client, 4, 4003);
      await env.assertHealthy(mark);
    },
  );

  it('#46 a valid hello followed by trailing junk after a 0x00 tag → rejected (AUTH_FAIL/4001)', async () => {
    const c = await env.raw();
    const a = env.account();
    c.binary(Buffer.concat([helloFrame(a.id, a.address), Buffer.from([0x00, 0xff, 0xff])]));
    await expectAuthFail(c);
  });

  it('#45 two oneof members in one frame: never both processed', async () => {
    const mark = env.mark();
    const a = env.account();
    const hello = Buffer.from(helloFrame(a.id, a.address));
    const degas = Buffer.from(degasFrame(env.degasId, Buffer.from('smuggled')));
    // hello then degas, before auth: either last-wins (degas before hello → AUTH_FAIL) or rejected.
    let c = await env.raw();
    c.binary(Buffer.concat([hello, degas]));
    await expectAuthFail(c);
    // degas then hello, before auth: last-wins (hello → auth_request) or rejected (AUTH_FAIL); nothing forwarded.
    c = await env.raw();
    c.binary(Buffer.concat([degas, hello]));
    const m = await c.nextMessage();
    expect(['authRequest', 'error']).toContain(m.payload?.$case);
    c.destroy();
    // In ForwardState: degas then hello → hello wins (4003) or rejected (4003); hello then degas →
    // forwarded once (degas wins) or 4003 — never both a forward and a re-auth.
    const { client, account } = await env.rawLoggedIn();
    client.binary(Buffer.concat([degas, Buffer.from(helloFrame(account.id, account.address))]));
    await expectErrorThenClose(client, 4, 4003);
    const second = await env.rawLoggedIn();
    const from = env.mark();
    second.client.binary(Buffer.concat([Buffer.from(helloFrame(second.account.id, second.account.address)), degas]));
    const r = await second.client.nextMessage();
    if (r.payload?.$case === 'degas') expect(Buffer.from(r.payload.value.payload).toString()).toBe('smuggled');
    else {
      expect(r.payload?.$case === 'error' && r.payload.value.code).toBe(4);
      expect(env.degas.clientMessages(second.account.id)).toHaveLength(0);
    }
    await env.assertHealthy(from, { allow: [second.account.id] });
    expect(env.degas.clientMessages(account.id)).toHaveLength(0);
    expect(env.degas.clientMessages(a.id)).toHaveLength(0);
    expect(mark).toBeGreaterThanOrEqual(0);
  });

  it('#47 messages not allowed in this state', async () => {
    const mark = env.mark();
    const a = env.account();
    // degas before hello; eth_auth before hello
    let c = await env.raw();
    c.binary(degasFrame(env.degasId, Buffer.from('x')));
    await expectAuthFail(c);
    c = await env.raw();
    c.binary(ethAuthFrame(new Uint8Array(65)));
    await expectAuthFail(c);
    // a second hello in AuthState
    ({ c } = await authState());
    c.binary(helloFrame(a.id, a.address));
    await expectAuthFail(c);
    // a second eth_auth, and a data frame while the signature is being verified
    for (const second of ['eth_auth', 'degas'] as const) {
      const s = await authState();
      const { loginTypedData } = await import('@degas/auth-eth');
      const sig = await s.account.signer.signTypedData(loginTypedData(parseChallenge(s.challenge)));
      s.c.binary(ethAuthFrame(sig));
      if (second === 'eth_auth') s.c.binary(ethAuthFrame(sig));
      else s.c.binary(degasFrame(env.degasId, Buffer.from('while verifying')));
      await expectAuthFail(s.c);
    }
    // hello or eth_auth in ForwardState → PROTOCOL_ERROR, 4003, no account switch
    for (const which of ['hello', 'eth_auth'] as const) {
      const { client } = await env.rawLoggedIn();
      const other = env.account();
      client.binary(which === 'hello' ? helloFrame(other.id, other.address) : ethAuthFrame(new Uint8Array(65)));
      await expectErrorThenClose(client, 4, 4003);
    }
    await env.assertHealthy(mark);
  });

  it('#48 wrong id lengths: hello.account_id 0/15/17/32 → AUTH_FAIL; degas_id 0/15/17 → PROTOCOL_ERROR{degas_id}, stays open', async () => {
    const mark = env.mark();
    const a = env.account();
    for (const n of [0, 15, 17, 32]) {
      const c = await env.raw();
      c.binary(
        helloFrame(a.id.length >= n ? a.id.subarray(0, n) : Buffer.concat([a.id, Buffer.alloc(n - 16, 1)]), a.address),
      );
      await expectAuthFail(c);
    }
    const { client, account } = await env.rawLoggedIn();
    for (const n of [0, 15, 17]) {
      const id = Buffer.alloc(n, 0xab);
      client.binary(degasFrame(id, Buffer.from('bad id')));
      const err = await expectError(client, 4);
      expect(Buffer.from(err.degasId)).toEqual(id);
    }
    client.binary(degasFrame(env.degasId, Buffer.from('ok')));
    expect((await client.nextMessage()).payload?.$case).toBe('degas');
    expect(env.degas.clientMessages(account.id).map((m) => Buffer.from(m.payload).toString())).toEqual(['ok']);
    await env.assertHealthy(mark, { allow: [account.id] });
  });

  it('#49 unknown Degas → DEGAS_ERROR{degas_id}; stays open; next message to a known Degas delivered', async () => {
    const { client, account } = await env.rawLoggedIn();
    const unknown = Buffer.alloc(16, 0x5a);
    client.binary(degasFrame(unknown, Buffer.from('?')));
    const err = await expectError(client, 2);
    expect(Buffer.from(err.degasId)).toEqual(unknown);
    client.binary(degasFrame(env.degasId, Buffer.from('known')));
    expect((await client.nextMessage()).payload?.$case).toBe('degas');
    expect(env.degas.clientMessages(account.id)).toHaveLength(1);
  });

  it('#50 unknown fields in ClientDegasMessage and ClientMessage → ignored; the forward carries only account_id, payload', async () => {
    const { client, account } = await env.rawLoggedIn();
    const payload = Buffer.from('with unknown fields');
    const inner = Buffer.concat([
      Buffer.from([0x0a, 16]),
      env.degasId,
      Buffer.from([0x12, payload.length]),
      payload,
      Buffer.from([0x78, 0x01]), // field 15 varint
      Buffer.from([0x9a, 0x06, 0x03, 1, 2, 3]), // field 99 bytes
    ]);
    const outer = Buffer.concat([Buffer.from([0x1a, inner.length]), inner, Buffer.from([0x78, 0x05])]);
    const from = env.mark();
    client.binary(outer);
    const m = await env.degas.waitFor((x) => x.payload?.$case === 'clientMessage', 5000, from);
    if (m.payload?.$case !== 'clientMessage') throw new Error('unreachable');
    expect(idEquals(m.payload.value.accountId, account.id)).toBe(true);
    expect(Buffer.from(m.payload.value.payload)).toEqual(payload);
  });

  it('#51 challenge format and entropy: exactly one binary auth_request; JSON {Message, Challenge}; no repeats over 10,000 connections', async () => {
    const seen = new Set<string>();
    const a = env.account();
    // Batches of 50 stay under the per-IP pending cap (64). Not env.raw(): the fixture would keep
    // all 10,000 clients until the end.
    for (let batch = 0; batch < 200; batch++) {
      const clients = await Promise.all(Array.from({ length: 50 }, () => RawClient.connect({ port: env.port })));
      const challenges = await Promise.all(clients.map((c) => helloAndChallenge(c, a)));
      for (const [i, json] of challenges.entries()) {
        const obj = JSON.parse(json) as Record<string, unknown>;
        expect(Object.keys(obj).sort()).toEqual(['Challenge', 'Message']);
        expect(obj.Message).toBe(PROMPT);
        expect(obj.Challenge).toMatch(/^[0-9a-f]{32}$/);
        expect(seen.has(obj.Challenge as string)).toBe(false);
        seen.add(obj.Challenge as string);
        const frames = (clients[i] as RawClient).received;
        expect(frames.filter((f) => f.opcode === 2)).toHaveLength(1);
      }
      await Promise.all(
        clients.map(async (c) => {
          expect(await silentFor(c, 20)).toBe(true);
          c.destroy();
        }),
      );
    }
    expect(seen.size).toBe(10_000);
  });

  it('#52 hello with field 3 (network_address_signer) instead of an Ethereum signer → AUTH_FAIL/4001', async () => {
    const a = env.account();
    const signerMsg = Buffer.from([0x0a, 4, 127, 0, 0, 1]);
    const hello = Buffer.concat([Buffer.from([0x0a, 16]), a.id, Buffer.from([0x1a, signerMsg.length]), signerMsg]);
    const c = await env.raw();
    c.binary(Buffer.concat([Buffer.from([0x0a, hello.length]), hello]));
    await expectAuthFail(c);
  });

  it('#53 a signature smuggled into hello (signer field 2) → ignored or rejected; login still needs eth_auth over this challenge', async () => {
    const a = env.account();
    const first = await env.raw();
    const earlier = await loginRaw(first, a);
    first.destroy();
    const addr = Buffer.from(a.address);
    const signer = Buffer.concat([lengthDelimited(1, addr), lengthDelimited(2, earlier.signature)]);
    const hello = Buffer.concat([lengthDelimited(1, a.id), lengthDelimited(2, signer)]);
    const c = await env.raw();
    c.binary(lengthDelimited(1, hello));
    const m = await c.nextMessage();
    if (m.payload?.$case === 'error') {
      // Rejected outright is allowed; it must be for this, not for a malformed frame.
      expect(decodeClientMessage(lengthDelimited(1, hello)).payload?.$case).toBe('hello');
      expect(m.payload.value.code).toBe(0);
      return;
    }
    expect(m.payload?.$case).toBe('authRequest');
    // No auth_ok without an eth_auth; the old signature over the old challenge fails.
    expect(await silentFor(c, 200)).toBe(true);
    c.binary(earlier.ethAuth);
    await expectAuthFail(c);
  });
});
