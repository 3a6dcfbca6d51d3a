/** docs/CATALOGUE.md section F: Ethereum signature authentication. */

import { hashTypedData, loginTypedData, parseChallenge } from '@degas/auth-eth';
import {
  bigIntTo32,
  degasFrame,
  ethAuthFrame,
  helloAndChallenge,
  highSTwin,
  loginRaw,
  type RawClient,
  SECP256K1_N,
  type TestAccount,
  testAccount,
} from '@degas/test-utils';
import { jest } from '@jest/globals';
import { expectAuthFail, expectError, signDigest, signTyped, silentFor, useCatalogueEnv } from './catalogue-env.js';

const N = SECP256K1_N;
const to32 = bigIntTo32;

const env = useCatalogueEnv({ authTimeoutMs: 1500 });

async function challenged(account?: TestAccount): Promise<{ c: RawClient; a: TestAccount; json: string }> {
  const a = account ?? env.account();
  const c = await env.raw();
  const json = await helloAndChallenge(c, a);
  return { c, a, json };
}

function validSig(a: TestAccount, json: string): Uint8Array {
  return signDigest(a.key, hashTypedData(loginTypedData(parseChallenge(json))));
}

async function expectOk(c: RawClient): Promise<void> {
  const m = await c.nextMessage();
  expect(m.payload?.$case).toBe('authOk');
}

