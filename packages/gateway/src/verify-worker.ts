/**
 * Worker thread of the verification pool (verifier.ts). Receives batches of login jobs and answers
 * with one byte per job (1 = the signature recovers to the expected address).
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { makeLoginVerifier, type VerifierKind } from './verify-core.js';

/** A batch sent to a worker: `signatures` holds 65 bytes per job (other lengths never come here). */
export interface VerifyBatch {
  seq: number;
  challenges: string[];
  addresses: string[];
  /** The chain id each job was signed with (1 for `eth_auth.chain_id` 0). */
  chainIds: number[];
  signatures: Uint8Array;
}

/** A worker's answer to one batch: one EoaResult (0, 1, 2) per job. */
export interface VerifyResult {
  seq: number;
  results: Uint8Array;
}

/** The first message of every worker: the scheduling priority it runs at. */
export interface VerifyWorkerReady {
  ready: true;
  /** The thread's nice value, or `null` when it could not be read or set (not Linux). */
  nice: number | null;
  /** The thread's kernel id, or `null` off Linux. */
  tid: number | null;
  /** Why the priority was not lowered, when it was asked for and not applied. */
  error?: string;
}

/** Data given to each worker at start. */
export interface VerifyWorkerData {
  kind: VerifierKind;
  message: string;
  domainName: string;
  /** Added to the thread's nice value (0–19, capped at 19); 0 = leave it. */
  niceDelta: number;
}

/**
 * Lowers this thread's own scheduling priority. On Linux the nice value belongs to each thread
 * (setpriority(2), "Bugs"), and `os.setPriority` passes its id to setpriority(PRIO_PROCESS), so
 * the worker names itself by the kernel thread id that `/proc/thread-self` points to
 * (`<pid>/task/<tid>`): the main thread and the other workers keep theirs. Lowering a priority
 * needs no privilege. Elsewhere (no `/proc/thread-self`) nothing is changed, since the same call
 * would renice the whole process.
 */
function lowerOwnPriority(delta: number): VerifyWorkerReady {
  let tid: number;
  try {
    const link = readlinkSync('/proc/thread-self');
    tid = Number(link.slice(link.lastIndexOf('/') + 1));
    if (!Number.isInteger(tid) || tid <= 0) throw new Error(`unexpected /proc/thread-self: ${link}`);
  } catch (err) {
    return { ready: true, nice: null, tid: null, error: (err as Error).message };
  }
  try {
    const current = getPriority(tid);
    if (delta > 0 && current < 19) setPriority(tid, Math.min(19, current + delta));
    return { ready: true, nice: getPriority(tid), tid };
  } catch (err) {
    return { ready: true, nice: null, tid, error: (err as Error).message };
  }
}

if (parentPort !== null) {
  const port = parentPort;
  const data = workerData as VerifyWorkerData;
  const ready = lowerOwnPriority(data.niceDelta);
  // Ready only once the verifier (and the native addon, when used) has loaded: a pool closed right
  // after it started terminates its workers, and terminating a thread while node-addon-api is
  // still loading aborts the whole process.
  const verify = makeLoginVerifier(data.kind, data.message, data.domainName);
  port.postMessage(ready);
  port.on('message', (batch: VerifyBatch) => {
    const n = batch.challenges.length;
    const results = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const sig = batch.signatures.subarray(i * 65, i * 65 + 65);
      results[i] = verify(batch.challenges[i]!, sig, batch.addresses[i]!, batch.chainIds[i]!);
    }
    const answer: VerifyResult = { seq: batch.seq, results };
    port.postMessage(answer, [results.buffer]);
  });
}
