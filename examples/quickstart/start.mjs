#!/usr/bin/env node
// The quick start (`pnpm start`): runs the board Degas, the real gateway bin, the web page and a
// few bots, prints the URL to open, and stops everything on Ctrl-C. With `--nodes N` (N > 1) it
// runs a cluster instead of one gateway: a nats-server and N gateway nodes joined through it, on
// consecutive ports; the bots are spread over the nodes and the page connects to a random one.
//
//   node examples/quickstart/start.mjs [--bots N] [--nodes N]
//
// Environment: HOST (default 127.0.0.1: the page, its account API and the gateway listen there),
// PORT (page, default 3000), GATEWAY_PORT (default 8080; node i gets GATEWAY_PORT + i - 1),
// ADMIN_PORT (gateway admin, default 9090; likewise), NATS_PORT (default 4222, with --nodes > 1),
// NATS_SERVER (path of the nats-server binary, default: found on PATH or in /usr/sbin).
// 0 for a port means "any free port"; the actual ports are printed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { parseAddress } from '@degas/auth-eth';
import * as esbuild from 'esbuild';
import { addAccountWithBin, GATEWAY_BIN, HERE, RUN_DIR, requireGatewayBin, SESSION_FILE } from './operator.mjs';

const WEB_DIR = join(HERE, 'web');
const BUNDLE = join(WEB_DIR, 'dist', 'bundle.js');
/** Accounts the page may create per run: a runaway script must not grow the file forever. */
const MAX_THROWAWAY_ACCOUNTS = 1000;
const MAX_NODES = 9;

const say = (line) => console.log(line);
const fail = (line) => console.error(`start: ${line}`);

function portFromEnv(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    fail(`${name} must be a port number (0-65535), got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

let args;
try {
  args = parseArgs({
    // `pnpm start -- --bots 5` passes the "--" along.
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      bots: { type: 'string', default: '3' },
      nodes: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  fail(err.message);
  process.exit(2);
}
if (args.help) {
  say(
    'usage: node examples/quickstart/start.mjs [--bots N] [--nodes N]   (env HOST, PORT, GATEWAY_PORT, ADMIN_PORT, NATS_PORT, NATS_SERVER)',
  );
  process.exit(0);
}
const botCount = Number(args.bots);
if (!Number.isInteger(botCount) || botCount < 0 || botCount > 500) {
  fail(`--bots must be an integer from 0 to 500, got ${JSON.stringify(args.bots)}`);
  process.exit(2);
}
const nodeCount = Number(args.nodes);
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > MAX_NODES) {
  fail(`--nodes must be an integer from 1 to ${MAX_NODES}, got ${JSON.stringify(args.nodes)}`);
  process.exit(2);
}
const clustered = nodeCount > 1;
const host = process.env.HOST || '127.0.0.1';
const webPort = portFromEnv('PORT', 3000);
const gatewayPort = portFromEnv('GATEWAY_PORT', 8080);
const adminPort = portFromEnv('ADMIN_PORT', 9090);
const natsPort = portFromEnv('NATS_PORT', 4222);
for (const [name, base] of [
  ['GATEWAY_PORT', gatewayPort],
  ['ADMIN_PORT', adminPort],
]) {
  if (base !== 0 && base + nodeCount - 1 > 65535) {
    fail(`${name} ${base} leaves no room for ${nodeCount} consecutive ports`);
    process.exit(2);
  }
}
const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;

try {
  requireGatewayBin();
} catch (err) {
  fail(err.message);
  process.exit(1);
}

/** The nats-server binary: NATS_SERVER, else the first on PATH or in Debian's /usr/sbin. */
function findNatsServer() {
  if (process.env.NATS_SERVER) return process.env.NATS_SERVER;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const file = join(dir, 'nats-server');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const natsServer = clustered ? findNatsServer() : undefined;
if (clustered && natsServer === undefined) {
  fail(`--nodes ${nodeCount} runs a cluster, which needs nats-server, and none was found (on PATH or in /usr/sbin).`);
  fail('  Debian/Ubuntu: sudo apt-get install nats-server   (./quickstart.sh does it when run as root)');
  fail('  elsewhere: https://docs.nats.io/running-a-nats-service/introduction/installation, or set NATS_SERVER');
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Child processes

/** @type {Set<{name: string, proc: import('node:child_process').ChildProcess, exited: Promise<void>}>} */
const children = new Set();
let stopping = false;

function startChild(name, argv, { env = {}, onLine, ipc = false, command = process.execPath, onExit }) {
  if (stopping) throw new Error('stopping');
  const proc = spawn(command, argv, {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    // Our own scripts get an IPC channel so they exit if this process dies without cleaning up.
    stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc'] : [])],
    // A process group of its own: Ctrl-C reaches only this process, which then stops each child
    // exactly once and in order (a second signal makes the gateway skip its graceful drain).
    detached: true,
  });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const child = { name, proc, exited };
  children.add(child);
  createInterface({ input: proc.stdout }).on('line', (line) => onLine(line, 'stdout'));
  createInterface({ input: proc.stderr }).on('line', (line) => onLine(line, 'stderr'));
  proc.once('exit', (code, signal) => {
    children.delete(child);
    if (stopping) return;
    // A cluster survives the loss of a node: that is what it is for.
    if (onExit?.(code, signal)) return;
    fail(`${name} exited unexpectedly (code ${code}, signal ${signal}); stopping everything`);
    void shutdown(1);
  });
  return child;
}

async function stopChild({ proc, exited }) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
}

/** Resolves with the value `match(line)` returns for the first line where it is not undefined. */
function waitForLine(child, match, what, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${child.name} did not report ${what} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.matchers ??= [];
    child.matchers.push((line) => {
      const value = match(line);
      if (value === undefined) return false;
      clearTimeout(timer);
      resolve(value);
      return true;
    });
    child.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${child.name} exited before it reported ${what}`));
    });
  });
}

