import { createChallenge } from '@degas/auth-eth';
import {
  type ClientMessage,
  decodeClientMessage,
  encodeGatewayMessage,
  type GatewayMessage,
  type MessageInit,
} from '@degas/proto';
import { jest } from '@jest/globals';
import type { ClientState, DegasClient, WebSocketLike } from '../src/index.js';

/** How a {@link FakeSocket} answers: log in everyone, or stay silent after the upgrade. */
export type FakeBehavior = 'accept' | 'silent';

/**
 * An in-memory WebSocket driven by the test, for state-machine tests under fake timers.
 * With behavior 'accept' it plays a gateway that accepts any signature.
 */
export class FakeSocket implements WebSocketLike {
  static instances: FakeSocket[] = [];
  static behavior: FakeBehavior = 'accept';
  /** When true, 'accept' issues resume tickets and resumes on a ticket it issued and has not seen used. */
  static tickets = false;
  /** Tickets issued and still usable, as hex. */
  static validTickets = new Set<string>();
  static ticketSeq = 0;
  binaryType = 'blob';
  readyState = 0;
  bufferedAmount = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  readonly sent: ClientMessage[] = [];
  readonly raw: Uint8Array[] = [];
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  readonly behavior: FakeBehavior;

  constructor(readonly url: string) {
    this.behavior = FakeSocket.behavior;
    FakeSocket.instances.push(this);
  }

  static reset(): void {
    FakeSocket.instances = [];
    FakeSocket.behavior = 'accept';
    FakeSocket.tickets = false;
    FakeSocket.validTickets.clear();
    FakeSocket.ticketSeq = 0;
  }

  static get last(): FakeSocket {
    const s = FakeSocket.instances.at(-1);
    if (!s) throw new Error('no socket was created');
    return s;
  }

  send(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError('only binary frames');
    this.raw.push(data);
    const msg = decodeClientMessage(data);
    this.sent.push(msg);
    if (this.behavior !== 'accept') return;
    if (msg.payload?.$case === 'hello') {
      const hex = Buffer.from(msg.payload.value.resumeTicket).toString('hex');
      if (FakeSocket.tickets && FakeSocket.validTickets.delete(hex)) {
        const accountId = msg.payload.value.accountId;
        queueMicrotask(() => this.receive({ payload: { $case: 'authOk', value: this.authOk(accountId, true) } }));
        return;
      }
      const { json } = createChallenge();
      queueMicrotask(() =>
        this.receive({
          payload: { $case: 'authRequest', value: { request: { $case: 'ethereumAuth', value: { challenge: json } } } },
        }),
      );
    } else if (msg.payload?.$case === 'ethAuth') {
      const hello = this.sent[0]?.payload;
      const accountId = hello?.$case === 'hello' ? hello.value.accountId : new Uint8Array(16);
      queueMicrotask(() => this.receive({ payload: { $case: 'authOk', value: this.authOk(accountId, false) } }));
    }
  }

  private authOk(accountId: Uint8Array, resumed: boolean) {
    const sessionId = BigInt(++FakeSocket.ticketSeq);
    if (!FakeSocket.tickets) return { accountId, sessionId };
    const ticket = Uint8Array.of(0xee, FakeSocket.ticketSeq);
    FakeSocket.validTickets.add(Buffer.from(ticket).toString('hex'));
    return { accountId, sessionId, resumeTicket: ticket, resumeWindowMs: 60_000, resumed };
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }

  /** The server completes the upgrade. */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(msg: MessageInit<GatewayMessage>): void {
    const bytes = encodeGatewayMessage(msg);
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }

  /** The connection ends with `code` (1006 = dropped). */
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

/** Resolves when `client` enters `state` (at once if it is there). */
export function reach(client: DegasClient, state: ClientState): Promise<void> {
  if (client.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (s: ClientState) => {
      if (s !== state) return;
      client.off('state', on);
      resolve();
    };
    client.on('state', on);
  });
}

/** Opens the current fake socket and waits for the login to complete. */
export async function establish(client: DegasClient): Promise<void> {
  FakeSocket.last.open();
  await reach(client, 'connected');
}

/**
 * The hooks of a fake-gateway test file: before each test a fresh FakeSocket (then `setup`), fake
 * timers (microtasks and nextTick stay real) and Math.random at its midpoint, so jittered delays
 * are exact; afterwards real timers and every mock restored.
 */
export function useFakeGateway(setup: () => void = () => {}): void {
  beforeEach(() => {
    FakeSocket.reset();
    setup();
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });
}
