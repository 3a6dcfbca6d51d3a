/**
 * Resume tickets across the nodes of a cluster (PROTOCOL.md 4.5 and 8): real `degas-gateway`
 * processes joined by a real nats-server, sharing `--resume-key`.
 */
import { randomBytes } from 'node:crypto';
import { CloseCode, ErrorCode } from '@degas/proto';
import {
  degasFlag,
  degasFrame,
  freshDegasId,
  freshTestAccount,
  type NatsServer,
  type SpawnedGateway,
  spawnGateway,
  startNatsServer,
  startTestDegas,
  type TempDir,
  type TestDegas,
  tempDir,
  testBytes,
  until,
  WsTestClient,
} from '@degas/test-utils';
import { scrapeMetrics } from './prom-text.js';
import { type AuthOk, presentTicket, walletLogin } from './resume-helpers.js';

const KEY = randomBytes(32).toString('hex');
const ACCOUNTS = Array.from({ length: 8 }, () => freshTestAccount());

let dir: TempDir;
let accountsFile: string;
let nats: NatsServer;
let degas: TestDegas;
let cluster = '';
let nodes: SpawnedGateway[] = [];
let clients: WsTestClient[] = [];

beforeAll(async () => {
  dir = await tempDir('degas-resume-cluster-');
  accountsFile = await dir.writeAccounts('accounts.json', ACCOUNTS);
  nats = await startNatsServer();
  degas = await startTestDegas({ degasId: freshDegasId() });
}, 30_000);
afterAll(async () => {
  await degas?.kill();
  await nats?.stop();
  await dir?.remove();
});
let round = 0;
beforeEach(() => {
  // Each test its own cluster on the shared nats-server: no state leaks between tests.
  cluster = `resume${process.pid}t${round++}`;
});
afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  for (const n of nodes) n.kill('SIGKILL');
  await Promise.all(nodes.map((n) => n.exited().catch(() => {})));
  nodes = [];
});

async function node(name: string, extra: readonly string[] = ['--resume-key', KEY]): Promise<SpawnedGateway> {
  const gw = await spawnGateway([
    '--accounts',
    accountsFile,
    '--degas',
    degasFlag(degas),
    '--nats',
    nats.url,
    '--cluster',
    cluster,
    '--node-name',
    name,
    '--verifier-threads',
    '1',
    ...extra,
  ]);
  nodes.push(gw);
  return gw;
}

function client(gw: SpawnedGateway): WsTestClient {
  const c = WsTestClient.open(`ws://127.0.0.1:${gw.port}`);
  clients.push(c);
  return c;
}

