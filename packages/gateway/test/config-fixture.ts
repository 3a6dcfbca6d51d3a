/**
 * The fixture of the configuration tests (ops-config, ops-wallet-config): a temporary directory
 * with an accounts file of one account, config files written into it, loadConfig resolving
 * relative paths there, and the checks every configuration test makes.
 */
import { privateKeyToAddress } from '@degas/auth-eth';
import { type TempDir, tempDir } from '@degas/test-utils';
import { type BuiltOptions, buildGatewayOptions, type Config, ConfigError, loadConfig } from '../src/config.js';

/** The one account of the accounts file. */
export const A = '0x00112233445566778899aabbccddeeff';
export const ADDR = privateKeyToAddress(`0x${'22'.repeat(32)}`);

export interface ConfigDir {
  /** The directory (valid once beforeAll ran). */
  readonly dir: string;
  /** accounts.json in it, with account {@link A} and signer {@link ADDR}. */
  readonly accountsFile: string;
  /** Writes a config file (a string as is, anything else as JSON); returns its path. */
  cfg(name: string, value: unknown): Promise<string>;
  /** loadConfig with `argv` and `env`, relative paths resolved in the directory. */
  load(argv: string[], env?: NodeJS.ProcessEnv): Promise<Config>;
}

/** Makes the directory before the tests of the file and removes it after them. */
export function useConfigDir(prefix: string): ConfigDir {
  let dir: TempDir | undefined;
  let accountsFile = '';
  beforeAll(async () => {
    dir = await tempDir(prefix);
    accountsFile = await dir.write('accounts.json', {
      accounts: [{ id: A, signers: [{ type: 'ethereum', address: ADDR }] }],
    });
  });
  afterAll(async () => {
    await dir?.remove();
  });
  const path = () => {
    if (dir === undefined) throw new Error('useConfigDir: used before beforeAll');
    return dir;
  };
  return {
    get dir() {
      return path().path;
    },
    get accountsFile() {
      return accountsFile;
    },
    cfg: (name, value) => path().write(name, value),
    load: (argv, env = {}) => loadConfig(argv, env, { cwd: path().path }),
  };
}

/** The ConfigError of `p`, asserting it is one line and names `flag`. */
export async function configError(p: Promise<unknown>, flag: string): Promise<string> {
  const err = await p.then(
    () => {
      throw new Error('expected a ConfigError');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  const { message } = err as ConfigError;
  expect(message).not.toMatch(/[\r\n]/);
  expect(message).toContain(flag);
  expect((err as ConfigError).flag).toBe(flag);
  return message;
}

/** The options buildGatewayOptions makes of `config`, closing what it opened afterwards. */
export async function builtOptions(config: Config | Promise<Config>): Promise<BuiltOptions['options']> {
  const built = await buildGatewayOptions(await config);
  try {
    return built.options;
  } finally {
    await built.close();
  }
}
