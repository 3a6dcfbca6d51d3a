/**
 * Account directories (ARCHITECTURE.md 2 and 3): a JSON file that is re-read when it changes,
 * and a JSON-RPC 2.0 `GetAccount` client with a short cache.
 */
import { EventEmitter } from 'node:events';
import { type FSWatcher, type Stats, unwatchFile, watch, watchFile } from 'node:fs';
import { chmod, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { normalizeAddress } from '@degas/auth-eth';
import { idEquals, idFromHex, idKey, idToHex, isId, randomId } from '@degas/proto';
import { isPlainObject } from './degas-directory.js';
import { GatewayError, type GatewayErrorCode } from './errors.js';
import { type Logger, silentLogger } from './logger.js';
import type { Account, AccountDirectory, EthereumSigner } from './types.js';

/** Why an account directory could not do its job (the gateway's {@link GatewayErrorCode}s). */
export type AccountDirectoryErrorCode = Extract<
  GatewayErrorCode,
  | 'ACCOUNTS_FILE_UNREADABLE'
  | 'ACCOUNTS_FILE_INVALID'
  | 'DUPLICATE_ACCOUNT_ID'
  | 'ACCOUNTS_RPC_UNAVAILABLE'
  | 'ACCOUNTS_RPC_INVALID_RESPONSE'
>;

/** An account file that cannot be read or parsed, or a JSON-RPC directory that failed. */
export class AccountDirectoryError extends GatewayError<AccountDirectoryErrorCode> {
  override name = 'AccountDirectoryError' as const;
}

// ---------------------------------------------------------------------------------------------
// File format

const ACCOUNT_KEYS = new Set(['id', 'signers']);
const SIGNER_KEYS = new Set(['type', 'address', 'disabled']);

/** The result of parsing an accounts file. */
export interface ParsedAccounts {
  /** Accounts by `idKey(id)`. */
  accounts: Map<string, Account>;
  /** Non-fatal findings (unknown signer types), one line each. */
  warnings: string[];
}

/**
 * Parses the accounts file format of ARCHITECTURE.md 3:
 * `{"accounts":[{"id":"0x…","signers":[{"type":"ethereum","address":"0x…","disabled":false}]}]}`.
 * Strict, because a typo here is a security problem (`"disable": true` must not leave a signer
 * enabled): unknown keys, duplicate ids, malformed ids or addresses (EIP-55 checked) are errors.
 * Signers of an unknown `type` are skipped with a warning, so files written for a newer gateway
 * still load. `disabled` defaults to false.
 * @example
 * const { accounts } = parseAccountsJson(text, 'accounts.json');
 */
export function parseAccountsJson(text: string, source = 'accounts file'): ParsedAccounts {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalid(`${source}: not valid JSON (${oneLine((err as Error).message)})`);
  }
  if (!isPlainObject(doc)) throw invalid(`${source}: must be a JSON object {"accounts":[…]}`);
  for (const key of Object.keys(doc)) {
    if (key !== 'accounts') throw invalid(`${source}: unknown key ${JSON.stringify(key)}`);
  }
  if (!Array.isArray(doc.accounts)) throw invalid(`${source}: "accounts" must be an array`);
  const accounts = new Map<string, Account>();
  const warnings: string[] = [];
  doc.accounts.forEach((entry: unknown, i: number) => {
    const where = `${source}: accounts[${i}]`;
    if (!isPlainObject(entry)) throw invalid(`${where} must be an object`);
    onlyKeys(entry, ACCOUNT_KEYS, where);
    const id = field(`${where}.id`, () => idFromHex(entry.id as string));
    const key = idKey(id);
    if (accounts.has(key)) {
      throw new AccountDirectoryError('DUPLICATE_ACCOUNT_ID', `${where}.id: duplicate account id ${idToHex(id)}`);
    }
    if (!Array.isArray(entry.signers)) throw invalid(`${where}.signers must be an array`);
    const signers: EthereumSigner[] = [];
    entry.signers.forEach((s: unknown, j: number) => {
      const sw = `${where}.signers[${j}]`;
      if (!isPlainObject(s)) throw invalid(`${sw} must be an object`);
      if (typeof s.type !== 'string') throw invalid(`${sw}.type must be a string such as "ethereum"`);
      if (s.type !== 'ethereum') {
        warnings.push(`${sw}: unknown signer type ${JSON.stringify(s.type.slice(0, 40))} ignored`);
        return;
      }
      onlyKeys(s, SIGNER_KEYS, sw);
      const address = field(`${sw}.address`, () => normalizeAddress(s.address as string));
      if (s.disabled !== undefined && typeof s.disabled !== 'boolean') {
        throw invalid(`${sw}.disabled must be true or false`);
      }
      signers.push(Object.freeze({ type: 'ethereum', address, disabled: s.disabled === true }));
    });
    accounts.set(key, Object.freeze({ id, signers: Object.freeze(signers) }));
  });
  return { accounts, warnings };
}

