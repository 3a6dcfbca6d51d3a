/**
 * Resume tickets in the client (PROTOCOL.md 4.5), against the in-memory fake gateway under fake
 * timers. The real gateway's side is in packages/gateway/test/resume-*.test.ts; the end-to-end
 * cases (real gateway, restarts, Chromium wallet) are in gateway.test.ts and browser/.
 */
import { generatePrivateKey } from '@degas/auth-eth';
import { ErrorCode, randomId } from '@degas/proto';
import { countingSigner } from '@degas/test-utils';
import { jest } from '@jest/globals';
import {
  type CloseEvent,
  DegasClient,
  type DegasClientOptions,
  GOING_AWAY_JITTER_MS,
  type StorageLike,
  type TicketStore,
  webStorageTicketStore,
} from '../src/index.js';
import { establish, FakeSocket, useFakeGateway } from './fake-socket.js';

const accountId = randomId();
const key = generatePrivateKey();

function makeClient(extra: Partial<DegasClientOptions> = {}) {
  const signer = countingSigner(key);
  const client = new DegasClient({ url: 'ws://gateway.test', accountId, signer, WebSocket: FakeSocket, ...extra });
  const closes: CloseEvent[] = [];
  client.on('close', (e) => closes.push(e));
  return { client, signer, closes };
}

function helloTicket(socket: FakeSocket): Uint8Array {
  const hello = socket.sent[0]?.payload;
  if (hello?.$case !== 'hello') throw new Error('expected hello first');
  return hello.value.resumeTicket;
}

/** Drops the current connection and lets the reconnect timer fire. */
async function dropAndReconnect(client: DegasClient, code = 1006): Promise<FakeSocket> {
  const before = FakeSocket.instances.length;
  FakeSocket.last.drop(code);
  await jest.advanceTimersByTimeAsync(1000);
  expect(FakeSocket.instances.length).toBe(before + 1);
  await establish(client);
  return FakeSocket.last;
}

useFakeGateway(() => {
  FakeSocket.tickets = true;
});

test('the first login signs; a reconnect sends the latest ticket and resumes without calling the signer', async () => {
  const { client, signer } = makeClient();
  void client.connect();
  await establish(client);
  expect(helloTicket(FakeSocket.last)).toHaveLength(0);
  expect(signer.requests).toBe(1);
  expect(client.resumed).toBe(false);
  const first = client.sessionId;
  expect(first).toBe(1n);

  const s2 = await dropAndReconnect(client);
  expect(Buffer.from(helloTicket(s2)).toString('hex')).toBe('ee01');
  expect(s2.sent.map((m) => m.payload?.$case)).toEqual(['hello']);
  expect(signer.requests).toBe(1);
  expect(client.resumed).toBe(true);
  expect(client.sessionId).toBe(2n);

  // Every reconnect sends the newest ticket (the one of the resumed session).
  const s3 = await dropAndReconnect(client);
  expect(Buffer.from(helloTicket(s3)).toString('hex')).toBe('ee02');
  expect(signer.requests).toBe(1);
  expect(client.resumed).toBe(true);
  client.close();
});

test('a refused ticket falls back to the signer on the same connection, transparently', async () => {
  const { client, signer, closes } = makeClient();
  void client.connect();
  await establish(client);
  FakeSocket.validTickets.clear(); // the gateway forgot it (e.g. the window passed)
  const s2 = await dropAndReconnect(client);
  expect(helloTicket(s2)).toHaveLength(2);
  expect(s2.sent.map((m) => m.payload?.$case)).toEqual(['hello', 'ethAuth']);
  expect(signer.requests).toBe(2);
  expect(client.resumed).toBe(false);
  expect(closes.map((c) => c.code)).toEqual([1006]);
  client.close();
});

/** A connected client whose backoff (5–10 s) is far longer than the GOING_AWAY jitter; `n` sockets so far. */
async function connectedWithLongBackoff(): Promise<{ client: DegasClient; n: number }> {
  const { client } = makeClient({ reconnect: { initialDelayMs: 5000, maxDelayMs: 10_000 } });
  void client.connect();
  await establish(client);
  return { client, n: FakeSocket.instances.length };
}

test('after GOING_AWAY the client reconnects within the short jitter, not the backoff', async () => {
  const { client, n } = await connectedWithLongBackoff();
  FakeSocket.last.receive({ payload: { $case: 'error', value: { code: ErrorCode.GOING_AWAY, detail: 'bye' } } });
  FakeSocket.last.drop(1001);
  // Math.random is 0.5: the jitter is half the bound.
  await jest.advanceTimersByTimeAsync(GOING_AWAY_JITTER_MS / 2 - 1);
  expect(FakeSocket.instances.length).toBe(n);
  await jest.advanceTimersByTimeAsync(1);
  expect(FakeSocket.instances.length).toBe(n + 1);
  await establish(client);
  expect(client.resumed).toBe(true);
  client.close();
});

test('a 1001 without GOING_AWAY (e.g. a proxy) still waits for the backoff', async () => {
  const { client, n } = await connectedWithLongBackoff();
  FakeSocket.last.drop(1001);
  await jest.advanceTimersByTimeAsync(GOING_AWAY_JITTER_MS);
  expect(FakeSocket.instances.length).toBe(n);
  await jest.advanceTimersByTimeAsync(2500);
  expect(FakeSocket.instances.length).toBe(n + 1);
  client.close();
});

test('close() (a logout) forgets the ticket: the next connect signs', async () => {
  const { client, signer } = makeClient();
  void client.connect();
  await establish(client);
  client.close();
  void client.connect();
  await establish(client);
  expect(helloTicket(FakeSocket.last)).toHaveLength(0);
  expect(signer.requests).toBe(2);
  client.close();
});

