/**
 * The client against the real gateway (@degas/gateway, in process) and a Degas built with
 * @degas/degas-sdk.
 */

import { createServer } from 'node:net';
import type { DegasServer, DegasServerEvents } from '@degas/degas-sdk';
import type { GatewayHandle } from '@degas/gateway';
import { ErrorCode, idToHex, randomId } from '@degas/proto';
import { memoryAccounts, type TestAccount, testAccount, testKey } from '@degas/test-utils';
import { jest } from '@jest/globals';
import {
  AuthError,
  type ClientState,
  type CloseEvent,
  DegasClient,
  type DegasClientOptions,
  DuplicateSessionError,
  type GatewayErrorEvent,
  privateKeySigner,
} from '../src/node.js';
import { closeAfterEach, dec, enc, startEchoDegas, startGatewayFor } from './fixtures.js';

const TOKEN = 'client-test-internal-token';
const degasId = randomId();
const accounts = memoryAccounts();
let degas: DegasServer;
let accountSeq = 5000;
const gateways: GatewayHandle[] = [];
const clients: DegasClient[] = [];

async function startGw(port = 0, authChainIds?: number[]): Promise<GatewayHandle> {
  const options = { port, closeTimeoutMs: 1000, dialTimeoutMs: 1000 };
  const gw = await startGatewayFor(degas, TOKEN, accounts, authChainIds ? { ...options, authChainIds } : options);
  gateways.push(gw);
  return gw;
}

function newAccount() {
  const a = testAccount(accountSeq++);
  accounts.set(a);
  return a;
}

function client(
  gw: GatewayHandle,
  options: Partial<DegasClientOptions> & Pick<DegasClientOptions, 'accountId' | 'signer'>,
) {
  const c = new DegasClient({
    url: `ws://127.0.0.1:${gw.port}`,
    reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    ...options,
  });
  clients.push(c);
  return c;
}

/** A client of a fresh account, connected to `gw`. */
async function connectedPlayer(gw: GatewayHandle): Promise<{ alice: TestAccount; c: DegasClient }> {
  const alice = newAccount();
  const c = client(gw, { accountId: alice.id, signer: alice.key });
  await c.connect();
  return { alice, c };
}

/** The next `event` at the Degas. */
function nextAtDegas<K extends keyof DegasServerEvents>(event: K): Promise<DegasServerEvents[K]> {
  return new Promise((resolve) => degas.once(event, resolve));
}

/** Sends `text` from `c` and returns the session id the Degas sees it with. */
async function sessionAtDegas(c: DegasClient, text: string): Promise<bigint> {
  const msg = nextAtDegas('message');
  c.send(degasId, enc.encode(text));
  return (await msg).sessionId;
}

function nextEvent<K extends 'message' | 'gatewayError' | 'close'>(c: DegasClient, event: K) {
  return new Promise<
    K extends 'message'
      ? { degasIdHex: string; payload: Uint8Array }
      : K extends 'close'
        ? CloseEvent
        : GatewayErrorEvent
  >((resolve) => c.once(event, resolve as never));
}

function reach(c: DegasClient, state: ClientState): Promise<void> {
  if (c.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (s: ClientState) => {
      if (s === state) {
        c.off('state', on);
        resolve();
      }
    };
    c.on('state', on);
  });
}

beforeAll(async () => {
  degas = await startEchoDegas(degasId, TOKEN);
});

closeAfterEach(clients, gateways);

afterAll(async () => {
  await degas.close();
});

test('connects, round-trips through a degas-sdk Degas, and receives multicast', async () => {
  const gw = await startGw();
  const alice = newAccount();
  const bob = newAccount();
  const a = client(gw, { accountId: alice.idHex, signer: alice.key });
  const b = client(gw, { accountId: bob.id, signer: bob.signer });
  const states: ClientState[] = [];
  a.on('state', (s) => states.push(s));
  await Promise.all([a.connect(), b.connect()]);
  expect(states).toEqual(['connecting', 'authenticating', 'connected']);

  const atDegas = nextAtDegas('message');
  const reply = nextEvent(a, 'message');
  a.send(degasId, enc.encode('ping'));
  const seen = await atDegas;
  expect(seen.accountIdHex).toBe(alice.idHex);
  const m = await reply;
  expect(m.degasIdHex).toBe(idToHex(degasId));
  expect(dec.decode(m.payload)).toBe('echo:ping');

  // One degas_to_clients frame reaches both players; the iterator sees it too.
  const it = b.messages();
  const toA = nextEvent(a, 'message');
  degas.sendMany([alice.id, bob.id], enc.encode('tick'));
  expect(dec.decode((await toA).payload)).toBe('tick');
  const got = await it.next();
  expect(dec.decode(got.value!.payload)).toBe('tick');
  await it.return!();
});

