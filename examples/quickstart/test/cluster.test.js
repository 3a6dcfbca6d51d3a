// The quick start as a cluster: `node start.mjs --nodes 3 --bots 3` runs nats-server and three
// gateway nodes joined through it. Two players log in on different nodes and see each other (and
// the bots, spread over all three nodes) move; a node killed does not stop the others; Ctrl-C
// stops every process, nats-server included.
import { DegasClient, generatePrivateKey, privateKeyToAddress } from '@degas/client/node';
import { encodeGoto, encodeJoin } from '../board.mjs';
import { nextState, startQuickstart } from './harness.js';

let qs;
const clients = [];

beforeAll(async () => {
  qs = await startQuickstart(['--nodes', '3', '--bots', '3']);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await qs?.cleanup();
});

async function player(webUrl, gatewayUrl) {
  const key = generatePrivateKey();
  const res = await fetch(new URL('/api/throwaway-account', webUrl), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ address: privateKeyToAddress(key) }),
  });
  expect(res.status).toBe(200);
  const { accountId } = await res.json();
  const c = new DegasClient({ url: gatewayUrl, accountId, signer: key });
  clients.push(c);
  await c.connect();
  return c;
}

const at = (c, x, y) => (s) => s.players.some((p) => p.id === c.accountIdHex && p.x === x && p.y === y);

test('--nodes 3: players on different nodes play together; a lost node leaves the others running; Ctrl-C stops all', async () => {
  const [, webUrl] = await qs.waitForOutput(/Open (http:\/\/\S+) in a browser/, 45_000);
  expect(qs.output()).toMatch(/NATS {6}nats:\/\/127\.0\.0\.1:\d+/);

  // The page gets every node and lets the client pick one at random.
  const config = await (await fetch(new URL('/config.json', webUrl))).json();
  expect(config.gatewayPorts).toHaveLength(3);
  expect(new Set(config.gatewayPorts).size).toBe(3);
  const urls = config.gatewayPorts.map((port) => `ws://127.0.0.1:${port}`);

  // One bot per node.
  const bots = await Promise.all(
    [1, 2, 3].map((n) => qs.waitForOutput(new RegExp(`\\[bots\\] bot${n} connected to (\\S+)`), 30_000)),
  );
  await qs.waitForOutput(/\[bots\] 3 bots spread over 3 gateway nodes/, 30_000);
  expect(bots.map((m) => m[1]).sort()).toEqual([...urls].sort());

  // Two players on two different nodes.
  const a = await player(webUrl, urls[0]);
  const b = await player(webUrl, urls[1]);
  expect(a.url).not.toBe(b.url);
  const everyone = (s) => s.players.length >= 5 && [a, b].every((c) => s.players.some((p) => p.id === c.accountIdHex));
  const aSeesAll = nextState(a, everyone, 15_000, 'both players and the 3 bots');
  const bSeesAll = nextState(b, everyone, 15_000, 'both players and the 3 bots');
  a.send(config.degasId, encodeJoin());
  b.send(config.degasId, encodeJoin());
  const [first] = await Promise.all([aSeesAll, bSeesAll]);
  expect(first.players).toHaveLength(5);

  // Each sees the other's move, across nodes.
  const aSeesB = nextState(a, at(b, 5, 6), 10_000, 'the other player at (5, 6)');
  b.send(config.degasId, encodeGoto(5, 6));
  await aSeesB;
  const bSeesA = nextState(b, at(a, 7, 8), 10_000, 'the other player at (7, 8)');
  a.send(config.degasId, encodeGoto(7, 8));
  await bSeesA;

  // A player with the page's URL list lands on one of the nodes and sees the others too.
  const c = await player(webUrl, urls);
  expect(urls).toContain(c.url);
  const cSeesA = nextState(c, at(a, 7, 8), 10_000, 'the first player at (7, 8)');
  c.send(config.degasId, encodeJoin());
  await cSeesA;

  // Node 2 dies: the quick start keeps the cluster running, and the board drops node 2's player
  // (the Degas SDK ends the sessions of a lost gateway connection) for the players elsewhere.
  const [, pid] = await qs.waitForOutput(/\[node-2\] listening .*pid=(\d+)/, 1000);
  const withoutB = nextState(
    a,
    (s) => !s.players.some((p) => p.id === b.accountIdHex) && s.players.some((p) => p.id === a.accountIdHex),
    10_000,
    'the player of the lost node gone',
  );
  process.kill(Number(pid), 'SIGKILL');
  await qs.waitForOutput(/node-2 exited .*2 node\(s\) keep running/, 10_000);
  await withoutB;
  for (const x of clients) x.close();

  // Ctrl-C: Degas, nats-server, the two remaining nodes and the bots are all gone, and it exits 0.
  await qs.stopAndCheck(5);
}, 120_000);