function feedMatchers(child, line) {
  if (!child?.matchers) return;
  child.matchers = child.matchers.filter((m) => !m(line));
}

// ---------------------------------------------------------------------------------------------
// Working directory

mkdirSync(RUN_DIR, { recursive: true });
const accountsFile = join(RUN_DIR, 'accounts.json');
// Kept across runs, so the page's stored throwaway key and the bots' keys keep their accounts.
if (!existsSync(accountsFile)) writeFileSync(accountsFile, '{ "accounts": [] }\n');
const internalToken = randomBytes(24).toString('base64url');
// The nodes of a cluster must share the resume-ticket key, so that a player whose node is gone
// comes back on another one without signing again (a single node makes its own).
const resumeKey = clustered ? randomBytes(32).toString('hex') : undefined;
const degasId = `0x${randomBytes(16).toString('hex')}`;

// ---------------------------------------------------------------------------------------------
// The Degas

const degas = startChild('degas', [join(HERE, 'degas.mjs'), '--id', degasId, '--port', '0', '--host', '127.0.0.1'], {
  env: { DEGAS_TOKEN: internalToken },
  ipc: true,
  onLine: (line) => {
    feedMatchers(degas, line);
    say(line);
  },
});

// ---------------------------------------------------------------------------------------------
// The gateway nodes (the real bin, as an operator would run it)

/** Names of the gateway processes: "gateway" alone, or "node-1" … "node-N" in a cluster. */
const nodeNames = clustered ? Array.from({ length: nodeCount }, (_, i) => `node-${i + 1}`) : ['gateway'];
/** Accounts each node last reported loading (its account file reloads). */
const nodeAccounts = new Map(nodeNames.map((name) => [name, -1]));
const accountWaiters = new Set();

function onGatewayLine(child, line) {
  let rec;
  try {
    rec = JSON.parse(line);
  } catch {
    // not a log record: shown as it is
  }
  if (typeof rec !== 'object' || rec === null) {
    say(`[${child.name}] ${line}`);
    feedMatchers(child, line);
    return;
  }
  feedMatchers(child, rec);
  if (typeof rec.accounts === 'number') {
    nodeAccounts.set(child.name, rec.accounts);
    for (const w of accountWaiters) w();
  }
  const { time: _t, level, msg, ...fields } = rec;
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  say(`[${child.name}] ${level === 'info' ? '' : `${String(level).toUpperCase()} `}${msg}${extra ? ` ${extra}` : ''}`);
}

