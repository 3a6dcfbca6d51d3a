/**
 * Time-bounded waiting. Tests wait for events, never sleep; every wait has a generous bound so a
 * hang becomes a clear failure instead of a jest timeout.
 */

/** Thrown by {@link within} when the bound passes first. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * Resolves like `promise`, or rejects with {@link TimeoutError} after `ms`.
 * @example
 * const msg = await within(2000, client.nextMessage(), 'auth_request');
 */
export function within<T>(ms: number, promise: Promise<T>, what = 'event'): Promise<T> {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`within: ms must be a non-negative number, got ${ms}`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `condition` every `intervalMs` until it returns truthy; for states that emit no event
 * (a counter in another process, a map size). Rejects with {@link TimeoutError} after `ms`.
 * @example
 * await until(() => degas.upgradeAttempts.length >= 2, 3000, 'a re-dial');
 */
export async function until<T>(
  condition: () => T | Promise<T>,
  ms: number,
  what = 'condition',
  intervalMs = 10,
): Promise<NonNullable<T>> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) throw new TimeoutError(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A FIFO of values with awaitable `next()`: pushes resolve the oldest waiter, otherwise queue.
 * `fail(err)` rejects current and future waiters once the queue is drained (e.g. socket closed).
 * @example
 * const q = new AsyncQueue<number>(); q.push(1); await q.next(); // 1
 */
export class AsyncQueue<T> {
  readonly #items: T[] = [];
  readonly #waiters: { resolve: (v: T) => void; reject: (e: Error) => void }[] = [];
  #error: Error | undefined;

  push(value: T): void {
    const w = this.#waiters.shift();
    if (w) w.resolve(value);
    else this.#items.push(value);
  }

  fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }

  /**
   * The next value. With `ms`, rejects with {@link TimeoutError} after that long — and the waiter
   * is withdrawn, so a value that arrives later stays queued for the next caller instead of
   * being swallowed by an abandoned wait.
   */
  next(ms?: number, what = 'a value'): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift() as T);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        resolve: (v: T) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(waiter);
      if (ms !== undefined) {
        timer = setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`));
        }, ms);
      }
    });
  }

  /** Values queued and not yet taken. */
  get size(): number {
    return this.#items.length;
  }

  /** Takes every queued value without waiting. */
  drain(): T[] {
    return this.#items.splice(0);
  }
}

/** A promise with its resolve function exposed. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