function invalid(message: string): AccountDirectoryError {
  return new AccountDirectoryError('ACCOUNTS_FILE_INVALID', message);
}

function onlyKeys(obj: object, allowed: ReadonlySet<string>, where: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) throw invalid(`${where}: unknown key ${JSON.stringify(key)}`);
  }
}

/** The value `parse` returns; its error becomes an invalid-file error naming `where`. */
function field<T>(where: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw invalid(`${where}: ${(err as Error).message}`);
  }
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

async function readAccountsFile(path: string): Promise<{ text: string; parsed: ParsedAccounts }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message);
    throw new AccountDirectoryError('ACCOUNTS_FILE_UNREADABLE', `cannot read ${path}: ${why}`, { cause: err });
  }
  return { text, parsed: parseAccountsJson(text, path) };
}

// ---------------------------------------------------------------------------------------------
// File directory

/** Options of {@link createFileAccountDirectory}. */
export interface FileAccountDirectoryOptions {
  /** Path of the JSON accounts file. Required. */
  path: string;
  /** Where reloads and rejected files are logged. Default: silent. */
  logger?: Logger;
  /** Re-read the file when it changes. Default true. */
  watch?: boolean;
  /** Quiet time after the last change event before re-reading, in ms. Default 100. */
  debounceMs?: number;
  /**
   * Interval of the stat-polling fallback (for file systems where change events are unreliable:
   * network mounts, some container volumes, Kubernetes ConfigMap symlink swaps), in ms. Default 2000.
   */
  pollIntervalMs?: number;
}

/** Events of a {@link FileAccountDirectory}. */
export interface FileAccountDirectoryEvents {
  /** A new version of the file was loaded. */
  reload: [info: { accounts: number }];
  /** A changed file was rejected; the previous version stays in use. */
  reloadError: [error: Error];
}

/** An account directory backed by a JSON file, re-read when it changes. */
export interface FileAccountDirectory extends AccountDirectory {
  /** Number of accounts loaded. */
  readonly size: number;
  getAccount(accountId: Uint8Array): Account | undefined;
  /** Re-reads the file now. Rejects (and keeps the previous version) when the file is bad. */
  reload(): Promise<void>;
  /** Stops watching. Idempotent. */
  close(): void;
  on<E extends keyof FileAccountDirectoryEvents>(
    event: E,
    listener: (...args: FileAccountDirectoryEvents[E]) => void,
  ): this;
  off<E extends keyof FileAccountDirectoryEvents>(
    event: E,
    listener: (...args: FileAccountDirectoryEvents[E]) => void,
  ): this;
  once<E extends keyof FileAccountDirectoryEvents>(
    event: E,
    listener: (...args: FileAccountDirectoryEvents[E]) => void,
  ): this;
}

/**
 * Loads the accounts file and keeps it current. Rejects with {@link AccountDirectoryError} when
 * the file is missing or invalid at start. Later, a change is picked up within `debounceMs`
 * (directory watch, robust to editors and tools that write a temp file and rename it over the
 * original) or within `pollIntervalMs` (stat polling fallback); a bad version is logged and the
 * previous good one stays in use. Lookups are one Map access.
 * @example
 * const accounts = await createFileAccountDirectory({ path: 'accounts.json', logger });
 * accounts.on('reload', ({ accounts: n }) => console.log(n, 'accounts'));
 * accounts.getAccount(id);
 */
