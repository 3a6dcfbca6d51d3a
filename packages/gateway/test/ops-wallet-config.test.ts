/**
 * The wallet options of the command line: `--auth-chain-id` (repeatable) from flags, environment
 * and config file, and their validation (exit 2 with a one-line reason).
 */
import { usage } from '../src/config.js';
import { builtOptions, configError, useConfigDir } from './config-fixture.js';

const fixture = useConfigDir('degas-wallet-config-');
const { cfg, load } = fixture;

test('--auth-chain-id (repeatable) from flags, env (comma-separated) and file; none = any', async () => {
  expect((await load([])).authChainIds).toBeUndefined();
  const file = await cfg('chains.json', { authChainId: [8453, '10'] });
  expect((await load(['--config', file])).authChainIds).toEqual([8453, 10]);
  const env = { DEGAS_CONFIG: file, DEGAS_AUTH_CHAIN_ID: '1, 137' };
  expect((await load([], env)).authChainIds).toEqual([1, 137]);
  expect(
    (await load(['--auth-chain-id', '8453', '--auth-chain-id=8453', '--auth-chain-id', '1'], env)).authChainIds,
  ).toEqual([8453, 1]);
  const accounts = ['--accounts', fixture.accountsFile];
  expect((await builtOptions(load([...accounts, '--auth-chain-id', '8453']))).authChainIds).toEqual([8453]);
  expect((await builtOptions(load(accounts))).authChainIds).toBeUndefined();
  expect(usage()).toMatch(/--auth-chain-id ID .*repeatable; none = any/);
});

test.each<[string, string[], NodeJS.ProcessEnv, RegExp]>([
  ['chain id 0', ['--auth-chain-id', '0'], {}, /integer from 1 to 9007199254740991/],
  ['a negative chain id', ['--auth-chain-id', '-8453'], {}, /integer from 1/],
  ['a hex chain id', ['--auth-chain-id', '0x2105'], {}, /integer from 1/],
  ['a chain id over 2^53 - 1', ['--auth-chain-id', '9007199254740992'], {}, /integer from 1 to 9007199254740991/],
  ['a name', ['--auth-chain-id', 'base'], {}, /--auth-chain-id: expected an integer/],
  ['a bad env entry', [], { DEGAS_AUTH_CHAIN_ID: '8453,x' }, /DEGAS_AUTH_CHAIN_ID \(--auth-chain-id\)/],
])('rejects %s', async (_, argv, env, why) => {
  expect(await configError(load(argv, env), '--auth-chain-id')).toMatch(why);
});

test.each<[string, unknown, RegExp]>([
  ['a number instead of a list', { authChainId: 8453 }, /expected a list of chain ids/],
  ['a fraction', { authChainId: [1.5] }, /expected a chain id|integer/],
  ['an object', { authChainId: [{ id: 1 }] }, /expected a chain id, got an object/],
])('rejects a config file with %s', async (_, content, why) => {
  const p = await cfg(`bad-${Math.random()}.json`, content);
  expect(await configError(load(['--config', p]), '--auth-chain-id')).toMatch(why);
});

