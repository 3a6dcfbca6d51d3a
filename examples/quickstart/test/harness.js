// Shared by the quick start tests: run start.mjs on OS-chosen ports in a temporary run directory,
// read its output, find its child processes, and wait for board states.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { decodeServerPayload, Op } from '../board.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const START = join(HERE, '..', 'start.mjs');

/** Pids of `pid`'s descendants (Linux /proc). */
export function descendants(pid) {
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

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Spawns `node start.mjs ...args` with every port chosen by the OS and a temporary run directory.
 * @returns {{ proc, runDir, output: () => string, waitForOutput, exited, stopAndCheck, cleanup }}
 */
export async function startQuickstart(args) {
  const runDir = await mkdtemp(join(tmpdir(), 'degas-quickstart-'));
  const proc = spawn(process.execPath, [START, ...args], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      HOST: '127.0.0.1',
      PORT: '0',
      GATEWAY_PORT: '0',
      ADMIN_PORT: '0',
      NATS_PORT: '0',
      QUICKSTART_RUN_DIR: runDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  createInterface({ input: proc.stdout }).on('line', (l) => {
    output += `${l}\n`;
  });
  createInterface({ input: proc.stderr }).on('line', (l) => {
    output += `[stderr] ${l}\n`;
  });

  /** Resolves with the match of `regex` in the output so far or to come. */
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

  /** Ctrl-C: every process start.mjs started must be gone, and it must exit 0. */
  async function stopAndCheck(minChildren) {
    const children = descendants(proc.pid);
    expect(children.length).toBeGreaterThanOrEqual(minChildren);
    proc.kill('SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    // start.mjs waits for its children's exit; allow the OS a moment to finish tearing them down.
    for (let i = 0; i < 50 && children.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    expect(children.filter(alive)).toEqual([]);
    expect(output).toContain('stopped');
  }

  /** Only if a test failed before its own Ctrl-C: never leave processes behind. */
  async function cleanup() {
    if (proc.exitCode === null && proc.signalCode === null) {
      for (const pid of descendants(proc.pid)) process.kill(pid, 'SIGKILL');
      proc.kill('SIGKILL');
      await exited;
    }
    await rm(runDir, { recursive: true, force: true });
  }

  return { proc, runDir, output: () => output, waitForOutput, exited, stopAndCheck, cleanup };
}

/** Resolves with the first STATE the client receives that satisfies `predicate`. */
export function nextState(c, predicate, ms, what) {
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
