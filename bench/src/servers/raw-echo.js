// Baseline: a raw `ws` echo server. Used as the direct-echo baseline, as the raw relay's backend
// (it echoes the relay's prefix with the bytes), and as the raw idle-connection baseline.
// With --tls-cert/--tls-key it serves wss:// (the TLS relay scenario's direct echo).
import { args, listenWs } from './common.js';

const wss = listenWs(args({}));
wss.on('connection', (ws) => {
  ws.on('message', (data) => ws.send(data));
  ws.on('error', () => {});
});
