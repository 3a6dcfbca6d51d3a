import {
  DecodeError,
  DegasError,
  decodeClientMessage,
  decodeDegasMessage,
  decodeGatewayInternalMessage,
  decodeGatewayMessage,
  encodeClientDegas,
} from '../src/index.js';

const decoders = { decodeClientMessage, decodeGatewayMessage, decodeGatewayInternalMessage, decodeDegasMessage };

const garbage: [string, number[]][] = [
  ['length overruns the buffer', [0x1a, 0x10, 0x0a]],
  ['length overruns the buffer (field 1)', [0x0a, 0x7f, 0x0a, 0x10]],
  ['11-byte varint', [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
  ['group wire type', [0x0b, 0x0c]],
  ['invalid wire type 7', [0x0f, 0x00]],
  ['invalid wire type 6', [0x0e]],
  ['trailing junk after a 0 tag', [0x00, 0x01, 0x02]],
  ['truncated fixed64', [0x09, 0x01, 0x02]],
  ['truncated tag varint', [0x80]],
  ['deadbeefcafebabe', [0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe, 0x01, 0x02]],
];

describe.each(Object.entries(decoders))('%s on hostile input', (_name, decode) => {
  // Either the decoder throws the typed error, or (for wire-legal unknown fields such as an empty
  // group or an overlong varint in a skipped field) the oneof stays unset, which every consumer
  // rejects as an empty message. Nothing else may come out.
  test.each(garbage)('%s → DecodeError or an unset oneof', (_what, input) => {
    let caught: unknown;
    try {
      const m = decode(Uint8Array.from(input));
      expect(m.payload).toBeUndefined();
      return;
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DecodeError);
    expect(caught).toBeInstanceOf(DegasError);
    expect((caught as DecodeError).code).toBe('DECODE_ERROR');
    expect((caught as DecodeError).name).toBe('DecodeError');
  });

  test('every truncation of a valid frame decodes or throws DecodeError, nothing else', () => {
    const frame = encodeClientDegas(new Uint8Array(16).fill(1), new Uint8Array(300).fill(2));
    for (let n = 0; n < frame.length; n++) {
      try {
        decode(frame.subarray(0, n));
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
      }
    }
  });

  test('random bytes never throw anything but DecodeError', () => {
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 3000; i++) {
      const input = Uint8Array.from({ length: rnd() % 64 }, () => rnd() & 0xff);
      try {
        decode(input);
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
      }
    }
  });

  test('empty input decodes to an unset oneof', () => {
    expect(decode(new Uint8Array(0)).payload).toBeUndefined();
  });

  test('non-bytes input is a DecodeError', () => {
    expect(() => decode('abc' as unknown as Uint8Array)).toThrow(DecodeError);
  });
});

test('decoding does not copy the payload', () => {
  const frame = encodeClientDegas(new Uint8Array(16).fill(1), new Uint8Array(1000).fill(7));
  const m = decodeClientMessage(frame);
  if (m.payload?.$case !== 'degas') throw new Error('expected degas');
  expect(m.payload.value.payload.buffer).toBe(frame.buffer);
});
