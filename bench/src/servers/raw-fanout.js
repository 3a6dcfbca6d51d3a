// Baseline for fan-out: a raw `ws` server that sends every message it receives, as the same
// buffer, to every connected socket (the sender included).
import { WebSocketServer } from 'ws';
import { args, ready, SERVER_WS_OPTIONS } from './common.js';

const opts = args({ host: { type: 'string', default: '127.0.0.1' } });
/** @type {Set<import('ws').WebSocket>} */
const sockets = new Set();
const wss = new WebSocketServer({ ...SERVER_WS_OPTIONS, host: opts.host, port: 0 }, () => {
  ready(/** @type {import('node:net').AddressInfo} */ (wss.address()).port);
});
wss.on('connection', (ws) => {
  sockets.add(ws);
  ws.on('message', (data) => {
    for (const s of sockets) s.send(data);
  });
  ws.on('close', () => sockets.delete(ws));
  ws.on('error', () => {});
});
