import { type EthSigner, loginTypedData, parseChallenge, toSigner } from '@degas/auth-eth';
import {
  CloseCode,
  closeCodeDisposition,
  DegasError,
  decodeGatewayMessage,
  ErrorCode,
  type ErrorCodeName,
  encodeClientDegas,
  encodeClientMessage,
  errorCodeName,
  type GatewayMessage,
  idEquals,
  idFromHex,
  idToHex,
  isIdHex,
  Limits,
  toId,
} from '@degas/proto';
import { backoffDelay, type ReconnectOptions, type ResolvedReconnectOptions, resolveReconnect } from './backoff.js';
import { TypedEmitter } from './emitter.js';
import {
  AuthError,
  ClosedError,
  ConnectionError,
  DuplicateSessionError,
  NotConnectedError,
  TimeoutError,
} from './errors.js';

/**
 * The part of the WebSocket API the client uses. The browser's `WebSocket` and the `ws`
 * package's both fit.
 * @example
 * const socket: WebSocketLike = new WebSocket('wss://gateway.example.com');
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/**
 * A WebSocket constructor: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` in Node.
 * @example
 * import { WebSocket } from 'ws';
 * const ctor: WebSocketConstructor = WebSocket;
 */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/**
 * Anything the client can log in with: an {@link EthSigner} (`privateKeySigner`,
 * `eip1193Signer(window.ethereum, address)`), a private key (32 bytes or 64 hex digits), or a
 * viem/ethers account (`{ address, signTypedData }`).
 * @example
 * const signer: SignerInput = generatePrivateKey();
 */
export type SignerInput = EthSigner | Uint8Array | string | { address: string; signTypedData: Function };

/**
 * Options of {@link DegasClient}. Durations are in milliseconds.
 * @example
 * const options: DegasClientOptions = { url: 'wss://gateway.example.com', accountId, signer: privateKey };
 */
export interface DegasClientOptions {
  /**
   * Gateway URL, `ws://` or `wss://`, or a list of the URLs of a cluster's nodes. With a list the
   * first attempt goes to one picked at random (spreading players over the nodes) and every later
   * attempt to the next one in the list, so a reconnection after a node is lost lands on another.
   */
  url: string | readonly string[];
  /** The account to log in to: 16 bytes or `0x` + 32 hex digits. */
  accountId: Uint8Array | string;
  /** Signs the login challenge; see {@link SignerInput}. Its address must be an enabled signer of the account. */
  signer: SignerInput;
  /** EIP-712 domain name; must match the gateway's. Default "Degas Authentication". */
  authDomain?: string;
  /**
   * WebSocket constructor. Default `globalThis.WebSocket`. In Node without a global WebSocket,
   * pass `WebSocket` from `ws`, or import the client from `@degas/client/node`.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * Deadline for one connection attempt, from opening the socket to `auth_ok` (TCP, upgrade,
   * hello, signing, verification). Default 15000. With a wallet that shows a pop-up, allow for
   * the person: e.g. 60000 (the gateway waits at most 60 s for the signature).
   */
  connectTimeoutMs?: number;
  /**
   * Reconnect after an established connection drops for a transient reason (close 1001, 1006,
   * 1011, 1013, 4008, 4009): `true` (default, {@link ReconnectOptions} defaults), `false`, or options.
   * Never after AUTH_FAIL (4001), DUP_SESSION (4002), a protocol error (4003) or `close()`.
   */
  reconnect?: boolean | ReconnectOptions;
  /**
   * Where the latest resume ticket (PROTOCOL.md 4.5) is kept besides memory, so that a new
   * `DegasClient` (e.g. after a page reload) can resume without a signature. Default: none, the
   * ticket lives in memory only, which is the safer choice: a stored ticket is a bearer
   * credential that anyone who can read the store may use once, within the gateway's resume
   * window after a drop. See {@link TicketStore} and {@link webStorageTicketStore}.
   */
  ticketStore?: TicketStore;
}

