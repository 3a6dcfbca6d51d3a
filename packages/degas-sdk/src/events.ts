import { EventEmitter } from 'node:events';

/** A listener of one event: every event of this package has exactly one argument. */
export type Listener<T> = (event: T) => void;

/**
 * Node's `EventEmitter`, typed by an event map: `Events` maps each event name to the one argument
 * its listeners get. Only the typed methods are narrowed; the rest of `EventEmitter`
 * (`setMaxListeners`, `rawListeners`, `removeAllListeners`, …) is available as usual.
 * @example
 * class Thing extends TypedEmitter<{ ready: { at: Date } }> {}
 * new Thing().on('ready', (e) => console.log(e.at));
 */
export interface TypedEventEmitter<Events extends object>
  extends Omit<
    EventEmitter,
    | 'on'
    | 'addListener'
    | 'prependListener'
    | 'once'
    | 'prependOnceListener'
    | 'off'
    | 'removeListener'
    | 'emit'
    | 'listenerCount'
    | 'listeners'
    | 'rawListeners'
  > {
  /** Adds `listener` for `event`; returns `this`. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this;
  /** Same as {@link on}. */
  addListener<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this;
  /** Adds `listener` before the others for `event`; returns `this`. */
  prependListener<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this;
  /** Adds `listener` for the next `event` only; returns `this`. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this;
  /** Adds `listener` before the others for the next `event` only; returns `this`. */
  prependOnceListener<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this;
  /** Removes the most recent registration of `listener` for `event`; returns `this`. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this;
  /** Same as {@link off}. */
  removeListener<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this;
  /** Calls every listener of `event` with `value` (Node semantics); returns whether there was any. */
  emit<K extends keyof Events>(event: K, value: Events[K]): boolean;
  /** Number of listeners registered for `event`. */
  listenerCount(event: keyof Events): number;
  /** A copy of the listeners of `event`. */
  listeners<K extends keyof Events>(event: K): Listener<Events[K]>[];
  /** A copy of the listeners of `event`, including `once` wrappers. */
  rawListeners<K extends keyof Events>(event: K): Listener<Events[K]>[];
}

/**
 * `EventEmitter` as a generic base class: `class X extends TypedEmitter<Events>`. At run time it
 * is `EventEmitter` itself; only the types differ.
 * @example
 * class Thing extends TypedEmitter<{ ready: { at: Date } }> {}
 * new Thing().on('ready', (e) => console.log(e.at));
 */
export const TypedEmitter = EventEmitter as unknown as new <Events extends object>() => TypedEventEmitter<Events>;
/** The instance type of {@link TypedEmitter}. */
export type TypedEmitter<Events extends object> = TypedEventEmitter<Events>;
