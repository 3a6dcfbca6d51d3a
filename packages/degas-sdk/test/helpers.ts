import { encodeGatewayInternalMessage } from '@degas/proto';
import type { WsTestClient } from '@degas/test-utils';
import { WebSocket } from 'ws';
import type { DegasServer, DegasServerEvents } from '../src/index.js';

export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** The next message of `c`, which must be a degas message from `degasId`, as text. */
export async function nextText(c: WsTestClient, degasId: Uint8Array): Promise<string> {
  const m = await c.nextDegas();
  expect(m.degasId).toEqual(degasId);
  return dec.decode(m.payload);
}

/** Resolves with the next `event` of `degas`. */
export function next<K extends keyof DegasServerEvents>(degas: DegasServer, event: K): Promise<DegasServerEvents[K]> {
  return new Promise((resolve) => degas.once(event, resolve));
}

/** Collects `count` events of `degas`. */
export function collect<K extends keyof DegasServerEvents>(
  degas: DegasServer,
  event: K,
  count: number,
): Promise<DegasServerEvents[K][]> {
  return new Promise((resolve) => {
    const got: DegasServerEvents[K][] = [];
    const listener = (e: DegasServerEvents[K]) => {
      got.push(e);
      if (got.length === count) {
        degas.off(event, listener);
        resolve(got);
      }
    };
    degas.on(event, listener);
  });
}

/** A scripted stand-in for one gateway node's internal connection. */
export class FakeGateway {
  readonly ws: WebSocket;
  readonly frames: Uint8Array[] = [];
  #waiters: (() => void)[] = [];

  constructor(url: string, headers: Record<string, string>) {
    this.ws = new WebSocket(url, { headers, perMessageDeflate: false, maxPayload: 256 * 1024 });
    this.ws.on('message', (data) => {
      this.frames.push(new Uint8Array(data as Buffer));
      for (const w of this.#waiters.splice(0)) w();
    });
    this.ws.on('error', () => {});
  }

  static async connect(url: string, headers: Record<string, string>): Promise<FakeGateway> {
    const gw = new FakeGateway(url, headers);
    await new Promise<void>((resolve, reject) => {
      gw.ws.once('open', () => resolve());
      gw.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      gw.ws.once('error', reject);
    });
    return gw;
  }

  /** Waits until at least `n` frames have arrived. */
  async frameCount(n: number): Promise<Uint8Array[]> {
    while (this.frames.length < n) await new Promise<void>((r) => this.#waiters.push(r));
    return this.frames;
  }

  forward(accountId: Uint8Array, sessionId: bigint, payload: Uint8Array, resumedFrom = 0n): void {
    this.ws.send(
      encodeGatewayInternalMessage({
        payload: { $case: 'clientMessage', value: { accountId, payload, sessionId, resumedFrom } },
      }),
    );
  }

  sessionClosed(accountId: Uint8Array, sessionId: bigint): void {
    this.ws.send(
      encodeGatewayInternalMessage({ payload: { $case: 'sessionClosed', value: { accountId, sessionId } } }),
    );
  }

  error(code: number, accountId: Uint8Array, detail: string): void {
    this.ws.send(
      encodeGatewayInternalMessage({
        payload: { $case: 'error', value: { code, accountId, degasId: new Uint8Array(0), detail } },
      }),
    );
  }

  close(): Promise<{ code: number; reason: string }> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve({ code: 1006, reason: '' });
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      this.ws.close();
    });
  }

  closed(): Promise<{ code: number; reason: string }> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve({ code: 1006, reason: '' });
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }
}
