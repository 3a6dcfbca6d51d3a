/**
 * `@degas/proto/wire` — wire-level helpers for gateway implementers: reading the canonical layout
 * of a frame, rewriting a Degas frame into the client frame in place, and caching the error
 * encoders. They mirror the hand-written writers of `frames.ts` and are tested against them byte
 * for byte. Applications do not need them: use the encoders and decoders of `@degas/proto`.
 */
import type { Allocator, ErrorFrameEncoder } from './frames.js';
import { varint32Size } from './frames.js';

export { varint32Size };

/**
 * The value of the minimal varint at `pos` (at most 5 bytes, below 2^31), or -1 when it is
 * truncated, longer, or not minimal (padded with 0x80 bytes). A value `v` it returns occupies
 * exactly `varint32Size(v)` bytes, so no end offset needs to be returned (no allocation).
 * @example
 * const len = readMinimalVarint32(frame, 1);
 * if (len >= 0) body = frame.subarray(1 + varint32Size(len), 1 + varint32Size(len) + len);
 */
export function readMinimalVarint32(bytes: Uint8Array, pos: number): number {
  let value = 0;
  const start = pos;
  for (let shift = 0; shift <= 28; shift += 7) {
    if (pos >= bytes.length) return -1;
    const c = bytes[pos++]!;
    value |= (c & 0x7f) << shift;
    if (c < 0x80) return value >= 0 && pos - start === varint32Size(value) ? value : -1;
  }
  return -1;
}

/**
 * If `frame` is `DegasMessage{degas_to_client{account_id (16 bytes), payload}}` in exactly the
 * canonical layout `0a len 0a 10 <id> 12 len <payload>` (minimal varints, a non-empty payload, no
 * other fields), returns the offset of the account id; otherwise -1. `GatewayMessage{degas{degas_id,
 * payload}}` has the same layout with tag 0x1a, so such a frame becomes the client frame with
 * {@link rewriteToClientFrame}, byte for byte what `gatewayDegasEncoder` writes.
 * @example
 * const at = canonicalToClientIdOffset(frame);
 * if (at >= 0) client.send(rewriteToClientFrame(frame, at, degasId));
 */
export function canonicalToClientIdOffset(frame: Uint8Array): number {
  if (frame[0] !== 0x0a) return -1;
  const body = readMinimalVarint32(frame, 1);
  if (body < 0) return -1;
  const p1 = 1 + varint32Size(body);
  if (p1 + body !== frame.length) return -1;
  if (frame[p1] !== 0x0a || frame[p1 + 1] !== 16 || frame[p1 + 18] !== 0x12) return -1;
  const plen = readMinimalVarint32(frame, p1 + 19);
  if (plen <= 0 || p1 + 19 + varint32Size(plen) + plen !== frame.length) return -1;
  return p1 + 2;
}

/**
 * Turns a frame for which {@link canonicalToClientIdOffset} returned `idAt` into
 * `GatewayMessage{degas{degas_id, payload}}` in place: the outer tag becomes field 3 and the
 * account id is overwritten by `degasId` (16 bytes). Returns `frame`. The account id is gone
 * afterwards: copy it first if it is still needed.
 * @example
 * const accountId = frame.slice(at, at + 16);
 * ws.send(rewriteToClientFrame(frame, at, degasId));
 */
export function rewriteToClientFrame(frame: Uint8Array, idAt: number, degasId: Uint8Array): Uint8Array {
  frame[0] = 0x1a; // GatewayMessage.degas (field 3); the body has the same layout and length
  frame.set(degasId, idAt);
  return frame;
}

/** Makes the error encoder of one code and detail (`gatewayErrorEncoder` or `gatewayInternalErrorEncoder`). */
export type ErrorEncoderFactory = (code: number, detail: string, alloc?: Allocator) => ErrorFrameEncoder;

/** Details remembered per code by {@link errorEncoderCache} (a gateway's details are a few constants). */
export const MAX_CACHED_DETAILS_PER_CODE = 64;

/**
 * A lookup `(code, detail) => encoder` that builds each error encoder once: errors go out once
 * per dropped message (RATE_LIMITED, DEGAS_ERROR, CLIENT_ERROR…), and the precomputed encoder
 * costs ≈ 0.08 µs per frame where the generated one takes ≈ 1.1 µs. At most
 * {@link MAX_CACHED_DETAILS_PER_CODE} details are kept per code; others are built on each call,
 * so a detail that varies cannot grow memory.
 * @example
 * const errorEncoder = errorEncoderCache(gatewayErrorEncoder, Buffer.allocUnsafe);
 * ws.send(errorEncoder(ErrorCode.RATE_LIMITED, 'rate limit exceeded')(degasId));
 */
export function errorEncoderCache(
  factory: ErrorEncoderFactory,
  alloc?: Allocator,
): (code: number, detail: string) => ErrorFrameEncoder {
  const byCode = new Map<number, Map<string, ErrorFrameEncoder>>();
  return (code, detail) => {
    let byDetail = byCode.get(code);
    if (byDetail === undefined) {
      byDetail = new Map();
      byCode.set(code, byDetail);
    }
    let encoder = byDetail.get(detail);
    if (encoder === undefined) {
      encoder = factory(code, detail, alloc);
      if (byDetail.size < MAX_CACHED_DETAILS_PER_CODE) byDetail.set(detail, encoder);
    }
    return encoder;
  };
}
