import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { privateKeyToAddress } from '@degas/auth-eth';
import { idFromHex } from '@degas/proto';
import { AccountDirectoryError, createRpcAccountDirectory } from '../src/accounts.js';

const A = '0x00112233445566778899aabbccddeeff';
const B = '0xffeeddccbbaa99887766554433221100';
const ADDR = privateKeyToAddress(`0x${'11'.repeat(32)}`);

type Handler = (
  body: { jsonrpc: string; id: number; method: string; params: { account: string } },
  res: ServerResponse,
) => void;

let server: Server;
let url: string;
let handler: Handler;
const requests: { method: string; params: { account: string }; headers: IncomingMessage['headers'] }[] = [];

const reply = (res: ServerResponse, value: unknown, status = 200) => {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(typeof value === 'string' ? value : JSON.stringify(value));
};
const result = (id: number, r: unknown) => ({ jsonrpc: '2.0', id, result: r });
const accountResult = (
  account: string,
  signers: unknown[] = [{ type: 0, nonce: 0, disabled: false, address: ADDR }],
) => ({
  type: 0,
  identifier: account,
  signers,
});

beforeAll(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => {
      data += c.toString();
    });
    req.on('end', () => {
      const body = JSON.parse(data);
      requests.push({ method: body.method, params: body.params, headers: req.headers });
      handler(body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rpc`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  requests.length = 0;
});

describe('createRpcAccountDirectory', () => {
  test('GetAccount found: request shape and parsed account', async () => {
    handler = (body, res) => reply(res, result(body.id, accountResult(body.params.account)));
    const dir = createRpcAccountDirectory({ url, cacheTtlMs: 0, headers: { authorization: 'Bearer leader' } });
    const account = await dir.getAccount(idFromHex(A));
    expect(account).toEqual({
      id: idFromHex(A),
      signers: [{ type: 'ethereum', address: ADDR.toLowerCase(), disabled: false }],
    });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: 'GetAccount', params: { account: A } });
    expect(requests[0]!.headers.authorization).toBe('Bearer leader');
    expect(requests[0]!.headers['content-type']).toBe('application/json');
    dir.close();
  });

  test('disabled signers and unknown signer types', async () => {
    handler = (body, res) =>
      reply(
        res,
        result(
          body.id,
          accountResult(body.params.account.toUpperCase().replace('0X', '0x'), [
            { type: 7, nonce: 0, disabled: false, key: 'whatever' },
            { type: 0, nonce: 3, disabled: true, address: ADDR.toLowerCase() },
          ]),
        ),
      );
    const dir = createRpcAccountDirectory({ url, cacheTtlMs: 0 });
    expect((await dir.getAccount(idFromHex(A)))?.signers).toEqual([
      { type: 'ethereum', address: ADDR.toLowerCase(), disabled: true },
    ]);
  });

  test('null result and application JSON-RPC errors mean "no such account"', async () => {
    handler = (body, res) => reply(res, result(body.id, null));
    const dir = createRpcAccountDirectory({ url, cacheTtlMs: 0 });
    expect(await dir.getAccount(idFromHex(A))).toBeUndefined();
    handler = (body, res) =>
      reply(res, { jsonrpc: '2.0', id: body.id, error: { code: -32000, message: 'account not found' } });
    expect(await dir.getAccount(idFromHex(A))).toBeUndefined();
    handler = (body, res) =>
      reply(res, { jsonrpc: '2.0', id: body.id, error: { code: -32602, message: 'invalid params' } });
    expect(await dir.getAccount(idFromHex(A))).toBeUndefined();
  });

  test('malformed ids never reach the server', async () => {
    const dir = createRpcAccountDirectory({ url });
    expect(await dir.getAccount(new Uint8Array(5))).toBeUndefined();
    expect(requests).toHaveLength(0);
  });

  test.each([
    [
      'method not found',
      (id: number) => ({ jsonrpc: '2.0', id, error: { code: -32601, message: 'no' } }),
      'ACCOUNTS_RPC_UNAVAILABLE',
      /JSON-RPC error -32601/,
    ],
    [
      'internal error',
      (id: number) => ({ jsonrpc: '2.0', id, error: { code: -32603, message: 'boom' } }),
      'ACCOUNTS_RPC_UNAVAILABLE',
      /-32603/,
    ],
    [
      'another account',
      (id: number) => result(id, accountResult(B)),
      'ACCOUNTS_RPC_INVALID_RESPONSE',
      /is not the account asked for/,
    ],
    [
      'a bad identifier',
      (id: number) => result(id, accountResult('0x12')),
      'ACCOUNTS_RPC_INVALID_RESPONSE',
      /identifier/,
    ],
    ['a wrong response id', (id: number) => result(id + 1, null), 'ACCOUNTS_RPC_INVALID_RESPONSE', /id does not match/],
    ['no jsonrpc field', (id: number) => ({ id, result: null }), 'ACCOUNTS_RPC_INVALID_RESPONSE', /JSON-RPC 2\.0/],
    [
      'neither result nor error',
      (id: number) => ({ jsonrpc: '2.0', id }),
      'ACCOUNTS_RPC_INVALID_RESPONSE',
      /neither result nor error/,
    ],
    [
      'a bad address',
      (id: number) => result(id, accountResult(A, [{ type: 0, address: '0x12', disabled: false }])),
      'ACCOUNTS_RPC_INVALID_RESPONSE',
      /signers\[0\]\.address/,
    ],
    [
      'a string disabled',
      (id: number) => result(id, accountResult(A, [{ type: 0, address: ADDR, disabled: 'no' }])),
      'ACCOUNTS_RPC_INVALID_RESPONSE',
      /disabled must be a boolean/,
    ],
    [
      'signers not an array',
      (id: number) => result(id, { type: 0, identifier: A, signers: {} }),
      'ACCOUNTS_RPC_INVALID_RESPONSE',
      /signers must be an array/,
    ],
    [
      'another account type',
      (id: number) => result(id, { ...accountResult(A), type: 1 }),
      'ACCOUNTS_RPC_INVALID_RESPONSE',
      /unsupported account type/,
    ],
    ['a non-object result', (id: number) => result(id, 'yes'), 'ACCOUNTS_RPC_INVALID_RESPONSE', /object or null/],
    ['not JSON', () => 'hello', 'ACCOUNTS_RPC_INVALID_RESPONSE', /not JSON/],
  ])('rejects %s', async (_name, make, code, why) => {
    handler = (body, res) => reply(res, make(body.id));
    const dir = createRpcAccountDirectory({ url, cacheTtlMs: 60_000 });
    const p = dir.getAccount(idFromHex(A));
    await expect(p).rejects.toBeInstanceOf(AccountDirectoryError);
    await expect(p).rejects.toMatchObject({ code, message: expect.stringMatching(why) });
    // Failures are not cached.
    handler = (body, res) => reply(res, result(body.id, accountResult(A)));
    expect(await dir.getAccount(idFromHex(A))).toBeDefined();
  });

  test('HTTP errors and unreachable servers reject', async () => {
    handler = (_body, res) => reply(res, 'nope', 502);
    const dir = createRpcAccountDirectory({ url });
    await expect(dir.getAccount(idFromHex(A))).rejects.toMatchObject({
      code: 'ACCOUNTS_RPC_UNAVAILABLE',
      message: expect.stringMatching(/HTTP 502/),
    });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const dead = createRpcAccountDirectory({ url: `http://127.0.0.1:${port}/` });
    await expect(dead.getAccount(idFromHex(A))).rejects.toMatchObject({ code: 'ACCOUNTS_RPC_UNAVAILABLE' });
  });

  test('a server that does not answer in time rejects after timeoutMs', async () => {
    const held: ServerResponse[] = [];
    handler = (_body, res) => void held.push(res);
    const dir = createRpcAccountDirectory({ url, timeoutMs: 150 });
    const started = performance.now();
    await expect(dir.getAccount(idFromHex(A))).rejects.toMatchObject({
      code: 'ACCOUNTS_RPC_UNAVAILABLE',
      message: expect.stringMatching(/no answer within 150 ms/),
    });
    expect(performance.now() - started).toBeLessThan(2000);
    for (const r of held) r.destroy();
  });

  test('responses over maxResponseBytes are refused, declared or streamed', async () => {
    handler = (body, res) => reply(res, result(body.id, { ...accountResult(A), pad: 'x'.repeat(5000) }));
    const dir = createRpcAccountDirectory({ url, maxResponseBytes: 1000 });
    await expect(dir.getAccount(idFromHex(A))).rejects.toThrow(/larger than 1000 bytes/);
    handler = (body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(JSON.stringify(result(body.id, { ...accountResult(A), pad: 'y'.repeat(3000) })).slice(0, 2000));
      res.end('"}}');
    };
    await expect(dir.getAccount(idFromHex(A))).rejects.toThrow(/larger than 1000 bytes/);
  });

  test('positive and negative answers are cached for cacheTtlMs; concurrent lookups share one request', async () => {
    handler = (body, res) => reply(res, result(body.id, body.params.account === A ? accountResult(A) : null));
    const dir = createRpcAccountDirectory({ url, cacheTtlMs: 200 });
    const [x, y] = await Promise.all([dir.getAccount(idFromHex(A)), dir.getAccount(idFromHex(A))]);
    expect(x).toBeDefined();
    expect(y).toBe(x);
    expect(requests).toHaveLength(1);
    expect(await dir.getAccount(idFromHex(A))).toBe(x);
    expect(await dir.getAccount(idFromHex(B))).toBeUndefined();
    expect(await dir.getAccount(idFromHex(B))).toBeUndefined();
    expect(requests).toHaveLength(2);
    // After the ttl, both are asked again.
    await new Promise((r) => setTimeout(r, 250));
    await dir.getAccount(idFromHex(A));
    await dir.getAccount(idFromHex(B));
    expect(requests).toHaveLength(4);
  });

  test('the cache is bounded by maxCacheEntries (oldest evicted)', async () => {
    handler = (body, res) => reply(res, result(body.id, null));
    const dir = createRpcAccountDirectory({ url, cacheTtlMs: 60_000, maxCacheEntries: 2 });
    const ids = [1, 2, 3].map((i) => new Uint8Array(16).fill(i));
    for (const id of ids) await dir.getAccount(id);
    expect(requests).toHaveLength(3);
    await dir.getAccount(ids[2]!);
    await dir.getAccount(ids[1]!);
    expect(requests).toHaveLength(3);
    await dir.getAccount(ids[0]!); // evicted
    expect(requests).toHaveLength(4);
  });

  test('options are validated', () => {
    expect(() => createRpcAccountDirectory({ url: 'ws://x' })).toThrow(/http:\/\/ or https:\/\//);
    expect(() => createRpcAccountDirectory({ url: 'http://x', timeoutMs: 0 })).toThrow(RangeError);
    expect(() => createRpcAccountDirectory({ url: 'http://x', cacheTtlMs: -1 })).toThrow(RangeError);
    expect(() => createRpcAccountDirectory({ url: 'http://x', maxCacheEntries: 1.5 })).toThrow(RangeError);
  });
});
