/**
 * The admin HTTP server (ARCHITECTURE.md 2): health, readiness, Prometheus metrics and Degas
 * registration. It listens on its own port so it can stay off the public network.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, isIPv4 } from 'node:net';
import { idFromHex, idToHex, isIdHex } from '@degas/proto';
import { isPlainObject, validateDegasUrl, validateToken } from './degas-directory.js';
import { AdminHttpError } from './errors.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import { startRuntimeMetrics } from './runtime-metrics.js';
import type { AdminServer, AdminServerOptions, DegasEndpoint } from './types.js';

/** Largest accepted request body (PUT /v1/degas/…), in bytes. */
export const ADMIN_BODY_LIMIT = 64 * 1024;

const DEGAS_PATH = /^\/v1\/degas\/([^/]+)$/;

/** Body of the 403 answered to PUT/DELETE when no admin token is configured. */
export const WRITES_DISABLED =
  'the admin write endpoints are disabled: start the gateway with --admin-token (or DEGAS_ADMIN_TOKEN) to enable them';

/**
 * Whether a bound listen address is reachable from this machine only: 127.0.0.0/8, ::1, or
 * IPv4-mapped 127.x. The wildcard addresses (0.0.0.0, ::) and every other address are not.
 * @example
 * isLoopbackAddress('127.0.0.1'); // true
 * isLoopbackAddress('0.0.0.0'); // false
 */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  if (a === '::1' || a === 'localhost') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return isIPv4(v4) && v4.startsWith('127.');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Starts the admin HTTP server:
 * `GET /healthz` → 200 `ok`; `GET /readyz` → 200 once `ready()` else 503 (then the
 * `readyDetail()` lines); `GET /metrics` →
 * Prometheus text; `GET /v1/degas` → registered Degas (never tokens);
 * `PUT /v1/degas/0x<id>` `{"url":"ws://…","token":"…"}` → 204; `DELETE /v1/degas/0x<id>` → 204/404.
 * PUT and DELETE need `Authorization: Bearer <token>`; without a `token` they are refused (403).
 * Listening on a non-loopback address without a token logs a warning.
 * @example
 * const admin = await startAdminServer({ host: '127.0.0.1', port: 0, stats, snapshot, ready: () => true, logger });
 * console.log(admin.port);
 * await admin.close();
 */
