// Load generator process (started with child_process.fork, `serialization: 'advanced'`).
// The parent drives it with request/response messages `{ id, cmd, ... }` → `{ id, ok, result }`:
//   connect  open (and, in gateway mode, authenticate) a range of clients
//   run      start the closed loop: every client keeps exactly one message in flight
//   fanout   start the fan-out loop: client 0 triggers, every client must receive before the next
//   mark     start recording round-trip times (the measured window begins)
//   stop     stop recording and sending; wait for in-flight messages; return the samples
//   close    close every socket
//   closed   wait until every socket has been closed by the server (e.g. a gateway shutting down)
//   reconnect  reconnect every client that was connected, with its latest resume ticket or not
// The same code drives the gateway and the raw baselines; only the framing differs.
import { decodeGatewayMessage, encodeClientDegas, encodeClientMessage, errorCodeName } from '@degas/proto';
import secp from 'secp256k1';
import { WebSocket } from 'ws';
import { accountId, DEGAS_ID, privateKey } from './lib/keys.js';

const SAMPLE_CAPACITY = 2_000_000; // 16 MB; a 10 s window at 100k msg/s still fits
const samples = new Float64Array(SAMPLE_CAPACITY);
let nSamples = 0;

/** @type {WebSocket[]} */
let sockets = [];
/** @type {'raw' | 'gateway'} */
let mode = 'raw';
/** @type {BigInt64Array} */
let sentAt = new BigInt64Array(0);

let running = false;
let recording = false;
let completed = 0;
let inflight = 0;
let errors = 0;
/** @type {Record<string, number>} */
let errorKinds = {};
let t0 = 0n;
/** @type {(() => void) | undefined} */
let onDrained;
/** @type {any[]} */
let prepared = [];
/** Clients that connected (gateway mode): reconnect() brings them back. */
/** @type {any[]} */
let connectedClients = [];

// Roughly the size of a hello frame.
const RAW_LOGIN_FRAME = Buffer.alloc(64, 0x68);

const CLIENT_WS_OPTIONS = {
  perMessageDeflate: false,
  maxPayload: 256 * 1024,
  skipUTF8Validation: true,
  handshakeTimeout: 60_000,
};

/** @param {string} kind */
function countError(kind) {
  errors++;
  errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
}

/**
 * Signs the EIP-712 Login digest with libsecp256k1 (so clients are not the bottleneck).
 * @param {{ loginDigest: Function }} authEth
 * @param {string} challengeJson
 * @param {Buffer} key
 * @param {string | undefined} domainName
 */
function signChallenge(authEth, challengeJson, key, domainName) {
  const { Message, Challenge } = JSON.parse(challengeJson);
  const digest = authEth.loginDigest({ Message, Challenge }, domainName === undefined ? {} : { domainName });
  const { signature, recid } = secp.ecdsaSign(digest, key);
  const sig = new Uint8Array(65);
  sig.set(signature, 0);
  sig[64] = 27 + recid;
  return sig;
}

/**
 * Opens one client; in gateway mode runs hello → auth_request → eth_auth → auth_ok.
 * @returns {Promise<{ ok: true, ws: WebSocket, readyNs: bigint, startNs: bigint } | { ok: false, reason: string }>}
 */
