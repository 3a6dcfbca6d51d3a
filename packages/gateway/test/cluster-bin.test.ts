import { loginTypedData, parseChallenge } from '@degas/auth-eth';
import { CloseCode, ErrorCode, type GatewayMessage, idEquals, idToHex } from '@degas/proto';
import {
  degasFrame,
  ethAuthFrame,
  helloFrame,
  loginRaw,
  type NatsServer,
  type SpawnedGateway,
  spawnGateway,
  startNatsServer,
  startTestDegas,
  type TempDir,
  type TestAccount,
  type TestDegas,
  tempDir,
  testAccount,
  testDegasId,
  until,
  WsTestClient,
} from '@degas/test-utils';
import { scrapeMetrics } from './prom-text.js';

const ACCOUNTS = Array.from({ length: 12 }, (_, i) => testAccount(100 + i));
let dir: TempDir;
let accountsFile: string;
let degas: TestDegas;
let nats: NatsServer | undefined;
let gateways: SpawnedGateway[] = [];
let clients: WsTestClient[] = [];

beforeAll(async () => {
  dir = await tempDir('degas-cluster-');
  accountsFile = await dir.writeAccounts('accounts.json', ACCOUNTS);
});
afterAll(() => dir.remove());
beforeEach(async () => {
  degas = await startTestDegas({ degasId: testDegasId(7), echo: true });
});
afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  for (const g of gateways) g.kill('SIGKILL');
  await Promise.all(gateways.map((g) => g.exited().catch(() => {})));
  gateways = [];
  await degas.close();
  await nats?.stop();
  nats = undefined;
});

function node(name: string, extra: readonly string[] = []): Promise<SpawnedGateway> {
  if (nats === undefined) throw new Error('no nats');
  return spawnGateway([
    '--accounts',
    accountsFile,
    '--degas',
    `${idToHex(testDegasId(7))}=${degas.url}`,
    '--nats',
    nats.url,
    '--node-name',
    name,
    ...extra,
  ]).then((g) => {
    gateways.push(g);
    return g;
  });
}

async function client(gw: SpawnedGateway): Promise<WsTestClient> {
  const c = await WsTestClient.connect(gw.port);
  clients.push(c);
  return c;
}

async function login(gw: SpawnedGateway, account: TestAccount): Promise<WsTestClient> {
  const c = await client(gw);
  await loginRaw(c, account);
  return c;
}

async function readyz(gw: SpawnedGateway): Promise<number> {
  return (await fetch(`http://127.0.0.1:${gw.adminPort}/readyz`)).status;
}

function isError(m: GatewayMessage, code: number): boolean {
  return m.payload?.$case === 'error' && m.payload.value.code === code;
}

/**
 * A login during a bus outage: refused with UNAVAILABLE and 1013, either right after hello or
 * after the signature (both are allowed by PROTOCOL 4.2 step 6 and 4.5).
 */
async function expectUnavailable(gw: SpawnedGateway, account: TestAccount): Promise<void> {
  const c = await client(gw);
  c.send(helloFrame(account.id, account.address));
  let m = await c.nextMessage();
  if (m.payload?.$case === 'authRequest' && m.payload.value.request?.$case === 'ethereumAuth') {
    const typed = loginTypedData(parseChallenge(m.payload.value.request.value.challenge));
    c.send(ethAuthFrame(await account.signer.signTypedData(typed)));
    m = await c.nextMessage();
  }
  expect(isError(m, ErrorCode.UNAVAILABLE)).toBe(true);
  expect((await c.closed()).code).toBe(CloseCode.TRY_AGAIN_LATER);
}

/** Sends a message to the Degas and waits for its echo (forwarding both ways on this node). */
async function roundTrip(c: WsTestClient, payload: Uint8Array): Promise<void> {
  c.send(degasFrame(testDegasId(7), payload));
  const m = await c.nextMessage();
  expect(m.payload?.$case).toBe('degas');
  if (m.payload?.$case === 'degas') expect(Buffer.from(m.payload.value.payload)).toEqual(Buffer.from(payload));
}

function clientErrorsFor(account: TestAccount): number {
  return degas.received.filter(
    (m) =>
      m.payload?.$case === 'error' &&
      m.payload.value.code === ErrorCode.CLIENT_ERROR &&
      idEquals(m.payload.value.accountId, account.id),
  ).length;
}

test('the listening line names the cluster, the node and the NATS server it joined; /metrics and /readyz', async () => {
  nats = await startNatsServer();
  const gw = await node('alpha', ['--cluster', 'east']);
  const line = gw.logs.find((l) => l.msg === 'listening')!;
  expect(line).toMatchObject({ cluster: 'east', node: 'alpha', nats: `127.0.0.1:${nats.port}` });
  expect(await readyz(gw)).toBe(200);
  const metrics = await scrapeMetrics(gw.adminPort);
  expect(metrics).toContain('degas_gateway_cluster_info{cluster="east",node="alpha"} 1');
  expect(metrics).toContain('degas_gateway_cluster_bus_connected 1');
});

/** A nats-server and two nodes of one cluster on it. */
async function twoNodes(): Promise<[SpawnedGateway, SpawnedGateway, NatsServer]> {
  const bus = await startNatsServer();
  nats = bus;
  return [await node('a'), await node('b'), bus];
}

/** The Degas sends `text` to `account`, and `client` (logged in as it) receives it. */
async function expectFromDegas(client: WsTestClient, account: TestAccount, text: string): Promise<void> {
  degas.sendToClient(account.id, Buffer.from(text));
  expect(Buffer.from((await client.nextDegas()).payload).toString()).toBe(text);
}

