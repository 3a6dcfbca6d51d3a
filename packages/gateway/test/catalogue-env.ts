/**
 * Shared fixture of the docs/CATALOGUE.md tests: one in-process gateway per describe block, an echo Degas,
 * a canary session, fresh accounts for hostile clients, and the standard after-check of every
 * hostile case ("a canary session still completes a round trip, the echo Degas saw nothing from
 * the bad input, the gateway is alive").
 */
import { hashTypedData, type LoginTypedData } from '@degas/auth-eth';
import { type GatewayErrorMessage, type GatewayMessage, idEquals, idToHex } from '@degas/proto';
import {
  type CloseResult,
  degasFrame,
  helloAndChallenge,
  loginRaw,
  type MemoryAccountDirectory,
  memoryAccounts,
  RawClient,
  startTestDegas,
  startTestGateway,
  type TestAccount,
  type TestDegas,
  testAccount,
  testDegasId,
  type UpgradeOptions,
  WsTestClient,
  within,
} from '@degas/test-utils';
import secp256k1 from 'secp256k1';
import { createStaticDegasDirectory } from '../src/degas-directory.js';
import { startGateway } from '../src/gateway.js';
import type { GatewayOptions, MutableDegasDirectory } from '../src/types.js';

export type GatewayHandle = Awaited<ReturnType<typeof startGateway>>;

/** Test defaults: short deadlines so timeout cases finish fast, long enough to never race a login. */
export const TEST_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  adminPort: false,
  helloTimeoutMs: 3000,
  authTimeoutMs: 3000,
  closeTimeoutMs: 1000,
  dialTimeoutMs: 1000,
  headersTimeoutMs: 2000,
  shutdownTimeoutMs: 2000,
  verifierThreads: 1,
  // Every test client is 127.0.0.1: the default 50/s per IP would throttle the cases that open
  // hundreds or thousands of connections (#40, #51, #69, #93). #9 tests the limit itself with a
  // small rate.
  handshakeRate: 10_000,
} satisfies Partial<GatewayOptions>;

let accountCounter = 1000;

