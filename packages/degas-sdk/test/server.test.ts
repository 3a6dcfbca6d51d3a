import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DecodeError,
  DegasError,
  decodeDegasMessage,
  ErrorCode,
  InvalidIdError,
  idKey,
  idToHex,
  Limits,
  randomId,
} from '@degas/proto';
import { upgradeStatus } from '@degas/test-utils';
import { jest } from '@jest/globals';
import { WebSocket } from 'ws';
import { DegasServer, type DegasServerOptions } from '../src/index.js';
import { collect, FakeGateway, next } from './helpers.js';

const TOKEN = 'internal-secret-token';
const degasId = randomId();
const degasIdHex = idToHex(degasId);
const enc = new TextEncoder();
const dec = new TextDecoder();

const servers: DegasServer[] = [];
const gateways: FakeGateway[] = [];

async function start(extra: Partial<DegasServerOptions> = {}): Promise<{ degas: DegasServer; url: string }> {
  const degas = new DegasServer({ degasId, token: TOKEN, port: 0, host: '127.0.0.1', ...extra });
  servers.push(degas);
  const { port } = await degas.listen();
  return { degas, url: `ws://127.0.0.1:${port}` };
}

async function gateway(url: string, headers: Record<string, string> = {}): Promise<FakeGateway> {
  const gw = await FakeGateway.connect(url, { authorization: `Bearer ${TOKEN}`, 'degas-id': degasIdHex, ...headers });
  gateways.push(gw);
  return gw;
}

/** A DegasServer with two gateway connections. */
async function startWithTwoGateways(): Promise<{ degas: DegasServer; gw1: FakeGateway; gw2: FakeGateway }> {
  const { degas, url } = await start();
  return { degas, gw1: await gateway(url), gw2: await gateway(url) };
}

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('options', () => {
  const base = { degasId, port: 0 } as DegasServerOptions;
  test.each<[string, unknown, ErrorConstructor, RegExp]>([
    ['no options', undefined, TypeError, /options must be an object/],
    ['short id', { ...base, degasId: new Uint8Array(15) }, TypeError, /degasId/],
    ['bad hex id', { ...base, degasId: '0x1234' }, TypeError, /degasId/],
    ['empty token', { ...base, token: '' }, TypeError, /token/],
    ['token with space', { ...base, token: 'a b' }, TypeError, /token/],
    ['no mode', { degasId }, TypeError, /exactly one/],
    ['two modes', { ...base, noServer: true }, TypeError, /exactly one/],
    ['fractional port', { ...base, port: 1.5 }, TypeError, /port/],
    ['port too big', { ...base, port: 70_000 }, RangeError, /port/],
    ['host without port', { degasId, noServer: true, host: 'x' }, TypeError, /host/],
    ['relative path', { ...base, path: 'degas' }, TypeError, /path/],
    ['tiny maxPayload', { ...base, maxPayload: 1000 }, RangeError, /maxPayload/],
    ['string sendBufferLimit', { ...base, sendBufferLimit: '1' }, TypeError, /sendBufferLimit/],
    ['negative ping', { ...base, pingIntervalMs: -1 }, RangeError, /pingIntervalMs/],
    ['bad broadcastUnrouted', { ...base, broadcastUnrouted: 1 }, TypeError, /broadcastUnrouted/],
  ])('rejects %s', (_name, options, type, message) => {
    expect(() => new DegasServer(options as DegasServerOptions)).toThrow(type);
    expect(() => new DegasServer(options as DegasServerOptions)).toThrow(message);
  });

  test('accepts a hex id in either case and exposes it in lowercase', () => {
    const degas = new DegasServer({ degasId: degasIdHex.toUpperCase().replace('0X', '0x'), noServer: true });
    expect(degas.degasIdHex).toBe(degasIdHex);
    expect(degas.address()).toBeNull();
  });
});

