import { keccak_256 } from '@noble/hashes/sha3.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { parseAddress } from './address.js';
import { bigIntTo32Bytes, hexToBytes, isBytes, isWellFormed } from './bytes.js';
import { invalidArgument } from './errors.js';

/**
 * The EIP-712 domain name used when none is configured (PROTOCOL.md 4.2 step 3).
 *
 * @example
 * ```ts
 * import { DEFAULT_AUTH_DOMAIN, loginTypedData } from '@degas/auth-eth';
 * const typed = loginTypedData({ Message: 'Sign in', Challenge: '00'.repeat(16) });
 * typed.domain.name === DEFAULT_AUTH_DOMAIN; // true
 * ```
 */
export const DEFAULT_AUTH_DOMAIN = 'Degas Authentication';

/**
 * The two fields of the challenge JSON, and of the signed `Login` struct, with their exact
 * (capitalised) names.
 *
 * @example
 * ```ts
 * import type { LoginFields } from '@degas/auth-eth';
 * const fields: LoginFields = { Message: 'Sign in to Degas', Challenge: '0123456789abcdef0123456789abcdef' };
 * ```
 */
export interface LoginFields {
  Message: string;
  Challenge: string;
}

/**
 * The Login typed data in the shape `eth_signTypedData_v4` takes (PROTOCOL.md 4.2 step 3).
 *
 * @example
 * ```ts
 * import { type LoginTypedData, loginTypedData } from '@degas/auth-eth';
 * const typed: LoginTypedData = loginTypedData({ Message: 'Sign in', Challenge: 'ab'.repeat(16) });
 * typed.types.Login; // [{ name: 'Message', type: 'string' }, { name: 'Challenge', type: 'string' }]
 * ```
 */
export interface LoginTypedData {
  domain: { name: string; version: '1'; chainId: number };
  types: {
    EIP712Domain: { name: string; type: string }[];
    Login: { name: string; type: string }[];
  };
  primaryType: 'Login';
  message: LoginFields;
}

type Field = { name: string; type: string };

const IDENT_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const UINT_RE = /^uint(\d{1,3})$/;
const BYTES_N_RE = /^bytes(\d{1,2})$/;
const DECIMAL_RE = /^(?:0|[1-9][0-9]*)$/;
const HEX_NUMBER_RE = /^0x[0-9a-fA-F]+$/;
const EIP191_PREFIX = Uint8Array.of(0x19, 0x01);
// EIP-712's canonical domain field order, which ethers, viem and wallets use when they derive
// the EIP712Domain type from the domain object.
const DOMAIN_FIELDS: readonly Field[] = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'verifyingContract', type: 'address' },
  { name: 'salt', type: 'bytes32' },
];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isBytes(value);
}

function checkString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalidArgument(`${what} must be a string`);
  if (!isWellFormed(value)) throw invalidArgument(`${what} contains a lone UTF-16 surrogate`);
  return value;
}

function toUint(value: unknown, bits: number, what: string): bigint {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && (DECIMAL_RE.test(value) || HEX_NUMBER_RE.test(value))) {
    n = BigInt(value);
  } else throw invalidArgument(`${what} must be a non-negative integer`);
  if (n < 0n || n >= 1n << BigInt(bits)) throw invalidArgument(`${what} is out of range for uint${bits}`);
  return n;
}

function toBytes(value: unknown, what: string): Uint8Array {
  if (isBytes(value)) return value;
  if (typeof value === 'string' && value.startsWith('0x')) return hexToBytes(value);
  throw invalidArgument(`${what} must be a Uint8Array or 0x-prefixed hex`);
}

/** EIP-712 `encodeData` of one atomic field value: always 32 bytes. */
function encodeValue(type: string, value: unknown, what: string): Uint8Array {
  if (type === 'string') return keccak_256(utf8ToBytes(checkString(value, what)));
  if (type === 'bytes') return keccak_256(toBytes(value, what));
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw invalidArgument(`${what} must be a boolean`);
    return bigIntTo32Bytes(value ? 1n : 0n);
  }
  if (type === 'address') {
    const out = new Uint8Array(32);
    out.set(parseAddress(checkString(value, what)), 12);
    return out;
  }
  const uint = UINT_RE.exec(type);
  if (uint) return bigIntTo32Bytes(toUint(value, Number(uint[1]), what));
  const fixed = BYTES_N_RE.exec(type);
  if (fixed) {
    const bytes = toBytes(value, what);
    if (bytes.length !== Number(fixed[1])) throw invalidArgument(`${what} must be ${fixed[1]} bytes`);
    const out = new Uint8Array(32);
    out.set(bytes);
    return out;
  }
  throw invalidArgument(`unsupported EIP-712 type ${JSON.stringify(type)}`);
}

