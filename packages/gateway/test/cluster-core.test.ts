// Cluster mode (PROTOCOL.md 8) with gateways in this process joined by a real nats-server:
// one session per account across nodes, delivery to whichever node holds the account, misses.
import {
  CloseCode,
  decodeGatewayInternalMessage,
  ErrorCode,
  encodeDegasToClient,
  encodeDegasToClients,
  idKey,
} from '@degas/proto';
import {
  degasFrame,
  freshDegasId,
  freshTestAccount,
  memoryAccounts,
  memoryDegasDirectory,
  type NatsServer,
  signChallenge,
  startNatsServer,
  startTestDegas,
  startTestGateway,
  type TestAccount,
  type TestDegas,
  testBytes,
  until,
  WsTestClient,
} from '@degas/test-utils';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type WebSocket from 'ws';
import { type ClusterRegistry, createNatsRegistry } from '../src/cluster.js';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { renderMetrics } from '../src/metrics.js';

interface Node {
  gw: GatewayHandle;
  registry: ClusterRegistry;
  url: string;
}

let nats: NatsServer;
const accounts = memoryAccounts();
const directory = memoryDegasDirectory();
let nodes: Node[] = [];
let clients: WsTestClient[] = [];
let degas: TestDegas;

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});
beforeEach(async () => {
  degas = await startTestDegas({ degasId: freshDegasId() });
  directory.set(degas.degasId, degas.endpoint);
});
afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  await Promise.all(nodes.map((n) => n.gw.close()));
  nodes = [];
  await degas.kill();
});

async function startNode(cluster = 'core', name = `n${nodes.length}`): Promise<Node> {
  const registry = await createNatsRegistry({
    servers: [nats.url],
    cluster,
    nodeName: name,
    heartbeatMs: 100,
    nodeTimeoutMs: 1000,
  });
  const { gateway: gw, url } = await startTestGateway(startGateway, { degas: directory, registry }, { accounts });
  expect(await registry.whenUp(10_000)).toBe(true);
  const node = { gw, registry, url };
  nodes.push(node);
  return node;
}

function account(): TestAccount {
  const a = freshTestAccount();
  accounts.set(a);
  return a;
}

async function loggedIn(node: Node, a: TestAccount = account()): Promise<WsTestClient> {
  const c = WsTestClient.open(node.url);
  clients.push(c);
  await c.login(a);
  return c;
}

/** Waits until every node's view of the registry has `node` holding the account. */
async function seen(acc: TestAccount, node: Node): Promise<void> {
  const key = idKey(acc.id);
  await until(
    () => nodes.every((n) => n.registry.holder(key) === node.registry.nodeId),
    5000,
    'every node sees the login',
  );
}

/** The Degas's internal connection from a node: `via`, a client of that node, makes it dial. */
async function linkFrom(via: WsTestClient): Promise<WebSocket> {
  const before = new Set(degas.links);
  const n = degas.clientMessages().length;
  via.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil(() => degas.clientMessages().length > n);
  const fresh = [...degas.links].filter((s) => !before.has(s));
  if (fresh.length !== 1) throw new Error(`expected one new link, got ${fresh.length}`);
  return fresh[0]!;
}

/** Errors the Degas received on one link. */
function errorsOn(ws: WebSocket): { code: number; accountId: Uint8Array }[] {
  return (linkErrors.get(ws) ?? []).slice();
}
const linkErrors = new WeakMap<WebSocket, { code: number; accountId: Uint8Array }[]>();
function recordErrors(ws: WebSocket): void {
  if (linkErrors.has(ws)) return;
  const list: { code: number; accountId: Uint8Array }[] = [];
  linkErrors.set(ws, list);
  ws.on('message', (data: Buffer) => {
    const m = decodeGatewayInternalMessage(new Uint8Array(data));
    if (m.payload?.$case === 'error') list.push(m.payload.value);
  });
}

