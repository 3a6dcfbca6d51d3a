// Walks the option schema (src/options.ts): every numeric option at its minimum, its maximum,
// one below and one above, from a flag, the environment and the config file through the real
// bin (`--check-config`: exit 0, or exit 2 with one line naming the flag and the source), and
// through startGateway (starts, or TypeError/RangeError naming the option). The two must agree.
// A new numeric option is walked without changing this file.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BinRun, runGatewayBin } from '@degas/test-utils';
import { createStaticDegasDirectory, type GatewayOptions, startGateway } from '../src/index.js';
import { GATEWAY_OPTIONS, OPTION_ROWS, type OptionRow } from '../src/options.js';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/bin.js');

type Source = 'flag' | 'env' | 'file';
const SOURCES: readonly Source[] = ['flag', 'env', 'file'];

interface Case {
  row: OptionRow;
  value: number;
  valid: boolean;
}

const numeric = OPTION_ROWS.filter((r) => r.spec.kind.min !== undefined && r.spec.kind.max !== undefined);
const casesOf = (row: OptionRow): Case[] => {
  const { min, max } = row.spec.kind as { min: number; max: number };
  return [min - 1, min, max, max + 1].map((value) => ({ row, value, valid: value >= min && value <= max }));
};

function runBin(args: string[], env: NodeJS.ProcessEnv): Promise<BinRun> {
  return runGatewayBin(['--check-config', ...args], { env, bin: BIN, timeoutMs: 60_000 });
}

let dir: string;
let accountsFile: string;
let fileSeq = 0;

/** Runs the bin with `values` set from `source`. */
async function binWith(source: Source, values: readonly Case[]): Promise<BinRun> {
  // Cluster options need --nats; --check-config never dials it.
  const args = ['--accounts', accountsFile, '--nats', 'nats://127.0.0.1:4222'];
  const env: NodeJS.ProcessEnv = {};
  if (source === 'flag') for (const c of values) args.push(`--${c.row.flag}=${c.value}`);
  else if (source === 'env') for (const c of values) env[c.row.env] = String(c.value);
  else {
    const file = join(dir, `config-${fileSeq++}.json`);
    await writeFile(file, JSON.stringify(Object.fromEntries(values.map((c) => [c.row.configKey, c.value]))));
    args.push('--config', file);
  }
  return runBin(args, env);
}

/** Runs `jobs` with at most as many at once as there are cores. */
async function pool<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, availableParallelism()) }, worker));
  return out;
}

// Results of the bin, by source and case. Valid values are set all at once per source and bound
// (exit 0 proves that each was accepted); each invalid value runs in a process of its own.
const validRuns = new Map<string, BinRun>();
const invalidRuns = new Map<string, BinRun>();
const key = (source: Source, c: Case) => `${source} ${c.row.flag} ${c.value}`;

beforeAll(async () => {
  expect(existsSync(BIN)).toBe(true);
  dir = await mkdtemp(join(tmpdir(), 'degas-options-'));
  accountsFile = join(dir, 'accounts.json');
  await writeFile(accountsFile, JSON.stringify({ accounts: [] }));
  const all = numeric.flatMap(casesOf);
  const jobs: (() => Promise<void>)[] = [];
  for (const source of SOURCES) {
    for (const bound of ['min', 'max'] as const) {
      const values = all.filter((c) => c.valid && c.value === c.row.spec.kind[bound]);
      jobs.push(async () => {
        validRuns.set(`${source} ${bound}`, await binWith(source, values));
      });
    }
    for (const c of all.filter((x) => !x.valid)) {
      jobs.push(async () => {
        invalidRuns.set(key(source, c), await binWith(source, [c]));
      });
    }
  }
  await pool(jobs);
}, 180_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base: GatewayOptions = {
  port: 0,
  host: '127.0.0.1',
  adminPort: false,
  verifierThreads: 1,
  accounts: { getAccount: () => undefined },
  degas: createStaticDegasDirectory([]),
};

/** What startGateway does with one value: 'ok' (started, or failed for a reason other than the value), or the error. */
async function startWith(name: string, value: number): Promise<'ok' | Error> {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  try {
    gw = await startGateway({ ...base, [name]: value });
  } catch (err) {
    // A port that another process holds is not a verdict on the value.
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return 'ok';
    return err as Error;
  }
  await gw.close();
  return 'ok';
}

test('the schema has numeric options, each with a flag, an environment variable and a config key', () => {
  expect(numeric.length).toBeGreaterThanOrEqual(20);
  for (const r of numeric) {
    expect(r.flag).toMatch(/^[a-z][a-z0-9-]+$/);
    expect(r.env).toBe(`DEGAS_${r.flag.toUpperCase().replaceAll('-', '_')}`);
    expect(r.configKey).toMatch(/^[a-z][A-Za-z0-9]+$/);
  }
});

describe.each(numeric.map((r) => [r.flag, r] as const))('--%s', (_flag, row) => {
  test.each(SOURCES)(
    'the bin from the %s: exit 0 at both bounds, exit 2 naming flag and source beyond them',
    (source) => {
      for (const bound of ['min', 'max'] as const) {
        const r = validRuns.get(`${source} ${bound}`)!;
        expect({ bound, code: r.code, stderr: r.stderr }).toEqual({ bound, code: 0, stderr: '' });
        expect(r.stdout).toBe('configuration ok\n');
      }
      for (const c of casesOf(row).filter((x) => !x.valid)) {
        const r = invalidRuns.get(key(source, c))!;
        expect({ value: c.value, code: r.code }).toEqual({ value: c.value, code: 2 });
        const lines = r.stderr.trimEnd().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(new RegExp(`^degas-gateway: .*--${row.flag}\\b.*expected an integer from`));
        if (source === 'env') expect(lines[0]).toContain(row.env);
        if (source === 'file') expect(lines[0]).toContain(`"${row.configKey}"`);
        expect(lines[0]).toContain(String(c.value));
      }
    },
  );

  if (row.gateway) {
    test('startGateway agrees at every bound', async () => {
      for (const c of casesOf(row)) {
        const result = await startWith(row.name, c.value);
        if (c.valid) expect({ value: c.value, result }).toEqual({ value: c.value, result: 'ok' });
        else {
          expect(result).toBeInstanceOf(RangeError);
          expect((result as Error).message).toMatch(new RegExp(`^${row.name}: expected an integer from`));
        }
      }
    });
  }
});

test('every option of startGateway that the schema declares is on the command line', () => {
  const gatewayRows = OPTION_ROWS.filter((r) => r.gateway).map((r) => r.name);
  expect(gatewayRows.sort()).toEqual(Object.keys(GATEWAY_OPTIONS).sort());
});

test.each([
  ['port with server', { port: 0, server: {} }, /port cannot be combined with server/],
  ['host with noServer', { host: '127.0.0.1', noServer: true }, /host cannot be combined with noServer/],
  ['server with noServer', { server: {}, noServer: true }, /either server or noServer/],
])('startGateway rejects contradictory options: %s', async (_name, extra, message) => {
  const { port: _p, host: _h, ...rest } = base;
  const server = { on: () => undefined };
  const options = { ...rest, ...extra, ...('server' in extra ? { server } : {}) } as unknown as GatewayOptions;
  await expect(startGateway(options)).rejects.toThrow(TypeError);
  await expect(startGateway(options)).rejects.toThrow(message);
});
