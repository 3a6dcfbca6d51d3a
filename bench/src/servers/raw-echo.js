// Baseline: a raw `ws` echo server. Used as the direct-echo baseline, as the raw relay's backend
// (it echoes the relay's prefix with the bytes), and as the raw idle-connection baseline.
import { WebSocketServer } from 'ws';
import { args, ready, SERVER_WS_OPTIONS } from './common.js';

const opts = args({ host: { type: 'string', default: '127.0.0.1' } });
const wss = new WebSocketServer({ ...SERVER_WS_OPTIONS, host: opts.host, port: 0 }, () => {
  ready(/** @type {import('node:net').AddressInfo} */ (wss.address()).port);
});
wss.on('connection', (ws) => {
  ws.on('message', (data) => ws.send(data));
  ws.on('error', () => {});
});
