import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { getPublicKey, hashes, sign, utils } from '@noble/secp256k1';
import { parseAddress, publicKeyToAddress, toChecksumAddress } from './address.js';
import { equalBytes, hexToBytes, isBytes } from './bytes.js';
import { AuthEthError, invalidArgument } from './errors.js';
import { MAX_WALLET_SIGNATURE_LENGTH, parseSignature, recoverAddress, SIGNATURE_LENGTH } from './signature.js';
import { checkChainId, DEFAULT_CHAIN_ID, hashTypedData, type LoginTypedData } from './typed-data.js';

/**
 * Something that signs Login typed data: a private key, a browser wallet, a viem or ethers
 * account. The SDK treats them all alike (STYLE 11).
 *
 * @example
 * ```ts
 * import { type EthSigner, createChallenge, loginTypedData, privateKeySigner } from '@degas/auth-eth';
 * const signer: EthSigner = privateKeySigner('0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318');
 * const chainId = await signer.getChainId();
 * const signature = await signer.signTypedData(loginTypedData(createChallenge().fields, { chainId }));
 * ```
 */
export interface EthSigner {
  /** The signer's address, EIP-55 checksummed. */
  readonly address: string;
  /**
   * The chain id to sign the Login typed data with: a browser wallet's active chain
   * (`eth_chainId`), otherwise the one the signer was created with (default 1).
   */
  getChainId(): Promise<number>;
  /**
   * Signs the typed data; resolves to 65 bytes r ‖ s ‖ v, or, for a smart-contract wallet, its
   * own signature bytes (1 to {@link MAX_WALLET_SIGNATURE_LENGTH}; ERC-1271 or ERC-6492).
   */
  signTypedData(typedData: LoginTypedData): Promise<Uint8Array>;
}

/**
 * Where a signer that is not a browser wallet takes its chain id from: a fixed chain id, or a
 * function asked before each login (e.g. an ethers provider's `getNetwork()`).
 */
export type ChainIdSource = number | bigint | (() => number | bigint | Promise<number | bigint>);

/** Options of {@link privateKeySigner}, {@link typedDataSigner} and {@link toSigner}. */
export interface SignerOptions {
  /** The chain id the Login typed data is signed with; default 1 (PROTOCOL.md 4.2 step 3). */
  chainId?: ChainIdSource | undefined;
  /**
   * The address is a smart-contract wallet (ERC-1271 / ERC-6492): every answer of 1 to 8192
   * bytes is sent as it is, 65-byte ones included (a 1-of-1 Safe answers with its owner's
   * signature, which recovers to the owner, not to the wallet). Default false: a 65-byte answer
   * must recover to the signer's address.
   */
  contractWallet?: boolean | undefined;
}

/** Options of {@link eip1193Signer}. */
export interface Eip1193SignerOptions {
  /** See {@link SignerOptions.contractWallet}. */
  contractWallet?: boolean | undefined;
}

function contractWalletOption(options: { contractWallet?: unknown } | undefined): boolean {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalidArgument('options must be an object');
  }
  const value = options?.contractWallet ?? false;
  if (typeof value !== 'boolean') throw invalidArgument('options.contractWallet must be a boolean');
  return value;
}

/**
 * Validates `options.chainId` now (a fixed one) and returns the signer's `getChainId`;
 * `fallback` is used when the option is absent.
 */
function chainIdGetter(options: SignerOptions | undefined, fallback?: ChainIdSource): () => Promise<number> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalidArgument('options must be an object');
  }
  const source = options?.chainId === undefined ? fallback : options.chainId;
  if (source === undefined) return () => Promise.resolve(DEFAULT_CHAIN_ID);
  if (typeof source === 'function') {
    return async () => {
      let value: number | bigint;
      try {
        value = await source();
      } catch (cause) {
        throw signerError(`the chainId function failed: ${describeError(cause)}`, cause);
      }
      try {
        return checkChainId(value);
      } catch (cause) {
        throw signerError('the chainId function returned an unusable chain id', cause);
      }
    };
  }
  const fixed = checkChainId(source, 'options.chainId');
  return () => Promise.resolve(fixed);
}

/** Minimal EIP-1193 provider: `window.ethereum`, a WalletConnect provider, etc. */
type Eip1193Provider = {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
};