/** nats-server's log lines look like `[pid] date time [INF] text`. */
function onNatsLine(child, line) {
  feedMatchers(child, line);
  const m = /\[(INF|WRN|ERR|FTL|DBG|TRC)\] (.*)$/.exec(line);
  // Its start-up banner is long; show what matters.
  if (m && m[1] === 'INF' && !/Listening for client|Server is ready/.test(m[2])) return;
  say(`[nats] ${m ? `${m[1] === 'INF' ? '' : `${m[1]} `}${m[2]}` : line}`);
}

async function startNats() {
  const storeDir = join(RUN_DIR, 'nats');
  // A fresh JetStream store per run: the cluster's registry starts empty.
  rmSync(storeDir, { recursive: true, force: true });
  const nats = startChild(
    'nats',
    ['-a', '127.0.0.1', '-p', natsPort === 0 ? '-1' : String(natsPort), '-js', '-sd', storeDir],
    { command: natsServer, onLine: (line) => onNatsLine(nats, line) },
  );
  // Both matchers are set up at once: the two lines may arrive in one chunk.
  const ready = waitForLine(nats, (line) => (/Server is ready/.test(line) ? true : undefined), 'that it is ready');
  ready.catch(() => {}); // awaited below; a failure before that is reported by the port's wait
  const port = await waitForLine(
    nats,
    (line) => {
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(line);
      return m ? Number(m[1]) : undefined;
    },
    'its client port',
  ).catch((err) => {
    throw new Error(`${err.message} (if port ${natsPort} is taken, set NATS_PORT, or 0 for any free one)`);
  });
  await ready;
  return `nats://127.0.0.1:${port}`;
}

/** Starts gateway node `i` (0-based) and resolves with its bound ports once it logs "listening". */
async function startGatewayNode(i, { degasPort, natsUrl }) {
  const name = nodeNames[i];
  const argv = [
    GATEWAY_BIN,
    '--host',
    host,
    '--port',
    String(gatewayPort === 0 ? 0 : gatewayPort + i),
    '--admin-port',
    String(adminPort === 0 ? 0 : adminPort + i),
    '--accounts',
    accountsFile,
    '--degas',
    `${degasId}=ws://127.0.0.1:${degasPort}`,
  ];
  if (natsUrl !== undefined) argv.push('--nats', natsUrl, '--node-name', name);
  const child = startChild(name, argv, {
    // Secrets go by environment, not argv, so they do not show in the process list.
    env: { DEGAS_INTERNAL_TOKEN: internalToken, ...(resumeKey ? { DEGAS_RESUME_KEY: resumeKey } : {}) },
    onLine: (line) => onGatewayLine(child, line),
    onExit: (code, signal) => {
      // Once the cluster runs, a lost node is a demonstration, not a failure.
      const others = [...children].filter((c) => nodeNames.includes(c.name)).length;
      if (!clustered || !clusterUp || others === 0) return false;
      nodeAccounts.delete(name);
      fail(`${name} exited (code ${code}, signal ${signal}); ${others} node(s) keep running, its players move to them`);
      return true;
    },
  });
  const ports = await waitForLine(
    child,
    (rec) =>
      typeof rec === 'object' && rec.msg === 'listening' && typeof rec.port === 'number'
        ? { port: rec.port, adminPort: rec.adminPort }
        : undefined,
    'its "listening" log line',
  ).catch((err) => {
    throw new Error(`${err.message} (if a port is taken, set GATEWAY_PORT / ADMIN_PORT, or 0 for any free one)`);
  });
  return { name, ...ports };
}

let server;
/** Set once every node listens: from then on a cluster tolerates the loss of nodes. */
let clusterUp = false;

