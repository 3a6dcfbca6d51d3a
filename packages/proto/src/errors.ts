/** Stable codes of {@link DegasError}. */
export type DegasErrorCode =
  | 'DECODE_ERROR'
  | 'INVALID_ID'
  | 'INVALID_ARGUMENT'
  | 'AUTH_FAILED'
  | 'PROTOCOL_ERROR'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'DUP_SESSION'
  | 'GATEWAY_ERROR'
  | 'CONNECTION_ERROR'
  | 'NOT_CONNECTED';

/**
 * Base class of every error the Degas packages throw, reject with or emit.
 * `code` is stable and documented; `message` is for people. A package with codes of its own
 * (the gateway's) extends it with its own code union as `C`.
 * @example
 * try { decodeClientMessage(bytes) } catch (e) { if (e instanceof DegasError && e.code === 'DECODE_ERROR') drop(); }
 */
export class DegasError<C extends string = DegasErrorCode> extends Error {
  override name: string = 'DegasError';
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Bytes that do not decode as the expected protobuf frame.
 * @example
 * try { decodeDegasMessage(frame) } catch (e) { if (e instanceof DecodeError) reply(PROTOCOL_ERROR) }
 */
export class DecodeError extends DegasError {
  override name = 'DecodeError' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super('DECODE_ERROR', message, options);
  }
}

/**
 * A string or byte array that is not a valid 16-byte id.
 * @example
 * try { idFromHex(flag) } catch (e) { if (e instanceof InvalidIdError) exit(2) }
 */
export class InvalidIdError extends DegasError {
  override name = 'InvalidIdError' as const;
  constructor(message: string) {
    super('INVALID_ID', message);
  }
}
