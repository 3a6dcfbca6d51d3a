/**
 * Reconnection schedule. Durations in milliseconds.
 * @example
 * const reconnect: ReconnectOptions = { initialDelayMs: 1000, maxDelayMs: 30_000 };
 */
export interface ReconnectOptions {
  /** Upper bound of the first delay. Default 500. */
  initialDelayMs?: number;
  /** Cap on any delay. Default 15000. */
  maxDelayMs?: number;
  /** Growth of the upper bound per failed attempt. Default 2. */
  factor?: number;
  /**
   * `"full"` (default): each delay is uniform in [0, bound], which spreads a crowd of clients
   * reconnecting after a gateway restart. `"none"`: exactly the bound.
   */
  jitter?: 'full' | 'none';
  /** Give up (state `closed`) after this many failed attempts in a row. Default: never. */
  maxAttempts?: number;
}

/** {@link ReconnectOptions} with every default filled in. */
export type ResolvedReconnectOptions = Required<ReconnectOptions>;

/** The defaults of {@link ReconnectOptions}. */
export const DEFAULT_RECONNECT: Readonly<ResolvedReconnectOptions> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 15_000,
  factor: 2,
  jitter: 'full',
  maxAttempts: Number.POSITIVE_INFINITY,
});

/**
 * Validates reconnect options (TypeError/RangeError naming the option) and fills in defaults.
 * @example
 * resolveReconnect({ maxDelayMs: 5000 }).initialDelayMs // 500
 */
export function resolveReconnect(options: ReconnectOptions): ResolvedReconnectOptions {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('options.reconnect must be a boolean or an object');
  const r = { ...DEFAULT_RECONNECT };
  const num = (key: 'initialDelayMs' | 'maxDelayMs' | 'factor' | 'maxAttempts', min: number) => {
    const v = options[key];
    if (v === undefined) return;
    if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`options.reconnect.${key} must be a number`);
    if (v < min || (key !== 'maxAttempts' && !Number.isFinite(v))) {
      throw new RangeError(`options.reconnect.${key} must be a finite number of at least ${min}`);
    }
    r[key] = v;
  };
  num('initialDelayMs', 0);
  num('maxDelayMs', 0);
  num('factor', 1);
  num('maxAttempts', 1);
  if (r.maxAttempts !== Number.POSITIVE_INFINITY && !Number.isInteger(r.maxAttempts)) {
    throw new RangeError('options.reconnect.maxAttempts must be an integer or Infinity');
  }
  if (r.maxDelayMs < r.initialDelayMs)
    throw new RangeError('options.reconnect.maxDelayMs must be at least initialDelayMs');
  if (options.jitter !== undefined) {
    if (options.jitter !== 'full' && options.jitter !== 'none') {
      throw new TypeError('options.reconnect.jitter must be "full" or "none"');
    }
    r.jitter = options.jitter;
  }
  return r;
}

/**
 * Delay before reconnection attempt number `attempt` (0 for the first after a drop):
 * `min(maxDelayMs, initialDelayMs * factor^attempt)`, then jittered.
 * @param random - uniform in [0, 1); `Math.random` by default (not security relevant).
 * @example
 * backoffDelay(3, { ...DEFAULT_RECONNECT, jitter: 'none' }) // 4000
 */
export function backoffDelay(
  attempt: number,
  options: ResolvedReconnectOptions,
  random: () => number = Math.random,
): number {
  const bound = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** attempt);
  return options.jitter === 'full' ? Math.floor(random() * bound) : bound;
}
