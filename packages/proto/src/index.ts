/**
 * @degas/proto — the wire format of the Degas Message Service v1.
 * The generated message types are re-exported as types; encode/decode through the functions
 * below, which are the supported surface.
 */

export type { CloseDisposition, ErrorCodeName } from './constants.js';
export { CloseCode, closeCodeDisposition, ErrorCode, errorCodeName, Limits } from './constants.js';
export type { DegasErrorCode } from './errors.js';
export { DecodeError, DegasError, InvalidIdError } from './errors.js';
export type { Allocator, ErrorFrameEncoder, MessageInit } from './frames.js';
export {
  decodeClientMessage,
  decodeDegasMessage,
  decodeGatewayInternalMessage,
  decodeGatewayMessage,
  encodeClientDegas,
  encodeClientMessage,
  encodeDegasMessage,
  encodeDegasToClient,
  encodeDegasToClients,
  encodeGatewayInternalMessage,
  encodeGatewayMessage,
  forwardEncoder,
  gatewayDegasEncoder,
  gatewayErrorEncoder,
  gatewayInternalErrorEncoder,
} from './frames.js';
export type {
  ClientDegasMessage,
  ClientEthAuthMessage,
  ClientHelloMessage,
  ClientMessage,
  ClientSessionClosedMessage,
  DegasMessage,
  DegasToClientMessage,
  DegasToClientsMessage,
  EthereumAuthMessage,
  EthereumSignerMessage,
  GatewayAuthOkMessage,
  GatewayAuthRequestMessage,
  GatewayDegasMessage,
  GatewayErrorMessage,
  GatewayForwardMessage,
  GatewayInternalMessage,
  GatewayMessage,
} from './gen/degas/message/v1/message.js';
export { idEquals, idFromHex, idKey, idToHex, isId, isIdHex, randomId, toId } from './ids.js';
