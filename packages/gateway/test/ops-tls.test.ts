/**
 * TLS on the gateway's own ports (`tls`, `adminTls`): certificates made in the test by a private
 * CA (Debian's openssl), clients that verify them against that CA, reload on renewal without
 * dropping connections, refusal of a bad pair, and the failures a TLS port must give cleanly.
 */
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import {
  createTestCa,
  degasFrame,
  memoryAccounts,
  memoryDegasDirectory,
  startTestGateway,
  type TestCa,
  type TestCertificate,
  type TestGateway,
  testBytes,
  until,
} from '@degas/test-utils';
import WebSocket from 'ws';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import { createLogger } from '../src/logger.js';
import { loadTlsPair, openTlsFiles, TLS_MIN_VERSION, type TlsFileError } from '../src/tls.js';

let ca: TestCa;
let first: TestCertificate;
let second: TestCertificate;
let otherCa: TestCa;
let foreign: TestCertificate;
let dir: string;
let env: TestGateway<GatewayHandle> | undefined;
let caseNo = 0;

beforeAll(async () => {
  ca = await createTestCa();
  otherCa = await createTestCa();
  [first, second, foreign] = await Promise.all([ca.issue('first'), ca.issue('second'), otherCa.issue('foreign')]);
  dir = await mkdtemp(join(tmpdir(), 'degas-tls-'));
}, 60_000);
afterAll(async () => {
  await Promise.all([ca?.close(), otherCa?.close(), dir && rm(dir, { recursive: true, force: true })]);
});
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** A fresh directory holding `cert` as tls.crt / tls.key: the files the gateway watches. */
async function liveFiles(cert: TestCertificate): Promise<{ tlsCert: string; tlsKey: string }> {
  const d = join(dir, `case-${++caseNo}`);
  await mkdir(d);
  const files = { tlsCert: join(d, 'tls.crt'), tlsKey: join(d, 'tls.key') };
  await copyFile(cert.certFile, files.tlsCert);
  await copyFile(cert.keyFile, files.tlsKey);
  return files;
}

/** Replaces a file the way renewal tools do: write a temporary file, rename it over the old one. */
async function replace(path: string, content: string): Promise<void> {
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
}

/** Completes a TLS handshake and returns what was negotiated, or the handshake error. */
function handshake(
  port: number,
  options: ConnectionOptions = {},
): Promise<{ socket: TLSSocket; fingerprint: string } | { error: Error }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem, ...options });
    socket.once('secureConnect', () =>
      resolve({ socket, fingerprint: socket.getPeerX509Certificate()!.fingerprint256 }),
    );
    socket.once('error', (error) => resolve({ error }));
  });
}

function peerFingerprint(ws: WebSocket): string {
  // ws keeps its socket private; the certificate a live connection was set up with is what we check.
  return (ws as unknown as { _socket: TLSSocket })._socket.getPeerX509Certificate()!.fingerprint256;
}

