// Golden bytes: every top-level frame kind is encoded by the generated code, by the hand-written
// encoders and by protobufjs (an independent implementation parsing the same .proto file), and
// the bytes must be identical. A field-number or type mistake in any of them shows up here.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as proto from '../src/index.js';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof import('protobufjs');
const protoPath = fileURLToPath(new URL('../../../proto/degas/message/v1/message.proto', import.meta.url));
const root = protobuf.parse(readFileSync(protoPath, 'utf8'), { keepCase: true }).root;
const T = (name: string) => root.lookupType(`degas.message.v1.${name}`);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const id = (seed: number) => Uint8Array.from({ length: 16 }, (_, i) => (seed * 31 + i * 7) & 0xff);
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
const pbjs = (type: string, obj: object) => {
  const t = T(type);
  return new Uint8Array(t.encode(t.fromObject(obj)).finish());
};

describe('golden vectors against protobufjs', () => {
  test('ClientMessage.hello', () => {
    const ours = proto.encodeClientMessage({
      payload: {
        $case: 'hello',
        value: {
          accountId: id(1),
          signer: { $case: 'ethereumSigner', value: { address: '0x00112233445566778899aabbccddeeff00112233' } },
        },
      },
    });
    const theirs = pbjs('ClientMessage', {
      hello: { account_id: id(1), ethereum_signer: { address: '0x00112233445566778899aabbccddeeff00112233' } },
    });
    expect(hex(ours)).toBe(hex(theirs));
    // Hand-checked prefix: field 1 (hello), then account_id (field 1, 16 bytes).
    expect(hex(ours).slice(0, 8)).toBe(`0a${(ours.length - 2).toString(16).padStart(2, '0')}0a10`);
  });

  test('ClientMessage.eth_auth', () => {
    const signature = bytes(65);
    expect(hex(proto.encodeClientMessage({ payload: { $case: 'ethAuth', value: { signature } } }))).toBe(
      hex(pbjs('ClientMessage', { eth_auth: { signature } })),
    );
  });

  test('extension fields: hello.resume_ticket, eth_auth.chain_id, auth_ok resume fields, resumed_from', () => {
    const ticket = bytes(80, 9);
    const address = '0x00112233445566778899aabbccddeeff00112233';
    expect(
      hex(
        proto.encodeClientMessage({
          payload: {
            $case: 'hello',
            value: { accountId: id(1), signer: { $case: 'ethereumSigner', value: { address } }, resumeTicket: ticket },
          },
        }),
      ),
    ).toBe(
      hex(pbjs('ClientMessage', { hello: { account_id: id(1), ethereum_signer: { address }, resume_ticket: ticket } })),
    );
    const signature = bytes(65);
    expect(
      hex(proto.encodeClientMessage({ payload: { $case: 'ethAuth', value: { signature, chainId: 8453n } } })),
    ).toBe(hex(pbjs('ClientMessage', { eth_auth: { signature, chain_id: 8453 } })));
    const authOk = {
      accountId: id(5),
      sessionId: 1n << 63n,
      resumeTicket: ticket,
      resumeWindowMs: 60_000,
      resumed: true,
    };
    const authOkBytes = proto.encodeGatewayMessage({ payload: { $case: 'authOk', value: authOk } });
    expect(hex(authOkBytes)).toBe(
      hex(
        pbjs('GatewayMessage', {
          auth_ok: {
            account_id: id(5),
            session_id: '9223372036854775808',
            resume_ticket: ticket,
            resume_window_ms: 60_000,
            resumed: true,
          },
        }),
      ),
    );
    expect(proto.decodeGatewayMessage(authOkBytes).payload).toEqual({ $case: 'authOk', value: authOk });
    const forward = { accountId: id(7), payload: bytes(3), sessionId: 5n, resumedFrom: 4n };
    expect(hex(proto.encodeGatewayInternalMessage({ payload: { $case: 'clientMessage', value: forward } }))).toBe(
      hex(
        pbjs('GatewayInternalMessage', {
          client_message: { account_id: id(7), payload: bytes(3), session_id: 5, resumed_from: 4 },
        }),
      ),
    );
  });

  test.each([0, 1, 127, 128, 16383, 16384, 65536])('ClientMessage.degas with a %i-byte payload', (n) => {
    const payload = bytes(n);
    const generated = proto.encodeClientMessage({ payload: { $case: 'degas', value: { degasId: id(2), payload } } });
    const theirs = pbjs('ClientMessage', { degas: { degas_id: id(2), payload } });
    expect(hex(generated)).toBe(hex(theirs));
    expect(hex(proto.encodeClientDegas(id(2), payload))).toBe(hex(theirs));
  });

  test.each(Object.entries(proto.ErrorCode))('GatewayMessage.error %s', (_name, code) => {
    const ours = proto.encodeGatewayMessage({
      payload: { $case: 'error', value: { code, degasId: id(3), accountId: id(4), detail: 'détail ✓' } },
    });
    const theirs = pbjs('GatewayMessage', { error: { code, degas_id: id(3), account_id: id(4), detail: 'détail ✓' } });
    expect(hex(ours)).toBe(hex(theirs));
  });

  test('GatewayMessage.auth_request and auth_ok', () => {
    const challenge = JSON.stringify({ Message: 'Sign in', Challenge: '00'.repeat(16) });
    expect(
      hex(
        proto.encodeGatewayMessage({
          payload: { $case: 'authRequest', value: { request: { $case: 'ethereumAuth', value: { challenge } } } },
        }),
      ),
    ).toBe(hex(pbjs('GatewayMessage', { auth_request: { ethereum_auth: { challenge } } })));
    expect(hex(proto.encodeGatewayMessage({ payload: { $case: 'authOk', value: { accountId: id(5) } } }))).toBe(
      hex(pbjs('GatewayMessage', { auth_ok: { account_id: id(5) } })),
    );
  });

  test.each([0, 1, 200, 65536])('GatewayMessage.degas with a %i-byte payload (generated and hand-written)', (n) => {
    const payload = bytes(n, 3);
    const theirs = pbjs('GatewayMessage', { degas: { degas_id: id(6), payload } });
    expect(hex(proto.encodeGatewayMessage({ payload: { $case: 'degas', value: { degasId: id(6), payload } } }))).toBe(
      hex(theirs),
    );
    expect(hex(proto.gatewayDegasEncoder(id(6))(payload))).toBe(hex(theirs));
    expect(hex(proto.gatewayDegasEncoder(id(6), (size) => Buffer.allocUnsafe(size))(payload))).toBe(hex(theirs));
  });

  test.each([
    [0n, 0],
    [1n, 10],
    [0x7fn, 300],
    [0x80n, 65536],
    [0xffffffffffffffffn, 5],
    [0x123456789abcdef0n, 16384],
  ])('GatewayInternalMessage.client_message session %s payload %i (generated and hand-written)', (sessionId, n) => {
    const payload = bytes(n, 9);
    const theirs = pbjs('GatewayInternalMessage', {
      client_message: { account_id: id(7), payload, session_id: sessionId.toString() },
    });
    const generated = proto.encodeGatewayInternalMessage({
      payload: { $case: 'clientMessage', value: { accountId: id(7), payload, sessionId } },
    });
    expect(hex(generated)).toBe(hex(theirs));
    expect(hex(proto.forwardEncoder(id(7), sessionId)(payload))).toBe(hex(theirs));
  });

  test.each([
    [1n, 2n, 0],
    [0x80n, 0x7fn, 10],
    [0xffffffffffffffffn, 0x123456789abcdef0n, 300],
    [5n, 0xffffffffffffffffn, 65536],
  ])(
    'client_message session %s resumed_from %s payload %i (generated and hand-written)',
    (sessionId, resumedFrom, n) => {
      const payload = bytes(n, 3);
      const theirs = pbjs('GatewayInternalMessage', {
        client_message: {
          account_id: id(7),
          payload,
          session_id: sessionId.toString(),
          resumed_from: resumedFrom.toString(),
        },
      });
      const generated = proto.encodeGatewayInternalMessage({
        payload: { $case: 'clientMessage', value: { accountId: id(7), payload, sessionId, resumedFrom } },
      });
      expect(hex(generated)).toBe(hex(theirs));
      expect(hex(proto.forwardEncoder(id(7), sessionId, undefined, resumedFrom)(payload))).toBe(hex(theirs));
      const decoded = proto.decodeGatewayInternalMessage(
        proto.forwardEncoder(id(7), sessionId, undefined, resumedFrom)(payload),
      );
      expect(decoded.payload?.$case === 'clientMessage' && decoded.payload.value.resumedFrom).toBe(resumedFrom);
    },
  );

  test('GatewayInternalMessage.error and session_closed', () => {
    expect(
      hex(
        proto.encodeGatewayInternalMessage({
          payload: {
            $case: 'error',
            value: { code: proto.ErrorCode.CLIENT_ERROR, degasId: new Uint8Array(0), accountId: id(8), detail: '' },
          },
        }),
      ),
    ).toBe(hex(pbjs('GatewayInternalMessage', { error: { code: 3, account_id: id(8) } })));
    expect(
      hex(
        proto.encodeGatewayInternalMessage({
          payload: { $case: 'sessionClosed', value: { accountId: id(9), sessionId: 0xfedcba9876543210n } },
        }),
      ),
    ).toBe(
      hex(
        pbjs('GatewayInternalMessage', {
          session_closed: { account_id: id(9), session_id: '18364758544493064720' },
        }),
      ),
    );
  });

  test.each([0, 5, 65536])('DegasMessage.degas_to_client with a %i-byte payload', (n) => {
    const payload = bytes(n, 4);
    const theirs = pbjs('DegasMessage', { degas_to_client: { account_id: id(10), payload } });
    expect(
      hex(proto.encodeDegasMessage({ payload: { $case: 'degasToClient', value: { accountId: id(10), payload } } })),
    ).toBe(hex(theirs));
    expect(hex(proto.encodeDegasToClient(id(10), payload))).toBe(hex(theirs));
  });

  test.each([0, 1, 3, 1024])('DegasMessage.degas_to_clients with %i ids', (count) => {
    const ids = Array.from({ length: count }, (_, i) => id(i + 11));
    const payload = bytes(1000, 5);
    const theirs = pbjs('DegasMessage', { degas_to_clients: { account_ids: ids, payload } });
    expect(
      hex(proto.encodeDegasMessage({ payload: { $case: 'degasToClients', value: { accountIds: ids, payload } } })),
    ).toBe(hex(theirs));
    expect(hex(proto.encodeDegasToClients(ids, payload))).toBe(hex(theirs));
  });
});

