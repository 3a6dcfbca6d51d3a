/**
 * docs/CATALOGUE.md #93: survival and bounded memory under fuzz. Thousands of random and mutated frames
 * (seeded, reproducible: the seed is printed on failure; set CATALOGUE_FUZZ_SEED to replay) at a
 * live in-process gateway for a bounded time; then a canary round trip, no uncaught errors, and
 * heapUsed after GC back near the baseline. Then, against the same gateway, the hostile cases 28,
 * 37, 38, 40 and 79 three times each: the canary gets through after each, and the heap after GC
 * does not grow from one repetition to the next. (catalogue-soak: RSS of the real bin.)
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  degasFrame,
  encodeFrame,
  ethAuthFrame,
  helloFrame,
  loginRaw,
  RawClient,
  startTestDegas,
  testDegasId,
  until,
} from '@degas/test-utils';
import { type CatalogueEnv, startCatalogueEnv } from './catalogue-env.js';
import { pingFlood, preAuthHoarding, slowConsumer, slowDegas, tinyFragments } from './hostile-cases.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SEED = Number(process.env.CATALOGUE_FUZZ_SEED ?? Date.now() % 2 ** 31);
const DURATION_MS = 8000;

/** mulberry32 */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let env: CatalogueEnv;
const uncaught: unknown[] = [];
const onUncaught = (e: unknown) => uncaught.push(e);
beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  env = await startCatalogueEnv({
    helloTimeoutMs: 500,
    authTimeoutMs: 500,
    closeTimeoutMs: 300,
    maxPendingPerIp: 1000,
    // Small buffers so the slow-consumer (#38) and slow-Degas (#79) repetitions fill them fast.
    sendBufferLimit: 512 * 1024,
    degasQueueLimit: 256 * 1024,
  });
});
afterAll(async () => {
  await env.close();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** Buffer memory (outside the V8 heap: frames, send buffers) after GC. */
function buffersAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().arrayBuffers;
}

describe('#93 fuzz', () => {
  it(`#93 thousands of random and mutated frames → canary keeps working, no uncaught errors, heap bounded (seed ${SEED})`, async () => {
    const rnd = prng(SEED);
    const int = (n: number) => Math.floor(rnd() * n);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
    const acct = env.account();
    const templates = (): Buffer[] => [
      Buffer.from(helloFrame(acct.id, acct.address)),
      Buffer.from(ethAuthFrame(bytes(65))),
      Buffer.from(degasFrame(env.degasId, bytes(int(200)))),
      Buffer.from(degasFrame(bytes(int(20)), bytes(int(50)))),
      bytes(int(64)),
      Buffer.alloc(0),
    ];
    const mutate = (b: Buffer): Buffer => {
      const out = Buffer.from(b);
      const n = 1 + int(4);
      for (let i = 0; i < n && out.length > 0; i++) {
        const op = int(4);
        const at = int(out.length);
        if (op === 0) out[at] = int(256);
        else if (op === 1) out[at] = (out[at] as number) ^ (1 << int(8));
        else if (op === 2) return Buffer.concat([out.subarray(0, at), bytes(int(8)), out.subarray(at)]);
        else return out.subarray(0, at);
      }
      return out;
    };
    const randomFrame = (): Buffer => {
      const t = templates();
      const payload = rnd() < 0.7 ? mutate(t[int(t.length)] as Buffer) : (t[int(t.length)] as Buffer);
      const r = rnd();
      if (r < 0.55) return encodeFrame({ opcode: 2, payload });
      if (r < 0.65)
        return encodeFrame({
          opcode: int(16),
          rsv: int(8),
          fin: rnd() < 0.7,
          mask: rnd() < 0.9,
          payload: payload.subarray(0, 125),
        });
      if (r < 0.75) return encodeFrame({ opcode: 2, fin: false, payload });
      if (r < 0.8) return encodeFrame({ opcode: 0, fin: rnd() < 0.5, payload });
      if (r < 0.85) return encodeFrame({ opcode: 9 + int(2), payload: payload.subarray(0, 125 + int(3)) });
      if (r < 0.9) return encodeFrame({ opcode: 8, payload: payload.subarray(0, int(130)) });
      if (r < 0.95) return mutate(encodeFrame({ opcode: 2, payload }));
      return encodeFrame({ opcode: 1, payload });
    };

    // Warm up, then measure the baseline.
    const warm = await env.raw();
    warm.destroy();
    const baseline = heapAfterGc();
    const t0 = performance.now();
    let frames = 0;
    let connections = 0;
    let canaryChecks = 0;
    let n = 4000;
    try {
      while (performance.now() - t0 < DURATION_MS) {
        const batch = await Promise.all(
          Array.from({ length: 10 }, async () => {
            connections++;
            const c = await RawClient.connect({ port: env.port });
            if (rnd() < 0.3) {
              try {
                await loginRaw(c, env.account());
              } catch {
                // a mutated login is fine to fail
              }
            }
            const count = 1 + int(8);
            const chunks: Buffer[] = [];
            for (let i = 0; i < count; i++) chunks.push(randomFrame());
            frames += count;
            const all = Buffer.concat(chunks);
            if (rnd() < 0.3) await c.writeChopped(all, 1 + int(64));
            else c.writeRaw(all);
            return c;
          }),
        );
        // Let the gateway answer, then drop what is left (some connections are still open).
        await Promise.all(batch.map((c) => c.closed(300).catch(() => undefined)));
        for (const c of batch) c.destroy();
        if (frames > n) {
          n += 4000;
          canaryChecks++;
          await env.assertHealthy(env.mark(), { allow: [] }).catch((e: unknown) => {
            throw new Error(`canary failed during fuzz (seed ${SEED}): ${String(e)}`);
          });
        }
      }
      expect(frames).toBeGreaterThan(1000);
      await env.assertHealthy(env.mark(), { allow: [] });
      expect(uncaught).toEqual([]);
      // Let the gateway release closed sessions, then compare the heap.
      await new Promise((r) => setTimeout(r, 500));
      const after = heapAfterGc();
      expect(after - baseline).toBeLessThan(10 * 1024 * 1024);
    } catch (e) {
      throw new Error(
        `fuzz failed with seed ${SEED} (replay: CATALOGUE_FUZZ_SEED=${SEED}) after ${frames} frames on ${connections} connections, ${canaryChecks} canary checks: ${String(e)}`,
      );
    }
  });

  it('#93 then 28, 37, 38, 40 and 79 three times each on the same gateway → canary after each, heap after GC flat across repetitions', async () => {
    const slow = await startTestDegas({ degasId: testDegasId(93), echo: false });
    env.degasDir.register(slow.degasId, slow.endpoint);
    // Fixed accounts, so that repeating a case does not grow the account directory.
    const a28 = env.account();
    const a38 = env.account();
    const a79 = env.account();
    const a40 = Array.from({ length: 10 }, () => env.account());
    /** Waits until only the canary is connected and every link is drained, then GCs. */
    const settledHeap = async (): Promise<number> => {
      await until(
        () => {
          const s = env.gateway.snapshot();
          return (
            s.connectionsAuth + s.connectionsForward === 1 &&
            s.links.every((l) => l.queuedBytes === 0 && l.bufferedBytes === 0)
          );
        },
        10_000,
        'the gateway to release the hostile connections',
      );
      return heapAfterGc();
    };
    const buffers: number[] = [];
    const MiB = 1024 * 1024;
    try {
      // One untimed round first, so that lazily created state (the slow Degas link, code paths
      // compiled for the first time) is not counted as growth.
      const round = async () => {
        const cases: [string, () => Promise<unknown>][] = [
          ['#28', () => pingFlood(env.port, a28)],
          ['#37', () => tinyFragments(env.port, 10)],
          ['#38', () => slowConsumer(env.port, env.degas, a38)],
          ['#40', () => preAuthHoarding(env.port, 20, a40)],
          [
            '#79',
            async () => {
              await slowDegas(env.port, slow, a79, () => env.assertHealthy(env.mark(), { allow: [a79.id] }));
              // The test Degas keeps every message (a list and an unread queue): the megabytes it
              // drained belong to the test, not the gateway. Forget them.
              slow.received.length = 0;
              for (;;) {
                const taken = await slow.nextMessage(1).then(
                  () => true,
                  () => false,
                );
                if (!taken) break;
              }
            },
          ],
        ];
        for (const [name, run] of cases) {
          const mark = env.mark();
          await run();
          await env.assertHealthy(mark, { allow: [a38.id, a79.id] }).catch((e: unknown) => {
            throw new Error(`canary failed after ${name}: ${String(e)}`);
          });
        }
      };
      await round();
      const baseline = await settledHeap();
      const baselineBuffers = buffersAfterGc();
      const heaps: number[] = [];
      for (let rep = 0; rep < 3; rep++) {
        await round();
        heaps.push(await settledHeap());
        buffers.push(buffersAfterGc());
      }
      const mib = (v: number) => `${(v / MiB).toFixed(2)} MiB`;
      const show = `heap ${heaps.map((h) => mib(h - baseline)).join(', ')}; buffers ${buffers.map((b) => mib(b - baselineBuffers)).join(', ')}`;
      expect(uncaught).toEqual([]);
      // Within ~10 MiB of the baseline, and no growth from the first repetition to the last.
      for (const h of heaps) expect({ growth: show, ok: h - baseline < 10 * MiB }).toEqual({ growth: show, ok: true });
      expect({ growth: show, ok: (heaps[2] as number) - (heaps[0] as number) < 1.5 * MiB }).toEqual({
        growth: show,
        ok: true,
      });
      // Buffers (a retained 64 KiB frame per connection would show here, not in the heap).
      for (const b of buffers)
        expect({ growth: show, ok: b - baselineBuffers < 8 * MiB }).toEqual({ growth: show, ok: true });
      expect({ growth: show, ok: (buffers[2] as number) - (buffers[0] as number) < 1 * MiB }).toEqual({
        growth: show,
        ok: true,
      });
      process.stdout.write(`#93 repetitions vs baseline, after GC: ${show}\n`);
    } finally {
      env.degasDir.unregister(slow.degasId);
      slow.resumeReading();
      await slow.close();
    }
  });
});
