/**
 * Monitoring hooks: the event types, their payloads and the list of hooks a factory calls.
 * @module
 */
import type { CircuitScope, CircuitStateName, Transition } from "./core/circuit.js";

/** `circuit_breaker_created`: the first registration of a name. */
export interface CircuitCreatedEvent {
  /** The circuit's name. */
  readonly name: string;
  /** Consecutive failures that open the circuit, from its config. */
  readonly threshold: number;
  /** Seconds the circuit stays opened before a probe may run, from its config. */
  readonly ttl: number;
}

/** `failed`: a counted failure while closed; `failureCount` is the count after it. */
export interface CircuitFailedEvent {
  /** The circuit's name. */
  readonly name: string;
  /** Consecutive failures counted, this one included. */
  readonly failureCount: number;
}

/**
 * `state_changed`: every transition. `openedAt` is epoch ms for `opened`, and `null` for every
 * other state (as the Python purgatory's half-opened event carries `opened_at=None`). `remote` is
 * `true` when a shared storage learned the transition from another process. `scope` is
 * `"process"` for a transition of the state a process keeps for itself (a circuit with a `quorum`
 * whose failures in this process alone met the trip rule), `"fleet"` for the circuit's own.
 */
export interface CircuitStateChangedEvent {
  /** The circuit's name. */
  readonly name: string;
  /** The state the circuit moved to. */
  readonly state: CircuitStateName;
  /** When the circuit opened, epoch ms (Redis time over Redis), for `opened`; `null` for every other state. */
  readonly openedAt: number | null;
  /** `"process"` for the state a process keeps for itself (under a `quorum`), `"fleet"` for the circuit's own. */
  readonly scope: CircuitScope;
  /** `true` when a shared storage learned the transition from another process; absent for this process's own. */
  readonly remote?: boolean;
}

/**
 * `recovered`: a success reset a non-zero failure count, or a probe closed the circuit (`scope`
 * `"process"`: a probe of the state the process keeps for itself).
 */
export interface CircuitRecoveredEvent {
  /** The circuit's name. */
  readonly name: string;
  /** `"process"` when a probe closed the state a process keeps for itself, `"fleet"` otherwise. */
  readonly scope: CircuitScope;
}

/**
 * `storage_unavailable`, `storage_recovered`: a shared storage lost or regained its server.
 * Circuits keep working on their local state meanwhile. The hook's circuit name is `"*"`.
 */
export interface StorageAvailabilityEvent {
  /** Always `"*"`: the event is about the storage, not one circuit. */
  readonly name: "*";
  /** What the storage is, e.g. `"redis"`. */
  readonly storage: string;
  /** Why it became unavailable (absent on recovery). */
  readonly error?: unknown;
}

/** `storage_error`: one circuit's shared data could not be used (e.g. foreign or corrupt data). */
export interface StorageErrorEvent {
  /** The circuit concerned; `"*"` for none in particular (a refused password, a message that cannot be read). */
  readonly name: string;
  /** What the storage is: `"redis"` for `RedisStorage`, else its `location` (password masked) or its class. */
  readonly storage: string;
  /** The error as it came: thrown by the storage, or replied by its server. */
  readonly error: unknown;
}

/**
 * Why a factory forgot a circuit in this process (`circuit_forgotten`):
 * - `"limit"`: a new circuit needed room under `maxCircuits` (the factory's, or `circuitFetch`'s),
 *   and this one was the least recently used closed, idle one;
 * - `"idle"`: it was left unused for `idleTtl` (the factory's, or `circuitFetch`'s);
 * - `"forget"`: `factory.forget(name)` was called.
 *
 * @example
 * ```ts
 * const counts: Record<ForgetReason, number> = { limit: 0, idle: 0, forget: 0 };
 * circuitbreaker.addListener((_name, type, event) => {
 *   if (type === "circuit_forgotten") counts[event.reason] += 1;
 * });
 * ```
 */
export type ForgetReason = "limit" | "idle" | "forget";

/**
 * `circuit_forgotten`: the factory forgot a circuit in this process. Its local record (for a
 * shared storage: this process's replica, and its subscription) is gone; the next call that names
 * it registers it again (`circuit_breaker_created`), and breakers already handed out keep working.
 * With a shared storage (Redis) the shared state stays, and its keys expire after `keyTtl`.
 * Not emitted by `close()`.
 *
 * @example
 * ```ts
 * circuitbreaker.addListener((name, type, event) => {
 *   if (type === "circuit_forgotten" && event.reason === "limit") evictions.inc();
 * });
 * ```
 */
export interface CircuitForgottenEvent {
  /** The circuit's name. */
  readonly name: string;
  /** Why the factory forgot it: room under `maxCircuits`, `idleTtl`, or `forget(name)`. */
  readonly reason: ForgetReason;
}

/** Payload of each event type. */
export interface CircuitEventMap {
  /** The first registration of a name in this process (again after the factory forgot it). */
  circuit_breaker_created: CircuitCreatedEvent;
  /** A counted failure while closed (or disabled). */
  failed: CircuitFailedEvent;
  /** Every transition. */
  state_changed: CircuitStateChangedEvent;
  /** A non-zero failure count reset (by a success or `reset()`), or a probe that closed the circuit. */
  recovered: CircuitRecoveredEvent;
  /** A shared storage lost its server (circuit name `"*"`). */
  storage_unavailable: StorageAvailabilityEvent;
  /** A shared storage regained its server (circuit name `"*"`). */
  storage_recovered: StorageAvailabilityEvent;
  /** A storage failed on one circuit's data or command (or on none in particular: `"*"`). */
  storage_error: StorageErrorEvent;
  /** The factory forgot a circuit in this process (never emitted by `close()`). */
  circuit_forgotten: CircuitForgottenEvent;
}

