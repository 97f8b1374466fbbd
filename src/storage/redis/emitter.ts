/**
 * An event emitter with the part of `node:events`' `EventEmitter` that the client adapters use
 * (`on`, `once`, `off`/`removeListener`, `emit`, `listenerCount`), with its semantics: listeners
 * called in the order added, a `once` listener removed (through `removeListener`, which a subclass
 * may override) before it runs, removable by the function given, and an `error` emitted with
 * nobody listening thrown. Its own, so that the library imports no `node:` module at load and
 * loads in browsers and edge workers.
 * @module
 */

/** A listener of the emitter. */
export type EmitterListener = (...args: unknown[]) => void;

/** A `once` listener's wrapper, which knows the listener it was made for. */
type OnceWrapper = EmitterListener & { readonly listener: EmitterListener };

/** Emits events to the listeners added for them. */
export class EventEmitter {
  readonly #listeners = new Map<string, EmitterListener[]>();

  /** Adds `listener` for `event`. */
  on(event: string, listener: EmitterListener): this {
    const listeners = this.#listeners.get(event);
    if (listeners === undefined) this.#listeners.set(event, [listener]);
    else listeners.push(listener);
    return this;
  }

  /** Adds `listener` for the next `event` only. */
  once(event: string, listener: EmitterListener): this {
    const wrapper = Object.assign(
      (...args: unknown[]) => {
        this.removeListener(event, wrapper);
        listener.apply(this, args);
      },
      { listener },
    );
    return this.on(event, wrapper);
  }

  /** Removes `listener` (the last one added, if added more than once) from `event`. */
  removeListener(event: string, listener: EmitterListener): this {
    const listeners = this.#listeners.get(event);
    if (listeners === undefined) return this;
    for (let i = listeners.length - 1; i >= 0; i--) {
      const added = listeners[i];
      if (added === listener || (added as Partial<OnceWrapper>).listener === listener) {
        listeners.splice(i, 1);
        break;
      }
    }
    if (listeners.length === 0) this.#listeners.delete(event);
    return this;
  }

  /** `removeListener`. */
  off(event: string, listener: EmitterListener): this {
    return this.removeListener(event, listener);
  }

  /**
   * Calls the listeners of `event` with `args`; whether there were any. An `error` with no
   * listener is thrown, as `node:events` does.
   */
  emit(event: string, ...args: unknown[]): boolean {
    const listeners = this.#listeners.get(event);
    if (listeners === undefined) {
      if (event === "error")
        throw args[0] instanceof Error ? args[0] : new Error(`Unhandled error. (${String(args[0])})`);
      return false;
    }
    for (const listener of [...listeners]) listener.apply(this, args);
    return true;
  }

  /** How many listeners `event` has. */
  listenerCount(event: string): number {
    return this.#listeners.get(event)?.length ?? 0;
  }
}
