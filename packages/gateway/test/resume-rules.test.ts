/** The rules of PROTOCOL.md 4.5 as pure functions, and the single-node registry's single-use claim. */
import { randomBytes } from 'node:crypto';
import { idKey, randomId } from '@degas/proto';
import { type AccountState, LocalRegistry, type RegisteredSession } from '../src/registry.js';
import { checkState, openTicket, RESUME_OFF, type ResumePolicy, resumePolicy } from '../src/resume.js';
import { type TicketClaims, TicketCodec } from '../src/resume-ticket.js';

const KEY = Uint8Array.from(randomBytes(32));
const ACCOUNT = randomId();
const ADDRESS = '0x00112233445566778899aabbccddeeff00112233';
const NOW = 1_800_000_000_000;
const policy: ResumePolicy = { codec: new TicketCodec([KEY]), windowMs: 60_000, maxAgeMs: 86_400_000, unknownUntil: 0 };

function claims(sessionId = 7n, chainStartMs = NOW - 1000): TicketClaims {
  const t = policy.codec!.issue(ACCOUNT, ADDRESS, sessionId, chainStartMs).ticket;
  const c = openTicket(policy, t, ACCOUNT, ADDRESS, NOW);
  if (typeof c === 'string') throw new Error(c);
  return c;
}

describe('openTicket (checks 1, 2 and 4)', () => {
  const ticket = () => policy.codec!.issue(ACCOUNT, ADDRESS, 7n, NOW - 1000).ticket;
  test('accepts its own ticket for the same account and signer', () => {
    expect(openTicket(policy, ticket(), ACCOUNT, ADDRESS, NOW)).toMatchObject({ sessionId: 7n });
  });
  test('refusals', () => {
    expect(openTicket(RESUME_OFF, ticket(), ACCOUNT, ADDRESS, NOW)).toBe('off');
    expect(openTicket(policy, new Uint8Array(3), ACCOUNT, ADDRESS, NOW)).toBe('malformed');
    expect(openTicket(policy, ticket(), randomId(), ADDRESS, NOW)).toBe('account_mismatch');
    expect(openTicket(policy, ticket(), ACCOUNT, `0x${'11'.repeat(20)}`, NOW)).toBe('signer_mismatch');
    const old = policy.codec!.issue(ACCOUNT, ADDRESS, 7n, NOW - policy.maxAgeMs - 1).ticket;
    expect(openTicket(policy, old, ACCOUNT, ADDRESS, NOW)).toBe('max_age');
    const edge = policy.codec!.issue(ACCOUNT, ADDRESS, 7n, NOW - policy.maxAgeMs).ticket;
    expect(openTicket(policy, edge, ACCOUNT, ADDRESS, NOW)).toMatchObject({ sessionId: 7n });
    const other = new TicketCodec([Uint8Array.from(randomBytes(32))]).issue(ACCOUNT, ADDRESS, 7n, NOW).ticket;
    expect(openTicket(policy, other, ACCOUNT, ADDRESS, NOW)).toBe('unknown_key');
  });
});

describe('checkState (check 3)', () => {
  const c = claims();
  const state = (s: Partial<AccountState>): AccountState => ({
    sessionId: 7n,
    open: false,
    endedAt: NOW - 1000,
    resumable: true,
    ticketHash: c.nonceHash,
    ...s,
  });
  test('an open (half-open) or resumably ended latest session: the claim expects it', () => {
    expect(checkState(policy, c, state({ open: true, endedAt: 0, resumable: false }), NOW)).toBe(7n);
    expect(checkState(policy, c, state({}), NOW)).toBe(7n);
    expect(checkState(policy, c, state({ endedAt: NOW - 59_999 }), NOW)).toBe(7n);
  });
  test('refusals', () => {
    expect(checkState(policy, c, state({ sessionId: 8n }), NOW)).toBe('superseded');
    expect(checkState(policy, c, state({ ticketHash: 'ab'.repeat(32) }), NOW)).toBe('superseded');
    expect(checkState(policy, c, state({ ticketHash: '' }), NOW)).toBe('superseded');
    expect(checkState(policy, c, state({ resumable: false }), NOW)).toBe('revoked');
    expect(checkState(policy, c, state({ endedAt: NOW - 60_000 }), NOW)).toBe('expired');
    expect(checkState(policy, c, undefined, NOW)).toBe('unknown');
  });
  test('no state: accepted (expecting none) only during the restart grace of a single node', () => {
    expect(checkState({ ...policy, unknownUntil: NOW + 1 }, c, undefined, NOW)).toBe(0n);
    expect(checkState({ ...policy, unknownUntil: NOW }, c, undefined, NOW)).toBe('unknown');
  });
});