/**
 * A viem- or ethers-style account. `signTypedData` is typed loosely because the two libraries
 * call it differently: viem with one object, ethers with three arguments.
 */
type TypedDataAccount = {
  address: string;
  signTypedData(...args: any[]): Promise<string | Uint8Array>;
};

const PRIVATE_KEY_HEX_RE = /^(?:0x)?[0-9a-fA-F]{64}$/;
// Signers made by this module; toSigner passes them through unwrapped.
const OWN_SIGNERS = new WeakSet<object>();

function own(signer: EthSigner): EthSigner {
  Object.freeze(signer);
  OWN_SIGNERS.add(signer);
  return signer;
}

/** Validates and copies a private key; error messages never include key material. */
function parsePrivateKey(privateKey: Uint8Array | string): Uint8Array {
  let key: Uint8Array;
  if (typeof privateKey === 'string') {
    if (!PRIVATE_KEY_HEX_RE.test(privateKey)) {
      throw new AuthEthError('INVALID_PRIVATE_KEY', 'private key must be 64 hex digits, optionally 0x-prefixed');
    }
    key = hexToBytes(privateKey);
  } else if (isBytes(privateKey)) {
    if (privateKey.length !== 32) throw new AuthEthError('INVALID_PRIVATE_KEY', 'private key must be 32 bytes');
    key = privateKey.slice();
  } else {
    throw new AuthEthError('INVALID_PRIVATE_KEY', 'private key must be a Uint8Array or a hex string');
  }
  if (!utils.isValidSecretKey(key)) {
    throw new AuthEthError('INVALID_PRIVATE_KEY', 'private key is not a scalar in [1, n)');
  }
  return key;
}

/**
 * noble's synchronous `sign` needs an HMAC-SHA256 for RFC 6979. Install @noble/hashes' one
 * only when the application has not configured its own, and only when first signing, so that
 * importing this package changes nothing.
 */
function ensureHmac(): void {
  if (hashes.hmacSha256 === undefined) hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg);
}

function signerError(message: string, cause?: unknown): AuthEthError {
  return new AuthEthError('SIGNER_ERROR', message, cause === undefined ? undefined : { cause });
}

/** A short description of a provider/account failure; EIP-1193 errors are often plain objects. */
function describeError(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const { message, code } = err as { message?: unknown; code?: unknown };
    const text = typeof message === 'string' ? message : 'unknown error';
    return typeof code === 'number' || typeof code === 'string' ? `${text} (code ${code})` : text;
  }
  return String(err);
}

/**
 * Turns a wallet's answer into signature bytes and checks a 65-byte one before it goes on the
 * wire: a malformed signature or one from another account would only fail at the gateway as
 * AUTH_FAIL, which tells the user nothing. Any other length is a smart-contract wallet's
 * signature (ERC-1271 / ERC-6492), which only the wallet contract can check: it passes through
 * untouched, within the protocol's bound of 1 to 8192 bytes.
 */
function checkSignerResult(
  result: unknown,
  typedData: LoginTypedData,
  address: Uint8Array,
  contractWallet: boolean,
): Uint8Array {
  let signature: Uint8Array;
  if (isBytes(result)) signature = result.slice();
  else if (typeof result === 'string') {
    try {
      signature = hexToBytes(result);
    } catch (cause) {
      throw signerError('signer returned a string that is not hex', cause);
    }
  } else throw signerError('signer returned neither a hex string nor bytes');
  if (signature.length !== SIGNATURE_LENGTH || contractWallet) {
    if (signature.length === 0 || signature.length > MAX_WALLET_SIGNATURE_LENGTH) {
      throw signerError(`signer returned ${signature.length} signature bytes (at most ${MAX_WALLET_SIGNATURE_LENGTH})`);
    }
    return signature;
  }
  try {
    parseSignature(signature);
  } catch (cause) {
    throw signerError('signer returned an unusable signature', cause);
  }
  let signedBy: Uint8Array;
  try {
    signedBy = parseAddress(recoverAddress(hashTypedData(typedData), signature));
  } catch (cause) {
    throw signerError('signer returned an unusable signature', cause);
  }
  if (!equalBytes(signedBy, address)) {
    throw signerError(`signature is from ${toChecksumAddress(signedBy)}, not from ${toChecksumAddress(address)}`);
  }
  return signature;
}