export async function createFileAccountDirectory(options: FileAccountDirectoryOptions): Promise<FileAccountDirectory> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const { path } = options;
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string');
  const log = options.logger ?? silentLogger;
  const debounceMs = options.debounceMs ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  checkMs('debounceMs', debounceMs, 0);
  checkMs('pollIntervalMs', pollIntervalMs, 1);

  const first = await readAccountsFile(path);
  for (const w of first.parsed.warnings) log.warn('accounts file warning', { path, warning: w });
  let accounts = first.parsed.accounts;
  let lastText = first.text;

  const events = new EventEmitter();
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const load = async (force: boolean): Promise<void> => {
    let read: { text: string; parsed: ParsedAccounts };
    try {
      read = await readAccountsFile(path);
    } catch (err) {
      if (closed) return;
      log.error('accounts file rejected; keeping the previous version', {
        path,
        reason: (err as Error).message,
        accounts: accounts.size,
      });
      events.emit('reloadError', err);
      // A later identical text must be re-applied: the failure may have been a half-written file.
      lastText = '';
      throw err;
    }
    if (closed || (!force && read.text === lastText)) return;
    lastText = read.text;
    accounts = read.parsed.accounts;
    for (const w of read.parsed.warnings) log.warn('accounts file warning', { path, warning: w });
    log.info('accounts reloaded', { path, accounts: accounts.size });
    events.emit('reload', { accounts: accounts.size });
  };

  // One reload at a time; a change during a reload schedules exactly one more.
  const run = (force: boolean): Promise<void> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = load(force).finally(() => {
      running = undefined;
      if (again && !closed) {
        again = false;
        run(false).catch(() => {});
      }
    });
    return running;
  };

  const schedule = () => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      run(false).catch(() => {});
    }, debounceMs);
    timer.unref();
  };

  let watcher: FSWatcher | undefined;
  let polling = false;
  if (options.watch !== false) {
    const name = basename(path);
    try {
      // Watch the directory, not the file: a rename-replace gives the file a new inode, which a
      // watch on the file itself would never see again.
      watcher = watch(dirname(path), { persistent: false }, (_type, filename) => {
        if (filename === null || filename === name) schedule();
      });
      watcher.on('error', (err) => {
        log.warn('accounts file watch failed; relying on polling', { path, error: err.message });
        watcher?.close();
        watcher = undefined;
      });
    } catch (err) {
      log.warn('cannot watch the accounts file directory; relying on polling', { path, error: (err as Error).message });
    }
    watchFile(path, { persistent: false, interval: pollIntervalMs }, (cur: Stats, prev: Stats) => {
      if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) schedule();
    });
    polling = true;
  }

  const dir: FileAccountDirectory = {
    get size() {
      return accounts.size;
    },
    getAccount: (accountId) => (isId(accountId) ? accounts.get(idKey(accountId)) : undefined),
    reload: () => run(true),
    close: () => {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      watcher?.close();
      if (polling) unwatchFile(path);
      events.removeAllListeners();
    },
    on(event, listener) {
      events.on(event, listener as (...args: unknown[]) => void);
      return this;
    },
    off(event, listener) {
      events.off(event, listener as (...args: unknown[]) => void);
      return this;
    },
    once(event, listener) {
      events.once(event, listener as (...args: unknown[]) => void);
      return this;
    },
  };
  return dir;
}

