/**
 * Smart-contract wallet logins (PROTOCOL.md 4.2 step 5, extension) against a real EVM: a local
 * chain 8453 (ganache, child process) with the test wallets of evm/contracts deployed on it,
 * reached through a JSON-RPC proxy that can fail on demand.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createChallenge, loginDigest, loginTypedData, parseChallenge, privateKeySigner } from '@degas/auth-eth';
import { ErrorCode, idToHex, randomId } from '@degas/proto';
import { startTestGateway, type TestAccount, type TestGateway } from '@degas/test-utils';
import { type Hex, serializeErc8010Signature } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createEthRpc } from '../src/eth-rpc.js';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { silentLogger } from '../src/logger.js';
import { AUTH_FAIL_DETAIL } from '../src/session.js';
import { deployWallets, FaultProxy, type LocalChain, startLocalChain, type Wallets } from './evm/harness.js';
import { nextAuthOk, presentTicket } from './resume-helpers.js';

const CHAIN = 8453;
const UNAVAILABLE = 'wallet check unavailable, try again';
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const ownerKey = `0x${'a1'.repeat(32)}`;
const owner = privateKeySigner(ownerKey, { chainId: CHAIN });
const cfOwnerKey = `0x${'b2'.repeat(32)}`;
const cfOwner = privateKeySigner(cfOwnerKey, { chainId: CHAIN });
const stranger = privateKeySigner(`0x${'c3'.repeat(32)}`, { chainId: CHAIN });

let chain: LocalChain;
let proxy: FaultProxy;
let wallets: Wallets;
let env: TestGateway<GatewayHandle>;

beforeAll(async () => {
  chain = await startLocalChain(CHAIN);
  proxy = await new FaultProxy(chain.url).start();
  wallets = await deployWallets(chain, owner.address as Hex, cfOwner.address as Hex);
  env = await startTestGateway(startGateway, {
    ethRpc: [{ chainId: CHAIN, url: proxy.url }],
    // Long enough for the gas burner's 2M-gas eth_call (about 1 s) on a loaded machine.
    ethRpcTimeoutMs: 8000,
    adminPort: 0,
    adminHost: '127.0.0.1',
  });
}, 120_000);

afterAll(async () => {
  await env?.close();
  await proxy?.stop();
  await chain?.stop();
});

afterEach(() => {
  proxy.releaseHeld();
  proxy.mode = 'pass';
});

/** An account whose one signer is `address` (a wallet contract, or an EOA), registered in `on`. */
function accountOf(address: string, signer = owner, on: TestGateway<GatewayHandle> = env): TestAccount {
  const id = randomId();
  const account: TestAccount = { id, idHex: idToHex(id), key: new Uint8Array(32), signer, address };
  on.accounts.set(account);
  return account;
}

type Signed = (challengeJson: string, chainId: number) => Promise<Uint8Array>;

/** The owner's (or another key's) EIP-712 signature of the Login typed data. */
const bySigner =
  (signer = owner): Signed =>
  (json, chainId) =>
    signer.signTypedData(loginTypedData(parseChallenge(json), { chainId }));

/** hello → auth_request → eth_auth{sign(challenge), chainId} → the first answer and the close. */
async function login(
  account: TestAccount,
  sign: Signed,
  chainId = CHAIN,
): Promise<{ outcome: 'ok' | 'fail'; detail?: string; close?: number; ms: number }> {
  const c = await env.connect();
  c.hello(account);
  const json = await c.authRequest();
  const started = performance.now();
  c.ethAuth(await sign(json, chainId), BigInt(chainId));
  const first = await c.nextMessage(15_000);
  const ms = performance.now() - started;
  if (first.payload?.$case === 'authOk') {
    c.close();
    return { outcome: 'ok', ms };
  }
  if (first.payload?.$case !== 'error' || first.payload.value.code !== ErrorCode.AUTH_FAIL) {
    throw new Error(`expected auth_ok or AUTH_FAIL, got ${first.payload?.$case}`);
  }
  return { outcome: 'fail', detail: first.payload.value.detail, close: (await c.closed()).code, ms };
}