describe('hand-written error encoders against the generated encoder and protobufjs', () => {
  const details = ['', 'x', 'détail ✓ 署名', 'rate limit exceeded', 'y'.repeat(200)];
  const ids: (Uint8Array | undefined)[] = [undefined, new Uint8Array(0), id(20), bytes(1, 9), bytes(300, 3)];
  const protoId = (b: Uint8Array | undefined) => b ?? new Uint8Array(0);
  const cases = Object.values(proto.ErrorCode).flatMap((code) => details.map((detail) => [code, detail] as const));

  test.each(cases)('code %i, detail %j, every id combination', (code, detail) => {
    const toClient = proto.gatewayErrorEncoder(code, detail);
    const toDegas = proto.gatewayInternalErrorEncoder(code, detail);
    for (const degasId of ids) {
      for (const accountId of ids) {
        const value = { code, degasId: protoId(degasId), accountId: protoId(accountId), detail };
        const generated = proto.encodeGatewayMessage({ payload: { $case: 'error', value } });
        const internal = proto.encodeGatewayInternalMessage({ payload: { $case: 'error', value } });
        const plain = { code, degas_id: protoId(degasId), account_id: protoId(accountId), detail };
        expect(hex(toClient(degasId, accountId))).toBe(hex(generated));
        expect(hex(generated)).toBe(hex(pbjs('GatewayMessage', { error: plain })));
        expect(hex(toDegas(degasId, accountId))).toBe(hex(internal));
        expect(hex(internal)).toBe(hex(pbjs('GatewayInternalMessage', { error: plain })));
      }
    }
  });

  test('the allocator is used, and every call returns a new frame', () => {
    const sizes: number[] = [];
    const enc = proto.gatewayErrorEncoder(proto.ErrorCode.RATE_LIMITED, 'rate limit exceeded', (n) => {
      sizes.push(n);
      return new Uint8Array(n);
    });
    const a = enc(id(1));
    const b = enc(id(1));
    expect(a).not.toBe(b);
    expect(sizes).toEqual([a.length, b.length]);
    expect(proto.decodeGatewayMessage(a).payload).toEqual({
      $case: 'error',
      value: {
        code: proto.ErrorCode.RATE_LIMITED,
        degasId: id(1),
        accountId: new Uint8Array(0),
        detail: 'rate limit exceeded',
      },
    });
  });

  test('rejects a code that is not a non-negative 32-bit integer and a non-string detail', () => {
    for (const code of [-1, 1.5, 2 ** 31, Number.NaN]) {
      expect(() => proto.gatewayErrorEncoder(code, 'x')).toThrow(RangeError);
      expect(() => proto.gatewayInternalErrorEncoder(code, 'x')).toThrow(RangeError);
    }
    expect(() => proto.gatewayErrorEncoder(proto.ErrorCode.AUTH_FAIL, 7 as unknown as string)).toThrow(TypeError);
  });
});

