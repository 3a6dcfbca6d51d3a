import { existsSync, readFileSync } from 'node:fs';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { createChallenge, loginTypedData, verifyLogin } from '@degas/auth-eth';
import { encodeDegasToClient, idToHex } from '@degas/proto';
import { WebSocketServer } from 'ws';
import {
  encodeFrame,
  freshDegasId,
  freshTestAccount,
  httpUpgrade,
  memoryAccounts,
  Opcode,
  RawClient,
  startNatsServer,
  startTestDegas,
  startTestGateway,
  TEST_GATEWAY_DEFAULTS,
  TimeoutError,
  tempDir,
  testAccount,
  testBytes,
  testDegasId,
  upgradeStatus,
  WsTestClient,
  within,
} from '../src/index.js';

let wss: WebSocketServer;
let port: number;
const serverReceived: Buffer[] = [];

beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 70_000 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  port = (wss.address() as AddressInfo).port;
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      serverReceived.push(data);
      ws.send(data, { binary: isBinary });
    });
  });
});
afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise((r) => wss.close(r));
});

describe('encodeFrame', () => {
  it('writes minimal and forced length encodings', () => {
    expect(encodeFrame({ opcode: 2, payload: new Uint8Array(125), mask: false }).length).toBe(127);
    expect(encodeFrame({ opcode: 2, payload: new Uint8Array(126), mask: false }).subarray(0, 4)).toEqual(
      Buffer.from([0x82, 126, 0, 126]),
    );
    const f = encodeFrame({ opcode: 2, payload: new Uint8Array(1), mask: false, lengthEncoding: 64 });
    expect(f.length).toBe(11);
    expect(f[1]).toBe(127);
    expect(encodeFrame({ opcode: 0xb, rsv: 7, fin: false, mask: false })[0]).toBe(0x7b);
    expect(() => encodeFrame({ opcode: 16 })).toThrow(RangeError);
  });
});

describe('RawClient against a ws server', () => {
  it('round-trips masked and fragmented binary frames; server frames are unmasked', async () => {
    const c = await RawClient.connect({ port });
    expect(c.response.status).toBe(101);
    const payload = Buffer.from([0, 1, 2, 0xff, 0xfe]);
    c.binary(payload);
    expect(await c.nextData()).toEqual(payload);
    const big = Buffer.alloc(65_536, 7);
    c.frame({ opcode: Opcode.BINARY, fin: false, payload: big.subarray(0, 1000) });
    c.ping('x');
    await c.writeChopped(encodeFrame({ opcode: Opcode.CONTINUATION, payload: big.subarray(1000) }), 9973);
    expect(await c.nextPong()).toEqual(Buffer.from('x'));
    expect(await c.nextData()).toEqual(big);
    expect(c.received.every((f) => !f.masked)).toBe(true);
    c.close(4000, 'bye');
    const r = await c.closed();
    expect(r.code).toBe(4000);
    expect(r.tcpClosedWithoutCloseFrame).toBe(false);
  });

  it('reports a protocol close (1002) for an unmasked frame', async () => {
    const c = await RawClient.connect({ port });
    c.binary(Buffer.from('x'), { mask: false });
    expect((await c.closed()).code).toBe(1002);
  });

  it('returns the HTTP status of a rejected upgrade', async () => {
    const r = await httpUpgrade({ port, key: null });
    expect(r.response.status).toBe(400);
    expect(r.client).toBeUndefined();
  });
});

describe('accounts', () => {
  it('testAccount signs Login typed data that verifies, and memoryAccounts serves it', async () => {
    const a = testAccount(1);
    expect(testAccount(1).address).toBe(a.address);
    expect(a.address).toMatch(/^0x[0-9a-f]{40}$/);
    const { fields } = createChallenge();
    const signature = await a.signer.signTypedData(loginTypedData(fields));
    expect(verifyLogin({ fields, signature, address: a.address })).toBe(true);
    const dir = memoryAccounts([a]);
    expect((await dir.getAccount(a.id))?.signers[0]?.address).toBe(a.address);
    expect(await dir.getAccount(testAccount(2).id)).toBeUndefined();
  });

  it('set() takes a disabled signer and extra signers; delayMs can change while in use', async () => {
    const a = testAccount(3);
    const other = testAccount(4);
    const dir = memoryAccounts();
    dir.set(a, { disabled: true, extraSigners: [other.signer.address] });
    expect((await dir.getAccount(a.id))?.signers).toEqual([
      { type: 'ethereum', address: a.address, disabled: true },
      { type: 'ethereum', address: other.address, disabled: false },
    ]);
    let delays = 0;
    dir.delayMs = () => {
      delays++;
      return 1;
    };
    await dir.getAccount(a.id);
    expect(delays).toBe(1);
    expect(dir.lookups).toBe(2);
    expect(() => {
      dir.delayMs = -1;
    }).toThrow(RangeError);
  });

  it('freshTestAccount and freshDegasId never repeat; testBytes is deterministic per seed', () => {
    const ids = new Set([freshTestAccount().idHex, freshTestAccount().idHex, testAccount(1).idHex]);
    expect(ids.size).toBe(3);
    expect(idToHex(freshDegasId())).not.toBe(idToHex(freshDegasId()));
    expect(testBytes(64, 7)).toEqual(testBytes(64, 7));
    expect(testBytes(64, 7)).not.toEqual(testBytes(64, 8));
    expect(() => testBytes(-1)).toThrow(RangeError);
  });
});

