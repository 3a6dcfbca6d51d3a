/**
 * Several gateway nodes connected to one DegasServer: real `degas-gateway` processes (the bin),
 * each dialing its own internal connection. Replies must go back over the connection the
 * account's latest message came in on, and a node that dies must end the presence of the
 * sessions whose messages came over it (PROTOCOL.md 8, node loss).
 * First with independent nodes (no bus), where a reply over the wrong connection would not
 * arrive at all (it would come back as CLIENT_ERROR); then with a real cluster (nats-server),
 * where any connection delivers, so the SDK's fallback reaches players on other nodes.
 */
import { randomId } from '@degas/proto';
import {
  degasFrame,
  loginRaw,
  type NatsServer,
  type SpawnedGateway,
  spawnGateway,
  startNatsServer,
  type TempDir,
  type TestAccount,
  tempDir,
  testAccount,
  WsTestClient,
} from '@degas/test-utils';
import { DegasServer, type DegasServerEvents, type GatewayErrorEvent, idToHex } from '../src/index.js';
import { collect, enc, next, nextText } from './helpers.js';

const TOKEN = 'sdk-nodes-token';
const degasId = randomId();
const alice = testAccount(7101);
const bob = testAccount(7102);

let dir: TempDir;
let accountsFile: string;
let nats: NatsServer | undefined;
let degas: DegasServer;
let node1: SpawnedGateway;
let node2: SpawnedGateway;
const clients: WsTestClient[] = [];
const clientErrors: GatewayErrorEvent[] = [];

function startNode(extra: readonly string[] = []): Promise<SpawnedGateway> {
  const url = `ws://127.0.0.1:${degas.address()!.port}`;
  return spawnGateway([
    '--accounts',
    accountsFile,
    '--degas',
    `${idToHex(degasId)}=${url}`,
    '--internal-token',
    TOKEN,
    ...extra,
  ]);
}

async function login(node: SpawnedGateway, account: TestAccount): Promise<WsTestClient> {
  const c = await WsTestClient.connect(node.port);
  clients.push(c);
  await loginRaw(c, account);
  return c;
}

/** Sends `text` from `c` and resolves with the Degas's `message` event for it. */
async function say(c: WsTestClient, text: string): Promise<DegasServerEvents['message']> {
  const got = next(degas, 'message');
  c.send(degasFrame(degasId, enc.encode(text)));
  return got;
}

beforeAll(async () => {
  dir = await tempDir('degas-sdk-nodes-');
  accountsFile = await dir.writeAccounts('accounts.json', [alice, bob]);
  degas = new DegasServer({ degasId, token: TOKEN, port: 0, host: '127.0.0.1' });
  degas.on('clientError', (e) => clientErrors.push(e));
  await degas.listen();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const node of [node1, node2]) node?.kill('SIGKILL');
  await Promise.all([node1, node2].map((node) => node?.exited()));
  await nats?.stop();
  clientErrors.length = 0;
});

afterAll(async () => {
  await degas.close();
  await dir.remove();
});

