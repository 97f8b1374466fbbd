/**
 * The breakers: a view of one circuit with the rules (`exclude`, `isFailure`) of the call that
 * asked for it.
 * `AsyncCircuitBreaker` guards code that returns promises, `SyncCircuitBreaker` synchronous code;
 * both decide through the storage, which decides through `core/machine`.
 * @module
 */
import type { Clock } from "./coarse-clock.js";
import type { CircuitConfig, CircuitStateName, Transition } from "./core/circuit.js";
import type { Admission, ControlAction } from "./core/machine.js";
import { CircuitOpenError, clipName, InvalidOptionError } from "./errors.js";
import { emitTransition, type Hooks } from "./events.js";
import { isExcluded, type ExcludeRules } from "./exclude.js";
import { isPromise, type CircuitRecord, type CircuitStorage, type MaybePromise } from "./storage/storage.js";

/** What a breaker needs from its factory. Internal. */
export interface BreakerContext {
  readonly storage: CircuitStorage;
  readonly hooks: Hooks;
  readonly clock: Clock;
  /** The factory's `exclude`, checked after a call's own. */
  readonly exclude: ExcludeRules;
  /** Registers a forgotten circuit again with the config it had. */
  reattach(name: string, config: CircuitConfig): MaybePromise<CircuitRecord>;
}

/** A function that says whether a call's result is a failure (`isFailure` option). */
export type IsFailure = (result: unknown) => boolean;

/**
 * What a call's outcome is judged by, besides the factory's `exclude`: its own `exclude` rules
 * (checked first) and the `isFailure` for its results (the call's, else the factory's). Internal.
 */
export interface CallRules {
  readonly exclude: ExcludeRules;
  readonly isFailure: IsFailure | null;
}

const passValue = (value: unknown): unknown => value;

/**
 * A thenable that rejects with `error`. Returned from a promise handler, it rejects the derived
 * promise with the caller's own error without a `throw` (V8's exception machinery costs ~300 ns)
 * and without a new rejected promise (Node's unhandled-rejection bookkeeping costs more).
 */
class Rejection {
  readonly #error: unknown;
  constructor(error: unknown) {
    this.#error = error;
  }
  then(_onFulfilled: unknown, onRejected: (error: unknown) => void): void {
    onRejected(this.#error);
  }
}

/** What sync and async breakers share: the circuit's readable state and outcome recording. */
abstract class CircuitBreakerBase {
  /** @internal */ protected circuit: CircuitRecord;
  /** @internal The rules this breaker's own calls are judged by. */
  protected readonly rules: CallRules;
  readonly #context: BreakerContext;

  /** @internal Whether this breaker's callers are synchronous (they cannot wait for a storage). */
  protected abstract readonly synchronous: boolean;

  /** @internal Breakers are made by a factory's `getBreaker`. */
  constructor(context: BreakerContext, circuit: CircuitRecord, rules: CallRules) {
    this.#context = context;
    this.circuit = circuit;
    this.rules = rules;
  }

  /** The circuit's name. */
  get name(): string {
    return this.circuit.name;
  }
  /** Consecutive failures that open the circuit. */
  get threshold(): number {
    return this.circuit.config.threshold;
  }
  /** Seconds the circuit stays opened. */
  get ttl(): number {
    return this.circuit.config.ttl;
  }
  /** `"closed"`, `"opened"`, `"half-opened"`, `"isolated"` or `"disabled"`, as last known. */
  get state(): CircuitStateName {
    return this.circuit.snapshot.state;
  }
  /** Consecutive failures counted so far. */
  get failureCount(): number {
    return this.circuit.snapshot.failureCount;
  }
  /** When the circuit opened (epoch ms) while it is opened; `null` while closed or half-opened. */
  get openedAt(): number | null {
    const s = this.circuit.snapshot;
    return s.state === "opened" ? s.openedAt : null;
  }

