/**
 * A scriptable Degas for gateway tests: a `ws` server on port 0 that checks the gateway's
 * `Authorization`/`Degas-Id` headers, records every frame the gateway sends (decoded), optionally
 * echoes client messages back, and can misbehave on demand (refuse, flap, stop reading, send raw
 * bytes, die and come back on the same port).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type ClientSessionClosedMessage,
  decodeGatewayInternalMessage,
  encodeDegasToClient,
  encodeDegasToClients,
  type GatewayErrorMessage,
  type GatewayForwardMessage,
  type GatewayInternalMessage,
  idEquals,
  idKey,
  idToHex,
} from '@degas/proto';
import { WebSocket, WebSocketServer } from 'ws';
import { AsyncQueue, within } from './wait.js';

/** How the test Degas answers upgrades. */
export type TestDegasMode =
  | { kind: 'accept' }
  /** Answer the upgrade with this HTTP status. */
  | { kind: 'reject'; status: number }
  /** Complete the upgrade, then close at once with `code` (a flapping Degas, CATALOGUE #85). */
  | { kind: 'close-immediately'; code?: number };

/** Options of {@link startTestDegas}. */
export interface TestDegasOptions {
  degasId: Uint8Array;
  /** Bearer token required from the gateway; none = any (but the header is still recorded). */
  token?: string;
  /** Echo every `client_message` back to its account as `degas_to_client`. Default false. */
  echo?: boolean;
  /** Called for every decoded frame from the gateway. */
  onMessage?: (message: GatewayInternalMessage, degas: TestDegas) => void;
  /** Port to listen on; default 0. */
  port?: number;
  /** Frame limit of this Degas's server. Default 1 MiB. */
  maxPayload?: number;
}

/** A running test Degas. */
export interface TestDegas {
  readonly degasId: Uint8Array;
  readonly port: number;
  readonly url: string;
  /** What to put in a Degas directory. */
  readonly endpoint: { url: string; token?: string };
  /** Every decoded frame from the gateway, in order. */
  readonly received: GatewayInternalMessage[];
  /** Frames that did not decode (must stay empty). */
  readonly undecodable: Buffer[];
  /** Text frames received (must stay 0). */
  readonly textFrames: number;
  /** performance.now() of every upgrade attempt, accepted or not (backoff checks). */
  readonly upgradeAttempts: number[];
  /** Request headers of every upgrade attempt. */
  readonly upgradeHeaders: IncomingMessage['headers'][];
  /** Open internal links. */
  readonly links: ReadonlySet<WebSocket>;
  /** Close codes of links the gateway closed. */
  readonly closeCodes: number[];
  setMode(mode: TestDegasMode): void;
  /** Next decoded frame from the gateway. */
  nextMessage(ms?: number): Promise<GatewayInternalMessage>;
  /** Resolves with the first received message (from index `from`) matching `pred`. */
  waitFor(pred: (m: GatewayInternalMessage) => boolean, ms?: number, from?: number): Promise<GatewayInternalMessage>;
  /** Resolves once `condition(received)` holds (checked now and after every message). */
  waitUntil(condition: (received: readonly GatewayInternalMessage[]) => boolean, ms?: number): Promise<void>;
  /** Resolves once a link is open. */
  waitForLink(ms?: number): Promise<WebSocket>;
  /** `client_message`s received (optionally from one account). */
  clientMessages(accountId?: Uint8Array): GatewayForwardMessage[];
  /** `session_closed` notices received. */
  sessionClosed(): ClientSessionClosedMessage[];
  /** `error`s received (e.g. CLIENT_ERROR for an absent account). */
  errors(): GatewayErrorMessage[];
  sendToClient(accountId: Uint8Array, payload: Uint8Array): void;
  sendToClients(accountIds: readonly Uint8Array[], payload: Uint8Array): void;
  /** Sends bytes as one binary message on every link. */
  send(bytes: Uint8Array): void;
  sendText(text: string): void;
  /** Writes raw bytes on every link's TCP socket (hostile framing towards the gateway). */
  writeRaw(bytes: Uint8Array): void;
  /** Stops reading from every link's socket (a slow Degas); new links are paused too. */
  pauseReading(): void;
  resumeReading(): void;
  /** Close handshake on every link. */
  closeLinks(code?: number, reason?: string): void;
  /** Destroys every link's TCP socket and stops listening (a killed process). */
  kill(): Promise<void>;
  /** Listens again on the same port after {@link TestDegas.kill}. */
  restart(): Promise<void>;
  /** Final teardown. */
  close(): Promise<void>;
}

