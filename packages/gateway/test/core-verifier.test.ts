import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import {
  createChallenge,
  DEFAULT_AUTH_DOMAIN,
  DEFAULT_AUTH_MESSAGE,
  generatePrivateKey,
  loginDigest,
  loginTypedData,
  privateKeySigner,
} from '@degas/auth-eth';
import { bytesToBigInt, SECP256K1_N, SECP256K1_P, signatureOf } from '@degas/test-utils';
import { createLogger, silentLogger } from '../src/logger.js';
import { createStats } from '../src/stats.js';
import { createVerifier } from '../src/verifier.js';
import {
  EOA_INVALID,
  EOA_RULE_BROKEN,
  EOA_VALID,
  loadNativeSecp256k1,
  lowSTwin,
  makeLoginVerifier,
  verifyDigestNative,
  verifyDigestNoble,
} from '../src/verify-core.js';

const N = SECP256K1_N;
const P = SECP256K1_P;
const toBig = bytesToBigInt;
const sig = signatureOf;

const native = loadNativeSecp256k1();

test('the native libsecp256k1 binding loads on this machine (the fast path is really used)', () => {
  expect(native).toBeDefined();
});

async function signed(): Promise<{ digest: Uint8Array; signature: Uint8Array; address: string; challenge: string }> {
  const signer = privateKeySigner(generatePrivateKey());
  const { fields, challenge } = createChallenge();
  const signature = await signer.signTypedData(loginTypedData(fields));
  return { digest: loginDigest(fields), signature, address: signer.address.toLowerCase(), challenge };
}

test('native and noble agree on a hostile table', async () => {
  const ok = await signed();
  const r = toBig(ok.signature.subarray(0, 32));
  const s = toBig(ok.signature.subarray(32, 64));
  const v = ok.signature[64]! >= 27 ? ok.signature[64]! - 27 : ok.signature[64]!;
  const table: [string, Uint8Array, boolean][] = [
    ['valid v=27/28', sig(r, s, 27 + v), true],
    ['valid v=0/1', sig(r, s, v), true],
    ['wrong recovery id', sig(r, s, 27 + (1 - v)), false],
    ['high-s twin', sig(r, N - s, 27 + (1 - v)), false],
    ['r = 0', sig(0n, s, 27), false],
    ['s = 0', sig(r, 0n, 27), false],
    ['r = n', sig(N, s, 27), false],
    ['s = n', sig(r, N, 27), false],
    ['r > n (r = p - 1)', sig(P - 1n, s, 27), false],
    ['all zero', new Uint8Array(65), false],
    ['v = 2', sig(r, s, 2), false],
    ['v = 29', sig(r, s, 29), false],
    ['v = 35', sig(r, s, 35), false],
    ['v = 255', sig(r, s, 255), false],
    ['64 bytes', ok.signature.subarray(0, 64), false],
    ['66 bytes', Uint8Array.from([...ok.signature, 0]), false],
    ['empty', new Uint8Array(0), false],
    ['130 bytes', Uint8Array.from([...ok.signature, ...ok.signature]), false],
    ['r not an x coordinate', sig(5n, s, 27), false],
  ];
  for (const [name, bytes, expected] of table) {
    const a = verifyDigestNoble(ok.digest, bytes, ok.address);
    const b = native ? verifyDigestNative(native, ok.digest, bytes, ok.address) : a;
    expect([name, a]).toEqual([name, expected]);
    expect([name, b]).toEqual([name, expected]);
  }
  // another address, and another digest
  expect(verifyDigestNoble(ok.digest, ok.signature, '0x0000000000000000000000000000000000000000')).toBe(false);
  const other = new Uint8Array(ok.digest);
  other[0]! ^= 1;
  expect(verifyDigestNoble(other, ok.signature, ok.address)).toBe(false);
  if (native) expect(verifyDigestNative(native, other, ok.signature, ok.address)).toBe(false);
});

test('native and noble agree on 500 random valid signatures and their corruptions', async () => {
  for (let i = 0; i < 500; i++) {
    const ok = await signed();
    const bad = Uint8Array.from(ok.signature);
    bad[i % 64]! ^= 1 << (i % 8);
    for (const [s, expected] of [
      [ok.signature, true],
      [bad, undefined],
    ] as const) {
      const a = verifyDigestNoble(ok.digest, s, ok.address);
      if (expected !== undefined) expect(a).toBe(expected);
      if (native) expect(verifyDigestNative(native, ok.digest, s, ok.address)).toBe(a);
    }
  }
});

test.each(['auto', 'noble'] as const)('the worker pool (%s) verifies, batches and closes', async (kind) => {
  const stats = createStats();
  const verifier = await createVerifier({
    kind,
    threads: 2,
    message: DEFAULT_AUTH_MESSAGE,
    domainName: DEFAULT_AUTH_DOMAIN,
    stats,
    logger: silentLogger,
  });
  try {
    expect(verifier.kind).toBe(kind === 'noble' ? 'noble' : native ? 'native' : 'noble');
    const jobs = await Promise.all(Array.from({ length: 200 }, () => signed()));
    const results = await Promise.all(
      jobs.map((j, i) => {
        const s = Uint8Array.from(j.signature);
        if (i % 2 === 1) s[10]! ^= 0xff;
        return verifier.verify(j.challenge, s, j.address);
      }),
    );
    expect(results.filter((r, i) => r === (i % 2 === 0 ? 'ok' : 'invalid')).length).toBe(200);
    expect(stats.verifyCount).toBe(200);
    expect(verifier.pending()).toBe(0);
    expect(await verifier.verify(jobs[0]!.challenge, new Uint8Array(64), jobs[0]!.address)).toBe('invalid');
  } finally {
    await verifier.close();
  }
  expect(await verifier.verify('x', new Uint8Array(65), '0x')).toBe('invalid');
});

