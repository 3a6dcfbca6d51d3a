/**
 * A raw RFC 6455 client over `node:net`, for hostile framing: it performs the HTTP upgrade itself
 * (any header, any method, or a verbatim malformed request) and then writes whatever frames a
 * test asks for — reserved bits, reserved opcodes, unmasked frames, lying length fields, chopped
 * writes. Everything the server sends is parsed and recorded, including each frame's opcode and
 * MASK bit (CATALOGUE #23).
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { decodeGatewayMessage, type GatewayMessage } from '@degas/proto';
import { AsyncQueue, deferred, within } from './wait.js';

/** WebSocket opcodes (RFC 6455 §5.2). */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** One frame to write. Everything RFC 6455 forbids is allowed here on purpose. */
export interface FrameSpec {
  /** FIN bit. Default true. */
  fin?: boolean;
  /** RSV1..RSV3 as a 3-bit number (RSV1 = 4, RSV2 = 2, RSV3 = 1). Default 0. */
  rsv?: number;
  /** 4-bit opcode; any value 0–15. */
  opcode: number;
  /** MASK bit. Clients must mask; default true. */
  mask?: boolean;
  /** Masking key; default 4 random bytes. */
  maskKey?: Uint8Array;
  /** Payload bytes (strings are UTF-8 encoded). Default empty. */
  payload?: Uint8Array | string;
  /** Length written in the header instead of the payload's real length (the payload is still written as given). */
  declaredLength?: number | bigint;
  /** Force the length encoding: 7-bit, 16-bit or 64-bit. Default: the minimal one. */
  lengthEncoding?: 7 | 16 | 64;
}

/**
 * Encodes one frame exactly as `spec` says.
 * @example
 * socket.write(encodeFrame({ opcode: Opcode.BINARY, payload: bytes, rsv: 4 }));
 */
export function encodeFrame(spec: FrameSpec): Buffer {
  const { fin = true, rsv = 0, opcode, mask = true } = spec;
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 15)
    throw new RangeError(`opcode must be 0–15, got ${opcode}`);
  if (!Number.isInteger(rsv) || rsv < 0 || rsv > 7) throw new RangeError(`rsv must be 0–7, got ${rsv}`);
  const payload =
    typeof spec.payload === 'string'
      ? Buffer.from(spec.payload, 'utf8')
      : Buffer.from(spec.payload ?? new Uint8Array(0));
  const length = BigInt(spec.declaredLength ?? payload.length);
  if (length < 0n || length > 0xffffffffffffffffn) throw new RangeError('declaredLength must fit 64 bits');
  const encoding = spec.lengthEncoding ?? (length < 126n ? 7 : length <= 0xffffn ? 16 : 64);
  if (encoding === 7 && length > 125n) throw new RangeError('length does not fit the 7-bit encoding');
  if (encoding === 16 && length > 0xffffn) throw new RangeError('length does not fit the 16-bit encoding');
  const extra = encoding === 7 ? 0 : encoding === 16 ? 2 : 8;
  const head = Buffer.alloc(2 + extra + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  head[1] = (mask ? 0x80 : 0) | (encoding === 7 ? Number(length) : encoding === 16 ? 126 : 127);
  if (encoding === 16) head.writeUInt16BE(Number(length), 2);
  if (encoding === 64) head.writeBigUInt64BE(length, 2);
  if (!mask) return Buffer.concat([head, payload]);
  const key = Buffer.from(spec.maskKey ?? randomBytes(4));
  if (key.length !== 4) throw new RangeError('maskKey must be 4 bytes');
  key.copy(head, 2 + extra);
  const masked = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = (payload[i] as number) ^ (key[i & 3] as number);
  return Buffer.concat([head, masked]);
}

/** A close frame body: 2-byte code + reason. `code` undefined = empty body. */
export function closePayload(code?: number, reason: Uint8Array | string = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const r = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : Buffer.from(reason);
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** A frame as received from the server. */
export interface ReceivedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
  /** performance.now() when it was parsed. */
  at: number;
  /** Whether the server had already sent a Close frame before this one. */
  afterClose: boolean;
}

