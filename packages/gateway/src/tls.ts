/**
 * TLS for the gateway's own listeners (`--tls-cert`/`--tls-key`): the certificate and key files,
 * checked at start and reloaded when they change (certificate renewals), through
 * `tls.Server.setSecureContext`, so established connections keep their session and only new
 * handshakes see the new certificate.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type FSWatcher, type Stats, unwatchFile, watch, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { createSecureContext, type TlsOptions, type Server as TlsServer } from 'node:tls';
import { GatewayError } from './errors.js';
import { type Logger, silentLogger } from './logger.js';

/** Oldest TLS version accepted. */
export const TLS_MIN_VERSION = 'TLSv1.2';
/** ALPN protocols offered: WebSocket upgrades are HTTP/1.1 requests. */
export const TLS_ALPN_PROTOCOLS: readonly string[] = ['http/1.1'];

/** Which of the two files a {@link TlsFileError} is about (`pair`: they do not belong together). */
export type TlsFileProblem = 'cert' | 'key' | 'pair';

/**
 * A certificate or key file that is missing, unreadable, invalid, or does not match the other
 * (code `TLS_FILE_INVALID`; `problem` says which file).
 */
export class TlsFileError extends GatewayError<'TLS_FILE_INVALID'> {
  override name = 'TlsFileError' as const;
  constructor(
    readonly problem: TlsFileProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('TLS_FILE_INVALID', message, options);
  }
}

/** A validated certificate (chain) and key, PEM. */
export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Expiry of the leaf certificate (ms since the epoch). */
  readonly notAfter: number;
  /** SHA-256 fingerprint of the leaf certificate (`AB:CD:…`). */
  readonly fingerprint256: string;
  /** Subject of the leaf certificate, one line. */
  readonly subject: string;
}

async function readPem(path: string, what: TlsFileProblem): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
    throw new TlsFileError(what, `cannot read ${path}: ${why}`, { cause: err });
  }
}

function short(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/^error:[0-9A-F]+:/i, '').slice(0, 200);
}

/**
 * Reads and checks a certificate file (PEM, leaf first, then any intermediates) and its private
 * key file (PEM, unencrypted). Throws {@link TlsFileError} when a file is missing or unreadable,
 * is not PEM of the right kind, or when the key does not belong to the certificate.
 * @example
 * const pair = await loadTlsPair('/etc/degas/tls.crt', '/etc/degas/tls.key');
 * console.log(new Date(pair.notAfter).toISOString());
 */