async function admin(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${env.gateway.adminPort}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('contract wallets on a real EVM', () => {
  test('a deployed ERC-1271 wallet logs in with its owner’s signature', async () => {
    const calls = proxy.count();
    expect(await login(accountOf(wallets.owner), bySigner())).toMatchObject({ outcome: 'ok' });
    expect(proxy.count()).toBeGreaterThan(calls);
    expect(env.gateway.snapshot().ethRpc?.[0]?.stats.checks.get('ok')).toBeGreaterThanOrEqual(1);
  });

  test('an ERC-6492 wallet logs in before it is deployed, and the check deploys nothing', async () => {
    expect(await wallets.publicClient.getCode({ address: wallets.counterfactual })).toBeUndefined();
    const result = await login(accountOf(wallets.counterfactual, cfOwner), async (json, chainId) => {
      const sig = await bySigner(cfOwner)(json, chainId);
      return Uint8Array.from(Buffer.from(wallets.wrap6492(sig).slice(2), 'hex'));
    });
    expect(result).toMatchObject({ outcome: 'ok' });
    expect(await wallets.publicClient.getCode({ address: wallets.counterfactual })).toBeUndefined();
  });

  test.each([
    ['a signature by another key than the owner', () => wallets.owner, bySigner(stranger)],
    ['a wallet that returns a wrong magic value', () => wallets.wrongMagic, bySigner()],
    ['a wallet that returns the magic value with dirty padding', () => wallets.dirtyMagic, bySigner()],
    ['a wallet that reverts', () => wallets.reverting, bySigner()],
    ['a wallet that burns all its gas', () => wallets.gasBurner, bySigner()],
    [
      'an ERC-6492 wrapper whose factory deploys a wallet of another owner',
      () => wallets.counterfactual,
      async (json: string, chainId: number) => {
        const sig = await bySigner(cfOwner)(json, chainId);
        return Uint8Array.from(Buffer.from(wallets.wrap6492(sig, stranger.address as Hex).slice(2), 'hex'));
      },
    ],
    [
      'the owner’s signature for another chain id',
      () => wallets.owner,
      (json: string) => owner.signTypedData(loginTypedData(parseChallenge(json), { chainId: 1 })),
    ],
  ] as [string, () => string, Signed][])('AUTH_FAIL: %s', async (_, address, sign) => {
    const before = env.gateway.stats.authFailures.bad_signature;
    expect(await login(accountOf(address()), sign)).toMatchObject({
      outcome: 'fail',
      detail: AUTH_FAIL_DETAIL,
      close: 4001,
    });
    expect(env.gateway.stats.authFailures.bad_signature).toBe(before + 1);
  });

  test('an address with no code and no ERC-6492 wrapper fails, so the EOA rules cannot be bypassed', async () => {
    const eoa = privateKeySigner(`0x${'d4'.repeat(32)}`, { chainId: CHAIN });
    const account = accountOf(eoa.address, eoa);
    // Its own valid signature works (no RPC call).
    let calls = proxy.count();
    expect(await login(account, bySigner(eoa))).toMatchObject({ outcome: 'ok' });
    expect(proxy.count()).toBe(calls);
    // The high-s twin of its own signature: refused before any RPC call.
    const highS: Signed = async (json, chainId) => {
      const sig = Uint8Array.from(await bySigner(eoa)(json, chainId));
      let s = 0n;
      for (let i = 32; i < 64; i++) s = (s << 8n) | BigInt(sig[i]!);
      let t = N - s;
      for (let i = 63; i >= 32; i--) {
        sig[i] = Number(t & 0xffn);
        t >>= 8n;
      }
      sig[64] = sig[64] === 27 ? 28 : 27;
      return sig;
    };
    calls = proxy.count();
    expect(await login(account, highS)).toMatchObject({ outcome: 'fail', detail: AUTH_FAIL_DETAIL });
    expect(proxy.count()).toBe(calls);
    // Another key's signature, and a 100-byte blob: the address has no code, so they fail.
    for (const sign of [bySigner(owner), async () => new Uint8Array(100).fill(9)] as Signed[]) {
      expect(await login(account, sign)).toMatchObject({ outcome: 'fail', detail: AUTH_FAIL_DETAIL });
    }
    // The EIP-2098 64-byte compact form of its own signature: not 65 bytes, no code.
    const compact: Signed = async (json, chainId) => (await bySigner(eoa)(json, chainId)).subarray(0, 64);
    expect(await login(account, compact)).toMatchObject({ outcome: 'fail', detail: AUTH_FAIL_DETAIL });
  });

  test('an ERC-8010 (pre-delegated EIP-7702) wrapper is not part of the protocol: AUTH_FAIL without a call', async () => {
    const eoa = privateKeyToAccount(`0x${'f6'.repeat(32)}`);
    const authorization = await eoa.signAuthorization({ address: wallets.owner, chainId: CHAIN, nonce: 0 });
    const account = accountOf(eoa.address);
    const calls = proxy.count();
    const wrapped: Signed = async (json, chainId) => {
      const ownerSig = await bySigner()(json, chainId);
      const hex = serializeErc8010Signature({
        authorization,
        signature: `0x${Buffer.from(ownerSig).toString('hex')}`,
      });
      return Uint8Array.from(Buffer.from(hex.slice(2), 'hex'));
    };
    expect(await login(account, wrapped)).toMatchObject({ outcome: 'fail', detail: AUTH_FAIL_DETAIL });
    expect(proxy.count()).toBe(calls);
  });

  test('a contract-wallet signature on a chain with no endpoint is AUTH_FAIL without any RPC call', async () => {
    const calls = proxy.count();
    expect(await login(accountOf(wallets.owner), bySigner(), 1)).toMatchObject({
      outcome: 'fail',
      detail: AUTH_FAIL_DETAIL,
    });
    expect(await login(accountOf(wallets.owner), bySigner(), 10)).toMatchObject({ outcome: 'fail' });
    expect(proxy.count()).toBe(calls);
  });

  test('an 8193-byte signature is AUTH_FAIL without any RPC call; 8192 bytes reach the wallet', async () => {
    const calls = proxy.count();
    expect(await login(accountOf(wallets.owner), async () => new Uint8Array(8193).fill(1))).toMatchObject({
      outcome: 'fail',
      detail: AUTH_FAIL_DETAIL,
    });
    expect(proxy.count()).toBe(calls);
    expect(await login(accountOf(wallets.owner), async () => new Uint8Array(8192).fill(1))).toMatchObject({
      outcome: 'fail',
      detail: AUTH_FAIL_DETAIL,
    });
    expect(proxy.count()).toBeGreaterThan(calls);
  });

  test('only a signer that passed step 1 reaches the RPC: an unknown signer or account costs no call', async () => {
    const calls = proxy.count();
    const known = accountOf(wallets.owner);
    for (const hello of [
      { id: known.id, address: wallets.reverting },
      { id: randomId(), address: wallets.owner },
    ]) {
      const c = await env.connect();
      c.hello(hello);
      const e = await c.nextError();
      expect(e.code).toBe(ErrorCode.AUTH_FAIL);
      // An eth_auth sent anyway is never checked.
      c.ethAuth(new Uint8Array(200), BigInt(CHAIN));
      expect((await c.closed()).code).toBe(4001);
    }
    expect(proxy.count()).toBe(calls);
  });
});

describe('a failing endpoint fails only the contract-wallet logins on it', () => {
  test.each(['down', 'slow', 'garbage', 'wrong-id', 'http-500', 'huge'] as const)(
    'endpoint %s: AUTH_FAIL "wallet check unavailable" for the wallet, while EOA logins keep working',
    async (mode) => {
      const wallet = accountOf(wallets.owner);
      const eoaSigner = privateKeySigner(`0x${'e5'.repeat(32)}`, { chainId: CHAIN });
      const eoa = accountOf(eoaSigner.address, eoaSigner);
      const before = env.gateway.stats.authFailures.wallet_unavailable;
      proxy.mode = mode;
      const walletLogin = login(wallet, bySigner());
      // EOA logins on the same gateway, at the same time, do not wait for the endpoint.
      for (let i = 0; i < 3; i++) {
        const r = await login(eoa, bySigner(eoaSigner));
        expect(r.outcome).toBe('ok');
      }
      const result = await walletLogin;
      expect(result).toMatchObject({ outcome: 'fail', detail: UNAVAILABLE, close: 4001 });
      // Within the per-call timeout (8 s) plus scheduling, never the 60 s eth_auth deadline.
      expect(result.ms).toBeLessThan(15_000);
      expect(UNAVAILABLE).not.toMatch(/secret|127\.0\.0\.1|rpc/);
      expect(env.gateway.stats.authFailures.wallet_unavailable).toBe(before + 1);
      const ready = await admin('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatch(
        new RegExp(`^eth-rpc chain ${CHAIN} http://127\\.0\\.0\\.1:\\d+: down \\(\\w+\\)$`, 'm'),
      );
      expect(ready.body).not.toContain('secret-api-key');
      // Back to normal: the same wallet logs in again, and the endpoint reports up.
      proxy.releaseHeld();
      proxy.mode = 'pass';
      expect(await login(wallet, bySigner())).toMatchObject({ outcome: 'ok' });
      expect((await admin('/readyz')).body).toContain(`eth-rpc chain ${CHAIN} http://127.0.0.1:`);
      expect((await admin('/readyz')).body).toMatch(/: up$/m);
    },
    40_000,
  );

  test('/metrics: calls, failures, latency, checks and endpoint state, never the URL path', async () => {
    const { body } = await admin('/metrics');
    const chain = `chain_id="${CHAIN}"`;
    expect(body).toMatch(new RegExp(`degas_gateway_eth_rpc_up\\{${chain}\\} 1`));
    expect(body).toMatch(new RegExp(`degas_gateway_eth_rpc_calls_total\\{${chain},method="eth_call"\\} [1-9]`));
    expect(body).toMatch(new RegExp(`degas_gateway_eth_rpc_calls_total\\{${chain},method="eth_getCode"\\} [1-9]`));
    expect(body).toMatch(new RegExp(`degas_gateway_eth_rpc_failures_total\\{${chain},reason="timeout"\\} [1-9]`));
    expect(body).toMatch(new RegExp(`degas_gateway_eth_rpc_failures_total\\{${chain},reason="bad_response"\\} [1-9]`));
    expect(body).toMatch(new RegExp(`degas_gateway_eth_rpc_failures_total\\{${chain},reason="too_large"\\} [1-9]`));
    expect(body).toMatch(new RegExp(`degas_gateway_eth_rpc_call_duration_seconds_count\\{${chain}\\} [1-9]`));
    expect(body).toMatch(
      new RegExp(`degas_gateway_contract_wallet_checks_total\\{${chain},outcome="unavailable"\\} [1-9]`),
    );
    expect(body).toMatch(new RegExp(`degas_gateway_contract_wallet_checks_total\\{${chain},outcome="ok"\\} [1-9]`));
    expect(body).toMatch(/degas_gateway_auth_failures_total\{reason="wallet_unavailable"\} [1-9]/);
    expect(body).not.toContain('secret-api-key');
  });
});

describe('endpoint limits (createEthRpc against the same chain)', () => {
  test('concurrency limit and bounded queue: one call at a time, a full queue is unavailable at once', async () => {
    const rpc = await createEthRpc({
      endpoints: [{ chainId: CHAIN, url: proxy.url }],
      concurrency: 1,
      queueLimit: 1,
      timeoutMs: 5000,
      logger: silentLogger,
    });
    try {
      const { fields } = createChallenge();
      const digest = loginDigest(fields, { chainId: CHAIN });
      const sig = await owner.signTypedData(loginTypedData(fields, { chainId: CHAIN }));
      proxy.mode = 'slow';
      proxy.maxInFlight = 0;
      const deadline = performance.now() + 20_000;
      const first = rpc.verify(CHAIN, wallets.owner.toLowerCase(), digest, sig, deadline);
      const second = rpc.verify(CHAIN, wallets.owner.toLowerCase(), digest, sig, deadline);
      // The third finds the one slot busy and the one queue place taken.
      expect(await rpc.verify(CHAIN, wallets.owner.toLowerCase(), digest, sig, deadline)).toBe('unavailable');
      expect(rpc.status()[0]).toMatchObject({ inFlight: 1, queued: 1 });
      expect(rpc.stats.get(CHAIN)!.rejected).toBe(1);
      // Releasing the held call (HTTP 503) fails the first; the second then runs, alone.
      await proxy.waitHeld(1);
      proxy.mode = 'pass';
      proxy.releaseHeld();
      expect(await first).toBe('unavailable');
      expect(await second).toBe('ok');
      expect(proxy.maxInFlight).toBe(1);
      // A deadline already past costs no call.
      const calls = proxy.count();
      expect(await rpc.verify(CHAIN, wallets.owner.toLowerCase(), digest, sig, performance.now() - 1)).toBe(
        'unavailable',
      );
      expect(proxy.count()).toBe(calls);
    } finally {
      rpc.close();
    }
  });

  test('the login deadline bounds a slow call: AUTH_FAIL at eth_auth’s deadline, not the call timeout', async () => {
    const short = await startTestGateway(startGateway, {
      ethRpc: [{ chainId: CHAIN, url: proxy.url }],
      ethRpcTimeoutMs: 60_000,
      authTimeoutMs: 1500,
    });
    try {
      const account = accountOf(wallets.owner, owner, short);
      proxy.mode = 'slow';
      const c = await short.connect();
      c.hello(account);
      const json = await c.authRequest();
      c.ethAuth(await bySigner()(json, CHAIN), BigInt(CHAIN));
      const started = performance.now();
      const e = await c.nextError(10_000);
      expect(e.code).toBe(ErrorCode.AUTH_FAIL);
      expect((await c.closed()).code).toBe(4001);
      // Whichever fires first at the deadline: the session's timer or the call's (capped) timeout.
      const failures = short.gateway.stats.authFailures;
      expect(failures.auth_timeout + failures.wallet_unavailable).toBe(1);
      expect(performance.now() - started).toBeLessThan(5000);
      // The held call is abandoned at the same deadline, not after the 60 s call timeout.
      await new Promise<void>((resolve) => {
        const check = () => (short.gateway.snapshot().ethRpc?.[0]?.inFlight === 0 ? resolve() : setTimeout(check, 20));
        check();
      });
      expect(short.gateway.snapshot().ethRpc?.[0]?.stats.failures.get('timeout')).toBeGreaterThanOrEqual(1);
    } finally {
      await short.close();
    }
  }, 20_000);

  test('an endpoint that serves another chain id makes startGateway reject (exit 2 in the bin)', async () => {
    await expect(startTestGateway(startGateway, { ethRpc: [{ chainId: 1, url: proxy.url }] })).rejects.toMatchObject({
      code: 'ETH_RPC_CHAIN_MISMATCH',
      message: expect.stringMatching(/chain 1 .*answers eth_chainId 8453/),
    });
    await expect(
      startTestGateway(startGateway, { ethRpc: [{ chainId: 1, url: proxy.url }] }),
    ).rejects.not.toMatchObject({
      message: expect.stringContaining('secret-api-key'),
    });
  });

  test('the degas-gateway bin exits 2 with a one-line reason that does not show the URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'degas-eth-rpc-'));
    try {
      const accounts = join(dir, 'accounts.json');
      await writeFile(accounts, JSON.stringify({ accounts: [] }));
      const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/bin.js');
      const child = spawn(
        process.execPath,
        [bin, '--accounts', accounts, '--host', '127.0.0.1', '--port', '0', '--admin-port', 'off'],
        { env: { ...process.env, DEGAS_ETH_RPC: `1=${proxy.url}`, DEGAS_LOG_LEVEL: 'silent' }, stdio: 'pipe' },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      expect(code).toBe(2);
      expect(stderr).toMatch(/^degas-gateway: cannot start: --eth-rpc for chain 1 .*answers eth_chainId 8453/m);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).not.toContain('secret-api-key');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test('an endpoint down at start: the gateway starts, EOA logins work, wallet logins wait for it', async () => {
    proxy.mode = 'down';
    const late = await startTestGateway(startGateway, {
      ethRpc: [{ chainId: CHAIN, url: proxy.url }],
      ethRpcTimeoutMs: 1000,
    });
    try {
      expect(late.gateway.snapshot().ethRpc?.[0]?.state).toBe('down');
      const eoa = late.account();
      const c = late.client();
      await c.login(eoa);
      proxy.mode = 'pass';
      const account = accountOf(wallets.owner, owner, late);
      const w = await late.connect();
      w.hello(account);
      const json = await w.authRequest();
      w.ethAuth(await bySigner()(json, CHAIN), BigInt(CHAIN));
      expect((await w.nextMessage(10_000)).payload?.$case).toBe('authOk');
      expect(late.gateway.snapshot().ethRpc?.[0]?.state).toBe('up');
    } finally {
      await late.close();
    }
  }, 20_000);
});

test('a resume ticket of a contract-wallet session resumes it with no RPC call', async () => {
  const resumable = await startTestGateway(startGateway, {
    ethRpc: [{ chainId: CHAIN, url: proxy.url }],
    ethRpcTimeoutMs: 4000,
    resumeKeys: [Uint8Array.from({ length: 32 }, (_, i) => i + 1)],
  });
  try {
    const account = accountOf(wallets.owner, owner, resumable);
    const first = await resumable.connect();
    first.hello(account);
    const json = await first.authRequest();
    first.ethAuth(await bySigner()(json, CHAIN), BigInt(CHAIN));
    const ok = await nextAuthOk(first);
    expect(ok.resumed).toBe(false);
    expect(ok.resumeTicket.length).toBeGreaterThan(0);
    // The connection drops (no logout); the client comes back with its ticket.
    first.terminate();
    await first.closed();
    const calls = proxy.count();
    const answer = await presentTicket(resumable.client(), account, ok.resumeTicket);
    expect(answer.payload?.$case).toBe('authOk');
    if (answer.payload?.$case === 'authOk') expect(answer.payload.value.resumed).toBe(true);
    expect(proxy.count()).toBe(calls);
  } finally {
    await resumable.close();
  }
}, 20_000);

test('without ethRpc, a contract-wallet signature is a plain AUTH_FAIL', async () => {
  const plain = await startTestGateway(startGateway);
  try {
    expect(plain.gateway.snapshot().ethRpc).toEqual([]);
    const account = accountOf(wallets.owner, owner, plain);
    const c = await plain.connect();
    c.hello(account);
    const json = await c.authRequest();
    c.ethAuth(await bySigner()(json, CHAIN), BigInt(CHAIN));
    const e = await c.nextError();
    expect([e.code, e.detail]).toEqual([ErrorCode.AUTH_FAIL, AUTH_FAIL_DETAIL]);
  } finally {
    await plain.close();
  }
});
