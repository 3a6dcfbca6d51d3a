// The Degas behind the gateway in the benchmarks, written on raw `ws` with hand-written frame
// parsing so that it costs about as much CPU as the raw relay's echo backend (the benchmark
// measures the gateway, not a Degas SDK). Echo mode answers every client_message with
// degas_to_client{same account, same payload}; with --fanout N it answers with one
// degas_to_clients{accounts 0..N-1, same payload} instead.
// Reply mode (for a cluster, where every gateway node dials its own connection): "incoming"
// (default) answers over the connection the message came in on, as @degas/degas-sdk does;
// "other" answers over the next connection, so that every reply crosses the cluster's bus. The
// parent switches it with the IPC message `{ type: 'reply-mode', mode }` (answered with
// `{ type: 'reply-mode', mode }`).
import { accountId } from '../lib/keys.js';
import { args, listenWs } from './common.js';

const opts = args({ fanout: { type: 'string', default: '0' } });
const fanout = Number(opts.fanout);

/** @param {number} n */
function varintSize(n) {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}
/** @param {Buffer} buf @param {number} pos @param {number} n */
function writeVarint(buf, pos, n) {
  while (n > 0x7f) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

// Fan-out: the ids part of DegasToClientsMessage is the same for every message.
let idsBlock = Buffer.alloc(0);
if (fanout > 0) {
  idsBlock = Buffer.allocUnsafe(fanout * 18);
  for (let i = 0; i < fanout; i++) {
    idsBlock[i * 18] = 0x0a;
    idsBlock[i * 18 + 1] = 16;
    accountId(i).copy(idsBlock, i * 18 + 2);
  }
}

let pStart = 0;
let pEnd = 0;
let idStart = 0;
/**
 * Finds account_id and payload of GatewayInternalMessage.client_message; false for other frames.
 * @param {Buffer} b
 */
function parseForward(b) {
  if (b.length < 2 || b[0] !== 0x0a) return false;
  let pos = 1;
  let len = 0;
  let shift = 0;
  for (;;) {
    const c = b[pos++];
    len |= (c & 0x7f) << shift;
    if (c < 0x80) break;
    shift += 7;
  }
  const end = pos + len;
  idStart = -1;
  pStart = pEnd = pos;
  while (pos < end) {
    const tag = b[pos++];
    if (tag === 0x18) {
      while (b[pos++] >= 0x80);
      continue;
    }
    let l = 0;
    shift = 0;
    for (;;) {
      const c = b[pos++];
      l |= (c & 0x7f) << shift;
      if (c < 0x80) break;
      shift += 7;
    }
    if (tag === 0x0a) idStart = pos;
    else if (tag === 0x12) {
      pStart = pos;
      pEnd = pos + l;
    }
    pos += l;
  }
  return idStart >= 0;
}

/** @type {'incoming' | 'other'} */
let replyMode = 'incoming';
/** @type {import('ws').WebSocket[]} */
const links = [];
process.on('message', (/** @type {any} */ m) => {
  if (m?.type !== 'reply-mode') return;
  replyMode = m.mode === 'other' ? 'other' : 'incoming';
  process.send?.({ type: 'reply-mode', mode: replyMode, links: links.length });
});

const wss = listenWs(opts);
wss.on('connection', (/** @type {import('ws').WebSocket} */ incoming) => {
  links.push(incoming);
  incoming.on('close', () => links.splice(links.indexOf(incoming), 1));
  incoming.on('message', (/** @type {Buffer} */ data) => {
    const ws =
      replyMode === 'other' && links.length > 1 ? links[(links.indexOf(incoming) + 1) % links.length] : incoming;
    if (!parseForward(data)) return;
    const plen = pEnd - pStart;
    const payloadRec = plen > 0 ? 1 + varintSize(plen) + plen : 0;
    if (fanout > 0) {
      const body = idsBlock.length + payloadRec;
      const out = Buffer.allocUnsafe(1 + varintSize(body) + body);
      out[0] = 0x12;
      let pos = writeVarint(out, 1, body);
      idsBlock.copy(out, pos);
      pos += idsBlock.length;
      if (plen > 0) {
        out[pos++] = 0x12;
        pos = writeVarint(out, pos, plen);
        data.copy(out, pos, pStart, pEnd);
      }
      ws.send(out);
      return;
    }
    const body = 18 + payloadRec;
    const out = Buffer.allocUnsafe(1 + varintSize(body) + body);
    out[0] = 0x0a;
    let pos = writeVarint(out, 1, body);
    out[pos++] = 0x0a;
    out[pos++] = 16;
    data.copy(out, pos, idStart, idStart + 16);
    pos += 16;
    if (plen > 0) {
      out[pos++] = 0x12;
      pos = writeVarint(out, pos, plen);
      data.copy(out, pos, pStart, pEnd);
    }
    ws.send(out);
  });
  incoming.on('error', () => {});
});
