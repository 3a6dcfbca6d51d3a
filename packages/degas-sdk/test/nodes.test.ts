/**
 * Several gateway nodes connected to one DegasServer: real `degas-gateway` processes (the bin),
 * each dialing its own internal connection. Replies must go back over the connection the
 * account's latest message came in on, and a node that dies must end the presence of the
 * sessions whose messages came over it (PROTOCOL.md 8, node loss). The nodes here are
 * independent (no bus), so a reply over the wrong connection would not arrive at all: it would
 * come back as CLIENT_ERROR.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GatewayMessage, randomId } from '@degas/proto';
import {
  degasFrame,
  loginRaw,
  type SpawnedGateway,
  spawnGateway,
  type TestAccount,
  testAccount,
  WsTestClient,
} from '@degas/test-utils';
import { DegasServer, type DegasServerEvents, type GatewayErrorEvent, idToHex } from '../src/index.js';
import { collect, next } from './helpers.js';

const TOKEN = 'sdk-nodes-token';
const degasId = randomId();
const enc = new TextEncoder();
const dec = new TextDecoder();
const alice = testAccount(7101);
const bob = testAccount(7102);

let dir: string;
let degas: DegasServer;
let node1: SpawnedGateway;
let node2: SpawnedGateway;
const clients: WsTestClient[] = [];
const clientErrors: GatewayErrorEvent[] = [];

function startNode(accountsFile: string): Promise<SpawnedGateway> {
  const url = `ws://127.0.0.1:${degas.address()!.port}`;
  return spawnGateway(['--accounts', accountsFile, '--degas', `${idToHex(degasId)}=${url}`, '--internal-token', TOKEN]);
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

function text(msg: GatewayMessage): string {
  if (msg.payload?.$case !== 'degas') throw new Error(`expected a degas frame, got ${msg.payload?.$case}`);
  return dec.decode(msg.payload.value.payload);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'degas-sdk-nodes-'));
  const file = join(dir, 'accounts.json');
  writeFileSync(
    file,
    JSON.stringify({
      accounts: [alice, bob].map((a) => ({
        id: a.idHex,
        signers: [{ type: 'ethereum', address: a.address, disabled: false }],
      })),
    }),
  );
  degas = new DegasServer({ degasId, token: TOKEN, port: 0, host: '127.0.0.1' });
  degas.on('clientError', (e) => clientErrors.push(e));
  await degas.listen();
  [node1, node2] = await Promise.all([startNode(file), startNode(file)]);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const node of [node1, node2]) node?.kill('SIGKILL');
  await Promise.all([node1, node2].map((node) => node?.exited()));
  await degas.close();
  rmSync(dir, { recursive: true, force: true });
});

test('replies go over the node the account wrote through; a lost node ends its sessions', async () => {
  const a = await login(node1, alice);
  const b = await login(node2, bob);
  const fromAlice = await say(a, 'alice via node 1');
  const fromBob = await say(b, 'bob via node 2');
  expect(degas.gateways).toHaveLength(2);
  expect(fromAlice.gateway).not.toBe(fromBob.gateway);

  // Each reply reaches its player only if it took the connection of that player's node.
  expect(degas.send(alice.id, enc.encode('to alice'))).toBe(true);
  expect(degas.send(bob.idHex, enc.encode('to bob'))).toBe(true);
  expect(text(await a.nextMessage())).toBe('to alice');
  expect(text(await b.nextMessage())).toBe('to bob');
  // One degas_to_clients per node.
  expect(degas.sendMany([alice.id, bob.id], enc.encode('tick'))).toBe(true);
  expect(text(await a.nextMessage())).toBe('tick');
  expect(text(await b.nextMessage())).toBe('tick');

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
  expect(text(await a2.nextMessage())).toBe('welcome back');
  expect(clientErrors).toEqual([]);
});
