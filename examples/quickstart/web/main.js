// The board page. Bundled by start.mjs with esbuild for browsers: it imports the browser entry
// of @degas/client (global WebSocket, no `ws`, no Node built-ins).
import {
  AuthError,
  DegasClient,
  DuplicateSessionError,
  eip1193Signer,
  generatePrivateKey,
  privateKeySigner,
} from '@degas/client';
import { colorOf, decodeServerPayload, encodeGoto, encodeJoin, encodeMove, HEIGHT, Op, WIDTH } from '../board.mjs';

const THROWAWAY_KEY = 'degas-board.throwaway'; // {privateKey, accountId}
const WALLET_KEY = 'degas-board.wallet'; // {[address lowercase]: accountId}
const MODE_KEY = 'degas-board.mode'; // 'throwaway' | 'wallet'

const $ = (id) => document.getElementById(id);
const canvas = $('board');
const ctx = canvas.getContext('2d');

/** What the page knows; also exposed as `window.degasBoard` for debugging. */
const view = {
  state: 'idle',
  accountId: undefined,
  width: WIDTH,
  height: HEIGHT,
  players: [],
  errors: [],
};
window.degasBoard = view;

let config;
let client;

// ---------------------------------------------------------------------------------------------
// UI helpers

function logLine(text, isError = false) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  if (isError) {
    li.className = 'error';
    view.errors.push(text);
  }
  const log = $('log');
  log.prepend(li);
  while (log.children.length > 50) log.lastChild.remove();
}

function setState(state) {
  view.state = state;
  const el = $('state');
  el.textContent = state;
  el.dataset.state = state;
}

function toHex(bytes) {
  let s = '0x';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? 'null');
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Accounts: the quick start's server creates them with `degas-gateway accounts add`

async function createAccount(address) {
  const res = await fetch('/api/throwaway-account', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ address }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`could not create an account: ${body.error ?? `HTTP ${res.status}`}`);
  return body.accountId;
}

/** The stored throwaway key (created on first use) and an account bound to its address. */
async function throwawayLogin({ fresh = false } = {}) {
  let saved = fresh ? null : readJson(THROWAWAY_KEY);
  if (!saved?.privateKey) saved = { privateKey: toHex(generatePrivateKey()) };
  const signer = privateKeySigner(saved.privateKey);
  if (!saved.accountId) {
    saved.accountId = await createAccount(signer.address);
    logLine(`created account ${saved.accountId} for throwaway key ${signer.address}`);
  }
  localStorage.setItem(THROWAWAY_KEY, JSON.stringify(saved));
  return {
    signer,
    accountId: saved.accountId,
    // The account may be gone (the quick start's .run directory was deleted): make a new one.
    async renew() {
      saved.accountId = await createAccount(signer.address);
      localStorage.setItem(THROWAWAY_KEY, JSON.stringify(saved));
      logLine(`created account ${saved.accountId} for throwaway key ${signer.address}`);
      return saved.accountId;
    },
  };
}

/** An EIP-1193 wallet (window.ethereum): the wallet signs the login challenge. */
async function walletLogin() {
  const provider = window.ethereum;
  if (!provider) throw new Error('no browser wallet found (window.ethereum is missing)');
  const [address] = await provider.request({ method: 'eth_requestAccounts' });
  if (!address) throw new Error('the wallet returned no account');
  const signer = eip1193Signer(provider, address);
  const ids = readJson(WALLET_KEY) ?? {};
  const key = address.toLowerCase();
  const save = (id) => {
    ids[key] = id;
    localStorage.setItem(WALLET_KEY, JSON.stringify(ids));
    return id;
  };
  if (!ids[key]) {
    save(await createAccount(address));
    logLine(`created account ${ids[key]} for wallet ${signer.address}`);
  }
  return { signer, accountId: ids[key], renew: async () => save(await createAccount(address)) };
}

// ---------------------------------------------------------------------------------------------
// Connection

let generation = 0;

async function start(mode, options = {}) {
  // A newer click wins: every await below is followed by a check of this.
  const gen = ++generation;
  localStorage.setItem(MODE_KEY, mode);
  if (client) {
    client.close();
    client = undefined;
  }
  view.players = [];
  setState('signing in');
  let login;
  try {
    login = mode === 'wallet' ? await walletLogin() : await throwawayLogin(options);
  } catch (err) {
    if (gen !== generation) return;
    setState('closed');
    logLine(err.message, true);
    return;
  }
  if (gen !== generation) return;
  // Every gateway node of the quick start (one, or a cluster's): the client picks one at random
  // and moves on to the next if it cannot connect or loses its node.
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const url = (config.gatewayPorts ?? [config.gatewayPort]).map((port) => `${scheme}://${location.hostname}:${port}`);
  // A stored account may be unknown to this gateway, and a new one takes a moment to reach it:
  // on AUTH_FAIL, retry a few times and then make a new account.
  for (let attempt = 1; attempt <= 4; attempt++) {
    const c = connectClient(url, login, mode);
    try {
      await c.connect();
      return;
    } catch (err) {
      if (c !== client) return; // the user switched login meanwhile
      if (!(err instanceof AuthError) || attempt === 4 || err.cause !== undefined) {
        logLine(`login failed: ${err.message}`, true);
        return;
      }
      try {
        if (attempt === 2) {
          logLine('this gateway does not know the stored account; creating a new one');
          login.accountId = await login.renew();
        } else {
          await new Promise((r) => setTimeout(r, 500));
        }
      } catch (renewError) {
        logLine(renewError.message, true);
        return;
      }
      if (gen !== generation) return;
    }
  }
}

