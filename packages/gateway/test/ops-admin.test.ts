import { request } from 'node:http';
import { idFromHex, idToHex } from '@degas/proto';
import { isLoopbackAddress, startAdminServer, WRITES_DISABLED } from '../src/admin.js';
import { createStaticDegasDirectory } from '../src/degas-directory.js';
import { ADMIN_ERROR_STATUS, type AdminErrorCode } from '../src/errors.js';
import { createLogger, silentLogger } from '../src/logger.js';
import { createStats } from '../src/stats.js';
import type { AdminServer, GatewaySnapshot, MutableDegasDirectory } from '../src/types.js';

const ID = '0x00112233445566778899aabbccddeeff';
const TOKEN = 'admin-s3cret';
const SEED = '0x0000000000000000000000000000aaaa';

const snapshot = (): GatewaySnapshot => ({
  connectionsAuth: 1,
  connectionsForward: 2,
  links: [],
  verifier: 'noble',
  verifierThreads: 1,
  verifierNice: 10,
  loginsInProgress: 3,
  loginsWaiting: 5,
  verifierPending: 0,
  draining: false,
});

let ready = false;
let degas: MutableDegasDirectory;
let admin: AdminServer;
let open: AdminServer;
let noDegas: AdminServer;
const stats = createStats();

beforeAll(async () => {
  degas = createStaticDegasDirectory([
    { id: '0xffeeddccbbaa99887766554433221100', url: 'ws://seed:1', token: 'seed-token' },
  ]);
  const base = { host: '127.0.0.1', port: 0, stats, snapshot, ready: () => ready, logger: silentLogger };
  admin = await startAdminServer({ ...base, token: TOKEN, degas });
  open = await startAdminServer({ ...base, degas: createStaticDegasDirectory([{ id: SEED, url: 'ws://seed:2' }]) });
  noDegas = await startAdminServer({ ...base, token: TOKEN });
});
afterAll(async () => {
  await Promise.all([admin.close(), open.close(), noDegas.close()]);
});

