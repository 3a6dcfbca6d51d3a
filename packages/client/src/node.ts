/**
 * @degas/client/node — the same API as `@degas/client`, with `WebSocket` from the `ws` package as
 * the default transport (Node 20 has no global WebSocket without a flag).
 */

import { WebSocket as NodeWebSocket } from 'ws';
import { DegasClient as BaseDegasClient, type DegasClientOptions, type WebSocketConstructor } from './client.js';

export * from './index.js';

/**
 * {@link BaseDegasClient} with `options.WebSocket` defaulting to `ws` (with a 128 KiB frame limit
 * and no compression). Pass `WebSocket` to override.
 * @example
 * import { DegasClient } from '@degas/client/node';
 * const client = new DegasClient({ url: 'ws://127.0.0.1:8080', accountId, signer: privateKey });
 * await client.connect();
 */
export class DegasClient extends BaseDegasClient {
  constructor(options: DegasClientOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    super({ ...options, WebSocket: options.WebSocket ?? NodeClientWebSocket });
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