/**
 * Persistence for the latest resume ticket. `load` is called once, when `connect()` starts from
 * `idle` or `closed`; `save` after every `auth_ok` (with the new ticket) and with `undefined`
 * when the ticket is revoked or useless (`close()`, AUTH_FAIL, DUP_SESSION). Errors thrown by
 * either are ignored: the client then simply logs in with the signer.
 * @example
 * const store: TicketStore = webStorageTicketStore(sessionStorage, `degas-ticket:${accountIdHex}`);
 */
export interface TicketStore {
  load(): Uint8Array | undefined | null | Promise<Uint8Array | undefined | null>;
  save(ticket: Uint8Array | undefined): void | Promise<void>;
}

/** Upper bound of the uniform delay before reconnecting after GOING_AWAY (a gateway shutting down). */
export const GOING_AWAY_JITTER_MS = 250;

/** Connection state; see the README's state diagram. */
export type ClientState = 'idle' | 'connecting' | 'authenticating' | 'connected' | 'reconnecting' | 'closed';

/**
 * A message from a Degas.
 * @example
 * client.on('message', (m: ClientMessageEvent) => console.log(m.degasIdHex, m.payload.length));
 */
export interface ClientMessageEvent {
  /** The Degas that sent it (16 bytes). */
  degasId: Uint8Array;
  /** `degasId` as `0x` + 32 lowercase hex digits. */
  degasIdHex: string;
  payload: Uint8Array;
}

/**
 * An `error` frame from the gateway. The connection stays open unless a `close` event follows
 * (AUTH_FAIL, DUP_SESSION, GOING_AWAY and persistent RATE_LIMITED are followed by one).
 * @example
 * client.on('gatewayError', (e: GatewayErrorEvent) => {
 *   if (e.codeName === 'DEGAS_ERROR') console.warn(`Degas ${e.degasIdHex} unavailable: ${e.detail}`);
 * });
 */
export interface GatewayErrorEvent {
  /** Numeric {@link ErrorCode}. */
  code: number;
  /** `"AUTH_FAIL"`, `"DUP_SESSION"`, `"DEGAS_ERROR"`, `"PROTOCOL_ERROR"`, `"PAYLOAD_TOO_LARGE"`, `"RATE_LIMITED"`, `"GOING_AWAY"`…, or `"UNKNOWN"`. */
  codeName: ErrorCodeName | 'UNKNOWN';
  /** The Degas concerned (DEGAS_ERROR, PAYLOAD_TOO_LARGE, RATE_LIMITED), when the gateway named one. */
  degasId?: Uint8Array;
  degasIdHex?: string;
  /** The account concerned, when the gateway named one. */
  accountId?: Uint8Array;
  accountIdHex?: string;
  /** Short human-readable reason (may be empty). */
  detail: string;
}

/**
 * A connection (or connection attempt) ended.
 * @example
 * client.on('close', (e: CloseEvent) => { if (!e.willReconnect) showDisconnected(e.error?.message); });
 */
export interface CloseEvent {
  /** WebSocket close code: the gateway's (see `CloseCode`), 1006 without a close frame, 1000 for a close by this client. */
  code: number;
  reason: string;
  /** Whether the client will try again (state `reconnecting`). */
  willReconnect: boolean;
  /** Why, as a typed error (AuthError, DuplicateSessionError, TimeoutError, ConnectionError, ClosedError). */
  error: DegasError;
}

/**
 * Events of {@link DegasClient}; each listener gets one argument.
 * @example
 * const onState = (s: DegasClientEvents['state']) => render(s);
 */
export interface DegasClientEvents {
  /** The new state, after every change. */
  state: ClientState;
  message: ClientMessageEvent;
  gatewayError: GatewayErrorEvent;
  close: CloseEvent;
  /** A frame from the gateway that could not be decoded (the connection is kept). */
  error: Error;
}

/** Options of {@link DegasClient.messages}. */
export interface MessagesOptions {
  /** Messages kept while the consumer is behind; beyond this the oldest are dropped. Default 1024. */
  maxBuffered?: number;
}

interface Attempt {
  ws: WebSocketLike;
  timer: ReturnType<typeof setTimeout> | undefined;
  authenticated: boolean;
  challenged: boolean;
  /** This attempt's hello carried a resume ticket. */
  sentTicket: boolean;
  /** The gateway said GOING_AWAY: it is shutting down, reconnect at once. */
  goingAway: boolean;
  authFail: GatewayErrorEvent | undefined;
  socketError: string | undefined;
}

