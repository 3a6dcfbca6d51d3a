import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateKeyToAddress } from '@degas/auth-eth';
import { idFromHex } from '@degas/proto';
import {
  AccountDirectoryError,
  addAccount,
  createFileAccountDirectory,
  type FileAccountDirectory,
  parseAccountsJson,
} from '../src/accounts.js';
import { createLogger } from '../src/logger.js';

const A = '0x00112233445566778899aabbccddeeff';
const B = '0xffeeddccbbaa99887766554433221100';
const key = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
const ADDR1 = privateKeyToAddress(key(1)); // EIP-55 checksummed
const ADDR2 = privateKeyToAddress(key(2));

const file = (accounts: unknown[]) => JSON.stringify({ accounts });
const account = (id: string, address: string, disabled?: boolean) => ({
  id,
  signers: [{ type: 'ethereum', address, ...(disabled === undefined ? {} : { disabled }) }],
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'degas-accounts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
let n = 0;
const fresh = () => join(dir, `accounts-${++n}.json`);

/** A watched directory of a fresh file holding account A (ADDR1), logging into `lines`. */
async function watchedWithA(): Promise<{ p: string; lines: string[]; accounts: FileAccountDirectory }> {
  const p = fresh();
  await writeFile(p, file([account(A, ADDR1)]));
  const lines: string[] = [];
  const accounts = await createFileAccountDirectory({
    path: p,
    debounceMs: 20,
    logger: createLogger({ level: 'info', write: (l) => lines.push(l) }),
  });
  return { p, lines, accounts };
}

/** Resolves with the next reload (or rejects on the next rejected file), within 5 s. */
function next(accounts: FileAccountDirectory, event: 'reload' | 'reloadError'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within 5 s`)), 5000);
    accounts.once(event, (x: unknown) => {
      clearTimeout(t);
      resolve(x);
    });
  });
}

describe('parseAccountsJson', () => {
  test('parses accounts, lowercases addresses, defaults disabled to false', () => {
    const { accounts, warnings } = parseAccountsJson(
      file([account(A.toUpperCase().replace('0X', '0x'), ADDR1), account(B, ADDR2.toLowerCase(), true)]),
    );
    expect(warnings).toEqual([]);
    expect(accounts.size).toBe(2);
    const a = [...accounts.values()][0]!;
    expect(a.id).toEqual(idFromHex(A));
    expect(a.signers).toEqual([{ type: 'ethereum', address: ADDR1.toLowerCase(), disabled: false }]);
    expect([...accounts.values()][1]!.signers[0]!.disabled).toBe(true);
  });

  test('unknown signer types are skipped with a warning', () => {
    const { accounts, warnings } = parseAccountsJson(
      file([
        {
          id: A,
          signers: [
            { type: 'passkey', credential: 'x' },
            { type: 'ethereum', address: ADDR1 },
          ],
        },
      ]),
      'f.json',
    );
    expect(warnings).toEqual(['f.json: accounts[0].signers[0]: unknown signer type "passkey" ignored']);
    expect([...accounts.values()][0]!.signers).toHaveLength(1);
  });

  // Flip the case of one letter of a checksummed address: still hex, wrong EIP-55 checksum.
  const at = ADDR1.slice(2).search(/[a-fA-F]/) + 2;
  const flipped = ADDR1[at] === ADDR1[at]!.toUpperCase() ? ADDR1[at]!.toLowerCase() : ADDR1[at]!.toUpperCase();
  const bad = ADDR1.slice(0, at) + flipped + ADDR1.slice(at + 1);
  test.each([
    ['not JSON', '{', /not valid JSON/],
    ['not an object', '[]', /must be a JSON object/],
    ['no accounts array', '{"accounts":{}}', /"accounts" must be an array/],
    ['an unknown top-level key', '{"accounts":[],"x":1}', /unknown key "x"/],
    ['a bad id', file([account('0x1234', ADDR1)]), /accounts\[0\]\.id/],
    ['a missing id', file([{ signers: [] }]), /accounts\[0\]\.id/],
    [
      'a duplicate id',
      file([account(A, ADDR1), account(A.toUpperCase().replace('0X', '0x'), ADDR2)]),
      /accounts\[1\]\.id: duplicate/,
    ],
    ['signers not an array', file([{ id: A, signers: {} }]), /signers must be an array/],
    ['a signer without type', file([{ id: A, signers: [{ address: ADDR1 }] }]), /signers\[0\]\.type/],
    ['a bad address', file([account(A, '0x1234')]), /signers\[0\]\.address/],
    ['a bad checksum', file([account(A, bad)]), /signers\[0\]\.address: .*checksum/],
    [
      'a misspelled key (disable)',
      file([{ id: A, signers: [{ type: 'ethereum', address: ADDR1, disable: true }] }]),
      /unknown key "disable"/,
    ],
    [
      'a non-boolean disabled',
      file([account(A, ADDR1, 'yes' as unknown as boolean)]),
      /disabled must be true or false/,
    ],
    ['an unknown account key', file([{ id: A, signers: [], name: 'x' }]), /accounts\[0\]: unknown key "name"/],
  ])('rejects %s', (_name, text, why) => {
    expect(() => parseAccountsJson(text)).toThrow(why);
    expect(() => parseAccountsJson(text)).toThrow(AccountDirectoryError);
  });
});

describe('createFileAccountDirectory', () => {
  test('a missing file at start is an error', async () => {
    await expect(createFileAccountDirectory({ path: join(dir, 'nope.json') })).rejects.toMatchObject({
      code: 'ACCOUNTS_FILE_UNREADABLE',
      message: expect.stringMatching(/nope\.json: no such file/),
    });
  });

  test('an invalid file at start is an error', async () => {
    const p = fresh();
    await writeFile(p, '{"accounts": 1}');
    await expect(createFileAccountDirectory({ path: p, watch: false })).rejects.toMatchObject({
      code: 'ACCOUNTS_FILE_INVALID',
    });
  });

  test('looks up by id; unknown and malformed ids are undefined', async () => {
    const p = fresh();
    await writeFile(p, file([account(A, ADDR1)]));
    const accounts = await createFileAccountDirectory({ path: p, watch: false });
    expect(accounts.size).toBe(1);
    expect(accounts.getAccount(idFromHex(A))?.signers[0]?.address).toBe(ADDR1.toLowerCase());
    expect(accounts.getAccount(idFromHex(B))).toBeUndefined();
    expect(accounts.getAccount(new Uint8Array(3))).toBeUndefined();
    accounts.close();
  });

  test('reloads when the file is rewritten in place, and when it is replaced by rename', async () => {
    const { p, lines, accounts } = await watchedWithA();
    try {
      let reloaded = next(accounts, 'reload');
      await writeFile(p, file([account(A, ADDR1), account(B, ADDR2)]));
      expect(await reloaded).toEqual({ accounts: 2 });
      expect(accounts.getAccount(idFromHex(B))?.signers[0]?.address).toBe(ADDR2.toLowerCase());

      // Editors and config tools write a temp file and rename it over the original (new inode).
      reloaded = next(accounts, 'reload');
      const tmp = join(dir, `.tmp-${n}`);
      await writeFile(tmp, file([account(B, ADDR2, true)]));
      await rename(tmp, p);
      expect(await reloaded).toEqual({ accounts: 1 });
      expect(accounts.getAccount(idFromHex(A))).toBeUndefined();
      expect(accounts.getAccount(idFromHex(B))?.signers[0]?.disabled).toBe(true);

      // And again after the rename: the watch must still be alive.
      reloaded = next(accounts, 'reload');
      await writeFile(p, file([account(A, ADDR1)]));
      expect(await reloaded).toEqual({ accounts: 1 });
      expect(accounts.getAccount(idFromHex(A))).toBeDefined();
      expect(lines.some((l) => JSON.parse(l).msg === 'accounts reloaded')).toBe(true);
    } finally {
      accounts.close();
    }
  });

  test('a bad file keeps the last good version and logs why; a good one is picked up again', async () => {
    const { p, lines, accounts } = await watchedWithA();
    try {
      const rejected = next(accounts, 'reloadError');
      await writeFile(p, '{"accounts": [ {"id": "0x12"');
      expect(await rejected).toBeInstanceOf(AccountDirectoryError);
      expect(accounts.getAccount(idFromHex(A))).toBeDefined();
      const log = lines
        .map((l) => JSON.parse(l))
        .find((l) => l.msg === 'accounts file rejected; keeping the previous version');
      expect(log).toMatchObject({ level: 'error', reason: expect.stringMatching(/not valid JSON/), accounts: 1 });

      const rejected2 = next(accounts, 'reloadError');
      await writeFile(p, file([account(A, '0xnot-an-address')]));
      expect(String(await rejected2)).toMatch(/signers\[0\]\.address/);
      expect(accounts.getAccount(idFromHex(A))?.signers[0]?.address).toBe(ADDR1.toLowerCase());

      const reloaded = next(accounts, 'reload');
      await writeFile(p, file([account(B, ADDR2)]));
      await reloaded;
      expect(accounts.getAccount(idFromHex(A))).toBeUndefined();
      expect(accounts.getAccount(idFromHex(B))).toBeDefined();
    } finally {
      accounts.close();
    }
  });

  test('a deleted file keeps the last good version; reload() rejects', async () => {
    const p = fresh();
    await writeFile(p, file([account(A, ADDR1)]));
    const accounts = await createFileAccountDirectory({ path: p, watch: false });
    await rm(p);
    await expect(accounts.reload()).rejects.toMatchObject({ code: 'ACCOUNTS_FILE_UNREADABLE' });
    expect(accounts.getAccount(idFromHex(A))).toBeDefined();
    await writeFile(p, file([account(B, ADDR2)]));
    await accounts.reload();
    expect(accounts.getAccount(idFromHex(B))).toBeDefined();
    accounts.close();
    accounts.close();
  });

  test('options are validated', async () => {
    await expect(createFileAccountDirectory({ path: '' })).rejects.toThrow(TypeError);
    await expect(createFileAccountDirectory({ path: 'x', debounceMs: -1 })).rejects.toThrow(RangeError);
  });
});

describe('addAccount', () => {
  test('creates the file, then appends; ids are random unless given', async () => {
    const p = fresh();
    const first = await addAccount({ path: p, address: ADDR1 });
    expect(first.created).toBe(true);
    expect(first.id).toMatch(/^0x[0-9a-f]{32}$/);
    const second = await addAccount({ path: p, address: ADDR2, id: B.toUpperCase().replace('0X', '0x') });
    expect(second).toEqual({ id: B, created: false });
    // The same address may sign for several accounts: a new account, not an error.
    const third = await addAccount({ path: p, address: ADDR1.toLowerCase() });
    expect(third.id).not.toBe(first.id);
    const doc = JSON.parse(await readFile(p, 'utf8'));
    expect(doc).toEqual({
      accounts: [
        { id: first.id, signers: [{ type: 'ethereum', address: ADDR1.toLowerCase(), disabled: false }] },
        { id: B, signers: [{ type: 'ethereum', address: ADDR2.toLowerCase(), disabled: false }] },
        { id: third.id, signers: [{ type: 'ethereum', address: ADDR1.toLowerCase(), disabled: false }] },
      ],
    });
    // The result loads, and no temp or lock file is left behind.
    const accounts = await createFileAccountDirectory({ path: p, watch: false });
    expect(accounts.size).toBe(3);
    accounts.close();
    await expect(stat(`${p}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('refuses a duplicate id, a bad address, a bad id, and an invalid existing file', async () => {
    const p = fresh();
    await addAccount({ path: p, address: ADDR1, id: A });
    const before = await readFile(p, 'utf8');
    await expect(addAccount({ path: p, address: ADDR2, id: A })).rejects.toMatchObject({
      code: 'DUPLICATE_ACCOUNT_ID',
    });
    await expect(addAccount({ path: p, address: '0x1234' })).rejects.toMatchObject({ code: 'INVALID_ADDRESS' });
    await expect(addAccount({ path: p, address: ADDR2, id: '0xzz' })).rejects.toThrow(/32 hex digits/);
    expect(await readFile(p, 'utf8')).toBe(before);
    const broken = fresh();
    await writeFile(broken, '{"accounts":');
    await expect(addAccount({ path: broken, address: ADDR1 })).rejects.toMatchObject({ code: 'ACCOUNTS_FILE_INVALID' });
    expect(await readFile(broken, 'utf8')).toBe('{"accounts":');
  });

  test('concurrent adds to one file all land', async () => {
    const p = fresh();
    const ids = await Promise.all(Array.from({ length: 8 }, () => addAccount({ path: p, address: ADDR1 })));
    const doc = JSON.parse(await readFile(p, 'utf8')) as { accounts: { id: string }[] };
    expect(doc.accounts.map((a) => a.id).sort()).toEqual(ids.map((r) => r.id).sort());
  });

  test('a watching directory picks up an added account', async () => {
    const p = fresh();
    await addAccount({ path: p, address: ADDR1, id: A });
    const accounts = await createFileAccountDirectory({ path: p, debounceMs: 20 });
    try {
      const reloaded = next(accounts, 'reload');
      await addAccount({ path: p, address: ADDR2, id: B });
      await reloaded;
      expect(accounts.getAccount(idFromHex(B))).toBeDefined();
    } finally {
      accounts.close();
    }
  });
});