function checkMs(name: string, v: unknown, min: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 2_147_483_647) {
    throw new RangeError(`${name} must be an integer from ${min} to 2147483647, got ${String(v)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC directory

/** Options of {@link createRpcAccountDirectory}. */
export interface RpcAccountDirectoryOptions {
  /** `http://` or `https://` URL of the JSON-RPC 2.0 endpoint. Required. */
  url: string;
  /** Per-request timeout, in ms. Default 2000. */
  timeoutMs?: number;
  /** How long an answer (found or not found) is reused, in ms; 0 = no cache. Default 5000. */
  cacheTtlMs?: number;
  /** Most cached answers; the oldest is evicted first. Default 100000. */
  maxCacheEntries?: number;
  /** Largest accepted response body, in bytes. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Extra HTTP headers (e.g. Authorization for the Leader Node). */
  headers?: Record<string, string>;
  /** Default: silent. */
  logger?: Logger;
}

/** JSON-RPC error codes that mean the call itself failed, not "no such account" (JSON-RPC 2.0 5.1). */
const RPC_FAILURE_CODES = new Set([-32700, -32600, -32601, -32603]);

/**
 * An account directory that asks the Leader Node: JSON-RPC 2.0
 * `{"method":"GetAccount","params":{"account":"0x…"}}` → `{"type":0,"identifier":"0x…","signers":
 * [{"type":0,"nonce":0,"disabled":false,"address":"0x…"}]}` (signer type 0 = Ethereum; other
 * types are skipped). A `null` result or an application JSON-RPC error means "no such account";
 * the protocol-level errors -32700, -32600, -32601 and -32603, an HTTP or network failure, a
 * timeout or a malformed answer reject with {@link AccountDirectoryError} (the login fails
 * with AUTH_FAIL either way; only metrics and logs tell them apart). Answers are cached for
 * `cacheTtlMs`; concurrent lookups of one id share one request.
 * @example
 * const accounts = createRpcAccountDirectory({ url: 'http://leader:8545/rpc' });
 * const account = await accounts.getAccount(id);
 */
export function createRpcAccountDirectory(options: RpcAccountDirectoryOptions): AccountDirectory & {
  getAccount(accountId: Uint8Array): Promise<Account | undefined>;
  close(): void;
} {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const url = options.url;
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url) || !URL.canParse(url)) {
    throw new TypeError(`url must be an http:// or https:// URL, got ${JSON.stringify(String(url).slice(0, 80))}`);
  }
  const timeoutMs = options.timeoutMs ?? 2000;
  const ttl = options.cacheTtlMs ?? 5000;
  const maxEntries = options.maxCacheEntries ?? 100_000;
  const maxBytes = options.maxResponseBytes ?? 1024 * 1024;
  checkMs('timeoutMs', timeoutMs, 1);
  checkMs('cacheTtlMs', ttl, 0);
  checkMs('maxCacheEntries', maxEntries, 0);
  checkMs('maxResponseBytes', maxBytes, 1);
  const log = options.logger ?? silentLogger;
  const headers = { 'content-type': 'application/json', accept: 'application/json', ...options.headers };

  const cache = new Map<string, { account: Account | undefined; expires: number }>();
  const inflight = new Map<string, Promise<Account | undefined>>();
  let nextId = 1;
  let closed = false;

  const remember = (key: string, account: Account | undefined) => {
    if (ttl === 0 || maxEntries === 0 || closed) return;
    cache.delete(key);
    // Map iteration order is insertion order, and every entry lives for the same ttl, so the
    // first key is the one that expires first.
    while (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(key, { account, expires: performance.now() + ttl });
  };

  const fetchAccount = async (accountId: Uint8Array): Promise<Account | undefined> => {
    const idText = idToHex(accountId);
    const rpcId = nextId++;
    if (nextId > Number.MAX_SAFE_INTEGER) nextId = 1;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id: rpcId, method: 'GetAccount', params: { account: idText } }),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      const e = err as Error;
      const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.message ?? String(err));
      throw new AccountDirectoryError('ACCOUNTS_RPC_UNAVAILABLE', `GetAccount ${idText} failed: ${why}`, {
        cause: err,
      });
    }
    let text: string;
    try {
      if (!res.ok) {
        await res.body?.cancel();
        throw new AccountDirectoryError('ACCOUNTS_RPC_UNAVAILABLE', `GetAccount ${idText} failed: HTTP ${res.status}`);
      }
      text = await readCapped(res, maxBytes, timeoutMs);
    } catch (err) {
      if (err instanceof AccountDirectoryError) throw err;
      const e = err as Error;
      const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : e.message;
      throw new AccountDirectoryError('ACCOUNTS_RPC_UNAVAILABLE', `GetAccount ${idText} failed: ${why}`, {
        cause: err,
      });
    }
    const bad = (why: string) =>
      new AccountDirectoryError('ACCOUNTS_RPC_INVALID_RESPONSE', `GetAccount ${idText}: ${why}`);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw bad('the response is not JSON');
    }
    if (!isPlainObject(doc) || doc.jsonrpc !== '2.0') throw bad('the response is not a JSON-RPC 2.0 object');
    if (doc.id !== rpcId) throw bad('the response id does not match the request');
    if (doc.error !== undefined && doc.error !== null) {
      const code = isPlainObject(doc.error) ? doc.error.code : undefined;
      if (typeof code === 'number' && RPC_FAILURE_CODES.has(code)) {
        throw new AccountDirectoryError(
          'ACCOUNTS_RPC_UNAVAILABLE',
          `GetAccount ${idText} failed: JSON-RPC error ${code}`,
        );
      }
      return undefined;
    }
    if (!('result' in doc)) throw bad('the response has neither result nor error');
    const result = doc.result;
    if (result === null) return undefined;
    if (!isPlainObject(result)) throw bad('result must be an object or null');
    if (result.type !== 0) throw bad(`unsupported account type ${JSON.stringify(result.type)}`);
    let ident: Uint8Array;
    try {
      ident = idFromHex(result.identifier as string);
    } catch (err) {
      throw bad(`identifier: ${(err as Error).message}`);
    }
    if (!idEquals(ident, accountId)) throw bad(`identifier ${idToHex(ident)} is not the account asked for`);
    if (!Array.isArray(result.signers)) throw bad('signers must be an array');
    const signers: EthereumSigner[] = [];
    result.signers.forEach((s: unknown, i: number) => {
      if (!isPlainObject(s) || typeof s.type !== 'number')
        throw bad(`signers[${i}] must be an object with a numeric type`);
      if (s.type !== 0) return; // not an Ethereum signer: this gateway cannot check it
      let address: string;
      try {
        address = normalizeAddress(s.address as string);
      } catch (err) {
        throw bad(`signers[${i}].address: ${(err as Error).message}`);
      }
      if (s.disabled !== undefined && typeof s.disabled !== 'boolean')
        throw bad(`signers[${i}].disabled must be a boolean`);
      signers.push(Object.freeze({ type: 'ethereum', address, disabled: s.disabled === true }));
    });
    return Object.freeze({ id: Uint8Array.from(accountId), signers: Object.freeze(signers) });
  };

  return {
    getAccount: (accountId) => {
      if (!isId(accountId)) return Promise.resolve(undefined);
      const key = idKey(accountId);
      const hit = cache.get(key);
      if (hit !== undefined) {
        if (hit.expires > performance.now()) return Promise.resolve(hit.account);
        cache.delete(key);
      }
      const pending = inflight.get(key);
      if (pending !== undefined) return pending;
      const p = fetchAccount(accountId).then(
        (account) => {
          inflight.delete(key);
          remember(key, account);
          return account;
        },
        (err: Error) => {
          inflight.delete(key);
          log.warn('account lookup failed', { accountId: idToHex(accountId), error: err.message });
          throw err;
        },
      );
      inflight.set(key, p);
      return p;
    },
    close: () => {
      closed = true;
      cache.clear();
    },
  };
}