function connectOne(/** @type {any} */ o) {
  return new Promise((resolve) => {
    const startNs = process.hrtime.bigint();
    const wsOpts =
      o.localAddress || o.ca
        ? {
            ...CLIENT_WS_OPTIONS,
            ...(o.localAddress ? { localAddress: o.localAddress } : {}),
            ...(o.ca ? { ca: o.ca } : {}),
          }
        : CLIENT_WS_OPTIONS;
    const ws = new WebSocket(o.url, wsOpts);
    ws.binaryType = 'nodebuffer';
    let done = false;
    /** @param {any} r */
    const finish = (r) => {
      if (done) return;
      done = true;
      ws.removeAllListeners('message');
      resolve(r);
    };
    ws.on('error', (/** @type {any} */ e) => {
      finish({ ok: false, reason: e.code ?? e.message });
    });
    ws.on('close', (code) => finish({ ok: false, reason: `close ${code}` }));
    ws.on('open', () => {
      if (o.mode === 'raw') {
        if (!o.rawRoundTrips) {
          finish({ ok: true, ws, startNs, readyNs: process.hrtime.bigint() });
          return;
        }
        // A login-shaped exchange without the crypto: as many echoed messages as a login has.
        let left = o.rawRoundTrips;
        ws.on('message', () => {
          if (--left === 0) finish({ ok: true, ws, startNs, readyNs: process.hrtime.bigint() });
          else ws.send(RAW_LOGIN_FRAME);
        });
        ws.send(RAW_LOGIN_FRAME);
        return;
      }
      ws.send(o.hello);
    });
    if (o.mode === 'gateway') {
      ws.on('message', (/** @type {Buffer} */ data) => {
        let msg;
        try {
          msg = decodeGatewayMessage(data);
        } catch {
          finish({ ok: false, reason: 'undecodable' });
          return;
        }
        const p = msg.payload;
        if (p?.$case === 'authRequest' && p.value.request?.$case === 'ethereumAuth') {
          o.signed = true;
          const signature = signChallenge(o.authEth, p.value.request.value.challenge, o.key, o.authDomain);
          ws.send(encodeClientMessage({ payload: { $case: 'ethAuth', value: { signature } } }));
        } else if (p?.$case === 'authOk') {
          // Kept for reconnect(); never logged.
          o.ticket = p.value.resumeTicket;
          o.resumed = p.value.resumed;
          finish({ ok: true, ws, startNs, readyNs: process.hrtime.bigint() });
        } else if (p?.$case === 'error') {
          finish({ ok: false, reason: errorCodeName(p.value.code) ?? `error ${p.value.code}` });
        } else {
          finish({ ok: false, reason: `unexpected ${p?.$case}` });
        }
      });
    }
  });
}

/**
 * @param {{ accountId: Uint8Array, address: string }} o
 * @param {Uint8Array} resumeTicket
 */
function helloFrame(o, resumeTicket) {
  return encodeClientMessage({
    payload: {
      $case: 'hello',
      value: {
        accountId: o.accountId,
        signer: { $case: 'ethereumSigner', value: { address: o.address } },
        resumeTicket,
      },
    },
  });
}

/**
 * Runs connectOne over `list` with `concurrency` at a time; keeps the sockets of those that
 * connected and returns the figures.
 * @param {any[]} list
 * @param {number} concurrency
 */
async function connectAll(list, concurrency) {
  const count = list.length;
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const k = next++;
      list[k].signed = false;
      list[k].resumed = false;
      results[k] = await connectOne(list[k]);
    }
  };
  const startedNs = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  const endNs = process.hrtime.bigint();
  /** @type {Record<string, number>} */
  const failures = {};
  const loginNs = new Float64Array(count);
  let ok = 0;
  let lastReadyNs = 0n;
  let resumed = 0;
  let signed = 0;
  for (let k = 0; k < count; k++) {
    const r = results[k];
    if (r.ok) {
      sockets.push(r.ws);
      connectedClients.push(list[k]);
      loginNs[ok++] = Number(r.readyNs - r.startNs);
      if (r.readyNs > lastReadyNs) lastReadyNs = r.readyNs;
      if (list[k].resumed) resumed++;
      if (list[k].signed) signed++;
      r.ws.on('error', () => {});
    } else failures[r.reason] = (failures[r.reason] ?? 0) + 1;
  }
  return {
    connected: ok,
    failed: count - ok,
    failures,
    startedNs,
    endNs,
    lastReadyNs,
    loginNs: loginNs.slice(0, ok),
    total: sockets.length,
    resumed,
    signed,
  };
}