/**
 * Starts a test Degas on 127.0.0.1.
 * @example
 * const degas = await startTestDegas({ degasId: testDegasId(1), echo: true });
 * const dir = { resolve: (id) => (idEquals(id, degas.degasId) ? degas.endpoint : undefined) };
 */
export async function startTestDegas(options: TestDegasOptions): Promise<TestDegas> {
  const { degasId, token, echo = false, onMessage } = options;
  const idHex = idToHex(degasId);
  let mode: TestDegasMode = { kind: 'accept' };
  let paused = false;
  const received: GatewayInternalMessage[] = [];
  const undecodable: Buffer[] = [];
  const upgradeAttempts: number[] = [];
  const upgradeHeaders: IncomingMessage['headers'][] = [];
  const closeCodes: number[] = [];
  const links = new Set<WebSocket>();
  const sockets = new Set<Duplex>();
  let textFrames = 0;
  const queue = new AsyncQueue<GatewayInternalMessage>();
  const linkWaiters: ((ws: WebSocket) => void)[] = [];
  const messageWaiters = new Set<() => void>();

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: options.maxPayload ?? 1024 * 1024,
  });
  let server: Server;
  let port = options.port ?? 0;

  const socketOf = (ws: WebSocket): Socket | undefined => (ws as unknown as { _socket?: Socket })._socket;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgradeAttempts.push(performance.now());
    upgradeHeaders.push(req.headers);
    socket.on('error', () => {});
    const reject = (status: number) => {
      socket.end(`HTTP/1.1 ${status} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (mode.kind === 'reject') return reject(mode.status);
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) return reject(401);
    const hdr = req.headers['degas-id'];
    if (typeof hdr !== 'string' || hdr.toLowerCase() !== idHex) return reject(403);
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (mode.kind === 'close-immediately') {
        ws.close(mode.code ?? 1000);
        return;
      }
      links.add(ws);
      if (paused) socketOf(ws)?.pause();
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) {
          textFrames++;
          return;
        }
        let msg: GatewayInternalMessage;
        try {
          msg = decodeGatewayInternalMessage(data);
        } catch {
          undecodable.push(Buffer.from(data));
          return;
        }
        received.push(msg);
        queue.push(msg);
        for (const w of messageWaiters) w();
        if (echo && msg.payload?.$case === 'clientMessage') {
          const { accountId, payload } = msg.payload.value;
          ws.send(encodeDegasToClient(accountId, payload));
        }
        onMessage?.(msg, degas);
      });
      ws.on('error', () => {});
      ws.on('close', (code) => {
        links.delete(ws);
        closeCodes.push(code);
      });
      for (const w of linkWaiters.splice(0)) w(ws);
    });
  };

  const listen = async () => {
    server = createServer((_req, res) => {
      res.writeHead(426).end();
    });
    server.on('upgrade', onUpgrade);
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    port = (server.address() as AddressInfo).port;
  };
  await listen();

  const forEachLink = (f: (ws: WebSocket) => void) => {
    for (const ws of links) if (ws.readyState === WebSocket.OPEN) f(ws);
  };

  const kill = async () => {
    for (const ws of links) ws.terminate();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  const url = `ws://127.0.0.1:${port}`;
  const degas: TestDegas = {
    degasId,
    get port() {
      return port;
    },
    url,
    endpoint: token === undefined ? { url } : { url, token },
    received,
    undecodable,
    get textFrames() {
      return textFrames;
    },
    upgradeAttempts,
    upgradeHeaders,
    links,
    closeCodes,
    setMode(m) {
      mode = m;
    },
    nextMessage(ms = 5000) {
      return queue.next(ms, `a message at Degas ${idHex}`);
    },
    waitFor(pred, ms = 5000, from = 0) {
      const find = () => received.slice(from).find(pred);
      const found = find();
      if (found) return Promise.resolve(found);
      let check: () => void = () => {};
      const p = new Promise<GatewayInternalMessage>((resolve) => {
        check = () => {
          const m = find();
          if (m) resolve(m);
        };
        messageWaiters.add(check);
      });
      return within(ms, p, `a matching message at Degas ${idHex}`).finally(() => messageWaiters.delete(check));
    },
    waitUntil(condition, ms = 5000) {
      if (condition(received)) return Promise.resolve();
      let check: () => void = () => {};
      const p = new Promise<void>((resolve) => {
        check = () => {
          if (condition(received)) resolve();
        };
        messageWaiters.add(check);
      });
      return within(ms, p, `a condition at Degas ${idHex}`).finally(() => messageWaiters.delete(check));
    },
    waitForLink(ms = 5000) {
      for (const ws of links) if (ws.readyState === WebSocket.OPEN) return Promise.resolve(ws);
      return within(ms, new Promise<WebSocket>((resolve) => linkWaiters.push(resolve)), `a link to Degas ${idHex}`);
    },
    clientMessages(accountId) {
      const out: GatewayForwardMessage[] = [];
      for (const m of received) {
        if (m.payload?.$case !== 'clientMessage') continue;
        if (accountId && !idEquals(m.payload.value.accountId, accountId)) continue;
        out.push(m.payload.value);
      }
      return out;
    },
    sessionClosed() {
      const out: ClientSessionClosedMessage[] = [];
      for (const m of received) if (m.payload?.$case === 'sessionClosed') out.push(m.payload.value);
      return out;
    },
    errors() {
      const out: GatewayErrorMessage[] = [];
      for (const m of received) if (m.payload?.$case === 'error') out.push(m.payload.value);
      return out;
    },
    sendToClient(accountId, payload) {
      forEachLink((ws) => ws.send(encodeDegasToClient(accountId, payload)));
    },
    sendToClients(accountIds, payload) {
      forEachLink((ws) => ws.send(encodeDegasToClients(accountIds, payload)));
    },
    send(bytes) {
      forEachLink((ws) => ws.send(bytes, { binary: true }));
    },
    sendText(text) {
      forEachLink((ws) => ws.send(text, { binary: false }));
    },
    writeRaw(bytes) {
      forEachLink((ws) => socketOf(ws)?.write(bytes));
    },
    pauseReading() {
      paused = true;
      forEachLink((ws) => socketOf(ws)?.pause());
    },
    resumeReading() {
      paused = false;
      forEachLink((ws) => socketOf(ws)?.resume());
    },
    closeLinks(code = 1000, reason = '') {
      forEachLink((ws) => ws.close(code, reason));
    },
    kill,
    async restart() {
      await listen();
    },
    async close() {
      queue.fail(new Error('test Degas closed'));
      await kill().catch(() => {});
      wss.close();
    },
  };
  return degas;
}

/** A Degas directory in memory (the gateway's `DegasDirectory` shape); change it while a gateway runs. */
export interface MemoryDegasDirectory {
  resolve(degasId: Uint8Array): { url: string; token?: string } | undefined;
  set(degasId: Uint8Array, endpoint: { url: string; token?: string }): void;
  delete(degasId: Uint8Array): boolean;
}

/**
 * An in-memory Degas directory.
 * @example
 * const dir = memoryDegasDirectory([degas]); // TestDegas entries register their endpoint
 */
export function memoryDegasDirectory(
  entries: readonly Pick<TestDegas, 'degasId' | 'endpoint'>[] = [],
): MemoryDegasDirectory {
  const map = new Map<string, { url: string; token?: string }>();
  for (const d of entries) map.set(idKey(d.degasId), d.endpoint);
  return {
    resolve: (degasId) => map.get(idKey(degasId)),
    set: (degasId, endpoint) => void map.set(idKey(degasId), endpoint),
    delete: (degasId) => map.delete(idKey(degasId)),
  };
}

/**
 * A TCP server that accepts connections and never answers (a blackholed Degas, CATALOGUE #77).
 * @example
 * const hole = await startBlackhole(); // dial ws://127.0.0.1:${hole.port}
 */
export async function startBlackhole(): Promise<{
  port: number;
  url: string;
  accepted: () => number;
  close(): Promise<void>;
}> {
  const { createServer: createNetServer } = await import('node:net');
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createNetServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    accepted: () => accepted,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