describe('decoding what protobufjs wrote', () => {
  test('every frame kind round-trips through the independent encoder', () => {
    const c = proto.decodeClientMessage(pbjs('ClientMessage', { degas: { degas_id: id(1), payload: bytes(40) } }));
    expect(c.payload?.$case).toBe('degas');
    if (c.payload?.$case !== 'degas') throw new Error('unreachable');
    expect(hex(c.payload.value.degasId)).toBe(hex(id(1)));
    expect(hex(c.payload.value.payload)).toBe(hex(bytes(40)));

    const g = proto.decodeGatewayMessage(pbjs('GatewayMessage', { error: { code: 2, degas_id: id(2), detail: 'x' } }));
    expect(g.payload).toEqual({
      $case: 'error',
      value: { code: 2, degasId: id(2), accountId: new Uint8Array(0), detail: 'x' },
    });

    const i = proto.decodeGatewayInternalMessage(
      pbjs('GatewayInternalMessage', { session_closed: { account_id: id(3), session_id: '18446744073709551615' } }),
    );
    expect(i.payload).toEqual({
      $case: 'sessionClosed',
      value: { accountId: id(3), sessionId: 0xffffffffffffffffn },
    });

    const d = proto.decodeDegasMessage(
      pbjs('DegasMessage', { degas_to_clients: { account_ids: [id(4), id(5)], payload: bytes(3) } }),
    );
    expect(d.payload).toEqual({ $case: 'degasToClients', value: { accountIds: [id(4), id(5)], payload: bytes(3) } });
  });

  test('unknown fields are skipped (proto3)', () => {
    // ClientDegasMessage with field 15 (varint) and field 99 (bytes) added, inside ClientMessage.
    const inner = [...proto.encodeClientDegas(id(1), bytes(4)).subarray(2), 0x78, 0x05, 0x9a, 0x06, 0x02, 0xaa, 0xbb];
    const frame = Uint8Array.from([0x1a, inner.length, ...inner, 0x78, 0x01]);
    const m = proto.decodeClientMessage(frame);
    expect(m.payload).toEqual({ $case: 'degas', value: { degasId: id(1), payload: bytes(4) } });
  });

  test('the last oneof member wins when a frame carries two (proto3), never both', () => {
    const hello = proto.encodeClientMessage({
      payload: { $case: 'hello', value: { accountId: id(1), signer: undefined } },
    });
    const degas = proto.encodeClientDegas(id(2), bytes(2));
    const a = proto.decodeClientMessage(Uint8Array.from([...hello, ...degas]));
    expect(a.payload?.$case).toBe('degas');
    const b = proto.decodeClientMessage(Uint8Array.from([...degas, ...hello]));
    expect(b.payload?.$case).toBe('hello');
  });
});