test('#75 a login on another node replaces the session: DUP_SESSION + 4002 there, Degas traffic reaches the new one', async () => {
  const [a, b] = [await startNode(), await startNode()];
  const acc = account();
  const first = await loggedIn(a, acc);
  const second = await loggedIn(b, acc);
  expect((await first.nextError()).code).toBe(ErrorCode.DUP_SESSION);
  expect((await first.closed()).code).toBe(CloseCode.DUP_SESSION);
  // The new session works, and a Degas message sent over node A's link crosses to it.
  const probe = await loggedIn(a);
  const linkA = await linkFrom(probe);
  linkA.send(encodeDegasToClient(acc.id, testBytes(7, 3)));
  expect((await second.nextDegas()).payload).toEqual(testBytes(7, 3));
  expect(a.registry.local(idKey(acc.id))).toBeUndefined();
  expect(b.registry.local(idKey(acc.id))).toBeDefined();
  expect(a.registry.snapshot().remoteKicks).toBe(1);
  expect(a.registry.snapshot().deliveriesSent).toBe(1);
  expect(b.registry.snapshot().deliveriesReceived).toBe(1);
  expect(b.gw.stats.degasToClientMessages).toBe(1);
});

test('#94 50 rounds of simultaneous logins of one account on two nodes: exactly one survivor, the one the registry names', async () => {
  const [a, b] = [await startNode(), await startNode()];
  for (let round = 0; round < 50; round++) {
    const acc = account();
    const ca = WsTestClient.open(a.url);
    const cb = WsTestClient.open(b.url);
    clients.push(ca, cb);
    await Promise.all([ca.opened, cb.opened]);
    ca.hello(acc);
    cb.hello(acc);
    const [chA, chB] = await Promise.all([ca.authRequest(), cb.authRequest()]);
    const [sigA, sigB] = await Promise.all([signChallenge(acc.signer, chA), signChallenge(acc.signer, chB)]);
    // Both signatures leave in the same turn.
    ca.ethAuth(sigA);
    cb.ethAuth(sigB);
    const key = idKey(acc.id);
    await until(
      () => {
        const settled = (ca.closedWith !== undefined) !== (cb.closedWith !== undefined);
        const open = ca.closedWith === undefined ? ca : cb;
        return (
          settled &&
          open.messages.some((m) => m.payload?.$case === 'authOk') &&
          (a.registry.local(key) ?? b.registry.local(key)) !== undefined
        );
      },
      10_000,
      `round ${round}: one connection closed, the other logged in and registered`,
    );
    const [loser, survivor, survivorNode, otherNode] = ca.closedWith !== undefined ? [ca, cb, b, a] : [cb, ca, a, b];
    expect(loser.closedWith?.code).toBe(CloseCode.DUP_SESSION);
    expect(
      loser.messages.some((m) => m.payload?.$case === 'error' && m.payload.value.code === ErrorCode.DUP_SESSION),
    ).toBe(true);
    expect(survivor.closedWith).toBeUndefined();
    expect(survivor.messages.some((m) => m.payload?.$case === 'authOk')).toBe(true);
    expect(otherNode.registry.local(key)).toBeUndefined();
    const held = survivorNode.registry.local(key);
    expect(held).toBeDefined();
    // The registry (the KV entry every node reads) names the survivor's session, from either node.
    expect((await a.registry.latest(acc.id))?.sessionId).toBe(held!.sessionId);
    expect((await b.registry.latest(acc.id))?.sessionId).toBe(held!.sessionId);
    expect((await a.registry.latest(acc.id))?.open).toBe(true);
    ca.terminate();
    cb.terminate();
  }
}, 120_000);

test('degas_to_clients spanning three nodes reaches each account exactly once; one bus message per node', async () => {
  const ns = [await startNode(), await startNode(), await startNode()];
  const accs: TestAccount[] = [];
  const cs: WsTestClient[] = [];
  for (const n of ns) {
    for (let i = 0; i < 2; i++) {
      const acc = account();
      accs.push(acc);
      cs.push(await loggedIn(n, acc));
      await seen(acc, n);
    }
  }
  const link = await linkFrom(cs[0]!);
  recordErrors(link);
  // Every id once, plus a duplicate; then a second message to tell "once" from "not yet twice".
  link.send(encodeDegasToClients([...accs.map((x) => x.id), accs[3]!.id], testBytes(9, 1)));
  link.send(
    encodeDegasToClients(
      accs.map((x) => x.id),
      testBytes(9, 2),
    ),
  );
  for (const c of cs) {
    expect((await c.nextDegas()).payload).toEqual(testBytes(9, 1));
    expect((await c.nextDegas()).payload).toEqual(testBytes(9, 2));
  }
  expect(ns[0]!.registry.snapshot().deliveriesSent).toBe(4); // 2 messages × 2 other nodes
  expect(ns[1]!.registry.snapshot().deliveriesReceived).toBe(2);
  expect(ns[2]!.registry.snapshot().deliveriesReceived).toBe(2);
  expect(errorsOn(link)).toEqual([]);
});

