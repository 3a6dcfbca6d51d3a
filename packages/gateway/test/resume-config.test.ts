import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryAccounts, memoryDegasDirectory } from '@degas/test-utils';
import { ConfigError, loadConfig, usage } from '../src/config.js';
import { startGateway } from '../src/gateway.js';

const KEY1 = randomBytes(32).toString('hex');
const KEY2 = randomBytes(40).toString('hex');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'degas-resume-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(argv, env, { cwd: dir });

async function configError(p: Promise<unknown>, flag: string): Promise<string> {
  const err = await p.then(
    () => new Error('expected a ConfigError'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).flag).toBe(flag);
  expect((err as ConfigError).message).not.toMatch(/[\r\n]/);
  return (err as ConfigError).message;
}

test('defaults: no key, window 60000, max age 86400000', async () => {
  const c = await load([]);
  expect(c.resumeKeys).toBeUndefined();
  expect(c.resumeWindowMs).toBe(60_000);
  expect(c.resumeMaxAgeMs).toBe(86_400_000);
  expect(usage()).toMatch(/--resume-key HEX .*repeatable/);
  expect(usage()).toMatch(/--resume-window-ms N .*\(default 60000\)/);
  expect(usage()).toMatch(/--resume-max-age-ms N .*\(default 86400000\)/);
});

test('--resume-key is repeatable, keeps its order, accepts 0x; from flags, environment and config file', async () => {
  const c = await load(['--resume-key', KEY1, `--resume-key=0x${KEY2}`]);
  expect(c.resumeKeys!.map((k) => Buffer.from(k).toString('hex'))).toEqual([KEY1, KEY2]);
  const e = await load([], { DEGAS_RESUME_KEY: `${KEY2},${KEY1}` });
  expect(e.resumeKeys!.map((k) => Buffer.from(k).toString('hex'))).toEqual([KEY2, KEY1]);
  const file = join(dir, 'c.json');
  await writeFile(file, JSON.stringify({ resumeKey: [KEY1], resumeWindowMs: 0, resumeMaxAgeMs: 1000 }));
  const f = await load(['--config', file]);
  expect(f.resumeKeys!.map((k) => Buffer.from(k).toString('hex'))).toEqual([KEY1]);
  expect(f.resumeWindowMs).toBe(0);
  expect(f.resumeMaxAgeMs).toBe(1000);
  await writeFile(file, JSON.stringify({ resumeKey: KEY2 }));
  expect((await load(['--config', file])).resumeKeys).toHaveLength(1);
});

test('bad keys are one-line errors that never echo the key', async () => {
  const short = randomBytes(31).toString('hex');
  expect(await configError(load(['--resume-key', short]), '--resume-key')).toMatch(/at least 32 bytes/);
  const notHex = `${KEY1.slice(0, 60)}zzzz`;
  const m = await configError(load(['--resume-key', notHex]), '--resume-key');
  expect(m).not.toContain(KEY1.slice(0, 16));
  const odd = `${KEY1}a`;
  expect(await configError(load(['--resume-key', odd]), '--resume-key')).not.toContain(KEY1.slice(0, 16));
  const dup = await configError(load(['--resume-key', KEY1, '--resume-key', KEY1.toUpperCase()]), '--resume-key');
  expect(dup).toMatch(/twice/);
  expect(dup).not.toContain(KEY1.slice(0, 16));
  await configError(load(['--resume-key', '']), '--resume-key');
});

test('window and max age bounds', async () => {
  await configError(load(['--resume-window-ms', '-1']), '--resume-window-ms');
  await configError(load(['--resume-window-ms', '604800001']), '--resume-window-ms');
  expect((await load(['--resume-window-ms', '604800000'])).resumeWindowMs).toBe(604_800_000);
  await configError(load(['--resume-max-age-ms', '0']), '--resume-max-age-ms');
  await configError(load(['--resume-max-age-ms', 'soon']), '--resume-max-age-ms');
});

test('startGateway checks the same options (TypeError / RangeError)', async () => {
  const base = {
    accounts: memoryAccounts(),
    degas: memoryDegasDirectory(),
    port: 0,
    adminPort: false as const,
  };
  await expect(startGateway({ ...base, resumeKeys: [] })).rejects.toThrow(TypeError);
  await expect(startGateway({ ...base, resumeKeys: [new Uint8Array(31)] })).rejects.toThrow(RangeError);
  await expect(startGateway({ ...base, resumeWindowMs: -1 })).rejects.toThrow(RangeError);
  await expect(startGateway({ ...base, resumeWindowMs: 604_800_001 })).rejects.toThrow(RangeError);
  await expect(startGateway({ ...base, resumeMaxAgeMs: 0 })).rejects.toThrow(RangeError);
  await expect(startGateway({ ...base, resumeWindowMs: 1.5 })).rejects.toThrow(TypeError);
});
