// The Degas→client fast path through a real gateway: a degas_to_client frame in the canonical
// layout is turned into the client's GatewayMessage.degas frame in place (@degas/proto/wire, whose
// own tests pin the rewrite byte for byte and the refusal of every other layout); here every size
// and every non-canonical layout must still reach the client intact, through one path or the other.
import { randomBytes } from 'node:crypto';
import { ErrorCode, encodeDegasToClient, idEquals, randomId } from '@degas/proto';
import { degasFrame, startTestGateway, type TestGateway, testBytes, varintBytes } from '@degas/test-utils';
import { type GatewayHandle, startGateway } from '../src/gateway.js';

const SIZES = [0, 1, 127, 128, 1023, 1024, 16383, 16384, 65535, 65536];

/** A varint of `n` padded to `size` bytes (valid protobuf, not minimal). */
function overlongVarint(n: number, size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < size; i++) {
    out.push((n & 0x7f) | (i < size - 1 ? 0x80 : 0));
    n >>>= 7;
  }
  return out;
}

/** `DegasMessage{degas_to_client{…}}` around hand-assembled body bytes (minimal outer varint). */
function wrap(body: number[] | Uint8Array, tag = 0x0a): Uint8Array {
  return Uint8Array.from([tag, ...varintBytes(body.length), ...body]);
}

function field(tag: number, value: Uint8Array): number[] {
  return [tag, ...varintBytes(value.length), ...value];
}

// Each case: a frame that the generated decoder accepts as degas_to_client{accountId, payload}
// (or not, for `decodes: false`), but that is not in the canonical layout.
const ACCOUNT = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const PAYLOAD = testBytes(1500, 7);
const idField = field(0x0a, ACCOUNT);
const payloadField = field(0x12, PAYLOAD);

interface Case {
  name: string;
  frame: Uint8Array;
  /** What a client receives through the generic path; undefined = not delivered. */
  delivers: Uint8Array | undefined;
}

const NON_CANONICAL: Case[] = [
  {
    name: 'overlong outer length varint',
    frame: Uint8Array.from([
      0x0a,
      ...overlongVarint(idField.length + payloadField.length, 3),
      ...idField,
      ...payloadField,
    ]),
    delivers: PAYLOAD,
  },
  {
    name: 'overlong payload length varint',
    frame: wrap([...idField, 0x12, ...overlongVarint(PAYLOAD.length, 4), ...PAYLOAD]),
    delivers: PAYLOAD,
  },
  {
    name: 'overlong account id length varint',
    frame: wrap([0x0a, 0x90, 0x00, ...ACCOUNT, ...payloadField]),
    delivers: PAYLOAD,
  },
  {
    name: 'unknown field after the payload',
    frame: wrap([...idField, ...payloadField, 0x28, 0x01]),
    delivers: PAYLOAD,
  },
  { name: 'unknown field before the id', frame: wrap([0x28, 0x01, ...idField, ...payloadField]), delivers: PAYLOAD },
  { name: 'payload before the account id', frame: wrap([...payloadField, ...idField]), delivers: PAYLOAD },
  {
    name: 'account id given twice (last one wins)',
    frame: wrap([...field(0x0a, randomId()), ...idField, ...payloadField]),
    delivers: PAYLOAD,
  },
  {
    name: 'trailing unknown field after the message',
    frame: Uint8Array.from([...wrap([...idField, ...payloadField]), 0x28, 0x01]),
    delivers: PAYLOAD,
  },
  { name: 'explicit empty payload', frame: wrap([...idField, 0x12, 0x00]), delivers: new Uint8Array(0) },
  { name: 'no payload field', frame: wrap([...idField]), delivers: new Uint8Array(0) },
  {
    name: 'account id of 15 bytes',
    frame: wrap([...field(0x0a, ACCOUNT.subarray(0, 15)), ...payloadField]),
    delivers: undefined,
  },
  {
    name: 'account id of 17 bytes',
    frame: wrap([...field(0x0a, Uint8Array.from([...ACCOUNT, 0])), ...payloadField]),
    delivers: undefined,
  },
  { name: 'degas_to_clients (tag 0x12)', frame: wrap([...idField, ...payloadField], 0x12), delivers: PAYLOAD },
  {
    name: 'truncated by one byte',
    frame: wrap([...idField, ...payloadField]).subarray(0, -1),
    delivers: undefined,
  },
  {
    name: 'outer length one too long',
    frame: Uint8Array.from([
      0x0a,
      ...varintBytes(idField.length + payloadField.length + 1),
      ...idField,
      ...payloadField,
    ]),
    delivers: undefined,
  },
  { name: 'empty frame', frame: new Uint8Array(0), delivers: undefined },
  { name: 'only the outer tag', frame: Uint8Array.of(0x0a), delivers: undefined },
  {
    name: 'outer varint of 6 bytes',
    frame: Uint8Array.of(0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00),
    delivers: undefined,
  },
];

describe('through a real gateway and a raw Degas', () => {
  let env: TestGateway<GatewayHandle>;
  afterEach(async () => {
    await env?.close();
  });

  test('canonical frames of every size and every non-canonical layout reach the client intact', async () => {
    env = await startTestGateway(startGateway);
    const degas = await env.startDegas();
    const account = env.account();
    const { client } = await env.loggedIn(account);
    // The gateway dials a Degas on a client's first message to it.
    client.send(degasFrame(degas.degasId, testBytes(1)));
    await degas.waitUntil((r) => r.some((m) => m.payload?.$case === 'clientMessage'));

    for (const n of SIZES) {
      const payload = new Uint8Array(randomBytes(n));
      await degas.send(encodeDegasToClient(account.id, payload));
      const got = await client.nextDegas();
      expect(idEquals(got.degasId, degas.degasId)).toBe(true);
      expect(Buffer.from(got.payload).equals(Buffer.from(payload))).toBe(true);
    }

    for (const c of NON_CANONICAL) {
      // The cases address ACCOUNT; send them to the logged-in account instead (same layout).
      const frame = Uint8Array.from(c.frame);
      const at = Buffer.from(frame).indexOf(Buffer.from(ACCOUNT));
      if (at >= 0 && c.name !== 'account id of 17 bytes' && c.name !== 'account id of 15 bytes') {
        frame.set(account.id, at);
      }
      await degas.send(frame);
      if (c.delivers === undefined) {
        await degas.waitUntil((r) => r.some((m) => m.payload?.$case === 'error'));
        const errors = degas.errors();
        expect(errors.length).toBe(1);
        expect(errors[0]!.code).toBe(ErrorCode.PROTOCOL_ERROR);
        degas.received.length = 0;
      } else {
        const got = await client.nextDegas();
        expect(idEquals(got.degasId, degas.degasId)).toBe(true);
        expect(Buffer.from(got.payload).equals(Buffer.from(c.delivers))).toBe(true);
      }
    }
    // Nothing was misdelivered to the Degas as an error on the delivered cases.
    expect(degas.errors()).toEqual([]);
  });
});