const url = (s: AdminServer, path: string) => `http://127.0.0.1:${s.port}${path}`;
const auth = { authorization: `Bearer ${TOKEN}` };
const put = (s: AdminServer, path: string, body: unknown, headers: Record<string, string> = auth) =>
  fetch(url(s, path), {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('admin server', () => {
  test('GET /healthz is 200 ok', async () => {
    const res = await fetch(url(admin, '/healthz'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
  });

  test('GET /readyz follows ready()', async () => {
    ready = false;
    expect((await fetch(url(admin, '/readyz'))).status).toBe(503);
    ready = true;
    const res = await fetch(url(admin, '/readyz'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ready\n');
  });

  test('GET /metrics is Prometheus text', async () => {
    stats.authSuccesses = 42;
    const res = await fetch(url(admin, '/metrics?x=1'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toContain('\ndegas_gateway_auth_successes_total 42\n');
    expect(text).toContain('degas_gateway_connections{state="forward"} 2\n');
  });

  test('unknown paths are 404, wrong methods 405 with Allow', async () => {
    expect((await fetch(url(admin, '/nope'))).status).toBe(404);
    expect((await fetch(url(admin, '/v1/degas/0x00/extra'))).status).toBe(404);
    const res = await fetch(url(admin, '/healthz'), { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(url(admin, '/v1/degas'), { method: 'PUT', headers: auth })).status).toBe(405);
    expect((await fetch(url(admin, `/v1/degas/${ID}`), { method: 'POST', headers: auth })).status).toBe(405);
  });

  test('PUT registers, GET lists without tokens, DELETE unregisters', async () => {
    const res = await put(admin, `/v1/degas/${ID.toUpperCase().replace('0X', '0x')}`, {
      url: 'ws://10.0.0.7:7000',
      token: 'degas-token',
    });
    expect(res.status).toBe(204);
    expect(degas.resolve(idFromHex(ID))).toEqual({ url: 'ws://10.0.0.7:7000', token: 'degas-token' });

    const list = await fetch(url(admin, '/v1/degas'));
    expect(list.status).toBe(200);
    const text = await list.text();
    expect(text).not.toContain('degas-token');
    expect(text).not.toContain('seed-token');
    expect(JSON.parse(text)).toEqual({
      degas: [
        { id: ID, url: 'ws://10.0.0.7:7000', hasToken: true },
        { id: '0xffeeddccbbaa99887766554433221100', url: 'ws://seed:1', hasToken: true },
      ],
    });
    const one = await fetch(url(admin, `/v1/degas/${ID}`));
    expect(await one.json()).toEqual({ id: ID, url: 'ws://10.0.0.7:7000', hasToken: true });

    expect((await fetch(url(admin, `/v1/degas/${ID}`), { method: 'DELETE', headers: auth })).status).toBe(204);
    expect(degas.resolve(idFromHex(ID))).toBeUndefined();
    expect((await fetch(url(admin, `/v1/degas/${ID}`), { method: 'DELETE', headers: auth })).status).toBe(404);
    expect((await fetch(url(admin, `/v1/degas/${ID}`))).status).toBe(404);
  });

  test.each([
    ['no header', {}],
    ['wrong token', { authorization: 'Bearer wrong' }],
    ['wrong token of equal length', { authorization: `Bearer ${'x'.repeat(TOKEN.length)}` }],
    ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['wrong scheme', { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }],
    ['token without scheme', { authorization: TOKEN }],
    ['empty bearer', { authorization: 'Bearer ' }],
  ])('write endpoints refuse %s with 401', async (_name, headers: Record<string, string>) => {
    const res = await put(admin, `/v1/degas/${ID}`, { url: 'ws://evil:1' }, headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const del = await fetch(url(admin, '/v1/degas/0xffeeddccbbaa99887766554433221100'), { method: 'DELETE', headers });
    expect(del.status).toBe(401);
    expect(degas.resolve(idFromHex(ID))).toBeUndefined();
    expect(degas.resolve(idFromHex('0xffeeddccbbaa99887766554433221100'))).toBeDefined();
  });

  test('the bearer scheme is case-insensitive', async () => {
    const res = await put(admin, `/v1/degas/${ID}`, { url: 'ws://ok:1' }, { authorization: `bearer ${TOKEN}` });
    expect(res.status).toBe(204);
    degas.unregister(idFromHex(ID));
  });

  test.each([
    ['a bad id', '/v1/degas/0x1234', { url: 'ws://a:1' }, 400, /32 hex digits/],
    ['a percent-encoded id', `/v1/degas/%30x${ID.slice(2)}`, { url: 'ws://a:1' }, 400, /32 hex digits/],
    ['a malformed escape', '/v1/degas/%E0%A4%A', { url: 'ws://a:1' }, 400, /32 hex digits/],
    ['an id without 0x', `/v1/degas/${ID.slice(2)}`, { url: 'ws://a:1' }, 400, /32 hex digits/],
    ['a non-WebSocket URL', `/v1/degas/${ID}`, { url: 'http://a:1' }, 400, /ws:\/\//],
    ['a missing URL', `/v1/degas/${ID}`, { token: 'x' }, 400, /URL must be a string/],
    ['a bad token', `/v1/degas/${ID}`, { url: 'ws://a', token: 'a b' }, 400, /visible ASCII/],
    ['unknown keys', `/v1/degas/${ID}`, { url: 'ws://a', extra: 1 }, 400, /unknown key "extra"/],
    ['invalid JSON', `/v1/degas/${ID}`, '{nope', 400, /must be JSON/],
    ['a JSON array', `/v1/degas/${ID}`, '[]', 400, /JSON object/],
  ])('PUT with %s is refused', async (_name, path, body, status, why) => {
    const res = await put(admin, path, body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toMatch(why);
    expect(degas.resolve(idFromHex(ID))).toBeUndefined();
  });

  test('PUT with a non-JSON content type is 415', async () => {
    const res = await fetch(url(admin, `/v1/degas/${ID}`), {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/plain' },
      body: JSON.stringify({ url: 'ws://a' }),
    });
    expect(res.status).toBe(415);
  });

  test('PUT bodies over 64 KiB are 413, declared or streamed', async () => {
    const big = JSON.stringify({ url: 'ws://a', token: 'x'.repeat(70 * 1024) });
    expect((await put(admin, `/v1/degas/${ID}`, big)).status).toBe(413);
    // Chunked: no Content-Length, so the limit is enforced while reading.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: admin.port,
          method: 'PUT',
          path: `/v1/degas/${ID}`,
          headers: { ...auth, 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('x'.repeat(8192));
      req.end();
    });
    expect(status).toBe(413);
    expect(degas.resolve(idFromHex(ID))).toBeUndefined();
  });

  test('without a token configured, PUT and DELETE are refused with 403 and say why', async () => {
    for (const res of [
      await put(open, `/v1/degas/${ID}`, { url: 'ws://a:1' }, {}),
      // A bearer header changes nothing when the gateway has no token to compare it with.
      await put(open, `/v1/degas/${ID}`, { url: 'ws://a:1' }, { authorization: 'Bearer anything' }),
      await fetch(url(open, `/v1/degas/${SEED}`), { method: 'DELETE' }),
      // Refused before the id or the body is even looked at.
      await put(open, '/v1/degas/not-an-id', 'not json', {}),
    ]) {
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await res.json()).toEqual({ error: WRITES_DISABLED, code: 'ADMIN_WRITES_DISABLED' });
    }
    expect(WRITES_DISABLED).toMatch(/--admin-token/);
    // Nothing changed, and the read endpoints stay open.
    const list = (await (await fetch(url(open, '/v1/degas'))).json()) as { degas: { id: string }[] };
    expect(list.degas.map((d) => d.id)).toEqual([SEED]);
    expect((await fetch(url(open, `/v1/degas/${SEED}`))).status).toBe(200);
    expect((await fetch(url(open, '/metrics'))).status).toBe(200);
    expect((await fetch(url(open, '/healthz'))).status).toBe(200);
  });

  test.each([
    ['0.0.0.0', 'no', true],
    ['::', 'no', true],
    ['127.0.0.1', 'no', false],
    ['::1', 'no', false],
    ['localhost', 'no', false],
    ['0.0.0.0', 'a', false],
  ])('listening on %s with %s token: warning logged = %s', async (host, hasToken, warned) => {
    const token = hasToken === 'a' ? TOKEN : undefined;
    const records: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'debug', write: (line) => records.push(JSON.parse(line)) });
    const s = await startAdminServer({ host, port: 0, token, stats, snapshot, ready: () => true, logger });
    await s.close();
    const warnings = records.filter((r) => r.level === 'warn');
    if (!warned) {
      expect(warnings).toEqual([]);
      return;
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/reachable from other machines and has no --admin-token/);
    expect(warnings[0]!.msg).toMatch(/--admin-host 127\.0\.0\.1/);
    expect(warnings[0]).toMatchObject({ host, port: s.port });
  });

  test('isLoopbackAddress', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', 'localhost']) {
      expect([a, isLoopbackAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['0.0.0.0', '::', '', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', '1270.0.0.1', 'example.com']) {
      expect([a, isLoopbackAddress(a)]).toEqual([a, false]);
    }
  });

  test('without a mutable Degas directory, registration is 501 (after auth)', async () => {
    expect((await put(noDegas, `/v1/degas/${ID}`, { url: 'ws://a:1' }, {})).status).toBe(401);
    expect((await put(noDegas, `/v1/degas/${ID}`, { url: 'ws://a:1' })).status).toBe(501);
    expect((await fetch(url(noDegas, '/v1/degas'))).status).toBe(501);
  });

  test('listening twice on one port fails', async () => {
    await expect(
      startAdminServer({
        host: '127.0.0.1',
        port: admin.port,
        stats,
        snapshot,
        ready: () => true,
        logger: silentLogger,
      }),
    ).rejects.toThrow(/EADDRINUSE/);
  });

  test('options are validated', async () => {
    await expect(
      startAdminServer({ host: '127.0.0.1', port: 70_000, stats, snapshot, ready: () => true, logger: silentLogger }),
    ).rejects.toThrow(RangeError);
    await expect(
      startAdminServer({
        host: '127.0.0.1',
        port: 0,
        token: 'a b',
        stats,
        snapshot,
        ready: () => true,
        logger: silentLogger,
      }),
    ).rejects.toThrow(/visible ASCII/);
  });

  test('every refused request answers its stable code next to the message', async () => {
    const failing = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      stats,
      snapshot: () => {
        throw new Error('snapshot failed');
      },
      ready: () => true,
      logger: silentLogger,
    });
    const big = JSON.stringify({ url: 'ws://a', token: 'x'.repeat(70 * 1024) });
    const plain = { ...auth, 'content-type': 'text/plain' };
    const requests: [AdminErrorCode, () => Promise<Response>][] = [
      ['ADMIN_BAD_REQUEST', () => put(admin, '/v1/degas/0x12', { url: 'ws://a:1' })],
      ['ADMIN_UNAUTHORIZED', () => put(admin, `/v1/degas/${ID}`, { url: 'ws://a:1' }, {})],
      ['ADMIN_WRITES_DISABLED', () => put(open, `/v1/degas/${ID}`, { url: 'ws://a:1' }, {})],
      ['ADMIN_NOT_FOUND', () => fetch(url(admin, '/nope'))],
      ['ADMIN_METHOD_NOT_ALLOWED', () => fetch(url(admin, '/healthz'), { method: 'POST' })],
      ['ADMIN_BODY_TOO_LARGE', () => put(admin, `/v1/degas/${ID}`, big)],
      ['ADMIN_UNSUPPORTED_MEDIA_TYPE', () => fetch(url(admin, `/v1/degas/${ID}`), { method: 'PUT', headers: plain })],
      ['ADMIN_INTERNAL_ERROR', () => fetch(url(failing, '/metrics'))],
      ['ADMIN_NO_DEGAS_DIRECTORY', () => fetch(url(noDegas, '/v1/degas'))],
    ];
    try {
      expect(requests.map(([code]) => code).sort()).toEqual(Object.keys(ADMIN_ERROR_STATUS).sort());
      for (const [code, request] of requests) {
        const res = await request();
        const body = (await res.json()) as { error: string; code: string };
        expect([res.status, body.code]).toEqual([ADMIN_ERROR_STATUS[code], code]);
        expect(body.error).not.toBe('');
      }
    } finally {
      await failing.close();
    }
  });

  test('idToHex round trip of listed ids', () => {
    expect(degas.list().map((e) => idToHex(e.id))).toContain('0xffeeddccbbaa99887766554433221100');
  });
});