/**
 * Signs with a raw private key using noble: deterministic RFC 6979 nonces, low s, v = 27/28.
 * Produces the same bytes as ethers' `Wallet.signTypedData` and viem's `signTypedData`. The
 * key is copied and kept only in a closure.
 *
 * @param privateKey - 32 bytes, or 64 hex digits with or without `0x`.
 * @param options.chainId - the chain id to sign with (a number, bigint, or a function asked
 *   before each login); default 1.
 * @returns a frozen {@link EthSigner}.
 * @throws AuthEthError `INVALID_PRIVATE_KEY`; `INVALID_ARGUMENT` for bad options (e.g. `chainId`).
 * @example
 * ```ts
 * import { createChallenge, loginTypedData, privateKeySigner } from '@degas/auth-eth';
 * const signer = privateKeySigner('0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318', { chainId: 8453 });
 * signer.address; // '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23'
 * const typed = loginTypedData(createChallenge().fields, { chainId: await signer.getChainId() });
 * const signature = await signer.signTypedData(typed);
 * ```
 */
export function privateKeySigner(privateKey: Uint8Array | string, options?: SignerOptions): EthSigner {
  const key = parsePrivateKey(privateKey);
  const address = toChecksumAddress(publicKeyToAddress(getPublicKey(key, false)));
  return own({
    address,
    getChainId: chainIdGetter(options),
    async signTypedData(typedData: LoginTypedData): Promise<Uint8Array> {
      const digest = hashTypedData(typedData);
      ensureHmac();
      // noble's recovered format is rec ‖ r ‖ s; Ethereum wants r ‖ s ‖ v with v = 27 + rec.
      const sig = sign(digest, key, { prehash: false, lowS: true, format: 'recovered', extraEntropy: false });
      const rec = sig[0];
      if (rec !== 0 && rec !== 1) {
        // Recovery id 2/3 needs R.x >= n: probability about 2^-128, and Ethereum cannot express it.
        throw signerError('signature has a recovery id that Ethereum cannot express');
      }
      const out = new Uint8Array(65);
      out.set(sig.subarray(1), 0);
      out[64] = 27 + rec;
      return out;
    },
  });
}

/** Parses an `eth_chainId` answer (a hex quantity; some providers answer a number). */
function parseProviderChainId(result: unknown): number {
  let value: number | bigint;
  if (typeof result === 'string' && /^0x[0-9a-fA-F]{1,16}$/.test(result)) value = BigInt(result);
  else if (typeof result === 'number') value = result;
  else throw signerError('eth_chainId returned something other than a hex quantity');
  try {
    return checkChainId(value);
  } catch (cause) {
    throw signerError('eth_chainId returned an unusable chain id', cause);
  }
}

/**
 * Signs through an EIP-1193 provider (a browser wallet such as `window.ethereum`) with
 * `eth_signTypedData_v4`, params `[address, JSON.stringify(typedData)]`. `getChainId()` asks the
 * wallet for its active chain (`eth_chainId`, which needs no approval): wallets refuse typed
 * data for any other chain, so the client signs with that one and never asks for a switch. A
 * 65-byte answer must pass {@link parseSignature} and recover to `address`; any other length
 * (1 to 8192 bytes) is a smart-contract wallet's signature and passes through untouched.
 *
 * @param provider - an object with EIP-1193 `request`.
 * @param options.contractWallet - `address` is a smart-contract wallet: send every answer (1 to
 *   8192 bytes, 65 included) as it is. Default false.
 * @param address - the account to sign with, as the wallet reported it; it is passed to the
 *   wallet unchanged after validation. `signer.address` is its checksummed form.
 * @returns an {@link EthSigner}.
 * @throws AuthEthError `INVALID_ADDRESS`/`INVALID_CHECKSUM` for a bad address; `INVALID_ARGUMENT` when
 *   `provider` has no `request` function. `signTypedData` rejects with `SIGNER_ERROR` (original
 *   error in `cause`) when the wallet fails, the user refuses, or the result is unusable.
 * @example
 * ```ts
 * import { eip1193Signer } from '@degas/auth-eth';
 * declare const ethereum: { request(args: { method: string; params?: unknown[] }): Promise<unknown> };
 * const [account] = (await ethereum.request({ method: 'eth_requestAccounts' })) as string[];
 * const signer = eip1193Signer(ethereum, account!);
 * ```
 */