test('a key that is not a signer of the account fails with AuthError and does not reconnect', async () => {
  const gw = await startGw();
  const alice = newAccount();
  const c = client(gw, { accountId: alice.id, signer: testKey(999_999) });
  const errors: string[] = [];
  c.on('gatewayError', (e) => errors.push(e.codeName));
  const closed = nextEvent(c, 'close');
  await expect(c.connect()).rejects.toBeInstanceOf(AuthError);
  const e = await closed;
  expect(e).toMatchObject({ code: 4001, willReconnect: false });
  expect(errors).toEqual(['AUTH_FAIL']);
  expect(c.state).toBe('closed');
  const opened = gw.stats.connectionsOpened;
  // Well past the 20–100 ms reconnect delays: nothing tries again.
  await new Promise((r) => setTimeout(r, 300));
  expect(gw.stats.connectionsOpened).toBe(opened);
});

test('logs in on chain 8453 with a key told its chain; a signer on chain 1 is refused by --auth-chain-id 8453', async () => {
  const gw = await startGw(0, [8453]);
  const alice = newAccount();
  const onBase = client(gw, { accountId: alice.id, signer: privateKeySigner(alice.key, { chainId: 8453 }) });
  await onBase.connect();
  const reply = nextEvent(onBase, 'message');
  onBase.send(degasId, enc.encode('on base'));
  expect(dec.decode((await reply).payload)).toBe('echo:on base');
  onBase.close();

  const onMainnet = client(gw, { accountId: alice.id, signer: alice.key });
  const errors: GatewayErrorEvent[] = [];
  onMainnet.on('gatewayError', (e) => errors.push(e));
  const err = await onMainnet.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  expect(errors.map((e) => [e.codeName, e.detail])).toEqual([['AUTH_FAIL', 'chain id not accepted']]);
  expect(gw.stats.authFailures.chain_not_accepted).toBe(1);
});

test('DEGAS_ERROR for an unknown Degas arrives as a typed gatewayError naming it; the connection stays', async () => {
  const gw = await startGw();
  const alice = newAccount();
  const c = client(gw, { accountId: alice.id, signer: alice.signer });
  await c.connect();
  const unknown = randomId();
  const error = nextEvent(c, 'gatewayError');
  c.send(unknown, enc.encode('anyone there?'));
  const e = await error;
  expect(e.code).toBe(ErrorCode.DEGAS_ERROR);
  expect(e.codeName).toBe('DEGAS_ERROR');
  expect(e.degasIdHex).toBe(idToHex(unknown));
  expect(e.degasId).toEqual(unknown);
  expect(c.state).toBe('connected');
  const reply = nextEvent(c, 'message');
  c.send(degasId, enc.encode('still'));
  expect(dec.decode((await reply).payload)).toBe('echo:still');
});

test('DUP_SESSION: a second client of the account kicks the first, which does not reconnect', async () => {
  const gw = await startGw();
  const alice = newAccount();
  const first = client(gw, { accountId: alice.id, signer: alice.key });
  await first.connect();
  const firstSession = await sessionAtDegas(first, 'from first');

  const kicked = nextEvent(first, 'close');
  const dupError = nextEvent(first, 'gatewayError');
  const notice = nextAtDegas('sessionClosed');
  const second = client(gw, { accountId: alice.id, signer: alice.key });
  await second.connect();
  expect((await dupError).codeName).toBe('DUP_SESSION');
  const e = await kicked;
  expect(e).toMatchObject({ code: 4002, willReconnect: false });
  expect(e.error).toBeInstanceOf(DuplicateSessionError);
  expect(first.state).toBe('closed');
  expect(await notice).toMatchObject({ sessionId: firstSession, stale: false });

  const secondSession = await sessionAtDegas(second, 'from second');
  expect(secondSession).not.toBe(firstSession);
  expect(degas.sessionOf(alice.id)).toBe(secondSession);
  const opened = gw.stats.connectionsOpened;
  await new Promise((r) => setTimeout(r, 300));
  expect(gw.stats.connectionsOpened).toBe(opened);
  expect(second.state).toBe('connected');
});

