/**
 * @degas/client in a real browser: headless Debian Chromium (driven by playwright-core) loads a
 * page bundled with esbuild for browsers from the package's browser entry, logs in through a
 * real gateway with a test key, and exchanges messages with a real Degas (@degas/degas-sdk).
 */

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loginTypedData } from '@degas/auth-eth';
import { DegasServer } from '@degas/degas-sdk';
import {
  createFileAccountDirectory,
  createStaticDegasDirectory,
  type GatewayHandle,
  type GatewayOptions,
  startGateway,
} from '@degas/gateway';
import { decodeClientMessage, idToHex } from '@degas/proto';
import {
  accountsFileJson,
  createTestCa,
  type SpawnedGateway,
  spawnGateway,
  startTestGateway,
  type TestCa,
  testAccount,
  testDegasId,
  testKey,
} from '@degas/test-utils';
import * as esbuild from 'esbuild';
import { type TypedDataDomain, type TypedDataField, Wallet } from 'ethers';
import { type Browser, chromium, type Page } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const PACKAGE_DIR = resolve(here, '../..');
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'browser-test-internal-token';

const alice = testAccount(41);
/** The player of the wallet test: its key lives in the "extension" (Node), never in the page. */
const bob = testAccount(43);
/** Base mainnet, the chain the injected wallet is connected to. */
const WALLET_CHAIN = 8453;
const degasId = idToHex(testDegasId(41));
const unknownDegasId = idToHex(testDegasId(42));

/** What page.js puts on `window` (the test page runs in the browser, these run in Node). */
interface TestWindow {
  degasTestReady?: boolean;
  degasTest: {
    echo(args: Record<string, unknown>): Promise<{
      address: string;
      states: string[];
      received: { degasIdHex: string; text: string; hex: string; isUint8Array: boolean }[];
      gatewayErrors: { codeName: string; degasIdHex: string | null }[];
      hasGlobalWebSocket: boolean;
    }>;
    wrongKey(args: Record<string, unknown>): Promise<Record<string, unknown>>;
    wallet(args: Record<string, unknown>): Promise<{ address: string; states: string[]; echo: string }>;
  };
  degasResume: {
    start(args: Record<string, unknown>): Promise<{ signRequests: number; resumed: boolean; echo: string }>;
    afterRestart(
      args: Record<string, unknown>,
    ): Promise<{ signRequests: number; resumed: boolean; states: string[]; echo: string }>;
  };
}