test('a client trusting the CA logs in over wss:// and relays; TLS 1.2 minimum, ALPN http/1.1', async () => {
  env = await startTestGateway(startGateway, { ...(await liveFiles(first)) }, { clientOptions: { ca: ca.certPem } });
  expect(env.url).toMatch(/^wss:\/\//);
  const degas = await env.startDegas({ echo: true });
  const { client } = await env.loggedIn();
  expect(peerFingerprint(client.ws)).toBe(first.fingerprint256);
  const payload = testBytes(20_000, 3);
  client.send(degasFrame(degas.degasId, payload));
  expect((await client.nextDegas()).payload).toEqual(payload);

  const h2 = await handshake(env.gateway.port, { ALPNProtocols: ['h2', 'http/1.1'] });
  if (!('socket' in h2)) throw h2.error;
  expect(h2.socket.alpnProtocol).toBe('http/1.1');
  expect(h2.socket.getProtocol()).toBe('TLSv1.3');
  h2.socket.destroy();
  const tls12 = await handshake(env.gateway.port, { maxVersion: 'TLSv1.2' });
  if (!('socket' in tls12)) throw tls12.error;
  expect(tls12.socket.getProtocol()).toBe('TLSv1.2');
  tls12.socket.destroy();
  expect(TLS_MIN_VERSION).toBe('TLSv1.2');

  const failuresBefore = env.gateway.stats.tlsHandshakeFailures;
  // The client would speak TLS 1.1 (its security level lowered so that it can): the server refuses.
  const tls11 = await handshake(env.gateway.port, {
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1.1',
    ciphers: 'DEFAULT@SECLEVEL=0',
  });
  expect('error' in tls11).toBe(true);
  await until(() => env!.gateway.stats.tlsHandshakeFailures === failuresBefore + 1, 5000, 'the refused handshake');
});

test('a client that does not trust the CA is refused by its own verification', async () => {
  env = await startTestGateway(startGateway, { ...(await liveFiles(foreign)) }, { clientOptions: { ca: ca.certPem } });
  const c = env.client();
  await expect(c.opened).rejects.toThrow();
  const r = await handshake(env.gateway.port);
  expect('error' in r && (r.error as NodeJS.ErrnoException).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('plain ws:// to the TLS port fails at once with a socket error; the port keeps serving wss://', async () => {
  env = await startTestGateway(startGateway, { ...(await liveFiles(first)) }, { clientOptions: { ca: ca.certPem } });
  const plain = new WebSocket(`ws://127.0.0.1:${env.gateway.port}`);
  const [err] = (await once(plain, 'error')) as [Error];
  expect(err.message).toMatch(/socket hang up|ECONNRESET/);
  expect(plain.readyState).toBe(WebSocket.CLOSED);
  expect(env.gateway.stats.tlsHandshakeFailures).toBe(1);
  // No login slot or pending count leaks from the refused socket.
  await until(() => env!.gateway.snapshot().loginsInProgress === 0, 5000, 'no login in progress');
  await env.startDegas({ echo: true });
  await env.loggedIn();
  const metrics = await adminMetrics(env);
  expect(metrics).toContain('degas_gateway_tls_handshake_failures_total 1\n');
});

test('a renewed certificate is served to new connections while open ones stay up', async () => {
  const files = await liveFiles(first);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) });
  env = await startTestGateway(startGateway, { ...files, logger }, { clientOptions: { ca: ca.certPem } });
  const degas = await env.startDegas({ echo: true });
  const old = (await env.loggedIn()).client;
  expect(peerFingerprint(old.ws)).toBe(first.fingerprint256);

  const reloaded = once(env.gateway.tls!, 'reload');
  await replace(files.tlsKey, second.keyPem);
  await replace(files.tlsCert, second.certPem);
  await reloaded;
  expect(env.gateway.tls!.current.fingerprint256).toBe(second.fingerprint256);
  const reloadLog = lines.find((l) => l.msg === 'tls certificate reloaded');
  expect(reloadLog).toMatchObject({ level: 'info', component: 'tls', fingerprint: second.fingerprint256 });

  const renewed = (await env.loggedIn()).client;
  expect(peerFingerprint(renewed.ws)).toBe(second.fingerprint256);
  // The connection made before the renewal is still up and still relays.
  expect(old.closedWith).toBeUndefined();
  old.send(degasFrame(degas.degasId, testBytes(100, 1)));
  expect((await old.nextDegas()).payload).toEqual(testBytes(100, 1));
  renewed.send(degasFrame(degas.degasId, testBytes(100, 2)));
  expect((await renewed.nextDegas()).payload).toEqual(testBytes(100, 2));

  const metrics = await adminMetrics(env);
  expect(metrics).toContain('degas_gateway_tls_reloads_total{result="ok"} 1\n');
  const expiry = /degas_gateway_tls_certificate_expiry_seconds (\d+)\n/.exec(metrics);
  expect(Number(expiry?.[1]) * 1000).toBe(Math.floor(env.gateway.tls!.current.notAfter / 1000) * 1000);
});

test('a bad pair is refused and logged, and the previous certificate stays in use', async () => {
  const files = await liveFiles(first);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) });
  env = await startTestGateway(startGateway, { ...files, logger }, { clientOptions: { ca: ca.certPem } });
  const tls = env.gateway.tls!;

  // A certificate whose key is not the one in the key file.
  let refused = once(tls, 'reloadError');
  await replace(files.tlsCert, second.certPem);
  expect(((await refused)[0] as TlsFileError).problem).toBe('pair');
  // Not a certificate at all.
  refused = once(tls, 'reloadError');
  await replace(files.tlsCert, 'not a certificate\n');
  expect(((await refused)[0] as TlsFileError).problem).toBe('cert');
  // The file gone.
  refused = once(tls, 'reloadError');
  await rm(files.tlsCert);
  expect(((await refused)[0] as TlsFileError).message).toMatch(/no such file/);

  expect(tls.current.fingerprint256).toBe(first.fingerprint256);
  const r = await handshake(env.gateway.port);
  if (!('socket' in r)) throw r.error;
  expect(r.fingerprint).toBe(first.fingerprint256);
  r.socket.destroy();
  const warnings = lines.filter((l) => l.msg === 'tls certificate reload refused; keeping the previous certificate');
  expect(warnings.length).toBeGreaterThanOrEqual(3);
  expect(warnings.every((w) => w.level === 'warn' && w.fingerprint === first.fingerprint256)).toBe(true);
  expect(tls.reloadFailures).toBe(warnings.length);
  expect(tls.reloads).toBe(0);

  // A good pair afterwards is taken.
  const reloaded = once(tls, 'reload');
  await replace(files.tlsCert, first.certPem.replace(/\n$/, '\n\n'));
  await reloaded;
  expect(tls.reloads).toBe(1);
});