describe('F. Ethereum signature authentication', () => {
  it('#54 happy path with an independent signer (libsecp256k1) → auth_ok and a Degas round trip', async () => {
    const { c, a, json } = await challenged();
    c.binary(ethAuthFrame(validSig(a, json)));
    await expectOk(c);
    c.binary(degasFrame(env.degasId, Buffer.from('hi')));
    expect((await c.nextMessage()).payload?.$case).toBe('degas');
    const mark = env.mark();
    await env.assertHealthy(mark);
  });

  it('#55 wrong signature lengths (0, 1, 64 compact, 66, 130, 132) → AUTH_FAIL/4001', async () => {
    const mark = env.mark();
    for (const kind of [0, 1, 64, 66, 130, 132]) {
      const { c, a, json } = await challenged();
      const sig = Buffer.from(validSig(a, json));
      let bad: Buffer;
      if (kind === 64) {
        // EIP-2098 compact: r ‖ (yParity << 255 | s)
        const s = Buffer.from(sig.subarray(32, 64));
        if (sig[64] === 28) s[0] = (s[0] as number) | 0x80;
        bad = Buffer.concat([sig.subarray(0, 32), s]);
      } else if (kind === 130 || kind === 132) {
        bad = Buffer.from((kind === 132 ? '0x' : '') + sig.toString('hex'));
      } else bad = Buffer.concat([sig, Buffer.alloc(65)]).subarray(0, kind);
      c.binary(ethAuthFrame(bad));
      await expectAuthFail(c);
    }
    await env.assertHealthy(mark);
  });

  it('#56 v ∈ {27,28} and {0,1} accepted; v ∈ {2,29,30,35,36,37,255} → AUTH_FAIL', async () => {
    for (const shift of [0, -27]) {
      const { c, a, json } = await challenged();
      const sig = Buffer.from(validSig(a, json));
      sig[64] = (sig[64] as number) + shift;
      c.binary(ethAuthFrame(sig));
      await expectOk(c);
      c.destroy();
    }
    for (const v of [2, 29, 30, 35, 36, 37, 255]) {
      const { c, a, json } = await challenged();
      const sig = Buffer.from(validSig(a, json));
      sig[64] = v;
      c.binary(ethAuthFrame(sig));
      await expectAuthFail(c);
    }
  });

  it('#57 the high-s twin (s′ = n − s, v flipped) → AUTH_FAIL', async () => {
    const { c, a, json } = await challenged();
    c.binary(ethAuthFrame(highSTwin(validSig(a, json))));
    await expectAuthFail(c);
  });

  it('#58 degenerate r and s (0, n, 65 zero bytes, r not on the curve) → AUTH_FAIL; verifier survives', async () => {
    const mark = env.mark();
    const variants: ((sig: Buffer) => Buffer)[] = [
      (s) => Buffer.concat([Buffer.alloc(32), s.subarray(32)]),
      (s) => Buffer.concat([s.subarray(0, 32), Buffer.alloc(32), s.subarray(64)]),
      (s) => Buffer.concat([to32(N), s.subarray(32)]),
      (s) => Buffer.concat([s.subarray(0, 32), to32(N), s.subarray(64)]),
      () => Buffer.alloc(65),
      (s) => Buffer.concat([to32(5n), s.subarray(32)]), // x = 5: x³+7 = 132 is not a square mod p
    ];
    for (const f of variants) {
      const { c, a, json } = await challenged();
      c.binary(ethAuthFrame(f(Buffer.from(validSig(a, json)))));
      await expectAuthFail(c);
    }
    await env.assertHealthy(mark);
  });

  it('#59 wrong domain or type → AUTH_FAIL/4001', async () => {
    const domainTypes = [
      { name: 'name', type: 'string' },
      { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' },
    ];
    const login = [
      { name: 'Message', type: 'string' },
      { name: 'Challenge', type: 'string' },
    ];
    const variants: ((m: { Message: string; Challenge: string }) => unknown)[] = [
      (m) => ({ ...loginTypedData(m), domain: { name: 'Degas Authentication', version: '1', chainId: 137 } }),
      (m) => loginTypedData(m, { domainName: 'Evil' }),
      (m) => loginTypedData(m, { domainName: 'Xixels Authentication' }),
      (m) => ({ ...loginTypedData(m), domain: { name: 'Degas Authentication', version: '2', chainId: 1 } }),
      (m) => ({
        domain: { name: 'Degas Authentication', version: '1' },
        types: { EIP712Domain: domainTypes.slice(0, 2), Login: login },
        primaryType: 'Login',
        message: m,
      }),
      (m) => ({
        domain: {
          name: 'Degas Authentication',
          version: '1',
          chainId: 1,
          verifyingContract: '0x0000000000000000000000000000000000000001',
        },
        types: { EIP712Domain: [...domainTypes, { name: 'verifyingContract', type: 'address' }], Login: login },
        primaryType: 'Login',
        message: m,
      }),
      (m) => ({
        domain: { name: 'Degas Authentication', version: '1', chainId: 1 },
        types: { EIP712Domain: [domainTypes[2], domainTypes[0], domainTypes[1]], Login: login },
        primaryType: 'Login',
        message: m,
      }),
      (m) => ({
        domain: { name: 'Degas Authentication', version: '1', chainId: 1 },
        types: { EIP712Domain: domainTypes, LoginX: login },
        primaryType: 'LoginX',
        message: m,
      }),
      (m) => ({
        domain: { name: 'Degas Authentication', version: '1', chainId: 1 },
        types: { EIP712Domain: domainTypes, Login: [login[1], login[0]] },
        primaryType: 'Login',
        message: m,
      }),
    ];
    for (const v of variants) {
      const { c, a, json } = await challenged();
      c.binary(ethAuthFrame(signTyped(a.key, v(parseChallenge(json)))));
      await expectAuthFail(c);
    }
  });

  it("#60 altered message content (Message ±1 char, Challenge upper-cased, another connection's challenge) → AUTH_FAIL", async () => {
    const other = await challenged();
    const alters: ((m: { Message: string; Challenge: string }) => { Message: string; Challenge: string })[] = [
      (m) => ({ ...m, Message: `${m.Message}.` }),
      (m) => ({ ...m, Challenge: m.Challenge.toUpperCase() }),
      (m) => ({ ...m, Challenge: parseChallenge(other.json).Challenge }),
    ];
    for (const alter of alters) {
      const { c, a, json } = await challenged();
      c.binary(ethAuthFrame(signDigest(a.key, hashTypedData(loginTypedData(alter(parseChallenge(json)))))));
      await expectAuthFail(c);
    }
    other.c.destroy();
  });

  it('#61 signer mismatches → AUTH_FAIL/4001, same detail text', async () => {
    const details: string[] = [];
    const second = testAccount(900_001);
    const owner = env.account();
    env.accounts.set({
      id: owner.id,
      signers: [
        { type: 'ethereum', address: owner.address, disabled: false },
        { type: 'ethereum', address: second.address, disabled: false },
      ],
    });
    // recovered address is a signer of the account but ≠ the hello address
    let { c, json } = await challenged(owner);
    c.binary(ethAuthFrame(validSig(second, json)));
    details.push((await expectError(c, 0)).detail);
    // the hello address is a signer of a different account
    const stranger = env.account();
    c = await env.raw();
    c.binary((await import('@degas/test-utils')).helloFrame(stranger.id, owner.address));
    details.push((await expectError(c, 0)).detail);
    // disabled signer
    const dis = env.account();
    env.accounts.set({ id: dis.id, signers: [{ type: 'ethereum', address: dis.address, disabled: true }] });
    c = await env.raw();
    c.binary((await import('@degas/test-utils')).helloFrame(dis.id, dis.address));
    details.push((await expectError(c, 0)).detail);
    // no such account
    const ghost = testAccount(900_002);
    c = await env.raw();
    c.binary((await import('@degas/test-utils')).helloFrame(ghost.id, ghost.address));
    details.push((await expectError(c, 0)).detail);
    expect(new Set(details).size).toBe(1);
    json = '';
    expect(json).toBe('');
  });

  it('#62 cross-connection reuse: a signature over cA sent on B → B fails; A still logs in with it', async () => {
    const a = env.account();
    const A = await challenged(a);
    const B = await challenged(a);
    const sigA = validSig(a, A.json);
    B.c.binary(ethAuthFrame(sigA));
    await expectAuthFail(B.c);
    A.c.binary(ethAuthFrame(sigA));
    await expectOk(A.c);
  });

  it('#63 replay of the exact eth_auth bytes of a successful login on a new connection → AUTH_FAIL', async () => {
    const a = env.account();
    const first = await env.raw();
    const login = await loginRaw(first, a);
    const { c } = await challenged(a);
    c.binary(login.ethAuth);
    await expectAuthFail(c);
  });

  it('#64 expiry: no eth_auth → AUTH_FAIL at the deadline; wall-clock steps (±1 h) neither expire nor extend it', async () => {
    const { c } = await challenged();
    const t0 = performance.now();
    await expectAuthFail(c);
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThan(1500 * 0.8);
    expect(waited).toBeLessThan(1500 + 1500);
    for (const step of [3_600_000, -3_600_000]) {
      const real = Date.now.bind(Date);
      const spy = jest.spyOn(Date, 'now').mockImplementation(() => real() + step);
      try {
        const { c: c2, a, json } = await challenged();
        expect(await silentFor(c2, 300)).toBe(true); // not expired instantly
        c2.binary(ethAuthFrame(validSig(a, json)));
        await expectOk(c2);
      } finally {
        spy.mockRestore();
      }
    }
  });

  it('#65 a failed login must not kick the live session', async () => {
    const { client: s1, account } = await env.rawLoggedIn();
    const { c, json } = await challenged(account);
    const bad = Buffer.from(validSig(account, json));
    bad[5] = (bad[5] as number) ^ 1;
    c.binary(ethAuthFrame(bad));
    await expectAuthFail(c);
    const wrongSigner = testAccount(900_003);
    const c2 = await env.raw();
    c2.binary((await import('@degas/test-utils')).helloFrame(account.id, wrongSigner.address));
    await expectAuthFail(c2);
    s1.binary(degasFrame(env.degasId, Buffer.from('still me')));
    const m = await s1.nextMessage();
    expect(m.payload?.$case).toBe('degas');
  });

  it('#66 address forms in hello', async () => {
    const { toChecksumAddress } = await import('@degas/auth-eth');
    for (const form of ['lower', 'checksum', 'upper'] as const) {
      const a = env.account();
      const address =
        form === 'lower'
          ? a.address
          : form === 'checksum'
            ? toChecksumAddress(a.address)
            : `0x${a.address.slice(2).toUpperCase()}`;
      const c = await env.raw();
      await loginRaw(c, a, { address });
      c.destroy();
    }
    const a = env.account();
    const cs = toChecksumAddress(a.address);
    const flipped = cs.replace(/[a-f]/, (ch) => ch.toUpperCase());
    const bads = [
      flipped,
      a.address.slice(2),
      a.address.slice(0, 41),
      `${a.address}0`,
      ` ${a.address} `,
      `0x${'g'.repeat(40)}`,
    ];
    const { helloFrame } = await import('@degas/test-utils');
    for (const addr of bads) {
      const c = await env.raw();
      c.binary(helloFrame(a.id, addr));
      await expectAuthFail(c);
    }
    // invalid UTF-8 in the address string
    const bytes = Buffer.concat([Buffer.from([0x0a, 16]), a.id, Buffer.from([0x12, 4, 0x0a, 2, 0xff, 0xfe])]);
    const c = await env.raw();
    c.binary(Buffer.concat([Buffer.from([0x0a, bytes.length]), bytes]));
    await expectAuthFail(c);
  });

  it('#67 contract-wallet style signatures (ERC-6492 suffix, 130-byte Safe concat, 1 KB) → AUTH_FAIL quickly', async () => {
    for (const make of [
      (s: Buffer) =>
        Buffer.concat([
          s,
          Buffer.alloc(64),
          Buffer.from('6492649264926492649264926492649264926492649264926492649264926492', 'hex'),
        ]),
      (s: Buffer) => Buffer.concat([s, s]),
      () => Buffer.alloc(1024, 7),
    ]) {
      const { c, a, json } = await challenged();
      const t0 = performance.now();
      c.binary(ethAuthFrame(make(Buffer.from(validSig(a, json)))));
      await expectAuthFail(c);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
  });

  it('#69 login burst (100 logins) while a canary forwards every 10 ms → canary p99 latency stays bounded', async () => {
    const latencies: number[] = [];
    let stop = false;
    const canaryLoop = (async () => {
      let n = 0;
      while (!stop) {
        const t0 = performance.now();
        env.canary.send(degasFrame(env.degasId, Buffer.from(`lat ${n++}`)));
        await env.canary.nextMessage();
        latencies.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const accounts = Array.from({ length: 100 }, () => env.account());
    for (let i = 0; i < 100; i += 20) {
      await Promise.all(
        accounts.slice(i, i + 20).map(async (a) => {
          const { c, json } = await challenged(a);
          c.binary(ethAuthFrame(validSig(a, json)));
          await expectOk(c);
          c.destroy();
        }),
      );
    }
    stop = true;
    await canaryLoop;
    latencies.sort((x, y) => x - y);
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
    expect(latencies.length).toBeGreaterThan(5);
    expect(p99).toBeLessThan(250);
  });
});