export async function loadTlsPair(certFile: string, keyFile: string): Promise<TlsPair> {
  const [cert, key] = await Promise.all([readPem(certFile, 'cert'), readPem(keyFile, 'key')]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsFileError('cert', `${certFile} is not a PEM certificate (${short(err)})`, { cause: err });
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsFileError('key', `${keyFile} is not an unencrypted PEM private key (${short(err)})`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsFileError('pair', `the key in ${keyFile} does not belong to the certificate in ${certFile}`);
  }
  try {
    // What the server will do with them; catches what the checks above let through.
    createSecureContext({ cert, key, minVersion: TLS_MIN_VERSION });
  } catch (err) {
    throw new TlsFileError('pair', `${certFile} and ${keyFile} are not a usable pair (${short(err)})`, { cause: err });
  }
  return {
    cert,
    key,
    notAfter: Date.parse(x509.validTo),
    fingerprint256: x509.fingerprint256,
    subject: x509.subject.replace(/\n/g, ', '),
  };
}

/** Options of {@link openTlsFiles}. */
export interface TlsFilesOptions {
  /** Certificate file (PEM: leaf, then intermediates). */
  certFile: string;
  /** Private key file (PEM, unencrypted). */
  keyFile: string;
  /** Reload logs. Default: silent. */
  logger?: Logger;
  /** Watch the files and reload on change. Default true. */
  watch?: boolean;
  /** Quiet time after a change before reloading (a renewal writes two files). Default 200 ms. */
  debounceMs?: number;
  /** Polling interval backing the directory watch (symlink swaps, network file systems). Default 2000 ms. */
  pollIntervalMs?: number;
}

/** Events of {@link TlsFiles}. */
export interface TlsFilesEvents {
  /** A new pair is in use by every attached server. */
  reload: [pair: TlsPair];
  /** A changed pair was refused; the previous one stays in use. */
  reloadError: [error: TlsFileError];
}

/**
 * The certificate and key files of the gateway's TLS listeners, kept in sync with the servers
 * attached to it. Changes are picked up by a directory watch plus a stat poll; a pair that fails
 * {@link loadTlsPair} is refused and logged, and the previous one stays in use.
 */
export interface TlsFiles extends EventEmitter<TlsFilesEvents> {
  readonly certFile: string;
  readonly keyFile: string;
  /** The pair in use. */
  readonly current: TlsPair;
  /** Successful reloads since start. */
  readonly reloads: number;
  /** Refused reloads since start. */
  readonly reloadFailures: number;
  /** Options for `https.createServer` / `tls.createServer`: the pair, TLS 1.2 minimum, ALPN http/1.1. */
  serverOptions(): TlsOptions;
  /** Makes `server` follow reloads (`setSecureContext`). */
  attach(server: TlsServer): void;
  /** Reads the files now; resolves true if a new pair was installed. Never rejects. */
  reload(): Promise<boolean>;
  /** Stops watching. Idempotent. */
  close(): void;
}

/**
 * Loads the pair (throwing {@link TlsFileError} if it is unusable) and starts watching the files.
 * @example
 * const files = await openTlsFiles({ certFile, keyFile, logger });
 * const server = https.createServer(files.serverOptions());
 * files.attach(server);
 */
export async function openTlsFiles(options: TlsFilesOptions): Promise<TlsFiles> {
  const { certFile, keyFile } = options;
  if (typeof certFile !== 'string' || certFile === '') throw new TypeError('tls.certFile must be a file path');
  if (typeof keyFile !== 'string' || keyFile === '') throw new TypeError('tls.keyFile must be a file path');
  const debounceMs = options.debounceMs ?? 200;
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  for (const [name, v] of [
    ['debounceMs', debounceMs],
    ['pollIntervalMs', pollIntervalMs],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 3_600_000) throw new RangeError(`${name} must be 0 to 3600000 ms`);
  }
  const log = (options.logger ?? silentLogger).child({ component: 'tls' });
  let current = await loadTlsPair(certFile, keyFile);
  const servers = new Set<TlsServer>();
  const events = new EventEmitter<TlsFilesEvents>();
  let reloads = 0;
  let reloadFailures = 0;
  let closed = false;

  const load = async (): Promise<boolean> => {
    let next: TlsPair;
    try {
      next = await loadTlsPair(certFile, keyFile);
    } catch (err) {
      const e = err instanceof TlsFileError ? err : new TlsFileError('pair', short(err), { cause: err });
      // Unchanged bytes that fail now (e.g. a half-written renewal) are still refused.
      reloadFailures++;
      log.warn('tls certificate reload refused; keeping the previous certificate', {
        error: e.message,
        fingerprint: current.fingerprint256,
      });
      events.emit('reloadError', e);
      return false;
    }
    if (next.cert.equals(current.cert) && next.key.equals(current.key)) return false;
    for (const server of servers) server.setSecureContext({ cert: next.cert, key: next.key });
    current = next;
    reloads++;
    log.info('tls certificate reloaded', {
      subject: next.subject,
      fingerprint: next.fingerprint256,
      not_after: new Date(next.notAfter).toISOString(),
    });
    events.emit('reload', next);
    return true;
  };

  // One load at a time; a change during a load schedules exactly one more.
  let running: Promise<boolean> | undefined;
  let again = false;
  const run = (): Promise<boolean> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      let changed = false;
      do {
        again = false;
        changed = (await load()) || changed;
      } while (again && !closed);
      running = undefined;
      return changed;
    })();
    return running;
  };

  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void run(), debounceMs);
    timer.unref();
  };

  const onStat = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.ino !== prev.ino || cur.size !== prev.size) schedule();
  };
  const watchers: FSWatcher[] = [];
  const polled = [...new Set([certFile, keyFile])];
  if (options.watch !== false) {
    // Watch the directories, not the files: renewals usually write a new file and rename it over
    // the old one (or swap a symlink, as Kubernetes secret volumes do), which a watch on the file
    // itself would never see again. Any event in the directory leads to a read and a compare.
    const names = new Set([basename(certFile), basename(keyFile)]);
    for (const dir of new Set([dirname(certFile), dirname(keyFile)])) {
      try {
        const w = watch(dir, { persistent: false }, (_type, filename) => {
          if (filename === null || names.has(filename) || filename.startsWith('..')) schedule();
        });
        w.on('error', (err) => {
          log.warn('tls file watch failed; relying on polling', { dir, error: err.message });
          w.close();
        });
        watchers.push(w);
      } catch (err) {
        log.warn('cannot watch the tls file directory; relying on polling', { dir, error: (err as Error).message });
      }
    }
    for (const file of polled) watchFile(file, { persistent: false, interval: pollIntervalMs }, onStat);
  }

  const files = Object.assign(events, {
    certFile,
    keyFile,
    serverOptions: (): TlsOptions => ({
      cert: current.cert,
      key: current.key,
      minVersion: TLS_MIN_VERSION,
      ALPNProtocols: [...TLS_ALPN_PROTOCOLS],
    }),
    attach: (server: TlsServer) => {
      servers.add(server);
      server.once('close', () => servers.delete(server));
    },
    reload: () => run(),
    close: () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      for (const w of watchers) w.close();
      for (const file of polled) unwatchFile(file, onStat);
      servers.clear();
    },
  });
  Object.defineProperties(files, {
    current: { get: () => current, enumerable: true },
    reloads: { get: () => reloads, enumerable: true },
    reloadFailures: { get: () => reloadFailures, enumerable: true },
  });
  return files as TlsFiles;
}
