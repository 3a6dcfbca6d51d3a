/**
 * @degas/client — connect a game client (browser or Node) to the Degas Message Service: log in
 * with an Ethereum signature, exchange messages with Degas programs, reconnect with backoff.
 * This entry has no Node dependencies; in Node without a global WebSocket use `@degas/client/node`.
 */

export type { EthSigner, LoginTypedData } from '@degas/auth-eth';
export {
  AuthEthError,
  eip1193Signer,
  generatePrivateKey,
  privateKeySigner,
  privateKeyToAddress,
  toSigner,
  typedDataSigner,
} from '@degas/auth-eth';
export type { ErrorCodeName } from '@degas/proto';
export {
  CloseCode,
  DegasError,
  ErrorCode,
  errorCodeName,
  InvalidIdError,
  idFromHex,
  idToHex,
  Limits,
  randomId,
} from '@degas/proto';
export type { ReconnectOptions } from './backoff.js';
export { DEFAULT_RECONNECT } from './backoff.js';
export type {
  ClientMessageEvent,
  ClientState,
  CloseEvent,
  DegasClientEvents,
  DegasClientOptions,
  GatewayErrorEvent,
  MessagesOptions,
  SignerInput,
  TicketStore,
  WebSocketConstructor,
  WebSocketLike,
} from './client.js';
export { DegasClient, GOING_AWAY_JITTER_MS } from './client.js';
export type { Listener } from './emitter.js';
// Every class in errors.ts is public: AuthError, ClosedError, ConnectionError,
// DuplicateSessionError, NotConnectedError, TimeoutError (the export snapshot lists them).
export * from './errors.js';
export { type StorageLike, webStorageTicketStore } from './ticket-store.js';