/** How the connection ended. */
export interface CloseResult {
  /** The code of the server's Close frame; 1005 for an empty body; 1006 when no Close frame came. */
  code: number;
  reason: string;
  closeFrameReceived: boolean;
  tcpClosedWithoutCloseFrame: boolean;
  /** Frames of any kind the server sent after its Close frame (must be empty). */
  framesAfterClose: ReceivedFrame[];
  /** performance.now() of the Close frame and of the TCP close. */
  closeFrameAt: number | undefined;
  tcpClosedAt: number;
}

/** The parsed HTTP response head to an upgrade request. */
export interface HttpResponseHead {
  status: number;
  statusText: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  raw: string;
}

/** Options of {@link RawClient.connect} / {@link httpUpgrade}. */
export interface UpgradeOptions {
  port: number;
  host?: string;
  path?: string;
  method?: string;
  /** `Sec-WebSocket-Key`; default a random valid key; `null` omits the header. */
  key?: string | null;
  /** `Sec-WebSocket-Version`; default 13; `null` omits it. */
  version?: string | number | null;
  origin?: string;
  extensions?: string;
  /** Omit `Upgrade: websocket` and `Connection: Upgrade` (a plain GET). */
  plainHttp?: boolean;
  /** Extra headers, written after the standard ones. */
  headers?: Record<string, string> | [string, string][];
  /** Sent verbatim instead of a generated request. */
  rawRequest?: string | Uint8Array;
  /** Answer server Pings automatically. Default true. */
  autoPong?: boolean;
  /** Echo the server's Close frame (once) if the client has not sent one. Default true. */
  autoCloseReply?: boolean;
}

/** Thrown by {@link RawClient.connect} when the server does not answer 101. */
export class UpgradeRejectedError extends Error {
  override name = 'UpgradeRejectedError';
  constructor(
    readonly response: HttpResponseHead,
    readonly body: string,
  ) {
    super(`upgrade rejected: HTTP ${response.status} ${response.statusText}`);
  }
}

function buildRequest(o: UpgradeOptions): Buffer {
  if (o.rawRequest !== undefined) {
    return typeof o.rawRequest === 'string' ? Buffer.from(o.rawRequest, 'latin1') : Buffer.from(o.rawRequest);
  }
  const lines = [`${o.method ?? 'GET'} ${o.path ?? '/'} HTTP/1.1`, `Host: ${o.host ?? '127.0.0.1'}:${o.port}`];
  if (!o.plainHttp) lines.push('Upgrade: websocket', 'Connection: Upgrade');
  const key = o.key === undefined ? randomBytes(16).toString('base64') : o.key;
  if (key !== null && !o.plainHttp) lines.push(`Sec-WebSocket-Key: ${key}`);
  const version = o.version === undefined ? 13 : o.version;
  if (version !== null && !o.plainHttp) lines.push(`Sec-WebSocket-Version: ${version}`);
  if (o.origin !== undefined) lines.push(`Origin: ${o.origin}`);
  if (o.extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${o.extensions}`);
  const extra = Array.isArray(o.headers) ? o.headers : Object.entries(o.headers ?? {});
  for (const [k, v] of extra) lines.push(`${k}: ${v}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

function parseHead(raw: string): HttpResponseHead {
  const [statusLine = '', ...rest] = raw.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of rest) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(m[1]), statusText: m[2] ?? '', headers, raw };
}

/** The outcome of {@link httpUpgrade}: the response, its body (non-101) and the client (101). */
export interface UpgradeResult {
  response: HttpResponseHead;
  body: string;
  client: RawClient | undefined;
}

/**
 * Sends an upgrade (or any HTTP) request and parses the answer. With 101 the result carries a
 * connected {@link RawClient}; otherwise the body and the response, and the socket is closed.
 * Rejects if the server closes the connection without any response.
 * @example
 * const { response } = await httpUpgrade({ port, origin: 'https://evil.example' });
 * expect(response.status).toBe(403);
 */
