/**
 * Worker thread of the verification pool (verifier.ts). Receives batches of login jobs and answers
 * with one byte per job (1 = the signature recovers to the expected address).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { makeLoginVerifier, type VerifierKind } from './verify-core.js';

/** A batch sent to a worker: `signatures` holds 65 bytes per job (shorter ones are rejected before). */
export interface VerifyBatch {
  seq: number;
  challenges: string[];
  addresses: string[];
  signatures: Uint8Array;
}

/** A worker's answer to one batch. */
export interface VerifyResult {
  seq: number;
  results: Uint8Array;
}

/** Data given to each worker at start. */
export interface VerifyWorkerData {
  kind: VerifierKind;
  message: string;
  domainName: string;
}

if (parentPort !== null) {
  const port = parentPort;
  const data = workerData as VerifyWorkerData;
  const verify = makeLoginVerifier(data.kind, data.message, data.domainName);
  port.on('message', (batch: VerifyBatch) => {
    const n = batch.challenges.length;
    const results = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const sig = batch.signatures.subarray(i * 65, i * 65 + 65);
      results[i] = verify(batch.challenges[i]!, sig, batch.addresses[i]!) ? 1 : 0;
    }
    const answer: VerifyResult = { seq: batch.seq, results };
    port.postMessage(answer, [results.buffer]);
  });
}
