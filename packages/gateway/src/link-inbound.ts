/**
 * What a Degas sends over its link (PROTOCOL.md 4.4): decoding, the checks of each frame, delivery
 * to the sessions through the session registry, and the error frames sent back. The link's socket
 * and its dialing lifecycle are links.ts; this unit only sees the link through {@link LinkOutput}.
 */
import {
  type DegasMessage,
  decodeDegasMessage,
  ErrorCode,
  gatewayDegasEncoder,
  gatewayInternalErrorEncoder,
  idKey,
  Limits,
} from '@degas/proto';
import { canonicalToClientIdOffset, errorEncoderCache, rewriteToClientFrame } from '@degas/proto/wire';
import { Delivery, type DeliveryOrigin, type SessionRegistry } from './registry.js';
import type { GatewayStats } from './stats.js';

/** degas_to_client payloads at least this large are forwarded by rewriting the frame in place. */
const IN_PLACE_MIN = 1024;

const EMPTY = new Uint8Array(0);

/** Error encoders of the frames sent to a Degas, built once per code and detail. */
const internalErrorEncoder = errorEncoderCache(gatewayInternalErrorEncoder, Buffer.allocUnsafe);

/** The link as inbound handling sees it: where error frames for the Degas go. */
export interface LinkOutput {
  /**
   * Whether an error frame may be sent now: the link is open and its send buffer is not over the
   * limit (an error storm towards a Degas that does not read must not grow memory without bound).
   */
  canSendError(): boolean;
  /** Sends a frame to the Degas (only after {@link canSendError} said yes). */
  sendToDegas(frame: Uint8Array): void;
}

/** Handles the frames one Degas sends; also the origin of its deliveries (for CLIENT_ERROR). */
export class DegasInbound implements DeliveryOrigin {
  private readonly degasId: Uint8Array;
  private readonly output: LinkOutput;
  private readonly registry: SessionRegistry;
  private readonly stats: GatewayStats;
  private readonly toClient: (payload: Uint8Array) => Uint8Array;
  /** The account id of a frame rewritten in place, for the error path. */
  private readonly savedId = new Uint8Array(16);

  constructor(degasId: Uint8Array, output: LinkOutput, registry: SessionRegistry, stats: GatewayStats) {
    this.degasId = degasId;
    this.output = output;
    this.registry = registry;
    this.stats = stats;
    this.toClient = gatewayDegasEncoder(degasId, Buffer.allocUnsafe);
  }

  /** One binary frame from the Degas (hot path). `data` may be rewritten in place and sent on. */
  handle(data: Buffer): void {
    let msg: DegasMessage;
    try {
      msg = decodeDegasMessage(data);
    } catch {
      this.sendError(ErrorCode.PROTOCOL_ERROR, EMPTY, 'undecodable DegasMessage');
      return;
    }
    const p = msg.payload;
    if (p === undefined) this.sendError(ErrorCode.PROTOCOL_ERROR, EMPTY, 'empty DegasMessage');
    else if (p.$case === 'degasToClient') this.toOne(data, p.value.accountId, p.value.payload);
    else this.toMany(p.value.accountIds, p.value.payload);
  }

  private toOne(data: Buffer, accountId: Uint8Array, payload: Uint8Array): void {
    if (accountId.length !== Limits.ID_LENGTH) {
      this.sendError(ErrorCode.PROTOCOL_ERROR, accountId, 'account_id must be 16 bytes');
      return;
    }
    if (payload.length > Limits.MAX_PAYLOAD) {
      this.sendError(ErrorCode.PAYLOAD_TOO_LARGE, accountId, 'payload over 65536 bytes');
      return;
    }
    // The key first: accountId is a view into `data`, which the in-place rewrite overwrites.
    const key = idKey(accountId);
    // Large payloads: turn the received frame into the client frame in place instead of
    // allocating and copying the payload again (bench: 64 KiB relay was GC-bound).
    const idAt = payload.length >= IN_PLACE_MIN ? canonicalToClientIdOffset(data) : -1;
    let frame: Uint8Array;
    let id = accountId;
    if (idAt >= 0) {
      this.savedId.set(accountId);
      id = this.savedId;
      frame = rewriteToClientFrame(data, idAt, this.degasId);
    } else frame = this.toClient(payload);
    const result = this.registry.deliver(key, id, frame, this.degasId);
    if (result === Delivery.LOCAL) {
      this.stats.degasToClientMessages++;
      this.stats.degasToClientBytes += payload.length;
    } else if (result === Delivery.MISS) {
      this.clientError(idAt >= 0 ? Uint8Array.from(this.savedId) : accountId);
    }
  }

  private toMany(accountIds: Uint8Array[], payload: Uint8Array): void {
    if (accountIds.length > Limits.MAX_MULTICAST_IDS) {
      this.sendError(ErrorCode.PROTOCOL_ERROR, EMPTY, 'more than 1024 account ids');
      return;
    }
    if (payload.length > Limits.MAX_PAYLOAD) {
      this.sendError(ErrorCode.PAYLOAD_TOO_LARGE, EMPTY, 'payload over 65536 bytes');
      return;
    }
    const keys: string[] = [];
    const ids: Uint8Array[] = [];
    const seen = accountIds.length > 1 ? new Set<string>() : undefined;
    for (const accountId of accountIds) {
      if (accountId.length !== Limits.ID_LENGTH) {
        this.sendError(ErrorCode.PROTOCOL_ERROR, accountId, 'account_id must be 16 bytes');
        continue;
      }
      const key = idKey(accountId);
      if (seen !== undefined) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      keys.push(key);
      ids.push(accountId);
    }
    if (keys.length === 0) return;
    const delivered = this.registry.deliverMany(keys, ids, this.toClient(payload), this.degasId, this);
    this.stats.degasToClientMessages += delivered;
    this.stats.degasToClientBytes += delivered * payload.length;
  }

  /** A message of this Degas found no session of the account (DeliveryOrigin). */
  clientError(accountId: Uint8Array): void {
    this.sendError(ErrorCode.CLIENT_ERROR, accountId, 'account not connected');
  }

  private sendError(code: ErrorCode, accountId: Uint8Array, detail: string): void {
    if (!this.output.canSendError()) return;
    this.stats.errorsToDegas[code]!++;
    this.output.sendToDegas(internalErrorEncoder(code, detail)(EMPTY, accountId));
  }
}