describe('resumePolicy', () => {
  const logs: [string, string][] = [];
  const log = (level: string, msg: string, fields: Record<string, unknown>) => {
    logs.push([level, `${msg} ${JSON.stringify(fields)}`]);
  };
  beforeEach(() => {
    logs.length = 0;
  });
  test('window 0: off', () => {
    expect(resumePolicy({ keys: [KEY], windowMs: 0, maxAgeMs: 1, cluster: false, started: NOW }, log)).toBe(RESUME_OFF);
  });
  test('a cluster node without a key issues no tickets and says why', () => {
    expect(resumePolicy({ keys: undefined, windowMs: 1000, maxAgeMs: 1, cluster: true, started: NOW }, log).codec).toBe(
      undefined,
    );
    expect(logs[0]![0]).toBe('warn');
    expect(logs[0]![1]).toMatch(/no --resume-key on a cluster node/);
  });
  test('a single node without a key makes a random one; no restart grace', () => {
    const p = resumePolicy({ keys: undefined, windowMs: 1000, maxAgeMs: 1, cluster: false, started: NOW }, log);
    expect(p.codec).toBeInstanceOf(TicketCodec);
    expect(p.unknownUntil).toBe(0);
    expect(logs[0]![1]).toMatch(/random key/);
  });
  test('configured keys: restart grace of one window on a single node, none in a cluster; key ids logged, never keys', () => {
    const single = resumePolicy({ keys: [KEY], windowMs: 1000, maxAgeMs: 5, cluster: false, started: NOW }, log);
    expect(single.unknownUntil).toBe(NOW + 1000);
    expect(single.maxAgeMs).toBe(5);
    const cluster = resumePolicy({ keys: [KEY], windowMs: 1000, maxAgeMs: 5, cluster: true, started: NOW }, log);
    expect(cluster.unknownUntil).toBe(0);
    const text = logs.map((l) => l[1]).join('\n');
    expect(text).toContain(single.codec!.keyIds[0]!);
    expect(text).not.toContain(Buffer.from(KEY).toString('hex').slice(0, 16));
  });
});

describe('LocalRegistry conditional claim (single use)', () => {
  const session = (id: bigint, key = 'k'): RegisteredSession & { kicked: number } => {
    const s = {
      accountId: ACCOUNT,
      accountKey: key,
      sessionId: id,
      ticketHash: `h${id}`,
      kicked: 0,
      deliver: () => true,
      kick: () => {
        s.kicked++;
      },
    };
    return s;
  };
  test('expects the latest open session: kicks it; the same expectation then conflicts', () => {
    const r = new LocalRegistry({ retainEndedMs: 60_000 });
    const s1 = session(1n);
    expect(r.claim(s1)).toBe('ok');
    const s2 = session(2n);
    expect(r.claim(s2, 1n)).toBe('ok');
    expect(s1.kicked).toBe(1);
    expect(r.claim(session(3n), 1n)).toBe('conflict');
    expect(r.local('k')).toBe(s2);
  });
  test('an ended session: resumable → ok once; revoked → conflict', () => {
    const r = new LocalRegistry({ retainEndedMs: 60_000 });
    const s1 = session(1n);
    r.claim(s1);
    r.release(s1, true);
    expect(r.claim(session(2n), 1n)).toBe('ok');
    expect(r.claim(session(3n), 1n)).toBe('conflict');
    const s4 = session(4n, 'other');
    r.claim(s4);
    r.release(s4, false);
    expect(r.claim(session(5n, 'other'), 4n)).toBe('conflict');
  });
  test('0n expects no state at all', () => {
    const r = new LocalRegistry({ retainEndedMs: 60_000 });
    expect(r.claim(session(1n), 0n)).toBe('ok');
    expect(r.claim(session(2n), 0n)).toBe('conflict');
  });
  test('latest() reports the nonce hash of the session that holds the account', () => {
    const r = new LocalRegistry({ retainEndedMs: 60_000 });
    const s = { ...session(9n), accountKey: idKey(ACCOUNT) };
    r.claim(s);
    expect(r.latest(ACCOUNT)).toEqual({ sessionId: 9n, open: true, endedAt: 0, resumable: false, ticketHash: 'h9' });
    r.release(s, true);
    expect(r.latest(ACCOUNT)).toMatchObject({ sessionId: 9n, open: false, resumable: true, ticketHash: 'h9' });
  });
});
