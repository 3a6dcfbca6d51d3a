// Shared bits of the benchmark's server processes (raw echo, raw relay, raw fan-out, echo Degas).
// Each is started with child_process.fork, reports `{ type: 'ready', port }` over IPC and exits
// when its parent disconnects or sends SIGTERM.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

/** ws options used by every server in the benchmark, baselines and Degas alike. */
export const SERVER_WS_OPTIONS = {
  perMessageDeflate: false,
  maxPayload: 256 * 1024,
  skipUTF8Validation: true,
  clientTracking: false,
};

/**
 * Parses the server's flags; every server also takes `--host` and, for `wss://`, `--tls-cert FILE
 * --tls-key FILE` (PEM; the same pair the gateway gets in the TLS relay scenario).
 * @param {Record<string, import('node:util').ParseArgsOptionDescriptor>} options
 */
export function args(options) {
  return parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      ...options,
    },
    allowPositionals: false,
  }).values;
}

/**
 * A WebSocketServer on a free port of `opts.host`: plain, or behind an HTTPS server with Node's
 * TLS defaults (what the gateway's `--tls-cert` uses too) when `opts['tls-cert']` is set. Reports
 * readiness once it listens.
 * @param {{ host?: string | undefined, 'tls-cert'?: string | undefined, 'tls-key'?: string | undefined }} opts
 * @param {() => void} [onExit]
 */
export function listenWs(opts, onExit) {
  const certFile = opts['tls-cert'];
  const keyFile = opts['tls-key'];
  if (!certFile) {
    const wss = new WebSocketServer({ ...SERVER_WS_OPTIONS, host: opts.host, port: 0 }, () => {
      ready(/** @type {import('node:net').AddressInfo} */ (wss.address()).port, onExit);
    });
    return wss;
  }
  if (!keyFile) throw new TypeError('--tls-cert needs --tls-key');
  const server = createServer({
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
  });
  const wss = new WebSocketServer({ ...SERVER_WS_OPTIONS, server });
  server.listen(0, opts.host, () => {
    ready(/** @type {import('node:net').AddressInfo} */ (server.address()).port, onExit);
  });
  return wss;
}

/**
 * Reports readiness to the parent and wires shutdown.
 * @param {number} port
 * @param {() => void} [onExit]
 */
export function ready(port, onExit) {
  const exit = () => {
    onExit?.();
    process.exit(0);
  };
  process.on('SIGTERM', exit);
  process.on('disconnect', exit);
  process.send?.({ type: 'ready', port });
}