/** The event type names, stable for dashboards. */
export type CircuitEventType = keyof CircuitEventMap;

/** The arguments of a hook call, as a union so that checking `eventType` narrows `event`. */
export type CircuitHookArgs = {
  [K in CircuitEventType]: [circuitName: string, eventType: K, event: CircuitEventMap[K]];
}[CircuitEventType];

/**
 * A monitoring hook, called synchronously for every event of every circuit of a factory. A hook
 * that throws, or an `async` hook whose promise rejects, never changes the outcome of the guarded
 * call: it is reported once per hook as a process warning (code `PURGATORY_HOOK_ERROR`). What a
 * hook returns is ignored (a promise is not awaited), hence the `unknown` return type, which also
 * lets an `async` hook pass typescript-eslint's `no-misused-promises`.
 *
 * @example
 * ```ts
 * const hook: CircuitHook = (name, eventType, event) => {
 *   if (eventType === "state_changed") gauge.set({ circuit: name }, event.state === "closed" ? 0 : 1);
 * };
 * factory.addListener(hook);
 * ```
 */
export type CircuitHook = (...args: CircuitHookArgs) => unknown;

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";

/**
 * What `addListener` returns: call it (or dispose of it, `using stop = factory.addListener(hook)`)
 * to remove that registration of the hook. Calling it again does nothing.
 *
 * @example
 * ```ts
 * const stop = circuitbreaker.addListener(hook);
 * stop(); // hook is no longer called
 * ```
 */
export interface ListenerDisposer extends Disposable {
  /** Removes the registration `addListener` made; a no-op once done. */
  (): void;
}

/**
 * A `ListenerDisposer` that runs `remove` once: what `addListener`, `addCallListener` and the
 * metrics integrations' `registerMetrics` return.
 *
 * @example
 * ```ts
 * const stop = disposer(() => hooks.remove(hook));
 * ```
 */
export function disposer(remove: () => unknown): ListenerDisposer {
  let added = true;
  const dispose = (): void => {
    if (!added) return;
    added = false;
    remove();
  };
  return Object.assign(dispose, { [Symbol.dispose]: dispose });
}

/**
 * Functions a factory calls in order, synchronously: its hooks, its call listeners. One that
 * throws, or returns a promise that rejects, is reported once as a process warning (code
 * `PURGATORY_HOOK_ERROR`) and skipped: its failure never reaches the guarded call and never
 * becomes an unhandled rejection. Emitting to none costs one length check.
 */
export class Listeners<A extends readonly unknown[]> {
  #listeners: readonly ((...args: A) => unknown)[] = [];
  readonly #warned = new WeakSet<object>();
  /** What a listener is called in a warning ("hook"), and what it was called for. */
  readonly #kind: string;
  readonly #about: (args: A) => string;

  constructor(kind: string, about: (args: A) => string) {
    this.#kind = kind;
    this.#about = about;
  }

  /** How many listen. */
  get size(): number {
    return this.#listeners.length;
  }

  /** Adds a listener; adding the same one twice calls it twice. */
  add(listener: (...args: A) => unknown): void {
    this.#listeners = [...this.#listeners, listener];
  }

  /** Removes one registration of `listener`; `false` when it was not listening. */
  remove(listener: (...args: A) => unknown): boolean {
    const index = this.#listeners.lastIndexOf(listener);
    if (index === -1) return false;
    this.#listeners = this.#listeners.filter((_, i) => i !== index);
    return true;
  }

  /** Calls every listener with `args`. */
  emit(...args: A): void {
    for (const listener of this.#listeners) {
      try {
        const result: unknown = listener(...args);
        if (isThenable(result)) {
          result.then(undefined, (error: unknown) => this.#warn(listener, args, error, "rejected"));
        }
      } catch (error) {
        this.#warn(listener, args, error, "threw");
      }
    }
  }

  #warn(listener: object, args: A, error: unknown, how: "threw" | "rejected"): void {
    if (this.#warned.has(listener)) return;
    this.#warned.add(listener);
    const detail = error instanceof Error ? error.message : String(error);
    globalThis.process?.emitWarning?.(
      `A purgatory ${this.#kind} ${how} on "${this.#about(args)}" (${detail}); the guarded call was not affected`,
      { code: "PURGATORY_HOOK_ERROR" },
    );
  }
}

/** The hooks of one factory. */
export class Hooks extends Listeners<CircuitHookArgs> {
  constructor() {
    super("hook", (args) => args[1]);
  }
}

/** Where events go: a factory's `Hooks`, or a storage's subscribers. */
export interface EventSink {
  /** How many listen, when known; 0 skips building the events. */
  readonly size?: number;
  emit(...args: CircuitHookArgs): void;
}

/** Emits the events of a transition of circuit `name`, in order, as hook calls. */
export function emitTransition(sink: EventSink, name: string, transition: Transition | null): void {
  if (transition === null || sink.size === 0) return;
  for (const event of transition.events) {
    switch (event.type) {
      case "failed":
        sink.emit(name, "failed", { name, failureCount: event.failureCount });
        break;
      case "recovered":
        sink.emit(name, "recovered", { name, scope: event.scope ?? "fleet" });
        break;
      case "state_changed":
        sink.emit(name, "state_changed", {
          name,
          state: event.state,
          openedAt: event.openedAt,
          scope: event.scope ?? "fleet",
        });
        break;
    }
  }
}