describe('upgrade checks', () => {
  test('refuses a missing or wrong token with 401 and a wrong or missing Degas-Id with 403', async () => {
    const { degas, url } = await start();
    const rejected = collect(degas, 'upgradeRejected', 5);
    expect(await upgradeStatus(url, { 'degas-id': degasIdHex })).toBe(401);
    expect(await upgradeStatus(url, { authorization: 'Bearer nope', 'degas-id': degasIdHex })).toBe(401);
    expect(await upgradeStatus(url, { authorization: `Basic ${TOKEN}`, 'degas-id': degasIdHex })).toBe(401);
    expect(await upgradeStatus(url, { authorization: `Bearer ${TOKEN}`, 'degas-id': idToHex(randomId()) })).toBe(403);
    expect(await upgradeStatus(url, { authorization: `Bearer ${TOKEN}` })).toBe(403);
    expect((await rejected).map((e) => [e.status, e.reason])).toEqual([
      [401, 'missing bearer token'],
      [401, 'wrong token'],
      [401, 'missing bearer token'],
      [403, 'Degas-Id is not this Degas'],
      [403, 'missing or malformed Degas-Id header'],
    ]);
    expect(degas.gateways).toHaveLength(0);
  });

  test('accepts the right token and id (id in upper case too) and reports the connection', async () => {
    const { degas, url } = await start();
    const connected = next(degas, 'gatewayConnected');
    await gateway(url, { 'degas-id': `0x${degasIdHex.slice(2).toUpperCase()}` });
    const gw = await connected;
    expect(gw.id).toBe(1);
    expect(gw.open).toBe(true);
    expect(gw.remoteAddress).toBe('127.0.0.1');
    expect(degas.gateways).toEqual([gw]);
  });

  test('without a configured token only the Degas-Id is checked', async () => {
    const degas = new DegasServer({ degasId, port: 0, host: '127.0.0.1' });
    servers.push(degas);
    const { port } = await degas.listen();
    expect(await upgradeStatus(`ws://127.0.0.1:${port}`, { 'degas-id': degasIdHex })).toBe(101);
    expect(await upgradeStatus(`ws://127.0.0.1:${port}`, {})).toBe(403);
  });

  test('plain HTTP requests get 426', async () => {
    const { url } = await start();
    const res = await fetch(url.replace('ws:', 'http:'));
    expect(res.status).toBe(426);
    await res.text();
  });

  test('attaches to an existing HTTP server on a path; other paths are left to other listeners', async () => {
    const http: Server = createServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const { port } = http.address() as AddressInfo;
    try {
      const degas = new DegasServer({ degasId, token: TOKEN, server: http, path: '/degas' });
      servers.push(degas);
      expect(degas.address()?.port).toBe(port);
      const headers = { authorization: `Bearer ${TOKEN}`, 'degas-id': degasIdHex };
      expect(await upgradeStatus(`ws://127.0.0.1:${port}/other`, headers)).toBe(404);
      expect(await upgradeStatus(`ws://127.0.0.1:${port}/degas?x=1`, headers)).toBe(101);
      await degas.close();
      // After close the listener is gone and the HTTP server still serves.
      expect(http.listenerCount('upgrade')).toBe(0);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('hello');
    } finally {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    }
  });

  test('noServer mode: the embedder routes upgrades to handleUpgrade', async () => {
    const degas = new DegasServer({ degasId, token: TOKEN, noServer: true });
    servers.push(degas);
    const http = createServer();
    http.on('upgrade', (req, socket, head) => degas.handleUpgrade(req, socket, head));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const { port } = http.address() as AddressInfo;
    try {
      const gw = await gateway(`ws://127.0.0.1:${port}`);
      const got = next(degas, 'message');
      const account = randomId();
      gw.forward(account, 7n, enc.encode('hi'));
      expect(dec.decode((await got).payload)).toBe('hi');
      expect(await upgradeStatus(`ws://127.0.0.1:${port}`, { 'degas-id': degasIdHex })).toBe(401);
    } finally {
      await Promise.all(gateways.splice(0).map((g) => g.close()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    }
  });
});

test('after close() an upgrade handed over in noServer mode gets 503', async () => {
  const degas = new DegasServer({ degasId, noServer: true });
  const http = createServer();
  http.on('upgrade', (req, socket, head) => degas.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  try {
    await degas.close();
    expect(await upgradeStatus(`ws://127.0.0.1:${port}`, { 'degas-id': degasIdHex })).toBe(503);
  } finally {
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  }
});

describe('messages', () => {
  test('delivers client messages and replies to the gateway they came from', async () => {
    const { degas, gw1, gw2 } = await startWithTwoGateways();
    const alice = randomId();
    const got = next(degas, 'message');
    gw2.forward(alice, 42n, enc.encode('move 1 2'));
    const m = await got;
    expect(m.accountId).toEqual(alice);
    expect(m.accountIdHex).toBe(idToHex(alice));
    expect(m.sessionId).toBe(42n);
    expect(dec.decode(m.payload)).toBe('move 1 2');
    expect(m.gateway).toBe(degas.gateways[1]);
    expect(degas.isPresent(alice)).toBe(true);
    expect(degas.sessionOf(idToHex(alice))).toBe(42n);

    expect(degas.send(alice, enc.encode('ok'))).toBe(true);
    const [frame] = await gw2.frameCount(1);
    const msg = decodeDegasMessage(frame!);
    expect(msg.payload?.$case).toBe('degasToClient');
    if (msg.payload?.$case !== 'degasToClient') throw new Error('unreachable');
    expect(msg.payload.value.accountId).toEqual(alice);
    expect(dec.decode(msg.payload.value.payload)).toBe('ok');

    // An unrouted account goes to one gateway only (the oldest) by default.
    const bob = randomId();
    expect(degas.send(bob, enc.encode('hi bob'))).toBe(true);
    const [toBob] = await gw1.frameCount(1);
    expect(decodeDegasMessage(toBob!).payload?.value).toMatchObject({ accountId: bob });
    expect(gw2.frames).toHaveLength(1);
  });

  test('broadcastUnrouted sends unrouted messages to every gateway', async () => {
    const { degas, url } = await start({ broadcastUnrouted: true });
    const gw1 = await gateway(url);
    const gw2 = await gateway(url);
    // The server registers a connection before its 101 response reaches the client.
    expect(degas.gateways).toHaveLength(2);
    expect(degas.send(randomId(), enc.encode('x'))).toBe(true);
    await gw1.frameCount(1);
    await gw2.frameCount(1);
    expect(gw1.frames[0]).toEqual(gw2.frames[0]);
  });

  test('send returns false with no gateway and validates before sending', async () => {
    const { degas } = await start();
    expect(degas.send(randomId(), enc.encode('x'))).toBe(false);
    expect(() => degas.send(new Uint8Array(15), enc.encode('x'))).toThrow(InvalidIdError);
    expect(() => degas.send('0x12', enc.encode('x'))).toThrow(InvalidIdError);
    expect(() => degas.send(randomId(), 'text' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => degas.send(randomId(), new Uint8Array(Limits.MAX_PAYLOAD + 1))).toThrow(RangeError);
    expect(() => degas.sendMany(randomId() as unknown as Uint8Array[], enc.encode('x'))).toThrow(TypeError);
    expect(() => degas.sendMany([randomId(), new Uint8Array(3)], enc.encode('x'))).toThrow(/accountIds\[1\]/);
  });

  test('a full-size payload goes through', async () => {
    const { degas, url } = await start();
    const gw = await gateway(url);
    const payload = new Uint8Array(Limits.MAX_PAYLOAD).fill(7);
    const account = randomId();
    const got = next(degas, 'message');
    gw.forward(account, 1n, payload);
    expect((await got).payload).toEqual(payload);
    expect(degas.send(account, payload)).toBe(true);
    const [frame] = await gw.frameCount(1);
    expect(decodeDegasMessage(frame!).payload?.value.payload).toEqual(payload);
  });

  test('sendMany de-duplicates, groups by gateway and chunks at 1024 ids', async () => {
    const { degas, gw1, gw2 } = await startWithTwoGateways();
    // 3 accounts routed through gw2; 1500 unrouted ones go to gw1 (the oldest).
    const routed = [randomId(), randomId(), randomId()];
    const arrived = collect(degas, 'message', 3);
    for (const id of routed) gw2.forward(id, 9n, enc.encode('join'));
    await arrived;
    const unrouted = Array.from({ length: 1500 }, () => randomId());
    const ids = [...unrouted, ...routed, routed[0]!, idToHex(unrouted[0]!)];
    expect(degas.sendMany(ids, enc.encode('state'))).toBe(true);

    const frames1 = await gw1.frameCount(2);
    const frames2 = await gw2.frameCount(1);
    const decoded1 = frames1.map((f) => decodeDegasMessage(f).payload);
    expect(decoded1.map((p) => p?.$case)).toEqual(['degasToClients', 'degasToClients']);
    const lists1 = decoded1.map((p) => (p?.$case === 'degasToClients' ? p.value.accountIds : []));
    expect(lists1.map((l) => l.length)).toEqual([1024, 476]);
    expect(lists1.flat().map(idKey)).toEqual(unrouted.map(idKey));
    const p2 = decodeDegasMessage(frames2[0]!).payload;
    if (p2?.$case !== 'degasToClients') throw new Error('expected degasToClients');
    expect(p2.value.accountIds.map(idKey)).toEqual(routed.map(idKey));
    expect(dec.decode(p2.value.payload)).toBe('state');
    expect(degas.sendMany([], enc.encode('x'))).toBe(true);
  });
});

describe('notifications', () => {
  test('CLIENT_ERROR becomes clientError, other codes gatewayError', async () => {
    const { degas, url } = await start();
    const gw = await gateway(url);
    const account = randomId();
    const clientError = next(degas, 'clientError');
    const gatewayError = next(degas, 'gatewayError');
    gw.error(ErrorCode.CLIENT_ERROR, account, 'not connected');
    gw.error(ErrorCode.PAYLOAD_TOO_LARGE, new Uint8Array(0), 'too big');
    const ce = await clientError;
    expect(ce).toMatchObject({ code: ErrorCode.CLIENT_ERROR, codeName: 'CLIENT_ERROR', detail: 'not connected' });
    expect(ce.accountId).toEqual(account);
    expect(ce.accountIdHex).toBe(idToHex(account));
    const ge = await gatewayError;
    expect(ge).toMatchObject({ code: ErrorCode.PAYLOAD_TOO_LARGE, codeName: 'PAYLOAD_TOO_LARGE', detail: 'too big' });
    expect(ge.accountId).toBeUndefined();
  });

  test('session_closed ends presence only for the session of the last message (stale-notice rule)', async () => {
    const { degas, url } = await start();
    const gwA = await gateway(url);
    const gwB = await gateway(url);
    const account = randomId();
    const msgs = collect(degas, 'message', 2);
    gwA.forward(account, 1n, enc.encode('old session'));
    await new Promise((r) => degas.once('message', r));
    gwB.forward(account, 2n, enc.encode('new session'));
    await msgs;
    expect(degas.sessionOf(account)).toBe(2n);

    // The old session's notice arrives late, over the other gateway: stale, presence kept.
    const stale = next(degas, 'sessionClosed');
    gwA.sessionClosed(account, 1n);
    expect(await stale).toMatchObject({ sessionId: 1n, stale: true, reason: 'notice', accountIdHex: idToHex(account) });
    expect(degas.isPresent(account)).toBe(true);

    const fresh = next(degas, 'sessionClosed');
    gwB.sessionClosed(account, 2n);
    expect(await fresh).toMatchObject({ sessionId: 2n, stale: false, reason: 'notice' });
    expect(degas.isPresent(account)).toBe(false);
    expect(degas.presentCount).toBe(0);

    // A notice for an account never seen is stale too.
    const unknown = next(degas, 'sessionClosed');
    gwB.sessionClosed(randomId(), 5n);
    expect((await unknown).stale).toBe(true);
  });

  test('a lost gateway connection ends the presence of the accounts routed through it', async () => {
    const { degas, gw1, gw2 } = await startWithTwoGateways();
    const [a, b, moved] = [randomId(), randomId(), randomId()];
    const first = collect(degas, 'message', 3);
    gw1.forward(a, 1n, enc.encode('a'));
    gw2.forward(b, 2n, enc.encode('b'));
    gw1.forward(moved, 3n, enc.encode('on node 1'));
    await first;
    // `moved` logged in again on the other node before node 1 was lost: its route follows.
    const second = next(degas, 'message');
    gw2.forward(moved, 4n, enc.encode('on node 2'));
    await second;

    const disconnected = next(degas, 'gatewayDisconnected');
    const closed = collect(degas, 'sessionClosed', 1);
    gw1.ws.terminate();
    const d = await disconnected;
    expect(d).toMatchObject({ code: 1006, sessionsEnded: 1 });
    expect(degas.isPresent(a)).toBe(false); // already gone when gatewayDisconnected is emitted
    const [e] = await closed;
    expect(e).toMatchObject({ accountIdHex: idToHex(a), sessionId: 1n, stale: false, reason: 'gatewayDisconnected' });
    expect(e!.gateway).toBe(d.gateway);
    expect(degas.isPresent(b)).toBe(true);
    expect(degas.sessionOf(moved)).toBe(4n);
    expect(degas.gateways).toHaveLength(1);

    // A message for the lost account goes to a connection that is still open.
    expect(degas.send(a, enc.encode('still there?'))).toBe(true);
    const [frame] = await gw2.frameCount(1);
    expect(decodeDegasMessage(frame!).payload?.value).toMatchObject({ accountId: a });
  });

  test('a route whose connection is closing falls back to an open connection', async () => {
    const { degas, gw1, gw2 } = await startWithTwoGateways();
    const a = randomId();
    const got = next(degas, 'message');
    gw2.forward(a, 1n, enc.encode('a'));
    await got;
    const [, viaGw2] = degas.gateways;
    viaGw2!.close(1001, 'restart'); // CLOSING until the handshake completes
    expect(viaGw2!.open).toBe(false);
    expect(degas.isPresent(a)).toBe(true);
    expect(degas.send(a, enc.encode('one'))).toBe(true);
    expect(degas.sendMany([a], enc.encode('many'))).toBe(true);
    const frames = await gw1.frameCount(2);
    expect(frames.map((f) => decodeDegasMessage(f).payload?.$case)).toEqual(['degasToClient', 'degasToClients']);
    await gw2.closed();
  });
});

describe('bad frames', () => {
  test('an undecodable frame is reported and the link kept; a text frame closes it with 1003', async () => {
    const { degas, url } = await start();
    const gw = await gateway(url);
    const error = next(degas, 'error');
    gw.ws.send(Uint8Array.of(0xff, 0xff, 0xff));
    expect(await error).toBeInstanceOf(DecodeError);

    const idError = next(degas, 'error');
    gw.forward(new Uint8Array(5), 1n, enc.encode('x'));
    const e = await idError;
    expect(e).toBeInstanceOf(DegasError);
    expect((e as DegasError).code).toBe('PROTOCOL_ERROR');

    const got = next(degas, 'message');
    gw.forward(randomId(), 1n, enc.encode('still here'));
    expect(dec.decode((await got).payload)).toBe('still here');

    const textError = next(degas, 'error');
    const closed = gw.closed();
    gw.ws.send('text');
    expect(((await textError) as DegasError).code).toBe('PROTOCOL_ERROR');
    expect((await closed).code).toBe(1003);
  });

  test('with no error listener a bad frame is dropped without crashing', async () => {
    const { degas, url } = await start();
    const gw = await gateway(url);
    gw.ws.send(Uint8Array.of(0x0a, 0x05, 0x01));
    const got = next(degas, 'message');
    gw.forward(randomId(), 3n, enc.encode('fine'));
    expect(dec.decode((await got).payload)).toBe('fine');
  });

  test('a throwing listener is re-thrown on a microtask; the other listeners and the server go on', async () => {
    const { degas, url } = await start();
    const gw = await gateway(url);
    const boom = new Error('listener bug');
    const deferred: (() => void)[] = [];
    const spy = jest.spyOn(globalThis, 'queueMicrotask').mockImplementation((fn) => {
      deferred.push(fn);
    });
    try {
      degas.on('message', () => {
        throw boom;
      });
      const second = next(degas, 'message');
      gw.forward(randomId(), 4n, enc.encode('one'));
      expect(dec.decode((await second).payload)).toBe('one');
    } finally {
      spy.mockRestore();
    }
    expect(deferred).toHaveLength(1);
    expect(() => deferred[0]?.()).toThrow(boom);
    expect(degas.gateways).toHaveLength(1);
  });

  test('a frame over maxPayload closes the link with 1009', async () => {
    const { url } = await start({ maxPayload: Limits.MAX_FRAME });
    const gw = await gateway(url);
    const closed = gw.closed();
    gw.ws.send(new Uint8Array(Limits.MAX_FRAME + 1));
    expect((await closed).code).toBe(1009);
  });
});

describe('lifecycle', () => {
  test('close() closes gateway connections with 1001 and is idempotent', async () => {
    const { degas, url } = await start();
    const gw = await gateway(url);
    const closed = gw.closed();
    const p1 = degas.close();
    expect(degas.close()).toBe(p1);
    await p1;
    expect(await closed).toEqual({ code: 1001, reason: 'Degas shutting down' });
    await expect(degas.listen()).rejects.toThrow(DegasError);
  });

  test('terminates an unresponsive gateway after a missed ping', async () => {
    const { degas, url } = await start({ pingIntervalMs: 50 });
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${TOKEN}`, 'degas-id': degasIdHex },
      autoPong: false,
    });
    ws.on('error', () => {});
    const disconnected = next(degas, 'gatewayDisconnected');
    await new Promise((r) => ws.once('open', r));
    expect((await disconnected).code).toBe(1006);
    ws.terminate();
  });
});
