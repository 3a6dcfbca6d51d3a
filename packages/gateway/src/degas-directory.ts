/**
 * Degas directories (ARCHITECTURE.md 2): where the gateway finds the Degas instance behind an id.
 * Static entries (flags, `--degas-file`, admin registrations), a URL template for DNS-based
 * deployments, and a chain that asks several directories in order.
 */
import { readFile } from 'node:fs/promises';
import { idFromHex, idKey, idToHex, isId, toId } from '@degas/proto';
import { GatewayError } from './errors.js';
import type { DegasDirectory, DegasEndpoint, MutableDegasDirectory } from './types.js';

/** One Degas entry as written in flags, files and the admin API. */
export interface DegasEntry {
  /** 16-byte id, or its text form `0x` + 32 hex digits. */
  readonly id: Uint8Array | string;
  /** `ws://` or `wss://` URL of the Degas message port. */
  readonly url: string;
  /** Bearer token presented to this Degas; the gateway-wide internal token is used when absent. */
  readonly token?: string | undefined;
}

const MAX_URL_LENGTH = 2048;
const MAX_TOKEN_LENGTH = 4096;

/**
 * Checks that `url` is a usable WebSocket URL for an internal connection and returns it
 * unchanged. Only `ws://` and `wss://` are accepted (written out: `ws:/host` is refused even
 * though WHATWG URL parsing would repair it), with a host, without credentials (tokens go in the
 * Authorization header, never in URLs that end up in logs) and without a fragment (RFC 6455 3).
 * Throws a TypeError whose one-line message says what is wrong.
 * @example
 * validateDegasUrl('ws://127.0.0.1:7000'); // 'ws://127.0.0.1:7000'
 * validateDegasUrl('http://x'); // throws TypeError: URL must start with ws:// or wss://, got "http://x"
 */
export function validateDegasUrl(url: unknown): string {
  if (typeof url !== 'string') throw new TypeError(`URL must be a string, got ${url === null ? 'null' : typeof url}`);
  const shown = show(url);
  if (url.length === 0) throw new TypeError('URL must not be empty');
  if (url.length > MAX_URL_LENGTH) throw new TypeError(`URL must be at most ${MAX_URL_LENGTH} characters`);
  if (!/^wss?:\/\//i.test(url)) throw new TypeError(`URL must start with ws:// or wss://, got ${shown}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`URL is not valid: ${shown}`);
  }
  if (parsed.hostname === '') throw new TypeError(`URL has no host: ${shown}`);
  if (parsed.username !== '' || parsed.password !== '') {
    throw new TypeError(`URL must not contain credentials (use a token): ${show(redact(url))}`);
  }
  if (url.includes('#')) throw new TypeError(`URL must not contain a fragment: ${shown}`);
  return url;
}

/**
 * Checks a bearer token: 1 to 4096 visible ASCII characters (no spaces or control characters,
 * which would break or smuggle HTTP headers). Throws a TypeError that never contains the token.
 * @example
 * validateToken('s3cret'); // 's3cret'
 */
export function validateToken(token: unknown): string {
  if (typeof token !== 'string')
    throw new TypeError(`token must be a string, got ${token === null ? 'null' : typeof token}`);
  if (token.length === 0) throw new TypeError('token must not be empty');
  if (token.length > MAX_TOKEN_LENGTH) throw new TypeError(`token must be at most ${MAX_TOKEN_LENGTH} characters`);
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new TypeError('token must contain only visible ASCII characters (no spaces or control characters)');
  }
  return token;
}

/** Whether a Degas directory accepts registrations (the admin API's PUT/DELETE). */
export function isMutableDegasDirectory(dir: DegasDirectory | undefined): dir is MutableDegasDirectory {
  return (
    dir !== undefined &&
    typeof (dir as Partial<MutableDegasDirectory>).register === 'function' &&
    typeof (dir as Partial<MutableDegasDirectory>).unregister === 'function' &&
    typeof (dir as Partial<MutableDegasDirectory>).list === 'function'
  );
}

function endpointOf(url: unknown, token: unknown): DegasEndpoint {
  const checkedUrl = validateDegasUrl(url);
  if (token === undefined) return Object.freeze({ url: checkedUrl });
  return Object.freeze({ url: checkedUrl, token: validateToken(token) });
}