test('missing, unreadable, invalid or mismatched files fail the start with a TlsFileError', async () => {
  const accounts = memoryAccounts();
  const degas = memoryDegasDirectory();
  const start = (certFile: string, keyFile: string) =>
    startGateway({ host: '127.0.0.1', port: 0, adminPort: false, accounts, degas, tlsCert: certFile, tlsKey: keyFile });
  const cases: [string, string, string, RegExp][] = [
    [join(dir, 'missing.crt'), first.keyFile, 'cert', /cannot read .*missing\.crt: no such file/],
    [dir, first.keyFile, 'cert', /cannot read .*: EISDIR/],
    [first.certFile, join(dir, 'missing.key'), 'key', /missing\.key: no such file/],
    [first.keyFile, first.keyFile, 'cert', /is not a PEM certificate/],
    [first.certFile, first.certFile, 'key', /is not an unencrypted PEM private key/],
    [first.certFile, second.keyFile, 'pair', /does not belong to the certificate/],
  ];
  for (const [certFile, keyFile, problem, message] of cases) {
    const err = await start(certFile, keyFile).then(
      () => new Error('started'),
      (e: unknown) => e as Error,
    );
    expect([certFile, keyFile, err.name, (err as TlsFileError).problem]).toEqual([
      certFile,
      keyFile,
      'TlsFileError',
      problem,
    ]);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
  }
  await expect(loadTlsPair(first.certFile, first.keyFile)).resolves.toMatchObject({
    fingerprint256: first.fingerprint256,
  });
  await expect(
    startGateway({ accounts, degas, noServer: true, tlsCert: first.certFile, tlsKey: first.keyFile }),
  ).rejects.toThrow(/tlsCert cannot be combined with noServer/);
  await expect(startGateway({ accounts, degas, port: 0, adminTls: true })).rejects.toThrow(/adminTls needs tlsCert/);
  await expect(startGateway({ accounts, degas, port: 0, tlsCert: first.certFile })).rejects.toThrow(
    /tlsCert needs tlsKey/,
  );
  await expect(openTlsFiles({ certFile: '', keyFile: 'x' })).rejects.toThrow(TypeError);
});

test('adminTls serves the admin API over HTTPS with the same certificate; without it the admin port stays HTTP', async () => {
  const files = await liveFiles(first);
  env = await startTestGateway(
    startGateway,
    { ...files, adminTls: true, adminPort: 0, adminHost: '127.0.0.1' },
    { clientOptions: { ca: ca.certPem } },
  );
  const port = env.gateway.adminPort!;
  const res = await httpsGet(port, '/healthz');
  expect(res).toEqual({ status: 200, body: 'ok\n', fingerprint: first.fingerprint256 });
  const plain = await fetch(`http://127.0.0.1:${port}/healthz`).then(
    (r) => r.status,
    (e: { cause?: { code?: string } }) => e.cause?.code ?? 'error',
  );
  expect(plain).not.toBe(200);

  // The admin server follows a renewal too.
  const reloaded = once(env.gateway.tls!, 'reload');
  await replace(files.tlsKey, second.keyPem);
  await replace(files.tlsCert, second.certPem);
  await reloaded;
  expect((await httpsGet(port, '/healthz')).fingerprint).toBe(second.fingerprint256);
  await env.close();

  env = await startTestGateway(
    startGateway,
    { ...(await liveFiles(first)), adminPort: 0, adminHost: '127.0.0.1' },
    { clientOptions: { ca: ca.certPem } },
  );
  expect((await fetch(`http://127.0.0.1:${env.gateway.adminPort}/healthz`)).status).toBe(200);
});

function httpsGet(port: number, path: string): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca: ca.certPem, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          body,
          fingerprint: (res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function adminMetrics(e: TestGateway<GatewayHandle>): Promise<string> {
  const { renderMetrics } = await import('../src/metrics.js');
  return renderMetrics(e.gateway.stats, e.gateway.snapshot());
}
