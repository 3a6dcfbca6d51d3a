/**
 * A well-behaved, protocol-aware client on the `ws` library: awaitable messages (raw and decoded),
 * a log of every decoded message, the login steps one by one, and the close result. The
 * counterpart of {@link RawClient} for tests that need a correct peer.
 */
import {
  decodeGatewayMessage,
  type GatewayDegasMessage,
  type GatewayErrorMessage,
  type GatewayMessage,
} from '@degas/proto';
import WebSocket from 'ws';
import type { TestAccount } from './accounts.js';
import { ethAuthFrame, helloFrame, LoginError, type LoginResult, loginRaw } from './login.js';
import { AsyncQueue, deferred, within } from './wait.js';

/** Options of {@link WsTestClient.connect}. */
export interface WsTestClientOptions {
  host?: string;
  path?: string;
  headers?: Record<string, string>;
  origin?: string;
}

/** How a connection ended. */
export interface WsCloseResult {
  code: number;
  reason: string;
}

/**
 * @example
 * const c = await WsTestClient.connect(gateway.port);
 * await c.login(alice);
 * @example
 * const c = WsTestClient.open(`wss://127.0.0.1:${port}`, { ca }); // not awaited: `c.opened`
 */
export class WsTestClient {
  readonly #messages = new AsyncQueue<Buffer>();
  readonly #closed = deferred<WsCloseResult>();
  /** Every message received (binary or text), in order, whether taken or not. */
  readonly received: Buffer[] = [];
  /** Every binary message that decoded as a GatewayMessage, in order, whether taken or not. */
  readonly messages: GatewayMessage[] = [];
  /** Text messages received (the gateway never sends one). */
  textFrames = 0;
  /** Set once the connection has closed. */
  closedWith: WsCloseResult | undefined;
  /** Resolves once open; rejects on a refused upgrade or a close before open. */
  readonly opened: Promise<void>;

  /**
   * Starts connecting to `url` and returns at once (await {@link WsTestClient.opened}); `options`
   * go to `ws` (e.g. `{ ca }` for wss://, `{ headers }`).
   */
  static open(url: string, options: WebSocket.ClientOptions = {}): WsTestClient {
    return new WsTestClient(new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * 1024, ...options }));
  }

  /** Connects to ws://host:port/path and resolves once open (or rejects and terminates). */
  static async connect(port: number, options: WsTestClientOptions = {}, ms = 5000): Promise<WsTestClient> {
    const url = `ws://${options.host ?? '127.0.0.1'}:${port}${options.path ?? '/'}`;
    const client = WsTestClient.open(url, {
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.origin ? { origin: options.origin } : {}),
    });
    try {
      await within(ms, client.opened, `ws connect to ${url}`);
    } catch (e) {
      client.terminate();
      throw e;
    }
    return client;
  }

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade rejected: HTTP ${res.statusCode}`)));
      ws.once('close', () => reject(new Error('closed before open')));
    });
    this.opened.catch(() => {});
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const b = isBinary ? data : Buffer.from(data);
      this.received.push(b);
      if (isBinary) {
        try {
          this.messages.push(decodeGatewayMessage(b));
        } catch {
          // nextMessage() reports it when the test takes this message
        }
      } else {
        this.textFrames++;
      }
      this.#messages.push(b);
    });
    ws.on('error', () => {
      /* surfaces as close */
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closedWith = { code, reason: reason.toString() };
      this.#messages.fail(new Error(`connection closed (${code}) while waiting for a message`));
      this.#closed.resolve(this.closedWith);
    });
  }

  /** Sends one binary message (a string: one text message); dropped once the socket is no longer open. */
  send(data: Uint8Array | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary: typeof data !== 'string' });
  }

  /** The next message not yet taken; rejects if the connection closes first or after `ms`. */
  nextData(ms = 5000): Promise<Buffer> {
    return this.#messages.next(ms, 'a message');
  }

  async nextMessage(ms = 5000): Promise<GatewayMessage> {
    return decodeGatewayMessage(await this.nextData(ms));
  }

  /** The next message, which must be an `error` (throws on anything else). */
  async nextError(ms?: number): Promise<GatewayErrorMessage> {
    const m = await this.nextMessage(ms);
    if (m.payload?.$case !== 'error') throw new LoginError(`expected an error, got ${m.payload?.$case}`, m);
    return m.payload.value;
  }

  /** The next message, which must be a `degas` message (throws on anything else). */
  async nextDegas(ms?: number): Promise<GatewayDegasMessage> {
    const m = await this.nextMessage(ms);
    if (m.payload?.$case !== 'degas') {
      const detail = m.payload?.$case === 'error' ? ` (error ${m.payload.value.code}: ${m.payload.value.detail})` : '';
      throw new LoginError(`expected a degas message, got ${m.payload?.$case}${detail}`, m);
    }
    return m.payload.value;
  }

  /** Binary messages received and not yet taken. */
  pendingMessages(): number {
    return this.#messages.size;
  }

  /** Sends `hello` (with a resume ticket if given). */
  hello(account: Pick<TestAccount, 'id' | 'address'>, resumeTicket?: Uint8Array): void {
    this.send(helloFrame(account.id, account.address, resumeTicket));
  }

  /** Sends `eth_auth{signature, chain_id}`; chain id 0 (absent) unless given. */
  ethAuth(signature: Uint8Array, chainId = 0n): void {
    this.send(ethAuthFrame(signature, chainId));
  }

  /** Waits for the `auth_request` and returns its challenge JSON (throws on anything else). */
  async authRequest(ms = 5000): Promise<string> {
    const m = await this.nextMessage(ms);
    if (m.payload?.$case !== 'authRequest' || m.payload.value.request?.$case !== 'ethereumAuth') {
      throw new LoginError(`expected auth_request, got ${m.payload?.$case}`, m);
    }
    return m.payload.value.request.value.challenge;
  }

  /** Waits until open, then hello → auth_request → eth_auth → auth_ok ({@link loginRaw}). */
  async login(
    account: TestAccount,
    options?: { domain?: string; address?: string; ms?: number; chainId?: number },
  ): Promise<LoginResult> {
    await this.opened;
    return loginRaw(this, account, options);
  }

  closed(ms = 8000): Promise<WsCloseResult> {
    return within(ms, this.#closed.promise, 'the ws connection to close');
  }

  /** Closes (1000) and waits for the close to complete. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(1000);
    await this.closed().catch(() => this.ws.terminate());
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * The HTTP status of a WebSocket upgrade to `url` with `headers`: 101 when accepted (the
 * connection is then closed again), else the refusal's status. Rejects on a connection error.
 * @example
 * expect(await upgradeStatus(degas.url, { 'Degas-Id': 'nope' })).toBe(403);
 */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      req.destroy();
    });
    ws.once('open', () => {
      ws.once('close', () => resolve(101));
      ws.close();
    });
    ws.on('error', (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err);
    });
  });
}