async function metric(gw: SpawnedGateway, name: string, labels = ''): Promise<number> {
  const text = await scrapeMetrics(gw.adminPort);
  const line = text.split('\n').find((l) => l.startsWith(`degas_gateway_${name}${labels} `));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

function authOk(m: Awaited<ReturnType<typeof presentTicket>>): AuthOk {
  if (m.payload?.$case !== 'authOk') throw new Error(`expected auth_ok, got ${m.payload?.$case}`);
  return m.payload.value;
}

/** Waits until `gw` has finished one more registry write than `before` (e.g. a release). */
async function registryWrite(gw: SpawnedGateway, before: number): Promise<void> {
  await until(
    async () => (await metric(gw, 'cluster_registry_duration_seconds_count')) > before,
    5000,
    'a registry write on the bus',
  );
}

/** Drops `c` without a close frame and waits until its node has released the session on the bus. */
async function drop(gw: SpawnedGateway, c: WsTestClient): Promise<void> {
  const before = await metric(gw, 'cluster_registry_duration_seconds_count');
  c.terminate();
  await registryWrite(gw, before);
}

/** Nodes A and B, and a wallet login of `ACCOUNTS[n]` on node A. */
async function loggedInOnA(n: number) {
  const a = await node('a');
  const b = await node('b');
  const account = ACCOUNTS[n]!;
  const c1 = client(a);
  const ok1 = await walletLogin(c1, account);
  return { a, b, account, c1, ok1 };
}

test('a session dropped on node A resumes on node B: no challenge, resumed_from reaches the Degas from B', async () => {
  const { a, b, account: alice, c1, ok1 } = await loggedInOnA(0);
  c1.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil(() => degas.clientMessages().length === 1);
  await drop(a, c1);

  const c2 = client(b);
  const ok2 = authOk(await presentTicket(c2, alice, ok1.resumeTicket));
  expect(ok2.resumed).toBe(true);
  expect(ok2.sessionId).not.toBe(ok1.sessionId);
  c2.send(degasFrame(degas.degasId, testBytes(2)));
  await degas.waitUntil(() => degas.clientMessages().length === 2);
  const m = degas.clientMessages()[1]!;
  expect(m.sessionId).toBe(ok2.sessionId);
  expect(m.resumedFrom).toBe(ok1.sessionId);
  expect(await metric(b, 'resumes_total', '{result="ok"}')).toBe(1);
  expect(await metric(b, 'verify_duration_seconds_count')).toBe(0);
}, 30_000);

test('the same ticket on two nodes at once: exactly one resumes, the other gets the challenge', async () => {
  const a = await node('a');
  const b = await node('b');
  for (let i = 0; i < 10; i++) {
    const acc = ACCOUNTS[1 + (i % 4)]!;
    const c0 = client(a);
    const ok = await walletLogin(c0, acc);
    await drop(a, c0);
    const x = client(a);
    const y = client(b);
    await Promise.all([x.opened, y.opened]);
    const [mx, my] = await Promise.all([
      presentTicket(x, acc, ok.resumeTicket),
      presentTicket(y, acc, ok.resumeTicket),
    ]);
    expect([mx.payload?.$case, my.payload?.$case].sort()).toEqual(['authOk', 'authRequest']);
    x.terminate();
    y.terminate();
  }
  const ok = (await metric(a, 'resumes_total', '{result="ok"}')) + (await metric(b, 'resumes_total', '{result="ok"}'));
  expect(ok).toBe(10);
}, 60_000);

test('a rolling restart: SIGTERM of node A sends its players to node B, which resumes them with zero signatures', async () => {
  const a = await node('a');
  const b = await node('b');
  const players = ACCOUNTS.slice(0, 5);
  const tickets: AuthOk[] = [];
  const onA = players.map(() => client(a));
  for (let i = 0; i < players.length; i++) tickets.push(await walletLogin(onA[i]!, players[i]!));
  a.kill('SIGTERM');
  for (const c of onA) {
    expect((await c.nextError()).code).toBe(ErrorCode.GOING_AWAY);
    expect((await c.closed()).code).toBe(CloseCode.GOING_AWAY);
  }
  expect((await a.exited()).code).toBe(0);
  nodes.splice(nodes.indexOf(a), 1);
  const answers = await Promise.all(
    players.map((p, i) => presentTicket(client(b), p, tickets[i]!.resumeTicket).then(authOk)),
  );
  expect(answers.map((x) => x.resumed)).toEqual(players.map(() => true));
  expect(await metric(b, 'verify_duration_seconds_count')).toBe(0);
  expect(await metric(b, 'resumes_total', '{result="ok"}')).toBe(players.length);
}, 60_000);

test('a logout (close 1000) on node A revokes the ticket on node B', async () => {
  const { a, b, account: acc, c1, ok1 } = await loggedInOnA(6);
  const writes = await metric(a, 'cluster_registry_duration_seconds_count');
  c1.ws.close(1000);
  await c1.closed();
  await registryWrite(a, writes);
  const c2 = client(b);
  expect((await presentTicket(c2, acc, ok1.resumeTicket)).payload?.$case).toBe('authRequest');
  expect(await metric(b, 'resumes_total', '{result="revoked"}')).toBe(1);
}, 30_000);

test('a cluster node without --resume-key issues no tickets and says why', async () => {
  const a = await node('a', []);
  const c = client(a);
  const ok = await walletLogin(c, ACCOUNTS[7]!);
  expect(ok.resumeTicket).toHaveLength(0);
  expect(ok.resumeWindowMs).toBe(0);
  expect(a.stderrLines.join('\n')).toMatch(/resume tickets off: no --resume-key on a cluster node/);
}, 30_000);

test('during a bus outage a hello with a ticket gets UNAVAILABLE and 1013 at once; resume works when the bus is back', async () => {
  const a = await node('a');
  const acc = ACCOUNTS[5]!;
  const c1 = client(a);
  const ok1 = await walletLogin(c1, acc);
  await drop(a, c1);
  await nats.kill();
  try {
    await until(async () => (await metric(a, 'cluster_bus_connected')) === 0, 10_000, 'the bus to be lost');
    const c2 = client(a);
    await c2.opened;
    const first = await presentTicket(c2, acc, ok1.resumeTicket);
    expect(first.payload?.$case).toBe('error');
    if (first.payload?.$case === 'error') expect(first.payload.value.code).toBe(ErrorCode.UNAVAILABLE);
    expect((await c2.closed()).code).toBe(CloseCode.TRY_AGAIN_LATER);
  } finally {
    await nats.restart();
  }
  await until(async () => (await metric(a, 'cluster_bus_connected')) === 1, 15_000, 'the bus to be back');
  const c3 = client(a);
  expect(authOk(await presentTicket(c3, acc, ok1.resumeTicket)).resumed).toBe(true);
}, 60_000);