export function eip1193Signer(provider: Eip1193Provider, address: string, options?: Eip1193SignerOptions): EthSigner {
  if (typeof provider !== 'object' || provider === null || typeof provider.request !== 'function') {
    throw invalidArgument('provider must have an EIP-1193 request function');
  }
  const contractWallet = contractWalletOption(options);
  const addressBytes = parseAddress(address);
  return own({
    address: toChecksumAddress(addressBytes),
    async getChainId(): Promise<number> {
      let result: unknown;
      try {
        result = await provider.request({ method: 'eth_chainId' });
      } catch (cause) {
        throw signerError(`eth_chainId failed: ${describeError(cause)}`, cause);
      }
      return parseProviderChainId(result);
    },
    async signTypedData(typedData: LoginTypedData): Promise<Uint8Array> {
      hashTypedData(typedData); // validate before bothering the user with a wallet pop-up
      let json: string;
      try {
        json = JSON.stringify(typedData);
      } catch (cause) {
        throw invalidArgument('typedData must be JSON: give the chain id as a number, not a bigint', cause);
      }
      let result: unknown;
      try {
        result = await provider.request({ method: 'eth_signTypedData_v4', params: [address, json] });
      } catch (cause) {
        throw signerError(`eth_signTypedData_v4 failed: ${describeError(cause)}`, cause);
      }
      return checkSignerResult(result, typedData, addressBytes, contractWallet);
    },
  });
}

/**
 * Whether `account` uses ethers' call shape `signTypedData(domain, types, value)`. ethers'
 * `signTypedData` (v6) and `_signTypedData` (v5) declare three parameters, and every ethers
 * signer has `getAddress()` and a `provider` property, which viem accounts lack; either sign
 * is enough, so a wrapped function whose `length` is lost is still detected.
 */
function isEthersStyle(account: Record<string, unknown>, fn: (...args: unknown[]) => unknown): boolean {
  return fn.length >= 3 || (typeof account.getAddress === 'function' && 'provider' in account);
}

/**
 * Adapts a viem or ethers account to {@link EthSigner}.
 *
 * - ethers (`Wallet`, `JsonRpcSigner`, v6 `signTypedData` or v5 `_signTypedData`) is called as
 *   `signTypedData(domain, { Login }, message)`: ethers derives the EIP712Domain type itself and
 *   refuses one in `types`. It is recognised by a three-parameter function, or by `getAddress()`
 *   together with a `provider` property.
 * - Anything else (viem `LocalAccount` from `privateKeyToAccount`, or any object whose
 *   `signTypedData` takes one typed-data object) is called with
 *   `{ domain, types, primaryType, message }`. `types` keeps the explicit EIP712Domain: viem
 *   uses it (it is the same type viem would derive), and wallet-backed accounts need it.
 *
 * The result (hex string or bytes), when 65 bytes long, must pass {@link parseSignature} and
 * recover to `account.address`; any other length (1 to 8192 bytes, a smart-contract wallet's
 * signature) passes through untouched. The chain id is `options.chainId`; without it, the
 * account's own `getChainId()` when it has one (ethers v5 signers, hand-written
 * {@link EthSigner}s); otherwise 1.
 *
 * @param account - an object with `address` and `signTypedData`.
 * @param options.chainId - the chain id to sign with (number, bigint, or a function asked before
 *   each login, e.g. `() => provider.getNetwork().then((n) => n.chainId)` for an ethers signer
 *   backed by a browser wallet); default 1.
 * @returns an {@link EthSigner} whose `address` is the checksummed `account.address`.
 * @throws AuthEthError `INVALID_ADDRESS`/`INVALID_CHECKSUM`; `INVALID_ARGUMENT` without a
 *   `signTypedData` function or for a bad `chainId`. `signTypedData` rejects
 *   with `SIGNER_ERROR` when the account fails or returns something unusable.
 * @example
 * ```ts
 * import { typedDataSigner } from '@degas/auth-eth';
 * import { privateKeyToAccount } from 'viem/accounts';
 * const signer = typedDataSigner(privateKeyToAccount('0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318'));
 * // or, with ethers: typedDataSigner(new Wallet(key))
 * ```
 */
