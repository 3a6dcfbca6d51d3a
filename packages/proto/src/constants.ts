/**
 * Protocol constants of the Degas Message Service v1 (PROTOCOL.md sections 3, 6 and 7).
 * Everything that is a number on the wire or a fixed limit lives here, once.
 */

/**
 * `GatewayErrorMessage.code` values (PROTOCOL.md 3).
 * @example
 * if (msg.code === ErrorCode.DEGAS_ERROR) retryLater(msg.degasId);
 */
export const ErrorCode = {
  AUTH_FAIL: 0,
  DUP_SESSION: 1,
  DEGAS_ERROR: 2,
  CLIENT_ERROR: 3,
  PROTOCOL_ERROR: 4,
  PAYLOAD_TOO_LARGE: 5,
  RATE_LIMITED: 6,
  GOING_AWAY: 7,
  UNAVAILABLE: 8,
} as const;
/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
/** The symbolic name of an error code, e.g. `"DEGAS_ERROR"`. */
export type ErrorCodeName = keyof typeof ErrorCode;

const errorCodeNames = Object.fromEntries(Object.entries(ErrorCode).map(([name, code]) => [code, name])) as Record<
  number,
  ErrorCodeName
>;

/**
 * The name of an error code, or `undefined` for a number this version does not know.
 * @example
 * errorCodeName(2) // "DEGAS_ERROR"
 */
export function errorCodeName(code: number): ErrorCodeName | undefined {
  return errorCodeNames[code];
}

/**
 * WebSocket close codes used by the gateway (PROTOCOL.md 6).
 * @example
 * ws.on('close', (code) => { if (code === CloseCode.DUP_SESSION) showReplacedNotice(); });
 */
export const CloseCode = {
  /** Normal close. */
  NORMAL: 1000,
  /** Gateway shutting down (after `error{GOING_AWAY}`). */
  GOING_AWAY: 1001,
  /** WebSocket protocol violation (raised by the WebSocket library). */
  PROTOCOL_ERROR: 1002,
  /** A text frame was received. */
  UNSUPPORTED_DATA: 1003,
  /** Never on the wire: the connection dropped without a close frame. */
  ABNORMAL: 1006,
  /** A text frame with invalid UTF-8. */
  INVALID_PAYLOAD: 1007,
  /** Other WebSocket-level policy violation (e.g. too many fragments). */
  POLICY_VIOLATION: 1008,
  /** A message or declared frame larger than the frame limit. */
  MESSAGE_TOO_BIG: 1009,
  /** Unexpected internal error. */
  INTERNAL_ERROR: 1011,
  /** Try again later: the cluster bus is unreachable (after `error{UNAVAILABLE}`, PROTOCOL.md 8). */
  TRY_AGAIN_LATER: 1013,
  /** Authentication failed (after `error{AUTH_FAIL}`). */
  AUTH_FAILED: 4001,
  /** Replaced by a newer session of the same account (after `error{DUP_SESSION}`). */
  DUP_SESSION: 4002,
  /** Protocol error in ForwardState (after `error{PROTOCOL_ERROR}`). */
  PROTOCOL_VIOLATION: 4003,
  /** Rate limit exceeded persistently (after `error{RATE_LIMITED}`). */
  RATE_LIMITED: 4008,
  /** Slow consumer: the send buffer hit its limit. */
  SLOW_CONSUMER: 4009,
} as const;
/** One of the {@link CloseCode} values. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * What a client does after its connection closed with a given close code
 * ({@link closeCodeDisposition}):
 * - `reconnect`: transient (the gateway restarts, the connection dropped, the bus is away, the
 *   client was too fast or too slow); reconnect with backoff.
 * - `end`: the session ended normally or because the client broke a WebSocket rule, which a
 *   new connection would repeat; an established session is not resumed, but a connection
 *   attempt that had not logged in yet may be retried.
 * - `terminal`: never retry on its own, on no node, and forget the resume ticket: the login was
 *   refused (4001), another login of the account took over (4002; retrying would make two
 *   devices kick each other forever), or the client broke the protocol (4003).
 */
