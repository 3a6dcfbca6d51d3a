import { CloseCode, DegasError, type DegasErrorCode } from '@degas/proto';

/**
 * Authentication failed: the gateway answered AUTH_FAIL / closed with 4001 (the address is not an
 * enabled signer of the account, a bad signature, a deadline missed), or the signer failed or
 * refused to sign (`cause` holds the signer's error). The client never reconnects after it.
 * @example
 * try { await client.connect(); } catch (e) { if (e instanceof AuthError) showLogin(e.message); }
 */
export class AuthError extends DegasError {
  override name = 'AuthError' as const;
  /** The gateway's `detail` text, when it sent one. */
  readonly detail: string;
  constructor(message: string, options?: { cause?: unknown; detail?: string }) {
    super('AUTH_FAILED', message, options);
    this.detail = options?.detail ?? '';
  }
}

/** What {@link ConnectionError}, {@link DuplicateSessionError} and {@link ClosedError} add: how the WebSocket closed. */
abstract class SocketEndError extends DegasError {
  /** WebSocket close code (1006 when there was no close frame). */
  readonly closeCode: number;
  /** The close frame's reason text ('' without one). */
  readonly closeReason: string;
  constructor(
    code: DegasErrorCode,
    message: string,
    closeCode: number,
    closeReason: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.closeCode = closeCode;
    this.closeReason = closeReason;
  }
}

/**
 * The connection was not authenticated within `connectTimeoutMs` (TCP, upgrade, hello and login together).
 * @example
 * catch (e) { if (e instanceof TimeoutError) retryLater(); }
 */
export class TimeoutError extends DegasError {
  override name = 'TimeoutError' as const;
  constructor(message: string) {
    super('TIMEOUT', message);
  }
}

/**
 * The connection could not be established or closed before authentication completed
 * (refused, DNS failure, HTTP error at the upgrade, gateway shutting down).
 * @example
 * catch (e) { if (e instanceof ConnectionError) console.log(e.closeCode, e.closeReason); }
 */
export class ConnectionError extends SocketEndError {
  override name = 'ConnectionError' as const;
  constructor(message: string, closeCode: number, closeReason: string, options?: { cause?: unknown }) {
    super('CONNECTION_ERROR', message, closeCode, closeReason, options);
  }
}

/**
 * The session was replaced by a newer login of the same account (DUP_SESSION, close 4002), e.g.
 * the game opened in a second tab. The client does not reconnect, so two tabs cannot kick each
 * other forever; call `connect()` again to take the session back.
 * @example
 * client.on('close', (e) => { if (e.error instanceof DuplicateSessionError) showPlayingElsewhere(); });
 */
export class DuplicateSessionError extends SocketEndError {
  override name = 'DuplicateSessionError' as const;
  /** `closeCode` is always 4002 (`CloseCode.DUP_SESSION`). */
  constructor(message: string, closeReason = '') {
    super('DUP_SESSION', message, CloseCode.DUP_SESSION, closeReason);
  }
}

/**
 * The connection closed: `close()` was called, or an established connection ended (the close
 * code and reason say why).
 * @example
 * catch (e) { if (e instanceof ClosedError && e.closeCode === 4003) reportBug(); }
 */
export class ClosedError extends SocketEndError {
  override name = 'ClosedError' as const;
  constructor(message: string, closeCode: number, closeReason: string) {
    super('CLOSED', message, closeCode, closeReason);
  }
}

/**
 * `send()` was called while the client is not in the `connected` state. Nothing is queued:
 * wait for `state === 'connected'` (or `await client.connect()`) and send again.
 * @example
 * if (client.state === 'connected') client.send(degasId, payload);
 */
export class NotConnectedError extends DegasError {
  override name = 'NotConnectedError' as const;
  /** The state the client was in. */
  readonly state: string;
  constructor(state: string) {
    super('NOT_CONNECTED', `cannot send while the client is ${state}; wait for the 'connected' state`);
    this.state = state;
  }
}
