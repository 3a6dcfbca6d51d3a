/** docs/CATALOGUE.md section C: control frames and the closing handshake. */
import { idEquals } from '@degas/proto';
import { degasFrame, encodeFrame, Opcode, type RawClient } from '@degas/test-utils';
import { expectClose, silentFor, useCatalogueEnv } from './catalogue-env.js';
import { pingFlood } from './hostile-cases.js';

const CLOSE_TIMEOUT_MS = 800;
const env = useCatalogueEnv({ closeTimeoutMs: CLOSE_TIMEOUT_MS });

const nonUtf8 = Buffer.from(Array.from({ length: 125 }, (_, i) => 0x80 + (i % 0x7f)));

describe('C. control frames and the closing handshake', () => {
  it.each(['pre-hello', 'forward'] as const)(
    '#24 Ping echo (empty, "hello", 125 non-UTF-8 bytes, octet-chopped), %s',
    async (state) => {
      const mark = env.mark();
      const c = await env.clientIn(state);
      for (const payload of [Buffer.alloc(0), Buffer.from('hello'), nonUtf8]) {
        c.ping(payload);
        expect(await c.nextPong()).toEqual(payload);
        await c.writeChopped(encodeFrame({ opcode: Opcode.PING, payload }), 1);
        expect(await c.nextPong()).toEqual(payload);
      }
      await env.assertHealthy(mark);
    },
  );

  it('#25 Ping of 126 bytes → 1002', async () => {
    const mark = env.mark();
    for (const state of ['pre-hello', 'forward'] as const) {
      const c = await env.clientIn(state);
      c.ping(Buffer.alloc(126, 1));
      await expectClose(c, 1002);
    }
    await env.assertHealthy(mark);
  });

  it.each([Opcode.PING, Opcode.PONG])('#26 fragmented control frame (opcode %i, FIN=0) → 1002', async (opcode) => {
    const mark = env.mark();
    const c = await env.clientIn('forward');
    c.frame({ opcode, fin: false, payload: 'frag' });
    await expectClose(c, 1002);
    await env.assertHealthy(mark);
  });

  it('#27 unsolicited Pong (empty and with a payload) → ignored; the session continues', async () => {
    const { client } = await env.rawLoggedIn();
    client.pong();
    client.pong('unsolicited');
    const payload = Buffer.from('after pongs');
    client.binary(degasFrame(env.degasId, payload));
    const m = await client.nextMessage();
    expect(m.payload?.$case === 'degas' && Buffer.from(m.payload.value.payload)).toEqual(payload);
    expect(client.isClosed).toBe(false);
  });

  it('#28a Ping flood without reading → terminated (client sees 1006), no unbounded pong queue', async () => {
    const mark = env.mark();
    await pingFlood(env.port, env.account());
    await env.assertHealthy(mark);
  });

  it('#28b 1000 Pings/s from a reading client → no RATE_LIMITED, no close (control frames are not rate-limited)', async () => {
    const { client } = await env.rawLoggedIn();
    // 1000 Pings over about 1 s, 20 every 20 ms (ws terminates a peer with more than 60 auto-pongs
    // unflushed, which is the #28a defence; a burst of 100 in one TCP segment would trip it).
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) client.ping(`p${round}-${i}`);
      for (let i = 0; i < 20; i++) expect((await client.nextPong()).toString()).toBe(`p${round}-${i}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(client.pendingMessages()).toBe(0);
    const payload = Buffer.from('still alive');
    client.binary(degasFrame(env.degasId, payload));
    const m = await client.nextMessage();
    expect(m.payload?.$case).toBe('degas');
  });

  it('#29 client-initiated close with every valid code → same code echoed, gateway closes TCP', async () => {
    const mark = env.mark();
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]) {
      for (const state of ['pre-hello', 'forward'] as const) {
        const c = await env.clientIn(state);
        c.close(code, 'bye');
        const r = await expectClose(c, code);
        expect(r.closeFrameReceived).toBe(true);
        expect(c.received.filter((f) => f.opcode === Opcode.BINARY && f.at > (r.closeFrameAt ?? 0))).toHaveLength(0);
      }
    }
    await env.assertHealthy(mark);
  });

  it('#30 close payload edge cases', async () => {
    const mark = env.mark();
    let c = await env.clientIn('forward');
    c.frame({ opcode: Opcode.CLOSE, payload: Buffer.alloc(0) });
    const empty = await c.closed();
    expect([1000, 1005]).toContain(empty.code);

    c = await env.clientIn('forward');
    c.frame({ opcode: Opcode.CLOSE, payload: Buffer.from([3]) });
    await expectClose(c, 1002);

    c = await env.clientIn('forward');
    c.close(4000, 'r'.repeat(123));
    await expectClose(c, 4000);

    c = await env.clientIn('forward');
    c.close(4000, 'r'.repeat(124));
    await expectClose(c, 1002);

    c = await env.clientIn('forward');
    c.close(4000, Buffer.from([0xff, 0xfe]));
    await expectClose(c, 1007);
    await env.assertHealthy(mark);
  });

  it('#31 invalid close codes → 1002', async () => {
    const mark = env.mark();
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
      const c = await env.clientIn('pre-hello');
      c.close(code);
      await expectClose(c, 1002);
    }
    await env.assertHealthy(mark);
  });

  it('#32 traffic after the client Close → ignored: no Pong, nothing forwarded, one Close back', async () => {
    const mark = env.mark();
    let { client } = await env.rawLoggedIn();
    client.writeRaw(
      Buffer.concat([
        encodeFrame({ opcode: Opcode.CLOSE, payload: Buffer.from([0x03, 0xe8]) }),
        encodeFrame({ opcode: Opcode.BINARY, payload: degasFrame(env.degasId, Buffer.from('after close')) }),
        encodeFrame({ opcode: Opcode.PING, payload: 'after close' }),
      ]),
    );
    let r = await expectClose(client, 1000);
    expect(client.received.filter((f) => f.opcode === Opcode.PONG)).toHaveLength(0);
    expect(client.received.filter((f) => f.opcode === Opcode.CLOSE)).toHaveLength(1);

    ({ client } = await env.rawLoggedIn());
    const whole = Buffer.from(degasFrame(env.degasId, Buffer.from('split around a close')));
    client.writeRaw(
      Buffer.concat([
        encodeFrame({ opcode: Opcode.BINARY, fin: false, payload: whole.subarray(0, 10) }),
        encodeFrame({ opcode: Opcode.CLOSE, payload: Buffer.from([0x03, 0xe8]) }),
        encodeFrame({ opcode: Opcode.CONTINUATION, fin: true, payload: whole.subarray(10) }),
      ]),
    );
    r = await expectClose(client, 1000);
    expect(r.framesAfterClose).toHaveLength(0);
    expect(client.received.filter((f) => f.opcode === Opcode.CLOSE)).toHaveLength(1);
    await env.assertHealthy(mark);
  });

  it('#33 the client never answers the gateway Close → TCP destroyed at the close timeout, session released', async () => {
    const mark = env.mark();
    const { client, account } = await env.rawLoggedIn(undefined, { autoCloseReply: false });
    client.binary(degasFrame(env.degasId, Buffer.from('x')));
    await client.nextMessage();
    client.text('provoke 1003');
    const frame = await client.closeFrame();
    expect(frame.payload.readUInt16BE(0)).toBe(1003);
    const r = await client.closed(CLOSE_TIMEOUT_MS + 4000);
    const waited = r.tcpClosedAt - frame.at;
    expect(waited).toBeGreaterThan(CLOSE_TIMEOUT_MS * 0.5);
    expect(waited).toBeLessThan(CLOSE_TIMEOUT_MS + 2000);
    // The session is gone: a Degas message for it gets CLIENT_ERROR.
    const from = env.mark();
    env.degas.sendToClient(account.id, Buffer.from('to the closed session'));
    const err = await env.degas.waitFor((m) => m.payload?.$case === 'error', 5000, from);
    expect(err.payload?.$case === 'error' && err.payload.value.code).toBe(3);
    await env.assertHealthy(mark, { allow: [account.id] });
  });

  it('#34 a 64 KiB message immediately followed by Close in one write → delivered once whole (or not at all), Close echoed', async () => {
    const { client, account } = await env.rawLoggedIn();
    const payload = Buffer.alloc(65_536);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
    // One message first, so the link has a session_closed notice to send for this session.
    client.binary(degasFrame(env.degasId, Buffer.from('first')));
    await client.nextMessage();
    const from = env.mark();
    client.writeRaw(
      Buffer.concat([
        encodeFrame({ opcode: Opcode.BINARY, payload: degasFrame(env.degasId, payload) }),
        encodeFrame({ opcode: Opcode.CLOSE, payload: Buffer.from([0x03, 0xe8]) }),
      ]),
    );
    await expectClose(client, 1000);
    // The session_closed notice follows any forwarded message on the same link.
    await env.degas.waitFor(
      (m) => m.payload?.$case === 'sessionClosed' && idEquals(m.payload.value.accountId, account.id),
      5000,
      from,
    );
    const got = env.degas.clientMessages(account.id).filter((m) => m.payload.length !== 5);
    expect(got.length).toBeLessThanOrEqual(1);
    if (got[0]) expect(Buffer.from(got[0].payload).equals(payload)).toBe(true);
  });

  it('#27/#24 a pre-auth ping does not advance the state machine', async () => {
    const c: RawClient = await env.clientIn('pre-hello');
    c.ping('x');
    await c.nextPong();
    expect(await silentFor(c, 200)).toBe(true);
    c.destroy();
  });
});
