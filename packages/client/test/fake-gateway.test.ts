/**
 * The client over real sockets against a tiny scripted gateway (ws in the test), for the cases
 * the real gateway never produces: silence, garbage frames, text frames.
 */
import type { AddressInfo } from 'node:net';
import { createChallenge, generatePrivateKey, verifyLogin } from '@degas/auth-eth';
import { DecodeError, decodeClientMessage, encodeGatewayMessage, randomId } from '@degas/proto';
import { type WebSocket, WebSocketServer } from 'ws';
import { ConnectionError, DegasClient, TimeoutError } from '../src/node.js';

type Script = 'login' | 'silent';

const servers: WebSocketServer[] = [];
const clients: DegasClient[] = [];

/** A gateway stand-in: logs in anyone whose signature verifies, or says nothing. */
async function fakeGateway(script: Script) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 70_000 });
  servers.push(wss);
  await new Promise((r) => wss.once('listening', r));
  const sockets: WebSocket[] = [];
  const textFrames: unknown[] = [];
  let binaryFrames = 0;
  let onFrame = () => {};
  /** Resolves once `n` binary frames have arrived in total. */
  const binaryCount = (n: number) =>
    new Promise<void>((resolve) => {
      onFrame = () => {
        if (binaryFrames >= n) resolve();
      };
      onFrame();
    });
  wss.on('connection', (ws) => {
    sockets.push(ws);
    let fields: ReturnType<typeof createChallenge>['fields'] | undefined;
    let address = '';
    ws.on('message', (data, isBinary) => {
      if (!isBinary) textFrames.push(data);
      else binaryFrames++;
      onFrame();
      if (script === 'silent') return;
      const msg = decodeClientMessage(data as Buffer);
      if (msg.payload?.$case === 'hello') {
        address = msg.payload.value.signer?.value.address ?? '';
        const ch = createChallenge();
        fields = ch.fields;
        ws.send(
          encodeGatewayMessage({
            payload: {
              $case: 'authRequest',
              value: { request: { $case: 'ethereumAuth', value: { challenge: ch.json } } },
            },
          }),
        );
      } else if (msg.payload?.$case === 'ethAuth' && fields) {
        const ok = verifyLogin({ fields, signature: msg.payload.value.signature, address });
        if (!ok) return ws.close(4001);
        ws.send(encodeGatewayMessage({ payload: { $case: 'authOk', value: { accountId } } }));
      }
    });
  });
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, sockets, textFrames, binaryCount };
}

const accountId = randomId();
const key = generatePrivateKey();

function makeClient(url: string, extra: { connectTimeoutMs?: number } = {}) {
  const c = new DegasClient({ url, accountId, signer: key, ...extra });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(
    servers.splice(0).map(
      (wss) =>
        new Promise<void>((resolve) => {
          for (const ws of wss.clients) ws.terminate();
          wss.close(() => resolve());
        }),
    ),
  );
});

test('logs in over a real socket and only ever sends binary frames', async () => {
  const gw = await fakeGateway('login');
  const c = makeClient(gw.url);
  await c.connect();
  expect(c.state).toBe('connected');
  c.send(randomId(), new Uint8Array(0));
  c.send(randomId(), new Uint8Array(65536));
  await gw.binaryCount(4); // hello, eth_auth and the two messages
  expect(gw.textFrames).toEqual([]);
});

test('a refused connection rejects with ConnectionError carrying the cause', async () => {
  const gw = await fakeGateway('silent');
  const url = gw.url;
  await new Promise<void>((r) => servers.pop()!.close(() => r()));
  const c = makeClient(url);
  const err = await c.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectionError);
  expect((err as ConnectionError).closeCode).toBe(1006);
  expect((err as Error).message).toMatch(/ECONNREFUSED/);
  expect(c.state).toBe('closed');
});

test('a gateway that never answers hello times out with TimeoutError', async () => {
  const gw = await fakeGateway('silent');
  const c = makeClient(gw.url, { connectTimeoutMs: 300 });
  const closed = new Promise<void>((resolve) => gw.wss.once('connection', (ws) => ws.once('close', () => resolve())));
  await expect(c.connect()).rejects.toBeInstanceOf(TimeoutError);
  await closed; // the client closed its socket
  expect(c.state).toBe('closed');
});

test('undecodable and text frames after login are reported as error events; the connection stays', async () => {
  const gw = await fakeGateway('login');
  const c = makeClient(gw.url);
  await c.connect();
  const errors: Error[] = [];
  const two = new Promise<void>((resolve) =>
    c.on('error', (e) => {
      errors.push(e);
      if (errors.length === 2) resolve();
    }),
  );
  gw.sockets[0]!.send(Uint8Array.of(0xff, 0xff));
  gw.sockets[0]!.send('text');
  await two;
  expect(errors[0]).toBeInstanceOf(DecodeError);
  expect(errors[1]).toMatchObject({ code: 'PROTOCOL_ERROR' });
  expect(c.state).toBe('connected');
});

test('closing the client closes the socket with 1000', async () => {
  const gw = await fakeGateway('login');
  const c = makeClient(gw.url);
  await c.connect();
  const closed = new Promise<number>((r) => gw.sockets[0]!.once('close', (code) => r(code)));
  c.close();
  expect(await closed).toBe(1000);
});
