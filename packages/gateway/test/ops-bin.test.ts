/**
 * End to end through the real `degas-gateway` bin: an accounts file, a Degas given with --degas,
 * a client that logs in with an Ethereum key, a message round trip, the admin endpoints, and a
 * SIGTERM drain. Client and Degas are written here from @degas/proto + @degas/auth-eth + ws only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getPriority, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loginTypedData, parseChallenge, privateKeySigner } from '@degas/auth-eth';
import {
  CloseCode,
  decodeGatewayInternalMessage,
  decodeGatewayMessage,
  ErrorCode,
  encodeClientMessage,
  encodeDegasToClient,
  type GatewayInternalMessage,
  type GatewayMessage,
  idEquals,
  idFromHex,
  idToHex,
} from '@degas/proto';
import { createTestCa, runGatewayBin } from '@degas/test-utils';
import { type WebSocket, WebSocketServer, WebSocket as WsClient } from 'ws';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/bin.js');
const ACCOUNT = '0x0a0b0c0d0e0f00112233445566778899';
const DEGAS = '0x99887766554433221100ffeeddccbbaa';
const KEY = `0x${'5a'.repeat(32)}`;
const DOMAIN = 'Ops Test Domain';
const INTERNAL_TOKEN = 'internal-tok';
const ADMIN_TOKEN = 'admin-tok';

/** Messages of one socket, awaited in order. */
class Inbox<T> {
  private items: T[] = [];
  private waiters: ((v: T) => void)[] = [];
  push(v: T) {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }
  next(ms = 5000): Promise<T> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`nothing received within ${ms} ms`)), ms);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }
}

let dir: string;
let degasServer: WebSocketServer;
const degasInbox = new Inbox<GatewayInternalMessage>();
const upgradeHeaders: IncomingHttpHeaders[] = [];
let proc: ChildProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'degas-bin-'));
  degasServer = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 256 * 1024, perMessageDeflate: false });
  await new Promise<void>((r) => degasServer.once('listening', r));
  degasServer.on('connection', (ws, req) => {
    upgradeHeaders.push(req.headers);
    ws.on('message', (data: Buffer) => {
      const msg = decodeGatewayInternalMessage(data);
      degasInbox.push(msg);
      // Echo every client message back to its sender, reversed.
      if (msg.payload?.$case === 'clientMessage') {
        const { accountId, payload } = msg.payload.value;
        ws.send(encodeDegasToClient(accountId, Uint8Array.from(payload).reverse()));
      }
    });
  });
});

afterAll(async () => {
  if (proc !== undefined && proc.exitCode === null) proc.kill('SIGKILL');
  for (const c of degasServer.clients) c.terminate();
  await new Promise((r) => degasServer.close(r));
  await rm(dir, { recursive: true, force: true });
});