let dir: string;
let accountsFile: string;
let degasPort: number;
let accounts: Awaited<ReturnType<typeof createFileAccountDirectory>>;
let degas: DegasServer;
let gateway: GatewayHandle;
let web: Server;
let webUrl: string;
let gatewayUrl: string;
let bundledInputs: string[];
let browser: Browser;
let ca: TestCa;
let tlsGateway: GatewayHandle;
let tlsGatewayUrl: string;
let secureWeb: Server;
let secureWebUrl: string;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 30_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} failed: ${String(stderr).trim() || err.message}`)) : resolve(),
    ),
  );
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

async function openTestPage(url = webUrl): Promise<{
  page: Page;
  framesSent: (string | Buffer)[];
  framesReceived: (string | Buffer)[];
  pageErrors: Error[];
}> {
  const page = await browser.newPage();
  const framesSent: (string | Buffer)[] = [];
  const framesReceived: (string | Buffer)[] = [];
  const pageErrors: Error[] = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', ({ payload }) => framesSent.push(payload));
    ws.on('framereceived', ({ payload }) => framesReceived.push(payload));
  });
  page.on('pageerror', (err) => pageErrors.push(err));
  await page.goto(url);
  await page.waitForFunction(() => (globalThis as unknown as TestWindow).degasTestReady === true);
  return { page, framesSent, framesReceived, pageErrors };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'degas-browser-'));

  // The account directory as an operator keeps it: a JSON file with the test key's address.
  accountsFile = join(dir, 'accounts.json');
  await writeFile(accountsFile, accountsFileJson([alice, bob]));
  accounts = await createFileAccountDirectory({ path: accountsFile, watch: false });

  // An echo Degas: answers every message with "echo:" + the payload.
  degas = new DegasServer({ degasId, token: TOKEN, port: 0, host: '127.0.0.1' });
  degas.on('message', ({ accountId, payload }) => {
    const reply = new Uint8Array(5 + payload.length);
    reply.set(new TextEncoder().encode('echo:'));
    reply.set(payload, 5);
    degas.send(accountId, reply);
  });
  degasPort = (await degas.listen()).port;

  // The gateway presents the token from its own option (the directory entry has none).
  const startBrowserGateway = async (options: Partial<GatewayOptions> = {}) => {
    const degasDirectory = createStaticDegasDirectory([{ id: degasId, url: `ws://127.0.0.1:${degasPort}` }]);
    const env = await startTestGateway(startGateway, {
      accounts,
      degas: degasDirectory,
      internalToken: TOKEN,
      ...options,
    });
    return { gateway: env.gateway, url: env.url };
  };
  ({ gateway, url: gatewayUrl } = await startBrowserGateway());

  // The page: bundled for browsers, so @degas/client resolves to its browser entry.
  const result = await esbuild.build({
    entryPoints: [join(here, 'page.js')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    metafile: true,
    absWorkingDir: PACKAGE_DIR,
    logLevel: 'silent',
  });
  bundledInputs = Object.keys(result.metafile.inputs).map((p) => resolve(PACKAGE_DIR, p));
  const bundle = result.outputFiles[0]!.text;
  const html =
    '<!doctype html><meta charset="utf-8"><title>degas</title><script type="module" src="/bundle.js"></script>';
  const serve: RequestListener = (req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
    } else if (req.url === '/bundle.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  };
  web = createServer(serve);
  webUrl = `http://127.0.0.1:${await listen(web)}/`;

  // TLS: a private CA that the browser trusts the way a user or an administrator adds one (an NSS
  // certificate store in the browser's home directory, with Debian's certutil), a gateway serving
  // wss:// and the same page served over https://, both with certificates that CA signed.
  ca = await createTestCa();
  const cert = await ca.issue('browser-test');
  const home = join(dir, 'home');
  const nssdb = `sql:${join(home, '.pki', 'nssdb')}`;
  await mkdir(join(home, '.pki', 'nssdb'), { recursive: true });
  await run('certutil', ['-d', nssdb, '-N', '--empty-password']);
  await run('certutil', ['-d', nssdb, '-A', '-n', 'degas-test-ca', '-t', 'C,,', '-i', ca.certFile]);
  ({ gateway: tlsGateway, url: tlsGatewayUrl } = await startBrowserGateway({
    tlsCert: cert.certFile,
    tlsKey: cert.keyFile,
  }));
  secureWeb = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, serve) as unknown as Server;
  secureWebUrl = `https://127.0.0.1:${await listen(secureWeb)}/`;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    env: { ...process.env, HOME: home },
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (secureWeb ? secureWeb.close(() => resolve()) : resolve()));
  await gateway?.close();
  await tlsGateway?.close();
  await ca?.close();
  await degas?.close();
  accounts?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the bundle uses the browser entry of @degas/client and contains no ws or Node built-ins', () => {
  expect(bundledInputs).toContain(join(PACKAGE_DIR, 'dist', 'index.js'));
  expect(bundledInputs).toContain(join(PACKAGE_DIR, 'dist', 'client.js'));
  expect(
    bundledInputs.filter((p) => p === join(PACKAGE_DIR, 'dist', 'node.js') || /[/\\]ws[/\\]|node:/.test(p)),
  ).toEqual([]);
});

test('a page logs in with a key and exchanges messages with a Degas through the gateway', async () => {
  const { page, framesSent, framesReceived, pageErrors } = await openTestPage();
  const texts = ['hello', 'from', 'chromium ✓'];
  const result = await page.evaluate((args) => (globalThis as unknown as TestWindow).degasTest.echo(args), {
    url: gatewayUrl,
    accountId: alice.idHex,
    privateKey: hexKey(41),
    degasId,
    unknownDegasId,
    texts,
  });
  await page.close();

  expect(pageErrors).toEqual([]);
  expect(result.hasGlobalWebSocket).toBe(true);
  expect(result.address.toLowerCase()).toBe(alice.address);
  expect(result.states).toEqual(['connecting', 'authenticating', 'connected', 'closed']);
  expect(result.received).toEqual([
    ...texts.map((t) => ({
      degasIdHex: degasId,
      text: `echo:${t}`,
      hex: Buffer.from(`echo:${t}`).toString('hex'),
      isUint8Array: true,
    })),
    {
      degasIdHex: degasId,
      text: expect.any(String),
      hex: `${Buffer.from('echo:').toString('hex')}000102fdfeff`,
      isUint8Array: true,
    },
  ]);
  // The gateway names the Degas it could not reach.
  expect(result.gatewayErrors).toEqual([{ codeName: 'DEGAS_ERROR', degasIdHex: unknownDegasId }]);
  // hello, eth_auth, 4 messages to the echo Degas and 1 to the unknown one; every frame binary.
  expect(framesSent.length).toBe(7);
  expect(framesSent.filter((f) => typeof f === 'string')).toEqual([]);
  // auth_request, auth_ok, 4 echoes, DEGAS_ERROR: binary too.
  expect(framesReceived.length).toBe(7);
  expect(framesReceived.filter((f) => typeof f === 'string')).toEqual([]);
}, 20_000);

