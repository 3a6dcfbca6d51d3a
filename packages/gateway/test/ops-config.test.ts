import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { idFromHex, idToHex, Limits } from '@degas/proto';
import { buildGatewayOptions, loadConfig, usage } from '../src/config.js';
import { isMutableDegasDirectory } from '../src/degas-directory.js';
import { OPTION_ROWS } from '../src/options.js';
import { A, ADDR, builtOptions, configError, useConfigDir } from './config-fixture.js';

// Port numbers as configuration values only: nothing in this file listens on them.
const DEFAULT_PORT = 8080;
const FILE_PORT = 1111;
const ENV_PORT = 2222;
const FLAG_PORT = 3333;
const OTHER_FILE_PORT = 4444;

const B = '0xffeeddccbbaa99887766554433221100';
const fixture = useConfigDir('degas-config-');
const { cfg, load } = fixture;

describe('loadConfig', () => {
  test('defaults', async () => {
    const c = await load([]);
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: DEFAULT_PORT,
      adminPort: 9090,
      adminHost: '127.0.0.1',
      accounts: join(fixture.dir, 'accounts.json'),
      accountsRpc: undefined,
      degas: [],
      degasFileEntries: [],
      allowedOrigins: [],
      helloTimeoutMs: Limits.HELLO_TIMEOUT_MS,
      authTimeoutMs: Limits.AUTH_TIMEOUT_MS,
      pingIntervalMs: Limits.PING_INTERVAL_MS,
      rateLimit: 1000,
      maxConnections: 100_000,
      maxPendingPerIp: 64,
      handshakeRate: 50,
      trustedProxies: [],
      sendBufferLimit: 4 * 1024 * 1024,
      degasQueueLimit: 4 * 1024 * 1024,
      shutdownTimeoutMs: 10_000,
      verifier: 'auto',
      verifierNice: 10,
      maxLoginsInProgress: 0,
      logLevel: 'info',
      adminToken: undefined,
      internalToken: undefined,
    });
  });

  test('every option has a flag, env name and file key', () => {
    const row = (flag: string) => OPTION_ROWS.find((r) => r.flag === flag)!;
    expect(row('admin-token')).toMatchObject({ name: 'adminToken', env: 'DEGAS_ADMIN_TOKEN', configKey: 'adminToken' });
    expect(row('degas-url-template').configKey).toBe('degasUrlTemplate');
    expect(row('allowed-origin')).toMatchObject({ name: 'allowedOrigins', configKey: 'allowedOrigin', gateway: true });
    const text = usage();
    for (const o of OPTION_ROWS) expect(text).toContain(`--${o.flag} `);
    for (const line of text.split('\n').filter((l) => l.startsWith('  --'))) expect(line.length).toBeLessThan(160);
  });

  test('flags > env > config file > defaults', async () => {
    const file = await cfg('precedence.json', {
      port: FILE_PORT,
      host: '127.0.0.2',
      rateLimit: 5,
      logLevel: 'warn',
      allowedOrigin: ['https://file.example'],
    });
    const env = {
      DEGAS_CONFIG: file,
      DEGAS_PORT: '2222',
      DEGAS_HOST: '127.0.0.3',
      DEGAS_ALLOWED_ORIGIN: 'https://env.example, https://env2.example',
    };
    const fromFile = await load([], { DEGAS_CONFIG: file });
    expect(fromFile).toMatchObject({
      port: FILE_PORT,
      host: '127.0.0.2',
      rateLimit: 5,
      logLevel: 'warn',
      allowedOrigins: ['https://file.example'],
    });
    expect(fromFile.configFile).toBe(file);
    const fromEnv = await load([], env);
    expect(fromEnv).toMatchObject({
      port: ENV_PORT,
      host: '127.0.0.3',
      rateLimit: 5,
      allowedOrigins: ['https://env.example', 'https://env2.example'],
    });
    const fromFlags = await load(
      ['--port', '3333', '--allowed-origin=https://a.example', '--allowed-origin', 'http://localhost:5173'],
      env,
    );
    expect(fromFlags).toMatchObject({
      port: FLAG_PORT,
      host: '127.0.0.3',
      rateLimit: 5,
      allowedOrigins: ['https://a.example', 'http://localhost:5173'],
    });
    // --config as a flag wins over DEGAS_CONFIG.
    const other = await cfg('other.json', { port: OTHER_FILE_PORT });
    expect((await load(['--config', other], env)).port).toBe(ENV_PORT);
    expect((await load(['--config', other], {})).port).toBe(OTHER_FILE_PORT);
  });

  test('--handshake-rate and --trusted-proxy (repeatable) from flags, env (comma-separated) and file', async () => {
    const file = await cfg('proxies.json', { handshakeRate: 0, trustedProxy: ['10.0.0.0/8', 'fd00::/8'] });
    expect(await load(['--config', file])).toMatchObject({
      handshakeRate: 0,
      trustedProxies: ['10.0.0.0/8', 'fd00::/8'],
    });
    const env = { DEGAS_CONFIG: file, DEGAS_TRUSTED_PROXY: '10.1.1.1, 10.1.1.2,::1', DEGAS_HANDSHAKE_RATE: '7' };
    expect(await load([], env)).toMatchObject({ handshakeRate: 7, trustedProxies: ['10.1.1.1', '10.1.1.2', '::1'] });
    const fromFlags = await load(
      ['--handshake-rate', '20', '--trusted-proxy', '127.0.0.1', '--trusted-proxy=192.168.0.0/16'],
      env,
    );
    expect(fromFlags).toMatchObject({ handshakeRate: 20, trustedProxies: ['127.0.0.1', '192.168.0.0/16'] });
    const args = ['--accounts', fixture.accountsFile, '--handshake-rate', '20', '--trusted-proxy', '127.0.0.1'];
    expect(await builtOptions(load(args))).toMatchObject({ handshakeRate: 20, trustedProxies: ['127.0.0.1'] });
    expect(usage()).toMatch(/--handshake-rate N .*\(default 50\)/);
    expect(usage()).toMatch(/--trusted-proxy ADDR .*repeatable/);
  });

  test('an empty environment variable counts as unset', async () => {
    const c = await load([], { DEGAS_ADMIN_TOKEN: '', DEGAS_PORT: '' });
    expect(c.adminToken).toBeUndefined();
    expect(c.port).toBe(8080);
  });

  test('tokens from env and flags', async () => {
    const c = await load(['--admin-token', 'adm'], { DEGAS_INTERNAL_TOKEN: 'int', DEGAS_ADMIN_TOKEN: 'env-adm' });
    expect(c.internalToken).toBe('int');
    expect(c.adminToken).toBe('adm');
  });

  test('--degas (repeatable, flags, env and file forms), --degas-file and --degas-url-template', async () => {
    const degasFile = await cfg('degas.json', { degas: [{ id: B, url: 'wss://b.example', token: 'tb' }] });
    const c = await load([
      '--degas',
      `${A}=ws://127.0.0.1:7000`,
      `--degas-file=${degasFile}`,
      '--degas-url-template',
      'ws://degas-{id}.ns.svc:7000',
    ]);
    expect(c.degas.map((d) => [idToHex(d.id), d.url])).toEqual([[A, 'ws://127.0.0.1:7000']]);
    expect(c.degasFileEntries.map((d) => [idToHex(d.id), d.url, d.token])).toEqual([[B, 'wss://b.example', 'tb']]);
    expect(c.degasUrlTemplate).toBe('ws://degas-{id}.ns.svc:7000');
    const env = await load([], { DEGAS_DEGAS: `${A}=ws://a:1,${B}=ws://b:2` });
    expect(env.degas.map((d) => d.url)).toEqual(['ws://a:1', 'ws://b:2']);
    const file = await cfg('cfg-degas.json', { degas: [`${A}=ws://a:1`, { id: B, url: 'ws://b:2', token: 'tok' }] });
    const fromFile = await load(['--config', file]);
    expect(fromFile.degas.map((d) => [idToHex(d.id), d.url, d.token])).toEqual([
      [A, 'ws://a:1', undefined],
      [B, 'ws://b:2', 'tok'],
    ]);
  });

  test('relative paths in the config file are relative to the file', async () => {
    await rm(join(fixture.dir, 'sub'), { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(fixture.dir, 'sub'));
    const file = await cfg('sub/c.json', { accounts: 'acc.json' });
    expect((await loadConfig(['--config', file], {}, { cwd: '/' })).accounts).toBe(
      join(fixture.dir, 'sub', 'acc.json'),
    );
    expect((await loadConfig(['--accounts', 'x.json'], {}, { cwd: fixture.dir })).accounts).toBe(
      join(fixture.dir, 'x.json'),
    );
  });

  test('--admin-port off disables the admin server', async () => {
    expect((await load(['--admin-port', 'off'])).adminPort).toBe(false);
    expect((await load(['--admin-port', '0'])).adminPort).toBe(0);
  });

  test.each<[string, string[], NodeJS.ProcessEnv, string, RegExp]>([
    ['an unknown flag', ['--prot', '1'], {}, '--prot', /unknown option --prot/],
    ['a positional argument', ['serve'], {}, 'serve', /unexpected argument "serve"/],
    ['a missing value', ['--port'], {}, '--port', /--port: missing value/],
    ['a flag as value', ['--port', '--host', 'x'], {}, '--port', /missing value/],
    ['a repeated single flag', ['--port', '1', '--port=2'], {}, '--port', /given more than once/],
    ['a non-integer port', ['--port', '80.5'], {}, '--port', /integer from 0 to 65535, got "80.5"/],
    ['an out-of-range port', ['--port=65536'], {}, '--port', /integer from 0 to 65535/],
    ['a negative count', ['--max-connections', '-1'], {}, '--max-connections', /integer from 1/],
    ['a zero timeout', ['--hello-timeout-ms', '0'], {}, '--hello-timeout-ms', /integer from 1 to 2147483647/],
    ['a timeout over setTimeout’s range', ['--auth-timeout-ms', '2147483648'], {}, '--auth-timeout-ms', /2147483647/],
    ['a bad admin port', ['--admin-port', 'none'], {}, '--admin-port', /or "off"/],
    ['a malformed --degas id', ['--degas', '0x1234=ws://a'], {}, '--degas', /"0x" followed by 32 hex digits/],
    ['--degas without =', ['--degas', A], {}, '--degas', /expected 0xID=URL/],
    ['a bad --degas URL', ['--degas', `${A}=http://a`], {}, '--degas', /ws:\/\/ or wss:\/\//],
    ['a duplicate --degas', ['--degas', `${A}=ws://a`, '--degas', `${A}=ws://b`], {}, '--degas', /given twice/],
    ['a template without {id}', ['--degas-url-template', 'ws://a'], {}, '--degas-url-template', /\{id\}/],
    ['a template with a bad scheme', ['--degas-url-template', 'https://{id}'], {}, '--degas-url-template', /ws:\/\//],
    ['a bad accounts-rpc URL', ['--accounts-rpc', 'ftp://x'], {}, '--accounts-rpc', /http:\/\/ or https:\/\//],
    [
      'both accounts sources',
      ['--accounts-rpc', 'http://x', '--accounts', 'a.json'],
      {},
      '--accounts-rpc',
      /cannot be combined with --accounts/,
    ],
    ['a bad log level', ['--log-level', 'loud'], {}, '--log-level', /one of debug, info, warn, error, silent/],
    ['a bad verifier', ['--verifier', 'fast'], {}, '--verifier', /auto, native, noble/],
    ['a verifier nice over 19', ['--verifier-nice', '20'], {}, '--verifier-nice', /integer from 0 to 19/],
    ['a negative login bound', ['--max-logins-in-progress', '-1'], {}, '--max-logins-in-progress', /integer from 0/],
    ['a negative verifier nice', [], { DEGAS_VERIFIER_NICE: '-5' }, '--verifier-nice', /integer from 0 to 19/],
    ['an origin with a path', ['--allowed-origin', 'https://a.example/'], {}, '--allowed-origin', /no path/],
    ['an origin that is not a URL', ['--allowed-origin', 'game.example'], {}, '--allowed-origin', /origin like/],
    ['a proxy host name', ['--trusted-proxy', 'lb.internal'], {}, '--trusted-proxy', /IP address or CIDR block/],
    ['a proxy CIDR out of range', ['--trusted-proxy', '10.0.0.0/40'], {}, '--trusted-proxy', /prefix .* 0 to 32/],
    ['a bad env proxy list', [], { DEGAS_TRUSTED_PROXY: '10.0.0.1,nope' }, '--trusted-proxy', /DEGAS_TRUSTED_PROXY/],
    ['a negative handshake rate', ['--handshake-rate', '-1'], {}, '--handshake-rate', /integer from 0/],
    [
      'a repeated --handshake-rate',
      ['--handshake-rate', '1', '--handshake-rate', '2'],
      {},
      '--handshake-rate',
      /more than once/,
    ],
    ['a token with a space', ['--internal-token', 'a b'], {}, '--internal-token', /visible ASCII/],
    ['an empty host', ['--host='], {}, '--host', /must not be empty/],
    ['a bad env value', [], { DEGAS_PORT: 'eighty' }, '--port', /^DEGAS_PORT \(--port\): expected an integer/],
    ['a bad env list', [], { DEGAS_DEGAS: `${A}=ws://ok,nope` }, '--degas', /DEGAS_DEGAS \(--degas\): "nope"/],
    [
      'a missing config file',
      ['--config', 'missing.json'],
      {},
      '--config',
      /cannot read .*missing\.json: no such file/,
    ],
    ['a missing degas file', ['--degas-file', 'missing.json'], {}, '--degas-file', /cannot read/],
  ])('rejects %s', async (_name, argv, env, flag, why) => {
    expect(await configError(load(argv, env), flag)).toMatch(why);
  });

  test.each<[string, unknown, string, RegExp]>([
    ['invalid JSON', '{port: 1}', '--config', /is not valid JSON/],
    ['not an object', '[1]', '--config', /must contain a JSON object/],
    ['an unknown key', { prot: 1 }, '--config', /unknown key "prot"/],
    ['a flag-style key', { 'admin-port': 1 }, '--config', /unknown key "admin-port"/],
    ['a string for a number', { port: 'x' }, '--port', /"port" \(--port\): expected an integer/],
    ['a number for a string', { host: 5 }, '--host', /expected a string, got a number/],
    ['a string for a list', { allowedOrigin: 'https://a.example' }, '--allowed-origin', /expected a list of origins/],
    ['a string for the proxy list', { trustedProxy: '10.0.0.1' }, '--trusted-proxy', /expected a list of addresses/],
    ['a number in the proxy list', { trustedProxy: [10] }, '--trusted-proxy', /expected an address string/],
    ['a bad degas object', { degas: [{ id: A, url: 'ws://a', x: 1 }] }, '--degas', /unknown key "x"/],
  ])('rejects a config file with %s', async (_name, content, flag, why) => {
    const p = await cfg(`bad-${Math.random()}.json`, content);
    expect(await configError(load(['--config', p]), flag)).toMatch(why);
  });

  test('an invalid degas file names --degas-file and the entry', async () => {
    const p = await cfg('bad-degas.json', {
      degas: [
        { id: A, url: 'ws://a' },
        { id: A, url: 'ws://b' },
      ],
    });
    expect(await configError(load(['--degas-file', p]), '--degas-file')).toMatch(/degas\[1\]\.id: duplicate/);
    const q = await cfg('dup-degas.json', { degas: [{ id: A, url: 'ws://a' }] });
    expect(await configError(load(['--degas-file', q, '--degas', `${A}=ws://x`]), '--degas-file')).toMatch(
      /also given with --degas/,
    );
  });
});

describe('buildGatewayOptions', () => {
  test('file accounts + static and template Degas, with every option passed on', async () => {
    const c = await load([
      '--accounts',
      fixture.accountsFile,
      '--degas',
      `${A}=ws://127.0.0.1:7000`,
      '--degas-url-template',
      'ws://degas-{id}:7000',
      '--internal-token',
      'itok',
      '--admin-token',
      'atok',
      '--auth-domain',
      'My Game',
      '--rate-limit',
      '0',
      '--verifier',
      'noble',
      '--verifier-threads',
      '2',
      '--verifier-nice',
      '3',
      '--max-logins-in-progress',
      '128',
    ]);
    const built = await buildGatewayOptions(c);
    try {
      const o = built.options;
      expect(o).toMatchObject({
        host: '0.0.0.0',
        port: DEFAULT_PORT,
        adminPort: 9090,
        internalToken: 'itok',
        adminToken: 'atok',
        authDomain: 'My Game',
        rateLimit: 0,
        verifier: 'noble',
        verifierThreads: 2,
        verifierNice: 3,
        maxLoginsInProgress: 128,
      });
      expect('authMessage' in o).toBe(false);
      expect(await o.accounts.getAccount(idFromHex(A))).toMatchObject({ signers: [{ address: ADDR.toLowerCase() }] });
      expect(await o.degas.resolve(idFromHex(A))).toEqual({ url: 'ws://127.0.0.1:7000' });
      expect(await o.degas.resolve(idFromHex(B))).toEqual({ url: `ws://degas-${B.slice(2)}:7000` });
      expect(isMutableDegasDirectory(o.degas)).toBe(true);
    } finally {
      await built.close();
      await built.close();
    }
  });

  test('rpc accounts', async () => {
    const built = await buildGatewayOptions(await load(['--accounts-rpc', 'http://127.0.0.1:1/rpc']));
    expect(built.options.accounts).toBe(built.accounts);
    expect('reload' in built.accounts).toBe(false);
    await built.close();
  });

  test('a missing or invalid accounts file is a ConfigError naming --accounts', async () => {
    expect(
      await configError(
        load(['--accounts', 'nope.json']).then((c) => buildGatewayOptions(c)),
        '--accounts',
      ),
    ).toMatch(/no such file .*accounts add/);
    const bad = await cfg('bad-accounts.json', { accounts: [{ id: '0x12', signers: [] }] });
    expect(
      await configError(
        load(['--accounts', bad]).then((c) => buildGatewayOptions(c)),
        '--accounts',
      ),
    ).toMatch(/accounts\[0\]\.id/);
  });
});

describe('TLS options', () => {
  test('--tls-cert/--tls-key are paths; --admin-tls is a switch (flag, env or config file)', async () => {
    const both = ['--tls-cert', 'c.pem', '--tls-key', 'k.pem'];
    expect(await load(both)).toMatchObject({
      tlsCert: join(fixture.dir, 'c.pem'),
      tlsKey: join(fixture.dir, 'k.pem'),
      adminTls: false,
    });
    expect((await load([...both, '--admin-tls'])).adminTls).toBe(true);
    expect((await load([...both, '--admin-tls=false'])).adminTls).toBe(false);
    // The switch takes no value: what follows it is the next option.
    expect(await load(['--admin-tls', ...both])).toMatchObject({ adminTls: true, tlsCert: join(fixture.dir, 'c.pem') });
    expect((await load([], { DEGAS_TLS_CERT: 'c.pem', DEGAS_TLS_KEY: 'k.pem', DEGAS_ADMIN_TLS: 'yes' })).adminTls).toBe(
      true,
    );
    const file = await cfg('tls.json', { tlsCert: 'c.pem', tlsKey: 'k.pem', adminTls: true });
    expect(await load(['--config', file])).toMatchObject({ tlsCert: join(fixture.dir, 'c.pem'), adminTls: true });
  });

  test.each([
    [['--tls-cert', 'c.pem'], '--tls-key', /--tls-cert: needs --tls-key too/],
    [['--tls-key', 'k.pem'], '--tls-cert', /--tls-key: needs --tls-cert too/],
    [['--admin-tls'], '--admin-tls', /--admin-tls: needs --tls-cert and --tls-key/],
    [['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--admin-tls=maybe'], '--admin-tls', /expected true or false/],
  ])('%j is refused', async (argv, flag, why) => {
    expect(await configError(load(argv), flag)).toMatch(why);
  });

  test('a config file value of the wrong type is refused', async () => {
    const file = await cfg('tls-bad.json', { tlsCert: 'c.pem', tlsKey: 'k.pem', adminTls: 'sometimes' });
    expect(await configError(load(['--config', file]), '--admin-tls')).toMatch(/expected true or false/);
  });
});