async function main() {
  const degasPort = await waitForLine(
    degas,
    (line) => {
      const m = /listening on ws:\/\/[^\s]+:(\d+)/.exec(line);
      return m ? Number(m[1]) : undefined;
    },
    'its port',
  );

  const natsUrl = clustered ? await startNats() : undefined;
  // One after the other: the first node creates the cluster's KV bucket, and ports stay in order.
  const nodes = [];
  for (let i = 0; i < nodeCount; i++) nodes.push(await startGatewayNode(i, { degasPort, natsUrl }));
  clusterUp = true;
  const gatewayHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : shownHost;
  const gatewayUrls = nodes.map((n) => `ws://${gatewayHost}:${n.port}`);
  const gatewayUrl = gatewayUrls[0];

  // The page: bundled for browsers (the client's browser build: global WebSocket, no `ws`).
  await bundlePage();
  server = await startWebServer({ gatewayPorts: nodes.map((n) => n.port) });
  const webUrl = `http://${shownHost}:${server.address().port}/`;

  writeFileSync(SESSION_FILE, `${JSON.stringify({ gatewayUrl, gatewayUrls, degasId, accountsFile }, null, 2)}\n`);

  if (botCount > 0) {
    startChild('bots', [join(HERE, 'bots.mjs'), String(botCount)], {
      // Several URLs, comma-separated: bot i plays on node i mod N.
      env: { DEGAS_GATEWAY_URL: gatewayUrls.join(','), DEGAS_ID: degasId, DEGAS_ACCOUNTS: accountsFile },
      ipc: true,
      onLine: (line) => say(line),
    });
  }

  // The gateways' admin servers listen on 127.0.0.1 whatever HOST is (their default).
  const metrics = (n) =>
    typeof n.adminPort === 'number' ? `   (metrics: http://127.0.0.1:${n.adminPort}/metrics)` : '';
  say('');
  say(`  Degas quick start is running${clustered ? `: a cluster of ${nodeCount} gateway nodes` : ''}`);
  if (clustered) {
    say(`    NATS      ${natsUrl}`);
    for (const [i, n] of nodes.entries()) {
      say(`    ${i === 0 ? 'gateways' : '        '}  ${gatewayUrls[i]}  ${n.name}${metrics(n)}`);
    }
  } else {
    say(`    gateway   ${gatewayUrl}${metrics(nodes[0])}`);
  }
  say(`    Degas     ${degasId}   (board game, ws://127.0.0.1:${degasPort})`);
  say(`    bots      ${botCount}${clustered && botCount > 0 ? ' (spread over the nodes)' : ''}`);
  say(`    accounts  ${accountsFile}`);
  say('');
  say(`  Open ${webUrl} in a browser. Ctrl-C stops everything.`);
  if (clustered) say('  Each page connects to a node picked at random; open several to play across nodes.');
  say('');
}

