/**
 * docs/CATALOGUE.md section B: framing (RFC 6455 §5), enforced by ws with our config. These tests catch
 * version or configuration regressions.
 */
import { decodeClientMessage, idEquals } from '@degas/proto';
import { degasFrame, encodeFrame, Opcode, type RawClient } from '@degas/test-utils';
import { expectAuthFail, expectClose, expectErrorThenClose, useCatalogueEnv } from './catalogue-env.js';

const env = useCatalogueEnv();

/** A client in each state: before hello, in AuthState (challenge received), in ForwardState. */
/** An exact-size ClientMessage{degas} envelope: the frame payload is `total` bytes. */
export function envelopeOfSize(degasId: Uint8Array, total: number, fill = (i: number) => (i * 31 + 7) & 0xff): Buffer {
  for (let plen = total; plen >= 0; plen--) {
    const payload = Buffer.alloc(plen);
    for (let i = 0; i < plen; i++) payload[i] = fill(i);
    const f = degasFrame(degasId, payload);
    if (f.length === total) return Buffer.from(f);
    if (f.length < total) break;
  }
  throw new Error(`no envelope of exactly ${total} bytes`);
}

describe('B. framing', () => {
  it.each(['pre-hello', 'forward'] as const)(
    '#11 unmasked binary frame (%s) → 1002 at once, TCP closed',
    async (state) => {
      const mark = env.mark();
      const c = await env.clientIn(state);
      const t0 = performance.now();
      c.binary(degasFrame(env.degasId, Buffer.from('unmasked')), { mask: false });
      const r = await expectClose(c, 1002);
      expect(r.tcpClosedAt - t0).toBeLessThan(1000);
      await env.assertHealthy(mark);
    },
  );

  it('#12 RSV bits 1–7 on binary, Ping, Close and continuation → 1002; the message before is delivered; no Pong after', async () => {
    const mark = env.mark();
    const cases: { name: string; frames: (rsv: number) => Buffer[] }[] = [
      { name: 'binary', frames: (rsv) => [encodeFrame({ opcode: Opcode.BINARY, rsv, payload: 'x' })] },
      { name: 'ping', frames: (rsv) => [encodeFrame({ opcode: Opcode.PING, rsv, payload: 'x' })] },
      { name: 'close', frames: (rsv) => [encodeFrame({ opcode: Opcode.CLOSE, rsv, payload: Buffer.from([3, 232]) })] },
      {
        name: 'continuation',
        frames: (rsv) => [
          encodeFrame({ opcode: Opcode.BINARY, fin: false, payload: 'ab' }),
          encodeFrame({ opcode: Opcode.CONTINUATION, rsv, payload: 'cd' }),
        ],
      },
    ];
    for (const { name, frames } of cases) {
      for (let rsv = 1; rsv <= 7; rsv++) {
        const { client, account } = await env.rawLoggedIn();
        const valid = Buffer.from(`valid before rsv ${rsv} on ${name}`);
        const from = env.mark();
        client.writeRaw(
          Buffer.concat([
            encodeFrame({ opcode: Opcode.BINARY, payload: degasFrame(env.degasId, valid) }),
            ...frames(rsv),
            encodeFrame({ opcode: Opcode.PING, payload: 'after' }),
          ]),
        );
        const r = await expectClose(client, 1002);
        expect(r.code).toBe(1002);
        expect(client.takePongs()).toEqual([]);
        await env.expectForwarded(account, valid, from);
        env.accounts.delete(account.id);
      }
    }
    await env.assertHealthy(env.mark());
    expect(mark).toBeGreaterThanOrEqual(0);
  });

  it('#13 reserved opcodes 3–7 and 11–15, empty and non-empty, after a valid message → 1002, message forwarded, no Pong', async () => {
    for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
      for (const payload of ['', 'reserved']) {
        const { client, account } = await env.rawLoggedIn();
        const from = env.mark();
        const valid = Buffer.from(`valid before opcode ${opcode}`);
        client.writeRaw(
          Buffer.concat([
            encodeFrame({ opcode: Opcode.BINARY, payload: degasFrame(env.degasId, valid) }),
            encodeFrame({ opcode, payload }),
            encodeFrame({ opcode: Opcode.PING, payload: 'after' }),
          ]),
        );
        await expectClose(client, 1002);
        expect(client.takePongs()).toEqual([]);
        await env.expectForwarded(account, valid, from);
      }
    }
    await env.assertHealthy(env.mark(), { allow: [] });
  });

  it('#14 orphan continuation (FIN=1 and FIN=0; whole and per-octet writes) → 1002', async () => {
    for (const fin of [true, false]) {
      for (const chop of [0, 1]) {
        for (const state of ['pre-hello', 'forward'] as const) {
          const mark = env.mark();
          const c = await env.clientIn(state);
          const bytes = encodeFrame({ opcode: Opcode.CONTINUATION, fin, payload: 'orphan' });
          if (chop) await c.writeChopped(bytes, 1);
          else c.writeRaw(bytes);
          await expectClose(c, 1002);
          await env.assertHealthy(mark);
        }
      }
    }
  });

  it('#15 a data frame inside an unfinished fragmented message → 1002', async () => {
    const mark = env.mark();
    const { client } = await env.rawLoggedIn();
    client.frame({
      opcode: Opcode.BINARY,
      fin: false,
      payload: degasFrame(env.degasId, Buffer.from('abc')).subarray(0, 5),
    });
    client.binary(degasFrame(env.degasId, Buffer.from('second')));
    await expectClose(client, 1002);
    await env.assertHealthy(mark);
  });

  it.each([
    ['2^40', 2n ** 40n],
    ['MSB set', 2n ** 63n + 5n],
  ])('#16 absurd 64-bit length (%s) → 1009 within milliseconds, before the payload', async (_n, length) => {
    const mark = env.mark();
    for (const state of ['pre-hello', 'forward'] as const) {
      const c = await env.clientIn(state);
      const t0 = performance.now();
      c.writeRaw(encodeFrame({ opcode: Opcode.BINARY, declaredLength: length, lengthEncoding: 64, payload: 'abc' }));
      const r = await expectClose(c, 1009);
      expect(r.tcpClosedAt - t0).toBeLessThan(1000);
    }
    await env.assertHealthy(mark);
  });

  it('#17 a header declaring 16 MiB, then a slow trickle → 1009 at header time', async () => {
    const mark = env.mark();
    const c = await env.clientIn('forward');
    const t0 = performance.now();
    c.writeRaw(encodeFrame({ opcode: Opcode.BINARY, declaredLength: 16 * 1024 * 1024, payload: '' }));
    const trickle = (async () => {
      for (let i = 0; i < 20 && !c.isClosed; i++) {
        c.writeRaw(Buffer.from([i]));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const frame = await c.closeFrame();
    expect(frame.payload.readUInt16BE(0)).toBe(1009);
    expect(frame.at - t0).toBeLessThan(1000);
    await trickle;
    await env.assertHealthy(mark);
  });

  it('#18 fragmented ClientMessage with a Ping interleaved, byte-per-write with pauses → Pong first, message once, intact', async () => {
    const { client, account } = await env.rawLoggedIn();
    const from = env.mark();
    const payload = Buffer.from('fragmented message \u00ff\u0000 with control frames interleaved');
    const env1 = Buffer.from(degasFrame(env.degasId, payload));
    const third = Math.ceil(env1.length / 3);
    const parts = [env1.subarray(0, third), env1.subarray(third, 2 * third), env1.subarray(2 * third)] as const;
    await client.writeChopped(encodeFrame({ opcode: Opcode.BINARY, fin: false, payload: parts[0] }), 1, 2);
    await client.writeChopped(encodeFrame({ opcode: Opcode.PING, payload: 'mid' }), 1, 2);
    expect(await client.nextPong()).toEqual(Buffer.from('mid'));
    expect(env.degas.clientMessages(account.id)).toHaveLength(0);
    await client.writeChopped(encodeFrame({ opcode: Opcode.CONTINUATION, fin: false, payload: parts[1] }), 1, 2);
    await client.writeChopped(encodeFrame({ opcode: Opcode.CONTINUATION, fin: true, payload: parts[2] }), 1, 2);
    const echoed = await client.nextMessage();
    expect(echoed.payload?.$case === 'degas' && Buffer.from(echoed.payload.value.payload)).toEqual(payload);
    await env.degas.waitFor((m) => m.payload?.$case === 'clientMessage', 2000, from);
    expect(env.degas.clientMessages(account.id).map((m) => Buffer.from(m.payload))).toEqual([payload]);
  });

  it('#19 empty binary message and 3 empty fragments → AUTH_FAIL/4001 before auth, PROTOCOL_ERROR/4003 after', async () => {
    const mark = env.mark();
    const writeEmpty = (c: RawClient, fragmented: boolean) => {
      if (!fragmented) c.binary(Buffer.alloc(0));
      else {
        c.frame({ opcode: Opcode.BINARY, fin: false });
        c.frame({ opcode: Opcode.CONTINUATION, fin: false });
        c.frame({ opcode: Opcode.CONTINUATION, fin: true });
      }
    };
    for (const fragmented of [false, true]) {
      const pre = await env.clientIn('pre-hello');
      writeEmpty(pre, fragmented);
      await expectAuthFail(pre);
      const auth = await env.clientIn('auth');
      writeEmpty(auth, fragmented);
      await expectAuthFail(auth);
      const fwd = await env.clientIn('forward');
      writeEmpty(fwd, fragmented);
      await expectErrorThenClose(fwd, 4, 4003);
    }
    await env.assertHealthy(mark);
  });

  it('#20 length-encoding boundaries 125…65536, whole and in 997-byte chops → forwarded byte-identical', async () => {
    const { client, account } = await env.rawLoggedIn();
    for (const size of [125, 126, 127, 128, 65535, 65536]) {
      for (const chop of [false, true]) {
        const envelope = envelopeOfSize(env.degasId, size, (i) => (i * 7 + size + (chop ? 1 : 0)) & 0xff);
        const sent = decodeClientMessage(envelope);
        const frame = encodeFrame({ opcode: Opcode.BINARY, payload: envelope });
        const from = env.mark();
        if (chop) await client.writeChopped(frame, 997);
        else client.writeRaw(frame);
        const m = await env.degas.waitFor((x) => x.payload?.$case === 'clientMessage', 5000, from);
        expect(m.payload?.$case === 'clientMessage' && idEquals(m.payload.value.accountId, account.id)).toBe(true);
        expect(m.payload?.$case === 'clientMessage' && Buffer.from(m.payload.value.payload)).toEqual(
          sent.payload?.$case === 'degas' && Buffer.from(sent.payload.value.payload),
        );
        await client.nextMessage(); // the echo
      }
    }
  });

  it.each(['pre-hello', 'auth', 'forward'] as const)(
    '#21 text frame → 1003 in every state (%s), no AUTH_FAIL instead',
    async (state) => {
      const mark = env.mark();
      const c = await env.clientIn(state);
      c.text('{"hello":"as json"}');
      const r = await expectClose(c, 1003);
      expect(r.code).toBe(1003);
      // No error frame (AUTH_FAIL or other) in place of the 1003.
      expect(c.pendingMessages()).toBe(0);
      await env.assertHealthy(mark);
    },
  );

  it.each([
    ['0xFF 0xFE', Buffer.from([0xff, 0xfe])],
    ['truncated 4-byte sequence', Buffer.from([0xf0, 0x9f, 0x98])],
  ])('#22 text frame with invalid UTF-8 (%s) → 1007', async (_n, bytes) => {
    const mark = env.mark();
    for (const state of ['pre-hello', 'forward'] as const) {
      const c = await env.clientIn(state);
      c.text(bytes);
      await expectClose(c, 1007);
    }
    await env.assertHealthy(mark);
  });

  it('#23 output discipline: every gateway data frame is binary, unmasked, one GatewayMessage; nothing after Close', async () => {
    const { client } = await env.rawLoggedIn();
    client.binary(degasFrame(env.degasId, Buffer.from('echo me')));
    await client.nextMessage(); // the echo
    client.binary(degasFrame(new Uint8Array(16).fill(0xee), Buffer.from('to nowhere')));
    await client.nextMessage(); // DEGAS_ERROR
    client.text('bye');
    const r = await expectClose(client, 1003);
    expect(r.framesAfterClose).toHaveLength(0);
    const data = client.received.filter((f) => f.opcode < 8 || f.opcode > 10);
    expect(data.length).toBeGreaterThanOrEqual(4); // auth_request, auth_ok, degas, error
    for (const f of client.received) expect(f.masked).toBe(false);
    for (const f of data) {
      expect(f.opcode).toBe(Opcode.BINARY);
      expect(f.fin).toBe(true);
      expect(f.rsv).toBe(0);
    }
    const { decodeGatewayMessage } = await import('@degas/proto');
    for (const f of data) expect(decodeGatewayMessage(f.payload).payload).toBeDefined();
  });
});
