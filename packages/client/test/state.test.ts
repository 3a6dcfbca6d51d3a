import { generatePrivateKey } from '@degas/auth-eth';
import { CloseCode, closeCodeDisposition, ErrorCode, idToHex, randomId } from '@degas/proto';
import { jest } from '@jest/globals';
import {
  AuthError,
  type ClientState,
  ClosedError,
  type CloseEvent,
  ConnectionError,
  DegasClient,
  type DegasClientOptions,
  DuplicateSessionError,
  NotConnectedError,
  TimeoutError,
} from '../src/index.js';
import { establish, FakeSocket, useFakeGateway } from './fake-socket.js';

const accountId = randomId();
const degasId = randomId();
const key = generatePrivateKey();

function makeClient(extra: Partial<DegasClientOptions> = {}) {
  const client = new DegasClient({ url: 'ws://gateway.test', accountId, signer: key, WebSocket: FakeSocket, ...extra });
  const states: ClientState[] = [];
  const closes: CloseEvent[] = [];
  client.on('state', (s) => states.push(s));
  client.on('close', (e) => closes.push(e));
  return { client, states, closes };
}

useFakeGateway();

test('connect: idle → connecting → authenticating → connected, hello then eth_auth, binary only', async () => {
  const { client, states } = makeClient();
  const p1 = client.connect();
  const p2 = client.connect();
  expect(p2).toBe(p1);
  expect(FakeSocket.instances).toHaveLength(1);
  const socket = FakeSocket.last;
  expect(socket.url).toBe('ws://gateway.test');
  expect(socket.binaryType).toBe('arraybuffer');
  socket.open();
  await p1;
  expect(states).toEqual(['connecting', 'authenticating', 'connected']);
  expect(socket.sent.map((m) => m.payload?.$case)).toEqual(['hello', 'ethAuth']);
  const hello = socket.sent[0]!.payload;
  if (hello?.$case !== 'hello') throw new Error('expected hello');
  expect(hello.value.accountId).toEqual(accountId);
  expect(hello.value.signer?.value.address).toBe(client.address);
  await expect(client.connect()).resolves.toBeUndefined();

  client.send(degasId, Uint8Array.of(1, 2, 3));
  const last = socket.sent.at(-1)!.payload;
  expect(last?.$case).toBe('degas');
  expect(last?.value).toEqual({ degasId, payload: Uint8Array.of(1, 2, 3) });
  expect(jest.getTimerCount()).toBe(0); // the connect deadline was cleared
  client.close();
  expect(socket.closedWith).toEqual({ code: 1000, reason: 'client closed' });
});

