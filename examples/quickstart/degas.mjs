#!/usr/bin/env node
// The board game's Degas: keeps every player's position and fans the whole board out to every
// player with sendMany, at most TICK_HZ times per second and only when something changed.
// Message format: board.mjs.
//
//   node examples/quickstart/degas.mjs --id 0x<32 hex> [--port 7000] [--host 127.0.0.1]
//   (token from env DEGAS_TOKEN, which must equal the gateway's --internal-token)
//
// start.mjs runs it for you with a random id, a random token and an OS-chosen port.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DegasServer } from '@degas/degas-sdk';
import { decodeClientPayload, encodeFull, encodeState, HEIGHT, MAX_PLAYERS, Op, TICK_HZ, WIDTH } from './board.mjs';

/**
 * Starts the board Degas and resolves once it listens.
 * @param {{degasId: string, token?: string, port?: number, host?: string, log?: (line: string) => void}} options
 * @returns {Promise<{port: number, degas: DegasServer, players: Map<string, {id: Uint8Array, x: number, y: number}>, close(): Promise<void>}>}
 */
export async function startBoardDegas({ degasId, token, port = 0, host = '127.0.0.1', log = () => {} }) {
  const options = { degasId, port, host };
  if (token !== undefined) options.token = token;
  const degas = new DegasServer(options);
  /** accountIdHex → player; Map order is join order, so the STATE lists players stably. */
  const players = new Map();
  const minGapMs = 1000 / TICK_HZ;
  let lastSentAt = 0;
  let flushTimer;

  // Coalesce changes: many moves within one tick cost one STATE per player.
  const scheduleFlush = () => {
    if (flushTimer !== undefined) return;
    const wait = Math.max(0, lastSentAt + minGapMs - Date.now());
    flushTimer = setTimeout(flush, wait);
  };
  const flush = () => {
    flushTimer = undefined;
    lastSentAt = Date.now();
    if (players.size === 0) return;
    const all = [...players.values()];
    degas.sendMany(
      all.map((p) => p.id),
      encodeState(WIDTH, HEIGHT, all),
    );
  };
  const remove = (idHex, why) => {
    if (players.delete(idHex)) {
      log(`player ${idHex} left (${why}); ${players.size} on the board`);
      scheduleFlush();
    }
  };

  degas.on('message', ({ accountId, accountIdHex, payload }) => {
    const msg = decodeClientPayload(payload);
    if (msg === undefined) return; // malformed: ignore rather than trust it
    let player = players.get(accountIdHex);
    // A JOIN always triggers a STATE, so a (re)connected player gets the board at once.
    let changed = msg.op === Op.JOIN;
    if (player === undefined) {
      // Any valid message puts a player on the board, so a player survives a Degas restart.
      if (players.size >= MAX_PLAYERS) {
        degas.send(accountId, encodeFull());
        return;
      }
      player = {
        id: accountId.slice(),
        x: Math.floor(Math.random() * WIDTH),
        y: Math.floor(Math.random() * HEIGHT),
      };
      players.set(accountIdHex, player);
      changed = true;
      log(`player ${accountIdHex} joined; ${players.size} on the board`);
    }
    const { x, y } = player;
    if (msg.op === Op.MOVE) {
      player.x = clamp(x + msg.dx, WIDTH);
      player.y = clamp(y + msg.dy, HEIGHT);
    } else if (msg.op === Op.GOTO) {
      player.x = clamp(msg.x, WIDTH);
      player.y = clamp(msg.y, HEIGHT);
    }
    if (changed || player.x !== x || player.y !== y) scheduleFlush();
  });
  degas.on('sessionClosed', ({ accountIdHex, stale }) => {
    // A stale notice is about an older session of an account that is still here.
    if (!stale) remove(accountIdHex, 'session closed');
  });
  degas.on('clientError', ({ accountIdHex }) => {
    // The gateway could not deliver to this account: it is gone, even if its notice was lost —
    // unless a newer session of it has spoken since (the error was about the old one).
    if (accountIdHex !== undefined && !degas.isPresent(accountIdHex)) remove(accountIdHex, 'not connected');
  });
  degas.on('gatewayConnected', (gw) => log(`gateway #${gw.id} connected`));
  degas.on('gatewayDisconnected', ({ gateway, code }) => log(`gateway #${gateway.id} disconnected (${code})`));
  degas.on('upgradeRejected', ({ status, reason }) => log(`refused a gateway: ${status} ${reason}`));
  degas.on('gatewayError', ({ codeName, detail }) => log(`gateway error ${codeName}: ${detail}`));
  degas.on('error', (err) => log(`error: ${err.message}`));

  const address = await degas.listen();
  return {
    port: address.port,
    degas,
    players,
    async close() {
      clearTimeout(flushTimer);
      flushTimer = undefined;
      await degas.close();
    },
  };
}

function clamp(n, size) {
  return Math.min(size - 1, Math.max(0, n));
}

async function main() {
  const { values } = parseArgs({
    options: {
      id: { type: 'string', default: process.env.DEGAS_ID },
      port: { type: 'string', default: process.env.DEGAS_PORT ?? '7000' },
      host: { type: 'string', default: process.env.DEGAS_HOST ?? '127.0.0.1' },
    },
  });
  if (values.id === undefined) {
    console.error('usage: degas.mjs --id 0x<32 hex digits> [--port N] [--host ADDR]  (token: env DEGAS_TOKEN)');
    process.exit(2);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`degas.mjs: --port must be an integer in [0, 65535], got ${values.port}`);
    process.exit(2);
  }
  const log = (line) => console.log(`[degas] ${line}`);
  let board;
  try {
    board = await startBoardDegas({ degasId: values.id, token: process.env.DEGAS_TOKEN, port, host: values.host, log });
  } catch (err) {
    console.error(`degas.mjs: ${err.message}`);
    process.exit(err instanceof TypeError || err instanceof RangeError ? 2 : 1);
  }
  // start.mjs reads the port from this line.
  log(`board Degas ${values.id} listening on ws://${values.host}:${board.port}`);
  const stop = () => {
    board.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Started by start.mjs: leave with it even if it could not stop us.
  process.once('disconnect', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
