import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode } from '@degas/proto';
import {
  degasFrame,
  memoryAccounts,
  memoryDegasDirectory,
  startTestGateway,
  type TestGateway,
  testBytes,
  until,
  upgradeStatus,
  WsTestClient,
} from '@degas/test-utils';
import WebSocket from 'ws';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { createLogger } from '../src/logger.js';

let env: TestGateway<GatewayHandle> | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

test('graceful close: GOING_AWAY + 1001 in both states, session_closed to the Degas, 503 for new upgrades; idempotent', async () => {
  env = await startTestGateway(startGateway);
  const degas = await env.startDegas();
  const { client: fwd } = await env.loggedIn();
  fwd.send(degasFrame(degas.degasId, testBytes(1)));
  await degas.waitUntil((r) => r.length === 1);
  const auth = await env.connect();
  auth.hello(env.account());
  await auth.authRequest();
  const linkClosed = new Promise<number>((resolve) => [...degas.links][0]!.once('close', (c) => resolve(c)));
  const closing = env.gateway.close();
  const again = env.gateway.close();
  for (const c of [fwd, auth]) {
    const e = await c.nextError();
    expect(e.code).toBe(ErrorCode.GOING_AWAY);
    expect((await c.closed()).code).toBe(1001);
  }
  await closing;
  await again;
  expect(degas.sessionClosed()).toHaveLength(1);
  expect(await linkClosed).toBe(1001);
  expect(env.gateway.stats.authFailures.shutdown).toBe(1);
  // the listener is gone: new connections are refused
  await expect(upgradeStatus(env.url)).rejects.toThrow();
});

