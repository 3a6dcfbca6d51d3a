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

/** The in-memory directory; mutate it while a gateway runs. */
export interface MemoryAccountDirectory {
  getAccount(accountId: Uint8Array): Promise<DirectoryAccount | undefined>;
  /** Adds or replaces an account (a TestAccount becomes one enabled signer). */
  set(account: TestAccount | DirectoryAccount): void;
  delete(accountId: Uint8Array): boolean;
  /** Lookups served so far. */
  readonly lookups: number;
}

function toDirectoryAccount(a: TestAccount | DirectoryAccount): DirectoryAccount {
  if ('signers' in a) return { id: a.id, signers: a.signers.map((s) => ({ ...s, address: s.address.toLowerCase() })) };
  return { id: a.id, signers: [{ type: 'ethereum', address: a.address, disabled: false }] };
}

/**
 * An in-memory `AccountDirectory`. `delayMs` delays every lookup (a number, or a function called
 * per lookup, e.g. a random 0–50 ms for race tests, CATALOGUE #71).
 * @example
 * const accounts = memoryAccounts([testAccount(1)], { delayMs: () => Math.random() * 50 });
 */
export function memoryAccounts(
  accounts: readonly (TestAccount | DirectoryAccount)[] = [],
  options: { delayMs?: number | (() => number) } = {},
): MemoryAccountDirectory {
  const map = new Map<string, DirectoryAccount>();
  let lookups = 0;
  const { delayMs } = options;
  if (delayMs !== undefined && typeof delayMs !== 'function' && !(Number.isFinite(delayMs) && delayMs >= 0)) {
    throw new RangeError('options.delayMs must be a non-negative number or a function');
  }
  const dir: MemoryAccountDirectory = {
    async getAccount(accountId) {
      lookups++;
      const d = typeof delayMs === 'function' ? delayMs() : (delayMs ?? 0);
      if (d > 0) await new Promise((r) => setTimeout(r, d));
      return map.get(idKey(accountId));
    },
    set(account) {
      const a = toDirectoryAccount(account);
      map.set(idKey(a.id), a);
    },
    delete(accountId) {
      return map.delete(idKey(accountId));
    },
    get lookups() {
      return lookups;
    },
  };
  for (const a of accounts) dir.set(a);
  return dir;
}
