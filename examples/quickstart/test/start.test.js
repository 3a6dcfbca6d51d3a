// The quick start, for real: `node start.mjs --bots 2` on OS-chosen ports, then what a user does —
// open the page, get a throwaway account, log in, see the other players (the bots) move — and
// Ctrl-C, which must stop every process it started and exit 0.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DegasClient, generatePrivateKey, privateKeyToAddress } from '@degas/client/node';
import { decodeServerPayload, encodeGoto, encodeJoin, Op } from '../board.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const START = join(HERE, '..', 'start.mjs');

let runDir;
let proc;
let output = '';
let exited;
let client;

/** Pids of `pid`'s descendants (Linux /proc). */
function descendants(pid) {
  const parentOf = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 4 of /proc/PID/stat is the parent pid; the command name (field 2) may contain spaces.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(name), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  const out = [];
  const walk = (p) => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function waitForOutput(regex, ms) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = regex.exec(output);
      if (m) {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        resolve(m);
      }
    };
    const onData = () => setImmediate(check);
    const timer = setTimeout(() => {
      proc.stdout.off('data', onData);
      reject(new Error(`no ${regex} within ${ms} ms; output so far:\n${output}`));
    }, ms);
    proc.stdout.on('data', onData);
    check();
  });
}

/** Resolves with the first STATE the client receives that satisfies `predicate`. */
function nextState(c, predicate, ms, what) {
  return new Promise((resolve, reject) => {
    const onMessage = ({ payload }) => {
      const msg = decodeServerPayload(payload);
      if (msg?.op !== Op.STATE || !predicate(msg)) return;
      clearTimeout(timer);
      c.off('message', onMessage);
      resolve(msg);
    };
    const timer = setTimeout(() => {
      c.off('message', onMessage);
      reject(new Error(`no board state with ${what} within ${ms} ms`));
    }, ms);
    c.on('message', onMessage);
  });
}

beforeAll(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'degas-quickstart-'));
  proc = spawn(process.execPath, [START, '--bots', '2'], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      HOST: '127.0.0.1',
      PORT: '0',
      GATEWAY_PORT: '0',
      ADMIN_PORT: '0',
      QUICKSTART_RUN_DIR: runDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  createInterface({ input: proc.stdout }).on('line', (l) => {
    output += `${l}\n`;
  });
  createInterface({ input: proc.stderr }).on('line', (l) => {
    output += `[stderr] ${l}\n`;
  });
});

afterAll(async () => {
  client?.close();
  // Only if the test failed before its own Ctrl-C: never leave processes behind.
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    for (const pid of descendants(proc.pid)) process.kill(pid, 'SIGKILL');
    proc.kill('SIGKILL');
    await exited;
  }
  if (runDir) await rm(runDir, { recursive: true, force: true });
});

test('start.mjs serves the page, creates throwaway accounts with the gateway bin, shows the bots, and stops cleanly', async () => {
  const [, url] = await waitForOutput(/Open (http:\/\/\S+) in a browser/, 20_000);

  // The page and its bundle.
  const page = await fetch(url);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('<canvas id="board"');
  expect(html).toContain('src="/dist/bundle.js"');
  const bundle = await fetch(new URL('/dist/bundle.js', url));
  expect(bundle.status).toBe(200);
  expect(bundle.headers.get('content-type')).toMatch(/javascript/);
  expect(await bundle.text()).toContain('DegasClient');
  const config = await (await fetch(new URL('/config.json', url))).json();
  expect(config.degasId).toMatch(/^0x[0-9a-f]{32}$/);
  expect(config.gatewayPort).toEqual(expect.any(Number));

  // The throwaway-account API validates the address…
  const api = new URL('/api/throwaway-account', url);
  const post = (body, headers = { 'Content-Type': 'application/json' }) =>
    fetch(api, { method: 'POST', headers, body: JSON.stringify(body) });
  expect((await post({ address: 'not an address' })).status).toBe(400);
  expect((await post({ address: '0x2C7536E3605D9C16a7a3D7b1898e529396a65c23' })).status).toBe(400); // bad EIP-55
  expect((await post({ address: '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23' }, {})).status).toBe(415);
  const crossOrigin = await post(
    { address: '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23' },
    { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
  );
  expect(crossOrigin.status).toBe(403);

  // …and creates the account through `degas-gateway accounts add`, into the run's accounts file.
  const key = generatePrivateKey();
  const address = privateKeyToAddress(key);
  const created = await post({ address });
  expect(created.status).toBe(200);
  const { accountId } = await created.json();
  expect(accountId).toMatch(/^0x[0-9a-f]{32}$/);
  const file = JSON.parse(readFileSync(join(runDir, 'accounts.json'), 'utf8'));
  expect(file.accounts).toContainEqual({
    id: accountId,
    signers: [{ type: 'ethereum', address: address.toLowerCase(), disabled: false }],
  });

  // Log in with the throwaway key and join the board: the state lists us and the 2 bots.
  client = new DegasClient({ url: `ws://127.0.0.1:${config.gatewayPort}`, accountId, signer: key });
  await client.connect();
  const withBots = nextState(
    client,
    (s) => s.players.some((p) => p.id === accountId) && s.players.length >= 3,
    15_000,
    'us and both bots',
  );
  client.send(config.degasId, encodeJoin());
  const first = await withBots;
  expect(first.players).toHaveLength(3);
  const bots = first.players.filter((p) => p.id !== accountId);

  // The bots wander: a later state has one of them somewhere else.
  const moved = await nextState(
    client,
    (s) => bots.some((b) => s.players.some((p) => p.id === b.id && (p.x !== b.x || p.y !== b.y))),
    10_000,
    'a bot that moved',
  );
  expect(moved.players.length).toBeGreaterThanOrEqual(3);

  // Our own move goes through the Degas and comes back in the fan-out.
  const atTarget = nextState(
    client,
    (s) => s.players.some((p) => p.id === accountId && p.x === 3 && p.y === 4),
    5000,
    'us at (3, 4)',
  );
  client.send(config.degasId, encodeGoto(3, 4));
  await atTarget;
  client.close();

  // Ctrl-C: every process start.mjs started is gone, and it exits 0.
  const children = descendants(proc.pid);
  expect(children.length).toBeGreaterThanOrEqual(3); // Degas, gateway, bots
  proc.kill('SIGINT');
  expect(await exited).toEqual({ code: 0, signal: null });
  // start.mjs waits for its children's exit; allow the OS a moment to finish tearing them down.
  for (let i = 0; i < 50 && children.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  expect(children.filter(alive)).toEqual([]);
  expect(output).toContain('stopped');
}, 60_000);