test.each(['native', 'noble'] as const)('the %s pool checks each job with its own chain id', async (kind) => {
  const verifier = await createVerifier({
    kind,
    threads: 1,
    message: DEFAULT_AUTH_MESSAGE,
    domainName: DEFAULT_AUTH_DOMAIN,
    logger: silentLogger,
  });
  try {
    const chains = [1, 8453, 10, 137, 42161, Number.MAX_SAFE_INTEGER];
    const jobs = await Promise.all(
      chains.map(async (chainId) => {
        const signer = privateKeySigner(generatePrivateKey(), { chainId });
        const { fields, challenge } = createChallenge();
        const signature = await signer.signTypedData(loginTypedData(fields, { chainId }));
        return { chainId, challenge, signature, address: signer.address.toLowerCase() };
      }),
    );
    // All in one batch: every job is checked against its own chain id, not its neighbour's.
    const right = await Promise.all(jobs.map((j) => verifier.verify(j.challenge, j.signature, j.address, j.chainId)));
    expect(right).toEqual(chains.map(() => 'ok'));
    const wrong = await Promise.all(
      jobs.map((j, i) => verifier.verify(j.challenge, j.signature, j.address, chains[(i + 1) % chains.length])),
    );
    expect(wrong).toEqual(chains.map(() => 'invalid'));
    // The default chain id is 1.
    expect(await verifier.verify(jobs[0]!.challenge, jobs[0]!.signature, jobs[0]!.address)).toBe('ok');
  } finally {
    await verifier.close();
  }
});

test('lowSTwin and makeLoginVerifier: a high-s signature of the address itself is RULE_BROKEN, never valid', async () => {
  const ok = await signed();
  const r = toBig(ok.signature.subarray(0, 32));
  const s = toBig(ok.signature.subarray(32, 64));
  const v = ok.signature[64]! >= 27 ? ok.signature[64]! - 27 : ok.signature[64]!;
  const high = sig(r, N - s, 27 + (1 - v));
  expect(lowSTwin(high)).toEqual(ok.signature);
  expect(lowSTwin(sig(r, N - s, 1 - v))).toEqual(sig(r, s, v));
  // Only a signature whose sole broken rule is a high s has a twin.
  for (const bad of [ok.signature, sig(r, N - s, 29), sig(0n, N - s, 27), sig(r, N, 27), new Uint8Array(64)]) {
    expect(lowSTwin(bad)).toBeUndefined();
  }
  for (const kind of ['native', 'noble'] as const) {
    const verify = makeLoginVerifier(kind, DEFAULT_AUTH_MESSAGE, DEFAULT_AUTH_DOMAIN);
    expect(verify(ok.challenge, ok.signature, ok.address, 1)).toBe(EOA_VALID);
    expect(verify(ok.challenge, high, ok.address, 1)).toBe(EOA_RULE_BROKEN);
    // Another address: a contract wallet's owner, perhaps; not this address's own signature.
    expect(verify(ok.challenge, high, '0x000000000000000000000000000000000000dead', 1)).toBe(EOA_INVALID);
    expect(verify(ok.challenge, ok.signature, ok.address, 8453)).toBe(EOA_INVALID);
    expect(verify(ok.challenge, new Uint8Array(65), ok.address, 1)).toBe(EOA_INVALID);
  }
});

/** Nice value of every thread of this process, by kernel thread id (Linux). */
function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, nice is field 19.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

describe('verifier thread priority', () => {
  const linux = existsSync('/proc/thread-self');

  test('this machine can set a thread priority (the test below is not vacuous)', () => {
    expect(linux).toBe(true);
  });

  test.each([7, 0, 19])('nice +%i applies to the worker threads only, and is reported', async (delta) => {
    const main = getPriority();
    const before = threadNices();
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', write: (line) => lines.push(line) });
    const verifier = await createVerifier({
      kind: 'auto',
      threads: 2,
      nice: delta,
      message: DEFAULT_AUTH_MESSAGE,
      domainName: DEFAULT_AUTH_DOMAIN,
      logger,
    });
    try {
      const expected = Math.min(19, main + delta);
      expect(verifier.nice).toBe(expected);
      const after = threadNices();
      const added = [...after].filter(([tid]) => !before.has(tid));
      // The two workers (plus any helper threads Node starts for them) are new threads.
      expect(added.filter(([, nice]) => nice === expected).length).toBeGreaterThanOrEqual(2);
      // Every thread that existed before keeps its priority, the main thread included.
      for (const [tid, nice] of before) if (after.has(tid)) expect([tid, after.get(tid)]).toEqual([tid, nice]);
      expect(getPriority()).toBe(main);
      const started = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'signature verifier started');
      expect(started).toMatchObject({ nice: expected, threads: 2 });
      // Lowered workers still verify.
      const job = await signed();
      expect(await verifier.verify(job.challenge, job.signature, job.address)).toBe('ok');
    } finally {
      await verifier.close();
    }
  });

  test.each([-1, 20, 1.5, Number.NaN])('nice %p is refused with a RangeError', async (nice) => {
    await expect(
      createVerifier({
        kind: 'auto',
        threads: 1,
        nice,
        message: DEFAULT_AUTH_MESSAGE,
        domainName: DEFAULT_AUTH_DOMAIN,
        logger: silentLogger,
      }),
    ).rejects.toThrow(RangeError);
  });
});
