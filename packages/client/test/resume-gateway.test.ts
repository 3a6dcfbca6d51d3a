/**
 * Resume tickets end to end: the client against the real gateway (in process) and a Degas built
 * with @degas/degas-sdk, with a signer that counts its signing requests.
 */
import { randomBytes } from 'node:crypto';
import { type DegasMessageEvent, DegasServer } from '@degas/degas-sdk';
import type { GatewayHandle } from '@degas/gateway';
import { idToHex, randomId } from '@degas/proto';
import { countingSigner, memoryAccounts, spawnGateway, startNatsServer, tempDir, testAccount } from '@degas/test-utils';
import { type ClientState, DegasClient } from '../src/node.js';
import { closeAfterEach, enc, startGatewayFor } from './fixtures.js';

const TOKEN = 'client-resume-test-token';
const degasId = randomId();
const KEY_A = Uint8Array.from(randomBytes(32));
const KEY_B = Uint8Array.from(randomBytes(32));

let degas: DegasServer;
const accounts = memoryAccounts();
const gateways: GatewayHandle[] = [];
const clients: DegasClient[] = [];
const seen: DegasMessageEvent[] = [];

async function gateway(key: Uint8Array, port = 0): Promise<GatewayHandle> {
  const gw = await startGatewayFor(degas, TOKEN, accounts, { port, resumeKeys: [key] });
  gateways.push(gw);
  return gw;
}

/** A player whose signer counts signing requests (a wallet's pop-ups). */
function player(n: number, gw: GatewayHandle) {
  const a = testAccount(n);
  accounts.set(a);
  const wallet = countingSigner(a.key);
  const client = new DegasClient({
    url: `ws://127.0.0.1:${gw.port}`,
    accountId: a.id,
    signer: wallet,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
  });
  clients.push(client);
  return { client, wallet, account: a };
}

/** Resolves when the client is connected again after having left `connected`. */
function reconnected(c: DegasClient): Promise<void> {
  return new Promise((resolve) => {
    let left = false;
    const on = (s: ClientState) => {
      if (s !== 'connected') left = true;
      else if (left) {
        c.off('state', on);
        resolve();
      }
    };
    c.on('state', on);
  });
}

function nextAtDegas(): Promise<DegasMessageEvent> {
  return new Promise((resolve) => degas.once('message', resolve));
}

beforeAll(async () => {
  degas = new DegasServer({ degasId, token: TOKEN, port: 0, host: '127.0.0.1' });
  degas.on('message', (m) => seen.push(m));
  await degas.listen();
});
closeAfterEach(clients, gateways);
afterAll(async () => {
  await degas.close();
});

test('a gateway restart (same key): the client comes back at once, resumed, without calling the signer', async () => {
  const gw1 = await gateway(KEY_A);
  const { client, wallet } = player(7001, gw1);
  await client.connect();
  expect(wallet.requests).toBe(1);
  expect(client.resumed).toBe(false);
  const first = client.sessionId;
  let at = nextAtDegas();
  client.send(degasId, enc.encode('a'));
  expect((await at).resumedFrom).toBe(0n);

  const back = reconnected(client);
  const port = gw1.port;
  await gw1.close(); // GOING_AWAY to the client
  await gateway(KEY_A, port);
  await back;
  expect(wallet.requests).toBe(1);
  expect(client.resumed).toBe(true);
  expect(client.sessionId).not.toBe(first);
  at = nextAtDegas();
  client.send(degasId, enc.encode('b'));
  const m = await at;
  expect(m.resumedFrom).toBe(first);
  expect(m.sessionId).toBe(client.sessionId);
});

test('a refused ticket (the gateway came back with another key): the client signs, transparently', async () => {
  const gw1 = await gateway(KEY_A);
  const { client, wallet } = player(7002, gw1);
  const closes: number[] = [];
  client.on('close', (e) => closes.push(e.code));
  await client.connect();
  const back = reconnected(client);
  const port = gw1.port;
  await gw1.close();
  await gateway(KEY_B, port);
  await back;
  expect(wallet.requests).toBe(2);
  expect(client.resumed).toBe(false);
  expect(closes[0]).toBe(1001);
});

test('a rolling restart of a cluster node: the client moves to the other node and resumes with zero signatures', async () => {
  const nats = await startNatsServer();
  const dir = await tempDir('degas-client-cluster-');
  const a = testAccount(7003);
  const accountsFile = await dir.writeAccounts('accounts.json', [a]);
  const key = Buffer.from(KEY_A).toString('hex');
  const node = (name: string) =>
    spawnGateway([
      '--accounts',
      accountsFile,
      '--degas',
      `${idToHex(degasId)}=ws://127.0.0.1:${degas.address()!.port}`,
      '--internal-token',
      TOKEN,
      '--nats',
      nats.url,
      '--cluster',
      `client${process.pid}`,
      '--node-name',
      name,
      '--resume-key',
      key,
      '--verifier-threads',
      '1',
    ]);
  const nodes = [await node('a'), await node('b')];
  try {
    const wallet = countingSigner(a.key);
    const urls = nodes.map((n) => `ws://127.0.0.1:${n.port}`);
    const client = new DegasClient({ url: urls, accountId: a.id, signer: wallet, reconnect: { initialDelayMs: 50 } });
    clients.push(client);
    await client.connect();
    expect(wallet.requests).toBe(1);
    const first = client.sessionId;
    let at = nextAtDegas();
    client.send(degasId, enc.encode('before'));
    await at;

    // The node the client is on goes away with SIGTERM (GOING_AWAY): the client moves on at once.
    const on = urls.indexOf(client.url);
    const back = reconnected(client);
    nodes[on]!.kill('SIGTERM');
    await back;
    expect(client.url).toBe(urls[1 - on]);
    expect(wallet.requests).toBe(1);
    expect(client.resumed).toBe(true);
    at = nextAtDegas();
    client.send(degasId, enc.encode('after'));
    const m = await at;
    expect(m.resumedFrom).toBe(first);
    expect((await nodes[on]!.exited()).code).toBe(0);
  } finally {
    for (const n of nodes) {
      n.kill('SIGKILL');
      await n.exited().catch(() => {});
    }
    await nats.stop();
    await dir.remove();
  }
}, 60_000);
