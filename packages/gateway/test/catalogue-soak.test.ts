/**
 * docs/CATALOGUE.md #93 (memory of the real process): the ping flood (#28) and the slow consumer (#38)
 * three times each against the spawned `degas-gateway` bin (build first), with its resident set
 * read from /proc/<pid>/status: VmRSS after each repetition and the peak (VmHWM) stay within a
 * bound above the level after a warm-up round. The child cannot be made to GC, so RSS is not flat
 * from one repetition to the next: V8 grows its heap to a working size first (observed with
 * SOAK_REPS=12: +1, +12, +24, +28, then a plateau near +30 MiB). An unbounded queue (pongs,
 * send buffer) would grow by the tens of MiB each case pushes at it, every repetition. The exact
 * heap-after-GC check is in-process, in catalogue-fuzz.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accountsFileJson,
  degasFlag,
  degasFrame,
  loginRaw,
  RawClient,
  type SpawnedGateway,
  spawnGateway,
  startTestDegas,
  type TestDegas,
  testAccount,
  testDegasId,
} from '@degas/test-utils';
import { pingFlood, slowConsumer } from './hostile-cases.js';

const MiB = 1024 * 1024;

/** VmRSS and VmHWM (peak) of `pid`, in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

const hasProc = existsSync('/proc/self/status');

describe('#93 real bin memory', () => {
  let dir: string;
  let degas: TestDegas;
  let gw: SpawnedGateway;
  const canary = testAccount(9301);
  const flooder = testAccount(9302);
  const slowReader = testAccount(9303);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'degas-soak-'));
    degas = await startTestDegas({ degasId: testDegasId(93), echo: true });
    const file = join(dir, 'accounts.json');
    writeFileSync(file, accountsFileJson([canary, flooder, slowReader]));
    gw = await spawnGateway([
      '--accounts',
      file,
      '--degas',
      degasFlag(degas),
      '--send-buffer-limit',
      String(512 * 1024),
      '--verifier-threads',
      '1',
    ]);
  });
  afterAll(async () => {
    gw.kill('SIGTERM');
    await gw.exited();
    await degas.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('#28/#38 ×3 against the real bin: VmRSS and its peak bounded, canary after each', async () => {
    expect(hasProc || process.platform !== 'linux').toBe(true);
    const pid = gw.proc.pid as number;
    const c = await RawClient.connect({ port: gw.port });
    await loginRaw(c, canary);
    let seq = 0;
    const canaryRoundTrip = async () => {
      const payload = Buffer.from(`canary ${++seq}`);
      c.binary(degasFrame(degas.degasId, payload));
      const m = await c.nextMessage();
      expect(m.payload?.$case === 'degas' && Buffer.from(m.payload.value.payload)).toEqual(payload);
    };
    const round = async () => {
      await pingFlood(gw.port, flooder);
      await canaryRoundTrip();
      await slowConsumer(gw.port, degas, slowReader);
      await canaryRoundTrip();
    };
    try {
      // A warm-up round: V8 and malloc grow to their working size once; growth after that is a leak.
      await round();
      const base = hasProc ? memoryOf(pid) : undefined;
      const after: number[] = [];
      for (let i = 0; i < Number(process.env.SOAK_REPS ?? 3); i++) {
        await round();
        if (base) after.push(memoryOf(pid).rss);
      }
      if (base) {
        const peak = memoryOf(pid).peak;
        const show = `base ${(base.rss / MiB).toFixed(1)} MiB, after each ${after.map((r) => ((r - base.rss) / MiB).toFixed(1)).join(', ')} MiB, peak ${(peak / MiB).toFixed(1)} MiB`;
        process.stdout.write(`#93 real bin RSS: ${show}\n`);
        for (const r of after) expect({ show, ok: r - base.rss < 48 * MiB }).toEqual({ show, ok: true });
        expect({ show, ok: peak < base.rss + 80 * MiB }).toEqual({ show, ok: true });
      }
    } finally {
      c.destroy();
    }
  });
});
