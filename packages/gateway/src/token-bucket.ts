/**
 * The token bucket behind both rate limits of the gateway: client messages per connection
 * (`rateLimit`, on the forwarding hot path) and upgrades per client IP (`handshakeRate`).
 */

/**
 * `rate` tokens per second, at most `burst` in the bucket; it starts full. Time is passed in
 * (monotonic milliseconds, `performance.now()`), so one clock reading serves several checks and
 * tests need no timers.
 * @example
 * const bucket = new TokenBucket(1000, 2000, performance.now());
 * if (!bucket.take(performance.now())) dropMessage();
 */
export class TokenBucket {
  /** Tokens per second. */
  readonly rate: number;
  /** Most tokens the bucket holds. */
  readonly burst: number;
  /** Tokens after the last {@link take} (fractional). */
  tokens: number;
  /** When the bucket was last refilled (ms). */
  at: number;

  constructor(rate: number, burst: number, now: number) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.at = now;
  }

  /** Refills for the time since the last call, then spends one token; false = fewer than one (nothing spent). */
  take(now: number): boolean {
    let tokens = this.tokens + ((now - this.at) * this.rate) / 1000;
    if (tokens > this.burst) tokens = this.burst;
    this.at = now;
    if (tokens < 1) {
      this.tokens = tokens;
      return false;
    }
    this.tokens = tokens - 1;
    return true;
  }
}
