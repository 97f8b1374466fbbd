/**
 * The seam between the breakers and where circuit state lives. `InMemoryStorage` implements it;
 * `RedisStorage` implements it for a fleet; a user can write another (a SQL table, a shared
 * memory segment) with nothing but this file and the pure functions of `core/machine`.
 * @module
 */
import type { Clock } from "../timing/coarse-clock.js";
import type { CircuitConfig, CircuitScope, CircuitSnapshot, Transition } from "../core/circuit.js";
import type { Admission, ControlAction } from "../core/machine.js";
import type { CircuitSample } from "../core/traffic.js";
import type { RateWindow } from "../core/window.js";
import type { CircuitHookArgs } from "../events.js";

/** A value or a promise of it: memory answers synchronously, a remote storage may not. */
export type MaybePromise<T> = T | Promise<T>;

/** Whether a storage answered with a promise (anything with a `then` method). */
export const isPromise = <T>(value: MaybePromise<T>): value is Promise<T> =>
  typeof (value as { then?: unknown } | null)?.then === "function";

/**
 * The local record of one circuit, owned by a storage and read by the breakers on every call.
 * For a remote storage this is the process's replica of the shared state.
 */
export interface CircuitRecord {
  /** The circuit's name. */
  readonly name: string;
  /** The configuration the first registration fixed. */
  config: CircuitConfig;
  /** The latest known state. Breakers read it synchronously; only the storage writes it. */
  snapshot: CircuitSnapshot;
  /**
   * Whose state `snapshot` is: the circuit's (`"fleet"`, also when absent), or, for a shared
   * storage, the state this process keeps for itself while it is open for itself (`"process"`).
   */
  scope?: CircuitScope;
  /** Set by a call, cleared by the factory's idle sweep. */
  used: boolean;
  /** Set once the storage has forgotten the circuit; a breaker holding it registers again. */
  forgotten: boolean;
  /**
   * The circuit's rate window (`core/window`), if its config has a rate rule: the calls this
   * process counted (for a shared storage: those it has not handed over yet).
   */
  window?: RateWindow | null;
}

/** What `register` answers. */
export interface Registration {
  /** The record of the circuit, new or existing. */
  readonly circuit: CircuitRecord;
  /** `true` when this call registered the name (emit `circuit_breaker_created`). */
  readonly created: boolean;
}

/**
 * @internal Whoever counts the calls for a storage that shows the fleet's traffic to watchers (the factory):
 * see `CircuitStorage.attachTraffic`.
 */
export interface TrafficSource {
  /** Somebody watches (`true`): count calls from now on; nobody watches any more (`false`): stop. */
  watched(watching: boolean): void;
  /** The circuits that counted calls since the previous take, with their counts; counting goes on. */
  take(): readonly CircuitSample[];
}

/**
 * Where circuit state lives. Every state change is one atomic operation of the storage, never a
 * read followed by a write, so that concurrent callers (or processes) cannot lose an update.
 *
 * Contract for implementers:
 * - `register` is first-registration-wins: an existing name keeps its config.
 * - `admit`, `recordSuccess` and `recordFailure` apply the functions of `purgatory/storage` to the
 *   current snapshot atomically, store the result in `circuit.snapshot` (and wherever the state is
 *   shared), and return the admission or transition so the caller emits its events. Only the call
 *   that made a transition gets it back.
 * - A closed circuit admits every call without calling `admit`; a success on a closed circuit
 *   with no failures changes nothing; a remote storage should answer both without I/O.
 * - With `sync: true` the caller cannot wait (a synchronous breaker): answer from local state and
 *   synchronise in the background.
 * - When its factory closes, the factory marks every record it can `get` as `forgotten` and then
 *   calls `close()`; it does not call `forget` (which may delete persisted state).
 * - `factory.toJSON()` reads `names()` and `get()`: what a record holds (`config`, `snapshot`)
 *   must be plain data.
 *
 * @example
 * ```ts
 * class LoggingStorage extends InMemoryStorage {
 *   override recordFailure(c: CircuitRecord, generation: number, now: number) {
 *     console.log(`failure on ${c.name}`);
 *     return super.recordFailure(c, generation, now);
 *   }
 * }
 * ```
 */