  /** @internal The circuit, registered again if it was forgotten. */
  protected attached(): MaybePromise<CircuitRecord> {
    if (!this.circuit.forgotten) return this.circuit;
    const record = this.#context.reattach(this.circuit.name, this.circuit.config);
    if (!isPromise(record)) return (this.circuit = record);
    return record.then((r) => (this.circuit = r));
  }

  /** @internal Asks the storage whether a call may run on a circuit that is not closed. */
  protected admit(circuit: CircuitRecord, sync: boolean): MaybePromise<Admission> {
    return this.#context.storage.admit(circuit, this.#context.clock(), sync);
  }

  /** @internal Emits an admission's transition; returns its generation or the rejection. */
  protected admitted(admission: Admission): number | CircuitOpenError {
    emitTransition(this.#context.hooks, this.circuit.name, admission.transition);
    if (admission.verdict !== "reject") return admission.generation;
    return new CircuitOpenError(this.circuit.name, admission.openedAt, admission.retryAfterMs, admission.isolated === true);
  }

  /**
   * Isolates the circuit (an operator's "forced open"): every call is rejected with a
   * `CircuitOpenError` whose `isolated` is `true`, until `reset()`. Fleet-wide over Redis.
   */
  isolate(): Promise<void> {
    return this.#control("isolate");
  }

  /**
   * Disables the circuit: every call runs, failures are counted, and nothing trips it, until
   * `reset()`. Fleet-wide over Redis.
   */
  disable(): Promise<void> {
    return this.#control("disable");
  }

  /** Closes the circuit with its counts cleared, ending an isolation or a disabling. Fleet-wide over Redis. */
  reset(): Promise<void> {
    return this.#control("reset");
  }

  async #control(action: ControlAction): Promise<void> {
    const context = this.#context;
    const { storage } = context;
    if (storage.control === undefined) throw new TypeError(`The storage cannot ${action} circuits (it has no control method)`);
    const circuit = await this.attached();
    emitTransition(context.hooks, circuit.name, await storage.control(circuit, action, context.clock()));
  }

  /** @internal Records a success; a promise only while a remote storage answers. */
  protected succeeded(generation: number): Promise<void> | undefined {
    const context = this.#context;
    return this.#settled(context.storage.recordSuccess(this.circuit, generation, context.clock));
  }

  /** @internal Records `error` as a failure, or as a success when `rules` exclude it. */
  protected failed(error: unknown, generation: number, rules: CallRules): Promise<void> | undefined {
    const context = this.#context;
    if (isExcluded(error, rules.exclude, context.exclude)) return this.succeeded(generation);
    return this.#failure(generation);
  }

  /**
   * @internal Records a result: a failure when `rules.isFailure` returns `true` for it or throws,
   * a success otherwise. Either way the caller gets the result.
   */
  protected judged(value: unknown, generation: number, rules: CallRules): Promise<void> | undefined {
    const isFailure = rules.isFailure;
    if (isFailure === null) return this.succeeded(generation);
    let failure: boolean;
    try {
      failure = isFailure(value) === true;
    } catch {
      failure = true;
    }
    return failure ? this.#failure(generation) : this.succeeded(generation);
  }

  #failure(generation: number): Promise<void> | undefined {
    const context = this.#context;
    return this.#settled(context.storage.recordFailure(this.circuit, generation, context.clock(), this.synchronous));
  }

  #settled(result: MaybePromise<Transition | null>): Promise<void> | undefined {
    if (result === null) return undefined; // the hot path: nothing changed, nothing to emit
    const { hooks } = this.#context;
    const name = this.circuit.name;
    if (!isPromise(result)) {
      emitTransition(hooks, name, result);
      return undefined;
    }
    // A storage that fails reports it itself; the guarded call's outcome is never changed.
    return result.then(
      (transition) => emitTransition(hooks, name, transition),
      () => undefined,
    );
  }
}

/**
 * A breaker for code that returns promises (or plain values). Get one from
 * `AsyncCircuitBreakerFactory.getBreaker`.
 *
 * @example
 * ```ts
 * const breaker = await factory.getBreaker("www.example.com");
 * const page = await breaker.run(() => fetch("https://www.example.com/"));
 * ```
 */