const OPEN = 1;
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const noop = () => {};

/**
 * A connection to a Degas Message Service gateway: logs in to one account with an Ethereum
 * signature, sends messages to Degas programs and receives theirs, and reconnects with jittered
 * exponential backoff after transient failures.
 *
 * Messages sent while not `connected` are not queued: {@link send} throws
 * {@link NotConnectedError}. Game state is usually stale after a reconnection anyway; resend what
 * matters on the `state` event's `'connected'`.
 *
 * @example
 * import { DegasClient, generatePrivateKey } from '@degas/client';
 *
 * const client = new DegasClient({ url: 'ws://localhost:8080', accountId: '0x…', signer: privateKey });
 * client.on('message', ({ degasIdHex, payload }) => console.log(degasIdHex, new TextDecoder().decode(payload)));
 * await client.connect();
 * client.send(degasId, new TextEncoder().encode('hello'));
 */
export class DegasClient extends TypedEmitter<DegasClientEvents> {
  /** The account this client logs in to (16 bytes). */
  readonly accountId: Uint8Array;
  /** `accountId` as `0x` + 32 lowercase hex digits. */
  readonly accountIdHex: string;
  /** The signer's address. */
  readonly address: string;
  /** Every gateway URL, in the order attempts move through them (one element for a single URL). */
  readonly urls: readonly string[];

  readonly #signer: EthSigner;
  readonly #authDomain: string | undefined;
  readonly #WebSocket: WebSocketConstructor | undefined;
  readonly #connectTimeoutMs: number;
  readonly #reconnect: ResolvedReconnectOptions | undefined;
  readonly #hello: Uint8Array;
  readonly #ticketStore: TicketStore | undefined;
  /** The latest resume ticket (never logged, never exposed). */
  #ticket: Uint8Array | undefined;
  #storeLoaded = false;
  #resumed = false;
  #sessionId: bigint | undefined;
  #state: ClientState = 'idle';
  #attempt: Attempt | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #established = false;
  #pending: { promise: Promise<void>; resolve: () => void; reject: (e: DegasError) => void } | undefined;
  /** Index in {@link urls} of the current (or next, before the first) attempt. */
  #urlIndex: number;
  #attempts = 0;
  /** URLs that the pending connect() from idle/closed has not tried yet. */
  #untried = 0;

