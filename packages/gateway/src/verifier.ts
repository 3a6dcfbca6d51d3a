/**
 * Signature verification off the event loop (ARCHITECTURE.md 2): a worker_threads pool, sized to
 * the cores by default, that verifies EIP-712 login signatures with libsecp256k1 when its native
 * binding loads and with @noble/secp256k1 otherwise. Jobs go to a worker in batches when many
 * are waiting, so a login storm costs the main thread one message per batch, not per login.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loginDigest, MAX_WALLET_SIGNATURE_LENGTH } from '@degas/auth-eth';
import { GatewayError } from './errors.js';
import type { Logger } from './logger.js';
import { type GatewayStats, observeVerify } from './stats.js';
import { EOA_INVALID, EOA_VALID, type EoaResult, loadNativeSecp256k1, type VerifierKind } from './verify-core.js';
import type { VerifyBatch, VerifyResult, VerifyWorkerData, VerifyWorkerReady } from './verify-worker.js';

export type { VerifierKind } from './verify-core.js';

/**
 * The answer to one login check: `ok`; `invalid` (the signature is not valid for the address);
 * `unavailable` (a contract-wallet check could not be completed: its endpoint failed, timed out
 * or is overloaded).
 */
export type VerifyOutcome = 'ok' | 'invalid' | 'unavailable';

/**
 * Checks signatures of smart-contract wallets (ERC-1271 / ERC-6492) on the chains it has an
 * endpoint for (eth-rpc.ts). Never rejects.
 */
export interface ContractWalletChecker {
  /** Whether contract-wallet logins are possible on this chain. */
  has(chainId: number): boolean;
  /** Checks `signature` over `digest` for `address` on `chainId`, finishing before `deadline` (performance.now() ms). */
  verify(
    chainId: number,
    address: string,
    digest: Uint8Array,
    signature: Uint8Array,
    deadline: number,
  ): Promise<VerifyOutcome>;
}

/** Options of {@link createVerifier}. */
export interface VerifierOptions {
  /** "auto" = native when it loads, else noble. "native" fails if the addon does not load. */
  kind: 'auto' | 'native' | 'noble';
  /** Worker threads; default: the number of cores. */
  threads?: number | undefined;
  /**
   * How much lower than the main thread the workers are scheduled: added to each worker thread's
   * nice value (Linux; 0–19, capped at nice 19). Default {@link DEFAULT_VERIFIER_NICE}; 0 = same
   * priority as the main thread.
   */
  nice?: number | undefined;
  /** The challenge prompt (`Message`) and EIP-712 domain name this gateway uses. */
  message: string;
  domainName: string;
  /** Checks the signatures that are not valid EOA signatures (contract wallets); none = EOA only. */
  wallets?: ContractWalletChecker | undefined;
  stats?: GatewayStats | undefined;
  logger: Logger;
}

/** A running verification pool. */
export interface Verifier {
  /** Which implementation runs. */
  readonly kind: VerifierKind;
  readonly threads: number;
  /**
   * The nice value the worker threads run at (the main thread's is `os.getPriority()`), or `null`
   * where a thread's priority cannot be set (not Linux).
   */
  readonly nice: number | null;
  /** Jobs queued or in flight. */
  pending(): number;
  /**
   * Checks `signature` over the Login typed data of `challenge` and `chainId` (PROTOCOL.md 4.2
   * step 5): `ok` when it is a valid signature of `address` (lowercase `0x` hex), or, with a
   * contract-wallet checker for `chainId`, when the wallet contract at `address` accepts it.
   * `deadline` (performance.now() ms, default none) bounds a contract-wallet check. Never rejects.
   */
  verify(
    challenge: string,
    signature: Uint8Array,
    address: string,
    chainId?: number,
    deadline?: number,
  ): Promise<VerifyOutcome>;
  /** Terminates the workers; pending jobs resolve `invalid`. */
  close(): Promise<void>;
}

/**
 * Most jobs in one message to a worker. Every job of a batch is answered in the same event-loop
 * turn (auth_ok, session setup), so a large batch is one long turn for everyone else: 16 instead
 * of 64 halved forwarded messages' p99 during a 5000-login storm (bench) at no cost in logins/s.
 */
