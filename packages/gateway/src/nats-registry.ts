/**
 * The cluster registry (ARCHITECTURE.md 2 "cluster", PROTOCOL.md 8): gateway nodes joined by NATS.
 * Loaded with a dynamic import only when `--nats` is given, so a single node never loads NATS.
 *
 * - A JetStream KV bucket `<cluster>_sessions` maps account (32 hex digits) → {node, session,
 *   open/ended}. A login `put`s (last writer wins); every node watches the bucket and kicks its
 *   local session when a newer revision names another session. Events at or below a node's own
 *   claim revision are ignored, so of two simultaneous logins exactly the later revision survives.
 *   Every other write (release, resume claim, re-registration) is compare-and-swap.
 * - Each node has an inbox subject `<cluster>.node.<id>` for deliveries and their misses, and
 *   publishes a heartbeat on `<cluster>.hb`; entries of a node whose heartbeat lapsed count as
 *   absent (the server silently ignores per-key TTLs, and a watcher gets no event on expiry, so
 *   liveness cannot live in the KV).
 * - Cross-node traffic is never buffered: while the bus is down a delivery to another node is a
 *   miss (CLIENT_ERROR) at once, and claims answer `unavailable`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { idKey } from '@degas/proto';
import { type KV, type KvEntry, Kvm } from '@nats-io/kv';
import {
  type Authenticator,
  connect,
  credsAuthenticator,
  type Msg,
  type NatsConnection,
  type NodeConnectionOptions,
  type QueuedIterator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import {
  CLUSTER_NAME,
  type ClusterRegistry,
  NATS_DEFAULTS,
  type NatsRegistryOptions,
  type NatsServerSpec,
  parseNatsServer,
} from './cluster.js';
import type { Logger } from './logger.js';
import {
  type AccountState,
  type ClaimResult,
  Delivery,
  REGISTRY_BUCKETS_MS,
  type RegisteredSession,
  type RegistryHost,
  type RegistrySnapshot,
  type SessionRegistry,
} from './registry.js';

/** A KV entry's value. */
interface Value {
  /** Node id. */
  n: string;
  /** Session id (decimal). */
  s: string;
  /** 1 = open, 0 = ended. */
  o: 0 | 1;
  /** When it ended (ms since the epoch). */
  t: number;
  /** 1 = the ending allows resume. */
  r: 0 | 1;
  /** Nonce hash of the session's resume ticket ('' = none). */
  h: string;
}

/** The cluster's view of one account, from the watch. */
interface Entry {
  node: string;
  sessionId: bigint;
  open: boolean;
  endedAt: number;
  resumable: boolean;
  ticketHash: string;
  rev: number;
}

interface Local {
  session: RegisteredSession;
  /** Revision of the write that registered this session. */
  rev: number;
}

interface Pending {
  session: RegisteredSession;
  /** Highest revision seen for the account, naming another session, while the write was in flight. */
  newerRev: number;
}

interface Peer {
  name: string;
  lastSeen: number;
  gone: boolean;
}

/** Bus message kinds on a node's inbox (format version 1). */
const DELIVER = 0xd1;
const MISSES = 0xd2;
/** A node id: 6 random bytes in hex. */
const NODE_ID = /^[0-9a-f]{12}$/;
/** Most peers remembered (heartbeats of more distinct ids are ignored). */
const MAX_PEERS = 4096;
/** Most claims whose write timed out that are remembered for a later retraction. */
const MAX_RETRACTIONS = 10_000;
/** Largest bus message a node accepts: 1024 ids + a client frame of the largest payload. */
const MAX_BUS_MESSAGE = 19 + 1024 * 16 + 70_000;

/**
 * Whether `frame` is exactly one `GatewayMessage{degas}` as the gateway writes it (tag 0x1a, a
 * minimal varint length covering the rest): a bus message from a node of another version, or
 * garbage, never reaches a client.
 */
function isClientDegasFrame(frame: Uint8Array): boolean {
  if (frame.length < 2 || frame[0] !== 0x1a) return false;
  let len = 0;
  let at = 1;
  for (let shift = 0; shift <= 21; shift += 7) {
    if (at >= frame.length) return false;
    const b = frame[at++]!;
    len |= (b & 0x7f) << shift;
    if (b < 0x80) return at + len === frame.length;
  }
  return false;
}
/** kind (1) + degas id (16) + count (2). */
const HEADER = 19;
const ID = 16;

function encodeValue(v: Value): string {
  return JSON.stringify(v);
}