/**
 * An in-memory Degas directory: the entries given, plus any registered later (admin API).
 * Lookups are O(1). Ids and URLs are validated at once (TypeError/InvalidIdError).
 * @example
 * const degas = createStaticDegasDirectory([{ id: '0x00112233445566778899aabbccddeeff', url: 'ws://127.0.0.1:7000' }]);
 * degas.register(otherId, { url: 'ws://10.0.0.7:7000', token: 'secret' });
 */
export function createStaticDegasDirectory(entries: Iterable<DegasEntry> = []): MutableDegasDirectory {
  const map = new Map<string, { id: Uint8Array; endpoint: DegasEndpoint }>();
  const register = (degasId: Uint8Array | string, endpoint: DegasEndpoint): void => {
    const id = Uint8Array.from(toId(degasId));
    if (endpoint === null || typeof endpoint !== 'object') throw new TypeError('endpoint must be an object');
    map.set(idKey(id), { id, endpoint: endpointOf(endpoint.url, endpoint.token) });
  };
  for (const entry of entries) {
    if (entry === null || typeof entry !== 'object') throw new TypeError('each Degas entry must be an object');
    register(entry.id, { url: entry.url, ...(entry.token === undefined ? {} : { token: entry.token }) });
  }
  return {
    resolve: (degasId) => (isId(degasId) ? map.get(idKey(degasId))?.endpoint : undefined),
    register,
    unregister: (degasId) => isId(degasId) && map.delete(idKey(degasId)),
    list: () => [...map.values()].map(({ id, endpoint }) => ({ id: Uint8Array.from(id), endpoint })),
  };
}

/**
 * A directory that computes the URL from the id: every `{id}` in `template` is replaced by the
 * id as 32 lowercase hex digits **without** `0x` (DNS labels are limited to 63 characters of
 * letters, digits and hyphens, so the bare hex fits in one label). The template must contain
 * `{id}` and give a valid `ws://`/`wss://` URL. Every id resolves, so put it last in a chain.
 * @example
 * const dir = createTemplateDegasDirectory('ws://degas-{id}.games.svc:7000');
 * dir.resolve(id); // { url: 'ws://degas-00112233445566778899aabbccddeeff.games.svc:7000' }
 */
export function createTemplateDegasDirectory(template: string, options: { token?: string } = {}): DegasDirectory {
  if (typeof template !== 'string') throw new TypeError('URL template must be a string');
  if (!template.includes('{id}')) throw new TypeError(`URL template must contain {id}, got ${show(template)}`);
  try {
    validateDegasUrl(fill(template, '0'.repeat(32)));
  } catch (err) {
    throw new TypeError(`URL template ${show(template)}: ${(err as Error).message}`);
  }
  const token = options.token === undefined ? undefined : validateToken(options.token);
  return {
    resolve: (degasId) => {
      if (!isId(degasId)) return undefined;
      const url = fill(template, idKey(degasId));
      return token === undefined ? { url } : { url, token };
    },
  };
}

function fill(template: string, hex: string): string {
  return template.split('{id}').join(hex);
}

type Resolved = DegasEndpoint | undefined;

/**
 * Asks `dirs` in order; the first one that resolves an id wins. Registrations (`register`,
 * `unregister`, `list`) go to the first mutable directory in the list; the chain is mutable
 * (see {@link isMutableDegasDirectory}) exactly when one of `dirs` is. `close()` closes all.
 * @example
 * const degas = chainDegasDirectories(createStaticDegasDirectory(), createTemplateDegasDirectory('ws://degas-{id}:7000'));
 */
export function chainDegasDirectories(...dirs: DegasDirectory[]): DegasDirectory {
  for (const d of dirs) {
    if (d === null || typeof d !== 'object' || typeof d.resolve !== 'function') {
      throw new TypeError('every Degas directory must have a resolve(id) method');
    }
  }
  const resolveFrom = (i: number, degasId: Uint8Array): Resolved | Promise<Resolved> => {
    for (; i < dirs.length; i++) {
      const r = dirs[i]!.resolve(degasId);
      if (r instanceof Promise) {
        const next = i + 1;
        return r.then((v) => (v !== undefined ? v : resolveFrom(next, degasId)));
      }
      if (r !== undefined) return r;
    }
    return undefined;
  };
  const chain: DegasDirectory = {
    resolve: (degasId) => resolveFrom(0, degasId),
    close: async () => {
      await Promise.all(dirs.map((d) => d.close?.()));
    },
  };
  const mutable = dirs.find(isMutableDegasDirectory);
  if (mutable === undefined) return chain;
  const out: MutableDegasDirectory = {
    ...chain,
    register: (degasId, endpoint) => mutable.register(degasId, endpoint),
    unregister: (degasId) => mutable.unregister(degasId),
    list: () => mutable.list(),
  };
  return out;
}