const MAX_BATCH = 16;

/**
 * Default {@link VerifierOptions.nice}. The workers share the cores with the main thread, which
 * forwards the players' messages; at the same priority the scheduler gives a busy verifier thread
 * an equal share, and a login storm delays forwarding (bench/README.md, login storm).
 */
export const DEFAULT_VERIFIER_NICE = 10;
const SIG = 65;

interface Job {
  challenge: string;
  signature: Uint8Array;
  address: string;
  chainId: number;
  resolve: (result: EoaResult) => void;
  started: number;
}

interface Slot {
  worker: Worker;
  inFlight: Job[] | undefined;
  seq: number;
  /** Resolves with the worker's first message (its priority), or undefined if it exits first. */
  ready: Promise<VerifyWorkerReady | undefined>;
}

function workerUrl(): URL {
  const sibling = new URL('./verify-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(sibling))) return sibling;
  // Running from src/ (ts-jest): use the built worker.
  const built = new URL('../dist/verify-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error('verify-worker.js not found: build @degas/gateway first');
}

/**
 * Starts a verification pool.
 * @example
 * const verifier = await createVerifier({ kind: 'auto', message, domainName: 'Degas Authentication', logger });
 * const outcome = await verifier.verify(challenge, signature, '0xabc…', 8453); // 'ok' | 'invalid' | 'unavailable'
 */
export async function createVerifier(options: VerifierOptions): Promise<Verifier> {
  let kind: VerifierKind;
  if (options.kind === 'noble') kind = 'noble';
  else if (loadNativeSecp256k1() !== undefined) kind = 'native';
  else if (options.kind === 'native')
    throw new GatewayError(
      'VERIFIER_UNAVAILABLE',
      'verifier "native" requested but the secp256k1 native binding does not load (choose "auto" or "noble")',
    );
  else kind = 'noble';
  const threads = options.threads ?? Math.max(1, availableParallelism());
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError('verifierThreads must be a positive integer');
  const niceDelta = options.nice ?? DEFAULT_VERIFIER_NICE;
  if (!Number.isInteger(niceDelta) || niceDelta < 0 || niceDelta > 19) {
    throw new RangeError('verifierNice must be an integer from 0 to 19');
  }
  const url = workerUrl();
  const data: VerifyWorkerData = { kind, message: options.message, domainName: options.domainName, niceDelta };
  const stats = options.stats;
  const log = options.logger;
  const queue: Job[] = [];
  const slots: Slot[] = [];
  let closed = false;
  let inFlightCount = 0;

  const spawn = (): Slot => {
    const worker = new Worker(url, { workerData: data });
    let onReady: (r: VerifyWorkerReady | undefined) => void = noop;
    const ready = new Promise<VerifyWorkerReady | undefined>((resolve) => {
      onReady = resolve;
    });
    const slot: Slot = { worker, inFlight: undefined, seq: 0, ready };
    worker.once('exit', () => onReady(undefined));
    worker.on('message', (res: VerifyResult | VerifyWorkerReady) => {
      if ('ready' in res) {
        onReady(res);
        return;
      }
      const jobs = slot.inFlight;
      if (jobs === undefined || res.seq !== slot.seq) return;
      slot.inFlight = undefined;
      inFlightCount -= jobs.length;
      const now = performance.now();
      for (let i = 0; i < jobs.length; i++) {
        const job = jobs[i]!;
        if (stats !== undefined) observeVerify(stats, now - job.started);
        job.resolve(res.results[i] as EoaResult);
      }
      dispatch();
    });
    slot.worker.on('error', (err) => {
      log.error('verification worker failed', { error: err.message });
    });
    slot.worker.on('exit', () => {
      const jobs = slot.inFlight;
      slot.inFlight = undefined;
      if (jobs !== undefined) {
        inFlightCount -= jobs.length;
        for (const job of jobs) job.resolve(EOA_INVALID);
      }
      const i = slots.indexOf(slot);
      if (i >= 0) {
        if (closed) slots.splice(i, 1);
        else {
          slots[i] = spawn();
          dispatch();
        }
      }
    });
    return slot;
  };

  const dispatch = (): void => {
    for (const slot of slots) {
      if (queue.length === 0) return;
      if (slot.inFlight !== undefined) continue;
      const jobs = queue.splice(0, MAX_BATCH);
      const signatures = new Uint8Array(jobs.length * SIG);
      const challenges: string[] = [];
      const addresses: string[] = [];
      const chainIds: number[] = [];
      for (let i = 0; i < jobs.length; i++) {
        const job = jobs[i]!;
        signatures.set(job.signature, i * SIG);
        challenges.push(job.challenge);
        addresses.push(job.address);
        chainIds.push(job.chainId);
      }
      slot.seq++;
      slot.inFlight = jobs;
      inFlightCount += jobs.length;
      const batch: VerifyBatch = { seq: slot.seq, challenges, addresses, chainIds, signatures };
      slot.worker.postMessage(batch, [signatures.buffer]);
    }
  };

  // verify() does not post at once: jobs that arrive in the same event-loop turn (a login storm
  // delivers many eth_auth frames per poll phase) leave together in one batch. Posting each job
  // alone cost the main thread ~100 µs of postMessage per login (bench, 5000-login storm).
  let scheduled = false;
  const dispatchSoon = (): void => {
    scheduled = false;
    dispatch();
  };

  for (let i = 0; i < threads; i++) slots.push(spawn());
  // Every worker reports its priority before it takes jobs; jobs queued meanwhile wait for it.
  const first = await Promise.all(slots.map((s) => s.ready));
  const reported = first.find((r) => r !== undefined);
  const nice = reported?.nice ?? null;
  if (niceDelta > 0 && nice === null) {
    log.warn('verifier threads run at the main thread priority', { error: reported?.error ?? 'worker exited' });
  }
  log.info('signature verifier started', { verifier: kind, threads, nice });

  const wallets = options.wallets;
  const INVALID = Promise.resolve<VerifyOutcome>('invalid');
  /** The contract-wallet check (PROTOCOL.md 4.2 step 5, extension): a few per second at most, so plain code. */
  const contractCheck = (
    challenge: string,
    signature: Uint8Array,
    address: string,
    chainId: number,
    deadline: number,
  ): Promise<VerifyOutcome> => {
    let digest: Uint8Array;
    try {
      digest = loginDigest(
        { Message: options.message, Challenge: challenge },
        { domainName: options.domainName, chainId },
      );
    } catch {
      return INVALID;
    }
    return (wallets as ContractWalletChecker).verify(chainId, address, digest, Uint8Array.from(signature), deadline);
  };

  return {
    kind,
    threads,
    nice,
    pending: () => queue.length + inFlightCount,
    verify(challenge, signature, address, chainId = 1, deadline = Number.POSITIVE_INFINITY) {
      if (closed || !(signature instanceof Uint8Array)) return INVALID;
      // A signature that is not a valid EOA signature of the address may be a contract wallet's
      // (1 to 8192 bytes), when there is an endpoint for its chain.
      const contract =
        wallets !== undefined &&
        signature.length >= 1 &&
        signature.length <= MAX_WALLET_SIGNATURE_LENGTH &&
        wallets.has(chainId);
      // Every shape rule is checked in the worker by parseSignature; any other length never goes
      // to a worker, so that a large blob is never copied there (the answer is the same).
      if (signature.length !== SIG) {
        return contract ? contractCheck(challenge, signature, address, chainId, deadline) : INVALID;
      }
      return new Promise<VerifyOutcome>((resolve) => {
        queue.push({
          challenge,
          signature: Uint8Array.from(signature),
          address,
          chainId,
          resolve: (result) => {
            if (result === EOA_VALID) resolve('ok');
            else if (result === EOA_INVALID && contract && !closed) {
              resolve(contractCheck(challenge, signature, address, chainId, deadline));
            } else resolve('invalid');
          },
          started: performance.now(),
        });
        if (!scheduled) {
          scheduled = true;
          setImmediate(dispatchSoon);
        }
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const job of queue.splice(0)) job.resolve(EOA_INVALID);
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}

function noop(): void {}