export class AsyncCircuitBreaker extends CircuitBreakerBase {
  /** @internal */ protected readonly synchronous = false;

  /**
   * Runs `fn` under the circuit: rejects with `CircuitOpenError` without running it when the
   * circuit is opened; otherwise resolves or rejects exactly as `fn` does, after recording the
   * outcome (a result `isFailure` flags is recorded as a failure and still resolved).
   */
  run<T>(fn: () => T | PromiseLike<T>): Promise<Awaited<T>> {
    const circuit = this.circuit;
    circuit.used = true;
    const snapshot = circuit.snapshot;
    if (snapshot.state !== "closed" || circuit.forgotten) return this.#admitThenCall(fn, this.rules);
    // The closed path calls `fn` here, not in a helper: one frame less under `fn` makes the stack
    // of each failure's Error cheaper to capture.
    const generation = snapshot.generation;
    let result: T | PromiseLike<T>;
    try {
      result = fn();
    } catch (error) {
      // A non-function `fn` is checked here, once calling it failed, so the success path pays nothing.
      if (typeof fn !== "function") return Promise.reject(notAFunction(fn));
      return this.#rejectWith(error, generation, this.rules);
    }
    return this.#settle(result, generation, this.rules);
  }

  /**
   * @internal Runs `fn` judged by the `rules` of one call (`factory.run` or a decorated function
   * given options) without a breaker of its own.
   */
  runWith<T>(fn: () => T | PromiseLike<T>, rules: CallRules): Promise<Awaited<T>> {
    const circuit = this.circuit;
    circuit.used = true;
    const snapshot = circuit.snapshot;
    if (snapshot.state !== "closed" || circuit.forgotten) return this.#admitThenCall(fn, rules);
    const generation = snapshot.generation;
    let result: T | PromiseLike<T>;
    try {
      result = fn();
    } catch (error) {
      if (typeof fn !== "function") return Promise.reject(notAFunction(fn));
      return this.#rejectWith(error, generation, rules);
    }
    return this.#settle(result, generation, rules);
  }

  async #admitThenCall<T>(fn: () => T | PromiseLike<T>, rules: CallRules): Promise<Awaited<T>> {
    // Checked before admission: a bad argument must neither take a probe slot nor count.
    if (typeof fn !== "function") throw notAFunction(fn);
    const circuit = await this.attached();
    const snapshot = circuit.snapshot;
    const generation =
      snapshot.state === "closed" ? snapshot.generation : this.admitted(await this.admit(circuit, false));
    if (typeof generation !== "number") throw generation;
    let result: T | PromiseLike<T>;
    try {
      result = fn();
    } catch (error) {
      return this.#rejectWith(error, generation, rules);
    }
    return this.#settle(result, generation, rules);
  }

  /** Records the outcome of what `fn` returned, then settles as it did. */
  #settle<T>(result: T | PromiseLike<T>, generation: number, rules: CallRules): Promise<Awaited<T>> {
    if (typeof (result as { then?: unknown } | null)?.then !== "function") {
      const pending = rules.isFailure === null ? this.succeeded(generation) : this.judged(result, generation, rules);
      const value = result as Awaited<T>;
      return pending === undefined ? Promise.resolve(value) : pending.then(() => value);
    }
    let onValue: (value: unknown) => unknown;
    let onError: (error: unknown) => unknown;
    if (rules === this.rules) {
      if (this.#handlersGeneration !== generation) this.#makeHandlers(generation);
      onValue = this.#onValue;
      onError = this.#onError;
    } else {
      [onValue, onError] = this.#handlers(generation, rules);
    }
    // A foreign thenable's `then` may return anything: adopt it into a real promise first.
    const promise = result instanceof Promise ? result : Promise.resolve(result as PromiseLike<T>);
    return promise.then(onValue, onError) as Promise<Awaited<T>>;
  }

  // The outcome handlers of the current generation, made on its first call rather than per call
  // (two closures per call cost more than the call); a circuit never called pays no closure.
  #handlersGeneration = -1;
  #onValue: (value: unknown) => unknown = passValue;
  #onError: (error: unknown) => unknown = passValue;

  /** The outcome handlers of calls admitted in `generation`, made once per generation, not per call. */
  #makeHandlers(generation: number): void {
    this.#handlersGeneration = generation;
    [this.#onValue, this.#onError] = this.#handlers(generation, this.rules);
  }

  /** Handlers that record a call's outcome by `rules`, then settle as the call did. */
  #handlers(generation: number, rules: CallRules): [(value: unknown) => unknown, (error: unknown) => unknown] {
    const onValue =
      rules.isFailure === null
        ? (value: unknown) => {
            const pending = this.succeeded(generation);
            return pending === undefined ? value : pending.then(() => value);
          }
        : (value: unknown) => {
            const pending = this.judged(value, generation, rules);
            return pending === undefined ? value : pending.then(() => value);
          };
    const onError = (error: unknown) => {
      const pending = this.failed(error, generation, rules);
      const rejection = new Rejection(error);
      return pending === undefined ? rejection : pending.then(() => rejection);
    };
    return [onValue, onError];
  }

  #rejectWith(error: unknown, generation: number, rules: CallRules): Promise<never> {
    const pending = this.failed(error, generation, rules);
    if (pending === undefined) return Promise.reject(error);
    return pending.then(() => Promise.reject(error));
  }
}

