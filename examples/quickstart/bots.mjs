#!/usr/bin/env node
// Simulated players: each bot has its own key and account and wanders on the board.
//
//   node examples/quickstart/bots.mjs N
//
// Where to connect: env DEGAS_GATEWAY_URL (several gateway nodes: their URLs, comma-separated;
// bot i plays on node i mod N), DEGAS_ID and DEGAS_ACCOUNTS, or else the running quick start's
// .run/session.json. Accounts are created the way an operator does it
// (`degas-gateway accounts add`); the bots' keys and account ids are kept in .run/bots.json and
// reused next time, so the accounts file does not grow on every run.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthError, DegasClient, generatePrivateKey, privateKeyToAddress } from '@degas/client/node';
import { decodeServerPayload, encodeJoin, encodeMove, Op } from './board.mjs';
import { addAccountWithBin, RUN_DIR, requireGatewayBin, SESSION_FILE } from './operator.mjs';

const BOTS_FILE = join(RUN_DIR, 'bots.json');
const log = (line) => console.log(`[bots] ${line}`);

function toHex(bytes) {
  let s = '0x';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function readSession() {
  const env = {
    gatewayUrl: process.env.DEGAS_GATEWAY_URL,
    degasId: process.env.DEGAS_ID,
    accountsFile: process.env.DEGAS_ACCOUNTS,
  };
  if (env.gatewayUrl && env.degasId && env.accountsFile) return { ...env, gatewayUrls: env.gatewayUrl.split(',') };
  if (!existsSync(SESSION_FILE)) {
    throw new Error(
      'no running quick start found: start it first (pnpm start), or set DEGAS_GATEWAY_URL, DEGAS_ID and DEGAS_ACCOUNTS',
    );
  }
  const session = {
    ...JSON.parse(readFileSync(SESSION_FILE, 'utf8')),
    ...Object.fromEntries(Object.entries(env).filter(([, v]) => v)),
  };
  return {
    ...session,
    gatewayUrls: env.gatewayUrl ? env.gatewayUrl.split(',') : (session.gatewayUrls ?? [session.gatewayUrl]),
  };
}

/** Keys and account ids of earlier runs, for this accounts file. */
function loadSaved(accountsFile) {
  try {
    const saved = JSON.parse(readFileSync(BOTS_FILE, 'utf8'));
    if (saved.accountsFile !== accountsFile || !Array.isArray(saved.bots)) return [];
    // Only accounts that are still in the file (it may have been replaced).
    const known = new Set(JSON.parse(readFileSync(accountsFile, 'utf8')).accounts.map((a) => a.id.toLowerCase()));
    return saved.bots.filter((b) => known.has(b.accountId));
  } catch {
    return [];
  }
}

async function ensureAccounts(n, accountsFile) {
  const bots = loadSaved(accountsFile).slice(0, n);
  while (bots.length < n) {
    const key = generatePrivateKey();
    const address = privateKeyToAddress(key);
    const accountId = await addAccountWithBin({ address, accountsFile });
    bots.push({ privateKey: toHex(key), accountId });
  }
  mkdirSync(RUN_DIR, { recursive: true });
  const all = [...bots, ...loadSaved(accountsFile).slice(n)];
  writeFileSync(BOTS_FILE, `${JSON.stringify({ accountsFile, bots: all }, null, 2)}\n`, { mode: 0o600 });
  return bots;
}

/**
 * Connects, retrying AUTH_FAIL a few times: a gateway notices a new account in the file a moment
 * after `accounts add` returns.
 */
async function connectFresh(client) {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.connect();
      return;
    } catch (err) {
      if (!(err instanceof AuthError) || attempt >= 6) throw err;
      await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
    }
  }
}

class Bot {
  constructor({ name, gatewayUrl, degasId, privateKey, accountId }) {
    this.name = name;
    this.degasId = degasId;
    this.heading = { dx: 1, dy: 0 };
    this.players = 0;
    this.client = new DegasClient({ url: gatewayUrl, accountId, signer: privateKey });
    this.client.on('state', (state) => {
      // Every (re)connection starts with a JOIN, so the Degas knows this bot is back.
      if (state === 'connected') this.client.send(this.degasId, encodeJoin());
    });
    this.client.on('message', ({ payload }) => {
      const msg = decodeServerPayload(payload);
      if (msg?.op !== Op.STATE) return;
      this.players = msg.players.length;
      this.board = msg;
      this.position = msg.players.find((p) => p.id === this.client.accountIdHex);
    });
    // Until the first login succeeds, connectFresh reports failures.
    this.started = false;
    this.client.on('gatewayError', (e) => {
      if (this.started) log(`${this.name}: gateway error ${e.codeName} ${e.detail}`);
    });
    this.client.on('close', (e) => {
      if (this.started && !e.willReconnect && e.code !== 1000) {
        log(`${this.name}: disconnected (${e.code}): ${e.error.message}`);
      }
    });
  }

  async start() {
    await connectFresh(this.client);
    this.started = true;
    // Wander: keep a heading for a while, sometimes turn; 3-6 steps per second.
    const step = () => {
      if (Math.random() < 0.25) {
        const dirs = [
          [1, 0],
          [-1, 0],
          [0, 1],
          [0, -1],
          [1, 1],
          [-1, -1],
          [1, -1],
          [-1, 1],
        ];
        const [dx, dy] = dirs[Math.floor(Math.random() * dirs.length)];
        this.heading = { dx, dy };
      }
      // Bounce off the edges instead of sticking to them.
      if (this.position && this.board) {
        const { x, y } = this.position;
        if (x + this.heading.dx < 0 || x + this.heading.dx >= this.board.width) this.heading.dx = -this.heading.dx;
        if (y + this.heading.dy < 0 || y + this.heading.dy >= this.board.height) this.heading.dy = -this.heading.dy;
      }
      if (this.client.state === 'connected') {
        this.client.send(this.degasId, encodeMove(this.heading.dx, this.heading.dy));
      }
      this.timer = setTimeout(step, 160 + Math.random() * 170);
    };
    step();
  }

  stop() {
    clearTimeout(this.timer);
    this.client.close();
  }
}

async function main() {
  const n = Number(process.argv[2] ?? '3');
  if (!Number.isInteger(n) || n < 1 || n > 500) {
    console.error('usage: node examples/quickstart/bots.mjs N   (1 ≤ N ≤ 500)');
    process.exit(2);
  }
  requireGatewayBin();
  const { gatewayUrls, degasId, accountsFile } = readSession();
  const accounts = await ensureAccounts(n, accountsFile);
  // Spread over the nodes: one URL each, so every node has players (a page picks its node at random).
  const bots = accounts.map(
    (a, i) =>
      new Bot({
        name: `bot${i + 1}`,
        gatewayUrl: gatewayUrls[i % gatewayUrls.length],
        degasId,
        privateKey: a.privateKey,
        accountId: a.accountId,
      }),
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const bot of bots) bot.stop();
    log('stopped');
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Started by start.mjs: leave with it even if it could not stop us.
  process.once('disconnect', stop);
  await Promise.all(bots.map((b) => b.start()));
  if (gatewayUrls.length === 1) {
    log(`${n} bot${n === 1 ? '' : 's'} connected to ${gatewayUrls[0]}, wandering on Degas ${degasId}`);
  } else {
    for (const bot of bots) log(`${bot.name} connected to ${bot.client.url}`);
    log(`${n} bot${n === 1 ? '' : 's'} spread over ${gatewayUrls.length} gateway nodes, wandering on Degas ${degasId}`);
  }
}

main().catch((err) => {
  console.error(`bots: ${err.message}`);
  process.exit(1);
});
