// Baseline: the minimal relay a Node process can be. No protobuf, no auth: every client message
// goes to one backend connection with a 4-byte connection index in front, and the backend's
// reply is routed back by that prefix. This is the yardstick for the gateway's relay ratio.
import { WebSocket, WebSocketServer } from 'ws';
import { args, ready, SERVER_WS_OPTIONS } from './common.js';

const opts = args({ backend: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } });
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
  const wss = new WebSocketServer({ ...SERVER_WS_OPTIONS, host: opts.host, port: 0 }, () => {
    ready(/** @type {import('node:net').AddressInfo} */ (wss.address()).port);
  });
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
