// The quick start, for real: `node start.mjs --bots 2` on OS-chosen ports, then what a user does —
// open the page, get a throwaway account, log in, see the other players (the bots) move — and
// Ctrl-C, which must stop every process it started and exit 0.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DegasClient, generatePrivateKey, privateKeyToAddress } from '@degas/client/node';
import { encodeGoto, encodeJoin } from '../board.mjs';
import { nextState, startQuickstart } from './harness.js';

let qs;
let client;

beforeAll(async () => {
  qs = await startQuickstart(['--bots', '2']);
});

afterAll(async () => {
  client?.close();
  await qs?.cleanup();
});

test('start.mjs serves the page, creates throwaway accounts with the gateway bin, shows the bots, and stops cleanly', async () => {
  const [, url] = await qs.waitForOutput(/Open (http:\/\/\S+) in a browser/, 20_000);

  // The page and its bundle.
  const page = await fetch(url);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('<canvas id="board"');
  expect(html).toContain('src="/dist/bundle.js"');
  const bundle = await fetch(new URL('/dist/bundle.js', url));
  expect(bundle.status).toBe(200);
  expect(bundle.headers.get('content-type')).toMatch(/javascript/);
  expect(await bundle.text()).toContain('DegasClient');
  const config = await (await fetch(new URL('/config.json', url))).json();
  expect(config.degasId).toMatch(/^0x[0-9a-f]{32}$/);
  expect(config.gatewayPort).toEqual(expect.any(Number));
  expect(config.gatewayPorts).toEqual([config.gatewayPort]); // one node: no NATS
  expect(qs.output()).not.toContain('[nats]');

  // The throwaway-account API validates the address…
  const api = new URL('/api/throwaway-account', url);
  const post = (body, headers = { 'Content-Type': 'application/json' }) =>
    fetch(api, { method: 'POST', headers, body: JSON.stringify(body) });
  expect((await post({ address: 'not an address' })).status).toBe(400);
  expect((await post({ address: '0x2C7536E3605D9C16a7a3D7b1898e529396a65c23' })).status).toBe(400); // bad EIP-55
  expect((await post({ address: '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23' }, {})).status).toBe(415);
  const crossOrigin = await post(
    { address: '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23' },
    { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
  );
  expect(crossOrigin.status).toBe(403);

  // …and creates the account through `degas-gateway accounts add`, into the run's accounts file.
  const key = generatePrivateKey();
  const address = privateKeyToAddress(key);
  const created = await post({ address });
  expect(created.status).toBe(200);
  const { accountId } = await created.json();
  expect(accountId).toMatch(/^0x[0-9a-f]{32}$/);
  const file = JSON.parse(readFileSync(join(qs.runDir, 'accounts.json'), 'utf8'));
  expect(file.accounts).toContainEqual({
    id: accountId,
    signers: [{ type: 'ethereum', address: address.toLowerCase(), disabled: false }],
  });

  // Log in with the throwaway key and join the board: the state lists us and the 2 bots.
  client = new DegasClient({ url: `ws://127.0.0.1:${config.gatewayPort}`, accountId, signer: key });
  await client.connect();
  const withBots = nextState(
    client,
    (s) => s.players.some((p) => p.id === accountId) && s.players.length >= 3,
    15_000,
    'us and both bots',
  );
  client.send(config.degasId, encodeJoin());
  const first = await withBots;
  expect(first.players).toHaveLength(3);
  const bots = first.players.filter((p) => p.id !== accountId);

  // The bots wander: a later state has one of them somewhere else.
  const moved = await nextState(
    client,
    (s) => bots.some((b) => s.players.some((p) => p.id === b.id && (p.x !== b.x || p.y !== b.y))),
    10_000,
    'a bot that moved',
  );
  expect(moved.players.length).toBeGreaterThanOrEqual(3);

  // Our own move goes through the Degas and comes back in the fan-out.
  const atTarget = nextState(
    client,
    (s) => s.players.some((p) => p.id === accountId && p.x === 3 && p.y === 4),
    5000,
    'us at (3, 4)',
  );
  client.send(config.degasId, encodeGoto(3, 4));
  await atTarget;
  client.close();

  // Ctrl-C: every process start.mjs started (Degas, gateway, bots) is gone, and it exits 0.
  await qs.stopAndCheck(3);
}, 60_000);