function connectClient(url, login, mode) {
  const c = new DegasClient({
    url,
    accountId: login.accountId,
    signer: login.signer,
    // A wallet shows a pop-up: give the person time to answer it.
    connectTimeoutMs: mode === 'wallet' ? 60_000 : 15_000,
  });
  client = c;
  view.accountId = c.accountIdHex;
  $('who').textContent = `${c.address} (account ${c.accountIdHex})`;
  let loggedIn = false;
  c.on('state', (state) => {
    if (c !== client) return;
    if (state === 'connected') {
      loggedIn = true;
      view.gatewayUrl = c.url;
      $('node').textContent = c.urls.length > 1 ? `${c.url} (${c.urls.indexOf(c.url) + 1} of ${c.urls.length})` : c.url;
    }
    setState(state);
    // Every (re)connection starts with a JOIN, which also makes the Degas send the board.
    if (state === 'connected') c.send(config.degasId, encodeJoin());
  });
  c.on('message', ({ degasIdHex, payload }) => {
    if (c !== client || degasIdHex !== config.degasId) return;
    const msg = decodeServerPayload(payload);
    if (msg?.op === Op.STATE) {
      view.width = msg.width;
      view.height = msg.height;
      view.players = msg.players;
      $('count').textContent = String(msg.players.length);
      draw();
    } else if (msg?.op === Op.FULL) {
      logLine('the board is full', true);
    }
  });
  c.on('gatewayError', (e) => {
    // AUTH_FAIL during login is handled (and reported) by start().
    if (c !== client || (e.codeName === 'AUTH_FAIL' && !loggedIn)) return;
    const about = e.degasIdHex ? ` (Degas ${e.degasIdHex})` : '';
    logLine(`gateway error ${e.codeName}${about}${e.detail ? `: ${e.detail}` : ''}`, true);
  });
  c.on('close', (e) => {
    if (c !== client || (e.error instanceof AuthError && !loggedIn)) return;
    if (e.error instanceof DuplicateSessionError) {
      logLine(
        'this account signed in somewhere else (another tab?); use "New throwaway player" to play here too',
        true,
      );
    } else if (e.code !== 1000) {
      logLine(
        `connection closed (${e.code}${e.reason ? ` ${e.reason}` : ''})${e.willReconnect ? '; reconnecting…' : ''}`,
        !e.willReconnect,
      );
    }
  });
  c.on('error', (err) => logLine(`bad frame from the gateway: ${err.message}`, true));
  return c;
}

function sendToDegas(payload) {
  if (client?.state === 'connected') client.send(config.degasId, payload);
}

// ---------------------------------------------------------------------------------------------
// Board

function draw() {
  const { width, height, players } = view;
  const cw = canvas.width / width;
  const ch = canvas.height / height;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = '#8883';
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let x = 0; x <= width; x++) {
    ctx.moveTo(x * cw + 0.5, 0);
    ctx.lineTo(x * cw + 0.5, canvas.height);
  }
  for (let y = 0; y <= height; y++) {
    ctx.moveTo(0, y * ch + 0.5);
    ctx.lineTo(canvas.width, y * ch + 0.5);
  }
  ctx.stroke();
  const r = Math.min(cw, ch) * 0.38;
  for (const p of players) {
    const cx = (p.x + 0.5) * cw;
    const cy = (p.y + 0.5) * ch;
    ctx.fillStyle = colorOf(p.id);
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, Math.PI * 2);
    ctx.fill();
    if (p.id === view.accountId) {
      ctx.strokeStyle = getComputedStyle(document.body).color;
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(cx, cy, r + 4, 0, Math.PI * 2);
      ctx.stroke();
    }
  }
}

const KEYS = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
  a: [-1, 0],
  d: [1, 0],
  w: [0, -1],
  s: [0, 1],
};

window.addEventListener('keydown', (e) => {
  const step = KEYS[e.key];
  if (!step || e.target instanceof HTMLInputElement) return;
  e.preventDefault();
  sendToDegas(encodeMove(step[0], step[1]));
});

canvas.addEventListener('pointerdown', (e) => {
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor(((e.clientX - rect.left) / rect.width) * view.width);
  const y = Math.floor(((e.clientY - rect.top) / rect.height) * view.height);
  sendToDegas(encodeGoto(Math.max(0, x), Math.max(0, y)));
  canvas.focus();
});

$('throwaway').addEventListener('click', () => start('throwaway'));
$('wallet').addEventListener('click', () => start('wallet'));
$('newplayer').addEventListener('click', () => start('throwaway', { fresh: true }));

async function boot() {
  draw();
  try {
    const res = await fetch('/config.json');
    config = await res.json();
  } catch (err) {
    logLine(`cannot load /config.json: ${err.message}`, true);
    return;
  }
  if (!window.ethereum) $('wallet').title = 'no browser wallet (window.ethereum) found';
  // Play at once with the throwaway key, unless the wallet was chosen last time.
  await start(localStorage.getItem(MODE_KEY) === 'wallet' && window.ethereum ? 'wallet' : 'throwaway');
}

boot();
