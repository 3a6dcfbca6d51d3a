/** docs/CATALOGUE.md section G: one session per account. */
import { idEquals } from '@degas/proto';
import { degasFrame, loginRaw, type RawClient, until } from '@degas/test-utils';
import { expectError, startCatalogueEnv, useCatalogueEnv } from './catalogue-env.js';

const env = useCatalogueEnv({ closeTimeoutMs: 800 });

const sessionClosedFor = (id: Uint8Array) => (m: { payload?: { $case: string; value: unknown } | undefined }) =>
  m.payload?.$case === 'sessionClosed' && idEquals((m.payload.value as { accountId: Uint8Array }).accountId, id);

describe('G. one session per account', () => {
  it('#70 sequential replacement: S1 gets DUP_SESSION + 4002, S2 auth_ok; Degas → account reaches S2 only', async () => {
    const { client: s1, account } = await env.rawLoggedIn();
    const { client: s2 } = await env.rawLoggedIn(account);
    await expectError(s1, 1);
    expect((await s1.closed()).code).toBe(4002);
    env.degas.sendToClient(account.id, Buffer.from('for the survivor'));
    const m = await s2.nextMessage();
    expect(m.payload?.$case === 'degas' && Buffer.from(m.payload.value.payload).toString()).toBe('for the survivor');
  });

  it('#71 simultaneous logins (10 connections, directory delay 0–50 ms, ×100): exactly one survivor, the rest DUP_SESSION + 4002', async () => {
    const slow = await startCatalogueEnv({}, { accountDelayMs: () => Math.random() * 50 });
    try {
      for (let round = 0; round < 100; round++) {
        const account = slow.account();
        const clients = await Promise.all(Array.from({ length: 10 }, () => slow.raw()));
        const oks: number[] = [];
        await Promise.all(
          clients.map(async (c, i) => {
            await loginRaw(c, account);
            oks.push(i);
          }),
        );
        expect(oks).toHaveLength(10);
        // Exactly one survivor; every other connection reached ForwardState and was replaced.
        await until(() => clients.filter((c) => c.isClosed).length === 9, 5000, '9 replaced sessions');
        const survivor = clients.find((c) => !c.isClosed) as RawClient;
        for (const c of clients) {
          if (c === survivor) continue;
          await expectError(c, 1);
          expect((await c.closed()).code).toBe(4002);
        }
        slow.degas.sendToClient(account.id, Buffer.from(`round ${round}`));
        const m = await survivor.nextMessage();
        expect(m.payload?.$case).toBe('degas');
      }
    } finally {
      await slow.close();
    }
  });

  it('#72 a late close of the replaced session does not remove the new session', async () => {
    for (const how of ['handshake', 'abrupt'] as const) {
      const { client: s1, account } = await env.rawLoggedIn(undefined, { autoCloseReply: false });
      const { client: s2 } = await env.rawLoggedIn(account);
      await expectError(s1, 1);
      await s1.closeFrame();
      if (how === 'handshake') s1.close(4002);
      else s1.reset();
      await s1.closed();
      env.degas.sendToClient(account.id, Buffer.from(`after ${how}`));
      const m = await s2.nextMessage();
      expect(m.payload?.$case === 'degas' && Buffer.from(m.payload.value.payload).toString()).toBe(`after ${how}`);
    }
  });

  it("#73 session_closed{S1} reaches the Degas before S2's first client_message", async () => {
    const { client: s1, account } = await env.rawLoggedIn();
    s1.binary(degasFrame(env.degasId, Buffer.from('from s1')));
    await s1.nextMessage();
    const from = env.mark();
    const { client: s2 } = await env.rawLoggedIn(account);
    s2.binary(degasFrame(env.degasId, Buffer.from('from s2')));
    await s2.nextMessage();
    const seq = env.degas.received.slice(from).filter((m) => {
      const v = m.payload?.value as { accountId?: Uint8Array } | undefined;
      return v?.accountId !== undefined && idEquals(v.accountId, account.id);
    });
    expect(seq.map((m) => m.payload?.$case)).toEqual(['sessionClosed', 'clientMessage']);
    const s1Session = env.degas.clientMessages(account.id)[0]?.sessionId;
    expect(seq[0]?.payload?.$case === 'sessionClosed' && seq[0].payload.value.sessionId).toBe(s1Session);
  });

  it('#74 ghost session (S1 stops reading, no FIN): S2 is admitted at once, S1 is then terminated', async () => {
    const { client: s1, account } = await env.rawLoggedIn(undefined, { autoCloseReply: false, autoPong: false });
    s1.pause();
    const t0 = performance.now();
    const { client: s2 } = await env.rawLoggedIn(account);
    // "At once" = not after the ping timeout (30 s here); generous for a loaded CI machine.
    expect(performance.now() - t0).toBeLessThan(5000);
    s1.resume();
    const r = await s1.closed(5000);
    expect([4002, 1006]).toContain(r.code);
    env.degas.sendToClient(account.id, Buffer.from('to s2'));
    expect((await s2.nextMessage()).payload?.$case).toBe('degas');
    expect(sessionClosedFor).toBeDefined();
  });
});
