/**
 * Deterministic test keys and accounts, and an in-memory account directory with the shape of the
 * gateway's `AccountDirectory` (structural: test-utils does not depend on the gateway).
 */
import { createHash } from 'node:crypto';
import { type EthSigner, privateKeySigner } from '@degas/auth-eth';
import { idKey, idToHex } from '@degas/proto';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * The n-th deterministic secp256k1 private key (32 bytes). Same n, same key, in every run.
 * @example
 * const key = testKey(1);
 */
export function testKey(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`testKey: n must be a non-negative integer, got ${n}`);
  return new Uint8Array(sha256(`degas-test-key-${n}`));
}

/** The n-th deterministic 16-byte account id. */
export function testAccountId(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`testAccountId: n must be a non-negative integer, got ${n}`);
  return new Uint8Array(sha256(`degas-test-account-${n}`).subarray(0, 16));
}

/** The n-th deterministic 16-byte Degas id. */
export function testDegasId(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`testDegasId: n must be a non-negative integer, got ${n}`);
  return new Uint8Array(sha256(`degas-test-degas-${n}`).subarray(0, 16));
}

/** A test account: id, key, signer and lowercase address. */
export interface TestAccount {
  id: Uint8Array;
  idHex: string;
  key: Uint8Array;
  signer: EthSigner;
  /** Lowercase `0x` address of `signer`. */
  address: string;
}

/**
 * The n-th test account, with one Ethereum signer from {@link testKey}(n).
 * @example
 * const alice = testAccount(1);
 * const accounts = memoryAccounts([alice]);
 */
export function testAccount(n: number): TestAccount {
  const key = testKey(n);
  const signer = privateKeySigner(key);
  const id = testAccountId(n);
  return { id, idHex: idToHex(id), key, signer, address: signer.address.toLowerCase() };
}

let freshCounter = 1_000_000;

/**
 * A test account not handed out before in this process (deterministic per call order): for tests
 * that need many distinct accounts without picking numbers.
 */
export function freshTestAccount(): TestAccount {
  return testAccount(freshCounter++);
}

/** A Degas id not handed out before by this function in this process (deterministic per call order). */
export function freshDegasId(): Uint8Array {
  return testDegasId(freshCounter++);
}

/**
 * A signer (an account-like object: `address` and `signTypedData` only) that counts its signing
 * requests (a wallet's pop-ups): resume tests assert "no signature".
 */
export interface CountingSigner extends Pick<EthSigner, 'address' | 'signTypedData'> {
  /** signTypedData calls so far. */
  readonly requests: number;
}

/**
 * A signer of `key` that counts its signing requests.
 * @example
 * const wallet = countingSigner(testKey(1));
 * await client.connect(); expect(wallet.requests).toBe(1);
 */
export function countingSigner(key: Uint8Array): CountingSigner {
  const inner = privateKeySigner(key);
  let requests = 0;
  return {
    address: inner.address,
    signTypedData(typedData) {
      requests++;
      return inner.signTypedData(typedData);
    },
    get requests() {
      return requests;
    },
  };
}

/** An Ethereum signer as the gateway's account directory returns it. */
export interface DirectorySigner {
  readonly type: 'ethereum';
  readonly address: string;
  readonly disabled: boolean;
}

/** An account as the gateway's account directory returns it. */
export interface DirectoryAccount {
  readonly id: Uint8Array;
  readonly signers: readonly DirectorySigner[];
}

/** Options of {@link MemoryAccountDirectory.set} for a TestAccount. */
export interface SetAccountOptions {
  /** The account's own signer is disabled. */
  disabled?: boolean;
  /** More enabled signers (addresses) of the account. */
  extraSigners?: readonly string[];
}

/** Delay of every lookup: milliseconds, or a function called per lookup. */
export type LookupDelay = number | (() => number);

/** The in-memory directory; mutate it while a gateway runs. */
export interface MemoryAccountDirectory {
  getAccount(accountId: Uint8Array): Promise<DirectoryAccount | undefined>;
  /** Adds or replaces an account (a TestAccount becomes its signer, plus `extraSigners`). */
  set(account: TestAccount | DirectoryAccount, options?: SetAccountOptions): void;
  delete(accountId: Uint8Array): boolean;
  /** Lookups served so far. */
  readonly lookups: number;
  /** Delay of every later lookup; change it while a gateway runs. */
  delayMs: LookupDelay | undefined;
}

function toDirectoryAccount(a: TestAccount | DirectoryAccount, options: SetAccountOptions = {}): DirectoryAccount {
  if ('signers' in a) return { id: a.id, signers: a.signers.map((s) => ({ ...s, address: s.address.toLowerCase() })) };
  return {
    id: a.id,
    signers: [
      { type: 'ethereum', address: a.address.toLowerCase(), disabled: options.disabled ?? false },
      ...(options.extraSigners ?? []).map((address) => ({
        type: 'ethereum' as const,
        address: address.toLowerCase(),
        disabled: false,
      })),
    ],
  };
}

function checkDelay(delayMs: LookupDelay | undefined): LookupDelay | undefined {
  if (delayMs !== undefined && typeof delayMs !== 'function' && !(Number.isFinite(delayMs) && delayMs >= 0)) {
    throw new RangeError('delayMs must be a non-negative number or a function');
  }
  return delayMs;
}

/**
 * An in-memory `AccountDirectory`. `delayMs` delays every lookup (a number, or a function called
 * per lookup, e.g. a random 0–50 ms for race tests, CATALOGUE #71).
 * @example
 * const accounts = memoryAccounts([testAccount(1)], { delayMs: () => Math.random() * 50 });
 */
export function memoryAccounts(
  accounts: readonly (TestAccount | DirectoryAccount)[] = [],
  options: { delayMs?: LookupDelay } = {},
): MemoryAccountDirectory {
  const map = new Map<string, DirectoryAccount>();
  let lookups = 0;
  let delayMs = checkDelay(options.delayMs);
  const dir: MemoryAccountDirectory = {
    async getAccount(accountId) {
      lookups++;
      const d = typeof delayMs === 'function' ? delayMs() : (delayMs ?? 0);
      if (d > 0) await new Promise((r) => setTimeout(r, d));
      return map.get(idKey(accountId));
    },
    set(account, setOptions) {
      const a = toDirectoryAccount(account, setOptions);
      map.set(idKey(a.id), a);
    },
    delete(accountId) {
      return map.delete(idKey(accountId));
    },
    get lookups() {
      return lookups;
    },
    get delayMs() {
      return delayMs;
    },
    set delayMs(value) {
      delayMs = checkDelay(value);
    },
  };
  for (const a of accounts) dir.set(a);
  return dir;
}