  /**
   * Validates `options` (TypeError/RangeError, or the signer's AuthEthError for a malformed key
   * or address). Opens nothing: call {@link connect}.
   * @example
   * const client = new DegasClient({ url, accountId, signer: eip1193Signer(window.ethereum, address), connectTimeoutMs: 60_000 });
   */
  constructor(options: DegasClientOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const o = options;
    this.urls = Object.freeze(checkUrls(o.url));
    // Spreads a crowd of clients over a cluster's nodes; not security relevant.
    this.#urlIndex = Math.floor(Math.random() * this.urls.length);
    if (o.accountId instanceof Uint8Array && o.accountId.length === Limits.ID_LENGTH)
      this.accountId = o.accountId.slice();
    else if (isIdHex(o.accountId)) this.accountId = idFromHex(o.accountId);
    else throw new TypeError('options.accountId must be 16 bytes or "0x" followed by 32 hex digits');
    this.accountIdHex = idToHex(this.accountId);
    if (o.signer === undefined || o.signer === null) throw new TypeError('options.signer is required');
    try {
      this.#signer = toSigner(o.signer);
    } catch (err) {
      // A key or an address keeps its own code (INVALID_PRIVATE_KEY, INVALID_ADDRESS); any other
      // wrong value is an option of the wrong type, as everywhere else in these options.
      if ((err as { code?: unknown }).code !== 'INVALID_ARGUMENT') throw err;
      throw new TypeError(`options.signer: ${(err as Error).message}`, { cause: err });
    }
    this.address = this.#signer.address;
    if (o.authDomain !== undefined) {
      if (typeof o.authDomain !== 'string' || o.authDomain === '') {
        throw new TypeError('options.authDomain must be a non-empty string');
      }
      this.#authDomain = o.authDomain;
    }
    if (o.WebSocket !== undefined && typeof o.WebSocket !== 'function') {
      throw new TypeError('options.WebSocket must be a WebSocket constructor');
    }
    this.#WebSocket = o.WebSocket;
    if (o.connectTimeoutMs !== undefined) {
      if (typeof o.connectTimeoutMs !== 'number' || !Number.isFinite(o.connectTimeoutMs)) {
        throw new TypeError('options.connectTimeoutMs must be a finite number');
      }
      if (o.connectTimeoutMs <= 0) throw new RangeError('options.connectTimeoutMs must be positive');
    }
    this.#connectTimeoutMs = o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const r = o.reconnect ?? true;
    if (typeof r === 'boolean') this.#reconnect = r ? resolveReconnect({}) : undefined;
    else this.#reconnect = resolveReconnect(r);
    if (o.ticketStore !== undefined) {
      const ts = o.ticketStore as Partial<TicketStore> | null;
      if (ts === null || typeof ts !== 'object' || typeof ts.load !== 'function' || typeof ts.save !== 'function') {
        throw new TypeError('options.ticketStore must be an object with load() and save()');
      }
    }
    this.#ticketStore = o.ticketStore;
    this.#hello = encodeClientMessage({
      payload: {
        $case: 'hello',
        value: { accountId: this.accountId, signer: { $case: 'ethereumSigner', value: { address: this.address } } },
      },
    });
  }

  /**
   * The gateway URL of the current or last attempt (before the first: the one it will use).
   * @example
   * client.on('state', (s) => { if (s === 'connected') console.log(`connected to ${client.url}`); });
   */
  get url(): string {
    return this.urls[this.#urlIndex] as string;
  }

  /** The current state. */
  get state(): ClientState {
    return this.#state;
  }

  /**
   * Whether the current (or last) session was opened with a resume ticket instead of a
   * signature (PROTOCOL.md 4.5). Updated on every `auth_ok`, before the `connected` state event.
   */
  get resumed(): boolean {
    return this.#resumed;
  }

  /** The id of the current (or last) session as the gateway and the Degas see it; undefined before the first. */
  get sessionId(): bigint | undefined {
    return this.#sessionId;
  }

  /** Bytes sent but not yet written to the network (0 when not connected); use it for backpressure. */
  get bufferedAmount(): number {
    return this.#attempt?.ws.bufferedAmount ?? 0;
  }

  /**
   * Connects and logs in. Resolves when the state becomes `connected`; rejects when it becomes
   * `closed`, with {@link AuthError}, {@link TimeoutError}, {@link ConnectionError},
   * {@link DuplicateSessionError} or {@link ClosedError}.
   *
   * From `idle` or `closed` it makes one attempt per URL: with several {@link urls}, an attempt
   * that fails before the gateway sent its challenge (refused, unreachable, timed out, 1013
   * during a cluster bus outage) moves on to the next URL at once, until each was tried once.
   * Automatic reconnection applies only once a connection was established. While connecting or
   * reconnecting it returns the same pending promise; when connected it resolves at once.
   * @example
   * try {
   *   await client.connect();
   * } catch (err) {
   *   if (err instanceof AuthError) console.error('this key is not a signer of the account');
   * }
   */
  connect(): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    const pending = this.#pending ?? this.#newPending();
    if (this.#state === 'idle' || this.#state === 'closed') {
      this.#established = false;
      this.#failures = 0;
      this.#untried = this.urls.length - 1;
      if (this.#ticketStore !== undefined && !this.#storeLoaded) this.#loadTicketThenOpen(this.#ticketStore);
      else this.#open();
    }
    return pending.promise;
  }

  /**
   * Sends `payload` to the Degas `degasId`. Only in state `connected`; nothing is queued.
   * Delivery is at most once; if the Degas is unreachable a `gatewayError` DEGAS_ERROR follows.
   * @throws InvalidIdError for an id that is not 16 bytes (or 0x + 32 hex), TypeError for a
   *   payload that is not a Uint8Array, RangeError for one over 65536 bytes,
   *   {@link NotConnectedError} when not connected (checked after the arguments).
   * @example
   * client.send('0x00112233445566778899aabbccddeeff', new TextEncoder().encode('move 3 4'));
   */
  send(degasId: Uint8Array | string, payload: Uint8Array): void {
    const frame = encodeClientDegas(toId(degasId), payload);
    const attempt = this.#attempt;
    if (this.#state !== 'connected' || !attempt || attempt.ws.readyState !== OPEN) {
      throw new NotConnectedError(this.#state);
    }
    attempt.ws.send(frame);
  }

  /**
   * Closes the connection (code 1000) and stops reconnecting; no timer or socket is left behind.
   * A pending {@link connect} rejects with {@link ClosedError}. Idempotent; `connect()` may be
   * called again later.
   * @example
   * window.addEventListener('pagehide', () => client.close());
   */
  close(): void {
    if (this.#state === 'closed' || this.#state === 'idle') return;
    const error = new ClosedError('the client was closed', CloseCode.NORMAL, 'client closed');
    this.#clearReconnect();
    // A close with 1000 is a logout: the gateway revokes the ticket, so forget it here too.
    this.#setTicket(undefined);
    const attempt = this.#attempt;
    if (attempt) this.#detach(attempt, CloseCode.NORMAL, 'client closed');
    this.emit('close', { code: CloseCode.NORMAL, reason: 'client closed', willReconnect: false, error });
    this.#toClosed(error);
  }

  /**
   * Incoming messages as an async iterator, from now until the state becomes `closed` (or the
   * loop breaks). Keeps at most `maxBuffered` messages while the consumer is busy, dropping the
   * oldest.
   * @example
   * for await (const { degasIdHex, payload } of client.messages()) {
   *   console.log(degasIdHex, payload);
   * }
   */
  messages(options: MessagesOptions = {}): AsyncIterableIterator<ClientMessageEvent> {
    const max = options.maxBuffered ?? 1024;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('maxBuffered must be a positive integer');
    const buffer: ClientMessageEvent[] = [];
    const waiters: ((r: IteratorResult<ClientMessageEvent>) => void)[] = [];
    let done = false;
    const onMessage = (m: ClientMessageEvent) => {
      const waiter = waiters.shift();
      if (waiter) {
        waiter({ value: m, done: false });
        return;
      }
      buffer.push(m);
      if (buffer.length > max) buffer.shift();
    };
    const finish = () => {
      if (done) return;
      done = true;
      this.off('message', onMessage);
      this.off('state', onState);
      for (const waiter of waiters.splice(0)) waiter({ value: undefined, done: true });
    };
    const onState = (s: ClientState) => {
      if (s === 'closed') finish();
    };
    this.on('message', onMessage);
    this.on('state', onState);
    return {
      next: () => {
        const m = buffer.shift();
        if (m) return Promise.resolve({ value: m, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => waiters.push(resolve));
      },
      return: () => {
        finish();
        buffer.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  #newPending() {
    let resolve!: () => void;
    let reject!: (e: DegasError) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#pending = { promise, resolve, reject };
    return this.#pending;
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  #open(): void {
    const Ctor = this.#WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof Ctor !== 'function') {
      const error = new ConnectionError(
        "no WebSocket implementation: pass options.WebSocket (e.g. WebSocket from 'ws'), or import from '@degas/client/node'",
        CloseCode.ABNORMAL,
        '',
      );
      this.emit('close', { code: CloseCode.ABNORMAL, reason: '', willReconnect: false, error });
      this.#toClosed(error);
      return;
    }
    this.#setState('connecting');
    // A state listener may have called close() (or close() and connect()) meanwhile.
    if (this.#state !== 'connecting' || this.#attempt !== undefined) return;
    if (this.#attempts++ > 0) this.#urlIndex = (this.#urlIndex + 1) % this.urls.length;
    let ws: WebSocketLike;
    try {
      ws = new Ctor(this.url);
    } catch (cause) {
      const error = new ConnectionError(`cannot open ${this.url}: ${(cause as Error)?.message ?? cause}`, 1006, '', {
        cause,
      });
      this.#ended(undefined, CloseCode.ABNORMAL, '', error);
      return;
    }
    const attempt: Attempt = {
      ws,
      timer: undefined,
      authenticated: false,
      challenged: false,
      sentTicket: false,
      goingAway: false,
      authFail: undefined,
      socketError: undefined,
    };
    this.#attempt = attempt;
    ws.binaryType = 'arraybuffer';
    attempt.timer = setTimeout(() => {
      if (this.#attempt !== attempt) return;
      const phase = ws.readyState === OPEN ? 'logging in' : 'connecting';
      this.#fail(attempt, new TimeoutError(`timed out after ${this.#connectTimeoutMs} ms while ${phase}`));
    }, this.#connectTimeoutMs);
    ws.onopen = () => {
      if (this.#attempt !== attempt) return;
      this.#setState('authenticating');
      if (this.#attempt !== attempt) return; // closed by a state listener
      const ticket = this.#ticket;
      if (ticket === undefined) ws.send(this.#hello);
      else {
        attempt.sentTicket = true;
        ws.send(
          encodeClientMessage({
            payload: {
              $case: 'hello',
              value: {
                accountId: this.accountId,
                signer: { $case: 'ethereumSigner', value: { address: this.address } },
                resumeTicket: ticket,
              },
            },
          }),
        );
      }
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (this.#attempt !== attempt) return;
      this.#onFrame(attempt, event.data);
    };
    ws.onerror = (event: unknown) => {
      // Browsers say nothing about why; `ws` puts the cause in `message`.
      const message = (event as { message?: unknown } | undefined)?.message;
      if (typeof message === 'string' && message !== '') attempt.socketError = message;
    };
    ws.onclose = (event: { code: number; reason: string }) => {
      if (this.#attempt !== attempt) return;
      this.#onSocketClose(attempt, event.code, event.reason);
    };
  }

  #onFrame(attempt: Attempt, data: unknown): void {
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else {
      this.emit('error', new DegasError('PROTOCOL_ERROR', 'the gateway sent a non-binary frame'));
      return;
    }
    let msg: GatewayMessage;
    try {
      msg = decodeGatewayMessage(bytes);
    } catch (err) {
      if (!attempt.authenticated) {
        this.#fail(
          attempt,
          new ConnectionError('the gateway sent an undecodable frame during login', 1000, '', { cause: err }),
        );
      } else {
        this.emit('error', err as Error);
      }
      return;
    }
    const p = msg.payload;
    if (p === undefined) return;
    switch (p.$case) {
      case 'degas': {
        if (!attempt.authenticated || p.value.degasId.length !== Limits.ID_LENGTH) return;
        const { degasId, payload } = p.value;
        this.emit('message', { degasId, degasIdHex: idToHex(degasId), payload });
        return;
      }
      case 'error':
        this.#onGatewayError(attempt, p.value.code, p.value.degasId, p.value.accountId, p.value.detail);
        return;
      case 'authRequest': {
        if (attempt.authenticated || attempt.challenged || p.value.request?.$case !== 'ethereumAuth') {
          this.#fail(attempt, new ConnectionError('unexpected auth_request from the gateway', 1000, ''));
          return;
        }
        attempt.challenged = true;
        void this.#answer(attempt, p.value.request.value.challenge);
        return;
      }
      case 'authOk': {
        // Without a challenge, auth_ok is only expected as the answer to a resume ticket.
        if (attempt.authenticated || (!attempt.challenged && !attempt.sentTicket)) return;
        if (!idEquals(p.value.accountId, this.accountId)) {
          this.#fail(attempt, new ConnectionError('the gateway confirmed a different account', 1000, ''));
          return;
        }
        attempt.authenticated = true;
        this.#resumed = !attempt.challenged && p.value.resumed === true;
        this.#sessionId = p.value.sessionId === 0n ? undefined : p.value.sessionId;
        // An empty ticket means resume is off at this gateway: nothing to keep.
        const ticket = p.value.resumeTicket;
        this.#setTicket(ticket.length > 0 ? ticket.slice() : undefined);
        clearTimeout(attempt.timer);
        attempt.timer = undefined;
        this.#established = true;
        this.#failures = 0;
        this.#setState('connected');
        const pending = this.#pending;
        this.#pending = undefined;
        pending?.resolve();
        return;
      }
    }
  }

  async #answer(attempt: Attempt, challengeJson: string): Promise<void> {
    let signature: Uint8Array;
    let chainId: number;
    try {
      const fields = parseChallenge(challengeJson);
      // A browser wallet signs only for its active chain: ask it which one (eth_chainId), sign
      // with that and tell the gateway (eth_auth.chain_id). Other signers answer 1 unless told.
      chainId = await this.#signer.getChainId();
      if (this.#attempt !== attempt) return;
      const typed = loginTypedData(fields, { domainName: this.#authDomain, chainId });
      signature = await this.#signer.signTypedData(typed);
    } catch (cause) {
      if (this.#attempt !== attempt) return;
      const what =
        (cause as { code?: unknown })?.code === 'INVALID_CHALLENGE'
          ? 'the gateway sent an invalid challenge'
          : 'the signer failed';
      this.#fail(attempt, new AuthError(`${what}: ${(cause as Error)?.message ?? cause}`, { cause }));
      return;
    }
    if (this.#attempt !== attempt || attempt.ws.readyState !== OPEN) return;
    attempt.ws.send(
      encodeClientMessage({ payload: { $case: 'ethAuth', value: { signature, chainId: BigInt(chainId) } } }),
    );
  }

  #onGatewayError(attempt: Attempt, code: number, degasId: Uint8Array, accountId: Uint8Array, detail: string): void {
    const event: GatewayErrorEvent = { code, codeName: errorCodeName(code) ?? 'UNKNOWN', detail };
    if (degasId.length === Limits.ID_LENGTH) {
      event.degasId = degasId;
      event.degasIdHex = idToHex(degasId);
    }
    if (accountId.length === Limits.ID_LENGTH) {
      event.accountId = accountId;
      event.accountIdHex = idToHex(accountId);
    }
    if (code === ErrorCode.AUTH_FAIL) attempt.authFail = event;
    else if (code === ErrorCode.GOING_AWAY) attempt.goingAway = true;
    this.emit('gatewayError', event);
  }

  #onSocketClose(attempt: Attempt, code: number, reason: string): void {
    this.#detach(attempt);
    let error: DegasError;
    // An AUTH_FAIL frame means 4001 even if the close code that follows it got lost.
    let meaning = code;
    if (code === CloseCode.AUTH_FAILED || attempt.authFail) {
      const detail = attempt.authFail?.detail ?? reason;
      error = new AuthError(`authentication failed${detail ? `: ${detail}` : ''}`, { detail });
      meaning = CloseCode.AUTH_FAILED;
    } else if (code === CloseCode.DUP_SESSION) {
      error = new DuplicateSessionError('this session was replaced by a newer login of the same account', reason);
    } else if (!attempt.authenticated) {
      const why = attempt.socketError ?? (reason || `close code ${code}`);
      error = new ConnectionError(`connection to ${this.url} failed before login completed: ${why}`, code, reason);
    } else {
      error = new ClosedError(`the gateway closed the connection (${code}${reason ? ` ${reason}` : ''})`, code, reason);
    }
    this.#ended(attempt, code, reason, error, meaning);
  }

  /** Aborts an attempt for a reason found on this side. */
  #fail(attempt: Attempt, error: DegasError): void {
    this.#detach(attempt, CloseCode.NORMAL, error.name);
    // A signer that failed or refused is a failed login, as the gateway's 4001 is.
    const meaning = error.code === 'AUTH_FAILED' ? CloseCode.AUTH_FAILED : CloseCode.NORMAL;
    this.#ended(attempt, CloseCode.NORMAL, error.name, error, meaning);
  }

  /**
   * After a connection or attempt ended: whether and when to try again. `meaning` is the close
   * code whose disposition (`closeCodeDisposition` of @degas/proto) decides it.
   */
  #ended(attempt: Attempt | undefined, code: number, reason: string, error: DegasError, meaning = code): void {
    const wasAuthenticated = attempt?.authenticated ?? false;
    const disposition = closeCodeDisposition(meaning);
    const terminal = disposition === 'terminal';
    let willReconnect = false;
    // The first connect() tries each URL once; a node that answered with a challenge is up, so a
    // failure after it (the signer, the deadline) is not a reason to ask another node.
    const moveOn = !this.#established && !terminal && this.#untried > 0 && !(attempt?.challenged ?? false);
    if (moveOn) {
      this.#untried--;
      willReconnect = true;
    } else if (this.#reconnect && this.#established && !terminal) {
      // An established session that drops reconnects only for transient close codes; a failed
      // reconnection attempt (refused, timed out, gateway still restarting) always tries again.
      willReconnect = wasAuthenticated ? disposition === 'reconnect' : true;
      if (willReconnect && !wasAuthenticated && this.#failures + 1 >= this.#reconnect.maxAttempts)
        willReconnect = false;
    }
    // The ticket is revoked (DUP_SESSION: a newer login) or will not help (AUTH_FAIL).
    if (terminal) this.#setTicket(undefined);
    this.emit('close', { code, reason, willReconnect, error });
    if (this.#state === 'closed') return; // a listener called close()
    if (!willReconnect) {
      this.#toClosed(error);
      return;
    }
    if (!wasAuthenticated) this.#failures++;
    else this.#failures = 0;
    // A gateway that says GOING_AWAY is being restarted or drained: come back at once (a short
    // jitter spreads the crowd), to another node or to the restarted one, with the ticket.
    const delay = moveOn
      ? 0
      : attempt?.goingAway === true && code === CloseCode.GOING_AWAY
        ? Math.floor(Math.random() * Math.min(GOING_AWAY_JITTER_MS, this.#reconnect!.maxDelayMs))
        : backoffDelay(wasAuthenticated ? 0 : this.#failures, this.#reconnect!);
    // Scheduled before the state event, so a listener that calls close() cancels it.
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#open();
    }, delay);
    this.#setState('reconnecting');
  }

  #toClosed(error: DegasError): void {
    this.#clearReconnect();
    this.#attempt = undefined;
    this.#setState('closed');
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
  }

  /** Stops listening to a socket; closes it when `code` is given. */
  #detach(attempt: Attempt, code?: number, reason?: string): void {
    if (this.#attempt === attempt) this.#attempt = undefined;
    clearTimeout(attempt.timer);
    attempt.timer = undefined;
    const ws = attempt.ws;
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    // Keep an error listener: `ws` throws on an 'error' event nobody listens to.
    ws.onerror = noop;
    if (code !== undefined) {
      try {
        ws.close(code, reason);
      } catch {
        // Already closing.
      }
    }
  }

  #setTicket(ticket: Uint8Array | undefined): void {
    if (ticket === undefined && this.#ticket === undefined) return;
    this.#ticket = ticket;
    const store = this.#ticketStore;
    if (store === undefined) return;
    try {
      const r = store.save(ticket);
      if (r !== undefined && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).catch(noop);
    } catch {
      // A failing store only costs a signature next time.
    }
  }

  /** First connect with a ticket store: read it (once), then open. */
  #loadTicketThenOpen(store: TicketStore): void {
    this.#storeLoaded = true;
    this.#setState('connecting');
    const done = (value: unknown) => {
      // close() (or close() + connect()) may have run while the store was read.
      if (this.#state !== 'connecting' || this.#attempt !== undefined) return;
      if (value instanceof Uint8Array && value.length > 0 && this.#ticket === undefined) this.#ticket = value.slice();
      this.#open();
    };
    let r: ReturnType<TicketStore['load']>;
    try {
      r = store.load();
    } catch {
      done(undefined);
      return;
    }
    if (r !== null && r !== undefined && typeof (r as Promise<unknown>).then === 'function') {
      (r as Promise<unknown>).then(done, () => done(undefined));
    } else done(r);
  }

  #clearReconnect(): void {
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
  }
}

function checkUrls(value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    (typeof value !== 'string' && list.some((u) => typeof u !== 'string'))
  ) {
    throw new TypeError('options.url must be a string or a non-empty array of strings');
  }
  const name = (i: number) => (typeof value === 'string' ? 'options.url' : `options.url[${i}]`);
  return list.map((url: string, i: number) => {
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw new TypeError(`${name(i)} is not a valid URL: ${JSON.stringify(url)}`);
    }
    if (protocol !== 'ws:' && protocol !== 'wss:') throw new TypeError(`${name(i)} must start with ws:// or wss://`);
    return url;
  });
}