function checkFields(fields: unknown, typeName: string): Field[] {
  if (!Array.isArray(fields)) throw invalidArgument(`types.${typeName} must be an array`);
  const seen = new Set<string>();
  return fields.map((f: unknown, i) => {
    if (!isRecord(f) || typeof f.name !== 'string' || typeof f.type !== 'string') {
      throw invalidArgument(`types.${typeName}[${i}] must be { name: string, type: string }`);
    }
    if (!IDENT_RE.test(f.name) || seen.has(f.name)) {
      throw invalidArgument(`types.${typeName}[${i}].name is invalid or repeated`);
    }
    seen.add(f.name);
    return { name: f.name, type: f.type };
  });
}

/** EIP-712 `hashStruct` of a flat struct (atomic fields only). */
function hashStruct(typeName: string, fields: readonly Field[], data: unknown): Uint8Array {
  if (!isRecord(data)) throw invalidArgument(`${typeName} data must be an object`);
  const names = new Set(fields.map((f) => f.name));
  for (const key of Object.keys(data)) {
    // A key outside the type would not be covered by the hash; refuse rather than ignore it.
    if (!names.has(key)) throw invalidArgument(`${typeName} has no field ${JSON.stringify(key)}`);
  }
  const encodedType = `${typeName}(${fields.map((f) => `${f.type} ${f.name}`).join(',')})`;
  const parts: Uint8Array[] = [keccak_256(utf8ToBytes(encodedType))];
  for (const f of fields) {
    if (!Object.hasOwn(data, f.name)) throw invalidArgument(`${typeName}.${f.name} is missing`);
    parts.push(encodeValue(f.type, data[f.name], `${typeName}.${f.name}`));
  }
  return keccak_256(concatBytes(...parts));
}

function checkDomainName(name: unknown): string {
  checkString(name, 'domainName');
  if (name === '') throw invalidArgument('domainName must not be empty');
  return name as string;
}

/**
 * The chain id signed when none is given (PROTOCOL.md 4.2 step 3: 1, Ethereum mainnet).
 *
 * @example
 * ```ts
 * import { DEFAULT_CHAIN_ID, loginTypedData } from '@degas/auth-eth';
 * loginTypedData({ Message: 'Sign in', Challenge: '00'.repeat(16) }).domain.chainId === DEFAULT_CHAIN_ID; // true
 * ```
 */
export const DEFAULT_CHAIN_ID = 1;

/**
 * Largest chain id accepted: `Number.MAX_SAFE_INTEGER`, so that the typed data a wallet receives
 * carries it as a JSON number (EIP-2294 bounds real chain ids below 2^52).
 *
 * @example
 * ```ts
 * import { MAX_CHAIN_ID } from '@degas/auth-eth';
 * const usable = (id: number) => Number.isInteger(id) && id >= 1 && id <= MAX_CHAIN_ID;
 * ```
 */
export const MAX_CHAIN_ID = Number.MAX_SAFE_INTEGER;

/**
 * Validates a chain id: an integer from 1 to {@link MAX_CHAIN_ID}, as a number or a bigint.
 *
 * @param value - the chain id.
 * @param what - the name used in error messages.
 * @returns the chain id as a number.
 * @throws AuthEthError `INVALID_ARGUMENT` when it is not an integer or out of range.
 * @example
 * ```ts
 * import { checkChainId } from '@degas/auth-eth';
 * checkChainId(8453n); // 8453
 * ```
 */