/**
 * A breaker for synchronous code. Get one from `SyncCircuitBreakerFactory.getBreaker`.
 *
 * @example
 * ```ts
 * const value = sync.getBreaker("parser").run(() => JSON.parse(text));
 * ```
 */
export class SyncCircuitBreaker extends CircuitBreakerBase {
  /** @internal */ protected readonly synchronous = true;

  /**
   * Runs `fn` under the circuit: throws `CircuitOpenError` without running it when the circuit is
   * opened; otherwise returns or throws exactly as `fn` does, after recording the outcome (a
   * result `isFailure` flags is recorded as a failure and still returned). Only what `fn` returns
   * or throws is judged: guard promise-returning code with the async factory.
   */
  run<T>(fn: () => T): T {
    return this.runWith(fn, this.rules);
  }

  /** @internal Runs `fn` judged by the `rules` of one call, without a breaker of its own. */
  runWith<T>(fn: () => T, rules: CallRules): T {
    const circuit = this.circuit;
    circuit.used = true;
    const snapshot = circuit.snapshot;
    const generation =
      snapshot.state === "closed" && !circuit.forgotten ? snapshot.generation : this.#admit(fn);
    let result: T;
    try {
      result = fn();
    } catch (error) {
      if (typeof fn !== "function") throw notAFunction(fn);
      void this.failed(error, generation, rules);
      throw error;
    }
    if (rules.isFailure === null) void this.succeeded(generation);
    else void this.judged(result, generation, rules);
    return result;
  }

  #admit(fn: unknown): number {
    if (typeof fn !== "function") throw notAFunction(fn);
    const circuit = this.attached();
    if (isPromise(circuit)) throw asyncStorageError(this.name);
    const snapshot = circuit.snapshot;
    if (snapshot.state === "closed") return snapshot.generation;
    const admission = this.admit(circuit, true);
    if (isPromise(admission)) throw asyncStorageError(this.name);
    const ticket = this.admitted(admission);
    if (typeof ticket !== "number") throw ticket;
    return ticket;
  }
}

/**
 * @internal The error for a `fn` that is not a function, typically the result of a call passed
 * instead of the call (`run("api", fetch(url))`): it names `fn` and the value, and counts nothing.
 */
export function notAFunction(fn: unknown): InvalidOptionError {
  return new InvalidOptionError("fn", fn, "a function to run under the circuit, e.g. () => fetch(url)");
}

function asyncStorageError(name: string): Error {
  return new TypeError(
    `Circuit ${clipName(name)}: the storage answered asynchronously to a synchronous breaker; ` +
      "use AsyncCircuitBreakerFactory or a storage that supports synchronous decisions",
  );
}
