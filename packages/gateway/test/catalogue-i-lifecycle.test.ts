import { idEquals } from '@degas/proto';
import {
  degasFlag,
  degasFrame,
  helloAndChallenge,
  httpUpgrade,
  loginRaw,
  Opcode,
  RawClient,
  spawnGateway,
  startTestDegas,
  tempDir,
  testAccount,
  testDegasId,
} from '@degas/test-utils';
import { jest } from '@jest/globals';
import { expectError, useCatalogueEnv } from './catalogue-env.js';

describe('I. SIGTERM drain of the real bin', () => {
  it('#87/#88 SIGTERM: GOING_AWAY + 1001 to every client (AuthState too), session_closed to the Degas, new upgrades refused, exit 0', async () => {
    const dir = await tempDir('degas-cat-');
    const degas = await startTestDegas({ degasId: testDegasId(77), echo: true });
    const a = testAccount(77);
    const b = testAccount(78);
    const file = await dir.writeAccounts('accounts.json', [a, b]);
    const gw = await spawnGateway(['--accounts', file, '--degas', degasFlag(degas), '--log-level', 'info']);
    try {
      const fwd = await RawClient.connect({ port: gw.port });
      await loginRaw(fwd, a);
      fwd.binary(degasFrame(degas.degasId, Buffer.from('before drain')));
      expect((await fwd.nextMessage()).payload?.$case).toBe('degas');
      const authing = await RawClient.connect({ port: gw.port });
      await helloAndChallenge(authing, b);
      const t0 = performance.now();
      gw.kill('SIGTERM');
      await expectError(fwd, 7);
      expect((await fwd.closed()).code).toBe(1001);
      const am = await authing.nextMessage();
      expect(am.payload?.$case).toBe('error');
      const code = (await authing.closed()).code;
      expect(am.payload?.$case === 'error' && [am.payload.value.code, code]).toEqual(
        code === 1001 ? [7, 1001] : [0, 4001],
      );
      await degas.waitFor((m) => m.payload?.$case === 'sessionClosed' && idEquals(m.payload.value.accountId, a.id));
      let refused = false;
      try {
        const r = await httpUpgrade({ port: gw.port }, 2000);
        refused = r.response.status === 503;
      } catch {
        refused = true;
      }
      expect(refused).toBe(true);
      const exit = await gw.exited(20_000);
      expect(exit.code).toBe(0);
      expect(performance.now() - t0).toBeLessThan(15_000);
    } finally {
      gw.kill('SIGKILL');
      await degas.close();
      await dir.remove();
    }
  });
});

describe('I. dead peers and clocks', () => {
  const env = useCatalogueEnv({ pingIntervalMs: 200, authTimeoutMs: 1500 });

  it('#89 half-open client (stops reading and answering pings) → terminated within ~2 ping intervals; session_closed sent', async () => {
    const { client, account } = await env.rawLoggedIn(undefined, { autoPong: false });
    client.binary(degasFrame(env.degasId, Buffer.from('x')));
    await client.nextMessage();
    client.pause();
    const t0 = performance.now();
    const from = env.mark();
    await env.degas.waitFor(
      (m) => m.payload?.$case === 'sessionClosed' && idEquals(m.payload.value.accountId, account.id),
      3000,
      from,
    );
    expect(performance.now() - t0).toBeLessThan(200 * 2 + 1000);
    client.resume();
    expect((await client.closed()).tcpClosedWithoutCloseFrame).toBe(true);
  });

  it.each(['FIN', 'RST'] as const)(
    '#90 abrupt client loss (%s) mid-fragment → cleaned up at once, session_closed sent',
    async (how) => {
      const { client, account } = await env.rawLoggedIn();
      client.binary(degasFrame(env.degasId, Buffer.from('x')));
      await client.nextMessage();
      const from = env.mark();
      client.frame({
        opcode: Opcode.BINARY,
        fin: false,
        payload: degasFrame(env.degasId, Buffer.from('partial')).subarray(0, 8),
      });
      if (how === 'FIN') client.end();
      else client.reset();
      await env.degas.waitFor(
        (m) => m.payload?.$case === 'sessionClosed' && idEquals(m.payload.value.accountId, account.id),
        1500,
        from,
      );
      expect(env.degas.clientMessages(account.id)).toHaveLength(1);
    },
  );

  it('#92 wall clock stepped ±1 h mid-session and mid-auth → no disconnects, no instant expiry', async () => {
    const { client } = await env.rawLoggedIn();
    for (const step of [3_600_000, -3_600_000]) {
      const real = Date.now.bind(Date);
      const spy = jest.spyOn(Date, 'now').mockImplementation(() => real() + step);
      try {
        const a = env.account();
        const c = await env.raw();
        await loginRaw(c, a); // mid-auth step: still logs in
        await new Promise((r) => setTimeout(r, 500)); // several ping intervals under the stepped clock
        client.binary(degasFrame(env.degasId, Buffer.from(`step ${step}`)));
        expect((await client.nextMessage()).payload?.$case).toBe('degas');
        expect(c.isClosed).toBe(false);
      } finally {
        spy.mockRestore();
      }
    }
  });
});
