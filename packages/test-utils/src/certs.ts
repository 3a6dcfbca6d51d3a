/**
 * Test certificates made with Debian's `openssl` command: a private CA and server certificates
 * it signs for 127.0.0.1 and localhost, so TLS tests verify the chain as a real client would
 * (no `rejectUnauthorized: false`).
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key, PEM, with the files they were written to. */
export interface TestCertificate {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
  /** SHA-256 fingerprint as Node prints it (`AB:CD:…`), to tell two certificates apart. */
  fingerprint256: string;
}

/** A test CA that signs server certificates; `close()` deletes its directory. */
export interface TestCa {
  /** The CA certificate (PEM): what a client trusts. */
  certPem: string;
  certFile: string;
  /** Directory holding every file made by this CA. */
  dir: string;
  /**
   * A new server certificate (and a new key) for `hosts` (default 127.0.0.1 and localhost),
   * valid for `days` (default 2), written as `name.crt` / `name.key` in {@link dir}.
   */
  issue(
    name: string,
    options?: { hosts?: readonly string[]; days?: number; commonName?: string },
  ): Promise<TestCertificate>;
  close(): Promise<void>;
}

function openssl(args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args[0]} failed: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

/**
 * Creates a private CA (EC P-256, self-signed) in a new temporary directory.
 * @example
 * const ca = await createTestCa();
 * const server = await ca.issue('gateway');
 * // startGateway({ tls: { certFile: server.certFile, keyFile: server.keyFile }, ... })
 * // new WebSocket(url, { ca: ca.certPem })
 * await ca.close();
 */
export async function createTestCa(): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'degas-ca-'));
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-sha256',
      '-days',
      '2',
      '-subj',
      '/CN=Degas Test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  const certFile = join(dir, 'ca.crt');
  const certPem = await readFile(certFile, 'utf8');
  let serial = 1;
  return {
    certPem,
    certFile,
    dir,
    async issue(name, options = {}) {
      if (!/^[a-z0-9-]+$/i.test(name)) throw new RangeError(`certificate name must be [a-z0-9-]+, got ${name}`);
      const hosts = options.hosts ?? ['127.0.0.1', 'localhost'];
      const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
      const ext = join(dir, `${name}.ext`);
      await writeFile(
        ext,
        [
          `subjectAltName=${san}`,
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth',
          '',
        ].join('\n'),
      );
      await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
      await openssl(
        ['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${options.commonName ?? name}`, '-out', `${name}.csr`],
        dir,
      );
      await openssl(
        [
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-set_serial',
          String(serial++),
          '-days',
          String(options.days ?? 2),
          '-sha256',
          '-extfile',
          ext,
          '-out',
          `${name}.crt`,
        ],
        dir,
      );
      const certFile = join(dir, `${name}.crt`);
      const keyFile = join(dir, `${name}.key`);
      const certPem = await readFile(certFile, 'utf8');
      return {
        certPem,
        keyPem: await readFile(keyFile, 'utf8'),
        certFile,
        keyFile,
        fingerprint256: new X509Certificate(certPem).fingerprint256,
      };
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
