import { createHash, createHmac, randomBytes } from 'node:crypto';
import { randomId } from '@degas/proto';
import {
  MAX_TICKET_BYTES,
  parseResumeKey,
  resumeKeyId,
  TICKET_BYTES,
  type TicketClaims,
  TicketCodec,
} from '../src/resume-ticket.js';

const KEY_A = Uint8Array.from(randomBytes(32));
const KEY_B = Uint8Array.from(randomBytes(48));
const ADDRESS = '0x00112233445566778899aabbccddeeff00112233';
const ACCOUNT = randomId();
const SESSION = 0x1234_5678_9abc_def0n;
const CHAIN_START = 1_780_000_000_123;

function claims(r: TicketClaims | string): TicketClaims {
  if (typeof r === 'string') throw new Error(`refused: ${r}`);
  return r;
}

test('a ticket opens to exactly what it was issued with', () => {
  const codec = new TicketCodec([KEY_A]);
  const { ticket, nonceHash } = codec.issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START);
  expect(ticket.length).toBe(TICKET_BYTES);
  expect(ticket.length).toBeLessThanOrEqual(MAX_TICKET_BYTES);
  const c = claims(codec.open(ticket));
  expect(c.accountId).toEqual(ACCOUNT);
  expect(c.address).toBe(ADDRESS);
  expect(c.sessionId).toBe(SESSION);
  expect(c.chainStartMs).toBe(CHAIN_START);
  expect(c.nonceHash).toBe(nonceHash);
  expect(nonceHash).toMatch(/^[0-9a-f]{64}$/);
});

test('the largest session id and chain start survive the round trip', () => {
  const codec = new TicketCodec([KEY_A]);
  const max = (1n << 64n) - 1n;
  const c = claims(codec.open(codec.issue(ACCOUNT, ADDRESS, max, Number.MAX_SAFE_INTEGER).ticket));
  expect(c.sessionId).toBe(max);
  expect(c.chainStartMs).toBe(Number.MAX_SAFE_INTEGER);
});

test('the layout and MAC match an independent HMAC-SHA256 (node:crypto)', () => {
  const codec = new TicketCodec([KEY_A]);
  const { ticket, nonceHash } = codec.issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START);
  const b = Buffer.from(ticket);
  expect(b[0]).toBe(1);
  expect(b.subarray(1, 5)).toEqual(Buffer.from(resumeKeyId(KEY_A)));
  expect(b.subarray(5, 21)).toEqual(Buffer.from(ACCOUNT));
  expect(b.subarray(21, 41).toString('hex')).toBe(ADDRESS.slice(2));
  expect(b.readBigUInt64BE(41)).toBe(SESSION);
  expect(Number(b.readBigUInt64BE(49))).toBe(CHAIN_START);
  const nonce = b.subarray(57, 73);
  expect(createHash('sha256').update(nonce).digest('hex')).toBe(nonceHash);
  const mac = createHmac('sha256', KEY_A).update(b.subarray(0, 73)).digest();
  expect(b.subarray(73)).toEqual(mac);
  expect(resumeKeyId(KEY_A)).toEqual(
    Uint8Array.from(createHash('sha256').update('degas resume key id').update(KEY_A).digest().subarray(0, 4)),
  );
});

test('every ticket has its own nonce, and the ticket itself never equals its stored hash', () => {
  const codec = new TicketCodec([KEY_A]);
  const a = codec.issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START);
  const b = codec.issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START);
  expect(a.nonceHash).not.toBe(b.nonceHash);
  expect(Buffer.from(a.ticket).equals(Buffer.from(b.ticket))).toBe(false);
  expect(Buffer.from(a.ticket).toString('hex')).not.toContain(a.nonceHash);
});

describe('refusals (never a throw)', () => {
  const codec = new TicketCodec([KEY_A]);
  const good = codec.issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START).ticket;

  test('empty', () => expect(codec.open(new Uint8Array(0))).toBe('malformed'));
  test('truncated by one byte, and to every shorter length', () => {
    for (let n = 0; n < good.length; n++) expect(codec.open(good.subarray(0, n))).toBe('malformed');
  });
  test('one byte appended', () => {
    expect(codec.open(Uint8Array.from([...good, 0]))).toBe('malformed');
  });
  test('513 bytes (over the limit), and 512 bytes of garbage', () => {
    expect(codec.open(new Uint8Array(MAX_TICKET_BYTES + 1))).toBe('malformed');
    const big = new Uint8Array(MAX_TICKET_BYTES + 1);
    big.set(good);
    expect(codec.open(big)).toBe('malformed');
    expect(codec.open(Uint8Array.from(randomBytes(MAX_TICKET_BYTES)))).toBe('malformed');
  });
  test('unknown version', () => {
    for (const v of [0, 2, 255]) {
      const t = Uint8Array.from(good);
      t[0] = v;
      expect(codec.open(t)).toBe('malformed');
    }
  });
  test('a flipped bit anywhere is refused: key id → unknown_key, any other byte → bad_mac', () => {
    for (let i = 1; i < good.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const t = Uint8Array.from(good);
        t[i]! ^= bit;
        expect([i, codec.open(t)]).toEqual([i, i < 5 ? 'unknown_key' : 'bad_mac']);
      }
    }
  });
  test('a changed account id, signer or session id with the MAC kept', () => {
    for (const [offset, len] of [
      [5, 16],
      [21, 20],
      [41, 8],
      [49, 8],
    ] as const) {
      const t = Uint8Array.from(good);
      t.set(randomBytes(len), offset);
      expect(codec.open(t)).toBe('bad_mac');
    }
  });
  test('random bytes of the right length', () => {
    for (let i = 0; i < 50; i++) {
      const t = Uint8Array.from(randomBytes(TICKET_BYTES));
      t[0] = 1;
      expect(['unknown_key', 'bad_mac']).toContain(codec.open(t));
    }
  });
  test('a ticket signed with a key this node does not have', () => {
    const other = new TicketCodec([KEY_B]).issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START).ticket;
    expect(codec.open(other)).toBe('unknown_key');
  });
  test('a forged ticket that reuses our key id but another key', () => {
    const forged = Buffer.from(new TicketCodec([KEY_B]).issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START).ticket);
    forged.set(resumeKeyId(KEY_A), 1);
    forged.set(createHmac('sha256', KEY_B).update(forged.subarray(0, 73)).digest(), 73);
    expect(codec.open(Uint8Array.from(forged))).toBe('bad_mac');
  });
  test('the MAC of an all-zero key, a zero MAC', () => {
    const t = Buffer.from(good);
    t.fill(0, 73);
    expect(codec.open(Uint8Array.from(t))).toBe('bad_mac');
  });
  test('values that are not Uint8Arrays', () => {
    for (const v of [undefined, null, 'x'.repeat(TICKET_BYTES), [...good], { length: TICKET_BYTES }]) {
      expect(codec.open(v as unknown as Uint8Array)).toBe('malformed');
    }
  });
  test('a view into a larger buffer opens like a copy', () => {
    const big = new Uint8Array(TICKET_BYTES + 10);
    big.set(good, 7);
    expect(claims(codec.open(big.subarray(7, 7 + TICKET_BYTES))).sessionId).toBe(SESSION);
  });
});