export interface CatalogueEnv {
  gateway: GatewayHandle;
  port: number;
  accounts: MemoryAccountDirectory;
  degasDir: MutableDegasDirectory;
  /** The echo Degas every hostile case may try to reach. */
  degas: TestDegas;
  degasId: Uint8Array;
  canaryAccount: TestAccount;
  canary: WsTestClient;
  /** A fresh account registered in the directory. */
  account(): TestAccount;
  /** A raw client connected to the gateway (101 done). */
  raw(options?: Partial<UpgradeOptions>): Promise<RawClient>;
  /** A raw client logged in as a fresh (or the given) account. */
  rawLoggedIn(
    account?: TestAccount,
    options?: Partial<UpgradeOptions>,
  ): Promise<{ client: RawClient; account: TestAccount }>;
  /**
   * A raw client in `state`: connected only ("pre-hello"), after hello and its auth_request
   * ("auth", a fresh account), or logged in ("forward", a fresh account).
   */
  clientIn(state: 'pre-hello' | 'auth' | 'forward', options?: Partial<UpgradeOptions>): Promise<RawClient>;
  /**
   * Waits for the Degas to receive `payload` from `account` (a client message at index `from` or
   * later) and expects exactly those bytes.
   */
  expectForwarded(account: TestAccount, payload: Uint8Array, from: number): Promise<void>;
  /** Index into `degas.received` to check against later. */
  mark(): number;
  /** The standard after-check (a)–(c). `allow` lists accounts whose client messages may reach the Degas. */
  assertHealthy(since: number, options?: { allow?: Uint8Array[] }): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a gateway with `overrides` over {@link TEST_DEFAULTS}, an echo Degas registered in a
 * static directory, and a logged-in canary.
 */
export async function startCatalogueEnv(
  overrides: Partial<GatewayOptions> = {},
  fixture: { accountDelayMs?: () => number } = {},
): Promise<CatalogueEnv> {
  const degasId = testDegasId(1);
  const degas = await startTestDegas({ degasId, echo: true });
  const degasDir = createStaticDegasDirectory([{ id: degasId, url: degas.url }]);
  const canaryAccount = testAccount(accountCounter++);
  const accounts = memoryAccounts(
    [canaryAccount],
    fixture.accountDelayMs === undefined ? {} : { delayMs: fixture.accountDelayMs },
  );
  const { gateway } = await startTestGateway(
    startGateway,
    { ...TEST_DEFAULTS, degas: degasDir, ...overrides },
    { accounts },
  );
  const port = gateway.port;
  const canary = await WsTestClient.connect(port);
  await loginRaw(canary, canaryAccount);
  const clients = new Set<RawClient | WsTestClient>([canary]);
  let canarySeq = 0;

  const env: CatalogueEnv = {
    gateway,
    port,
    accounts,
    degasDir,
    degas,
    degasId,
    canaryAccount,
    canary,
    account() {
      const a = testAccount(accountCounter++);
      accounts.set(a);
      return a;
    },
    async raw(options = {}) {
      const c = await RawClient.connect({ port, ...options });
      clients.add(c);
      return c;
    },
    async rawLoggedIn(account, options = {}) {
      const a = account ?? env.account();
      const client = await env.raw(options);
      await loginRaw(client, a);
      return { client, account: a };
    },
    async clientIn(state, options = {}) {
      if (state === 'forward') return (await env.rawLoggedIn(undefined, options)).client;
      const c = await env.raw(options);
      if (state === 'auth') await helloAndChallenge(c, env.account());
      return c;
    },
    async expectForwarded(account, payload, from) {
      const got = await degas.waitFor(
        (m) => m.payload?.$case === 'clientMessage' && idEquals(m.payload.value.accountId, account.id),
        5000,
        from,
      );
      expect(got.payload?.$case === 'clientMessage' && Buffer.from(got.payload.value.payload)).toEqual(
        Buffer.from(payload),
      );
    },
    mark() {
      return degas.received.length;
    },
    async assertHealthy(since, options = {}) {
      // (a) the canary completes a round trip through the echo Degas.
      const payload = Buffer.from(`canary ${++canarySeq} ${Math.random()}`);
      canary.send(degasFrame(degasId, payload));
      let echoed: GatewayMessage;
      do {
        echoed = await canary.nextMessage(5000);
      } while (echoed.payload?.$case !== 'degas');
      expect(Buffer.from(echoed.payload.value.payload)).toEqual(payload);
      // (b) the Degas saw nothing from the bad input.
      const allowed = [canaryAccount.id, ...(options.allow ?? [])];
      const foreign = degas.received
        .slice(since)
        .filter(
          (m) =>
            m.payload?.$case === 'clientMessage' && !allowed.some((id) => idEquals(id, m.payload!.value.accountId)),
        );
      expect(
        foreign.map((m) => (m.payload?.$case === 'clientMessage' ? idToHex(m.payload.value.accountId) : '')),
      ).toEqual([]);
      expect(degas.undecodable).toHaveLength(0);
      expect(degas.textFrames).toBe(0);
      // (c) alive: the round trip above went through the gateway's event loop.
    },
    async close() {
      for (const c of clients) {
        if (c instanceof RawClient) c.destroy();
        else c.terminate();
      }
      await gateway.close();
      await degas.close();
    },
  };
  // One round trip up front, so the internal link exists before any test starts.
  await env.assertHealthy(0);
  return env;
}

/**
 * A {@link startCatalogueEnv} for the tests of the calling file or describe block: started in
 * beforeAll, closed in afterAll. Use it only inside tests and hooks that run after it.
 * @example
 * const env = useCatalogueEnv({ authTimeoutMs: 1500 });
 */
export function useCatalogueEnv(
  overrides: Partial<GatewayOptions> = {},
  fixture: { accountDelayMs?: () => number } = {},
): CatalogueEnv {
  let current: CatalogueEnv | undefined;
  beforeAll(async () => {
    current = await startCatalogueEnv(overrides, fixture);
  });
  afterAll(async () => {
    await current?.close();
  });
  return new Proxy({} as CatalogueEnv, {
    get(_target, key) {
      if (current === undefined)
        throw new Error('useCatalogueEnv: the environment is not started (used outside a test?)');
      return Reflect.get(current, key);
    },
  });
}

/** Expects the next message to be `error{code}` and returns it. */
export async function expectError(
  client: { nextMessage(ms?: number): Promise<GatewayMessage> },
  code: number,
  ms = 5000,
): Promise<GatewayErrorMessage> {
  const m = await client.nextMessage(ms);
  if (m.payload?.$case !== 'error') throw new Error(`expected error ${code}, got ${m.payload?.$case ?? 'empty'}`);
  expect(m.payload.value.code).toBe(code);
  return m.payload.value;
}

/** Expects `error{code}` and then close `closeCode`; returns the close result. */
export async function expectErrorThenClose(client: RawClient, code: number, closeCode: number): Promise<CloseResult> {
  await expectError(client, code);
  const r = await client.closed();
  expect(r.code).toBe(closeCode);
  return r;
}

/** Expects AUTH_FAIL and close 4001. */
export function expectAuthFail(client: RawClient): Promise<CloseResult> {
  return expectErrorThenClose(client, 0, 4001);
}

/** Expects the connection to close with `code` and no data frame before it (other than those already taken). */
export async function expectClose(client: RawClient, code: number, ms = 5000): Promise<CloseResult> {
  const r = await client.closed(ms);
  expect(r.code).toBe(code);
  expect(r.framesAfterClose).toHaveLength(0);
  return r;
}

/** Signs a 32-byte digest with libsecp256k1 (a second, independent signer): r‖s‖(27+recid). */
export function signDigest(key: Uint8Array, digest: Uint8Array): Uint8Array {
  const { signature, recid } = secp256k1.ecdsaSign(digest, key);
  const out = new Uint8Array(65);
  out.set(signature, 0);
  out[64] = 27 + recid;
  return out;
}

/** Signs arbitrary (possibly wrong) Login-like typed data with libsecp256k1. */
export function signTyped(key: Uint8Array, typed: unknown): Uint8Array {
  return signDigest(key, hashTypedData(typed as LoginTypedData));
}

/** Resolves true if `client` receives no binary message within `ms` (a bounded negative check). */
export async function silentFor(client: { nextData(ms?: number): Promise<Buffer> }, ms: number): Promise<boolean> {
  try {
    await client.nextData(ms);
    return false;
  } catch (e) {
    if (e instanceof Error && e.name === 'TimeoutError') return true;
    // Closed without a message: silent too.
    return true;
  }
}

export { within };