export function checkChainId(value: unknown, what = 'chainId'): number {
  if (typeof value === 'bigint') {
    if (value < 1n || value > BigInt(MAX_CHAIN_ID)) throw invalidArgument(`${what} must be from 1 to ${MAX_CHAIN_ID}`);
    return Number(value);
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArgument(`${what} must be an integer`);
  if (value < 1 || value > MAX_CHAIN_ID) throw invalidArgument(`${what} must be from 1 to ${MAX_CHAIN_ID}`);
  return value;
}

/** The checked inputs of {@link loginTypedData} and {@link loginDigest}. */
function checkLoginInput(
  fields: LoginFields,
  options: LoginTypedDataOptions | undefined,
): { Message: string; Challenge: string; name: string; chainId: number } {
  if (!isRecord(fields)) throw invalidArgument('fields must be an object');
  if (options !== undefined && !isRecord(options)) throw invalidArgument('options must be an object');
  return {
    Message: checkString(fields.Message, 'Message'),
    Challenge: checkString(fields.Challenge, 'Challenge'),
    name: checkDomainName(options?.domainName ?? DEFAULT_AUTH_DOMAIN),
    chainId: options?.chainId === undefined ? DEFAULT_CHAIN_ID : checkChainId(options.chainId),
  };
}

/** Options of {@link loginTypedData} and {@link loginDigest}. */
export interface LoginTypedDataOptions {
  /** The EIP-712 domain name; default {@link DEFAULT_AUTH_DOMAIN}. */
  domainName?: string | undefined;
  /** The domain's chain id (a wallet's active chain); default {@link DEFAULT_CHAIN_ID}. */
  chainId?: number | bigint | undefined;
}

/**
 * Builds the Login typed data of PROTOCOL.md 4.2 step 3 for a challenge: domain
 * `{ name, version: '1', chainId }` with its EIP712Domain type in canonical order, and the
 * struct `Login(string Message,string Challenge)`. Only the two fields are copied into
 * `message`, so the object can be passed to a wallet as it is.
 *
 * @param fields - the challenge fields (from {@link parseChallenge} or {@link createChallenge}).
 * @param options.domainName - the EIP-712 domain name; default {@link DEFAULT_AUTH_DOMAIN}.
 * @param options.chainId - the domain's chain id (a browser wallet's active chain, which is the
 *   only one it signs for); default {@link DEFAULT_CHAIN_ID}. The gateway must be told the same
 *   one (`eth_auth.chain_id`).
 * @returns a fresh typed-data object.
 * @throws AuthEthError `INVALID_ARGUMENT` when a field or the domain name is not a well-formed
 *   string, the domain name is empty, or the chain id is not an integer from 1 to {@link MAX_CHAIN_ID}.
 * @example
 * ```ts
 * import { createChallenge, loginTypedData } from '@degas/auth-eth';
 * const { fields } = createChallenge();
 * const typed = loginTypedData(fields, { domainName: 'My Game Authentication', chainId: 8453 });
 * ```
 */
export function loginTypedData(fields: LoginFields, options?: LoginTypedDataOptions): LoginTypedData {
  const { Message, Challenge, name, chainId } = checkLoginInput(fields, options);
  return {
    domain: { name, version: '1', chainId },
    types: {
      EIP712Domain: [
        { name: 'name', type: 'string' },
        { name: 'version', type: 'string' },
        { name: 'chainId', type: 'uint256' },
      ],
      Login: [
        { name: 'Message', type: 'string' },
        { name: 'Challenge', type: 'string' },
      ],
    },
    primaryType: 'Login',
    message: { Message, Challenge },
  };
}

/**
 * Computes the EIP-712 hash (`keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))`) of a
 * typed-data object. It hashes exactly what it is given: the EIP712Domain type from `types`
 * (derived in canonical order from the domain's keys when absent, as ethers and viem do) and the
 * primary type's fields. Supported field types: `string`, `bytes`, `bool`, `address`, `uintN`,
 * `bytesN`; no arrays or nested structs, which the Login shape does not need. Keys that the types
 * do not list, missing keys and unused types are rejected rather than ignored.
 *
 * @param typed - the typed data, normally from {@link loginTypedData}.
 * @returns the 32-byte digest to sign or recover from.
 * @throws AuthEthError `INVALID_ARGUMENT` for malformed or unsupported typed data.
 * @example
 * ```ts
 * import { bytesToHex, hashTypedData, loginTypedData } from '@degas/auth-eth';
 * const typed = loginTypedData({ Message: 'Sign in', Challenge: '00'.repeat(16) });
 * bytesToHex(hashTypedData(typed)); // 64 hex digits
 * ```
 */
export function hashTypedData(typed: LoginTypedData): Uint8Array {
  if (!isRecord(typed)) throw invalidArgument('typed data must be an object');
  const { domain, types, primaryType, message } = typed as unknown as Record<string, unknown>;
  if (!isRecord(domain)) throw invalidArgument('domain must be an object');
  if (!isRecord(types)) throw invalidArgument('types must be an object');
  if (typeof primaryType !== 'string' || !IDENT_RE.test(primaryType) || primaryType === 'EIP712Domain') {
    throw invalidArgument('primaryType must be a struct name other than EIP712Domain');
  }
  for (const key of Object.keys(types)) {
    if (key !== 'EIP712Domain' && key !== primaryType) {
      throw invalidArgument(`types.${key} is not used (nested structs are not supported)`);
    }
  }
  const domainFields =
    types.EIP712Domain === undefined
      ? DOMAIN_FIELDS.filter((f) => domain[f.name] !== undefined)
      : checkFields(types.EIP712Domain, 'EIP712Domain');
  if (!Object.hasOwn(types, primaryType)) throw invalidArgument(`types.${primaryType} is missing`);
  const fields = checkFields(types[primaryType], primaryType);
  return keccak_256(
    concatBytes(
      EIP191_PREFIX,
      hashStruct('EIP712Domain', domainFields, domain),
      hashStruct(primaryType, fields, message),
    ),
  );
}

/**
 * The EIP-712 digest of the Login typed data for `fields`: the value the gateway recovers the
 * signer from. Equal to `hashTypedData(loginTypedData(fields, options))`.
 *
 * @param fields - the challenge fields exactly as issued.
 * @param options.domainName - the EIP-712 domain name; default {@link DEFAULT_AUTH_DOMAIN}.
 * @param options.chainId - the domain's chain id; default {@link DEFAULT_CHAIN_ID}.
 * @returns the 32-byte digest.
 * @throws AuthEthError `INVALID_ARGUMENT` as {@link loginTypedData}.
 * @example
 * ```ts
 * import { createChallenge, loginDigest } from '@degas/auth-eth';
 * const { fields } = createChallenge();
 * const digest = loginDigest(fields, { chainId: 8453 }); // Uint8Array(32)
 * ```
 */
export function loginDigest(fields: LoginFields, options?: LoginTypedDataOptions): Uint8Array {
  // The checks of loginTypedData; then the digest of that typed data with its constant parts
  // (type hashes, domain separator, hash of the prompt) taken from caches: 3 keccak calls per
  // login instead of 9 (the gateway's verifier runs this once per login).
  const { Message, Challenge, name, chainId } = checkLoginInput(fields, options);
  const struct = new Uint8Array(96);
  struct.set(LOGIN_TYPE_HASH, 0);
  struct.set(promptHash(Message), 32);
  struct.set(keccak_256(utf8ToBytes(Challenge)), 64);
  const digestInput = new Uint8Array(66);
  digestInput.set(EIP191_PREFIX, 0);
  digestInput.set(loginDomainSeparator(name, chainId), 2);
  digestInput.set(keccak_256(struct), 34);
  return keccak_256(digestInput);
}

// ---- constant parts of the Login digest ------------------------------------------------------
// The type hashes never change; the domain separator depends only on the domain name and the
// chain id, and the prompt hash only on the prompt, all nearly fixed per gateway (one name, a
// few chains). Cached values never leave this module.

const LOGIN_TYPE_HASH = keccak_256(utf8ToBytes('Login(string Message,string Challenge)'));
const DOMAIN_TYPE_HASH = keccak_256(utf8ToBytes('EIP712Domain(string name,string version,uint256 chainId)'));
const VERSION_HASH = keccak_256(utf8ToBytes('1'));
/**
 * Most domain separators kept, one per (name, chain id). A process normally uses one name and a
 * handful of chains; clients choose the chain id, so the bound is what keeps a client cycling
 * through chain ids from growing the cache (it only costs that client two keccak calls).
 */
const MAX_DOMAINS = 64;
const domainSeparators = new Map<string, Map<number, Uint8Array>>();
let domainSeparatorCount = 0;

/** `hashStruct(EIP712Domain{name, version: '1', chainId})`, cached per (name, chain id), bounded. */
function loginDomainSeparator(name: string, chainId: number): Uint8Array {
  let byChain = domainSeparators.get(name);
  let separator = byChain?.get(chainId);
  if (separator === undefined) {
    const input = new Uint8Array(128);
    input.set(DOMAIN_TYPE_HASH, 0);
    input.set(keccak_256(utf8ToBytes(name)), 32);
    input.set(VERSION_HASH, 64);
    input.set(bigIntTo32Bytes(BigInt(chainId)), 96);
    separator = keccak_256(input);
    // Over the bound, drop everything: a steady state (one name, few chains) refills at once,
    // and a caller cycling through names or chain ids never holds more than MAX_DOMAINS entries.
    if (domainSeparatorCount >= MAX_DOMAINS) {
      domainSeparators.clear();
      domainSeparatorCount = 0;
      byChain = undefined;
    }
    if (byChain === undefined) {
      byChain = new Map();
      domainSeparators.set(name, byChain);
    }
    byChain.set(chainId, separator);
    domainSeparatorCount++;
  }
  return separator;
}

/** Entries in the domain-separator cache (for tests of its bound). @internal */
export function domainSeparatorCacheSize(): number {
  return domainSeparatorCount;
}

let lastPrompt: string | undefined;
let lastPromptHash: Uint8Array = new Uint8Array(32);

/** keccak256 of the prompt (`Message`), remembering the last one. */
function promptHash(message: string): Uint8Array {
  if (message !== lastPrompt) {
    lastPromptHash = keccak_256(utf8ToBytes(message));
    lastPrompt = message;
  }
  return lastPromptHash;
}