export function httpUpgrade(options: UpgradeOptions, timeoutMs = 5000): Promise<UpgradeResult> {
  if (!Number.isInteger(options.port) || options.port <= 0) throw new RangeError('options.port must be a port number');
  const socket = netConnect({ port: options.port, host: options.host ?? '127.0.0.1' });
  socket.setNoDelay(true);
  const result = new Promise<UpgradeResult>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let head: HttpResponseHead | undefined;
    let headEnd = 0;
    let settled = false;
    const finish = (r: UpgradeResult | Error) => {
      if (settled) return;
      settled = true;
      socket.off('data', onData);
      if (r instanceof Error) {
        socket.destroy();
        reject(r);
      } else resolve(r);
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!head) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        try {
          head = parseHead(buf.subarray(0, i).toString('latin1'));
        } catch (e) {
          finish(e as Error);
          return;
        }
        headEnd = i + 4;
        if (head.status === 101) {
          const rest = buf.subarray(headEnd);
          const client = new RawClient(socket, head, options);
          finish({ response: head, body: '', client });
          if (rest.length > 0) client.feed(rest);
          return;
        }
      }
      const cl = head.headers['content-length'];
      const chunked = /chunked/i.test(head.headers['transfer-encoding'] ?? '');
      const rest = buf.subarray(headEnd);
      if (cl !== undefined && rest.length >= Number(cl)) {
        socket.destroy();
        finish({ response: head, body: rest.subarray(0, Number(cl)).toString('utf8'), client: undefined });
      } else if (chunked && rest.includes('0\r\n\r\n')) {
        socket.destroy();
        finish({ response: head, body: rest.toString('utf8'), client: undefined });
      } else if (cl === undefined && !chunked) {
        // No framing: the body ends at the close; do not wait for it longer than a moment.
        setTimeout(() => {
          socket.destroy();
          if (head) finish({ response: head, body: buf.subarray(headEnd).toString('utf8'), client: undefined });
        }, 200).unref();
      }
    };
    socket.on('data', onData);
    socket.on('error', () => {
      /* reported through close */
    });
    socket.on('close', () => {
      if (head) finish({ response: head, body: buf.subarray(headEnd).toString('utf8'), client: undefined });
      else finish(new Error('connection closed without an HTTP response'));
    });
    socket.on('connect', () => socket.write(buildRequest(options)));
  });
  return within(timeoutMs, result, `HTTP response on port ${options.port}`).catch((e: unknown) => {
    socket.destroy();
    throw e;
  });
}

/**
 * The raw client. Create one with {@link RawClient.connect}.
 * @example
 * const c = await RawClient.connect({ port });
 * c.frame({ opcode: Opcode.BINARY, payload: bytes, mask: false });
 * expect((await c.closed()).code).toBe(1002);
 */
export class RawClient {
  /** Every frame received, in order. */
  readonly received: ReceivedFrame[] = [];
  /** Socket errors seen (EPIPE/ECONNRESET after a server close are normal). */
  readonly errors: Error[] = [];
  readonly #frames = new AsyncQueue<ReceivedFrame>();
  readonly #messages = new AsyncQueue<Buffer>();
  readonly #texts = new AsyncQueue<Buffer>();
  readonly #pings = new AsyncQueue<Buffer>();
  readonly #pongs = new AsyncQueue<Buffer>();
  readonly #closeFrame = deferred<ReceivedFrame>();
  readonly #closed = deferred<CloseResult>();
  #buf: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragmentOpcode = -1;
  #closeFrameReceived: ReceivedFrame | undefined;
  #sentClose = false;
  readonly #autoPong: boolean;
  readonly #autoCloseReply: boolean;

  /**
   * Opens a TCP connection, upgrades, and resolves once 101 arrives. Rejects with
   * {@link UpgradeRejectedError} for any other status.
   */
  static async connect(options: UpgradeOptions, timeoutMs = 5000): Promise<RawClient> {
    const r = await httpUpgrade(options, timeoutMs);
    if (!r.client) throw new UpgradeRejectedError(r.response, r.body);
    return r.client;
  }