export interface CircuitStorage {
  /**
   * Connects; a no-op in memory. A storage with a server may resolve without reaching it (and
   * work degraded meanwhile): then `available` reads `false` once this resolves.
   */
  initialize(): Promise<void>;
  /**
   * Optional, for a storage with a server: whether it reaches it now (`false` while degraded to
   * local state). Read by `factory.initialize({ requireStorage: true })` once `initialize()` has
   * resolved, so it must be settled by then (connected, or given up for now). A storage without it
   * (memory) counts as always available.
   */
  readonly available?: boolean;
  /**
   * Optional: where the storage keeps its state, for messages, e.g. `"redis://127.0.0.1:6379/0"`,
   * with any password masked (`"redis://user:***@10.0.0.5:6379"`); `StorageUnavailableError`
   * names it (masking a password left in it). Without it (or `undefined`: a client passed in,
   * whose address the storage does not know), errors name the storage by its class.
   */
  readonly location?: string | undefined;
  /**
   * @internal Optional, for a shared storage that shows the fleet's traffic (`RedisStorage`), whose
   * telemetry protocol is its own: the factory
   * attaches its recorder of calls once, and the storage tells it when somebody watches (then it
   * counts calls) and takes its counts once per interval. Returns what detaches it.
   */
  attachTraffic?(source: TrafficSource): () => void;
  /** Releases the connections and subscriptions the storage owns. */
  close(): Promise<void>;
  /** Registers `name` with `config` unless it exists (first registration wins). */
  register(name: string, config: CircuitConfig, now: number, sync: boolean): MaybePromise<Registration>;
  /** Decides atomically whether a call on a circuit that is not closed may run. */
  admit(circuit: CircuitRecord, now: number, sync: boolean): MaybePromise<Admission>;
  /**
   * Records a success (or excluded error) of a call admitted with token `generation`; `slow` when
   * it took longer than the circuit's `slowCall.duration`. `clock` gives the time when it matters
   * (a probe's lease, a rate window): read it only then, since the hot path (a closed circuit's
   * success) must not pay for a clock read; `clock.coarse`, when there, is a cheaper reading to
   * within 0.1 s, good enough to date a success in a rate window.
   */
  recordSuccess(
    circuit: CircuitRecord,
    generation: number,
    clock: Clock,
    slow?: boolean,
  ): MaybePromise<Transition | null>;
  /**
   * Records a failure of a call admitted with token `generation`, at `now`; `sync` as for `admit`
   * (a synchronous caller may call again before a remote storage answers). An opening it makes
   * lasts at least `minOpenMs` (what the dependency asked for, e.g. an HTTP `Retry-After`).
   */
  recordFailure(
    circuit: CircuitRecord,
    generation: number,
    now: number,
    sync: boolean,
    minOpenMs?: number,
  ): MaybePromise<Transition | null>;
  /**
   * Optional: an operator's action (`core/machine.control`), applied atomically (and, for a shared
   * storage, fleet-wide). The factory refuses `isolate`, `disable` and `reset` without it.
   */
  control?(circuit: CircuitRecord, action: ControlAction, now: number): MaybePromise<Transition | null>;
  /**
   * Optional: replaces the circuit's config (fleet-wide for a shared storage). The factory
   * refuses `reconfigure` without it.
   */
  configure?(circuit: CircuitRecord, config: CircuitConfig): MaybePromise<void>;
  /**
   * Forgets a circuit in this process; its record is marked `forgotten`. The factory calls it for
   * `factory.forget(name)`, for circuits idle past `idleTtl`, and for room under `maxCircuits`
   * (only for closed circuits then): it must free what the storage keeps for the circuit in this
   * process (its record, a subscription), so that these bound the storage's memory too.
   */
  forget(name: string): MaybePromise<void>;
  /** The local record of `name`, if this process knows it. */
  get(name: string): CircuitRecord | undefined;
  /** Names of the circuits this process knows. */
  names(): IterableIterator<string>;
  /**
   * Optional: frees the probe slot of a call admitted with token `generation` whose caller
   * cancelled it (its `signal` aborted), at `now`: apply `core/machine.releaseProbe` atomically,
   * as for an outcome. The cancelled call decides nothing and nothing is emitted. The breaker calls
   * it only for a cancelled probe, does not wait for it, and ignores its errors. A storage without
   * it lets the lease expire by itself (after the circuit's ttl), which is also correct, only
   * slower to let the next probe through.
   */
  release?(circuit: CircuitRecord, generation: number, now: number): MaybePromise<void>;
  /**
   * Optional: lets a shared storage report what the breakers did not cause: transitions made by
   * other processes (`state_changed` with `remote: true`) and its own outages. The factory passes
   * a function that calls its hooks, and its clock (epoch ms) for what the storage dates by itself;
   * the returned function unsubscribes.
   */
  subscribe?(emit: (...args: CircuitHookArgs) => void, clock: () => number): () => void;
}
