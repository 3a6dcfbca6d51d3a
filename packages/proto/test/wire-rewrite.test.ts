// @degas/proto/wire: the reader of the canonical degas_to_client layout, the in-place rewrite into
// the client frame, and the error encoder cache. Each is checked against the writers it mirrors
// (the hand-written and the generated encoders), byte for byte.
import {
  decodeDegasMessage,
  decodeGatewayInternalMessage,
  decodeGatewayMessage,
  ErrorCode,
  encodeDegasMessage,
  encodeDegasToClient,
  encodeGatewayMessage,
  gatewayDegasEncoder,
  gatewayErrorEncoder,
  gatewayInternalErrorEncoder,
} from '../src/index.js';
import {
  canonicalToClientIdOffset,
  errorEncoderCache,
  MAX_CACHED_DETAILS_PER_CODE,
  readMinimalVarint32,
  rewriteToClientFrame,
  varint32Size,
} from '../src/wire.js';

function id(seed: number): Uint8Array {
  return Uint8Array.from({ length: 16 }, (_, i) => (seed * 31 + i * 7) & 0xff);
}

function payloadOf(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

/** The varint of `n` in `size` bytes: minimal by default; longer is valid protobuf, not minimal. */
const varint = (n: number, size = varint32Size(n)): number[] =>
  Array.from({ length: size }, (_, i) => ((n >>> (7 * i)) & 0x7f) | (i < size - 1 ? 0x80 : 0));

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

describe('readMinimalVarint32', () => {
  test.each([0, 1, 127, 128, 300, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 0x7fffffff])(
    '%i round-trips and occupies varint32Size bytes',
    (n) => {
      const bytes = Uint8Array.from([0xff, ...varint(n), 0x55]);
      expect(readMinimalVarint32(bytes, 1)).toBe(n);
      expect(varint32Size(n)).toBe(Math.max(1, Math.ceil((32 - Math.clz32(n)) / 7)));
    },
  );

  test.each([
    ['empty input', [], 0],
    ['position past the end', [0x01], 1],
    ['truncated (continuation bit on the last byte)', [0x80], 0],
    ['truncated after two bytes', [0xff, 0xff], 0],
    ['padded zero (0x80 0x00)', [0x80, 0x00], 0],
    ['padded one (0x81 0x80 0x00)', [0x81, 0x80, 0x00], 0],
    ['six bytes', [0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0],
    ['2^31 and above (does not fit)', [0x80, 0x80, 0x80, 0x80, 0x08], 0],
    ['2^32 - 1', [0xff, 0xff, 0xff, 0xff, 0x0f], 0],
  ] as const)('%s → -1', (_name, bytes, pos) => {
    expect(readMinimalVarint32(Uint8Array.from(bytes), pos)).toBe(-1);
  });
});

describe('canonicalToClientIdOffset + rewriteToClientFrame', () => {
  test.each([1, 127, 128, 1023, 1024, 16383, 16384, 65535, 65536])(
    'a %i-byte payload becomes exactly what gatewayDegasEncoder writes',
    (n) => {
      const accountId = id(n);
      const degasId = id(n + 1);
      const payload = payloadOf(n);
      const frame = encodeDegasToClient(accountId, payload);
      // The generated encoder writes the same canonical bytes.
      expect(
        same(frame, encodeDegasMessage({ payload: { $case: 'degasToClient', value: { accountId, payload } } })),
      ).toBe(true);
      const at = canonicalToClientIdOffset(frame);
      expect(at).toBe(1 + varint32Size(frame.length - 1 - varint32Size(frame.length)) + 2);
      expect(same(frame.subarray(at, at + 16), accountId)).toBe(true);
      const out = rewriteToClientFrame(frame, at, degasId);
      expect(out).toBe(frame);
      expect(same(out, gatewayDegasEncoder(degasId)(payload))).toBe(true);
      const decoded = decodeGatewayMessage(out);
      expect(decoded.payload?.$case).toBe('degas');
    },
  );

  test('a view into a larger buffer gives the same offset and rewrites only its own bytes', () => {
    const payload = payloadOf(3000, 9);
    const inner = encodeDegasToClient(id(3), payload);
    const outer = new Uint8Array(inner.length + 8).fill(0xee);
    outer.set(inner, 4);
    const view = outer.subarray(4, 4 + inner.length);
    const at = canonicalToClientIdOffset(view);
    expect(at).toBe(canonicalToClientIdOffset(inner));
    rewriteToClientFrame(view, at, id(4));
    expect(same(view, gatewayDegasEncoder(id(4))(payload))).toBe(true);
    expect([...outer.subarray(0, 4), ...outer.subarray(4 + inner.length)]).toEqual(Array(8).fill(0xee));
  });

  const ACCOUNT = id(7);
  const PAYLOAD = payloadOf(1500, 3);
  const idField = [0x0a, 16, ...ACCOUNT];
  const payloadField = [0x12, ...varint(PAYLOAD.length), ...PAYLOAD];
  const wrap = (body: number[], tag = 0x0a) => Uint8Array.from([tag, ...varint(body.length), ...body]);

  test('the canonical twin of the refused layouts is accepted', () => {
    expect(canonicalToClientIdOffset(wrap([...idField, ...payloadField]))).toBeGreaterThan(0);
  });

  test.each([
    ['outer length padded', [0x0a, ...varint(idField.length + payloadField.length, 3), ...idField, ...payloadField]],
    ['payload length padded', wrap([...idField, 0x12, ...varint(PAYLOAD.length, 4), ...PAYLOAD])],
    ['account id length padded', wrap([0x0a, 0x90, 0x00, ...ACCOUNT, ...payloadField])],
    ['unknown field after the payload', wrap([...idField, ...payloadField, 0x28, 0x01])],
    ['unknown field before the id', wrap([0x28, 0x01, ...idField, ...payloadField])],
    ['payload before the id', wrap([...payloadField, ...idField])],
    ['empty payload field', wrap([...idField, 0x12, 0x00])],
    ['no payload field', wrap(idField)],
    ['15-byte id', wrap([0x0a, 15, ...ACCOUNT.subarray(0, 15), ...payloadField])],
    ['17-byte id', wrap([0x0a, 17, ...ACCOUNT, 0, ...payloadField])],
    ['id given twice (the last one wins)', wrap([0x0a, 16, ...id(8), ...idField, ...payloadField])],
    [
      'outer length one too long',
      [0x0a, ...varint(idField.length + payloadField.length + 1), ...idField, ...payloadField],
    ],
    ['degas_to_clients (tag 0x12)', wrap([...idField, ...payloadField], 0x12)],
    ['truncated by one byte', wrap([...idField, ...payloadField]).subarray(0, -1)],
    ['one trailing byte', Uint8Array.from([...wrap([...idField, ...payloadField]), 0x00])],
    ['empty frame', []],
    ['only the outer tag', [0x0a]],
    ['outer varint of 6 bytes', [0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
  ] as const)('%s → -1', (_name, frame) => {
    expect(canonicalToClientIdOffset(Uint8Array.from(frame))).toBe(-1);
  });

  test('a refused layout is still a valid DegasMessage (the generic path takes it)', () => {
    const frame = wrap([...idField, ...payloadField, 0x28, 0x01]);
    expect(canonicalToClientIdOffset(frame)).toBe(-1);
    const msg = decodeDegasMessage(frame);
    expect(msg.payload?.$case).toBe('degasToClient');
  });
});

describe('errorEncoderCache', () => {
  test('returns one encoder per code and detail, writing the generated encoder’s bytes', () => {
    const calls: [number, string][] = [];
    const get = errorEncoderCache((code, detail, alloc) => {
      calls.push([code, detail]);
      return gatewayErrorEncoder(code, detail, alloc);
    });
    const a = get(ErrorCode.RATE_LIMITED, 'rate limit exceeded');
    expect(get(ErrorCode.RATE_LIMITED, 'rate limit exceeded')).toBe(a);
    expect(get(ErrorCode.DEGAS_ERROR, 'rate limit exceeded')).not.toBe(a);
    expect(calls).toEqual([
      [ErrorCode.RATE_LIMITED, 'rate limit exceeded'],
      [ErrorCode.DEGAS_ERROR, 'rate limit exceeded'],
    ]);
    const degasId = id(1);
    const expected = encodeGatewayMessage({
      payload: { $case: 'error', value: { code: ErrorCode.RATE_LIMITED, degasId, detail: 'rate limit exceeded' } },
    });
    expect(same(a(degasId), expected)).toBe(true);
  });

  test('the internal factory writes GatewayInternalMessage.error, with the allocator passed through', () => {
    const sizes: number[] = [];
    const get = errorEncoderCache(gatewayInternalErrorEncoder, (n) => {
      sizes.push(n);
      return new Uint8Array(n);
    });
    const frame = get(ErrorCode.CLIENT_ERROR, 'account not connected')(undefined, id(2));
    expect(sizes).toEqual([frame.length]);
    const msg = decodeGatewayInternalMessage(frame);
    expect(msg.payload?.$case).toBe('error');
    if (msg.payload?.$case === 'error') {
      expect(msg.payload.value.code).toBe(ErrorCode.CLIENT_ERROR);
      expect(same(msg.payload.value.accountId, id(2))).toBe(true);
      expect(msg.payload.value.detail).toBe('account not connected');
    }
  });

  test(`keeps at most ${MAX_CACHED_DETAILS_PER_CODE} details per code; further ones are built on every call`, () => {
    let built = 0;
    const get = errorEncoderCache((code, detail) => {
      built++;
      return gatewayErrorEncoder(code, detail);
    });
    for (let i = 0; i < MAX_CACHED_DETAILS_PER_CODE; i++) get(ErrorCode.PROTOCOL_ERROR, `detail ${i}`);
    expect(built).toBe(MAX_CACHED_DETAILS_PER_CODE);
    for (let i = 0; i < MAX_CACHED_DETAILS_PER_CODE; i++) get(ErrorCode.PROTOCOL_ERROR, `detail ${i}`);
    expect(built).toBe(MAX_CACHED_DETAILS_PER_CODE);
    const extra = get(ErrorCode.PROTOCOL_ERROR, 'one more');
    expect(get(ErrorCode.PROTOCOL_ERROR, 'one more')).not.toBe(extra);
    expect(built).toBe(MAX_CACHED_DETAILS_PER_CODE + 2);
    // Another code has its own room.
    const other = get(ErrorCode.AUTH_FAIL, 'one more');
    expect(get(ErrorCode.AUTH_FAIL, 'one more')).toBe(other);
  });
});
