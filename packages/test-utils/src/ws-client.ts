/**
 * A well-behaved client on the `ws` library, with awaitable messages: the canary, and the
 * counterpart of {@link RawClient} for tests that need a correct peer.
 */
import { decodeGatewayMessage, type GatewayMessage } from '@degas/proto';
import WebSocket from 'ws';
import { AsyncQueue, deferred, within } from './wait.js';

/** Options of {@link WsTestClient.connect}. */
export interface WsTestClientOptions {
  host?: string;
  path?: string;
  headers?: Record<string, string>;
  origin?: string;
}

/**
 * @example
 * const c = await WsTestClient.connect(gateway.port);
 * await loginRaw(c, alice);
 */
export class WsTestClient {
  readonly #messages = new AsyncQueue<Buffer>();
  readonly #closed = deferred<{ code: number; reason: string }>();
  /** Every message received, decoded or not. */
  readonly received: Buffer[] = [];

  static connect(port: number, options: WsTestClientOptions = {}, ms = 5000): Promise<WsTestClient> {
    const url = `ws://${options.host ?? '127.0.0.1'}:${port}${options.path ?? '/'}`;
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: 1024 * 1024,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.origin ? { origin: options.origin } : {}),
    });
    const client = new WsTestClient(ws);
    const opened = new Promise<WsTestClient>((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade rejected: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return within(ms, opened, `ws connect to ${url}`).catch((e: unknown) => {
      ws.terminate();
      throw e;
    });
  }

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const b = isBinary ? data : Buffer.from(data);
      this.received.push(b);
      this.#messages.push(b);
    });
    ws.on('error', () => {
      /* surfaces as close */
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.#messages.fail(new Error(`connection closed (${code})`));
      this.#closed.resolve({ code, reason: reason.toString() });
    });
  }

  /** Sends one binary message. */
  send(bytes: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary: true });
  }

  nextData(ms = 5000): Promise<Buffer> {
    return this.#messages.next(ms, 'a message');
  }

  async nextMessage(ms = 5000): Promise<GatewayMessage> {
    return decodeGatewayMessage(await this.nextData(ms));
  }

  /** Binary messages received and not yet taken. */
  pendingMessages(): number {
    return this.#messages.size;
  }

  closed(ms = 8000): Promise<{ code: number; reason: string }> {
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