async function readCapped(res: Response, maxBytes: number, timeoutMs: number): Promise<string> {
  const declared = res.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await res.body?.cancel();
    throw new AccountDirectoryError('ACCOUNTS_RPC_INVALID_RESPONSE', `the response is larger than ${maxBytes} bytes`);
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // The fetch timeout also covers the body, but keep a bound of our own in case it does not.
  const deadline = setTimeout(() => reader.cancel().catch(() => {}), timeoutMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel();
        throw new AccountDirectoryError(
          'ACCOUNTS_RPC_INVALID_RESPONSE',
          `the response is larger than ${maxBytes} bytes`,
        );
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(deadline);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// accounts add

/**
 * Adds an account with one enabled Ethereum signer to an accounts file (the CLI's
 * `accounts add`). Creates the file when it does not exist, generates a random id unless `id` is
 * given, refuses an id that is already there, and writes atomically (temp file + rename) so a
 * watching gateway never sees half a file. An address that already signs for another account
 * still gets a new account: one key may control several accounts. Concurrent calls on one file
 * are serialized with a `<file>.lock` file.
 * @example
 * const { id } = await addAccount({ path: 'accounts.json', address: '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23' });
 */
export async function addAccount(options: {
  path: string;
  address: string;
  id?: string | Uint8Array;
}): Promise<{ id: string; created: boolean }> {
  const { path } = options;
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string');
  const address = normalizeAddress(options.address);
  const id =
    options.id === undefined ? randomId() : typeof options.id === 'string' ? idFromHex(options.id) : options.id;
  if (!isId(id)) throw new TypeError('id must be 16 bytes');
  const hex = idToHex(id);

  const release = await lock(`${path}.lock`);
  try {
    let doc: { accounts: unknown[] };
    let created = false;
    let mode: number | undefined;
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
      mode = (await stat(path)).mode & 0o777;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new AccountDirectoryError(
          'ACCOUNTS_FILE_UNREADABLE',
          `cannot read ${path}: ${(err as NodeJS.ErrnoException).code}`,
        );
      }
    }
    if (text === undefined) {
      doc = { accounts: [] };
      created = true;
    } else {
      const parsed = parseAccountsJson(text, path);
      if (parsed.accounts.has(idKey(id))) {
        throw new AccountDirectoryError('DUPLICATE_ACCOUNT_ID', `${path}: account ${hex} already exists`);
      }
      doc = JSON.parse(text) as { accounts: unknown[] };
    }
    doc.accounts.push({ id: hex, signers: [{ type: 'ethereum', address, disabled: false }] });
    await writeAtomic(path, `${JSON.stringify(doc, null, 2)}\n`, mode);
    return { id: hex, created };
  } finally {
    await release();
  }
}

async function writeAtomic(path: string, text: string, mode: number | undefined): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await open(tmp, 'wx', mode ?? 0o644);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (mode !== undefined) await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

async function lock(lockPath: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      await fh.close();
      return () => unlink(lockPath).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() > deadline) {
        throw new AccountDirectoryError(
          'ACCOUNTS_FILE_UNREADABLE',
          `${lockPath} exists: another "accounts add" is running, or remove the stale lock file`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