export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  if (opts === null || typeof opts !== 'object') throw new TypeError('options must be an object');
  if (typeof opts.host !== 'string') throw new TypeError('host must be a string');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${String(opts.port)}`);
  }
  if (typeof opts.snapshot !== 'function' || typeof opts.ready !== 'function') {
    throw new TypeError('snapshot and ready must be functions');
  }
  const expected = opts.token === undefined ? undefined : digest(validateToken(opts.token));
  const log = opts.logger;

  const authorize = (req: IncomingMessage): void => {
    // No token, no writes: an open PUT would let anyone who reaches this port re-point a Degas
    // id at a server of their own and speak to its players.
    if (expected === undefined) throw new AdminHttpError('ADMIN_WRITES_DISABLED', WRITES_DISABLED);
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    // Compare digests, not the tokens: equal lengths for timingSafeEqual, and no length leak.
    if (m === null || !timingSafeEqual(digest(m[1]!), expected)) {
      throw new AdminHttpError('ADMIN_UNAUTHORIZED', 'a valid bearer token is required', {
        'www-authenticate': 'Bearer realm="degas-gateway"',
      });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    const method = req.method ?? 'GET';
    const isRead = method === 'GET' || method === 'HEAD';
    if (path === '/healthz' || path === '/readyz' || path === '/metrics') {
      if (!isRead) throw new AdminHttpError('ADMIN_METHOD_NOT_ALLOWED', 'method not allowed', { allow: 'GET, HEAD' });
      if (path === '/healthz') return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      if (path === '/readyz') {
        const detail = opts.readyDetail?.() ?? [];
        const tail = detail.length === 0 ? '' : `${detail.join('\n')}\n`;
        return opts.ready()
          ? send(res, 200, 'text/plain; charset=utf-8', `ready\n${tail}`)
          : send(res, 503, 'text/plain; charset=utf-8', `not ready\n${tail}`);
      }
      // The gateway's own series first, from the same instant; the runtime series read /proc
      // asynchronously.
      const own = renderMetrics(opts.stats, opts.snapshot());
      return send(res, 200, METRICS_CONTENT_TYPE, own + (await runtime.metrics()));
    }
    if (path === '/v1/degas') {
      if (!isRead) throw new AdminHttpError('ADMIN_METHOD_NOT_ALLOWED', 'method not allowed', { allow: 'GET, HEAD' });
      const degas = requireDegas();
      const list = degas
        .list()
        .map(({ id, endpoint }) => ({ id: idToHex(id), url: endpoint.url, hasToken: endpoint.token !== undefined }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return sendJson(res, 200, { degas: list });
    }
    const m = DEGAS_PATH.exec(path);
    if (m === null) throw new AdminHttpError('ADMIN_NOT_FOUND', 'not found');
    if (method !== 'PUT' && method !== 'DELETE' && !isRead) {
      throw new AdminHttpError('ADMIN_METHOD_NOT_ALLOWED', 'method not allowed', { allow: 'GET, HEAD, PUT, DELETE' });
    }
    if (!isRead) authorize(req);
    const degas = requireDegas();
    const idText = m[1]!;
    if (!isIdHex(idText))
      throw new AdminHttpError('ADMIN_BAD_REQUEST', 'the path must end with 0x followed by 32 hex digits');
    const id = idFromHex(idText);
    const hex = idToHex(id);
    if (isRead) {
      const found = degas.list().find((e) => idToHex(e.id) === hex);
      if (found === undefined) throw new AdminHttpError('ADMIN_NOT_FOUND', 'no such Degas');
      return sendJson(res, 200, { id: hex, url: found.endpoint.url, hasToken: found.endpoint.token !== undefined });
    }
    if (method === 'DELETE') {
      if (!degas.unregister(id)) throw new AdminHttpError('ADMIN_NOT_FOUND', 'no such Degas');
      log.info('degas unregistered', { degasId: hex });
      return send(res, 204);
    }
    const endpoint = parseEndpoint(await readBody(req));
    degas.register(id, endpoint);
    log.info('degas registered', { degasId: hex, url: endpoint.url, token: endpoint.token !== undefined });
    return send(res, 204);
  };

  const requireDegas = () => {
    if (opts.degas === undefined)
      throw new AdminHttpError('ADMIN_NO_DEGAS_DIRECTORY', 'this gateway has no mutable Degas directory');
    return opts.degas;
  };

  const serverOptions = { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof AdminHttpError) {
        if (!res.headersSent) sendJson(res, err.status, { error: err.message, code: err.code }, err.headers);
        else res.destroy();
        return;
      }
      log.error('admin request failed', { path: req.url?.slice(0, 200), error: (err as Error)?.message });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error', code: 'ADMIN_INTERNAL_ERROR' });
      else res.destroy();
    });
  };
  let server: Server;
  if (opts.tls === undefined) server = createServer(serverOptions, onRequest);
  else {
    const httpsServer = createHttpsServer(
      { ...serverOptions, ...opts.tls.serverOptions(), handshakeTimeout: 10_000 },
      onRequest,
    );
    opts.tls.attach(httpsServer);
    server = httpsServer as unknown as Server;
  }
  server.maxHeadersCount = 100;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  // Stopped by close() (or a failed listen): the only collectors that run between scrapes.
  const runtime = startRuntimeMetrics();
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      runtime.close();
      reject(err);
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error('admin server error', { error: err.message }));
  const bound = server.address() as AddressInfo;
  if (expected === undefined && !isLoopbackAddress(bound.address)) {
    log.warn(
      'the admin API is reachable from other machines and has no --admin-token: anyone who can reach ' +
        'this address reads /metrics and the registered Degas URLs (writes stay refused until a token is set); ' +
        'bind it to loopback with --admin-host 127.0.0.1 or firewall the port',
      { host: opts.host, address: bound.address, port: bound.port },
    );
  }

  let closing: Promise<void> | undefined;
  return {
    port: bound.port,
    server,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        runtime.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function parseEndpoint(body: string): DegasEndpoint {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new AdminHttpError('ADMIN_BAD_REQUEST', 'the body must be JSON: {"url":"ws://…","token":"…"}');
  }
  if (!isPlainObject(doc))
    throw new AdminHttpError('ADMIN_BAD_REQUEST', 'the body must be a JSON object: {"url":"ws://…","token":"…"}');
  for (const key of Object.keys(doc)) {
    if (key !== 'url' && key !== 'token')
      throw new AdminHttpError('ADMIN_BAD_REQUEST', `unknown key ${JSON.stringify(key.slice(0, 40))}`);
  }
  try {
    const url = validateDegasUrl(doc.url);
    return doc.token === undefined ? { url } : { url, token: validateToken(doc.token) };
  } catch (err) {
    throw new AdminHttpError('ADMIN_BAD_REQUEST', (err as Error).message);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
    return Promise.reject(new AdminHttpError('ADMIN_UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json'));
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > ADMIN_BODY_LIMIT) {
    return Promise.reject(
      new AdminHttpError('ADMIN_BODY_TOO_LARGE', `the body must be at most ${ADMIN_BODY_LIMIT} bytes`),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > ADMIN_BODY_LIMIT) {
        req.removeAllListeners('data');
        req.resume();
        reject(
          new AdminHttpError('ADMIN_BODY_TOO_LARGE', `the body must be at most ${ADMIN_BODY_LIMIT} bytes`, {
            connection: 'close',
          }),
        );
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  type?: string,
  body?: string,
  headers: Record<string, string> = {},
): void {
  const h: Record<string, string> = { 'cache-control': 'no-store', ...headers };
  if (type !== undefined) h['content-type'] = type;
  if (body !== undefined) h['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, h);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, headers);
}