test('the bin serves a login and a round trip, reports on the admin port, and drains on SIGTERM', async () => {
  const signer = privateKeySigner(KEY);
  const accounts = join(dir, 'accounts.json');
  await writeFile(
    accounts,
    JSON.stringify({
      accounts: [{ id: ACCOUNT, signers: [{ type: 'ethereum', address: signer.address, disabled: false }] }],
    }),
  );
  const degasUrl = `ws://127.0.0.1:${(degasServer.address() as AddressInfo).port}`;

  const { child, stderr, exited, line } = await startBin(
    ['--accounts', accounts, '--degas', `${DEGAS}=${degasUrl}`, '--auth-domain', DOMAIN, '--shutdown-timeout-ms=3000'],
    { DEGAS_INTERNAL_TOKEN: INTERNAL_TOKEN, DEGAS_ADMIN_TOKEN: ADMIN_TOKEN },
  );
  proc = child;
  expect(line).toMatchObject({
    level: 'info',
    port: expect.any(Number),
    adminPort: expect.any(Number),
    verifier: expect.stringMatching(/^(native|noble)$/),
    masking: expect.stringMatching(/^(bufferutil|js)$/),
    accounts: 'file',
    // The default: verification threads 10 nice steps below the main thread (Linux).
    verifierNice: Math.min(19, getPriority() + 10),
  });
  const port = line.port as number;
  const adminPort = line.adminPort as number;
  expect(port).toBeGreaterThan(0);
  expect(adminPort).toBeGreaterThan(0);
  expect(port).not.toBe(adminPort);

  // --- login
  const { answer: ok, ws: client, closed, inbox, signature } = await login(port, ACCOUNT, KEY, DOMAIN);
  expect(ok.payload?.$case).toBe('authOk');
  if (ok.payload?.$case === 'authOk') expect(idToHex(ok.payload.value.accountId)).toBe(ACCOUNT);

  // --- a message goes round: client → gateway → Degas → gateway → client
  const payload = new TextEncoder().encode('hello degas');
  client.send(encodeClientMessage({ payload: { $case: 'degas', value: { degasId: idFromHex(DEGAS), payload } } }));
  const atDegas = await degasInbox.next();
  expect(atDegas.payload?.$case).toBe('clientMessage');
  if (atDegas.payload?.$case !== 'clientMessage') throw new Error('unreachable');
  expect(idToHex(atDegas.payload.value.accountId)).toBe(ACCOUNT);
  expect(Buffer.from(atDegas.payload.value.payload).toString()).toBe('hello degas');
  const sessionId = atDegas.payload.value.sessionId;
  expect(upgradeHeaders[0]?.authorization).toBe(`Bearer ${INTERNAL_TOKEN}`);
  expect(upgradeHeaders[0]?.['degas-id']).toBe(DEGAS);
  const back = await inbox.next();
  expect(back.payload?.$case).toBe('degas');
  if (back.payload?.$case !== 'degas') throw new Error('unreachable');
  expect(idToHex(back.payload.value.degasId)).toBe(DEGAS);
  expect(Buffer.from(back.payload.value.payload).toString()).toBe('saged olleh');

  // --- admin port
  const admin = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${adminPort}${path}`, init);
  expect((await admin('/healthz')).status).toBe(200);
  expect((await admin('/readyz')).status).toBe(200);
  const metrics = await (await admin('/metrics')).text();
  expect(metrics).toMatch(/^degas_gateway_auth_successes_total 1$/m);
  expect(metrics).toMatch(new RegExp(`^degas_gateway_verifier_thread_nice ${Math.min(19, getPriority() + 10)}$`, 'm'));
  expect(metrics).toMatch(/^degas_gateway_messages_forwarded_total\{direction="client_to_degas"\} 1$/m);
  expect(metrics).toMatch(/^degas_gateway_messages_forwarded_total\{direction="degas_to_client"\} 1$/m);
  expect(metrics).toMatch(/^degas_gateway_connections\{state="forward"\} 1$/m);
  expect(metrics).toMatch(new RegExp(`^degas_gateway_link_state\\{degas_id="${DEGAS}",state="open"\\} 1$`, 'm'));
  expect(metrics).toMatch(
    new RegExp(`^degas_gateway_verifier_info\\{verifier="${line.verifier}",threads="1"\\} 1$`, 'm'),
  );
  const other = '0x11111111111111111111111111111111';
  const body = JSON.stringify({ url: 'ws://127.0.0.1:9' });
  expect(
    (await admin(`/v1/degas/${other}`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } }))
      .status,
  ).toBe(401);
  expect(
    (
      await admin(`/v1/degas/${other}`, {
        method: 'PUT',
        body,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      })
    ).status,
  ).toBe(204);
  const list = (await (await admin('/v1/degas')).json()) as { degas: { id: string }[] };
  expect(list.degas.map((d) => d.id).sort()).toEqual([other, DEGAS].sort());

  // --- SIGTERM: GOING_AWAY + 1001 to the client, session_closed to the Degas, exit 0
  const started = performance.now();
  child.kill('SIGTERM');
  const bye = await inbox.next();
  expect(bye.payload?.$case).toBe('error');
  if (bye.payload?.$case === 'error') expect(bye.payload.value.code).toBe(ErrorCode.GOING_AWAY);
  expect(await closed).toBe(CloseCode.GOING_AWAY);
  const notice = await degasInbox.next();
  expect(notice.payload?.$case).toBe('sessionClosed');
  if (notice.payload?.$case === 'sessionClosed') {
    expect(idEquals(notice.payload.value.accountId, idFromHex(ACCOUNT))).toBe(true);
    expect(notice.payload.value.sessionId).toBe(sessionId);
  }
  expect(await exited).toEqual({ code: 0, signal: null });
  expect(performance.now() - started).toBeLessThan(5000);
  const logs = stderr.flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : []));
  expect(logs.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
  // Nothing secret in the logs.
  const all = stderr.join('\n');
  expect(all).not.toContain(INTERNAL_TOKEN);
  expect(all).not.toContain(ADMIN_TOKEN);
  expect(all).not.toContain(Buffer.from(signature!).toString('hex'));
});

/** Spawns the bin (on 127.0.0.1 unless `args` has a --host) and resolves with its "listening" log line. */
async function startBin(args: string[], env: NodeJS.ProcessEnv = {}) {
  const host = args.some((a) => a.startsWith('--host')) ? [] : ['--host=127.0.0.1'];
  const child = spawn(process.execPath, [BIN, ...host, '--port=0', '--admin-port=0', '--verifier-threads=1', ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  const line = await new Promise<Record<string, unknown>>((resolveLine, reject) => {
    createInterface({ input: child.stderr! }).on('line', (l) => {
      stderr.push(l);
      if (l.includes('"listening"')) resolveLine(JSON.parse(l) as Record<string, unknown>);
    });
    void exited.then(({ code }) => reject(new Error(`exited with ${code} before listening:\n${stderr.join('\n')}`)));
  });
  return { child, stderr, exited, line, port: line.port as number, adminPort: line.adminPort as number };
}

/**
 * Logs in over a fresh connection (EIP-712 domain `domain`, default "Degas"); resolves with the
 * first answer to eth_auth (auth_ok or an error), the socket and its later messages.
 */
async function login(port: number, accountHex: string, key: string, domain?: string) {
  const signer = privateKeySigner(key);
  const inbox = new Inbox<GatewayMessage>();
  const ws: WebSocket = new WsClient(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 128 * 1024 });
  ws.on('message', (data: Buffer) => inbox.push(decodeGatewayMessage(data)));
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise<void>((r, j) => {
    ws.once('open', () => r());
    ws.once('error', j);
  });
  ws.send(
    encodeClientMessage({
      payload: {
        $case: 'hello',
        value: {
          accountId: idFromHex(accountHex),
          signer: { $case: 'ethereumSigner', value: { address: signer.address } },
        },
      },
    }),
  );
  const first = await inbox.next();
  if (first.payload?.$case !== 'authRequest' || first.payload.value.request?.$case !== 'ethereumAuth')
    return { answer: first, ws, closed, inbox, signature: undefined };
  const fields = parseChallenge(first.payload.value.request.value.challenge);
  const signature = await signer.signTypedData(loginTypedData(fields, { domainName: domain }));
  ws.send(encodeClientMessage({ payload: { $case: 'ethAuth', value: { signature } } }));
  return { answer: await inbox.next(), ws, closed, inbox, signature };
}

async function runBin(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const { code, stdout } = await runGatewayBin(args, { bin: BIN });
  return { code, stdout };
}

test('an account added with "accounts add" while the gateway runs can log in without a restart', async () => {
  const accounts = join(dir, 'live-accounts.json');
  const key1 = `0x${'61'.repeat(32)}`;
  const key2 = `0x${'62'.repeat(32)}`;
  const first = await runBin(['accounts', 'add', '--accounts', accounts, '--address', privateKeySigner(key1).address]);
  expect(first.code).toBe(0);
  const id1 = first.stdout.trim();
  const gw = await startBin(['--accounts', accounts, '--degas', `${DEGAS}=ws://127.0.0.1:9`]);
  proc = gw.child;
  try {
    const a = await login(gw.port, id1, key1);
    expect(a.answer.payload?.$case).toBe('authOk');
    a.ws.close();
    await a.closed;

    // Not there yet: AUTH_FAIL and 4001.
    const id2 = '0x22222222222222222222222222222222';
    const early = await login(gw.port, id2, key2);
    expect(early.answer.payload?.$case).toBe('error');
    if (early.answer.payload?.$case === 'error') expect(early.answer.payload.value.code).toBe(ErrorCode.AUTH_FAIL);
    expect(await early.closed).toBe(CloseCode.AUTH_FAILED);

    const added = await runBin([
      'accounts',
      'add',
      '--accounts',
      accounts,
      '--address',
      privateKeySigner(key2).address,
      '--id',
      id2,
    ]);
    expect(added).toEqual({ code: 0, stdout: `${id2}\n` });
    // The gateway logs the reload; wait for that line (no fixed sleep).
    const deadline = performance.now() + 5000;
    while (!gw.stderr.some((l) => l.includes('"accounts reloaded"'))) {
      if (performance.now() > deadline) throw new Error(`no reload logged:\n${gw.stderr.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const b = await login(gw.port, id2, key2);
    expect(b.answer.payload?.$case).toBe('authOk');
    b.ws.close();
    await b.closed;
  } finally {
    gw.child.kill('SIGTERM');
    expect((await gw.exited).code).toBe(0);
  }
});

/** An accounts file with one account, written directly (no dependence on other tests). */
async function oneAccountFile(name: string): Promise<string> {
  const path = join(dir, name);
  const address = privateKeySigner(KEY).address;
  await writeFile(
    path,
    JSON.stringify({ accounts: [{ id: ACCOUNT, signers: [{ type: 'ethereum', address, disabled: false }] }] }),
  );
  return path;
}

test('a start with no admin flags: admin on 127.0.0.1 only, writes refused (403), no warning', async () => {
  const accounts = await oneAccountFile('defaults-accounts.json');
  // No --host either: the client port is on 0.0.0.0, as a new user would start it.
  const gw = await startBin(['--accounts', accounts]);
  proc = gw.child;
  try {
    const admin = `http://127.0.0.1:${gw.adminPort}`;
    expect((await fetch(`${admin}/metrics`)).status).toBe(200);
    const refused = await fetch(`http://127.0.0.2:${gw.adminPort}/metrics`).then(
      (res) => res.status,
      (err: { cause?: { code?: string } }) => err.cause?.code,
    );
    expect(refused).toBe('ECONNREFUSED');
    const put = await fetch(`${admin}/v1/degas/${DEGAS}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'ws://attacker.example:7000' }),
    });
    expect(put.status).toBe(403);
    expect(((await put.json()) as { error: string }).error).toMatch(/--admin-token/);
    expect((await fetch(`${admin}/v1/degas/${DEGAS}`)).status).toBe(404);
    expect(gw.stderr.filter((l) => l.includes('"level":"warn"'))).toEqual([]);
  } finally {
    gw.child.kill('SIGTERM');
    expect((await gw.exited).code).toBe(0);
  }
});

test('--admin-host 0.0.0.0 without a token logs a warning naming the risk; with a token it does not', async () => {
  const accounts = await oneAccountFile('admin-host-accounts.json');
  const open = await startBin(['--accounts', accounts, '--admin-host', '0.0.0.0']);
  proc = open.child;
  try {
    const warnings = open.stderr.filter((l) => l.includes('"level":"warn"')).map((l) => JSON.parse(l));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].msg).toMatch(/reachable from other machines and has no --admin-token/);
    expect(warnings[0]).toMatchObject({ address: '0.0.0.0', port: open.adminPort });
    expect((await fetch(`http://127.0.0.2:${open.adminPort}/healthz`)).status).toBe(200);
  } finally {
    open.child.kill('SIGTERM');
    expect((await open.exited).code).toBe(0);
  }
  const closed = await startBin(['--accounts', accounts, '--admin-host', '0.0.0.0'], { DEGAS_ADMIN_TOKEN: 'tok' });
  proc = closed.child;
  try {
    expect(closed.stderr.filter((l) => l.includes('"level":"warn"'))).toEqual([]);
  } finally {
    closed.child.kill('SIGTERM');
    expect(await closed.exited).toEqual({ code: 0, signal: null });
  }
});

test('--tls-cert/--tls-key: missing, unreadable or mismatched files exit 2 with one line; a good pair serves wss://', async () => {
  const ca = await createTestCa();
  try {
    const [a, b] = await Promise.all([ca.issue('bin-a'), ca.issue('bin-b')]);
    const accounts = await oneAccountFile('tls-accounts.json');
    const cases: [string[], RegExp][] = [
      [
        ['--tls-cert', join(ca.dir, 'none.crt'), '--tls-key', a.keyFile],
        /^degas-gateway: --tls-cert: cannot read .*none\.crt: no such file$/,
      ],
      [['--tls-cert', ca.dir, '--tls-key', a.keyFile], /^degas-gateway: --tls-cert: cannot read .*: EISDIR$/],
      [
        ['--tls-cert', a.certFile, '--tls-key', b.keyFile],
        /^degas-gateway: --tls-cert: the key in .* does not belong to the certificate in .*$/,
      ],
      [
        ['--tls-cert', a.certFile, '--tls-key', a.certFile],
        /^degas-gateway: --tls-key: .* is not an unencrypted PEM private key/,
      ],
      [['--tls-cert', a.certFile], /^degas-gateway: --tls-cert: needs --tls-key too$/],
      [['--admin-tls'], /^degas-gateway: --admin-tls: needs --tls-cert and --tls-key/],
    ];
    for (const [args, line] of cases) {
      const r = await runBinStderr(['--port=0', '--admin-port=0', '--accounts', accounts, ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(line);
    }
    const gw = await startBin([
      '--accounts',
      accounts,
      '--tls-cert',
      a.certFile,
      '--tls-key',
      a.keyFile,
      '--admin-tls',
    ]);
    proc = gw.child;
    try {
      const ws = new WsClient(`wss://127.0.0.1:${gw.port}`, { ca: ca.certPem });
      await new Promise<void>((r, j) => {
        ws.once('open', () => r());
        ws.once('error', j);
      });
      ws.close();
      const started = gw.stderr
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'gateway started');
      expect(started).toMatchObject({ tls: true, admin_tls: true });
    } finally {
      gw.child.kill('SIGTERM');
      expect((await gw.exited).code).toBe(0);
    }
  } finally {
    await ca.close();
  }
});

function runBinStderr(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const c = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    c.on('close', (code) => done({ code, stderr }));
  });
}