test('independent nodes: replies go over the node the account wrote through; a lost node ends its sessions', async () => {
  [node1, node2] = await Promise.all([startNode(), startNode()]);
  const a = await login(node1, alice);
  const b = await login(node2, bob);
  const fromAlice = await say(a, 'alice via node 1');
  const fromBob = await say(b, 'bob via node 2');
  expect(degas.gateways).toHaveLength(2);
  expect(fromAlice.gateway).not.toBe(fromBob.gateway);

  // Each reply reaches its player only if it took the connection of that player's node.
  expect(degas.send(alice.id, enc.encode('to alice'))).toBe(true);
  expect(degas.send(bob.idHex, enc.encode('to bob'))).toBe(true);
  expect(await nextText(a, degasId)).toBe('to alice');
  expect(await nextText(b, degasId)).toBe('to bob');
  // One degas_to_clients per node.
  expect(degas.sendMany([alice.id, bob.id], enc.encode('tick'))).toBe(true);
  expect(await nextText(a, degasId)).toBe('tick');
  expect(await nextText(b, degasId)).toBe('tick');

  // Node 1 dies without a word: its connection drops and alice's session ends with it.
  const disconnected = next(degas, 'gatewayDisconnected');
  const ended = collect(degas, 'sessionClosed', 1);
  node1.kill('SIGKILL');
  const d = await disconnected;
  expect(d.gateway).toBe(fromAlice.gateway);
  expect(d).toMatchObject({ code: 1006, sessionsEnded: 1 });
  expect((await ended)[0]).toMatchObject({
    accountIdHex: alice.idHex,
    sessionId: fromAlice.sessionId,
    stale: false,
    reason: 'gatewayDisconnected',
  });
  expect(degas.isPresent(alice.id)).toBe(false);
  expect(degas.isPresent(bob.id)).toBe(true);
  expect(degas.presentCount).toBe(1);

  // Alice logs in again on the surviving node: present again, with a new session, and reachable.
  const a2 = await login(node2, alice);
  const back = await say(a2, 'alice via node 2');
  expect(back.gateway).toBe(fromBob.gateway);
  expect(back.sessionId).not.toBe(fromAlice.sessionId);
  expect(degas.sessionOf(alice.id)).toBe(back.sessionId);
  expect(degas.send(alice.id, enc.encode('welcome back'))).toBe(true);
  expect(await nextText(a2, degasId)).toBe('welcome back');
  expect(clientErrors).toEqual([]);
});

test('a cluster: unrouted players are reached through any node; a lost node ends its sessions; they come back elsewhere', async () => {
  nats = await startNatsServer();
  const cluster = ['--nats', nats.url, '--cluster', `sdk${process.pid}`];
  // One after the other: the first node creates the cluster's bucket.
  node1 = await startNode([...cluster, '--node-name', 'sdk-1']);
  node2 = await startNode([...cluster, '--node-name', 'sdk-2']);
  const a = await login(node1, alice);
  const b = await login(node2, bob);
  const fromAlice = await say(a, 'alice via node 1'); // node 1 dials the Degas: the oldest link

  // Bob never wrote: no route, so his messages take the oldest open link (node 1's), and node 1
  // hands them to node 2 over the bus. One degas_to_clients on node 1 reaches both nodes' players.
  expect(degas.isPresent(bob.id)).toBe(false);
  expect(degas.send(bob.id, enc.encode('to bob via node 1'))).toBe(true);
  expect(await nextText(b, degasId)).toBe('to bob via node 1');
  expect(degas.sendMany([alice.id, bob.id], enc.encode('tick'))).toBe(true);
  expect(await nextText(a, degasId)).toBe('tick');
  expect(await nextText(b, degasId)).toBe('tick');
  expect(clientErrors).toEqual([]);

  // Once bob writes (node 2 dials the Degas), his replies take node 2's link.
  const fromBob = await say(b, 'bob via node 2');
  expect(fromBob.gateway).not.toBe(fromAlice.gateway);
  expect(degas.send(bob.id, enc.encode('to bob via node 2'))).toBe(true);
  expect(await nextText(b, degasId)).toBe('to bob via node 2');

  // Node 1 dies: alice's session ends with its connection; bob's does not.
  const ended = collect(degas, 'sessionClosed', 1);
  const disconnected = next(degas, 'gatewayDisconnected');
  node1.kill('SIGKILL');
  expect(await disconnected).toMatchObject({ gateway: fromAlice.gateway, code: 1006, sessionsEnded: 1 });
  expect((await ended)[0]).toMatchObject({ accountIdHex: alice.idHex, stale: false, reason: 'gatewayDisconnected' });
  expect(degas.isPresent(alice.id)).toBe(false);
  expect(degas.isPresent(bob.id)).toBe(true);

  // Alice logs in on node 2 at once (the cluster lets the dead node's session go) and is reachable.
  const a2 = await login(node2, alice);
  const back = await say(a2, 'alice via node 2');
  expect(back.gateway).toBe(fromBob.gateway);
  expect(degas.send(alice.id, enc.encode('welcome back'))).toBe(true);
  expect(await nextText(a2, degasId)).toBe('welcome back');
  expect(clientErrors).toEqual([]);
});
