/** `resumedFrom` (PROTOCOL.md 4.5) and presence across a drop and a resume, against a scripted gateway. */
import { idToHex, randomId } from '@degas/proto';
import { DegasServer } from '../src/index.js';
import { FakeGateway, next } from './helpers.js';

const TOKEN = 'internal-secret-token';
const degasId = randomId();
const enc = new TextEncoder();

let degas: DegasServer;
const gateways: FakeGateway[] = [];

beforeEach(async () => {
  degas = new DegasServer({ degasId, token: TOKEN, port: 0, host: '127.0.0.1' });
  await degas.listen();
});
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  await degas.close();
});

async function gateway(): Promise<FakeGateway> {
  const url = `ws://127.0.0.1:${degas.address()!.port}`;
  const gw = await FakeGateway.connect(url, { authorization: `Bearer ${TOKEN}`, 'degas-id': idToHex(degasId) });
  gateways.push(gw);
  return gw;
}

test('resumedFrom is surfaced with the message that carries it, 0n otherwise; presence follows the sessions', async () => {
  const gw = await gateway();
  const player = randomId();
  let m = next(degas, 'message');
  gw.forward(player, 1n, enc.encode('join'));
  expect(await m).toMatchObject({ sessionId: 1n, resumedFrom: 0n });

  // The drop: the old session's notice ends presence.
  const closed = next(degas, 'sessionClosed');
  gw.sessionClosed(player, 1n);
  expect(await closed).toMatchObject({ sessionId: 1n, stale: false, reason: 'notice' });
  expect(degas.isPresent(player)).toBe(false);

  // The resume: a new session whose first message names the old one.
  m = next(degas, 'message');
  gw.forward(player, 2n, enc.encode('move'), 1n);
  expect(await m).toMatchObject({ sessionId: 2n, resumedFrom: 1n, accountIdHex: idToHex(player) });
  expect(degas.isPresent(player)).toBe(true);
  expect(degas.sessionOf(player)).toBe(2n);
  m = next(degas, 'message');
  gw.forward(player, 2n, enc.encode('move again'));
  expect(await m).toMatchObject({ sessionId: 2n, resumedFrom: 0n });
});

test('across two gateway nodes, the old session’s late notice is stale and keeps the resumed player present', async () => {
  const gw1 = await gateway();
  const gw2 = await gateway();
  const player = randomId();
  let m = next(degas, 'message');
  gw1.forward(player, 7n, enc.encode('a'));
  await m;
  m = next(degas, 'message');
  gw2.forward(player, 8n, enc.encode('b'), 7n);
  expect(await m).toMatchObject({ sessionId: 8n, resumedFrom: 7n });
  const closed = next(degas, 'sessionClosed');
  gw1.sessionClosed(player, 7n);
  expect(await closed).toMatchObject({ sessionId: 7n, stale: true });
  expect(degas.isPresent(player)).toBe(true);
});
