/**
 * A small typed event emitter. Listener exceptions are re-thrown on a microtask instead of
 * unwinding into the socket handler that emitted the event, so one faulty listener cannot leave
 * the server's bookkeeping half-updated (the exception still surfaces as an uncaught error).
 */

/** A listener of one event. */
export type Listener<T> = (event: T) => void;

/**
 * Typed `on`/`once`/`off`. `Events` maps each event name to the one argument its listeners get.
 * @example
 * class Thing extends TypedEmitter<{ ready: { at: Date } }> {}
 * new Thing().on('ready', (e) => console.log(e.at));
 */
export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Listener<never>[]>();

  /** Adds `listener` for `event`; returns `this`. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    const list = this.#listeners.get(event);
    if (list) list.push(listener as Listener<never>);
    else this.#listeners.set(event, [listener as Listener<never>]);
    return this;
  }

  /** Adds `listener` for the next `event` only; returns `this`. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    const wrapper: Listener<Events[K]> = (e) => {
      this.off(event, wrapper);
      listener(e);
    };
    return this.on(event, wrapper);
  }

  /** Removes one registration of `listener` for `event`; returns `this`. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.#listeners.get(event);
    if (!list) return this;
    const i = list.lastIndexOf(listener as Listener<never>);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#listeners.delete(event);
    return this;
  }

  /** Number of listeners registered for `event`. */
  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** Calls every listener of `event` with `value`; returns whether there was any. */
  protected emit<K extends keyof Events>(event: K, value: Events[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list) return false;
    for (const listener of list.slice()) {
      try {
        (listener as Listener<Events[K]>)(value);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    return true;
  }
}
