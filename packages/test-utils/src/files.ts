/**
 * Temporary directories and the gateway's file formats (accounts file), for tests of the bin,
 * the config loader and file-backed directories.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { idToHex } from '@degas/proto';
import type { DirectoryAccount, TestAccount } from './accounts.js';

/** A directory under the OS temp dir; remove() deletes it with everything in it. */
export interface TempDir {
  readonly path: string;
  /** The path of `name` in this directory. */
  join(name: string): string;
  /** Writes `content` (a string as is, anything else as JSON) to `name`; returns its path. */
  write(name: string, content: unknown): Promise<string>;
  /** Writes an accounts file ({@link accountsFileJson}) to `name`; returns its path. */
  writeAccounts(name: string, accounts: readonly (TestAccount | DirectoryAccount)[]): Promise<string>;
  remove(): Promise<void>;
}

/**
 * Makes a fresh temporary directory.
 * @example
 * const dir = await tempDir('degas-config-');
 * const file = await dir.writeAccounts('accounts.json', [testAccount(1)]);
 * await dir.remove();
 */
export async function tempDir(prefix = 'degas-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  const dir: TempDir = {
    path,
    join: (name) => join(path, name),
    async write(name, content) {
      const file = join(path, name);
      await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
      return file;
    },
    writeAccounts(name, accounts) {
      return dir.write(name, accountsFileJson(accounts));
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
  return dir;
}

/**
 * The gateway's accounts file for `accounts`: `{"accounts":[{"id","signers":[…]}]}` (a TestAccount
 * is one enabled Ethereum signer).
 */
export function accountsFileJson(accounts: readonly (TestAccount | DirectoryAccount)[]): string {
  return JSON.stringify({
    accounts: accounts.map((a) => ({
      id: idToHex(a.id),
      signers:
        'signers' in a
          ? a.signers.map((s) => ({ type: s.type, address: s.address, disabled: s.disabled }))
          : [{ type: 'ethereum', address: a.address, disabled: false }],
    })),
  });
}