async function bundlePage() {
  const result = await esbuild.build({
    entryPoints: [join(WEB_DIR, 'main.js')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
  });
  // One build per run: do not keep esbuild's service process around.
  await esbuild.stop();
  const nodeOnly = Object.keys(result.metafile.inputs).filter((p) => /node_modules\/(\.pnpm\/)?ws[@/]/.test(p));
  if (nodeOnly.length > 0) throw new Error(`the page bundle must not contain ws: ${nodeOnly[0]}`);
}

// ---------------------------------------------------------------------------------------------
// Web server: the page, its config, and the throwaway-account API

let created = 0;
let queue = Promise.resolve();

/** Creates an account for `address` the operator's way, then waits until the gateway has it. */
function createAccount(address) {
  const job = queue.then(async () => {
    const accountId = await addAccountWithBin({ address, accountsFile });
    const total = JSON.parse(readFileSync(accountsFile, 'utf8')).accounts.length;
    await gatewayHasAccounts(total, 5000);
    return accountId;
  });
  queue = job.catch(() => {});
  return job;
}

/** Resolves once every gateway node logged a reload with at least `n` accounts (or after `ms`). */
function gatewayHasAccounts(n, ms) {
  return new Promise((resolve) => {
    const done = () => {
      if (Math.min(...nodeAccounts.values()) < n) return;
      clearTimeout(timer);
      accountWaiters.delete(done);
      resolve();
    };
    // Without the log line (e.g. a quieter log level) the client's retry covers the gap.
    const timer = setTimeout(() => {
      accountWaiters.delete(done);
      resolve();
    }, ms);
    accountWaiters.add(done);
    done();
  });
}

const STATIC = {
  '/': { file: join(WEB_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/index.html': { file: join(WEB_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/dist/bundle.js': { file: BUNDLE, type: 'text/javascript; charset=utf-8' },
  '/dist/bundle.js.map': { file: `${BUNDLE}.map`, type: 'application/json' },
};

function send(res, status, type, body) {
  res.writeHead(status, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendJson(res, status, value) {
  send(res, status, 'application/json', JSON.stringify(value));
}

function startWebServer({ gatewayPorts }) {
  const srv = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (path === '/config.json') {
        // The page connects to one of the nodes, at random (the client's URL list).
        return sendJson(res, 200, { degasId, gatewayPort: gatewayPorts[0], gatewayPorts });
      }
      const entry = STATIC[path];
      if (entry === undefined) return send(res, 404, 'text/plain', 'not found\n');
      return send(res, 200, entry.type, readFileSync(entry.file));
    }
    if (req.method === 'POST' && path === '/api/throwaway-account') return throwawayAccount(req, res);
    return send(res, 405, 'text/plain', 'method not allowed\n');
  });
  srv.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    srv.once('error', (err) =>
      reject(
        new Error(
          `the web server cannot listen on ${host}:${webPort}: ${err.message} (set PORT to another port, or 0 for any free one)`,
        ),
      ),
    );
    srv.listen(webPort, host, () => resolve(srv));
  });
}

function throwawayAccount(req, res) {
  // Only this page may call it: a JSON content type forces a CORS preflight on other origins
  // (which this server never answers), and an Origin, when sent, must be this server.
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host}`) {
    return sendJson(res, 403, { error: 'cross-origin requests are not allowed' });
  }
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    return sendJson(res, 415, { error: 'Content-Type must be application/json' });
  }
  let body = '';
  let tooBig = false;
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    body += chunk;
    if (body.length > 1024) {
      tooBig = true;
      req.destroy();
    }
  });
  req.on('end', async () => {
    if (tooBig) return;
    let address;
    try {
      address = JSON.parse(body).address;
    } catch {
      return sendJson(res, 400, { error: 'the body must be JSON: {"address":"0x…"}' });
    }
    try {
      parseAddress(address);
    } catch (err) {
      return sendJson(res, 400, { error: `invalid address: ${err.message}` });
    }
    if (created >= MAX_THROWAWAY_ACCOUNTS) {
      return sendJson(res, 429, { error: `this run has already created ${MAX_THROWAWAY_ACCOUNTS} accounts` });
    }
    created++;
    try {
      const accountId = await createAccount(address);
      say(`[web] created account ${accountId} for ${address}`);
      sendJson(res, 200, { accountId, address });
    } catch (err) {
      fail(err.message);
      sendJson(res, 500, { error: 'could not create the account (see the start.mjs output)' });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Shutdown

let exitCode;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  exitCode = code;
  if (server) {
    server.close();
    server.closeAllConnections();
  }
  // Players first, then the gateway nodes (they drain their connections), then the bus and the
  // Degas behind them.
  const byName = (...names) => [...children].filter((c) => names.includes(c.name));
  await Promise.all(byName('bots').map(stopChild));
  await Promise.all(byName(...nodeNames).map(stopChild));
  await Promise.all([...children].map(stopChild));
  rmSync(SESSION_FILE, { force: true });
  say('stopped');
  process.exit(exitCode);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGHUP', () => void shutdown(0));
// Last resort (an exception, process.exit elsewhere): never leave a child running.
process.on('exit', () => {
  for (const { proc } of children) proc.kill('SIGKILL');
});

main().catch((err) => {
  if (stopping) return;
  fail(err.message);
  void shutdown(1);
});