export type CloseDisposition = 'reconnect' | 'end' | 'terminal';

const dispositions: ReadonlyMap<number, CloseDisposition> = new Map<number, CloseDisposition>([
  [CloseCode.NORMAL, 'end'],
  [CloseCode.GOING_AWAY, 'reconnect'],
  [CloseCode.PROTOCOL_ERROR, 'end'],
  [CloseCode.UNSUPPORTED_DATA, 'end'],
  [CloseCode.ABNORMAL, 'reconnect'],
  [CloseCode.INVALID_PAYLOAD, 'end'],
  [CloseCode.POLICY_VIOLATION, 'end'],
  [CloseCode.MESSAGE_TOO_BIG, 'end'],
  [CloseCode.INTERNAL_ERROR, 'reconnect'],
  [CloseCode.TRY_AGAIN_LATER, 'reconnect'],
  [CloseCode.AUTH_FAILED, 'terminal'],
  [CloseCode.DUP_SESSION, 'terminal'],
  [CloseCode.PROTOCOL_VIOLATION, 'terminal'],
  [CloseCode.RATE_LIMITED, 'reconnect'],
  [CloseCode.SLOW_CONSUMER, 'reconnect'],
]);

/**
 * The one place that decides what a client does after the gateway closed its connection with
 * `code` (see {@link CloseDisposition}): `reconnect` for 1001, 1006, 1011, 1013, 4008 and 4009;
 * `terminal` for 4001, 4002 and 4003; `end` for every other code, including codes this version
 * does not know.
 * @example
 * switch (closeCodeDisposition(event.code)) {
 *   case 'reconnect': scheduleReconnect(); break;
 *   case 'terminal': forgetTicket(); break;
 * }
 */
export function closeCodeDisposition(code: number): CloseDisposition {
  return dispositions.get(code) ?? 'end';
}

/**
 * Fixed sizes and default limits (PROTOCOL.md 7). The defaults are configurable in the gateway;
 * `MAX_PAYLOAD`, `ID_LENGTH` and `SIGNATURE_LENGTH` are fixed by the protocol.
 * @example
 * if (payload.length > Limits.MAX_PAYLOAD) throw new RangeError('payload too large');
 */
export const Limits = {
  /** Bytes in an account id or a Degas id. */
  ID_LENGTH: 16,
  /** Bytes in an `eth_auth` signature (r‖s‖v). */
  SIGNATURE_LENGTH: 65,
  /** Largest payload of one message, in bytes. */
  MAX_PAYLOAD: 65536,
  /** Default WebSocket frame limit on client connections, in bytes. */
  MAX_FRAME: 65536 + 1024,
  /** Default frame limit on internal (gateway ↔ Degas) connections, in bytes. */
  MAX_INTERNAL_FRAME: 128 * 1024,
  /** Most account ids in one `degas_to_clients`. */
  MAX_MULTICAST_IDS: 1024,
  /** Default deadline for `hello` after the upgrade, in ms. */
  HELLO_TIMEOUT_MS: 10_000,
  /** Default deadline for `eth_auth` after `auth_request`, in ms. */
  AUTH_TIMEOUT_MS: 60_000,
  /** Default client messages per second per connection (token bucket, burst 2×). */
  RATE_LIMIT: 1000,
  /** Seconds over the rate, after the first drop, before close 4008. */
  RATE_LIMIT_GRACE_MS: 5_000,
  /** Default ping interval, in ms; the pong deadline is the next ping. */
  PING_INTERVAL_MS: 30_000,
  /** Default per-connection send buffer before close 4009, in bytes. */
  SEND_BUFFER: 4 * 1024 * 1024,
  /** Default per-Degas queue while dialing or congested, in bytes. */
  DEGAS_QUEUE: 4 * 1024 * 1024,
} as const;