test('shutdown is bounded: clients that never answer the close are destroyed', async () => {
  env = await startTestGateway(startGateway, { shutdownTimeoutMs: 300, closeTimeoutMs: 10_000 });
  const { client } = await env.loggedIn();
  (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const t0 = Date.now();
  await env.gateway.close();
  expect(Date.now() - t0).toBeLessThan(2000);
});

test('upgrade guard: foreign Origin → 403, per-IP pending cap → 429, maxConnections → 503', async () => {
  env = await startTestGateway(startGateway, {
    allowedOrigins: ['https://game.example'],
    maxPendingPerIp: 2,
    maxConnections: 3,
  });
  expect(await upgradeStatus(env.url, { Origin: 'https://evil.example' })).toBe(403);
  expect(env.gateway.stats.upgradesRejected.origin).toBe(1);
  const a = env.client({ headers: { Origin: 'https://game.example' } });
  const b = env.client(); // no Origin: non-browser, accepted
  await Promise.all([a.opened, b.opened]);
  expect(await upgradeStatus(env.url)).toBe(429);
  // authenticating frees the per-IP slot
  await a.login(env.account()).catch(() => {});
  await env.connect();
  expect(await upgradeStatus(env.url)).toBe(503);
  expect(env.gateway.stats.upgradesRejected.per_ip).toBe(1);
  expect(env.gateway.stats.upgradesRejected.capacity).toBe(1);
});

test('plain HTTP request on the WebSocket port → 426; permessage-deflate is never negotiated', async () => {
  env = await startTestGateway(startGateway);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`http://127.0.0.1:${env!.gateway.port}/`, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  expect(status).toBe(426);
  const ws = new WebSocket(env.url, { perMessageDeflate: true });
  ws.on('error', () => {});
  const ext = await new Promise<string | undefined>((resolve) => {
    ws.once('upgrade', (res) => resolve(res.headers['sec-websocket-extensions'] as string | undefined));
  });
  expect(ext).toBeUndefined();
  ws.terminate();
});

test('server mode and noServer mode', async () => {
  const accounts = memoryAccounts();
  const degas = memoryDegasDirectory();
  const http = createServer((_req, res) => res.end('app'));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  const port = (http.address() as AddressInfo).port;
  const gw = await startGateway({ server: http, adminPort: false, accounts, degas, verifierThreads: 1 });
  const c = WsTestClient.open(`ws://127.0.0.1:${port}`);
  await c.opened;
  c.send('x');
  expect((await c.closed()).code).toBe(1003);
  await gw.close();
  // noServer: the embedder routes upgrades
  const gw2 = await startGateway({ noServer: true, adminPort: false, accounts, degas, verifierThreads: 1 });
  http.on('upgrade', (req, socket, head) => {
    if (req.url === '/ws') gw2.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  const d = WsTestClient.open(`ws://127.0.0.1:${port}/ws`);
  await d.opened;
  d.send(new Uint8Array(0));
  expect((await d.nextError()).code).toBe(ErrorCode.AUTH_FAIL);
  expect((await d.closed()).code).toBe(4001);
  await gw2.close();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

test('admin server is started with the gateway and closed with it', async () => {
  env = await startTestGateway(startGateway, { adminPort: 0, adminHost: '127.0.0.1' });
  const port = env.gateway.adminPort;
  expect(typeof port).toBe('number');
  const body = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  expect(body.length).toBeGreaterThan(0);
  expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
});

test('the admin server listens on 127.0.0.1 by default, whatever the client host', async () => {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', write: (line) => records.push(JSON.parse(line)) });
  env = await startTestGateway(startGateway, { host: '0.0.0.0', adminPort: 0, logger });
  // The client port follows --host (reachable on another loopback address) ...
  const client = WsTestClient.open(`ws://127.0.0.2:${env.gateway.port}`);
  await client.opened;
  client.close();
  // ... the admin port does not: 127.0.0.1 only.
  expect((await fetch(`http://127.0.0.1:${env.gateway.adminPort}/healthz`)).status).toBe(200);
  const elsewhere = await fetch(`http://127.0.0.2:${env.gateway.adminPort}/healthz`).then(
    (res) => res.status,
    (err: { cause?: { code?: string } }) => err.cause?.code,
  );
  expect(elsewhere).toBe('ECONNREFUSED');
  expect(records.filter((r) => r.level === 'warn')).toEqual([]);
});

test('adminHost moves the admin server; on a wildcard address without a token it warns', async () => {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', write: (line) => records.push(JSON.parse(line)) });
  env = await startTestGateway(startGateway, { adminPort: 0, adminHost: '0.0.0.0', logger });
  expect((await fetch(`http://127.0.0.2:${env.gateway.adminPort}/healthz`)).status).toBe(200);
  const warnings = records.filter((r) => r.level === 'warn');
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({ address: '0.0.0.0', port: env.gateway.adminPort });
  expect(warnings[0]!.msg).toMatch(/no --admin-token/);
  // Writes are refused without a token.
  const put = await fetch(`http://127.0.0.2:${env.gateway.adminPort}/v1/degas/0x0000000000000000000000000000aaaa`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: 'ws://attacker.example:7000' }),
  });
  expect(put.status).toBe(403);
});

test('options are validated with precise errors', async () => {
  const accounts = memoryAccounts();
  const degas = memoryDegasDirectory();
  await expect(startGateway({ accounts, degas, port: -1 })).rejects.toThrow(RangeError);
  await expect(startGateway({ accounts, degas, rateLimit: 1.5 })).rejects.toThrow(TypeError);
  await expect(startGateway({ accounts: {} as never, degas })).rejects.toThrow(TypeError);
  await expect(startGateway({ accounts, degas, verifier: 'fast' as never })).rejects.toThrow(RangeError);
});

test('snapshot counts connections by state and reports the verifier', async () => {
  env = await startTestGateway(startGateway);
  await env.loggedIn();
  await env.connect();
  await until(() => env!.gateway.snapshot().connectionsAuth === 1, 5000, 'auth connection');
  const snap = env.gateway.snapshot();
  expect(snap.connectionsForward).toBe(1);
  expect(['native', 'noble']).toContain(snap.verifier);
  expect(snap.draining).toBe(false);
  expect(env.gateway.masking).toBe('bufferutil');
});
