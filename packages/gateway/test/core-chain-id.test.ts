/**
 * The chain id of `eth_auth` (PROTOCOL.md 4.2 steps 3–5): the gateway hashes the Login typed
 * data with the chain id the client signed with (0/absent = 1), and `authChainIds`
 * (`--auth-chain-id`) restricts the accepted ones.
 */
import { loginTypedData, MAX_CHAIN_ID, privateKeySigner } from '@degas/auth-eth';
import { ErrorCode } from '@degas/proto';
import {
  signChallenge,
  startTestGateway,
  type TestAccount,
  type TestGateway,
  type WsTestClient,
} from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { AUTH_FAIL_DETAIL } from '../src/session.js';

let env: TestGateway<GatewayHandle>;
afterEach(async () => {
  await env?.close();
});

/** hello → auth_request → eth_auth signed with `signChain`, sent with `wireChain`; the first answer. */
async function attempt(
  account: TestAccount,
  signChain: number,
  wireChain: bigint,
  signature?: Uint8Array,
): Promise<{ client: WsTestClient; first: Awaited<ReturnType<WsTestClient['nextMessage']>> }> {
  const client = await env.connect();
  client.hello(account);
  const challenge = await client.authRequest();
  client.ethAuth(signature ?? (await signChallenge(account.signer, challenge, { chainId: signChain })), wireChain);
  return { client, first: await client.nextMessage() };
}

async function expectAuthFail(
  result: Awaited<ReturnType<typeof attempt>>,
  detail: string = AUTH_FAIL_DETAIL,
): Promise<void> {
  expect(result.first.payload?.$case).toBe('error');
  if (result.first.payload?.$case === 'error') {
    expect(result.first.payload.value.code).toBe(ErrorCode.AUTH_FAIL);
    expect(result.first.payload.value.detail).toBe(detail);
  }
  expect((await result.client.closed()).code).toBe(4001);
}

test('EOA logins on chain 1 (explicit or absent) and on chain 8453, with any chain accepted by default', async () => {
  env = await startTestGateway(startGateway);
  const account = env.account();
  for (const [signChain, wireChain] of [
    [1, 0n],
    [1, 1n],
    [8453, 8453n],
    [10, 10n],
    [MAX_CHAIN_ID, BigInt(MAX_CHAIN_ID)],
  ] as const) {
    const { first } = await attempt(account, signChain, wireChain);
    expect([signChain, first.payload?.$case]).toEqual([signChain, 'authOk']);
  }
  expect(env.gateway.stats.authSuccesses).toBe(5);
});

test.each([
  ['signed for 8453, sent as absent (1)', 8453, 0n],
  ['signed for 1, sent as 8453', 1, 8453n],
  ['signed for 8453, sent as 84530', 8453, 84530n],
])('a chain id that differs from the signed one is AUTH_FAIL: %s', async (_, signChain, wireChain) => {
  env = await startTestGateway(startGateway);
  await expectAuthFail(await attempt(env.account(), signChain, wireChain));
  expect(env.gateway.stats.authFailures.bad_signature).toBe(1);
});

test('a chain id beyond 2^53 - 1 (no wallet can sign it) is AUTH_FAIL, up to 2^64 - 1', async () => {
  env = await startTestGateway(startGateway);
  const account = env.account();
  for (const wire of [BigInt(MAX_CHAIN_ID) + 1n, 2n ** 64n - 1n]) {
    await expectAuthFail(await attempt(account, 1, wire), 'chain id not accepted');
  }
  expect(env.gateway.stats.authFailures.chain_not_accepted).toBe(2);
});

test('authChainIds: only the listed chains log in; another is AUTH_FAIL naming the chain id rule', async () => {
  env = await startTestGateway(startGateway, { authChainIds: [8453, 1] });
  const account = env.account();
  expect((await attempt(account, 8453, 8453n)).first.payload?.$case).toBe('authOk');
  expect((await attempt(account, 1, 0n)).first.payload?.$case).toBe('authOk');
  // A valid signature for chain 10: refused before any signature work.
  await expectAuthFail(await attempt(account, 10, 10n), 'chain id not accepted');
  expect(env.gateway.stats.authFailures.chain_not_accepted).toBe(1);
  expect(env.gateway.stats.verifyCount).toBe(2);
  // The refusal costs nothing later: the next login on 8453 works.
  expect((await attempt(account, 8453, 8453n)).first.payload?.$case).toBe('authOk');
});

test('authChainIds without 1 refuses an absent chain id (which means 1)', async () => {
  env = await startTestGateway(startGateway, { authChainIds: [8453] });
  await expectAuthFail(await attempt(env.account(), 1, 0n), 'chain id not accepted');
});

test('an 8193-byte signature is AUTH_FAIL, and so is a 64-byte one with no contract-wallet endpoint', async () => {
  env = await startTestGateway(startGateway);
  const account = env.account();
  await expectAuthFail(await attempt(account, 1, 1n, new Uint8Array(8193).fill(7)));
  const sig = await privateKeySigner(account.key).signTypedData(
    loginTypedData({ Message: 'a', Challenge: 'b' }, { domainName: 'x', chainId: 1 }),
  );
  await expectAuthFail(await attempt(account, 1, 1n, sig.subarray(0, 64)));
  expect(env.gateway.stats.authFailures.bad_signature).toBe(2);
});

test('startGateway validates authChainIds', async () => {
  const base = { accounts: { getAccount: () => undefined }, degas: { resolve: () => undefined } };
  const { startGateway } = await import('../src/gateway.js');
  await expect(startGateway({ ...base, authChainIds: [] })).rejects.toThrow(RangeError);
  await expect(startGateway({ ...base, authChainIds: [0] })).rejects.toThrow(RangeError);
  await expect(startGateway({ ...base, authChainIds: [1.5] })).rejects.toThrow(TypeError);
  await expect(startGateway({ ...base, authChainIds: '8453' as never })).rejects.toThrow(TypeError);
});
