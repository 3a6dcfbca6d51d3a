/**
 * Bytes from the CSPRNG for challenges, session ids and resume-ticket nonces, drawn in blocks:
 * one OpenSSL call per login cost ≈ 8 µs each for the challenge and the session id (bench, login
 * storm), one call per 4 KiB costs almost nothing per login.
 */
import { randomBytes } from 'node:crypto';

/** Bytes drawn from the CSPRNG per refill of the pool (≈ 170 logins). */
export const RANDOM_POOL_BYTES = 4096;

/** Options of {@link RandomPool}. */
export interface RandomPoolOptions {
  /** Bytes per refill. Default {@link RANDOM_POOL_BYTES}. */
  size?: number;
  /** The CSPRNG (tests count its calls). Default `crypto.randomBytes`. */
  source?: (n: number) => Buffer;
}

/**
 * Hands out CSPRNG bytes from a block refilled with one call. Every byte is handed out once: a
 * draw that does not fit in what is left starts a new block (the rest is dropped), and a refill is
 * a new buffer, so views handed out earlier are never overwritten.
 * @example
 * const pool = new RandomPool();
 * const nonce = pool.take(16);
 */
export class RandomPool {
  readonly size: number;
  private readonly source: (n: number) => Buffer;
  private block: Buffer = Buffer.alloc(0);
  private at = 0;

  constructor(options: RandomPoolOptions = {}) {
    this.size = options.size ?? RANDOM_POOL_BYTES;
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError('size must be a positive integer');
    this.source = options.source ?? randomBytes;
  }

  /** `n` fresh bytes (a view into the current block; a draw larger than the block gets its own). */
  take(n: number): Buffer {
    if (this.at + n > this.block.length) {
      this.block = this.source(Math.max(this.size, n));
      this.at = 0;
    }
    const out = this.block.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** A random non-zero 64-bit id. */
  nonZeroId64(): bigint {
    for (;;) {
      const id = this.take(8).readBigUInt64BE(0);
      if (id !== 0n) return id;
    }
  }
}

/** The gateway's pool (shared by every session: one refill serves many logins). */
const shared = new RandomPool();

/**
 * `n` bytes from the gateway's shared {@link RandomPool}.
 * @example
 * createChallenge({ message, randomBytes: pooledRandomBytes });
 */
export function pooledRandomBytes(n: number): Buffer {
  return shared.take(n);
}

/** A random non-zero 64-bit session id from the shared pool. */
export function randomSessionId(): bigint {
  return shared.nonZeroId64();
}