test('reconnects and re-authenticates after the gateway restarts on the same port', async () => {
  const gw = await startGw();
  const port = gw.port;
  const { c } = await connectedPlayer(gw);
  const states: ClientState[] = [];
  c.on('state', (s) => states.push(s));
  const closed = nextEvent(c, 'close');
  const goingAway = nextEvent(c, 'gatewayError');
  await gw.close();
  gateways.splice(gateways.indexOf(gw), 1);
  expect((await goingAway).codeName).toBe('GOING_AWAY');
  expect(await closed).toMatchObject({ code: 1001, willReconnect: true });
  expect(c.state === 'reconnecting' || c.state === 'connecting').toBe(true);

  const gw2 = await startGw(port);
  await reach(c, 'connected');
  expect(states[0]).toBe('reconnecting');
  expect(states.at(-1)).toBe('connected');
  expect(gw2.stats.authSuccesses).toBe(1);
  const reply = nextEvent(c, 'message');
  c.send(degasId, enc.encode('back'));
  expect(dec.decode((await reply).payload)).toBe('echo:back');
});

test('close() ends the session at the gateway and leaves nothing running', async () => {
  const gw = await startGw();
  const { alice, c } = await connectedPlayer(gw);
  const session = await sessionAtDegas(c, 'bye');
  const notice = nextAtDegas('sessionClosed');
  c.close();
  expect(c.state).toBe('closed');
  expect(await notice).toMatchObject({ sessionId: session, stale: false });
  expect(degas.isPresent(alice.id)).toBe(false);
  expect(() => c.send(degasId, enc.encode('x'))).toThrow(/connected/);
});

/** A loopback URL on which nothing listens (a port the OS handed out and that was closed again). */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `ws://127.0.0.1:${port}`;
}

test('a list of URLs: logins spread over the nodes, a dead node is skipped, a lost node sends the client on', async () => {
  const gwA = await startGw();
  const gwB = await startGw();
  const urlA = `ws://127.0.0.1:${gwA.port}`;
  const urlB = `ws://127.0.0.1:${gwB.port}`;

  // The first attempt picks a node at random: 16 clients land on both (all on one: p = 2^-15).
  const crowd = Array.from({ length: 16 }, () => {
    const a = newAccount();
    return client(gwA, { url: [urlA, urlB], accountId: a.id, signer: a.key });
  });
  await Promise.all(crowd.map((c) => c.connect()));
  expect(gwA.stats.authSuccesses + gwB.stats.authSuccesses).toBe(16);
  expect(gwA.stats.authSuccesses).toBeGreaterThan(0);
  expect(gwB.stats.authSuccesses).toBeGreaterThan(0);
  for (const c of crowd) c.close();

  // The random start falls on a dead URL: connect() moves on to the next at once.
  const alice = newAccount();
  const dead = await deadUrl();
  const random = jest.spyOn(Math, 'random').mockReturnValueOnce(0);
  const c = client(gwA, { url: [dead, urlA, urlB], accountId: alice.id, signer: alice.key });
  random.mockRestore();
  expect(c.url).toBe(dead);
  const closes: CloseEvent[] = [];
  c.on('close', (e) => closes.push(e));
  await c.connect();
  expect(closes).toMatchObject([{ code: 1006, willReconnect: true }]);
  expect(c.url).toBe(urlA);

  // Its node goes away: the reconnection goes to the next URL, the surviving node.
  const gone = nextEvent(c, 'close');
  const loginsOnB = gwB.stats.authSuccesses;
  await gwA.close();
  gateways.splice(gateways.indexOf(gwA), 1);
  expect(await gone).toMatchObject({ code: 1001, willReconnect: true });
  await reach(c, 'connected');
  expect(c.url).toBe(urlB);
  expect(gwB.stats.authSuccesses).toBe(loginsOnB + 1);
  const reply = nextEvent(c, 'message');
  c.send(degasId, enc.encode('moved'));
  expect(dec.decode((await reply).payload)).toBe('echo:moved');
});
