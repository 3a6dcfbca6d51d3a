import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { privateKeyToAddress } from '@degas/auth-eth';
import { type BinRun, runGatewayBin } from '@degas/test-utils';

// The real command, as users run it (built by `pnpm run build` before the tests).
const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/bin.js');
const PKG = JSON.parse(await readFile(resolve(dirname(fileURLToPath(import.meta.url)), '../package.json'), 'utf8')) as {
  version: string;
};
const ADDR1 = privateKeyToAddress(`0x${'33'.repeat(32)}`);
const ADDR2 = privateKeyToAddress(`0x${'44'.repeat(32)}`);

/** Runs the bin to completion with only PATH and `env` in its environment. */
function run(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<BinRun> {
  return runGatewayBin(args, { env, bin: BIN, ...(cwd === undefined ? {} : { cwd }) });
}

let dir: string;
beforeAll(async () => {
  expect(existsSync(BIN)).toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'degas-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('degas-gateway bin', () => {
  test('--help prints every flag with defaults, exit 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const flag of [
      '--config',
      '--port',
      '--admin-port',
      '--accounts',
      '--accounts-rpc',
      '--degas',
      '--degas-file',
      '--degas-url-template',
      '--internal-token',
      '--auth-domain',
      '--auth-message',
      '--hello-timeout-ms',
      '--auth-timeout-ms',
      '--ping-interval-ms',
      '--rate-limit',
      '--max-connections',
      '--allowed-origin',
      '--admin-token',
      '--log-level',
      '--version',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${flag} `, 'm'));
    }
    expect(r.stdout).toContain('(default 8080)');
    expect(r.stdout).toContain('accounts add --address');
  });

  test('--version prints the package version, exit 0', async () => {
    const r = await run(['--version']);
    expect(r).toEqual({ code: 0, stdout: `${PKG.version}\n`, stderr: '' });
  });

  test.each<[string, string[], NodeJS.ProcessEnv, RegExp]>([
    ['an unknown flag', ['--bogus'], {}, /^degas-gateway: unknown option --bogus \(see --help\)\n$/],
    [
      'a malformed id',
      ['--degas', '0xabc=ws://a'],
      {},
      /^degas-gateway: --degas: "0xabc=ws:\/\/a": an id must be "0x" followed by 32 hex digits/,
    ],
    ['a bad URL', ['--degas', `0x${'ab'.repeat(16)}=http://a`], {}, /^degas-gateway: --degas: .*ws:\/\/ or wss:\/\//],
    ['a non-integer', ['--rate-limit', 'lots'], {}, /^degas-gateway: --rate-limit: expected an integer/],
    ['an out-of-range port', ['--port', '99999'], {}, /^degas-gateway: --port: expected an integer from 0 to 65535/],
    [
      'an env value',
      [],
      { DEGAS_MAX_CONNECTIONS: '0' },
      /^degas-gateway: DEGAS_MAX_CONNECTIONS \(--max-connections\): /,
    ],
    [
      'a missing accounts file',
      ['--accounts', '/nonexistent/accounts.json'],
      {},
      /^degas-gateway: --accounts: cannot read \/nonexistent\/accounts\.json: no such file/,
    ],
    ['an unreadable config file', ['--config', '/nonexistent/c.json'], {}, /^degas-gateway: --config: cannot read/],
  ])('%s → exit 2 with a one-line reason on stderr', async (_name, args, env, why) => {
    const r = await run(args, env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(why);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  test('an invalid accounts file → exit 2', async () => {
    const p = join(dir, 'invalid.json');
    await writeFile(p, '{"accounts":[{"id":"0x00","signers":[]}]}');
    const r = await run(['--accounts', p]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^degas-gateway: --accounts: .*accounts\[0\]\.id: an id must be/);
  });

  test('a port already in use → exit 2', async () => {
    const { createServer } = await import('node:net');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    const p = join(dir, 'inuse-accounts.json');
    await writeFile(p, '{"accounts":[]}');
    try {
      const r = await run([
        '--accounts',
        p,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--admin-port',
        '0',
        '--verifier',
        'noble',
        '--verifier-threads',
        '1',
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/degas-gateway: cannot start: .*EADDRINUSE/);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  test('accounts add creates the file, prints only the id; a second add appends', async () => {
    const p = join(dir, 'accounts.json');
    const first = await run(['accounts', 'add', '--address', ADDR1, '--accounts', p]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^0x[0-9a-f]{32}\n$/);
    expect(first.stderr).toContain('created');
    const id1 = first.stdout.trim();
    const second = await run([
      'accounts',
      'add',
      `--address=${ADDR2}`,
      `--accounts=${p}`,
      '--id',
      `0x${'AB'.repeat(16)}`,
    ]);
    expect(second).toEqual({ code: 0, stdout: `0x${'ab'.repeat(16)}\n`, stderr: '' });
    expect(JSON.parse(await readFile(p, 'utf8'))).toEqual({
      accounts: [
        { id: id1, signers: [{ type: 'ethereum', address: ADDR1.toLowerCase(), disabled: false }] },
        { id: `0x${'ab'.repeat(16)}`, signers: [{ type: 'ethereum', address: ADDR2.toLowerCase(), disabled: false }] },
      ],
    });
    // DEGAS_ACCOUNTS names the file too; the default is ./accounts.json in the working directory.
    const third = await run(['accounts', 'add', '--address', ADDR1], { DEGAS_ACCOUNTS: p });
    expect(third.code).toBe(0);
    const fourth = await run(['accounts', 'add', '--address', ADDR1], {}, dir);
    expect(fourth.code).toBe(0);
    expect((JSON.parse(await readFile(p, 'utf8')) as { accounts: unknown[] }).accounts).toHaveLength(4);
  });

  test.each<[string, string[], RegExp]>([
    ['no address', ['accounts', 'add'], /--address is required/],
    ['a bad address', ['accounts', 'add', '--address', '0x123'], /accounts add: --address: /],
    ['a bad id', ['accounts', 'add', '--address', ADDR1, '--id', '0x12'], /accounts add: --id: /],
    ['an unknown option', ['accounts', 'add', '--adress', ADDR1], /unknown option "--adress"/],
    ['an unknown subcommand', ['accounts', 'remove'], /unknown subcommand "remove"/],
  ])('accounts add with %s → exit 2', async (_name, args, why) => {
    const r = await run([...args, '--accounts', join(dir, 'errors.json')]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(why);
    expect(existsSync(join(dir, 'errors.json'))).toBe(false);
  });

  test('--verifier native where the libsecp256k1 addon does not load → one line, exit 2', async () => {
    // The addon is made unloadable for this process only: a preload that fails its require.
    const block = join(dir, 'no-native-secp256k1.cjs');
    await writeFile(
      block,
      `const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'secp256k1/bindings') throw new Error('blocked by the test');
  return load.call(this, request, ...rest);
};
`,
    );
    const accounts = join(dir, 'verifier-accounts.json');
    expect((await run(['accounts', 'add', '--address', ADDR1, '--accounts', accounts])).code).toBe(0);
    const r = await run(['--accounts', accounts, '--port', '0', '--admin-port', 'off', '--verifier', 'native'], {
      NODE_OPTIONS: `--require ${block}`,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'degas-gateway: cannot start: verifier "native" requested but the secp256k1 native binding does not load (choose "auto" or "noble")\n',
    );
  });

  test('accounts add refuses a duplicate id with exit 2 and leaves the file alone', async () => {
    const p = join(dir, 'dup.json');
    const id = `0x${'cd'.repeat(16)}`;
    expect((await run(['accounts', 'add', '--address', ADDR1, '--accounts', p, '--id', id])).code).toBe(0);
    const before = await readFile(p, 'utf8');
    const r = await run(['accounts', 'add', '--address', ADDR2, '--accounts', p, '--id', id]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--id: .*already exists/);
    expect(await readFile(p, 'utf8')).toBe(before);
  });
});
