export {
  isAddress,
  normalizeAddress,
  parseAddress,
  publicKeyToAddress,
  toChecksumAddress,
} from './address.js';
export { bytesToHex, hexToBytes } from './bytes.js';
export { createChallenge, DEFAULT_AUTH_MESSAGE, parseChallenge } from './challenge.js';
export { AuthEthError, type AuthEthErrorCode } from './errors.js';
export {
  MAX_WALLET_SIGNATURE_LENGTH,
  type ParsedSignature,
  parseSignature,
  recoverAddress,
  SIGNATURE_LENGTH,
  verifyLogin,
} from './signature.js';
export {
  type ChainIdSource,
  type Eip1193SignerOptions,
  type EthSigner,
  eip1193Signer,
  generatePrivateKey,
  privateKeySigner,
  privateKeyToAddress,
  type SignerOptions,
  toSigner,
  typedDataSigner,
} from './signers.js';
export {
  checkChainId,
  DEFAULT_AUTH_DOMAIN,
  DEFAULT_CHAIN_ID,
  hashTypedData,
  type LoginFields,
  type LoginTypedData,
  type LoginTypedDataOptions,
  loginDigest,
  loginTypedData,
  MAX_CHAIN_ID,
} from './typed-data.js';
