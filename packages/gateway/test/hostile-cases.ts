/**
 * Hostile cases of docs/CATALOGUE.md as repeatable functions against any gateway port (in-process or the real
 * bin), for the repetition and memory checks of #93. Each one opens its own connections, asserts
 * the documented outcome and leaves nothing open behind it. Clients are created with
 * `RawClient.connect` directly (not through a fixture that remembers them), so that repeating a
 * case does not grow the test process's own heap.
 */
import { type GatewayInternalMessage, idEquals } from '@degas/proto';
import {
  degasFrame,
  encodeFrame,
  helloAndChallenge,
  loginRaw,
  Opcode,
  RawClient,
  type TestAccount,
  type TestDegas,
  until,
} from '@degas/test-utils';

async function loggedIn(port: number, account: TestAccount): Promise<RawClient> {
  const c = await RawClient.connect({ port });
  await loginRaw(c, account);
  return c;
}

/** #28a: 125-byte Pings without reading → the gateway terminates the TCP connection (1006). */
export async function pingFlood(port: number, account: TestAccount): Promise<void> {
  const c = await loggedIn(port, account);
  try {
    c.pause();
    const ping = encodeFrame({
      opcode: Opcode.PING,
      payload: Buffer.alloc(125, 0x55),
      maskKey: Buffer.from([1, 2, 3, 4]),
    });
    const batch = Buffer.concat(Array.from({ length: 500 }, () => ping));
    const done = c.closed(20_000);
    let sent = 0;
    while (!c.isClosed && sent < 200_000) {
      const ok = c.socket.write(batch);
      sent += 500;
      if (!ok) {
        const drained = await Promise.race([
          new Promise<boolean>((r) => c.socket.once('drain', () => r(true))),
          new Promise<boolean>((r) => c.socket.once('close', () => r(false))),
          new Promise<boolean>((r) => setTimeout(() => r(true), 500)),
        ]);
        if (!drained) break;
      }
    }
    c.resume();
    const r = await done;
    expect(r.tcpClosedWithoutCloseFrame).toBe(true);
    expect(sent).toBeLessThan(200_000);
  } finally {
    c.destroy();
  }
}

/** #37: 20,000 one-byte or empty continuations on each of `n` connections → 1008 each. */
export async function tinyFragments(port: number, n = 10): Promise<void> {
  const clients = await Promise.all(Array.from({ length: n }, () => RawClient.connect({ port })));
  try {
    const key = Buffer.from([1, 2, 3, 4]);
    const units = [
      encodeFrame({ opcode: Opcode.CONTINUATION, fin: false, payload: 'x', maskKey: key }),
      encodeFrame({ opcode: Opcode.CONTINUATION, fin: false, maskKey: key }),
    ];
    await Promise.all(
      clients.map(async (c, i) => {
        c.frame({ opcode: Opcode.BINARY, fin: false, payload: 'start' });
        const batch = Buffer.concat(Array.from({ length: 1000 }, () => units[i % 2] as Buffer));
        for (let k = 0; k < 20 && !c.isClosed; k++) c.writeRaw(batch);
        const r = await c.closed();
        expect(r.code).toBe(1008);
      }),
    );
  } finally {
    for (const c of clients) c.destroy();
  }
}

/**
 * #38: the client stops reading while `degas` streams 65,000-byte messages to it → the Degas gets
 * CLIENT_ERROR for the account, the client is closed 4009 (or terminated).
 */
export async function slowConsumer(port: number, degas: TestDegas, account: TestAccount): Promise<void> {
  const c = await loggedIn(port, account);
  try {
    c.binary(degasFrame(degas.degasId, Buffer.from('hi'))); // the echo proves the link is up
    await c.nextMessage();
    c.pause();
    const from = degas.received.length;
    const chunk = Buffer.alloc(65_000, 9);
    let gotError = false;
    for (let i = 0; i < 400 && !gotError; i++) {
      degas.sendToClient(account.id, chunk);
      if (i % 20 === 19) {
        gotError = await degas
          .waitFor(
            (m) =>
              m.payload?.$case === 'error' &&
              m.payload.value.code === 3 &&
              idEquals(m.payload.value.accountId, account.id),
            200,
            from,
          )
          .then(() => true)
          .catch(() => false);
      }
    }
    expect(gotError).toBe(true);
    c.resume();
    const r = await c.closed(10_000);
    expect([4009, 1006]).toContain(r.code);
  } finally {
    c.destroy();
  }
}

