/**
 * Test helpers for the gateway's core tests: an in-memory account directory, a scriptable Degas
 * (a real ws server on port 0), a protocol-aware test client, and a gateway on port 0.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type EthSigner, generatePrivateKey, loginTypedData, parseChallenge, privateKeySigner } from '@degas/auth-eth';
import {
  decodeGatewayInternalMessage,
  decodeGatewayMessage,
  encodeClientMessage,
  encodeDegasToClient,
  type GatewayInternalMessage,
  type GatewayMessage,
  idKey,
  randomId,
} from '@degas/proto';
import WebSocket, { WebSocketServer } from 'ws';
import { type GatewayHandle, startGateway } from '../src/gateway.js';
import type { Account, AccountDirectory, DegasDirectory, DegasEndpoint, GatewayOptions } from '../src/types.js';

/** Polls `cond` until it is true (bounded); for conditions that have no event. */
export async function until(cond: () => boolean, what = 'condition', timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A test account with one Ethereum key. */
export interface TestAccount {
  id: Uint8Array;
  key: Uint8Array;
  signer: EthSigner;
  address: string;
}

export function makeAccount(): TestAccount {
  const key = generatePrivateKey();
  const signer = privateKeySigner(key);
  return { id: randomId(), key, signer, address: signer.address };
}

/** An in-memory account directory; `delayMs` makes lookups async. */
export class MemoryAccounts implements AccountDirectory {
  readonly accounts = new Map<string, Account>();
  delayMs: number | (() => number) | undefined;
  lookups = 0;

  add(account: TestAccount, options: { disabled?: boolean; extraSigners?: string[] } = {}): this {
    this.accounts.set(idKey(account.id), {
      id: account.id,
      signers: [
        { type: 'ethereum', address: account.address.toLowerCase(), disabled: options.disabled ?? false },
        ...(options.extraSigners ?? []).map((a) => ({
          type: 'ethereum' as const,
          address: a.toLowerCase(),
          disabled: false,
        })),
      ],
    });
    return this;
  }

  getAccount(id: Uint8Array): Account | undefined | Promise<Account | undefined> {
    this.lookups++;
    const account = this.accounts.get(idKey(id));
    if (this.delayMs === undefined) return account;
    const ms = typeof this.delayMs === 'function' ? this.delayMs() : this.delayMs;
    return new Promise((resolve) => setTimeout(() => resolve(account), ms));
  }
}

/** A Map-backed Degas directory. */
export class MemoryDegasDirectory implements DegasDirectory {
  readonly entries = new Map<string, DegasEndpoint>();
  set(id: Uint8Array, endpoint: DegasEndpoint): this {
    this.entries.set(idKey(id), endpoint);
    return this;
  }
  resolve(id: Uint8Array): DegasEndpoint | undefined {
    return this.entries.get(idKey(id));
  }
}

/** A scriptable Degas: a ws server on port 0 that records what the gateway sends it. */
export class TestDegas {
  readonly id: Uint8Array;
  readonly received: GatewayInternalMessage[] = [];
  readonly sockets = new Set<WebSocket>();
  /** Upgrade requests seen (headers), accepted or not. */
  readonly upgrades: IncomingMessage[] = [];
  /** Echo every client_message payload back to its account. */
  echo: boolean;
  /** Answer upgrades with this HTTP status instead of accepting. */
  rejectStatus: number | undefined;
  port = 0;
  private wss: WebSocketServer | undefined;
  private waiters: (() => void)[] = [];

  constructor(options: { id?: Uint8Array; echo?: boolean } = {}) {
    this.id = options.id ?? randomId();
    this.echo = options.echo ?? false;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port,
      maxPayload: 256 * 1024,
      perMessageDeflate: false,
      verifyClient: (info, cb) => {
        this.upgrades.push(info.req);
        if (this.rejectStatus !== undefined) cb(false, this.rejectStatus);
        else cb(true);
      },
    });
    this.wss = wss;
    wss.on('error', () => {});
    wss.on('connection', (ws) => {
      this.sockets.add(ws);
      ws.on('error', () => {});
      ws.on('close', () => this.sockets.delete(ws));
      ws.on('message', (data: Buffer) => {
        const msg = decodeGatewayInternalMessage(new Uint8Array(data));
        this.received.push(msg);
        if (this.echo && msg.payload?.$case === 'clientMessage') {
          const { accountId, payload } = msg.payload.value;
          ws.send(encodeDegasToClient(accountId, payload));
        }
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      });
    });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    this.port = (wss.address() as AddressInfo).port;
    return this;
  }

  /** Waits until `cond(received)` holds. */
  async waitFor(cond: (received: GatewayInternalMessage[]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond(this.received)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('TestDegas.waitFor timed out');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  clientMessages(): { accountId: Uint8Array; payload: Uint8Array; sessionId: bigint; resumedFrom: bigint }[] {
    const out = [];
    for (const m of this.received) if (m.payload?.$case === 'clientMessage') out.push(m.payload.value);
    return out;
  }

  sessionClosed(): { accountId: Uint8Array; sessionId: bigint }[] {
    const out = [];
    for (const m of this.received) if (m.payload?.$case === 'sessionClosed') out.push(m.payload.value);
    return out;
  }

  errors(): { code: number; accountId: Uint8Array; detail: string }[] {
    const out = [];
    for (const m of this.received) if (m.payload?.$case === 'error') out.push(m.payload.value);
    return out;
  }

  /** The one open internal connection (waits for it). */
  async socket(): Promise<WebSocket> {
    await until(() => this.sockets.size > 0, 'a gateway link');
    return [...this.sockets][0]!;
  }

  async send(frame: Uint8Array | string): Promise<void> {
    (await this.socket()).send(frame);
  }

  /** Closes the server and every connection at once (a crash, as seen by the gateway). */
  async kill(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    const wss = this.wss;
    this.wss = undefined;
    if (wss !== undefined) await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
}

export interface Closed {
  code: number;
  reason: string;
}

/** A protocol-aware client: collects decoded GatewayMessages and the close code. */
export class TestClient {
  readonly ws: WebSocket;
  readonly messages: GatewayMessage[] = [];
  closed: Closed | undefined;
  readonly closedPromise: Promise<Closed>;
  readonly opened: Promise<void>;
  private readonly waiters: (() => void)[] = [];
  private cursor = 0;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * 1024, ...options });
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('close', () => reject(new Error('closed before open')));
    });
    this.opened.catch(() => {});
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) throw new Error('gateway sent a text frame');
      this.messages.push(decodeGatewayMessage(new Uint8Array(data)));
      this.wake();
    });
    this.closedPromise = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closed);
      });
    });
  }

  private wake(): void {
    const w = this.waiters.splice(0);
    for (const f of w) f();
  }

  /** The next message not yet returned by next(); rejects if the socket closes first. */
  async next(timeoutMs = 5000): Promise<GatewayMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.cursor >= this.messages.length) {
      if (this.closed !== undefined) throw new Error(`closed (${this.closed.code}) while waiting for a message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('TestClient.next timed out');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.messages[this.cursor++]!;
  }

  /** The next error message (fails on anything else). */
  async nextError(
    timeoutMs?: number,
  ): Promise<{ code: number; degasId: Uint8Array; accountId: Uint8Array; detail: string }> {
    const m = await this.next(timeoutMs);
    if (m.payload?.$case !== 'error') throw new Error(`expected an error, got ${m.payload?.$case}`);
    return m.payload.value;
  }

  /** The next degas message. */
  async nextDegas(timeoutMs?: number): Promise<{ degasId: Uint8Array; payload: Uint8Array }> {
    const m = await this.next(timeoutMs);
    if (m.payload?.$case !== 'degas') {
      throw new Error(
        `expected a degas message, got ${m.payload?.$case} ${JSON.stringify(m.payload?.value, bigintSafe)}`,
      );
    }
    return m.payload.value;
  }

  async waitClosed(timeoutMs = 5000): Promise<Closed> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error('TestClient.waitClosed timed out')), timeoutMs);
    });
    try {
      return await Promise.race([this.closedPromise, timeout]);
    } finally {
      clearTimeout(t);
    }
  }

  send(frame: Uint8Array | string): void {
    this.ws.send(frame);
  }

  hello(account: { id: Uint8Array; address: string }): void {
    this.send(
      encodeClientMessage({
        payload: {
          $case: 'hello',
          value: { accountId: account.id, signer: { $case: 'ethereumSigner', value: { address: account.address } } },
        },
      }),
    );
  }

  /** `eth_auth{signature, chain_id}`; chain id 0 (absent) unless given. */
  ethAuth(signature: Uint8Array, chainId = 0n): void {
    this.send(encodeClientMessage({ payload: { $case: 'ethAuth', value: { signature, chainId } } }));
  }

  /** Waits for auth_request and returns the challenge JSON. */
  async authRequest(): Promise<string> {
    const m = await this.next();
    if (m.payload?.$case !== 'authRequest' || m.payload.value.request?.$case !== 'ethereumAuth') {
      throw new Error(`expected auth_request, got ${m.payload?.$case}`);
    }
    return m.payload.value.request.value.challenge;
  }

  /** Signs a challenge JSON as `signer` (chain id 1 unless given). */
  static async sign(
    signer: EthSigner,
    challengeJson: string,
    domainName?: string,
    chainId?: number,
  ): Promise<Uint8Array> {
    return signer.signTypedData(loginTypedData(parseChallenge(challengeJson), { domainName, chainId }));
  }

  /** hello → auth_request → eth_auth → auth_ok. */
  async login(account: TestAccount): Promise<void> {
    await this.opened;
    this.hello(account);
    const challenge = await this.authRequest();
    this.ethAuth(await TestClient.sign(account.signer, challenge));
    const ok = await this.next();
    if (ok.payload?.$case !== 'authOk') throw new Error(`expected auth_ok, got ${ok.payload?.$case}`);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

function bigintSafe(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  return v;
}

/** A gateway on 127.0.0.1:0 with an in-memory directory, plus everything to clean up. */
export interface TestEnv {
  gw: GatewayHandle;
  url: string;
  accounts: MemoryAccounts;
  directory: MemoryDegasDirectory;
  clients: TestClient[];
  degas: TestDegas[];
  /** A new client (closed in teardown). */
  client(options?: WebSocket.ClientOptions): TestClient;
  /** A new account registered in the directory. */
  account(options?: { disabled?: boolean }): TestAccount;
  /** A started Degas registered in the directory (stopped in teardown). */
  startDegas(options?: { echo?: boolean; id?: Uint8Array }): Promise<TestDegas>;
  /** A logged-in client of a fresh account. */
  loggedIn(account?: TestAccount): Promise<{ client: TestClient; account: TestAccount }>;
  stop(): Promise<void>;
}

/** `clientDefaults` apply to every `env.client()` (e.g. `{ ca }` for a TLS gateway). */
export async function startEnv(
  options: Partial<GatewayOptions> = {},
  clientDefaults: WebSocket.ClientOptions = {},
): Promise<TestEnv> {
  const accounts = new MemoryAccounts();
  const directory = new MemoryDegasDirectory();
  const gw = await startGateway({
    host: '127.0.0.1',
    port: 0,
    adminPort: false,
    verifierThreads: 1,
    accounts,
    degas: directory,
    ...options,
  });
  const env: TestEnv = {
    gw,
    url: `${gw.tls === undefined ? 'ws' : 'wss'}://127.0.0.1:${gw.port}`,
    accounts,
    directory,
    clients: [],
    degas: [],
    client(clientOptions) {
      const c = new TestClient(env.url, { ...clientDefaults, ...clientOptions });
      env.clients.push(c);
      return c;
    },
    account(accountOptions) {
      const a = makeAccount();
      accounts.add(a, accountOptions);
      return a;
    },
    async startDegas(degasOptions) {
      const d = await new TestDegas(degasOptions).start();
      env.degas.push(d);
      directory.set(d.id, { url: d.url });
      return d;
    },
    async loggedIn(account) {
      const a = account ?? env.account();
      const client = env.client();
      await client.login(a);
      return { client, account: a };
    },
    async stop() {
      for (const c of env.clients) c.terminate();
      await gw.close();
      for (const d of env.degas) await d.kill();
    },
  };
  return env;
}

/** Encodes a `degas` client message with explicit (possibly invalid) fields. */
export function clientDegas(degasId: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeClientMessage({ payload: { $case: 'degas', value: { degasId, payload } } });
}

export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
