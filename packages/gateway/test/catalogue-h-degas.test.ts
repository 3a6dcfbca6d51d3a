/** docs/CATALOGUE.md section H: internal connection (Degas) faults. */
import { encodeDegasMessage, idEquals, idToHex } from '@degas/proto';
import {
  degasFrame,
  encodeFrame,
  Opcode,
  type RawClient,
  startBlackhole,
  startTestDegas,
  type TestDegas,
  testDegasId,
  until,
} from '@degas/test-utils';
import { expectError, useCatalogueEnv } from './catalogue-env.js';
import { slowDegas } from './hostile-cases.js';

const env = useCatalogueEnv({ dialTimeoutMs: 600, degasQueueLimit: 256 * 1024 });

let nextDegas = 10;
async function extraDegas(options: { token?: string; echo?: boolean } = {}): Promise<TestDegas> {
  const d = await startTestDegas({
    degasId: testDegasId(nextDegas++),
    echo: options.echo ?? true,
    ...(options.token ? { token: options.token } : {}),
  });
  env.degasDir.register(d.degasId, d.endpoint);
  return d;
}

/** Sends to `d` until a message comes back as the echo (DEGAS_ERRORs in between are fine). */
async function sendUntilEchoed(c: RawClient, d: TestDegas, ms = 15_000): Promise<number> {
  let errors = 0;
  const deadline = performance.now() + ms;
  for (let i = 0; performance.now() < deadline; i++) {
    c.binary(degasFrame(d.degasId, Buffer.from(`retry ${i}`)));
    const m = await c.nextMessage();
    if (m.payload?.$case === 'degas') return errors;
    expect(m.payload?.$case === 'error' && m.payload.value.code).toBe(2);
    errors++;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('never echoed');
}

describe('H. Degas faults', () => {
  it('#76 Degas down → DEGAS_ERROR{degas_id} within the dial timeout, connection open; delivered after it starts', async () => {
    const d = await extraDegas();
    await d.kill();
    const { client } = await env.rawLoggedIn();
    const t0 = performance.now();
    client.binary(degasFrame(d.degasId, Buffer.from('nobody home')));
    const err = await expectError(client, 2);
    expect(idEquals(err.degasId, d.degasId)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(3000);
    await d.restart();
    await sendUntilEchoed(client, d);
    await d.close();
  });

  it('#77 blackholed Degas → DEGAS_ERROR per queued message at the dial timeout; queue overflow → DEGAS_ERROR at once; others unaffected', async () => {
    const hole = await startBlackhole();
    const id = testDegasId(nextDegas++);
    env.degasDir.register(id, { url: hole.url });
    const { client } = await env.rawLoggedIn();
    for (let i = 0; i < 3; i++) client.binary(degasFrame(id, Buffer.from(`q${i}`)));
    // Overflow: 5 × 60 KiB > 256 KiB queue limit.
    for (let i = 0; i < 5; i++) client.binary(degasFrame(id, Buffer.alloc(60_000, i)));
    const mark = env.mark();
    await env.assertHealthy(mark); // another Degas works meanwhile
    let errors = 0;
    while (errors < 8) {
      const err = await expectError(client, 2, 5000);
      expect(idEquals(err.degasId, id)).toBe(true);
      errors++;
    }
    await hole.close();
  });

  it('#78 Degas killed mid-stream: no duplicates, DEGAS_ERROR meanwhile, bounded re-dial rate, traffic resumes', async () => {
    const d = await extraDegas({ echo: false });
    const { client, account } = await env.rawLoggedIn();
    client.binary(degasFrame(d.degasId, Buffer.from('seq 0')));
    await d.waitFor((m) => m.payload?.$case === 'clientMessage');
    for (let i = 1; i <= 100; i++) client.binary(degasFrame(d.degasId, Buffer.from(`seq ${i}`)));
    await d.kill();
    const killedAt = performance.now();
    const attemptsBefore = d.upgradeAttempts.length;
    let errs = 0;
    for (let i = 101; i <= 130; i++) {
      client.binary(degasFrame(d.degasId, Buffer.from(`seq ${i}`)));
      await new Promise((r) => setTimeout(r, 30));
    }
    while (client.pendingMessages() > 0) {
      const m = await client.nextMessage();
      if (m.payload?.$case === 'error' && m.payload.value.code === 2) errs++;
    }
    expect(errs).toBeGreaterThan(0);
    await d.restart();
    const before = d.received.length;
    await until(
      async () => {
        client.binary(degasFrame(d.degasId, Buffer.from('seq 999')));
        await new Promise((r) => setTimeout(r, 150));
        return d.received.length > before;
      },
      15_000,
      'traffic to resume',
    );
    const elapsed = (performance.now() - killedAt) / 1000;
    const attempts = d.upgradeAttempts.length - attemptsBefore;
    expect(attempts / Math.max(elapsed, 1)).toBeLessThan(10);
    const seqs = d
      .clientMessages(account.id)
      .map((m) => Number(Buffer.from(m.payload).toString().slice(4)))
      .filter((n) => n !== 999);
    expect(new Set(seqs).size).toBe(seqs.length);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] as number);
    await d.close();
  });

  it('#79 slow Degas (stops reading) → DEGAS_ERROR once its buffer/queue is full; other Degas unaffected', async () => {
    const d = await extraDegas({ echo: false });
    // The canary's round trip through the other Degas stays fast while this one is congested.
    await slowDegas(env.port, d, env.account(), async () => {
      const t0 = performance.now();
      await env.assertHealthy(env.mark(), { allow: [] });
      expect(performance.now() - t0).toBeLessThan(1000);
    });
    await d.close();
  });

  it('#80 hostile Degas output never reaches clients; the gateway answers or closes the link', async () => {
    const d = await extraDegas({ echo: false });
    const { client, account } = await env.rawLoggedIn();
    client.binary(degasFrame(d.degasId, Buffer.from('open')));
    await d.waitForLink();
    const from = d.received.length;
    const errorAt = async (code: number) => {
      const m = await d.waitFor((x) => x.payload?.$case === 'error' && x.payload.value.code === code, 5000, from);
      return m;
    };
    d.send(Buffer.from('deadbeef', 'hex'));
    await errorAt(4);
    d.send(
      encodeDegasMessage({
        payload: { $case: 'degasToClient', value: { accountId: new Uint8Array(15), payload: new Uint8Array(1) } },
      }),
    );
    d.send(
      encodeDegasMessage({
        payload: { $case: 'degasToClient', value: { accountId: account.id, payload: new Uint8Array(65_537) } },
      }),
    );
    await errorAt(5);
    const ids = Array.from({ length: 1025 }, () => account.id);
    d.send(
      encodeDegasMessage({
        payload: { $case: 'degasToClients', value: { accountIds: ids, payload: new Uint8Array(1) } },
      }),
    );
    await until(
      () =>
        d.received.slice(from).filter((m) => m.payload?.$case === 'error' && m.payload.value.code === 4).length >= 2,
      5000,
    );
    // A good message after all that arrives as the client's first message.
    d.sendToClient(account.id, Buffer.from('good'));
    const first = await client.nextMessage();
    expect(first.payload?.$case === 'degas' && Buffer.from(first.payload.value.payload).toString()).toBe('good');
    expect(first.payload?.$case === 'degas' && idToHex(first.payload.value.degasId)).toBe(idToHex(d.degasId));
    // A text frame → the gateway closes the link with 1003.
    d.sendText('hello');
    await until(() => d.closeCodes.includes(1003), 5000, 'link closed 1003');
    // A 100 MB frame header → 1009 (the internal maxPayload is not 100 MiB).
    // A link that lived under a second counts as flapping (backoff), so re-dial until it is back;
    // the client only ever sees DEGAS_ERROR meanwhile.
    await until(
      async () => {
        client.binary(degasFrame(d.degasId, Buffer.from('redial')));
        await new Promise((r) => setTimeout(r, 100));
        while (client.pendingMessages() > 0) {
          const m = await client.nextMessage();
          expect(m.payload?.$case === 'error' && m.payload.value.code).toBe(2);
        }
        return d.links.size > 0;
      },
      15_000,
      'the link to be re-dialed',
    );
    d.writeRaw(encodeFrame({ opcode: Opcode.BINARY, mask: false, declaredLength: 100 * 1024 * 1024, payload: '' }));
    await until(() => d.closeCodes.includes(1009) || d.closeCodes.includes(1006), 5000, 'link closed 1009');
    expect(client.pendingMessages()).toBe(0);
    await env.assertHealthy(env.mark());
    await d.close();
  });

  it('#81 Degas → absent account (unknown, AuthState, just closed) → CLIENT_ERROR{account_id}; multicast 3 present + 2 absent', async () => {
    const from = env.mark();
    const unknown = new Uint8Array(16).fill(0x77);
    env.degas.sendToClient(unknown, Buffer.from('x'));
    const e1 = await env.degas.waitFor((m) => m.payload?.$case === 'error' && m.payload.value.code === 3, 5000, from);
    expect(e1.payload?.$case === 'error' && idEquals(e1.payload.value.accountId, unknown)).toBe(true);
    const authing = env.account();
    const c = await env.raw();
    const { helloAndChallenge } = await import('@degas/test-utils');
    await helloAndChallenge(c, authing);
    const from2 = env.mark();
    env.degas.sendToClient(authing.id, Buffer.from('x'));
    await env.degas.waitFor(
      (m) =>
        m.payload?.$case === 'error' && m.payload.value.code === 3 && idEquals(m.payload.value.accountId, authing.id),
      5000,
      from2,
    );
    const present = await Promise.all([0, 1, 2].map(() => env.rawLoggedIn()));
    const absent = [env.account().id, new Uint8Array(16).fill(0x66)];
    const from3 = env.mark();
    env.degas.sendToClients([...present.map((p) => p.account.id), ...absent], Buffer.from('multi'));
    for (const p of present) expect((await p.client.nextMessage()).payload?.$case).toBe('degas');
    await until(
      () =>
        env.degas.received.slice(from3).filter((m) => m.payload?.$case === 'error' && m.payload.value.code === 3)
          .length >= 2,
      5000,
    );
    const errs = env.degas.received.slice(from3).filter((m) => m.payload?.$case === 'error');
    expect(errs).toHaveLength(2);
  });

  it('#82 wrong Bearer token (401) → DEGAS_ERROR plus backoff, not a hot loop; headers carry token and Degas-Id', async () => {
    const d = await startTestDegas({ degasId: testDegasId(nextDegas++), token: 'right' });
    env.degasDir.register(d.degasId, { url: d.url, token: 'wrong' });
    const { client } = await env.rawLoggedIn();
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) {
      client.binary(degasFrame(d.degasId, Buffer.from(`${i}`)));
      const err = await expectError(client, 2);
      expect(idEquals(err.degasId, d.degasId)).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
    }
    const secs = (performance.now() - t0) / 1000;
    expect(d.upgradeAttempts.length / secs).toBeLessThan(8);
    expect(d.upgradeHeaders[0]?.authorization).toBe('Bearer wrong');
    expect(d.upgradeHeaders[0]?.['degas-id']).toBe(idToHex(d.degasId));
    await d.close();
  });

  it('#83 integrity and order: 1000 sequenced random payloads each way → byte-identical, in order, once', async () => {
    const { client, account } = await env.rawLoggedIn();
    const payloads: Buffer[] = [];
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 1000; i++) {
      const len = i === 500 ? 65_532 : rnd() % 300;
      const b = Buffer.alloc(len + 4);
      b.writeUInt32BE(i, 0);
      for (let j = 4; j < b.length; j++) b[j] = rnd() & 0xff;
      payloads.push(b);
    }
    const from = env.mark();
    for (const p of payloads) client.binary(degasFrame(env.degasId, p));
    for (const p of payloads) {
      const m = await client.nextMessage();
      if (m.payload?.$case !== 'degas')
        throw new Error(
          `message ${p.readUInt32BE(0)}: got ${JSON.stringify(m.payload?.value, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
        );
      expect(Buffer.from(m.payload.value.payload).equals(p)).toBe(true);
    }
    const fwd = env.degas.received
      .slice(from)
      .filter((m) => m.payload?.$case === 'clientMessage' && idEquals(m.payload.value.accountId, account.id));
    expect(fwd).toHaveLength(1000);
  });

  it('#84 multiplex isolation: X down, Y up, interleaved → Y unaffected, X each DEGAS_ERROR with X id', async () => {
    const x = await extraDegas();
    await x.kill();
    const { client } = await env.rawLoggedIn();
    let degasOk = 0;
    let xErrors = 0;
    for (let i = 0; i < 20; i++) {
      client.binary(degasFrame(i % 2 ? x.degasId : env.degasId, Buffer.from(`${i}`)));
    }
    for (let i = 0; i < 20; i++) {
      const m = await client.nextMessage();
      if (m.payload?.$case === 'degas') degasOk++;
      else if (
        m.payload?.$case === 'error' &&
        m.payload.value.code === 2 &&
        idEquals(m.payload.value.degasId, x.degasId)
      )
        xErrors++;
    }
    expect(degasOk).toBe(10);
    expect(xErrors).toBe(10);
    await x.close();
  });

  it('#85 flapping Degas (accepts then closes at once) → attempt rate bounded, no MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    const d = await extraDegas();
    d.setMode({ kind: 'close-immediately' });
    const { client } = await env.rawLoggedIn();
    const t0 = performance.now();
    for (let i = 0; i < 30; i++) {
      client.binary(degasFrame(d.degasId, Buffer.from(`${i}`)));
      await new Promise((r) => setTimeout(r, 50));
    }
    const secs = (performance.now() - t0) / 1000;
    expect(d.upgradeAttempts.length / secs).toBeLessThan(10);
    process.off('warning', onWarning);
    expect(warnings).not.toContain('MaxListenersExceededWarning');
    await d.close();
  });

  it('#86 Degas restarts cleanly (Close 1001/1012) → re-dialed on the next message, delivered', async () => {
    for (const code of [1001, 1012]) {
      const d = await extraDegas();
      const { client } = await env.rawLoggedIn();
      client.binary(degasFrame(d.degasId, Buffer.from('before')));
      expect((await client.nextMessage()).payload?.$case).toBe('degas');
      // A link that closes within its first second counts as flapping (#85) and backs off;
      // a clean restart happens to a link that has been up for a while.
      await new Promise((r) => setTimeout(r, 1100));
      d.closeLinks(code);
      await until(() => d.links.size === 0, 5000, 'the link to close');
      client.binary(degasFrame(d.degasId, Buffer.from('after')));
      const m = await client.nextMessage();
      expect(m.payload?.$case).toBe('degas');
      await d.close();
    }
  });
});
