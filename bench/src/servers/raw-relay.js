// Baseline: the minimal relay a Node process can be. No protobuf, no auth: every client message
// goes to one backend connection with a 4-byte connection index in front, and the backend's
// reply is routed back by that prefix. This is the yardstick for the gateway's relay ratio. With
// --tls-cert/--tls-key it serves wss:// to its clients (its backend connection stays plain, like
// the gateway's link to the Degas).
import { WebSocket } from 'ws';
import { args, listenWs } from './common.js';

const opts = args({ backend: { type: 'string' } });
if (!opts.backend) throw new TypeError('--backend URL is required');

/** @type {(WebSocket | undefined)[]} */
const clients = [];
/** @type {number[]} */
const free = [];

const backend = new WebSocket(opts.backend, {
  perMessageDeflate: false,
  maxPayload: 256 * 1024,
  skipUTF8Validation: true,
});
backend.binaryType = 'nodebuffer';
backend.on('message', (/** @type {Buffer} */ data) => {
  const client = clients[data.readUInt32LE(0)];
  if (client !== undefined) client.send(data.subarray(4));
});
backend.on('open', () => {
  const wss = listenWs(opts);
  wss.on('connection', (ws) => {
    const id = free.length > 0 ? /** @type {number} */ (free.pop()) : clients.length;
    clients[id] = ws;
    ws.on('message', (/** @type {Buffer} */ data) => {
      const out = Buffer.allocUnsafe(4 + data.length);
      out.writeUInt32LE(id, 0);
      data.copy(out, 4);
      backend.send(out);
    });
    ws.on('close', () => {
      clients[id] = undefined;
      free.push(id);
    });
    ws.on('error', () => {});
  });
});
