/**
 * An in-process gateway for tests, with test defaults, an in-memory account directory and Degas
 * directory, and everything to clean up. test-utils does not depend on `@degas/gateway` (the
 * gateway's own tests use test-utils), so the caller passes `startGateway`.
 */
import type WebSocket from 'ws';
import {
  freshDegasId,
  freshTestAccount,
  type MemoryAccountDirectory,
  memoryAccounts,
  type SetAccountOptions,
  type TestAccount,
} from './accounts.js';
import { type MemoryDegasDirectory, memoryDegasDirectory, startTestDegas, type TestDegas } from './degas.js';
import { WsTestClient } from './ws-client.js';

/** What {@link startTestGateway} needs of a started gateway (the shape of `GatewayHandle`). */
export interface GatewayLike {
  readonly port: number;
  readonly adminPort?: number | undefined;
  /** Defined when the gateway serves wss://. */
  readonly tls?: unknown;
  close(): Promise<void>;
}

/**
 * The options {@link startTestGateway} sets unless given: loopback, ports chosen by the OS, no
 * admin server, one verifier worker (the machine running the tests is shared), and a short
 * shutdown so a failing test does not hang its teardown.
 */
export const TEST_GATEWAY_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  adminPort: false,
  verifierThreads: 1,
  shutdownTimeoutMs: 2000,
} as const;

/** A running in-process gateway and its fixtures. */
export interface TestGateway<H extends GatewayLike = GatewayLike> {
  readonly gateway: H;
  /** ws://127.0.0.1:port (wss:// with TLS). */
  readonly url: string;
  readonly port: number;
  readonly adminPort: number | undefined;
  /** The gateway's account directory (unless `accounts` was given). */
  readonly accounts: MemoryAccountDirectory;
  /** The gateway's Degas directory (unless `degas` was given). */
  readonly directory: MemoryDegasDirectory;
  /** A new client to {@link TestGateway.url}, not awaited (see `opened`); terminated by close(). */
  client(options?: WebSocket.ClientOptions): WsTestClient;
  /** {@link TestGateway.client}, once open. */
  connect(options?: WebSocket.ClientOptions): Promise<WsTestClient>;
  /** A fresh account, registered in {@link TestGateway.accounts}. */
  account(options?: SetAccountOptions): TestAccount;
  /** A started test Degas registered in {@link TestGateway.directory}; closed by close(). */
  startDegas(options?: { degasId?: Uint8Array; echo?: boolean; token?: string }): Promise<TestDegas>;
  /** A client that sent `hello` as `account` and got its `auth_request` (the challenge JSON). */
  challenged(account: Pick<TestAccount, 'id' | 'address'>): Promise<{ client: WsTestClient; challenge: string }>;
  /** A client logged in as `account` (default: a fresh one). */
  loggedIn(account?: TestAccount): Promise<{ client: WsTestClient; account: TestAccount }>;
  /** Terminates the clients, closes the gateway, then the Degas servers. */
  close(): Promise<void>;
}

/** A Degas the gateway of {@link startTestGateway} can reach from the start. */
export interface TestGatewayDegas {
  degasId: Uint8Array;
  url: string;
  token?: string;
}

/** What {@link startTestGateway} sets up around the gateway. */
export interface TestGatewayFixture {
  /** The account directory to use (e.g. one shared by a gateway and its restart); default a new one. */
  accounts?: MemoryAccountDirectory;
  /** Degas servers to put in the in-memory Degas directory (e.g. a `DegasServer` of the Degas SDK). */
  degas?: readonly TestGatewayDegas[];
  /** Options of every `client()` (e.g. `{ ca }` for a TLS gateway). */
  clientOptions?: WebSocket.ClientOptions;
}

/**
 * Starts `start(options)` over {@link TEST_GATEWAY_DEFAULTS}, with in-memory `accounts` and
 * `degas` directories unless `options` gives its own.
 * @example
 * import { startGateway } from '@degas/gateway';
 * const env = await startTestGateway(startGateway, { helloTimeoutMs: 500 });
 * const degas = await env.startDegas({ echo: true });
 * const { client } = await env.loggedIn();
 * await env.close();
 * @example
 * // A Degas SDK server as the one Degas, and accounts that outlive this gateway:
 * const env = await startTestGateway(startGateway, {}, { accounts, degas: [{ degasId, url, token }] });
 */
export async function startTestGateway<O extends object, H extends GatewayLike>(
  start: (options: O) => Promise<H>,
  options: Partial<O> = {},
  fixture: TestGatewayFixture = {},
): Promise<TestGateway<H>> {
  const accounts = fixture.accounts ?? memoryAccounts();
  const directory = memoryDegasDirectory();
  for (const d of fixture.degas ?? []) {
    directory.set(d.degasId, d.token === undefined ? { url: d.url } : { url: d.url, token: d.token });
  }
  const clientDefaults = fixture.clientOptions ?? {};
  const own = (key: string) => (options as Record<string, unknown>)[key] !== undefined;
  const ownAccounts = own('accounts');
  const ownDegas = own('degas');
  const gateway = await start({ ...TEST_GATEWAY_DEFAULTS, accounts, degas: directory, ...options } as unknown as O);
  const clients: WsTestClient[] = [];
  const degasServers: TestDegas[] = [];
  const url = `${gateway.tls === undefined ? 'ws' : 'wss'}://127.0.0.1:${gateway.port}`;
  const env: TestGateway<H> = {
    gateway,
    url,
    port: gateway.port,
    adminPort: gateway.adminPort,
    accounts,
    directory,
    client(clientOptions) {
      const c = WsTestClient.open(url, { ...clientDefaults, ...clientOptions });
      clients.push(c);
      return c;
    },
    async connect(clientOptions) {
      const c = env.client(clientOptions);
      await c.opened;
      return c;
    },
    account(accountOptions) {
      if (ownAccounts) throw new Error('startTestGateway: account() needs the in-memory account directory');
      const a = freshTestAccount();
      accounts.set(a, accountOptions);
      return a;
    },
    async startDegas(degasOptions = {}) {
      if (ownDegas) throw new Error('startTestGateway: startDegas() needs the in-memory Degas directory');
      const d = await startTestDegas({ degasId: freshDegasId(), ...degasOptions });
      degasServers.push(d);
      directory.set(d.degasId, d.endpoint);
      return d;
    },
    async challenged(account) {
      const client = await env.connect();
      client.hello(account);
      return { client, challenge: await client.authRequest() };
    },
    async loggedIn(account) {
      const a = account ?? env.account();
      const client = env.client();
      await client.login(a);
      return { client, account: a };
    },
    async close() {
      for (const c of clients) c.terminate();
      await gateway.close();
      for (const d of degasServers) await d.close();
    },
  };
  return env;
}
