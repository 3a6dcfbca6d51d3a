/**
 * Client frames and the full login exchange (PROTOCOL.md 4.2), over a RawClient or a WsTestClient.
 */
import { type EthSigner, loginTypedData, parseChallenge } from '@degas/auth-eth';
import { encodeClientMessage, type GatewayMessage } from '@degas/proto';
import type { TestAccount } from './accounts.js';

/**
 * `ClientMessage{hello{account_id, ethereum_signer{address}, resume_ticket}}`; any id length, any
 * address text; no ticket unless given.
 */
export function helloFrame(accountId: Uint8Array, address: string, resumeTicket?: Uint8Array): Uint8Array {
  const signer = { $case: 'ethereumSigner' as const, value: { address } };
  return encodeClientMessage({
    payload: { $case: 'hello', value: resumeTicket ? { accountId, signer, resumeTicket } : { accountId, signer } },
  });
}

/**
 * Signs a challenge JSON (from `auth_request`) as `signer`: the EIP-712 Login for `domain`
 * (default "Degas") and `chainId` (default 1).
 */
export function signChallenge(
  signer: EthSigner,
  challengeJson: string,
  options: { domain?: string; chainId?: number } = {},
): Promise<Uint8Array> {
  return signer.signTypedData(
    loginTypedData(parseChallenge(challengeJson), { domainName: options.domain, chainId: options.chainId }),
  );
}

/** `ClientMessage{eth_auth{signature, chain_id}}`; any length; chain id 0 (absent, meaning 1) unless given. */
export function ethAuthFrame(signature: Uint8Array, chainId = 0n): Uint8Array {
  return encodeClientMessage({ payload: { $case: 'ethAuth', value: { signature, chainId } } });
}

/** `ClientMessage{degas{degas_id, payload}}`; any id length, any payload size (no checks, for hostile tests). */
export function degasFrame(degasId: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeClientMessage({ payload: { $case: 'degas', value: { degasId, payload } } });
}

/** What both test clients offer for the login exchange. */
export interface LoginCapable {
  send(bytes: Uint8Array): void;
  nextMessage(ms?: number): Promise<GatewayMessage>;
}

/** Thrown by {@link loginRaw} when the gateway answers something unexpected. */
export class LoginError extends Error {
  override name = 'LoginError';
  constructor(
    message: string,
    readonly got: GatewayMessage | undefined,
  ) {
    super(message);
  }
}

/** The record of one login, e.g. for replay tests (CATALOGUE #63). */
export interface LoginResult {
  challengeJson: string;
  challenge: string;
  signature: Uint8Array;
  /** The exact `eth_auth` frame bytes sent. */
  ethAuth: Uint8Array;
  accountId: Uint8Array;
}

/** Sends hello and returns the challenge JSON of the `auth_request` (throws on anything else). */
export async function helloAndChallenge(
  client: LoginCapable,
  account: Pick<TestAccount, 'id' | 'address'>,
  options: { address?: string; ms?: number } = {},
): Promise<string> {
  client.send(helloFrame(account.id, options.address ?? account.address));
  const msg = await client.nextMessage(options.ms ?? 5000);
  if (msg.payload?.$case !== 'authRequest' || msg.payload.value.request?.$case !== 'ethereumAuth') {
    throw new LoginError(`expected auth_request, got ${msg.payload?.$case ?? 'an empty message'}`, msg);
  }
  return msg.payload.value.request.value.challenge;
}

/**
 * hello → auth_request → sign (EIP-712 Login) → eth_auth → expects auth_ok.
 * @example
 * const c = await WsTestClient.connect(gw.port);
 * await loginRaw(c, testAccount(1));
 */
export async function loginRaw(
  client: LoginCapable,
  account: TestAccount,
  options: { domain?: string; address?: string; ms?: number; chainId?: number } = {},
): Promise<LoginResult> {
  const challengeJson = await helloAndChallenge(client, account, options);
  const signature = await signChallenge(account.signer, challengeJson, options);
  const ethAuth = ethAuthFrame(signature, options.chainId === undefined ? 0n : BigInt(options.chainId));
  client.send(ethAuth);
  const ok = await client.nextMessage(options.ms ?? 5000);
  if (ok.payload?.$case !== 'authOk') {
    const detail = ok.payload?.$case === 'error' ? ` (error ${ok.payload.value.code}: ${ok.payload.value.detail})` : '';
    throw new LoginError(`expected auth_ok, got ${ok.payload?.$case ?? 'an empty message'}${detail}`, ok);
  }
  return {
    challengeJson,
    challenge: parseChallenge(challengeJson).Challenge,
    signature,
    ethAuth,
    accountId: ok.payload.value.accountId,
  };
}