test('a page served over https:// logs in over wss:// to a gateway whose certificate the browser trusts through its CA', async () => {
  const { page, pageErrors } = await openTestPage(secureWebUrl);
  expect(page.url()).toBe(secureWebUrl);
  expect(await page.evaluate(() => (globalThis as unknown as { isSecureContext: boolean }).isSecureContext)).toBe(true);
  const result = await page.evaluate((args) => (globalThis as unknown as TestWindow).degasTest.echo(args), {
    url: tlsGatewayUrl,
    accountId: alice.idHex,
    privateKey: hexKey(41),
    degasId,
    unknownDegasId,
    texts: ['over wss'],
  });
  await page.close();
  expect(pageErrors).toEqual([]);
  expect(result.states).toEqual(['connecting', 'authenticating', 'connected', 'closed']);
  expect(result.received[0]).toEqual({
    degasIdHex: degasId,
    text: 'echo:over wss',
    hex: Buffer.from('echo:over wss').toString('hex'),
    isUint8Array: true,
  });
}, 20_000);

test('a page that signs with a key the account does not know gets AuthError and stays closed', async () => {
  const { page, pageErrors } = await openTestPage();
  const result = await page.evaluate((args) => (globalThis as unknown as TestWindow).degasTest.wrongKey(args), {
    url: gatewayUrl,
    accountId: alice.idHex,
    privateKey: hexKey(99),
  });
  await page.close();
  expect(pageErrors).toEqual([]);
  expect(result).toEqual({
    connected: false,
    isAuthError: true,
    name: 'AuthError',
    code: 'AUTH_FAILED',
    states: ['connecting', 'authenticating', 'closed'],
    finalState: 'closed',
  });
}, 20_000);

/**
 * An injected EIP-1193 wallet connected to chain 8453, behaving as MetaMask does: it refuses
 * `eth_signTypedData_v4` when the domain's chainId is not its active chain, and records every
 * request. Like an extension, it signs outside the page (ethers, in Node, through an exposed
 * function).
 */
async function injectWallet(page: Page, key: string, chainId: number): Promise<{ methods: string[] }> {
  const wallet = new Wallet(key);
  const methods: string[] = [];
  await page.exposeFunction('walletRequest', async (method: string, params: unknown[] | undefined) => {
    methods.push(method);
    if (method === 'eth_requestAccounts' || method === 'eth_accounts') return { result: [wallet.address] };
    if (method === 'eth_chainId') return { result: `0x${chainId.toString(16)}` };
    if (method === 'eth_signTypedData_v4') {
      const [from, json] = params as [string, string];
      if (from.toLowerCase() !== wallet.address.toLowerCase())
        return { error: { code: 4100, message: 'Unauthorized' } };
      const typed = JSON.parse(json) as {
        domain: TypedDataDomain;
        types: Record<string, TypedDataField[]>;
        message: Record<string, unknown>;
      };
      if (Number(typed.domain.chainId) !== chainId) {
        return {
          error: {
            code: -32602,
            message: `Provided chainId "${String(typed.domain.chainId)}" must match the active chainId "${chainId}"`,
          },
        };
      }
      const { EIP712Domain: _, ...types } = typed.types;
      return { result: await wallet.signTypedData(typed.domain, types, typed.message) };
    }
    return { error: { code: 4200, message: `unsupported method ${method}` } };
  });
  await page.addInitScript(() => {
    const w = globalThis as unknown as {
      walletRequest(method: string, params: unknown): Promise<{ result?: unknown; error?: object }>;
      ethereum: unknown;
    };
    w.ethereum = {
      isMetaMask: true,
      async request({ method, params }: { method: string; params?: unknown[] }) {
        const answer = await w.walletRequest(method, params);
        // EIP-1193 providers reject with plain { code, message } objects.
        if (answer.error !== undefined) throw answer.error;
        return answer.result;
      },
    };
  });
  return { methods };
}