test('--eth-rpc CHAINID=URL (repeatable) from flags, env and file; with its concurrency and timeout', async () => {
  const none = await load([]);
  expect(none).toMatchObject({ ethRpc: undefined, ethRpcConcurrency: 8, ethRpcTimeoutMs: 5000 });
  const file = await cfg('rpc.json', {
    ethRpc: ['8453=https://base.example/v2/KEY', { chainId: 1, url: 'http://10.0.0.5:8545' }],
    ethRpcConcurrency: 4,
    ethRpcTimeoutMs: 2500,
  });
  expect(await load(['--config', file])).toMatchObject({
    ethRpc: [
      { chainId: 8453, url: 'https://base.example/v2/KEY' },
      { chainId: 1, url: 'http://10.0.0.5:8545' },
    ],
    ethRpcConcurrency: 4,
    ethRpcTimeoutMs: 2500,
  });
  const env = { DEGAS_ETH_RPC: '10=https://op.example/rpc 137=https://polygon.example/rpc' };
  expect((await load([], env)).ethRpc).toEqual([
    { chainId: 10, url: 'https://op.example/rpc' },
    { chainId: 137, url: 'https://polygon.example/rpc' },
  ]);
  const flags = await load(['--eth-rpc', '8453=http://127.0.0.1:8545', '--eth-rpc=1=http://127.0.0.1:8546'], env);
  expect(flags.ethRpc).toEqual([
    { chainId: 8453, url: 'http://127.0.0.1:8545' },
    { chainId: 1, url: 'http://127.0.0.1:8546' },
  ]);
  const accounts = ['--accounts', fixture.accountsFile];
  expect(
    await builtOptions(load([...accounts, '--eth-rpc', '8453=http://127.0.0.1:8545', '--eth-rpc-timeout-ms', '900'])),
  ).toMatchObject({
    ethRpc: [{ chainId: 8453, url: 'http://127.0.0.1:8545' }],
    ethRpcConcurrency: 8,
    ethRpcTimeoutMs: 900,
  });
  expect((await builtOptions(load(accounts))).ethRpc).toBeUndefined();
  expect(usage()).toMatch(/--eth-rpc CHAINID=URL .*repeatable/);
  expect(usage()).toMatch(/--eth-rpc-concurrency N .*\(default 8\)/);
  expect(usage()).toMatch(/--eth-rpc-timeout-ms N .*\(default 5000\)/);
});

test.each<[string, string[], NodeJS.ProcessEnv, string, RegExp]>([
  ['no =', ['--eth-rpc', 'https://base.example/KEY'], {}, '--eth-rpc', /entry 1: expected CHAINID=URL/],
  ['chain id 0', ['--eth-rpc', '0=https://a.example'], {}, '--eth-rpc', /chain id must be a decimal integer/],
  ['a chain name', ['--eth-rpc', 'base=https://a.example'], {}, '--eth-rpc', /chain id must be a decimal integer/],
  [
    'a ws:// URL',
    ['--eth-rpc', '8453=wss://base.example/v2/SECRETKEY'],
    {},
    '--eth-rpc',
    /chain 8453: expected an http/,
  ],
  ['not a URL', ['--eth-rpc', '8453=http//SECRETKEY'], {}, '--eth-rpc', /chain 8453: expected an http/],
  [
    'a chain given twice',
    ['--eth-rpc', '8453=https://a.example', '--eth-rpc', '8453=https://b.example'],
    {},
    '--eth-rpc',
    /chain 8453 is given twice/,
  ],
  ['a bad env entry', [], { DEGAS_ETH_RPC: '1=https://a.example,x' }, '--eth-rpc', /DEGAS_ETH_RPC \(--eth-rpc\)/],
  ['concurrency 0', ['--eth-rpc-concurrency', '0'], {}, '--eth-rpc-concurrency', /integer from 1 to 1024/],
  ['timeout 0', ['--eth-rpc-timeout-ms', '0'], {}, '--eth-rpc-timeout-ms', /integer from 1/],
])('rejects --eth-rpc with %s, never echoing the URL', async (_, argv, env, flag, why) => {
  const message = await configError(load(argv, env), flag);
  expect(message).toMatch(why);
  expect(message).not.toContain('SECRETKEY');
});

test.each<[string, unknown, RegExp]>([
  ['a string instead of a list', { ethRpc: '8453=https://a.example' }, /expected a list of CHAINID=URL/],
  ['an unknown key', { ethRpc: [{ chainId: 1, url: 'https://a.example', key: 'x' }] }, /unknown key "key"/],
  ['a number entry', { ethRpc: [8453] }, /expected "CHAINID=URL" or \{"chainId","url"\}/],
  ['a fractional chain id', { ethRpc: [{ chainId: 1.5, url: 'https://a.example' }] }, /chain id must be/],
])('rejects a config file whose ethRpc is %s', async (_, content, why) => {
  const p = await cfg(`bad-rpc-${Math.random()}.json`, content);
  expect(await configError(load(['--config', p]), '--eth-rpc')).toMatch(why);
});