  /** @internal use {@link RawClient.connect}. */
  constructor(
    readonly socket: Socket,
    readonly response: HttpResponseHead,
    options: Pick<UpgradeOptions, 'autoPong' | 'autoCloseReply'> = {},
  ) {
    this.#autoPong = options.autoPong ?? true;
    this.#autoCloseReply = options.autoCloseReply ?? true;
    this.#closeFrame.promise.catch(() => {});
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.on('error', (e) => this.errors.push(e));
    socket.on('close', () => this.#onTcpClose());
  }

  /** @internal bytes from the socket. */
  feed(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const f = this.#parseOne();
      if (!f) return;
      this.#onFrame(f);
    }
  }

  #parseOne(): ReceivedFrame | undefined {
    const b = this.#buf;
    if (b.length < 2) return undefined;
    const b0 = b[0] as number;
    const b1 = b[1] as number;
    let len = b1 & 0x7f;
    let pos = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      pos = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(64 * 1024 * 1024)) {
        // A server must never do this; record it and stop parsing instead of allocating.
        this.errors.push(new Error(`server declared an absurd frame length ${big}`));
        this.socket.destroy();
        this.#buf = Buffer.alloc(0);
        return undefined;
      }
      len = Number(big);
      pos = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    let key: Buffer | undefined;
    if (masked) {
      if (b.length < pos + 4) return undefined;
      key = b.subarray(pos, pos + 4);
      pos += 4;
    }
    if (b.length < pos + len) return undefined;
    const payload = Buffer.from(b.subarray(pos, pos + len));
    if (key) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (key[i & 3] as number);
    this.#buf = b.subarray(pos + len);
    return {
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 7,
      opcode: b0 & 0x0f,
      masked,
      payload,
      at: performance.now(),
      afterClose: this.#closeFrameReceived !== undefined,
    };
  }

  #onFrame(f: ReceivedFrame): void {
    this.received.push(f);
    this.#frames.push(f);
    if (f.afterClose) return;
    switch (f.opcode) {
      case Opcode.PING:
        this.#pings.push(f.payload);
        if (this.#autoPong) this.pong(f.payload);
        return;
      case Opcode.PONG:
        this.#pongs.push(f.payload);
        return;
      case Opcode.CLOSE:
        this.#closeFrameReceived = f;
        this.#closeFrame.resolve(f);
        if (this.#autoCloseReply && !this.#sentClose) {
          this.frame({ opcode: Opcode.CLOSE, payload: f.payload.length >= 2 ? f.payload.subarray(0, 2) : f.payload });
          this.#sentClose = true;
        }
        return;
      case Opcode.CONTINUATION:
        this.#fragments.push(f.payload);
        break;
      default:
        this.#fragmentOpcode = f.opcode;
        this.#fragments = [f.payload];
    }
    if (!f.fin) return;
    const data = this.#fragments.length === 1 ? (this.#fragments[0] as Buffer) : Buffer.concat(this.#fragments);
    this.#fragments = [];
    if (this.#fragmentOpcode === Opcode.TEXT) this.#texts.push(data);
    else this.#messages.push(data);
  }

  #onTcpClose(): void {
    const err = new Error('connection closed');
    for (const q of [this.#frames, this.#messages, this.#texts, this.#pings, this.#pongs]) q.fail(err);
    this.#closeFrame.reject(err);
    const cf = this.#closeFrameReceived;
    let code = 1006;
    let reason = '';
    if (cf) {
      code = cf.payload.length >= 2 ? cf.payload.readUInt16BE(0) : 1005;
      reason = cf.payload.subarray(2).toString('utf8');
    }
    this.#closed.resolve({
      code,
      reason,
      closeFrameReceived: cf !== undefined,
      tcpClosedWithoutCloseFrame: cf === undefined,
      framesAfterClose: this.received.filter((r) => r.afterClose),
      closeFrameAt: cf?.at,
      tcpClosedAt: performance.now(),
    });
  }

  // ---- writing ----

  /** Writes raw bytes; returns false (and writes nothing) once the socket is gone. */
  writeRaw(bytes: Uint8Array | string): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(bytes);
    return true;
  }

  /**
   * Writes `bytes` in chunks of `chunkSize`, each in its own `write()` (awaiting the flush), with
   * `delayMs` between chunks. Stops quietly if the server closes the socket.
   */
  async writeChopped(bytes: Uint8Array, chunkSize: number, delayMs = 0): Promise<void> {
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError('chunkSize must be a positive integer');
    for (let i = 0; i < bytes.length; i += chunkSize) {
      if (this.socket.destroyed || !this.socket.writable) return;
      await new Promise<void>((resolve) => this.socket.write(bytes.subarray(i, i + chunkSize), () => resolve()));
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    }
  }

  /** Encodes and writes one frame; returns its bytes. */
  frame(spec: FrameSpec): Buffer {
    const bytes = encodeFrame(spec);
    if (spec.opcode === Opcode.CLOSE) this.#sentClose = true;
    this.writeRaw(bytes);
    return bytes;
  }

  /** One binary message (masked, FIN): the same call shape as {@link WsTestClient.send}. */
  send(bytes: Uint8Array): void {
    this.binary(bytes);
  }

  /** A binary data frame (masked, FIN). */
  binary(payload: Uint8Array, spec: Partial<FrameSpec> = {}): Buffer {
    return this.frame({ ...spec, opcode: Opcode.BINARY, payload });
  }

  /** A text frame. */
  text(payload: Uint8Array | string, spec: Partial<FrameSpec> = {}): Buffer {
    return this.frame({ ...spec, opcode: Opcode.TEXT, payload });
  }

  ping(payload: Uint8Array | string = '', spec: Partial<FrameSpec> = {}): Buffer {
    return this.frame({ ...spec, opcode: Opcode.PING, payload });
  }

  pong(payload: Uint8Array | string = '', spec: Partial<FrameSpec> = {}): Buffer {
    return this.frame({ ...spec, opcode: Opcode.PONG, payload });
  }

  /** A Close frame; no code = empty body. */
  close(code?: number, reason: Uint8Array | string = ''): Buffer {
    return this.frame({ opcode: Opcode.CLOSE, payload: closePayload(code, reason) });
  }

  // ---- reading ----

  /** The next frame of any kind. */
  nextFrame(ms = 5000): Promise<ReceivedFrame> {
    return this.#frames.next(ms, 'a frame');
  }

  /** The next complete binary message's bytes. */
  nextData(ms = 5000): Promise<Buffer> {
    return this.#messages.next(ms, 'a binary message');
  }

  /** The next binary message, decoded as a GatewayMessage. */
  async nextMessage(ms = 5000): Promise<GatewayMessage> {
    return decodeGatewayMessage(await this.nextData(ms));
  }

  /** The next text message's bytes (a gateway must never send one). */
  nextText(ms = 5000): Promise<Buffer> {
    return this.#texts.next(ms, 'a text message');
  }

  nextPing(ms = 5000): Promise<Buffer> {
    return this.#pings.next(ms, 'a ping');
  }

  nextPong(ms = 5000): Promise<Buffer> {
    return this.#pongs.next(ms, 'a pong');
  }

  /** Binary messages received and not yet taken. */
  pendingMessages(): number {
    return this.#messages.size;
  }

  /** Pongs received and not yet taken. */
  takePongs(): Buffer[] {
    return this.#pongs.drain();
  }

  /** Resolves when the server's Close frame arrives (before the TCP close). */
  closeFrame(ms = 8000): Promise<ReceivedFrame> {
    return within(ms, this.#closeFrame.promise, 'a Close frame');
  }

  /** Resolves when TCP closes. */
  closed(ms = 8000): Promise<CloseResult> {
    return within(ms, this.#closed.promise, 'the connection to close');
  }

  /** Whether TCP has closed. */
  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  // ---- socket control ----

  /** Stops reading from the socket (the kernel buffers fill, as with a stuck peer). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Half-closes (FIN). */
  end(): void {
    this.socket.end();
  }

  /** Destroys with RST. */
  reset(): void {
    if (typeof this.socket.resetAndDestroy === 'function') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