test('a page with an injected wallet on chain 8453 that refuses other chains logs in (eth_chainId, no switch)', async () => {
  const page = await browser.newPage();
  const { methods } = await injectWallet(page, `0x${hexKey(43)}`, WALLET_CHAIN);
  const pageErrors: Error[] = [];
  page.on('pageerror', (err) => pageErrors.push(err));
  const framesSent: Buffer[] = [];
  page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => framesSent.push(payload as Buffer)));
  await page.goto(webUrl);
  await page.waitForFunction(() => (globalThis as unknown as TestWindow).degasTestReady === true);
  const successesBefore = gateway.stats.authSuccesses;
  const result = await page.evaluate((args) => (globalThis as unknown as TestWindow).degasTest.wallet(args), {
    url: gatewayUrl,
    accountId: bob.idHex,
    degasId,
  });
  const loginMethods = [...methods];
  // The wallet really refuses mainnet typed data (what a client fixed to chain 1 would send).
  const mainnetTyped = JSON.stringify(
    loginTypedData({ Message: 'Sign in', Challenge: '00'.repeat(16) }, { chainId: 1 }),
  );
  const refusal = await page.evaluate(
    async ({ address, typed }) => {
      const ethereum = (globalThis as unknown as { ethereum: { request(a: object): Promise<unknown> } }).ethereum;
      try {
        await ethereum.request({ method: 'eth_signTypedData_v4', params: [address, typed] });
        return 'signed';
      } catch (err) {
        return (err as { message: string }).message;
      }
    },
    { address: result.address, typed: mainnetTyped },
  );
  await page.close();
  expect(refusal).toBe('Provided chainId "1" must match the active chainId "8453"');
  expect(pageErrors).toEqual([]);
  expect(result.address.toLowerCase()).toBe(bob.address);
  expect(result.states).toEqual(['connecting', 'authenticating', 'connected', 'closed']);
  expect(result.echo).toBe('echo:from a wallet on Base');
  // No wallet_switchEthereumChain, no second prompt: one signature for the active chain.
  expect(loginMethods).toEqual(['eth_requestAccounts', 'eth_chainId', 'eth_signTypedData_v4']);
  expect(gateway.stats.authSuccesses).toBe(successesBefore + 1);
  // eth_auth (the second frame) carries chain_id 8453.
  const ethAuth = decodeClientMessage(new Uint8Array(framesSent[1]!));
  expect(ethAuth.payload?.$case).toBe('ethAuth');
  if (ethAuth.payload?.$case === 'ethAuth') {
    expect(ethAuth.payload.value.chainId).toBe(BigInt(WALLET_CHAIN));
    expect(ethAuth.payload.value.signature.length).toBe(65);
  }
}, 20_000);

function hexKey(n: number): string {
  return Buffer.from(testKey(n)).toString('hex');
}

test('a page whose EIP-1193 wallet counts its signing requests comes back after a gateway restart (same --resume-key) with zero new requests', async () => {
  const key = randomBytes(32).toString('hex');
  const args = (port: number) => [
    '--port',
    String(port),
    '--admin-port',
    'off',
    '--accounts',
    accountsFile,
    '--degas',
    `${degasId}=ws://127.0.0.1:${degasPort}`,
    '--internal-token',
    TOKEN,
    '--resume-key',
    key,
    '--verifier-threads',
    '1',
    '--log-level',
    'info', // spawnGateway waits for the "listening" line
  ];
  let gw: SpawnedGateway | undefined = await spawnGateway(args(0));
  const port = gw.port;
  const { page, pageErrors } = await openTestPage();
  try {
    const before = await page.evaluate((a) => (globalThis as unknown as TestWindow).degasResume.start(a), {
      url: `ws://127.0.0.1:${port}`,
      accountId: alice.idHex,
      privateKey: hexKey(41),
      degasId,
    });
    expect(before).toEqual({ signRequests: 1, resumed: false, echo: 'echo:before' });

    // A restart, as an operator does it: SIGTERM (GOING_AWAY to every client), then the same
    // command line again on the same port.
    gw.kill('SIGTERM');
    expect((await gw.exited()).code).toBe(0);
    gw = await spawnGateway(args(port));

    const after = await page.evaluate((a) => (globalThis as unknown as TestWindow).degasResume.afterRestart(a), {
      degasId,
    });
    expect(after.signRequests).toBe(1); // no new wallet pop-up
    expect(after.resumed).toBe(true);
    expect(after.echo).toBe('echo:after');
    expect(after.states.slice(0, 3)).toEqual(['connecting', 'authenticating', 'connected']);
    expect(after.states).toContain('reconnecting');
    expect(after.states.at(-1)).toBe('connected');
    expect(pageErrors).toEqual([]);
  } finally {
    await page.close();
    gw?.kill('SIGTERM');
    await gw?.exited();
  }
}, 40_000);