test('DUP_SESSION forgets the ticket', async () => {
  const saved: (string | undefined)[] = [];
  const store: TicketStore = {
    load: () => undefined,
    save: (t) => {
      saved.push(t && Buffer.from(t).toString('hex'));
    },
  };
  const { client, signer } = makeClient({ ticketStore: store });
  void client.connect();
  await establish(client);
  FakeSocket.last.receive({ payload: { $case: 'error', value: { code: ErrorCode.DUP_SESSION } } });
  FakeSocket.last.drop(4002);
  expect(client.state).toBe('closed');
  expect(saved).toEqual(['ee01', undefined]);
  void client.connect();
  await establish(client);
  expect(helloTicket(FakeSocket.last)).toHaveLength(0);
  expect(signer.requests).toBe(2);
  client.close();
});

test('an auth_ok with an empty ticket (resume off) leaves nothing to send', async () => {
  FakeSocket.tickets = false;
  const { client } = makeClient();
  void client.connect();
  await establish(client);
  const s2 = await dropAndReconnect(client);
  expect(helloTicket(s2)).toHaveLength(0);
  expect(client.resumed).toBe(false);
  client.close();
});

test('an unasked auth_ok (no challenge, no ticket sent) is ignored', async () => {
  FakeSocket.behavior = 'silent';
  const { client } = makeClient({ connectTimeoutMs: 1000 });
  const p = client.connect();
  FakeSocket.last.open();
  FakeSocket.last.receive({ payload: { $case: 'authOk', value: { accountId, resumed: true } } });
  expect(client.state).toBe('authenticating');
  const rejected = expect(p).rejects.toThrow(/timed out/);
  await jest.advanceTimersByTimeAsync(1000);
  await rejected;
});

describe('ticket store', () => {
  test('a stored ticket is sent by a new client (page reload): no signature', async () => {
    const storage = new Map<string, string>();
    const web: StorageLike = {
      getItem: (k) => storage.get(k) ?? null,
      setItem: (k, v) => void storage.set(k, v),
      removeItem: (k) => void storage.delete(k),
    };
    const a = makeClient({ ticketStore: webStorageTicketStore(web, 'ticket'), reconnect: false });
    void a.client.connect();
    await establish(a.client);
    expect(storage.get('ticket')).toBe('ee01');
    // The page goes away without a logout (no close(): the socket just drops).
    FakeSocket.last.drop(1006);
    expect(a.client.state).toBe('closed');
    expect(storage.get('ticket')).toBe('ee01');

    const b = makeClient({ ticketStore: webStorageTicketStore(web, 'ticket') });
    void b.client.connect();
    await establish(b.client);
    expect(Buffer.from(helloTicket(FakeSocket.last)).toString('hex')).toBe('ee01');
    expect(b.signer.requests).toBe(0);
    expect(b.client.resumed).toBe(true);
    expect(storage.get('ticket')).toBe('ee02');
    b.client.close();
    expect(storage.has('ticket')).toBe(false);
  });

  test('an async store is awaited before the socket opens', async () => {
    FakeSocket.validTickets.add('aa55');
    let resolve!: (t: Uint8Array) => void;
    const { client, signer } = makeClient({
      ticketStore: { load: () => new Promise<Uint8Array>((r) => (resolve = r)), save: () => {} },
    });
    void client.connect();
    expect(client.state).toBe('connecting');
    expect(FakeSocket.instances).toHaveLength(0);
    resolve(Uint8Array.of(0xaa, 0x55));
    await jest.advanceTimersByTimeAsync(0);
    await establish(client);
    expect(signer.requests).toBe(0);
    expect(client.resumed).toBe(true);
    client.close();
  });

  test('a failing store costs only a signature', async () => {
    const { client, signer } = makeClient({
      ticketStore: {
        load: () => {
          throw new Error('storage disabled');
        },
        save: () => Promise.reject(new Error('quota')),
      },
    });
    void client.connect();
    await establish(client);
    expect(signer.requests).toBe(1);
    const s2 = await dropAndReconnect(client);
    expect(helloTicket(s2)).toHaveLength(2);
    client.close();
  });

  test('close() while the store is read: no socket is opened', async () => {
    let resolve!: (t: Uint8Array | undefined) => void;
    const { client } = makeClient({
      ticketStore: { load: () => new Promise((r) => (resolve = r)), save: () => {} },
    });
    const p = client.connect();
    client.close();
    await expect(p).rejects.toThrow();
    resolve(undefined);
    await jest.advanceTimersByTimeAsync(0);
    expect(FakeSocket.instances).toHaveLength(0);
    expect(client.state).toBe('closed');
  });

  test('invalid stores and storage contents', () => {
    expect(() => makeClient({ ticketStore: {} as TicketStore })).toThrow(TypeError);
    expect(() => makeClient({ ticketStore: null as unknown as TicketStore })).toThrow(TypeError);
    expect(() => webStorageTicketStore({} as StorageLike, 'k')).toThrow(TypeError);
    const values: Record<string, string> = { a: 'xyz', b: '', c: 'abc', d: 'ab'.repeat(513), e: 'AB' };
    const web: StorageLike = { getItem: (k) => values[k] ?? null, setItem: () => {}, removeItem: () => {} };
    for (const k of ['a', 'b', 'c', 'd', 'e', 'missing']) expect(webStorageTicketStore(web, k).load()).toBeUndefined();
    expect(() => webStorageTicketStore(web, '')).toThrow(TypeError);
  });
});
