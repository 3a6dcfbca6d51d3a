/**
 * @degas/client/node — the same API as `@degas/client`, with `WebSocket` from the `ws` package as
 * the default transport (Node 20 has no global WebSocket without a flag).
 */

import { type ClientOptions, WebSocket as NodeWebSocket } from 'ws';
import { DegasClient as BaseDegasClient, type DegasClientOptions, type WebSocketConstructor } from './client.js';

export * from './index.js';

/**
 * TLS settings for `wss://` gateways in Node, passed to `tls.connect` (through `ws`). Node's
 * default roots are used unless `ca` is given.
 */
export interface NodeTlsOptions {
  /** CA certificates (PEM) to trust instead of Node's default roots, e.g. your private CA. */
  ca?: string | Buffer | readonly (string | Buffer)[];
  /** Client certificate (PEM), for a gateway behind a proxy that asks for one. */
  cert?: string | Buffer;
  /** Private key (PEM) of `cert`. */
  key?: string | Buffer;
  /** Name to send (SNI) and to check the certificate against, when it is not the URL's host. */
  servername?: string;
}

/** Options of the Node {@link DegasClient}: those of `@degas/client`, plus `tls`. */
export interface NodeDegasClientOptions extends DegasClientOptions {
  /** TLS settings for `wss://` URLs (see {@link NodeTlsOptions}). Not allowed together with `WebSocket`. */
  tls?: NodeTlsOptions;
}

/**
 * {@link BaseDegasClient} with `options.WebSocket` defaulting to `ws` (with a 128 KiB frame limit
 * and no compression), and `options.tls` for `wss://` gateways with a private CA. Pass
 * `WebSocket` to override the transport.
 * @example
 * import { DegasClient } from '@degas/client/node';
 * const client = new DegasClient({ url: 'ws://127.0.0.1:8080', accountId, signer: privateKey });
 * await client.connect();
 * // A gateway serving wss:// with a certificate from your own CA:
 * new DegasClient({ url: 'wss://gw.internal:8443', accountId, signer, tls: { ca: readFileSync('ca.pem') } });
 */
export class DegasClient extends BaseDegasClient {
  constructor(options: NodeDegasClientOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { tls, ...rest } = options;
    if (tls !== undefined && rest.WebSocket !== undefined) {
      throw new TypeError('options.tls applies to the default WebSocket; give tls or WebSocket, not both');
    }
    super({ ...rest, WebSocket: rest.WebSocket ?? (tls === undefined ? NodeClientWebSocket : nodeWebSocket({ tls })) });
  }
}

/**
 * `ws`'s WebSocket with explicit limits: a gateway frame is at most 65536 + 1024 bytes, so
 * there is no reason to accept ws's 100 MiB default.
 * @example
 * new DegasClient({ url, accountId, signer, WebSocket: NodeClientWebSocket });
 */
export const NodeClientWebSocket: WebSocketConstructor = class extends NodeWebSocket {
  constructor(url: string) {
    super(url, { maxPayload: 128 * 1024, perMessageDeflate: false });
  }
};

/**
 * A WebSocket constructor like {@link NodeClientWebSocket} with TLS settings for `wss://` URLs.
 * @example
 * const WebSocket = nodeWebSocket({ tls: { ca: readFileSync('ca.pem') } });
 * new DegasClient({ url: 'wss://gw.internal:8443', accountId, signer, WebSocket });
 */
export function nodeWebSocket(options: { tls?: NodeTlsOptions } = {}): WebSocketConstructor {
  const tls = checkTls(options.tls) as ClientOptions;
  return class extends NodeWebSocket {
    constructor(url: string) {
      super(url, { maxPayload: 128 * 1024, perMessageDeflate: false, ...tls });
    }
  };
}

const isPem = (v: unknown): boolean => typeof v === 'string' || Buffer.isBuffer(v);

function checkTls(tls: unknown): NodeTlsOptions {
  if (tls === undefined) return {};
  if (tls === null || typeof tls !== 'object') throw new TypeError('options.tls must be an object');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tls)) {
    if (value === undefined) continue;
    if (key === 'ca') {
      const list = Array.isArray(value) ? value : [value];
      if (list.length === 0 || !list.every(isPem))
        throw new TypeError('options.tls.ca must be PEM (string or Buffer) or a list of them');
    } else if (key === 'cert' || key === 'key') {
      if (!isPem(value)) throw new TypeError(`options.tls.${key} must be PEM (string or Buffer)`);
    } else if (key === 'servername') {
      if (typeof value !== 'string' || value === '')
        throw new TypeError('options.tls.servername must be a non-empty string');
    } else {
      // rejectUnauthorized and friends are left out on purpose: trust a CA instead.
      throw new TypeError(`options.tls.${key} is not supported (ca, cert, key, servername)`);
    }
    out[key] = value;
  }
  return out as NodeTlsOptions;
}