test('a node killed with SIGKILL: its accounts log in elsewhere at once, and count as absent within 5 s', async () => {
  const [a, b] = await twoNodes();
  const [x1, x2, y] = [ACCOUNTS[0]!, ACCOUNTS[1]!, ACCOUNTS[2]!];
  const onA1 = await login(a, x1);
  const onA2 = await login(a, x2);
  const onB = await login(b, y);
  // Only node B has a link to the Degas.
  await roundTrip(onB, Buffer.from('hello from b'));
  // Delivery over B's link crosses to the client on A.
  await expectFromDegas(onA1, x1, 'to a');

  const killedAt = performance.now();
  a.kill('SIGKILL');
  await a.exited();
  // The account logs in on B right away (no need to wait for the heartbeat to lapse)...
  const again = await login(b, x2);
  await roundTrip(again, Buffer.from('x2 on b'));
  expect((await onA2.closed()).code).toBe(1006);
  // ...and the dead node's other account answers CLIENT_ERROR within 5 s.
  const errorsBefore = clientErrorsFor(x1);
  await until(
    () => {
      degas.sendToClient(x1.id, Buffer.from('anyone?'));
      return clientErrorsFor(x1) > errorsBefore;
    },
    5000,
    'CLIENT_ERROR for an account of the dead node',
    200,
  );
  expect(performance.now() - killedAt).toBeLessThan(5000);
  expect(onB.pendingMessages()).toBe(0);
});

test('nats-server killed and restarted: local forwarding goes on, logins get UNAVAILABLE/1013 and /readyz 503, then all recovers', async () => {
  const [a, b, bus] = await twoNodes();
  const [x, y, z] = [ACCOUNTS[3]!, ACCOUNTS[4]!, ACCOUNTS[5]!];
  const onA = await login(a, x);
  const onB = await login(b, y);
  // Only node A dials the Degas: Degas messages for y cross the bus.
  await roundTrip(onA, Buffer.from('before'));
  await expectFromDegas(onB, y, 'to b');

  await bus.kill();
  await until(async () => (await readyz(a)) === 503 && (await readyz(b)) === 503, 5000, '/readyz 503 on both nodes');
  await expectUnavailable(a, z);
  await expectUnavailable(b, z);
  // Sessions already in ForwardState keep forwarding between their client and their node's links.
  await roundTrip(onA, Buffer.from('during'));
  // Delivery to another node's account is a CLIENT_ERROR at once, never buffered.
  const before = clientErrorsFor(y);
  degas.sendToClient(y.id, Buffer.from('lost'));
  await until(() => clientErrorsFor(y) > before, 5000, 'CLIENT_ERROR during the outage');
  expect(onB.pendingMessages()).toBe(0);
  const metrics = await scrapeMetrics(a.adminPort);
  expect(metrics).toContain('degas_gateway_cluster_bus_connected 0');

  await bus.restart();
  await until(async () => (await readyz(a)) === 200 && (await readyz(b)) === 200, 15_000, '/readyz 200 again');
  const onBz = await login(b, z);
  await roundTrip(onA, Buffer.from('after'));
  // The sessions that lived through the outage are registered again: cross-node delivery works.
  degas.sendToClient(y.id, Buffer.from('to b again'));
  const m = await onB.nextMessage();
  expect(m.payload?.$case).toBe('degas');
  // And one session per account holds again: x logging in on B replaces the session on A.
  await login(b, x);
  expect(isError(await onA.nextMessage(), ErrorCode.DUP_SESSION)).toBe(true);
  expect((await onA.closed()).code).toBe(CloseCode.DUP_SESSION);
  expect(onBz.pendingMessages()).toBe(0);
  expect(gateways.every((g) => g.proc.exitCode === null)).toBe(true);
}, 60_000);

test('NATS unreachable at start: the node starts, says so, refuses logins, and joins when NATS appears', async () => {
  nats = await startNatsServer();
  await nats.kill();
  const gw = await node('lonely');
  const line = gw.logs.find((l) => l.msg === 'listening')!;
  expect(line).toMatchObject({ node: 'lonely', cluster: 'degas', nats: null });
  expect(gw.logs.some((l) => l.level === 'error' && String(l.msg).includes('cannot reach NATS'))).toBe(true);
  expect(await readyz(gw)).toBe(503);
  await expectUnavailable(gw, ACCOUNTS[6]!);
  await nats.restart();
  await until(async () => (await readyz(gw)) === 200, 15_000, 'the node to join');
  await login(gw, ACCOUNTS[6]!);
  // No crash loop: one process all along, and a bounded number of error lines.
  expect(gw.proc.exitCode).toBeNull();
  expect(gw.logs.filter((l) => String(l.msg).includes('cannot reach NATS')).length).toBeLessThan(15);
}, 60_000);

test.each([
  [['--nats', 'http://127.0.0.1:4222'], /--nats: NATS server URL must be nats:\/\/ or tls:\/\//],
  [['--nats', 'nats://'], /--nats: not a NATS server URL/],
  [['--nats', 'nats://u:secret@host:4222/path'], /--nats: not a NATS server URL: nats:\/\/\*\*\*@/],
  [['--cluster', 'prod'], /--cluster: needs --nats/],
  [['--nats', 'nats://127.0.0.1:4222', '--cluster', 'a.b'], /--cluster: expected 1 to 64 letters/],
  [['--nats', 'nats://127.0.0.1:4222', '--kv-replicas', '7'], /--kv-replicas: expected an integer from 1 to 5/],
])('bad cluster flags %j exit 2 with one line', async (args, message) => {
  const gw = spawnGateway(['--accounts', accountsFile, ...args]);
  const err = await gw.then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err?.message).toMatch(/code 2/);
  const lines = (err?.message ?? '').split('\n').filter((l) => l.startsWith('degas-gateway:'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(lines[0]).not.toContain('secret');
});