/** Two nodes, and the Degas link that node A dialed (for a probe client), recording its errors. */
async function twoNodesAndALinkFromA() {
  const [a, b] = [await startNode(), await startNode()];
  const link = await linkFrom(await loggedIn(a));
  recordErrors(link);
  return { a, b, link };
}

test('CLIENT_ERROR for an account held nowhere, and for one whose session on another node just ended', async () => {
  const { a, b, link } = await twoNodesAndALinkFromA();
  const nobody = account();
  link.send(encodeDegasToClient(nobody.id, testBytes(3)));
  await until(() => errorsOn(link).length === 1, 5000, 'CLIENT_ERROR for an unknown account');
  expect(errorsOn(link)[0]).toMatchObject({ code: ErrorCode.CLIENT_ERROR, accountId: nobody.id });

  const acc = account();
  const there = await loggedIn(b, acc);
  await seen(acc, b);
  link.send(encodeDegasToClient(acc.id, testBytes(4)));
  expect((await there.nextDegas()).payload).toEqual(testBytes(4));
  there.close();
  await there.closed();
  await until(
    () => a.registry.snapshot().deliveriesSent >= 1 && b.registry.local(idKey(acc.id)) === undefined,
    5000,
    'release',
  );
  // Whether node A has seen the release yet or not, the Degas gets CLIENT_ERROR (at once, or back from B).
  link.send(encodeDegasToClients([acc.id, nobody.id], testBytes(5)));
  await until(() => errorsOn(link).length === 3, 5000, 'two more CLIENT_ERRORs');
  const ids = errorsOn(link)
    .slice(1)
    .map((e) => idKey(e.accountId))
    .sort();
  expect(ids).toEqual([idKey(acc.id), idKey(nobody.id)].sort());
  expect(errorsOn(link).every((e) => e.code === ErrorCode.CLIENT_ERROR)).toBe(true);
});

test('a miss on the node the registry names comes back to the sending link as CLIENT_ERROR', async () => {
  const { a, b, link } = await twoNodesAndALinkFromA();
  const acc = account();
  const there = await loggedIn(b, acc);
  await seen(acc, b);
  // Node A routes the account to B (its view of the registry has the entry).
  link.send(encodeDegasToClient(acc.id, testBytes(2)));
  expect((await there.nextDegas()).payload).toEqual(testBytes(2));
  // Stop B's session from taking frames while the registry still names it (as in a close race).
  const held = b.registry.local(idKey(acc.id))!;
  const deliver = held.deliver;
  (held as { deliver: (f: Uint8Array) => boolean }).deliver = () => false;
  try {
    link.send(encodeDegasToClient(acc.id, testBytes(6)));
    await until(() => errorsOn(link).length === 1, 5000, 'CLIENT_ERROR from the other node');
  } finally {
    (held as { deliver: (f: Uint8Array) => boolean }).deliver = deliver;
  }
  expect(errorsOn(link)[0]).toMatchObject({ code: ErrorCode.CLIENT_ERROR, accountId: acc.id });
  expect(a.registry.snapshot().remoteMisses).toBe(1);
  expect(there.closedWith).toBeUndefined();
});