/**
 * A `--degas-file` that cannot be read (`DEGAS_FILE_UNREADABLE`) or does not follow the format
 * (`DEGAS_FILE_INVALID`).
 */
export class DegasFileError extends GatewayError<'DEGAS_FILE_UNREADABLE' | 'DEGAS_FILE_INVALID'> {
  override name = 'DegasFileError' as const;
}

function invalidDegasFile(message: string): DegasFileError {
  return new DegasFileError('DEGAS_FILE_INVALID', message);
}

/**
 * Reads a Degas file: `{"degas":[{"id":"0x…","url":"ws://…","token":"…"}]}` (`token` optional).
 * Strict: unknown keys, duplicate ids, bad ids and non-WebSocket URLs are errors
 * ({@link DegasFileError}, one line, naming the entry).
 * @example
 * const entries = await loadDegasFile('degas.json');
 * const degas = createStaticDegasDirectory(entries);
 */
export async function loadDegasFile(path: string): Promise<{ id: Uint8Array; url: string; token?: string }[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DegasFileError(
      'DEGAS_FILE_UNREADABLE',
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  return parseDegasJson(text, path);
}

/** Parses the text of a Degas file; see {@link loadDegasFile}. */
export function parseDegasJson(text: string, source = 'Degas file'): { id: Uint8Array; url: string; token?: string }[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalidDegasFile(`${source}: not valid JSON (${oneLine((err as Error).message)})`);
  }
  if (!isPlainObject(doc)) throw invalidDegasFile(`${source}: must be a JSON object {"degas":[…]}`);
  for (const key of Object.keys(doc)) {
    if (key !== 'degas') throw invalidDegasFile(`${source}: unknown key ${JSON.stringify(key)}`);
  }
  if (!Array.isArray(doc.degas)) throw invalidDegasFile(`${source}: "degas" must be an array`);
  const seen = new Set<string>();
  return doc.degas.map((entry: unknown, i: number) => {
    const where = `${source}: degas[${i}]`;
    if (!isPlainObject(entry)) throw invalidDegasFile(`${where} must be an object`);
    for (const key of Object.keys(entry)) {
      if (key !== 'id' && key !== 'url' && key !== 'token') {
        throw invalidDegasFile(`${where}: unknown key ${JSON.stringify(key)}`);
      }
    }
    let id: Uint8Array;
    try {
      id = idFromHex(entry.id as string);
    } catch (err) {
      throw invalidDegasFile(`${where}.id: ${(err as Error).message}`);
    }
    if (seen.has(idKey(id))) throw invalidDegasFile(`${where}.id: duplicate id ${idToHex(id)}`);
    seen.add(idKey(id));
    let url: string;
    try {
      url = validateDegasUrl(entry.url);
    } catch (err) {
      throw invalidDegasFile(`${where}.url: ${(err as Error).message}`);
    }
    if (entry.token === undefined) return { id, url };
    try {
      return { id, url, token: validateToken(entry.token) };
    } catch (err) {
      throw invalidDegasFile(`${where}.token: ${(err as Error).message}`);
    }
  });
}

/**
 * Parses the `0xID=URL` form of `--degas`. Throws a TypeError naming what is wrong.
 * @example
 * parseDegasSpec('0x00112233445566778899aabbccddeeff=ws://127.0.0.1:7000');
 */
export function parseDegasSpec(spec: string): { id: Uint8Array; url: string } {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new TypeError(`expected 0xID=URL, got ${show(spec)}`);
  const id = idFromHex(spec.slice(0, eq));
  return { id, url: validateDegasUrl(spec.slice(eq + 1)) };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A value for an error message: JSON-quoted, one line, at most ~80 characters. */
export function show(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(cut);
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
