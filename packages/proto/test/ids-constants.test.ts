import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  CloseCode,
  closeCodeDisposition,
  ErrorCode,
  encodeClientDegas,
  encodeDegasToClients,
  errorCodeName,
  forwardEncoder,
  InvalidIdError,
  idEquals,
  idFromHex,
  idKey,
  idToHex,
  isId,
  isIdHex,
  Limits,
  randomId,
  toId,
} from '../src/index.js';

describe('ids', () => {
  test('hex round trip, lowercase output, case-insensitive input', () => {
    const text = '0x00112233445566778899AABBCCDDEEFF';
    const id = idFromHex(text);
    expect(id).toHaveLength(16);
    expect(idToHex(id)).toBe(text.toLowerCase());
    expect(idEquals(idFromHex(text.toLowerCase()), id)).toBe(true);
    expect(isIdHex(text)).toBe(true);
  });

  test.each([
    ['no 0x', '00112233445566778899aabbccddeeff'],
    ['0X prefix', '0X00112233445566778899aabbccddeeff'],
    ['31 digits', '0x00112233445566778899aabbccddeef'],
    ['33 digits', '0x00112233445566778899aabbccddeeff0'],
    ['non-hex', '0x00112233445566778899aabbccddeefg'],
    ['spaces', ' 0x00112233445566778899aabbccddeeff'],
    ['empty', ''],
  ])('idFromHex rejects %s', (_what, text) => {
    expect(() => idFromHex(text)).toThrow(InvalidIdError);
    expect(isIdHex(text)).toBe(false);
  });

  test('idFromHex rejects non-strings with InvalidIdError', () => {
    expect(() => idFromHex(42 as unknown as string)).toThrow(InvalidIdError);
  });

  test.each([0, 15, 17, 32])('a %i-byte id is rejected', (n) => {
    expect(isId(new Uint8Array(n))).toBe(false);
    expect(() => idToHex(new Uint8Array(n))).toThrow(InvalidIdError);
    expect(() => toId(new Uint8Array(n))).toThrow(InvalidIdError);
    expect(() => encodeClientDegas(new Uint8Array(n), new Uint8Array(1))).toThrow(InvalidIdError);
    expect(() => forwardEncoder(new Uint8Array(n), 1n)).toThrow(InvalidIdError);
  });

  test('randomId gives distinct 16-byte ids', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(idKey(randomId()));
    expect(seen.size).toBe(1000);
  });

  test('idKey equals for equal bytes only', () => {
    expect(idKey(Uint8Array.of(1, 2))).toBe(idKey(Uint8Array.of(1, 2)));
    expect(idKey(Uint8Array.of(1, 2))).not.toBe(idKey(Uint8Array.of(2, 1)));
    expect(toId(idToHex(Uint8Array.from({ length: 16 }, (_, i) => i)))).toEqual(
      Uint8Array.from({ length: 16 }, (_, i) => i),
    );
  });
});

describe('encoder limits', () => {
  test('payload over 65536 bytes is refused', () => {
    expect(() => encodeClientDegas(new Uint8Array(16), new Uint8Array(Limits.MAX_PAYLOAD + 1))).toThrow(RangeError);
    expect(encodeClientDegas(new Uint8Array(16), new Uint8Array(Limits.MAX_PAYLOAD)).length).toBeGreaterThan(65536);
  });
  test('more than 1024 ids per multicast is refused', () => {
    const ids = Array.from({ length: 1025 }, () => new Uint8Array(16));
    expect(() => encodeDegasToClients(ids, new Uint8Array(1))).toThrow(RangeError);
  });
  test('session ids outside uint64 are refused', () => {
    expect(() => forwardEncoder(new Uint8Array(16), -1n)).toThrow(RangeError);
    expect(() => forwardEncoder(new Uint8Array(16), 1n << 64n)).toThrow(RangeError);
  });
});

const protocolMd = readFileSync(fileURLToPath(new URL('../../../docs/PROTOCOL.md', import.meta.url)), 'utf8');
const section = (heading: string) =>
  protocolMd.slice(protocolMd.indexOf(heading), protocolMd.indexOf('\n## ', protocolMd.indexOf(heading) + 1));

/** The error codes of PROTOCOL.md 3, `NAME = n;` lines of the ERROR_CODE enum. */
const specErrorCodes = Object.fromEntries(
  [.../enum ERROR_CODE \{([^}]*)\}/.exec(protocolMd)![1]!.matchAll(/(\w+) = (\d+);/g)].map((m) => [m[1], Number(m[2])]),
);
/** Every close code in the table of PROTOCOL.md 6 (its last row names 1006, which a peer sees). */
const specCloseCodes = [...section('## 6. Close codes').matchAll(/\b(1\d{3}|4\d{3})\b/g)].map((m) => Number(m[1]));

describe('constants', () => {
  test('error codes match PROTOCOL.md 3', () => {
    expect(Object.keys(specErrorCodes)).toHaveLength(9);
    expect(ErrorCode).toEqual(specErrorCodes);
    expect(errorCodeName(2)).toBe('DEGAS_ERROR');
    expect(errorCodeName(99)).toBeUndefined();
  });

  test('close codes match PROTOCOL.md 6', () => {
    expect(new Set(specCloseCodes)).toEqual(new Set(Object.values(CloseCode)));
    expect(CloseCode.AUTH_FAILED).toBe(4001);
    expect(CloseCode.DUP_SESSION).toBe(4002);
    expect(CloseCode.PROTOCOL_VIOLATION).toBe(4003);
    expect(CloseCode.TRY_AGAIN_LATER).toBe(1013);
  });

  // One row per disposition; together they must cover every close code of PROTOCOL.md 6.
  const expected = {
    reconnect: [1001, 1006, 1011, 1013, 4008, 4009],
    terminal: [4001, 4002, 4003],
    end: [1000, 1002, 1003, 1007, 1008, 1009],
  } as const;

  test('every close code of PROTOCOL.md 6 has a stated disposition', () => {
    expect(Object.values(expected).flat().sort()).toEqual([...new Set(specCloseCodes)].sort());
  });

  test.each(Object.entries(expected).flatMap(([d, codes]) => codes.map((code) => [code, d] as const)))(
    'closeCodeDisposition(%i) is %s',
    (code, disposition) => {
      expect(closeCodeDisposition(code)).toBe(disposition);
    },
  );

  test.each([0, 999, 1004, 1005, 1010, 1012, 1015, 3000, 4000, 4004, 4999, -1, 1001.5, Number.NaN])(
    'a close code this version does not know (%s) ends the session without a reconnect',
    (code) => {
      expect(closeCodeDisposition(code)).toBe('end');
    },
  );

  test('limits match PROTOCOL.md 7', () => {
    expect(Limits.MAX_PAYLOAD).toBe(65536);
    expect(Limits.MAX_FRAME).toBe(66560);
    expect(Limits.MAX_INTERNAL_FRAME).toBe(131072);
    expect(Limits.MAX_MULTICAST_IDS).toBe(1024);
    expect(Limits.SEND_BUFFER).toBe(4 * 1024 * 1024);
  });
});

test('the public export list is deliberate', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toMatchSnapshot();
});
