// Baseline for fan-out: a raw `ws` server that sends every message it receives, as the same
// buffer, to every connected socket (the sender included).
import { args, listenWs } from './common.js';

/** @type {Set<import('ws').WebSocket>} */
const sockets = new Set();
const wss = listenWs(args({}));
wss.on('connection', (ws) => {
  sockets.add(ws);
  ws.on('message', (data) => {
    for (const s of sockets) s.send(data);
  });
  ws.on('close', () => sockets.delete(ws));
  ws.on('error', () => {});
});
