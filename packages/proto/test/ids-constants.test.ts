import {
  CloseCode,
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
  shouldReconnect,
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

describe('constants', () => {
  test('error codes match PROTOCOL.md 3', () => {
    expect(ErrorCode).toEqual({
      AUTH_FAIL: 0,
      DUP_SESSION: 1,
      DEGAS_ERROR: 2,
      CLIENT_ERROR: 3,
      PROTOCOL_ERROR: 4,
      PAYLOAD_TOO_LARGE: 5,
      RATE_LIMITED: 6,
      GOING_AWAY: 7,
      UNAVAILABLE: 8,
    });
    expect(errorCodeName(2)).toBe('DEGAS_ERROR');
    expect(errorCodeName(99)).toBeUndefined();
  });

  test('close codes match PROTOCOL.md 6', () => {
    expect(CloseCode.AUTH_FAILED).toBe(4001);
    expect(CloseCode.DUP_SESSION).toBe(4002);
    expect(CloseCode.PROTOCOL_VIOLATION).toBe(4003);
    expect(CloseCode.RATE_LIMITED).toBe(4008);
    expect(CloseCode.SLOW_CONSUMER).toBe(4009);
    expect(CloseCode.UNSUPPORTED_DATA).toBe(1003);
    expect(CloseCode.MESSAGE_TOO_BIG).toBe(1009);
    expect(CloseCode.TRY_AGAIN_LATER).toBe(1013);
  });

  test.each([
    [1001, true],
    [1006, true],
    [1011, true],
    [1013, true],
    [4008, true],
    [4009, true],
    [1000, false],
    [1002, false],
    [1003, false],
    [1009, false],
    [4001, false],
    [4002, false],
    [4003, false],
  ])('shouldReconnect(%i) is %s', (code, expected) => {
    expect(shouldReconnect(code)).toBe(expected);
  });

  test('limits match PROTOCOL.md 7', () => {
    expect(Limits.MAX_PAYLOAD).toBe(65536);
    expect(Limits.MAX_FRAME).toBe(66560);
    expect(Limits.MAX_INTERNAL_FRAME).toBe(131072);
    expect(Limits.MAX_MULTICAST_IDS).toBe(1024);
    expect(Limits.SEND_BUFFER).toBe(4 * 1024 * 1024);
  });
});

test('the public export list is deliberate', async () => {
  const names = Object.keys(await import('../src/index.js')).sort();
  expect(names).toEqual(
    [
      'CloseCode',
      'DecodeError',
      'DegasError',
      'ErrorCode',
      'InvalidIdError',
      'Limits',
      'decodeClientMessage',
      'decodeDegasMessage',
      'decodeGatewayInternalMessage',
      'decodeGatewayMessage',
      'encodeClientDegas',
      'encodeClientMessage',
      'encodeDegasMessage',
      'encodeDegasToClient',
      'encodeDegasToClients',
      'encodeGatewayInternalMessage',
      'encodeGatewayMessage',
      'errorCodeName',
      'forwardEncoder',
      'gatewayDegasEncoder',
      'gatewayErrorEncoder',
      'gatewayInternalErrorEncoder',
      'idEquals',
      'idFromHex',
      'idKey',
      'idToHex',
      'isId',
      'isIdHex',
      'randomId',
      'shouldReconnect',
      'toId',
    ].sort(),
  );
});