test('send validates arguments first, then refuses when not connected', () => {
  const { client } = makeClient();
  expect(() => client.send(new Uint8Array(3), new Uint8Array(1))).toThrow(/16 bytes/);
  expect(() => client.send(degasId, new Uint8Array(65537))).toThrow(RangeError);
  expect(() => client.send(degasId, 'x' as unknown as Uint8Array)).toThrow(TypeError);
  let error: unknown;
  try {
    client.send(idToHex(degasId), new Uint8Array(1));
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(NotConnectedError);
  expect(error).toMatchObject({ name: 'NotConnectedError', code: 'NOT_CONNECTED', state: 'idle' });
});

test('messages and gateway errors become typed events', async () => {
  const { client } = makeClient();
  void client.connect();
  await establish(client);
  const messages: unknown[] = [];
  const errors: unknown[] = [];
  client.on('message', (m) => messages.push(m));
  client.on('gatewayError', (e) => errors.push(e));
  FakeSocket.last.receive({ payload: { $case: 'degas', value: { degasId, payload: Uint8Array.of(9) } } });
  FakeSocket.last.receive({
    payload: {
      $case: 'error',
      value: { code: ErrorCode.DEGAS_ERROR, degasId, accountId: new Uint8Array(0), detail: 'unknown Degas' },
    },
  });
  FakeSocket.last.receive({
    payload: {
      $case: 'error',
      value: { code: 99 as ErrorCode, degasId: new Uint8Array(0), accountId: new Uint8Array(0), detail: '' },
    },
  });
  expect(messages).toEqual([{ degasId, degasIdHex: idToHex(degasId), payload: Uint8Array.of(9) }]);
  expect(errors).toEqual([
    { code: 2, codeName: 'DEGAS_ERROR', degasId, degasIdHex: idToHex(degasId), detail: 'unknown Degas' },
    { code: 99, codeName: 'UNKNOWN', detail: '' },
  ]);
  client.close();
});

test('connect times out after connectTimeoutMs and does not retry a first attempt', async () => {
  FakeSocket.behavior = 'silent';
  const { client, states, closes } = makeClient({ connectTimeoutMs: 1000 });
  const p = client.connect();
  FakeSocket.last.open();
  jest.advanceTimersByTime(999);
  expect(client.state).toBe('authenticating');
  jest.advanceTimersByTime(1);
  await expect(p).rejects.toBeInstanceOf(TimeoutError);
  await expect(p).rejects.toThrow(/timed out after 1000 ms while logging in/);
  expect(states).toEqual(['connecting', 'authenticating', 'closed']);
  expect(closes).toHaveLength(1);
  expect(closes[0]).toMatchObject({ willReconnect: false });
  expect(FakeSocket.last.closedWith?.code).toBe(1000);
  expect(jest.getTimerCount()).toBe(0);
  expect(FakeSocket.instances).toHaveLength(1);
});

test('a refused first attempt rejects with ConnectionError; connect() may be called again', async () => {
  const { client, states } = makeClient();
  const p = client.connect();
  FakeSocket.last.drop(1006);
  await expect(p).rejects.toBeInstanceOf(ConnectionError);
  expect(client.state).toBe('closed');
  const again = client.connect();
  await establish(client);
  await again;
  expect(states).toEqual(['connecting', 'closed', 'connecting', 'authenticating', 'connected']);
  client.close();
});

test('after a drop it reconnects with growing, capped, jittered delays and re-authenticates', async () => {
  const { client, states, closes } = makeClient({ reconnect: { initialDelayMs: 100, maxDelayMs: 500 } });
  void client.connect();
  await establish(client);
  FakeSocket.last.drop(1006);
  expect(client.state).toBe('reconnecting');
  expect(closes.at(-1)).toMatchObject({ code: 1006, willReconnect: true });
  expect(closes.at(-1)?.error).toBeInstanceOf(ClosedError);

  // Attempt delays with random() = 0.5: 50 (bound 100), then 100, 200, 250 (capped at 500).
  const expected = [50, 100, 200, 250, 250];
  for (const delay of expected) {
    const before = FakeSocket.instances.length;
    jest.advanceTimersByTime(delay - 1);
    expect(FakeSocket.instances).toHaveLength(before);
    jest.advanceTimersByTime(1);
    expect(FakeSocket.instances).toHaveLength(before + 1);
    expect(client.state).toBe('connecting');
    FakeSocket.last.drop(1006); // refused while the gateway restarts
    expect(client.state).toBe('reconnecting');
  }
  jest.advanceTimersByTime(250);
  await establish(client);
  expect(FakeSocket.last.sent.map((m) => m.payload?.$case)).toEqual(['hello', 'ethAuth']);
  // Back to connected: the next drop starts from the initial delay again.
  FakeSocket.last.drop(1001);
  const before = FakeSocket.instances.length;
  jest.advanceTimersByTime(50);
  expect(FakeSocket.instances).toHaveLength(before + 1);
  client.close();
  expect(jest.getTimerCount()).toBe(0);
  expect(states.filter((s) => s === 'connected')).toHaveLength(2);
});

test('a connect() during reconnection resolves when the connection is back', async () => {
  const { client } = makeClient({ reconnect: { initialDelayMs: 100 } });
  void client.connect();
  await establish(client);
  FakeSocket.last.drop(1011);
  const p = client.connect();
  expect(client.connect()).toBe(p);
  jest.advanceTimersByTime(50);
  await establish(client);
  await expect(p).resolves.toBeUndefined();
  client.close();
});

test.each(Object.values(CloseCode))(
  'an established session closed with %i reconnects exactly when closeCodeDisposition says so',
  async (code) => {
    const { client, closes } = makeClient({ reconnect: { initialDelayMs: 100 } });
    void client.connect();
    await establish(client);
    FakeSocket.last.drop(code);
    const reconnect = closeCodeDisposition(code) === 'reconnect';
    expect(closes.at(-1)).toMatchObject({ code, willReconnect: reconnect });
    expect(client.state).toBe(reconnect ? 'reconnecting' : 'closed');
    client.close();
  },
);

test.each([
  [4001, AuthError, 'AUTH_FAILED'],
  [4002, DuplicateSessionError, 'DUP_SESSION'],
  [4003, ClosedError, 'CLOSED'],
  [1000, ClosedError, 'CLOSED'],
  [1008, ClosedError, 'CLOSED'],
])('no reconnection after close code %i', async (code, type, errorCode) => {
  const { client, closes } = makeClient();
  void client.connect();
  await establish(client);
  FakeSocket.last.drop(code);
  expect(client.state).toBe('closed');
  expect(closes.at(-1)?.willReconnect).toBe(false);
  expect(closes.at(-1)?.error).toBeInstanceOf(type);
  expect(closes.at(-1)?.error?.code).toBe(errorCode);
  expect(jest.getTimerCount()).toBe(0);
  jest.advanceTimersByTime(60_000);
  expect(FakeSocket.instances).toHaveLength(1);
});

test('AUTH_FAIL during a first attempt rejects with AuthError carrying the detail', async () => {
  FakeSocket.behavior = 'silent';
  const { client, closes } = makeClient();
  const errors: string[] = [];
  client.on('gatewayError', (e) => errors.push(e.codeName));
  const p = client.connect();
  FakeSocket.last.open();
  FakeSocket.last.receive({
    payload: {
      $case: 'error',
      value: {
        code: ErrorCode.AUTH_FAIL,
        degasId: new Uint8Array(0),
        accountId: new Uint8Array(0),
        detail: 'unknown signer',
      },
    },
  });
  FakeSocket.last.drop(4001, '');
  await expect(p).rejects.toThrow(AuthError);
  await expect(p).rejects.toMatchObject({ code: 'AUTH_FAILED', detail: 'unknown signer' });
  expect(errors).toEqual(['AUTH_FAIL']);
  expect(closes[0]?.willReconnect).toBe(false);
});

test('a failing signer rejects with AuthError and closes the socket', async () => {
  const signer = {
    address: '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23',
    signTypedData: async () => Promise.reject(new Error('user rejected')),
  };
  const { client } = makeClient({ signer });
  const p = client.connect();
  FakeSocket.last.open();
  await expect(p).rejects.toThrow(AuthError);
  await expect(p).rejects.toThrow(/signer failed/);
  expect(FakeSocket.last.closedWith?.code).toBe(1000);
});

test('reconnect: false closes after a drop; maxAttempts gives up', async () => {
  const a = makeClient({ reconnect: false });
  void a.client.connect();
  await establish(a.client);
  FakeSocket.last.drop(1006);
  expect(a.client.state).toBe('closed');

  const b = makeClient({ reconnect: { maxAttempts: 2, initialDelayMs: 10 } });
  void b.client.connect();
  await establish(b.client);
  FakeSocket.last.drop(1006);
  jest.advanceTimersByTime(5);
  FakeSocket.last.drop(1006); // attempt 1 fails
  expect(b.client.state).toBe('reconnecting');
  jest.advanceTimersByTime(10);
  FakeSocket.last.drop(1006); // attempt 2 fails: give up
  expect(b.client.state).toBe('closed');
  expect(b.closes.at(-1)).toMatchObject({ willReconnect: false });
  expect(jest.getTimerCount()).toBe(0);
});

test('close() during backoff cancels the timer and rejects a pending connect()', async () => {
  const { client, closes } = makeClient();
  void client.connect();
  await establish(client);
  FakeSocket.last.drop(1006);
  const p = client.connect();
  expect(jest.getTimerCount()).toBe(1);
  client.close();
  await expect(p).rejects.toBeInstanceOf(ClosedError);
  expect(jest.getTimerCount()).toBe(0);
  expect(closes.at(-1)).toMatchObject({ code: 1000, reason: 'client closed', willReconnect: false });
  client.close(); // idempotent
  expect(closes).toHaveLength(2);
});

test('close() while connecting stops the attempt and its deadline', async () => {
  const { client } = makeClient();
  const p = client.connect();
  client.close();
  await expect(p).rejects.toBeInstanceOf(ClosedError);
  expect(FakeSocket.last.closedWith?.code).toBe(1000);
  expect(jest.getTimerCount()).toBe(0);
  FakeSocket.last.open(); // a late event from the old socket changes nothing
  expect(client.state).toBe('closed');
});

test('messages() yields in order, buffers boundedly and ends on close', async () => {
  const { client } = makeClient();
  void client.connect();
  await establish(client);
  const it = client.messages({ maxBuffered: 2 });
  for (const n of [1, 2, 3])
    FakeSocket.last.receive({ payload: { $case: 'degas', value: { degasId, payload: Uint8Array.of(n) } } });
  expect((await it.next()).value?.payload).toEqual(Uint8Array.of(2)); // 1 was dropped
  expect((await it.next()).value?.payload).toEqual(Uint8Array.of(3));
  const pending = it.next();
  FakeSocket.last.receive({ payload: { $case: 'degas', value: { degasId, payload: Uint8Array.of(4) } } });
  expect((await pending).value?.payload).toEqual(Uint8Array.of(4));
  const [p5, p6] = [it.next(), it.next()];
  for (const n of [5, 6])
    FakeSocket.last.receive({ payload: { $case: 'degas', value: { degasId, payload: Uint8Array.of(n) } } });
  expect((await p5).value?.payload).toEqual(Uint8Array.of(5));
  expect((await p6).value?.payload).toEqual(Uint8Array.of(6));
  const end = it.next();
  client.close();
  expect(await end).toEqual({ value: undefined, done: true });
  expect(client.listenerCount('message')).toBe(0);
  expect(() => client.messages({ maxBuffered: 0 })).toThrow(RangeError);
});

test('without any WebSocket implementation connect() explains what to pass', async () => {
  const client = new DegasClient({ url: 'ws://gateway.test', accountId, signer: key });
  await expect(client.connect()).rejects.toThrow(/pass options.WebSocket .*'ws'.*@degas\/client\/node/);
  expect(client.state).toBe('closed');
});

test('close() from a state listener leaves no socket, timer or reconnection behind', async () => {
  // Closing on 'reconnecting' must cancel the backoff timer scheduled for it.
  const a = makeClient();
  a.client.on('state', (s) => {
    if (s === 'reconnecting') a.client.close();
  });
  void a.client.connect();
  await establish(a.client);
  FakeSocket.last.drop(1006);
  expect(a.client.state).toBe('closed');
  expect(jest.getTimerCount()).toBe(0);
  jest.advanceTimersByTime(60_000);
  expect(FakeSocket.instances).toHaveLength(1);

  // Closing on 'connecting' must stop the socket from being opened at all.
  FakeSocket.reset();
  const b = makeClient();
  b.client.on('state', (s) => {
    if (s === 'connecting') b.client.close();
  });
  await expect(b.client.connect()).rejects.toBeInstanceOf(ClosedError);
  expect(b.client.state).toBe('closed');
  expect(FakeSocket.instances).toHaveLength(0);
  expect(jest.getTimerCount()).toBe(0);

  // Closing on 'authenticating' must not send hello on the closed socket.
  FakeSocket.reset();
  const c = makeClient();
  c.client.on('state', (s) => {
    if (s === 'authenticating') c.client.close();
  });
  const p = c.client.connect();
  FakeSocket.last.open();
  await expect(p).rejects.toBeInstanceOf(ClosedError);
  expect(FakeSocket.last.sent).toHaveLength(0);
  expect(FakeSocket.last.closedWith?.code).toBe(1000);
  expect(jest.getTimerCount()).toBe(0);
});

describe('a list of gateway URLs', () => {
  const urls = ['ws://node-a.test', 'ws://node-b.test', 'ws://node-c.test'];

  test('the first attempt picks a random URL; every later attempt moves on to the next', async () => {
    const picked = [0, 0.34, 0.67, 0.99].map((r) => {
      jest.spyOn(Math, 'random').mockReturnValue(r);
      return makeClient({ url: urls }).client.url;
    });
    expect(picked).toEqual([urls[0], urls[1], urls[2], urls[2]]);

    jest.spyOn(Math, 'random').mockReturnValue(0.5); // starts at node-b; delays at their midpoint
    const { client } = makeClient({ url: urls, reconnect: { initialDelayMs: 100 } });
    expect(client.urls).toEqual(urls);
    expect(Object.isFrozen(client.urls)).toBe(true);
    void client.connect();
    expect(FakeSocket.last.url).toBe('ws://node-b.test');
    await establish(client);
    expect(client.url).toBe('ws://node-b.test');

    // The node is lost: reconnection (after the usual backoff) goes to the next node, and a
    // failed attempt there moves on again, wrapping around the list.
    FakeSocket.last.drop(1006);
    jest.advanceTimersByTime(50);
    expect(FakeSocket.last.url).toBe('ws://node-c.test');
    FakeSocket.last.drop(1006);
    expect(client.state).toBe('reconnecting');
    jest.advanceTimersByTime(100);
    expect(FakeSocket.last.url).toBe('ws://node-a.test');
    expect(client.url).toBe('ws://node-a.test');
    await establish(client);
    expect(FakeSocket.instances.map((s) => s.url)).toEqual([
      'ws://node-b.test',
      'ws://node-c.test',
      'ws://node-a.test',
    ]);
    client.close();
  });

  test('connect() tries each URL once, at once, before rejecting', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.9); // starts at node-c
    const { client, states, closes } = makeClient({ url: urls, reconnect: false });
    const p = client.connect();
    FakeSocket.last.drop(1006); // node-c refuses
    expect(closes.at(-1)).toMatchObject({ code: 1006, willReconnect: true });
    expect(closes.at(-1)?.error).toBeInstanceOf(ConnectionError);
    jest.advanceTimersByTime(0);
    expect(FakeSocket.last.url).toBe('ws://node-a.test');
    FakeSocket.last.open();
    FakeSocket.last.drop(1013, 'cluster bus unavailable'); // node-a cannot register logins
    jest.advanceTimersByTime(0);
    expect(FakeSocket.last.url).toBe('ws://node-b.test');
    FakeSocket.last.drop(1006); // the last untried URL fails too: give up
    await expect(p).rejects.toBeInstanceOf(ConnectionError);
    expect(closes.map((c) => c.willReconnect)).toEqual([true, true, false]);
    expect(states).toEqual([
      'connecting',
      'reconnecting',
      'connecting',
      'authenticating',
      'reconnecting',
      'connecting',
      'closed',
    ]);
    expect(jest.getTimerCount()).toBe(0);

    // A second connect() tries the whole list again, starting after the last URL tried.
    const again = client.connect();
    expect(FakeSocket.last.url).toBe('ws://node-c.test');
    FakeSocket.last.drop(1006);
    jest.advanceTimersByTime(0);
    await establish(client);
    await again;
    expect(client.url).toBe('ws://node-a.test');
    client.close();
  });

  test('a failure after the challenge (signer, AUTH_FAIL, deadline) does not ask another node', async () => {
    const signer = {
      address: '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23',
      signTypedData: async () => Promise.reject(new Error('user rejected')),
    };
    const a = makeClient({ url: urls, signer });
    const pa = a.client.connect();
    FakeSocket.last.open();
    await expect(pa).rejects.toThrow(AuthError);
    expect(FakeSocket.instances).toHaveLength(1);

    FakeSocket.reset();
    FakeSocket.behavior = 'silent';
    const b = makeClient({ url: urls, connectTimeoutMs: 1000 });
    const pb = b.client.connect();
    FakeSocket.last.open();
    FakeSocket.last.receive({
      payload: { $case: 'authRequest', value: { request: { $case: 'ethereumAuth', value: { challenge: '{}' } } } },
    });
    await expect(pb).rejects.toThrow(AuthError); // an invalid challenge: the node answered
    expect(FakeSocket.instances).toHaveLength(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('a silent node times out and the next URL is tried', async () => {
    FakeSocket.behavior = 'silent';
    const { client, closes } = makeClient({ url: urls.slice(0, 2), connectTimeoutMs: 1000 });
    const p = client.connect();
    FakeSocket.last.open();
    jest.advanceTimersByTime(1000);
    expect(closes.at(-1)).toMatchObject({ willReconnect: true });
    expect(closes.at(-1)?.error).toBeInstanceOf(TimeoutError);
    expect(FakeSocket.instances).toHaveLength(1);
    FakeSocket.behavior = 'accept';
    jest.advanceTimersByTime(1); // a 0 ms timer set inside a fake-timer tick is due 1 ms later
    expect(FakeSocket.instances).toHaveLength(2);
    expect(FakeSocket.instances[1]!.url).not.toBe(FakeSocket.instances[0]!.url);
    await establish(client);
    await p;
    client.close();
  });
});