describe('files', () => {
  it('tempDir writes strings as is and values as JSON, and accounts files; remove() deletes it', async () => {
    const dir = await tempDir('degas-test-utils-');
    const text = await dir.write('a.txt', 'plain');
    expect(readFileSync(text, 'utf8')).toBe('plain');
    expect(JSON.parse(readFileSync(await dir.write('b.json', { x: 1 }), 'utf8'))).toEqual({ x: 1 });
    const a = testAccount(5);
    const file = await dir.writeAccounts('accounts.json', [a]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      accounts: [{ id: a.idHex, signers: [{ type: 'ethereum', address: a.address, disabled: false }] }],
    });
    expect(dir.join('x')).toBe(join(dir.path, 'x'));
    await dir.remove();
    expect(existsSync(dir.path)).toBe(false);
  });
});

describe('startTestGateway', () => {
  it('passes the test defaults and in-memory directories to `start`, and closes what it started', async () => {
    let given: Record<string, unknown> = {};
    let closed = 0;
    const start = async (options: { port: number; helloTimeoutMs?: number; accounts?: unknown; degas?: unknown }) => {
      given = options;
      return { port: port, adminPort: undefined, close: async () => void closed++ };
    };
    const env = await startTestGateway(start, { helloTimeoutMs: 500 });
    expect(given).toMatchObject({ ...TEST_GATEWAY_DEFAULTS, helloTimeoutMs: 500 });
    expect(given.accounts).toBe(env.accounts);
    expect(given.degas).toBe(env.directory);
    expect(env.url).toBe(`ws://127.0.0.1:${port}`);
    const a = env.account();
    expect((await env.accounts.getAccount(a.id))?.signers[0]?.address).toBe(a.address);
    const degas = await env.startDegas({ echo: true });
    expect(env.directory.resolve(degas.degasId)).toEqual(degas.endpoint);
    const c = env.client();
    await c.opened;
    await env.close();
    expect(closed).toBe(1);
    expect((await c.closed()).code).toBe(1006);
    await expect(WsTestClient.connect(degas.port, {}, 1000)).rejects.toThrow();
  });

  it('account() refuses when the caller gave its own account directory', async () => {
    const start = async (_: { accounts?: unknown }) => ({ port: 1, close: async () => {} });
    const env = await startTestGateway(start, { accounts: { getAccount: () => undefined } });
    expect(() => env.account()).toThrow(/in-memory account directory/);
    await env.close();
  });
});

describe('WsTestClient', () => {
  it('logs decoded messages, counts text frames, and records how the connection closed', async () => {
    const c = WsTestClient.open(`ws://127.0.0.1:${port}`);
    await c.opened;
    const m = encodeDegasToClient(testAccount(1).id, Uint8Array.of(1, 2));
    c.send(m);
    expect(await c.nextData()).toEqual(Buffer.from(m));
    c.send('text');
    expect((await c.nextData()).toString()).toBe('text');
    expect(c.textFrames).toBe(1);
    expect(c.received).toHaveLength(2);
    expect(c.closedWith).toBeUndefined();
    await c.close();
    expect(c.closedWith?.code).toBe(1000);
    await expect(c.nextData(100)).rejects.toThrow(/closed \(1000\)/);
  });

  it('opened rejects on a refused upgrade', async () => {
    const degas = await startTestDegas({ degasId: testDegasId(9) });
    try {
      await expect(WsTestClient.open(degas.url).opened).rejects.toThrow(/HTTP 403/);
    } finally {
      await degas.close();
    }
  });
});

describe('startTestDegas', () => {
  it('checks the bearer token and Degas-Id, records upgrade attempts, echoes', async () => {
    const degasId = testDegasId(1);
    const degas = await startTestDegas({ degasId, token: 't0k', echo: true });
    try {
      const open = (headers: Record<string, string>) => upgradeStatus(degas.url, headers);
      expect(await open({ Authorization: 'Bearer nope', 'Degas-Id': idToHex(degasId) })).toBe(401);
      expect(await open({ Authorization: 'Bearer t0k', 'Degas-Id': idToHex(testDegasId(2)) })).toBe(403);
      expect(await open({ Authorization: 'Bearer t0k', 'Degas-Id': idToHex(degasId) })).toBe(101);
      expect(degas.upgradeAttempts.length).toBe(3);
    } finally {
      await degas.close();
    }
  });

  it('within rejects with TimeoutError', async () => {
    await expect(within(10, new Promise(() => {}))).rejects.toBeInstanceOf(TimeoutError);
    expect(encodeDegasToClient(testAccount(1).id, new Uint8Array(1)).length).toBeGreaterThan(16);
  });
});

describe('startNatsServer', () => {
  const infoLine = (port: number) =>
    new Promise<string>((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port });
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString());
      });
      s.once('error', reject);
    });

  test('runs JetStream on an OS-chosen port, survives kill/restart on that port, and cleans up', async () => {
    const nats = await startNatsServer();
    try {
      expect(nats.port).toBeGreaterThan(0);
      expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
      expect(await infoLine(nats.port)).toMatch(/^INFO .*"jetstream":true/);
      await nats.kill();
      await expect(infoLine(nats.port)).rejects.toThrow(/ECONNREFUSED/);
      await nats.restart();
      expect(await infoLine(nats.port)).toMatch(/^INFO /);
    } finally {
      await nats.stop();
    }
    expect(existsSync(nats.storeDir)).toBe(false);
    await expect(infoLine(nats.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