test('#100 two clusters on one NATS do not see each other', async () => {
  const a = await startNode('red');
  const b = await startNode('blue');
  const acc = account();
  const onA = await loggedIn(a, acc);
  const onB = await loggedIn(b, acc);
  // Same account in both clusters: neither replaces the other.
  const probe = await loggedIn(a);
  const link = await linkFrom(probe);
  link.send(encodeDegasToClient(acc.id, testBytes(8)));
  expect((await onA.nextDegas()).payload).toEqual(testBytes(8));
  expect(onA.closedWith).toBeUndefined();
  expect(onB.closedWith).toBeUndefined();
  expect(onB.messages.filter((m) => m.payload?.$case === 'degas')).toEqual([]);
  expect(a.registry.snapshot().liveNodes).toBe(1);
  expect(b.registry.snapshot().liveNodes).toBe(1);
});

test('/metrics shows the cluster gauges and counters', async () => {
  const [a] = [await startNode('metrics', 'alpha'), await startNode('metrics', 'beta')];
  await until(() => a!.registry.snapshot().liveNodes === 2, 5000, 'two live nodes');
  await loggedIn(a!);
  const text = renderMetrics(a!.gw.stats, a!.gw.snapshot());
  expect(text).toContain('degas_gateway_cluster_info{cluster="metrics",node="alpha"} 1');
  expect(text).toContain('degas_gateway_cluster_bus_connected 1');
  expect(text).toContain('degas_gateway_cluster_nodes 2');
  expect(text).toContain('degas_gateway_cluster_claims_total 1');
  expect(text).toMatch(/degas_gateway_cluster_registry_duration_seconds_count [1-9]/);
});

test('#99 hostile bus messages are dropped and counted, never delivered; the node keeps working', async () => {
  const [a, b] = [await startNode('hostile'), await startNode('hostile')];
  const probe = await loggedIn(a);
  const link = await linkFrom(probe);
  const acc = account();
  const there = await loggedIn(b, acc);
  await seen(acc, b);
  link.send(encodeDegasToClient(acc.id, testBytes(2)));
  expect((await there.nextDegas()).payload).toEqual(testBytes(2));
  const nc = await connect({ servers: nats.url });
  try {
    const inbox = `hostile.node.${b.registry.nodeId}`;
    const header = (kind: number, count: number) => {
      const h = new Uint8Array(19);
      h[0] = kind;
      h.set(degas.degasId, 1);
      h[17] = count >> 8;
      h[18] = count & 0xff;
      return h;
    };
    const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
    const hostile = [
      new Uint8Array(0),
      Uint8Array.of(0xd1),
      header(0xd1, 0), // no ids
      header(0xd1, 5000), // more ids than the limit, and than the bytes
      cat(header(0xd1, 1), acc.id), // no frame
      cat(header(0xd1, 1), acc.id, Uint8Array.of(0x0a, 0x02, 1, 2)), // not a degas frame
      cat(header(0xd1, 1), acc.id, Uint8Array.of(0x1a, 0x05, 1, 2)), // length beyond the bytes
      cat(Uint8Array.of(1), header(0xd1, 1).subarray(1), acc.id, Uint8Array.of(0x1a, 0x00)), // another version
      cat(header(0xd2, 1), acc.id, Uint8Array.of(0)), // a miss report with trailing bytes
      new Uint8Array(200_000),
    ];
    for (const m of hostile) nc.publish(inbox, m);
    for (const hb of ['', 'x', 'zz y', `${'a'.repeat(12)} ${'n'.repeat(300)}`, 'AAAAAAAAAAAA name']) {
      nc.publish('hostile.hb', new TextEncoder().encode(hb));
    }
    // A garbage KV value for the account: not an entry, so nobody is kicked.
    const kv = await new Kvm(nc).open('hostile_sessions');
    await kv.put(idKey(acc.id), 'garbage');
    await nc.flush();
    // Both nodes counted every hostile message (B's inbox; heartbeats on both).
    await until(() => (b.registry.snapshot().busDropped ?? 0) >= hostile.length + 5, 5000, 'B drops everything');
    await until(() => (a.registry.snapshot().busDropped ?? 0) >= 5, 5000, 'A drops the heartbeats');
  } finally {
    await nc.close();
  }
  // Nothing reached the client, the session survived, and cross-node delivery still works.
  link.send(encodeDegasToClient(acc.id, testBytes(3)));
  expect((await there.nextDegas()).payload).toEqual(testBytes(3));
  expect(there.closedWith).toBeUndefined();
  expect(a.registry.snapshot().liveNodes).toBe(2);
});