export function typedDataSigner(account: TypedDataAccount, options?: SignerOptions): EthSigner {
  if (typeof account !== 'object' || account === null) throw invalidArgument('account must be an object');
  const record = account as unknown as Record<string, unknown>;
  const fn = (typeof record.signTypedData === 'function' ? record.signTypedData : record._signTypedData) as
    | ((...args: unknown[]) => Promise<unknown>)
    | undefined;
  if (typeof fn !== 'function') throw invalidArgument('account must have a signTypedData function');
  const addressBytes = parseAddress(account.address);
  const ethers = isEthersStyle(record, fn);
  const contractWallet = contractWalletOption(options);
  const ownGetter = record.getChainId;
  const getChainId = chainIdGetter(
    options,
    typeof ownGetter === 'function' ? () => (ownGetter as () => Promise<number | bigint>).call(account) : undefined,
  );
  return own({
    address: toChecksumAddress(addressBytes),
    getChainId,
    async signTypedData(typedData: LoginTypedData): Promise<Uint8Array> {
      hashTypedData(typedData);
      const { domain, types, primaryType, message } = typedData;
      let result: unknown;
      try {
        if (ethers) {
          const { EIP712Domain: _, ...structTypes } = types;
          result = await fn.call(account, domain, structTypes, message);
        } else {
          result = await fn.call(account, { domain, types, primaryType, message });
        }
      } catch (cause) {
        throw signerError(`signTypedData failed: ${describeError(cause)}`, cause);
      }
      return checkSignerResult(result, typedData, addressBytes, contractWallet);
    },
  });
}

/**
 * Turns whatever the application has into an {@link EthSigner}: a private key (32 bytes or hex)
 * becomes a {@link privateKeySigner}; a signer made by this package is returned as is; any other
 * object with `address` and `signTypedData` goes through {@link typedDataSigner}.
 *
 * @param s - a private key, an EthSigner, or a viem/ethers account.
 * @param options.chainId - for a key or an account: the chain id to sign with (default 1);
 *   ignored for a signer made by this package, which keeps its own.
 * @returns an {@link EthSigner}.
 * @throws AuthEthError `INVALID_PRIVATE_KEY`/`INVALID_ADDRESS`; `INVALID_ARGUMENT` for anything else.
 * @example
 * ```ts
 * import { generatePrivateKey, toSigner } from '@degas/auth-eth';
 * const signer = toSigner(generatePrivateKey(), { chainId: 8453 });
 * ```
 */
export function toSigner(
  s: EthSigner | Uint8Array | string | { address: string; signTypedData: Function },
  options?: SignerOptions,
): EthSigner {
  if (typeof s === 'string' || isBytes(s)) return privateKeySigner(s, options);
  if (typeof s === 'object' && s !== null) {
    if (OWN_SIGNERS.has(s)) return s as EthSigner;
    return typedDataSigner(s as TypedDataAccount, options);
  }
  throw invalidArgument('expected a private key, an EthSigner or an account with signTypedData');
}

/**
 * Generates a random private key with the platform CSPRNG (`crypto.getRandomValues`).
 *
 * @returns 32 bytes, a valid secp256k1 scalar.
 * @example
 * ```ts
 * import { generatePrivateKey, privateKeyToAddress } from '@degas/auth-eth';
 * const key = generatePrivateKey();
 * const address = privateKeyToAddress(key);
 * ```
 */
export function generatePrivateKey(): Uint8Array {
  return utils.randomSecretKey();
}

/**
 * The checksummed address of a private key.
 *
 * @param privateKey - 32 bytes, or 64 hex digits with or without `0x`.
 * @returns the EIP-55 address.
 * @throws AuthEthError `INVALID_PRIVATE_KEY`.
 * @example
 * ```ts
 * import { privateKeyToAddress } from '@degas/auth-eth';
 * privateKeyToAddress('0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318');
 * // '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23'
 * ```
 */
export function privateKeyToAddress(privateKey: Uint8Array | string): string {
  return toChecksumAddress(publicKeyToAddress(getPublicKey(parsePrivateKey(privateKey), false)));
}