function decodeValue(e: KvEntry): Entry | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(e.value)) as Partial<Value>;
    if (typeof v.n !== 'string' || !NODE_ID.test(v.n) || typeof v.s !== 'string' || !/^[0-9]{1,20}$/.test(v.s)) {
      return undefined;
    }
    return {
      node: v.n,
      sessionId: BigInt(v.s),
      open: v.o === 1,
      endedAt: typeof v.t === 'number' ? v.t : 0,
      resumable: v.r === 1,
      ticketHash: typeof v.h === 'string' ? v.h : '',
      rev: e.revision,
    };
  } catch {
    return undefined;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isConflict(err: unknown): boolean {
  const text = errorText(err);
  return /wrong last sequence|key exists|10071|10164/i.test(text);
}

/**
 * The NATS session registry. Create it with `createNatsRegistry` (a dynamic import) and pass it
 * to `startGateway({ registry })`.
 * @example
 * const registry = new NatsRegistry({ servers: ['nats://127.0.0.1:4222'], cluster: 'prod' });
 * const gw = await startGateway({ accounts, degas, registry });
 */
export class NatsRegistry implements ClusterRegistry {
  readonly kind = 'nats' as const;
  readonly cluster: string;
  readonly nodeName: string;
  /** This process's id in the cluster (the node name may repeat across processes). */
  readonly nodeId: string;
  private readonly servers: NatsServerSpec[];
  private readonly credsFile: string | undefined;
  private readonly kvReplicas: number;
  private readonly heartbeatMs: number;
  private readonly nodeTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly retainEndedMs: number;
  private readonly bucketName: string;
  private readonly hbSubject: string;
  private readonly inbox: string;
  private host: RegistryHost | undefined;
  private log: Logger | undefined;
  private nc: NatsConnection | undefined;
  private kv: KV | undefined;
  private watcher: QueuedIterator<KvEntry> | undefined;
  /** True while registrations are possible: connected, bucket open, local sessions re-registered. */
  private up = false;
  private closed = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private connectFailures = 0;
  private startedAt = 0;
  /** The server this node joined (for logs). */
  joined = '';

  private readonly locals = new Map<string, Local>();
  private readonly pending = new Map<string, Pending[]>();
  private readonly table = new Map<string, Entry>();
  private readonly peers = new Map<string, Peer>();
  /** Sessions that ended while the bus was down: written when it returns. */
  private readonly unreleased = new Map<
    string,
    { session: RegisteredSession; rev: number; resumable: boolean; endedAt: number }
  >();
  /** Our own ended entries, oldest first: deleted once the retention passed. */
  private readonly endedOwn = new Map<string, { rev: number; endedAt: number }>();
  /** Claims whose write failed without an answer: account → session id, removed from the KV if they landed. */
  private readonly retractions = new Map<string, bigint>();

  /** The counters of {@link RegistrySnapshot}. */
  private readonly counts = {
    claims: 0,
    remoteKicks: 0,
    deliveriesSent: 0,
    deliveriesReceived: 0,
    remoteMisses: 0,
    busDropped: 0,
  };
  private readonly latencyCounts = new Array<number>(REGISTRY_BUCKETS_MS.length + 1).fill(0);
  private latencySumMs = 0;
  private latencyCount = 0;
  private readonly hbPayload: Uint8Array;
  private readonly onInboxMessage = (err: Error | null, msg: Msg): void => {
    if (err === null) this.handleInbox(msg);
  };
  private readonly onHeartbeat = (err: Error | null, msg: Msg): void => {
    if (err === null) this.handleHeartbeat(msg);
  };

  constructor(options: NatsRegistryOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    if (!Array.isArray(options.servers) || options.servers.length === 0) {
      throw new TypeError('servers must be a non-empty array of NATS server URLs');
    }
    this.servers = options.servers.map((s) => parseNatsServer(s));
    const withAuth = this.servers.filter((s) => s.user !== undefined || s.token !== undefined);
    if (
      withAuth.some(
        (s) => s.user !== withAuth[0]!.user || s.pass !== withAuth[0]!.pass || s.token !== withAuth[0]!.token,
      )
    ) {
      throw new RangeError('all NATS server URLs must carry the same credentials');
    }
    this.credsFile = options.credsFile;
    this.cluster = options.cluster ?? NATS_DEFAULTS.cluster;
    if (!CLUSTER_NAME.test(this.cluster)) {
      throw new RangeError(`cluster must be 1 to 64 letters, digits, "-" or "_", got ${JSON.stringify(this.cluster)}`);
    }
    this.nodeName = options.nodeName ?? hostname();
    if (typeof this.nodeName !== 'string' || this.nodeName === '' || this.nodeName.length > 128) {
      throw new RangeError('nodeName must be 1 to 128 characters');
    }
    const int = (name: string, v: number | undefined, def: number, min: number, max: number): number => {
      const n = v ?? def;
      if (!Number.isInteger(n) || n < min || n > max)
        throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
      return n;
    };
    this.kvReplicas = int('kvReplicas', options.kvReplicas, NATS_DEFAULTS.kvReplicas, 1, 5);
    this.heartbeatMs = int('heartbeatMs', options.heartbeatMs, NATS_DEFAULTS.heartbeatMs, 10, 60_000);
    this.nodeTimeoutMs = int('nodeTimeoutMs', options.nodeTimeoutMs, NATS_DEFAULTS.nodeTimeoutMs, 20, 600_000);
    if (this.nodeTimeoutMs <= this.heartbeatMs) throw new RangeError('nodeTimeoutMs must exceed heartbeatMs');
    this.requestTimeoutMs = int(
      'requestTimeoutMs',
      options.requestTimeoutMs,
      NATS_DEFAULTS.requestTimeoutMs,
      10,
      60_000,
    );
    this.retainEndedMs = int('retainEndedMs', options.retainEndedMs, 0, 0, 7 * 86_400_000);
    this.nodeId = randomBytes(6).toString('hex');
    this.bucketName = `${this.cluster}_sessions`;
    this.hbSubject = `${this.cluster}.hb`;
    this.inbox = `${this.cluster}.node.${this.nodeId}`;
    this.hbPayload = new TextEncoder().encode(`${this.nodeId} ${this.nodeName}`);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  start(host: RegistryHost): Promise<void> {
    this.host = host;
    this.log = host.logger.child({ cluster: this.cluster, node: this.nodeName });
    this.startedAt = Date.now();
    // Never fail the start: an unreachable bus is an outage like any other (logins get
    // UNAVAILABLE, /readyz 503) and the node joins when the bus appears, without a crash loop.
    this.connectLoop();
    return Promise.resolve();
  }

  /** Resolves once the node has joined the cluster (tests, the `listening` log line). */
  whenUp(timeoutMs = 30_000): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    return new Promise((resolve) => {
      const started = performance.now();
      const tick = (): void => {
        if (this.up || this.closed || performance.now() - started > timeoutMs) resolve(this.up);
        else setTimeout(tick, 10).unref();
      };
      tick();
    });
  }

  private connectionOptions(): NodeConnectionOptions {
    const first = this.servers.find((s) => s.user !== undefined || s.token !== undefined);
    const authenticators: Authenticator[] = [];
    if (this.credsFile !== undefined) {
      const file = this.credsFile;
      authenticators.push(credsAuthenticator(() => readFileSync(file)));
    }
    if (first?.user !== undefined) authenticators.push(usernamePasswordAuthenticator(first.user, first.pass));
    else if (first?.token !== undefined) authenticators.push(tokenAuthenticator(first.token));
    const opts: NodeConnectionOptions = {
      servers: this.servers.map((s) => s.hostPort),
      name: `degas-gateway ${this.cluster}/${this.nodeName}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 250,
      pingInterval: 5000,
      maxPingOut: 2,
      timeout: 5000,
    };
    if (authenticators.length > 0) opts.authenticator = authenticators;
    if (this.servers.some((s) => s.tls)) opts.tls = {};
    return opts;
  }

  private connectLoop(): void {
    if (this.closed) return;
    connect(this.connectionOptions()).then(
      (nc) => {
        if (this.closed) {
          void nc.close();
          return;
        }
        this.connectFailures = 0;
        this.onConnected(nc);
      },
      (err: unknown) => {
        if (this.closed) return;
        this.connectFailures++;
        // One line per failure at first, then one in ten: a clear reason without flooding the log.
        if (this.connectFailures <= 3 || this.connectFailures % 10 === 0) {
          this.log?.error('cannot reach NATS; logins are refused until it is reachable', {
            servers: this.servers.map((s) => s.hostPort).join(','),
            error: errorText(err),
            attempts: this.connectFailures,
          });
        }
        const delay = Math.min(5000, 250 * 2 ** Math.min(this.connectFailures - 1, 5));
        this.connectTimer = setTimeout(() => this.connectLoop(), delay);
      },
    );
  }

  private onConnected(nc: NatsConnection): void {
    this.nc = nc;
    this.joined = nc.getServer();
    nc.subscribe(this.inbox, { callback: this.onInboxMessage });
    nc.subscribe(this.hbSubject, { callback: this.onHeartbeat });
    this.publishHeartbeat();
    this.heartbeatTimer = setInterval(() => this.tick(), this.heartbeatMs);
    this.heartbeatTimer.unref();
    void this.watchStatus(nc);
    void nc.closed().then(() => {
      if (this.closed || this.nc !== nc) return;
      // The client gave up (it does not with unlimited reconnects, but e.g. an auth error closes it).
      this.log?.error('NATS connection closed; reconnecting');
      this.goDown();
      this.nc = undefined;
      clearInterval(this.heartbeatTimer);
      this.connectTimer = setTimeout(() => this.connectLoop(), 1000);
    });
    void this.resync();
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.closed || this.nc !== nc) return;
      if (s.type === 'disconnect') {
        this.log?.warn('NATS disconnected; logins are refused and other nodes unreachable until it returns', {
          server: s.server,
        });
        this.goDown();
      } else if (s.type === 'reconnect') {
        this.joined = s.server;
        this.log?.info('NATS reconnected; re-registering sessions', { server: s.server });
        this.publishHeartbeat();
        void this.resync();
      }
    }
  }

  private goDown(): void {
    this.up = false;
    this.stopWatch();
  }

  private stopWatch(): void {
    const w = this.watcher;
    this.watcher = undefined;
    w?.stop();
  }

  /**
   * (Re)joins: opens the bucket, restarts the watch (the server may have lost the watch's
   * consumer), re-registers every local session with compare-and-swap, writes the endings that
   * happened while the bus was down, and only then accepts logins again. Retried until it succeeds.
   */
  private resyncing = false;
  private initialTarget = 0;
  private initialLoaded: (() => void) | undefined;
  private async resync(): Promise<void> {
    if (this.resyncing) return;
    this.resyncing = true;
    try {
      for (let attempt = 0; !this.closed && this.nc !== undefined && !this.nc.isClosed(); attempt++) {
        try {
          await this.resyncOnce(this.nc);
          this.up = true;
          this.log?.info('joined cluster', { server: this.joined, sessions: this.locals.size });
          return;
        } catch (err) {
          if (attempt < 3 || attempt % 10 === 0) {
            this.log?.warn('cluster registry not ready; retrying', { error: errorText(err) });
          }
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
        }
      }
    } finally {
      this.resyncing = false;
    }
  }

  private async resyncOnce(nc: NatsConnection): Promise<void> {
    this.up = false;
    this.stopWatch();
    if (this.kv === undefined) {
      const kvm = new Kvm(nc);
      const opts = { history: 1, replicas: this.kvReplicas, timeout: this.requestTimeoutMs };
      try {
        this.kv = await kvm.create(this.bucketName, opts);
      } catch (err) {
        // Another node created it with other limits (e.g. replicas): use it as it is.
        this.log?.debug('KV create failed, opening', { error: errorText(err) });
        this.kv = await kvm.open(this.bucketName, { timeout: this.requestTimeoutMs });
      }
    }
    const kv = this.kv;
    this.table.clear();
    // The view is complete once the watch has delivered the bucket's last revision as of now:
    // only then may this node route deliveries (and declare misses) again.
    const lastSeq = (await kv.status()).streamInfo.state.last_seq;
    let loaded!: () => void;
    const initial = new Promise<void>((resolve) => {
      loaded = resolve;
    });
    this.initialTarget = lastSeq;
    this.initialLoaded = loaded;
    if (lastSeq === 0) loaded();
    const watcher = await kv.watch();
    this.watcher = watcher;
    void this.consumeWatch(watcher);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      initial,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('KV watch did not load in time')), 5 * this.requestTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    for (const [key, local] of [...this.locals]) {
      const current = await kv.get(key);
      if (this.locals.get(key) !== local) continue;
      const entry = current === null || current.operation !== 'PUT' ? undefined : decodeValue(current);
      if (entry !== undefined && entry.rev === local.rev) continue;
      if (entry !== undefined && entry.rev > local.rev && entry.sessionId !== local.session.sessionId) {
        // A newer login elsewhere while we were cut off.
        this.locals.delete(key);
        this.counts.remoteKicks++;
        local.session.kick();
        continue;
      }
      const value = this.openValue(local.session);
      const rev = current === null ? await kv.create(key, value) : await kv.update(key, value, current.revision);
      local.rev = rev;
    }
    for (const [key, u] of [...this.unreleased]) {
      this.unreleased.delete(key);
      if (this.locals.has(key)) continue;
      await this.writeEnd(key, u.session, u.rev, u.resumable, u.endedAt);
    }
  }

  private async consumeWatch(watcher: QueuedIterator<KvEntry>): Promise<void> {
    try {
      for await (const e of watcher) {
        if (this.watcher !== watcher) return;
        this.onWatch(e);
        if (e.revision >= this.initialTarget) this.initialLoaded?.();
      }
    } catch (err) {
      if (this.watcher === watcher && !this.closed) {
        this.log?.warn('KV watch ended', { error: errorText(err) });
        this.goDown();
        void this.resync();
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Sessions were closed by the gateway before this: their releases are in flight.
    await this.settle();
    this.closed = true;
    this.up = false;
    clearTimeout(this.connectTimer);
    clearInterval(this.heartbeatTimer);
    const nc = this.nc;
    this.stopWatch();
    if (nc !== undefined && !nc.isClosed()) {
      try {
        // "Leaving": peers count this node's entries as absent at once.
        nc.publish(this.hbSubject, new TextEncoder().encode(`${this.nodeId} -`));
        await nc.drain();
      } catch {
        await nc.close().catch(() => {});
      }
    }
    this.locals.clear();
    this.table.clear();
  }

  private inflight = new Set<Promise<unknown>>();
  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => {});
    return p;
  }
  private async settle(): Promise<void> {
    const deadline = performance.now() + this.requestTimeoutMs;
    while (this.inflight.size > 0 && performance.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, 50))]);
    }
  }

  // ---- heartbeat ------------------------------------------------------------------------------

  private publishHeartbeat(): void {
    const nc = this.nc;
    if (nc === undefined || nc.isClosed()) return;
    try {
      nc.publish(this.hbSubject, this.hbPayload);
    } catch {
      // Reconnecting: the next beat goes out.
    }
  }

  private handleHeartbeat(msg: Msg): void {
    if (msg.data.length > 256) {
      this.counts.busDropped++;
      return;
    }
    const text = new TextDecoder().decode(msg.data);
    const space = text.indexOf(' ');
    if (space <= 0) {
      this.counts.busDropped++;
      return;
    }
    const id = text.slice(0, space);
    if (id === this.nodeId) return;
    const name = text.slice(space + 1);
    if (!NODE_ID.test(id) || name.length === 0 || name.length > 128) {
      this.counts.busDropped++;
      return;
    }
    let peer = this.peers.get(id);
    if (peer === undefined && this.peers.size >= MAX_PEERS) {
      this.counts.busDropped++;
      return;
    }
    if (name === '-') {
      if (peer !== undefined) peer.lastSeen = 0;
      else this.peers.set(id, { name: id, lastSeen: 0, gone: true });
      return;
    }
    if (peer === undefined) {
      peer = { name, lastSeen: 0, gone: false };
      this.peers.set(id, peer);
      this.log?.info('node joined', { peer: name, peer_id: id });
    } else if (peer.gone) {
      peer.gone = false;
      this.log?.info('node back', { peer: name, peer_id: id });
    }
    peer.lastSeen = Date.now();
  }

  /** Whether `node` counts as present. A node never heard of counts as present for one timeout after our start. */
  private alive(node: string, now: number): boolean {
    if (node === this.nodeId) return true;
    const peer = this.peers.get(node);
    const seen = peer === undefined ? this.startedAt : peer.lastSeen;
    return now - seen <= this.nodeTimeoutMs;
  }

  private tick(): void {
    this.publishHeartbeat();
    const now = Date.now();
    for (const [id, peer] of this.peers) {
      if (!peer.gone && now - peer.lastSeen > this.nodeTimeoutMs) {
        peer.gone = true;
        this.log?.warn('node gone (heartbeat lapsed); its accounts count as absent', { peer: peer.name, peer_id: id });
      }
      // Forget nodes long gone (their entries are cleaned below).
      if (peer.gone && now - peer.lastSeen > 10 * this.nodeTimeoutMs + this.retainEndedMs) this.peers.delete(id);
    }
    if (!this.up) return;
    this.retractAll();
    this.sweepEnded(now);
    this.sweepGoneNodes(now);
  }

  private sweepEnded(now: number): void {
    const kv = this.kv;
    if (kv === undefined) return;
    for (const [key, e] of this.endedOwn) {
      if (now - e.endedAt < this.retainEndedMs) break;
      this.endedOwn.delete(key);
      void this.track(kv.delete(key, { previousSeq: e.rev })).catch(() => {});
    }
  }

  /**
   * Entries of nodes that are gone stay in the bucket (a KV TTL cannot be per key); the live
   * node with the lowest id removes them, compare-and-swap, once the resume window passed.
   */
  private sweepGoneNodes(now: number): void {
    const kv = this.kv;
    if (kv === undefined) return;
    let lowest = this.nodeId;
    for (const [id, peer] of this.peers) if (!peer.gone && id < lowest) lowest = id;
    if (lowest !== this.nodeId) return;
    let budget = 256;
    for (const [key, e] of this.table) {
      if (e.node === this.nodeId || this.alive(e.node, now)) continue;
      const peer = this.peers.get(e.node);
      const goneAt = (peer?.lastSeen ?? this.startedAt) + this.nodeTimeoutMs;
      if (now - goneAt < this.retainEndedMs) continue;
      if (budget-- === 0) break;
      void this.track(kv.delete(key, { previousSeq: e.rev })).catch(() => {});
    }
  }

  // ---- watch ----------------------------------------------------------------------------------

  private onWatch(e: KvEntry): void {
    const key = e.key;
    if (e.operation !== 'PUT') {
      const t = this.table.get(key);
      if (t !== undefined && t.rev < e.revision) this.table.delete(key);
      return;
    }
    const entry = decodeValue(e);
    if (entry === undefined) return;
    const known = this.table.get(key);
    if (known === undefined || known.rev < entry.rev) this.table.set(key, entry);
    const waiting = this.pending.get(key);
    if (waiting !== undefined) {
      for (const p of waiting) {
        if (entry.sessionId !== p.session.sessionId && entry.rev > p.newerRev) p.newerRev = entry.rev;
      }
    }
    const local = this.locals.get(key);
    if (local !== undefined && entry.rev > local.rev && entry.sessionId !== local.session.sessionId) {
      // A newer login of the account (on another node, or on this one through a resume elsewhere).
      this.locals.delete(key);
      if (entry.node !== this.nodeId) this.counts.remoteKicks++;
      local.session.kick();
    }
  }

  // ---- registry -------------------------------------------------------------------------------

  private openValue(session: RegisteredSession): string {
    return encodeValue({ n: this.nodeId, s: session.sessionId.toString(), o: 1, t: 0, r: 0, h: session.ticketHash });
  }

  private observe(started: number): void {
    const ms = performance.now() - started;
    let i = 0;
    while (i < REGISTRY_BUCKETS_MS.length && ms > REGISTRY_BUCKETS_MS[i]!) i++;
    this.latencyCounts[i]!++;
    this.latencySumMs += ms;
    this.latencyCount++;
  }

  claim(session: RegisteredSession, expectSessionId?: bigint): Promise<ClaimResult> {
    if (!this.up || this.kv === undefined) return Promise.resolve('unavailable');
    return this.track(this.doClaim(this.kv, session, expectSessionId));
  }

  private async doClaim(kv: KV, session: RegisteredSession, expectSessionId: bigint | undefined): Promise<ClaimResult> {
    const key = session.accountKey;
    const started = performance.now();
    const p: Pending = { session, newerRev: 0 };
    let list = this.pending.get(key);
    if (list === undefined) {
      list = [];
      this.pending.set(key, list);
    }
    list.push(p);
    let rev: number;
    try {
      if (expectSessionId === undefined) rev = await kv.put(key, this.openValue(session));
      else if (expectSessionId === 0n) {
        // Only if the account has no state at all: create-if-absent.
        rev = await kv.create(key, this.openValue(session));
      } else {
        // A resume: only if the account's latest session is still the ticket's, open or ended in
        // a way that allows resume; compare-and-swap, so a ticket works once cluster-wide.
        const current = await kv.get(key);
        const state = current === null || current.operation !== 'PUT' ? undefined : this.stateOf(decodeValue(current));
        if (state === undefined || state.sessionId !== expectSessionId || (!state.open && !state.resumable)) {
          return 'conflict';
        }
        rev = await kv.update(key, this.openValue(session), current!.revision);
      }
    } catch (err) {
      if (expectSessionId !== undefined && isConflict(err)) return 'conflict';
      this.log?.warn('session registry write failed', { error: errorText(err) });
      // A write that timed out may still have been applied (even later, when a stalled server
      // resumes): take it back if it names us, now and on later ticks until NATS answers.
      if (this.retractions.size < MAX_RETRACTIONS) this.retractions.set(key, session.sessionId);
      return 'unavailable';
    } finally {
      list.splice(list.indexOf(p), 1);
      if (list.length === 0) this.pending.delete(key);
      this.observe(started);
    }
    this.counts.claims++;
    if (this.closed) return 'unavailable';
    if (p.newerRev > rev) {
      // A later login of the account won while our write was in flight.
      session.kick();
      return 'ok';
    }
    const known = this.table.get(key);
    if (known !== undefined && known.rev > rev && known.sessionId !== session.sessionId) {
      session.kick();
      return 'ok';
    }
    const previous = this.locals.get(key);
    this.locals.set(key, { session, rev });
    this.unreleased.delete(key);
    this.endedOwn.delete(key);
    if (previous !== undefined && previous.session !== session) previous.session.kick();
    return 'ok';
  }

  private retracting = false;
  private retractAll(): void {
    const kv = this.kv;
    if (this.retracting || kv === undefined || this.retractions.size === 0) return;
    this.retracting = true;
    void this.track(
      (async () => {
        for (const [key, sessionId] of [...this.retractions]) {
          if (this.closed) return;
          const current = await kv.get(key);
          this.retractions.delete(key);
          if (
            current === null ||
            current.operation !== 'PUT' ||
            this.locals.get(key)?.session.sessionId === sessionId
          ) {
            continue;
          }
          const entry = decodeValue(current);
          if (entry?.sessionId === sessionId && entry.node === this.nodeId) {
            await kv.delete(key, { previousSeq: current.revision }).catch(() => {});
          }
        }
      })()
        .catch(() => {})
        .finally(() => {
          this.retracting = false;
        }),
    );
  }

  release(session: RegisteredSession, resumable: boolean): void {
    const key = session.accountKey;
    const local = this.locals.get(key);
    if (local === undefined || local.session !== session) return;
    this.locals.delete(key);
    const endedAt = Date.now();
    if (!this.up) {
      this.unreleased.set(key, { session, rev: local.rev, resumable, endedAt });
      return;
    }
    void this.track(this.writeEnd(key, session, local.rev, resumable, endedAt));
  }

  /** Marks the account's entry ended (kept for the resume window) or deletes it; CAS on `rev`. */
  private async writeEnd(
    key: string,
    session: RegisteredSession,
    rev: number,
    resumable: boolean,
    endedAt: number,
  ): Promise<void> {
    const kv = this.kv;
    if (kv === undefined) return;
    const started = performance.now();
    try {
      if (this.retainEndedMs > 0) {
        const value = encodeValue({
          n: this.nodeId,
          s: session.sessionId.toString(),
          o: 0,
          t: endedAt,
          r: resumable ? 1 : 0,
          h: session.ticketHash,
        });
        const newRev = await kv.update(key, value, rev);
        this.endedOwn.delete(key);
        this.endedOwn.set(key, { rev: newRev, endedAt });
      } else {
        await kv.delete(key, { previousSeq: rev });
      }
    } catch (err) {
      // A conflict means a newer session owns the entry: nothing to write. Anything else: retry
      // when the bus is back (re-sync).
      if (!isConflict(err) && !this.locals.has(key)) {
        this.unreleased.set(key, { session, rev, resumable, endedAt });
      }
    } finally {
      this.observe(started);
    }
  }

  holder(accountKey: string): string | undefined {
    if (this.locals.has(accountKey)) return this.nodeId;
    const e = this.table.get(accountKey);
    return e?.open ? e.node : undefined;
  }

  local(accountKey: string): RegisteredSession | undefined {
    return this.locals.get(accountKey)?.session;
  }

  /** The node holding `accountKey`, when it is another live node and the bus is up. */
  private remoteNode(accountKey: string, now: number): string | undefined {
    if (!this.up) return undefined;
    const e = this.table.get(accountKey);
    if (e === undefined || !e.open || e.node === this.nodeId || !this.alive(e.node, now)) return undefined;
    return e.node;
  }

  deliver(accountKey: string, accountId: Uint8Array, frame: Uint8Array, degasId: Uint8Array): Delivery {
    const local = this.locals.get(accountKey);
    if (local !== undefined) return local.session.deliver(frame) ? Delivery.LOCAL : Delivery.MISS;
    const node = this.remoteNode(accountKey, Date.now());
    if (node === undefined) return Delivery.MISS;
    const msg = Buffer.allocUnsafe(HEADER + ID + frame.length);
    msg[0] = DELIVER;
    msg.set(degasId, 1);
    msg.writeUInt16BE(1, 17);
    msg.set(accountId, HEADER);
    msg.set(frame, HEADER + ID);
    return this.send(node, msg) ? Delivery.REMOTE : Delivery.MISS;
  }

  private send(node: string, msg: Uint8Array): boolean {
    const nc = this.nc;
    if (nc === undefined) return false;
    try {
      nc.publish(`${this.cluster}.node.${node}`, msg, { reply: this.inbox });
    } catch {
      return false;
    }
    this.counts.deliveriesSent++;
    return true;
  }

  // Typed by the interface, so its parameter list is written once (registry.ts).
  readonly deliverMany: SessionRegistry['deliverMany'] = (accountKeys, accountIds, frame, degasId, origin) => {
    let delivered = 0;
    let byNode: Map<string, number[]> | undefined;
    const now = Date.now();
    for (let i = 0; i < accountKeys.length; i++) {
      const key = accountKeys[i]!;
      const local = this.locals.get(key);
      if (local !== undefined) {
        if (local.session.deliver(frame)) delivered++;
        else origin.clientError(accountIds[i]!);
        continue;
      }
      const node = this.remoteNode(key, now);
      if (node === undefined) {
        origin.clientError(accountIds[i]!);
        continue;
      }
      byNode ??= new Map();
      let list = byNode.get(node);
      if (list === undefined) {
        list = [];
        byNode.set(node, list);
      }
      list.push(i);
    }
    if (byNode !== undefined) {
      // One bus message per node, whatever the number of its accounts.
      for (const [node, indices] of byNode) {
        const msg = Buffer.allocUnsafe(HEADER + ID * indices.length + frame.length);
        msg[0] = DELIVER;
        msg.set(degasId, 1);
        msg.writeUInt16BE(indices.length, 17);
        let at = HEADER;
        for (const i of indices) {
          msg.set(accountIds[i]!, at);
          at += ID;
        }
        msg.set(frame, at);
        if (!this.send(node, msg)) for (const i of indices) origin.clientError(accountIds[i]!);
      }
    }
    return delivered;
  };

  private handleInbox(msg: Msg): void {
    const data = msg.data;
    if (data.length < HEADER || data.length > MAX_BUS_MESSAGE || (data[0] !== DELIVER && data[0] !== MISSES)) {
      this.counts.busDropped++;
      return;
    }
    const count = (data[17]! << 8) | data[18]!;
    const idsEnd = HEADER + count * ID;
    if (count === 0 || count > 1024 || data.length < idsEnd || (data[0] === MISSES && data.length !== idsEnd)) {
      this.counts.busDropped++;
      return;
    }
    const degasId = data.subarray(1, 17);
    if (data[0] === MISSES) {
      const host = this.host;
      if (host === undefined) return;
      for (let at = HEADER; at < idsEnd; at += ID) {
        this.counts.remoteMisses++;
        host.clientError(degasId, data.subarray(at, at + ID));
      }
      return;
    }
    const frame = data.subarray(idsEnd);
    if (!isClientDegasFrame(frame)) {
      this.counts.busDropped++;
      return;
    }
    this.counts.deliveriesReceived++;
    let misses: number[] | undefined;
    let delivered = 0;
    for (let at = HEADER; at < idsEnd; at += ID) {
      const local = this.locals.get(idKey(data.subarray(at, at + ID)));
      if (local?.session.deliver(frame)) delivered++;
      else {
        misses ??= [];
        misses.push(at);
      }
    }
    const stats = this.host?.stats;
    if (stats !== undefined && delivered > 0) {
      stats.degasToClientMessages += delivered;
      stats.degasToClientBytes += delivered * frame.length;
    }
    if (misses !== undefined && msg.reply !== undefined && msg.reply !== '') {
      const reply = Buffer.allocUnsafe(HEADER + ID * misses.length);
      reply[0] = MISSES;
      reply.set(degasId, 1);
      reply.writeUInt16BE(misses.length, 17);
      let to = HEADER;
      for (const at of misses) {
        reply.set(data.subarray(at, at + ID), to);
        to += ID;
      }
      try {
        this.nc?.publish(msg.reply, reply);
      } catch {
        // The origin's CLIENT_ERROR is lost with the bus; its Degas sees the player silent.
      }
    }
  }

  async latest(accountId: Uint8Array): Promise<AccountState | undefined> {
    const kv = this.kv;
    if (kv === undefined || !this.up) throw new Error('cluster bus unavailable');
    const current = await kv.get(idKey(accountId));
    if (current === null || current.operation !== 'PUT') return undefined;
    return this.stateOf(decodeValue(current));
  }

  /** An entry as the account's state; a session of a node that died ended (resumably) when its heartbeat lapsed. */
  private stateOf(e: Entry | undefined): AccountState | undefined {
    if (e === undefined) return undefined;
    if (e.open && !this.alive(e.node, Date.now())) {
      const peer = this.peers.get(e.node);
      return {
        sessionId: e.sessionId,
        open: false,
        endedAt: (peer?.lastSeen ?? this.startedAt) + this.nodeTimeoutMs,
        resumable: true,
        ticketHash: e.ticketHash,
      };
    }
    return {
      sessionId: e.sessionId,
      open: e.open,
      endedAt: e.endedAt,
      resumable: e.resumable,
      ticketHash: e.ticketHash,
    };
  }

  localCount(): number {
    return this.locals.size;
  }

  ready(): boolean {
    return this.up;
  }

  snapshot(): RegistrySnapshot {
    const now = Date.now();
    let live = 1;
    for (const id of this.peers.keys()) if (this.alive(id, now)) live++;
    return {
      kind: 'nats',
      cluster: this.cluster,
      node: this.nodeName,
      busConnected: this.up,
      liveNodes: live,
      ...this.counts,
      latencyBucketsMs: REGISTRY_BUCKETS_MS,
      latencyCounts: [...this.latencyCounts],
      latencySumMs: this.latencySumMs,
      latencyCount: this.latencyCount,
    };
  }
}