describe('key rotation', () => {
  test('the first key signs, every key verifies', () => {
    const old = new TicketCodec([KEY_A]).issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START).ticket;
    const rotated = new TicketCodec([KEY_B, KEY_A]);
    expect(claims(rotated.open(old)).sessionId).toBe(SESSION);
    const fresh = rotated.issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START).ticket;
    expect(Buffer.from(fresh.subarray(1, 5))).toEqual(Buffer.from(resumeKeyId(KEY_B)));
    expect(new TicketCodec([KEY_A]).open(fresh)).toBe('unknown_key');
    expect(claims(new TicketCodec([KEY_B]).open(fresh)).sessionId).toBe(SESSION);
    expect(rotated.keyIds).toEqual([
      Buffer.from(resumeKeyId(KEY_B)).toString('hex'),
      Buffer.from(resumeKeyId(KEY_A)).toString('hex'),
    ]);
  });
});

describe('configuration errors', () => {
  test('keys: none, too short, duplicated, too many, not bytes', () => {
    expect(() => new TicketCodec([])).toThrow(TypeError);
    expect(() => new TicketCodec([new Uint8Array(31)])).toThrow(/at least 32 bytes/);
    expect(() => new TicketCodec([KEY_A, Uint8Array.from(KEY_A)])).toThrow(/twice/);
    expect(() => new TicketCodec(Array.from({ length: 17 }, () => Uint8Array.from(randomBytes(32))))).toThrow(
      RangeError,
    );
    expect(() => new TicketCodec(['00'.repeat(32)] as unknown as Uint8Array[])).toThrow(TypeError);
  });
  test('parseResumeKey: hex of at least 32 bytes, with or without 0x; the key never appears in the error', () => {
    const hex = Buffer.from(KEY_A).toString('hex');
    expect(parseResumeKey(hex)).toEqual(KEY_A);
    expect(parseResumeKey(`0x${hex.toUpperCase()}`)).toEqual(KEY_A);
    const short = 'ab'.repeat(31);
    expect(() => parseResumeKey(short)).toThrow(/at least 32 bytes \(31 given\)/);
    for (const bad of ['', 'zz'.repeat(32), `${hex}0`, `${hex.slice(0, 62)}g${hex.slice(63)}`]) {
      let message = '';
      try {
        parseResumeKey(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).not.toBe('');
      if (bad.length > 8) expect(message).not.toContain(bad.slice(0, 16));
    }
  });
  test('issue checks its inputs', () => {
    const codec = new TicketCodec([KEY_A]);
    expect(() => codec.issue(new Uint8Array(15), ADDRESS, SESSION, 0)).toThrow(RangeError);
    expect(() => codec.issue(ACCOUNT, ADDRESS.toUpperCase(), SESSION, 0)).toThrow(RangeError);
    expect(() => codec.issue(ACCOUNT, ADDRESS, 0n, 0)).toThrow(RangeError);
    expect(() => codec.issue(ACCOUNT, ADDRESS, 1n << 64n, 0)).toThrow(RangeError);
    expect(() => codec.issue(ACCOUNT, ADDRESS, SESSION, -1)).toThrow(RangeError);
  });
});

test('the nonce comes from the CSPRNG given to the codec (the gateway passes its pool)', () => {
  const asked: number[] = [];
  const codec = new TicketCodec([KEY_A], (n) => {
    asked.push(n);
    return new Uint8Array(n).fill(0xab);
  });
  const { ticket, nonceHash } = codec.issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START);
  expect(asked).toEqual([16]);
  expect(Buffer.from(ticket.subarray(57, 73))).toEqual(Buffer.alloc(16, 0xab));
  expect(nonceHash).toBe(createHash('sha256').update(Buffer.alloc(16, 0xab)).digest('hex'));
  const short = new TicketCodec([KEY_A], (n) => new Uint8Array(n - 1));
  expect(() => short.issue(ACCOUNT, ADDRESS, SESSION, CHAIN_START)).toThrow(RangeError);
});