/**
 * #40: `silent` connections that send nothing and one per `helloAccounts` that sends hello and
 * stops → AUTH_FAIL and 4001 at the deadlines. Returns the time the last one took (ms).
 */
export async function preAuthHoarding(port: number, silent: number, helloAccounts: TestAccount[]): Promise<number> {
  const t0 = performance.now();
  const clients: RawClient[] = [];
  try {
    // Opened in batches: a few hundred connects at once would overflow nothing, but keep the
    // client side from monopolising the event loop.
    for (let i = 0; i < silent; i += 50) {
      const n = Math.min(50, silent - i);
      clients.push(...(await Promise.all(Array.from({ length: n }, () => RawClient.connect({ port })))));
    }
    const hello = await Promise.all(
      helloAccounts.map(async (a) => {
        const c = await RawClient.connect({ port });
        clients.push(c);
        await helloAndChallenge(c, a);
        return c;
      }),
    );
    const all = [...clients.slice(0, silent), ...hello];
    const results = await Promise.all(
      all.map(async (c) => {
        const m = await c.nextMessage(10_000);
        expect(m.payload?.$case === 'error' && m.payload.value.code).toBe(0);
        return c.closed(10_000);
      }),
    );
    for (const r of results) expect(r.code).toBe(4001);
    return Math.max(...results.map((r) => r.tcpClosedAt)) - t0;
  } finally {
    for (const c of clients) c.destroy();
  }
}

let slowDegasRuns = 0;

/**
 * #79: `slow` stops reading; a client floods it → DEGAS_ERROR once the link's buffer/queue is
 * full; `during` (e.g. the canary check) runs while it is congested. Reading then resumes, and
 * this returns once everything queued has reached the Degas (a last message arrives).
 */
export async function slowDegas(
  port: number,
  slow: TestDegas,
  account: TestAccount,
  during: () => Promise<void>,
): Promise<void> {
  const c = await loggedIn(port, account);
  try {
    // A unique first message: once it arrives, whatever an earlier run left queued has drained.
    const tag = Buffer.from(`open ${++slowDegasRuns}`);
    c.binary(degasFrame(slow.degasId, tag));
    await slow.waitFor(
      (m) => m.payload?.$case === 'clientMessage' && Buffer.from(m.payload.value.payload).equals(tag),
      10_000,
    );
    slow.pauseReading();
    let gotError = false;
    const big = Buffer.alloc(60_000, 3);
    for (let round = 0; round < 200 && !gotError; round++) {
      for (let i = 0; i < 10; i++) c.binary(degasFrame(slow.degasId, big));
      await new Promise((r) => setTimeout(r, 30));
      while (c.pendingMessages() > 0) {
        const m = await c.nextMessage();
        if (m.payload?.$case === 'error' && m.payload.value.code === 2) gotError = true;
      }
    }
    expect(gotError).toBe(true);
    await during();
    slow.resumeReading();
    // Until the link has drained below its limit, a message is dropped with DEGAS_ERROR: retry.
    const end = Buffer.from(`end ${slowDegasRuns}`);
    const isEnd = (m: GatewayInternalMessage) =>
      m.payload?.$case === 'clientMessage' && Buffer.from(m.payload.value.payload).equals(end);
    await until(
      async () => {
        c.binary(degasFrame(slow.degasId, end));
        return slow.waitFor(isEnd, 200).then(
          () => true,
          () => false,
        );
      },
      10_000,
      'the slow Degas to drain',
    );
  } finally {
    c.destroy();
    slow.resumeReading();
  }
}
