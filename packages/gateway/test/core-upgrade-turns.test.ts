// gateway.ts completes at most 16 WebSocket upgrades per event-loop turn and queues the rest:
// a burst larger than that must still complete in full and in order, and a shutdown that starts
// while upgrades are queued must answer every one of them.
import { CloseCode, ErrorCode } from '@degas/proto';
import { startTestGateway, type TestGateway, until, type WsTestClient } from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';

let env: TestGateway<GatewayHandle>;
afterEach(async () => {
  await env?.close();
});

const BURST = 80;

test(`a burst of ${BURST} upgrades in one turn: every one completes and reaches AuthState`, async () => {
  env = await startTestGateway(startGateway, { maxPendingPerIp: 1000, handshakeRate: 0 });
  const clients = Array.from({ length: BURST }, () => env.client());
  await Promise.all(clients.map((c) => c.opened));
  await until(() => env.gateway.snapshot().connectionsAuth === BURST, 5000, 'all connections in AuthState');
  expect(env.gateway.stats.connectionsOpened).toBe(BURST);
  // Each queued connection runs its own hello deadline and state machine: a bad first frame
  // still gets AUTH_FAIL + 4001 on every one of them.
  for (const c of clients) c.send(new Uint8Array([0xff]));
  const closes = await Promise.all(clients.map((c) => c.closed()));
  for (const closed of closes) expect(closed.code).toBe(CloseCode.AUTH_FAILED);
});

test('a shutdown while upgrades are queued answers every client (GOING_AWAY + 1001, or 503)', async () => {
  env = await startTestGateway(startGateway, { maxPendingPerIp: 1000, handshakeRate: 0 });
  const clients: WsTestClient[] = Array.from({ length: BURST }, () => env.client());
  // Close as soon as the first upgrades are through: the rest are queued, in flight or refused.
  await until(() => env.gateway.stats.connectionsOpened > 0, 5000, 'first upgrade');
  const closing = env.gateway.close();
  const outcomes = await Promise.all(
    clients.map(async (c) => {
      const opened = await c.opened.then(
        () => true,
        () => false,
      );
      // Refused ones (503, or connection refused once the listener closed) never opened.
      const closed = opened ? await c.closed() : undefined;
      return { opened, closed };
    }),
  );
  await closing;
  for (const { opened, closed } of outcomes) {
    if (opened) expect(closed?.code).toBe(CloseCode.GOING_AWAY);
  }
  // Every opened connection was told why before the 1001 (PROTOCOL.md 6).
  for (const c of clients) {
    if (c.closedWith?.code === CloseCode.GOING_AWAY) {
      expect(c.messages.map((m) => (m.payload?.$case === 'error' ? m.payload.value.code : -1))).toEqual([
        ErrorCode.GOING_AWAY,
      ]);
    }
  }
  expect(outcomes.some((o) => o.opened)).toBe(true);
});
