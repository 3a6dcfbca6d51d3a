/**
 * @degas/degas-sdk — the server side of a Degas program: accepts the Degas Message Service
 * gateway's internal connections and exchanges messages with the game's clients through them.
 */

// Re-exported so a Degas program needs no direct dependency on @degas/proto for the basics.
export { DecodeError, DegasError, ErrorCode, InvalidIdError, idFromHex, idToHex, Limits } from '@degas/proto';
export type { Listener, TypedEventEmitter } from './events.js';
export type {
  DegasMessageEvent,
  DegasServerEvents,
  DegasServerOptions,
  GatewayDisconnectedEvent,
  GatewayErrorEvent,
  SessionClosedEvent,
  UpgradeRejectedEvent,
} from './server.js';
export { DegasServer, GatewayConnection } from './server.js';