const handlers = {
  /**
   * Derives keys and hello frames for clients [first, first + count).
   * @param {{ mode: 'raw' | 'gateway', url: string, first: number, count: number,
   *   localAddresses?: string[], authDomain?: string, rawRoundTrips?: number, ca?: string }} m
   */
  async prepare(m) {
    mode = m.mode;
    const authEth = mode === 'gateway' ? await import('@degas/auth-eth') : undefined;
    // Keys and hello frames first, so the connect phase measures the server, not key derivation.
    const list = new Array(m.count);
    for (let k = 0; k < m.count; k++) {
      const i = m.first + k;
      /** @type {any} */
      const o = {
        url: m.url,
        mode,
        localAddress: m.localAddresses?.[i % m.localAddresses.length],
        authDomain: m.authDomain,
        authEth,
        rawRoundTrips: m.rawRoundTrips ?? 0,
        // wss://: the CA that signed the server's certificate (PEM); the chain is verified.
        ca: m.ca,
      };
      if (authEth) {
        const key = privateKey(i);
        const address = authEth.publicKeyToAddress(secp.publicKeyCreate(key, false));
        o.key = key;
        o.accountId = accountId(i);
        o.address = address;
        o.hello = helloFrame(o, new Uint8Array(0));
      }
      list[k] = o;
    }
    prepared = list;
    return { prepared: list.length };
  },

  /**
   * Connects the prepared clients (or prepares them first when `count` is given).
   * @param {{ mode: 'raw' | 'gateway', url: string, first: number, count?: number,
   *   localAddresses?: string[], concurrency?: number, authDomain?: string }} m
   */
  async connect(m) {
    if (m.count !== undefined) await handlers.prepare(/** @type {any} */ (m));
    const list = prepared;
    prepared = [];
    return connectAll(list, m.concurrency ?? 256);
  },

  /**
   * Waits until the server has closed every open socket; returns the close codes seen.
   * @param {{ timeoutMs?: number }} m
   */
  async closed(m) {
    /** @type {Record<string, number>} */
    const codes = {};
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) {
              resolve(undefined);
              return;
            }
            const timer = setTimeout(() => {
              codes.timeout = (codes.timeout ?? 0) + 1;
              ws.terminate();
              resolve(undefined);
            }, m.timeoutMs ?? 30_000);
            ws.once('close', (code) => {
              clearTimeout(timer);
              codes[code] = (codes[code] ?? 0) + 1;
              resolve(undefined);
            });
          }),
      ),
    );
    return { codes };
  },

  /**
   * Reconnects every client that was connected, all at once (up to `concurrency`), to `url`:
   * with its latest resume ticket when `useTickets`, else with a plain hello (a wallet login).
   * @param {{ url: string, useTickets: boolean, concurrency?: number }} m
   */
  async reconnect(m) {
    const list = connectedClients;
    connectedClients = [];
    sockets = [];
    for (const o of list) {
      o.url = m.url;
      o.hello = helloFrame(o, m.useTickets && o.ticket ? o.ticket : new Uint8Array(0));
    }
    return connectAll(list, m.concurrency ?? 1_000_000);
  },

  /**
   * Closed loop, one message in flight per client. With `intervalMs` the loop is paced: a client
   * sends at most one message per interval (the next one leaves when both the echo has arrived
   * and the interval has passed), so the load stays below saturation and latency shows stalls
   * rather than queueing.
   * @param {{ payloadBytes: number, intervalMs?: number }} m
   */
  run(m) {
    const payload = Buffer.alloc(m.payloadBytes, 0x61);
    const frame = mode === 'gateway' ? Buffer.from(encodeClientDegas(DEGAS_ID, payload)) : payload;
    // GatewayMessage.degas has the same layout as ClientMessage.degas, so the echo is byte-for-byte
    // the frame we sent: checking the length is enough to tell it from an error frame.
    const expect = frame.length;
    const intervalNs = BigInt(Math.round((m.intervalMs ?? 0) * 1e6));
    resetCounters();
    sentAt = new BigInt64Array(sockets.length);
    running = true;
    sockets.forEach((ws, c) => {
      const sendNext = () => {
        if (!running) {
          if (--inflight === 0) onDrained?.();
          return;
        }
        sentAt[c] = process.hrtime.bigint();
        ws.send(frame);
      };
      ws.removeAllListeners('message');
      ws.on('message', (/** @type {Buffer} */ data) => {
        const now = process.hrtime.bigint();
        if (data.length !== expect) noteBadFrame(data);
        else if (recording) {
          if (nSamples < SAMPLE_CAPACITY) samples[nSamples++] = Number(now - sentAt[c]);
          completed++;
        }
        if (intervalNs > 0n) {
          const wait = Number(sentAt[c] + intervalNs - now) / 1e6;
          if (wait > 0.5) {
            setTimeout(sendNext, wait);
            return;
          }
        }
        sendNext();
      });
    });
    inflight = sockets.length;
    for (let c = 0; c < sockets.length; c++) {
      sentAt[c] = process.hrtime.bigint();
      sockets[c].send(frame);
    }
    return { clients: sockets.length };
  },

  /** @param {{ payloadBytes: number }} m */
  fanout(m) {
    const payload = Buffer.alloc(m.payloadBytes, 0x62);
    const frame = mode === 'gateway' ? Buffer.from(encodeClientDegas(DEGAS_ID, payload)) : payload;
    const expect = frame.length;
    const n = sockets.length;
    const driver = sockets[0];
    resetCounters();
    let received = 0;
    let sent = 0n;
    running = true;
    const onMessage = (/** @type {Buffer} */ data) => {
      if (data.length !== expect) {
        noteBadFrame(data);
        return;
      }
      if (++received < n) return;
      received = 0;
      const now = process.hrtime.bigint();
      if (recording) {
        if (nSamples < SAMPLE_CAPACITY) samples[nSamples++] = Number(now - sent);
        completed++;
      }
      if (running) {
        sent = process.hrtime.bigint();
        driver.send(frame);
      } else if (--inflight === 0) onDrained?.();
    };
    for (const ws of sockets) {
      ws.removeAllListeners('message');
      ws.on('message', onMessage);
    }
    inflight = 1;
    sent = process.hrtime.bigint();
    driver.send(frame);
    return { clients: n };
  },

  mark() {
    nSamples = 0;
    completed = 0;
    recording = true;
    t0 = process.hrtime.bigint();
    return { t0 };
  },

  /** @param {{ drainMs?: number }} m */
  async stop(m) {
    const t1 = process.hrtime.bigint();
    recording = false;
    running = false;
    if (inflight > 0) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, m.drainMs ?? 5000);
        onDrained = () => {
          clearTimeout(timer);
          resolve(undefined);
        };
      });
    }
    onDrained = undefined;
    const lost = inflight;
    inflight = 0;
    for (const ws of sockets) ws.removeAllListeners('message');
    return {
      completed,
      windowNs: t1 - t0,
      samples: samples.slice(0, nSamples),
      errors,
      errorKinds,
      lost,
    };
  },

  async close() {
    const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING);
    await Promise.all(
      open.map(
        (ws) =>
          new Promise((resolve) => {
            const timer = setTimeout(() => {
              ws.terminate();
              resolve(undefined);
            }, 5000);
            ws.once('close', () => {
              clearTimeout(timer);
              resolve(undefined);
            });
            ws.close(1000);
          }),
      ),
    );
    sockets = [];
    connectedClients = [];
    return { closed: open.length };
  },
};

function resetCounters() {
  nSamples = 0;
  completed = 0;
  errors = 0;
  errorKinds = {};
  recording = false;
  inflight = 0;
}

/** @param {Buffer} data */
function noteBadFrame(data) {
  if (mode !== 'gateway') {
    countError('length');
    return;
  }
  try {
    const msg = decodeGatewayMessage(data);
    const p = msg.payload;
    countError(p?.$case === 'error' ? (errorCodeName(p.value.code) ?? 'error') : `unexpected ${p?.$case}`);
  } catch {
    countError('undecodable');
  }
}

process.on('message', async (/** @type {any} */ m) => {
  const handler = /** @type {any} */ (handlers)[m.cmd];
  try {
    if (!handler) throw new Error(`unknown command ${m.cmd}`);
    const result = await handler(m);
    process.send?.({ id: m.id, ok: true, result });
  } catch (e) {
    process.send?.({ id: m.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
});
process.on('disconnect', () => process.exit(0));
// An orderly exit on SIGTERM (LoadGen.stop) lets `node --cpu-prof src/run.js` write this process's profile.
process.on('SIGTERM', () => process.exit(0));
