/**
 * Resume tickets across restarts of the real `degas-gateway` process (SIGTERM, then the same
 * command line), with the keys given as flags.
 */
import { randomBytes } from 'node:crypto';
import { CloseCode, ErrorCode } from '@degas/proto';
import {
  freshTestAccount,
  type SpawnedGateway,
  spawnGateway,
  type TempDir,
  type TestAccount,
  tempDir,
  WsTestClient,
} from '@degas/test-utils';
import { resumeKeyId } from '../src/resume-ticket.js';
import { presentTicket, walletLogin } from './resume-helpers.js';

const OLD_KEY = randomBytes(32);
const NEW_KEY = randomBytes(48);

let dir: TempDir;
let accountsFile: string;
let alice: TestAccount;
const procs: SpawnedGateway[] = [];
const clients: WsTestClient[] = [];

beforeAll(async () => {
  dir = await tempDir('degas-resume-process-');
  alice = freshTestAccount();
  accountsFile = await dir.writeAccounts('accounts.json', [alice]);
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const p of procs.splice(0)) {
    p.kill('SIGKILL');
    await p.exited();
  }
});
afterAll(async () => {
  await dir.remove();
});

async function gateway(...keys: Buffer[]): Promise<SpawnedGateway> {
  const args = ['--accounts', accountsFile, '--verifier-threads', '1', '--log-level', 'debug'];
  for (const k of keys) args.push('--resume-key', k.toString('hex'));
  const gw = await spawnGateway(args);
  procs.push(gw);
  return gw;
}

function client(gw: SpawnedGateway): WsTestClient {
  const c = WsTestClient.open(`ws://127.0.0.1:${gw.port}`);
  clients.push(c);
  return c;
}

/** SIGTERM: every client gets GOING_AWAY + 1001, the process exits 0. */
async function stop(gw: SpawnedGateway, c: WsTestClient): Promise<void> {
  gw.kill('SIGTERM');
  expect((await c.nextError()).code).toBe(ErrorCode.GOING_AWAY);
  expect((await c.closed()).code).toBe(CloseCode.GOING_AWAY);
  expect((await gw.exited()).code).toBe(0);
  procs.splice(procs.indexOf(gw), 1);
}

test('a restart with the same --resume-key resumes without a signature; the log never shows a ticket or key', async () => {
  const first = await gateway(OLD_KEY);
  const c1 = client(first);
  const ok1 = await walletLogin(c1, alice);
  expect(ok1.resumeTicket.length).toBeGreaterThan(0);
  await stop(first, c1);

  const second = await gateway(OLD_KEY);
  const answer = await presentTicket(client(second), alice, ok1.resumeTicket);
  expect(answer.payload?.$case).toBe('authOk');
  if (answer.payload?.$case !== 'authOk') return;
  expect(answer.payload.value.resumed).toBe(true);
  expect(answer.payload.value.sessionId).not.toBe(ok1.sessionId);

  const log = [...first.stderrLines, ...second.stderrLines].join('\n');
  expect(log).toMatch(/resume tickets on/);
  expect(log).toContain(Buffer.from(resumeKeyId(OLD_KEY)).toString('hex'));
  expect(log).not.toContain(OLD_KEY.toString('hex').slice(0, 16));
  expect(log).not.toContain(Buffer.from(ok1.resumeTicket).toString('hex').slice(0, 32));
  expect(log).not.toContain(Buffer.from(answer.payload.value.resumeTicket).toString('hex').slice(0, 32));
}, 30_000);

test('key rotation through flags: the previous key still verifies, the new one signs; without it, challenge', async () => {
  const first = await gateway(OLD_KEY);
  const c1 = client(first);
  const ok1 = await walletLogin(c1, alice);
  await stop(first, c1);

  const rotated = await gateway(NEW_KEY, OLD_KEY);
  const c2 = client(rotated);
  const answer = await presentTicket(c2, alice, ok1.resumeTicket);
  if (answer.payload?.$case !== 'authOk') throw new Error(`expected auth_ok, got ${answer.payload?.$case}`);
  const ok2 = answer.payload.value;
  expect(ok2.resumed).toBe(true);
  expect(Buffer.from(ok2.resumeTicket.subarray(1, 5))).toEqual(Buffer.from(resumeKeyId(NEW_KEY)));
  await stop(rotated, c2);

  // The old key retired: its tickets get the challenge, the new key's still resume.
  const retired = await gateway(NEW_KEY);
  const c3 = client(retired);
  const refused = await walletLogin(c3, alice, ok1.resumeTicket);
  expect(refused.resumed).toBe(false);
  c3.terminate();
  // c3's wallet login made ok2's session the past as well: a fresh drop and resume on the new key.
  const c4 = client(retired);
  const ok4 = await walletLogin(c4, alice);
  c4.terminate();
  await c4.closed();
  const c5 = client(retired);
  const back = await presentTicket(c5, alice, ok4.resumeTicket);
  expect(back.payload?.$case).toBe('authOk');
}, 40_000);

test('an invalid --resume-key is a one-line configuration error (exit 2) that does not echo the key', async () => {
  const short = randomBytes(31).toString('hex');
  await expect(
    spawnGateway(['--accounts', accountsFile, '--resume-key', short], { timeoutMs: 10_000 }),
  ).rejects.toThrow(/exited \(code 2[\s\S]*--resume-key: key 1: a resume key must be at least 32 bytes \(31 given\)/);
  const err = await spawnGateway(['--accounts', accountsFile, '--resume-key', short]).catch((e: Error) => e.message);
  expect(err).not.toContain(short.slice(0, 16));
});
