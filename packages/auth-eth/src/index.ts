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
  type ParsedSignature,
  parseSignature,
  recoverAddress,
  SIGNATURE_LENGTH,
  verifyLogin,
} from './signature.js';
export {
  type EthSigner,
  eip1193Signer,
  generatePrivateKey,
  privateKeySigner,
  privateKeyToAddress,
  toSigner,
  typedDataSigner,
} from './signers.js';
export {
  DEFAULT_AUTH_DOMAIN,
  hashTypedData,
  type LoginFields,
  type LoginTypedData,
  loginDigest,
  loginTypedData,
} from './typed-data.js';
