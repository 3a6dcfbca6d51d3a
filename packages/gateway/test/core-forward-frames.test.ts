/**
 * Forward frames (client → Degas) from 4 KiB on are written into one reused buffer: each must be
 * copied before the next overwrites it — by `ws` while masking on an open link, by the link's
 * queue while it dials. Bursts of large, distinct payloads, sent back to back so that the gateway
 * handles many in one turn, must reach the Degas intact and in order on both paths.
 */
import { createHash, randomBytes } from 'node:crypto';
import { degasFrame, startTestGateway, type TestGateway } from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';

let env: TestGateway<GatewayHandle>;
afterEach(async () => {
  await env?.close();
});

const SIZES = [4096, 5000, 16_384, 40_000, 65_536, 3000, 100];

function burst(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => randomBytes(SIZES[i % SIZES.length] as number));
}

/** Length and SHA-256 of each payload (a deep equality of megabytes of buffers takes seconds). */
function digests(payloads: readonly Uint8Array[]): string[] {
  return payloads.map((p) => `${p.length}:${createHash('sha256').update(p).digest('hex')}`);
}

test('bursts of large payloads reach the Degas intact and in order, queued while dialing and then on the open link', async () => {
  env = await startTestGateway(startGateway, { rateLimit: 0, degasQueueLimit: 16 * 1024 * 1024 });
  const degas = await env.startDegas();
  const { client, account } = await env.loggedIn();
  const received = () => digests(degas.clientMessages(account.id).map((m) => m.payload));

  // The link to this Degas is dialed on the first message: the first burst waits in its queue.
  const first = burst(35);
  for (const p of first) client.send(degasFrame(degas.degasId, p));
  await degas.waitUntil(() => degas.clientMessages(account.id).length === first.length, 10_000);
  expect(received()).toEqual(digests(first));

  // Now open: each frame goes straight to ws.
  const second = burst(35);
  for (const p of second) client.send(degasFrame(degas.degasId, p));
  await degas.waitUntil(() => degas.clientMessages(account.id).length === first.length + second.length, 10_000);
  expect(received()).toEqual(digests([...first, ...second]));
  expect(client.closedWith).toBeUndefined();
});
