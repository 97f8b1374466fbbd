/**
 * The breakers: a view of one circuit with the rules (`exclude`, `isFailure`, `timeout`,
 * `fallback`) of the call that asked for it.
 * `AsyncCircuitBreaker` guards code that returns promises, `SyncCircuitBreaker` synchronous code;
 * both decide through the storage, which decides through `core/machine`.
 * @module
 */
import { callStart, elapsedSince, UNTIMED, type CallListeners, type CallOutcome } from "./calls.js";
import type { Clock } from "./coarse-clock.js";
import type { CircuitConfig, CircuitScope, CircuitStateName, Transition } from "./core/circuit.js";
import type { Admission, ControlAction } from "./core/machine.js";
import type { Deadlines } from "./deadlines.js";
import { CircuitOpenError, clipName, InvalidOptionError, type CallTimeoutError } from "./errors.js";
import { emitTransition, type Hooks } from "./events.js";
import { isExcluded, type ExcludeRules } from "./exclude.js";
import { GuardedCall, NEVER_ABORTED, type CallHost } from "./guarded-call.js";
import { BOUNDS, secondsToMs } from "./options/checks.js";
import { toCallSettings, withCallRules, type CallRules, type FallbackFn } from "./options/settings.js";
import type { CallOptions, RetryAfter, SyncCallOptions } from "./options/types.js";
import { isPromise, type CircuitRecord, type CircuitStorage, type MaybePromise } from "./storage/storage.js";

/** What a breaker needs from its factory. Internal. */
export interface BreakerContext {
  readonly storage: CircuitStorage;
  readonly hooks: Hooks;
  /** The factory's call listeners. */
  readonly calls: CallListeners;
  readonly clock: Clock;
  /** The factory's `exclude`, checked after a call's own. */
  readonly exclude: ExcludeRules;
  /** Registers a forgotten circuit again with the config it had. */
  reattach(name: string, config: CircuitConfig): MaybePromise<CircuitRecord>;
  /** The call timeouts of the factory, on one timer. */
  readonly deadlines: Deadlines;
}

const passValue = (value: unknown): unknown => value;

/** The key of a breaker's type-only record of what its default fallback returns. */
declare const FALLBACK: unique symbol;

/**
 * A thenable that rejects with `error`. Returned from a promise handler, it rejects the derived
 * promise with the caller's own error without a `throw` (V8's exception machinery costs ~300 ns)
 * and without a new rejected promise (Node's unhandled-rejection bookkeeping costs more).
 */
class Rejection {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
  then(_onFulfilled: unknown, onRejected: (error: unknown) => void): void {
    onRejected(this.error);
  }
}

/** An outcome (a value, a promise or a `Rejection`) as a promise. */
const promised = (outcome: unknown): Promise<unknown> =>
  outcome instanceof Rejection ? Promise.reject(outcome.error) : Promise.resolve(outcome);

/**
 * The minimum open time (ms) `retryAfter` asks for after `failure`: `undefined` for none, for what
 * is not a number of seconds > 0, and when it throws (a broken `retryAfter` must not change the
 * call's outcome); capped at the longest ttl (one hour), so that no server can keep a circuit
 * open for a day.
 */
function minOpenMsOf(retryAfter: RetryAfter, failure: unknown): number | undefined {
  let seconds: unknown;
  try {
    seconds = retryAfter(failure);
  } catch {
    return undefined;
  }
  if (typeof seconds !== "number" || !(seconds > 0)) return undefined;
  return secondsToMs(Math.min(seconds, BOUNDS.maxTtl));
}

/** What `fallback(error)` gives the caller: its value, or its error as a `Rejection`. Never throws. */
function fallenBack(fallback: FallbackFn, error: unknown): unknown {
  try {
    return fallback(error);
  } catch (thrown) {
    return new Rejection(thrown);
  }
}

/**
 * The scope a call admitted by `admission` runs in, for the call listeners: `"process"` for a
 * probe of the state the process keeps for itself, `"fleet"` for every other call.
 */
const scopeOf = (admission: Admission): CircuitScope =>
  admission.verdict === "probe" && admission.scope === "process" ? "process" : "fleet";

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
  /**
   * Whose state `state` is: `"fleet"`, the circuit's (shared by every process with Redis), or
   * `"process"` while this process is open for itself (a circuit with a `quorum` whose failures in
   * this process alone met its trip rule).
   */
  get scope(): CircuitScope {
    return this.circuit.scope ?? "fleet";
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
    return new CircuitOpenError(
      this.circuit.name,
      admission.openedAt,
      admission.retryAfterMs,
      admission.isolated === true,
      admission.scope,
    );
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
    if (storage.control === undefined)
      throw new TypeError(`The storage cannot ${action} circuits (it has no control method)`);
    const circuit = await this.attached();
    emitTransition(context.hooks, circuit.name, await storage.control(circuit, action, context.clock()));
  }

  /**
   * @internal Whether the calls on `circuit` are timed: its config has a `slowCall` rule, or a
   * call listener listens. Untimed calls take the fast path, which reads no clock.
   */
  protected timed(circuit: CircuitRecord): boolean {
    return circuit.config.slowCall !== undefined || this.#context.calls.size !== 0;
  }

  /** @internal For a `GuardedCall`: whether its call is to be timed. */
  timesCalls(): boolean {
    return this.timed(this.circuit);
  }

  /** @internal Records a success of an untimed call; a promise only while a remote storage answers. */
  protected succeeded(generation: number): Promise<void> | undefined {
    const context = this.#context;
    let recorded: MaybePromise<Transition | null>;
    try {
      recorded = context.storage.recordSuccess(this.circuit, generation, context.clock);
    } catch (error) {
      return this.#storageFailed(error);
    }
    return this.#settled(recorded);
  }

  /**
   * @internal Records a success, or an excluded error (`outcome`), of a call admitted with
   * `generation` that ran `durationMs` (`NaN` when untimed): slow when longer than the circuit's
   * `slowCall.duration`. Reports it to the call listeners, with the `scope` it was admitted in.
   */
  protected success(
    generation: number,
    durationMs: number,
    outcome: "success" | "excluded",
    scope: CircuitScope = "fleet",
  ): Promise<void> | undefined {
    if (Number.isNaN(durationMs)) return this.succeeded(generation);
    const context = this.#context;
    const slowCall = this.circuit.config.slowCall;
    const slow = slowCall !== undefined && durationMs > secondsToMs(slowCall.duration);
    let pending: Promise<void> | undefined;
    try {
      pending = this.#settled(context.storage.recordSuccess(this.circuit, generation, context.clock, slow));
    } catch (error) {
      pending = this.#storageFailed(error);
    }
    this.report(outcome, durationMs, scope);
    return pending;
  }

  /**
   * @internal Records a failure (`failure`: the error, or the result `isFailure` flagged) of a call
   * admitted with `generation` that ran `durationMs` (`NaN` when untimed); an opening it makes lasts
   * at least what `rules.retryAfter` asks for. Reports it to the call listeners as `outcome`,
   * with the `scope` it was admitted in.
   */
  protected failure(
    generation: number,
    failure: unknown,
    rules: CallRules,
    durationMs: number,
    outcome: "failure" | "timeout" = "failure",
    scope: CircuitScope = "fleet",
  ): Promise<void> | undefined {
    const context = this.#context;
    const minOpenMs = rules.retryAfter === null ? undefined : minOpenMsOf(rules.retryAfter, failure);
    let pending: Promise<void> | undefined;
    try {
      pending = this.#settled(
        context.storage.recordFailure(this.circuit, generation, context.clock(), this.synchronous, minOpenMs),
      );
    } catch (error) {
      pending = this.#storageFailed(error);
    }
    if (!Number.isNaN(durationMs)) this.report(outcome, durationMs, scope);
    return pending;
  }

  /**
   * @internal Tells the call listeners (if any) how a call of this circuit ended, and the `scope`
   * of the state that decided it (see `CallListener`).
   */
  protected report(outcome: CallOutcome, durationMs: number, scope: CircuitScope): void {
    const calls = this.#context.calls;
    if (calls.size !== 0) calls.emit(this.circuit.name, outcome, durationMs, scope);
  }

  /** @internal The factory's call timeouts. */
  get deadlines(): Deadlines {
    return this.#context.deadlines;
  }

  /** @internal Whether `rules` (then the factory's) exclude `error`: it counts as a success. */
  protected excludes(error: unknown, rules: CallRules): boolean {
    return isExcluded(error, rules.exclude, this.#context.exclude);
  }

  /**
   * @internal Records `error`, thrown by a call admitted with `generation` that ran `durationMs`
   * (`NaN` when untimed): a success when `rules` exclude it, else a failure. Returns what the
   * caller gets once it is recorded: the error (as a rejecting thenable), or, for a counted
   * failure, the fallback's value. Never throws. `scope`: see `CallHost`.
   */
  outcomeOfError(
    error: unknown,
    generation: number,
    rules: CallRules,
    durationMs: number,
    scope: CircuitScope = "fleet",
  ): unknown {
    if (this.excludes(error, rules)) {
      const pending = this.success(generation, durationMs, "excluded", scope);
      const rejection = new Rejection(error);
      return pending === undefined ? rejection : pending.then(() => rejection);
    }
    return this.#failedWith(
      error,
      this.failure(generation, error, rules, durationMs, "failure", scope),
      rules.fallback,
    );
  }

  /** @internal A call that timed out: a failure, whatever `exclude` says. See `outcomeOfError`. */
  outcomeOfTimeout(
    error: CallTimeoutError,
    generation: number,
    rules: CallRules,
    durationMs: number,
    scope: CircuitScope = "fleet",
  ): unknown {
    return this.#failedWith(
      error,
      this.failure(generation, error, rules, durationMs, "timeout", scope),
      rules.fallback,
    );
  }

  /**
   * @internal A call the circuit rejected: the error (as a rejecting thenable), or the fallback's
   * value. Reported in the error's `scope`.
   */
  outcomeOfRejection(error: CircuitOpenError, rules: CallRules): unknown {
    this.report("rejected", 0, error.scope);
    return rules.fallback === null ? new Rejection(error) : fallenBack(rules.fallback, error);
  }

  /** @internal Records a value as `rules` judge it; returns it once recorded. `scope`: see `CallHost`. */
  outcomeOfValue(
    value: unknown,
    generation: number,
    rules: CallRules,
    durationMs: number,
    scope: CircuitScope = "fleet",
  ): unknown {
    const pending = this.judged(value, generation, rules, durationMs, scope);
    return pending === undefined ? value : pending.then(() => value);
  }

  /** What the caller of a failed call gets once `pending` (the failure's recording) is done. */
  #failedWith(error: unknown, pending: Promise<void> | undefined, fallback: FallbackFn | null): unknown {
    if (fallback === null) {
      const rejection = new Rejection(error);
      return pending === undefined ? rejection : pending.then(() => rejection);
    }
    return pending === undefined ? fallenBack(fallback, error) : pending.then(() => fallenBack(fallback, error));
  }

  /**
   * @internal A call whose caller cancelled it after `durationMs` (`NaN` when untimed): reported
   * to the call listeners (with the `scope` it was admitted in), counted nowhere.
   */
  cancelled(durationMs: number, scope: CircuitScope = "fleet"): void {
    if (!Number.isNaN(durationMs)) this.report("cancelled", durationMs, scope);
  }

  /**
   * @internal Frees the probe slot of a call admitted with `generation` that its caller
   * cancelled, when the storage can (`release`); otherwise its lease expires by itself.
   */
  releaseProbe(generation: number): void {
    const { storage, clock } = this.#context;
    if (storage.release === undefined) return;
    try {
      const released = storage.release(this.circuit, generation, clock());
      // A storage that fails reports it itself; the lease then expires by itself.
      if (isPromise(released)) released.then(undefined, () => undefined);
    } catch {
      // as above
    }
  }

  /**
   * @internal Records a result that took `durationMs` (`NaN` when untimed): a failure when
   * `rules.isFailure` returns `true` for it or throws, a success otherwise. Either way the caller
   * gets the result. Reported in `scope`, the scope the call was admitted in.
   */
  protected judged(
    value: unknown,
    generation: number,
    rules: CallRules,
    durationMs: number,
    scope: CircuitScope = "fleet",
  ): Promise<void> | undefined {
    const isFailure = rules.isFailure;
    if (isFailure === null) return this.success(generation, durationMs, "success", scope);
    let failure: boolean;
    try {
      failure = isFailure(value) === true;
    } catch {
      failure = true;
    }
    return failure
      ? this.failure(generation, value, rules, durationMs, "failure", scope)
      : this.success(generation, durationMs, "success", scope);
  }

  #settled(result: MaybePromise<Transition | null>): Promise<void> | undefined {
    if (result === null) return undefined; // the hot path: nothing changed, nothing to emit
    const { hooks } = this.#context;
    const name = this.circuit.name;
    if (!isPromise(result)) {
      emitTransition(hooks, name, result);
      return undefined;
    }
    // The guarded call's outcome is never changed by a storage that fails.
    return result.then(
      (transition) => emitTransition(hooks, name, transition),
      (error: unknown) => this.#storageFailed(error),
    );
  }

  /**
   * A storage that threw or rejected while recording an outcome: reported to the hooks as
   * `storage_error` (a storage such as `RedisStorage` reports its own and never fails here); the
   * guarded call keeps its own outcome.
   */
  #storageFailed(error: unknown): undefined {
    const name = this.circuit.name;
    const storage = this.#context.storage.constructor?.name ?? "storage";
    this.#context.hooks.emit(name, "storage_error", { name, storage, error });
    return undefined;
  }
}

/**
 * A breaker for code that returns promises (or plain values). Get one from
 * `AsyncCircuitBreakerFactory.getBreaker`. `F` is what its default `fallback` returns (`never`
 * without one), which its calls' result type includes.
 *
 * @example
 * ```ts
 * const breaker = await factory.getBreaker("www.example.com", { timeout: 5 });
 * const page = await breaker.run((signal) => fetch("https://www.example.com/", { signal }));
 * ```
 */
export class AsyncCircuitBreaker<F = never> extends CircuitBreakerBase implements CallHost {
  /** @internal */ protected readonly synchronous = false;
  /**
   * Type only, nothing at run time: what the default fallback returns, so that a breaker with a
   * fallback of type `F` is not taken for one without (whose calls never resolve with an `F`).
   */
  declare readonly [FALLBACK]?: F;

  /**
   * Runs `fn` under the circuit: rejects with `CircuitOpenError` without running it when the
   * circuit is opened; otherwise resolves or rejects exactly as `fn` does, after recording the
   * outcome (a result `isFailure` flags is recorded as a failure and still resolved).
   *
   * `fn` gets an `AbortSignal` that aborts when the call times out (`timeout`, with the
   * `CallTimeoutError`) or its caller cancels it (`options.signal`, with its reason); a function
   * that takes no argument is fine. With a `fallback` (the call's, else the breaker's), a
   * `CircuitOpenError`, a `CallTimeoutError` or a counted failure resolves with what the fallback
   * returns instead, once the failure is recorded.
   *
   * @example
   * ```ts
   * const page = await breaker.run((signal) => fetch(url, { signal }), {
   *   signal: request.signal, // the caller's cancellation: rejects at once, counts nothing
   *   timeout: 2,             // seconds; replaces the breaker's
   *   fallback: () => cachedPage,
   * });
   * ```
   */
  run<T, G = F>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: CallOptions<G>,
  ): Promise<Awaited<T> | Awaited<G>>;
  run(fn: (signal: AbortSignal) => unknown): Promise<unknown> {
    // `options` is read from `arguments` rather than declared: with a second declared parameter,
    // V8 captures the stack of each failure's Error (made under this frame) ~250 ns slower, about
    // 6 % of the failure path (bench); `arguments.length` costs the success path nothing.
    // eslint-disable-next-line prefer-rest-params
    if (arguments.length > 1 || this.rules.timeoutMs !== null) return this.#runWithOptions(fn, arguments[1]);
    const circuit = this.circuit;
    circuit.used = true;
    const snapshot = circuit.snapshot;
    if (snapshot.state !== "closed" || circuit.forgotten || this.timed(circuit))
      return this.#offFastPath(fn, this.rules);
    // The closed path calls `fn` here, not in a helper: one frame less under `fn` makes the stack
    // of each failure's Error cheaper to capture.
    const generation = snapshot.generation;
    let result: unknown;
    try {
      result = fn(NEVER_ABORTED);
    } catch (error) {
      // A non-function `fn` is checked here, once calling it failed, so the success path pays nothing.
      if (typeof fn !== "function") return Promise.reject(notAFunction(fn));
      return promised(this.outcomeOfError(error, generation, this.rules, UNTIMED));
    }
    return this.#settle(result, generation, this.rules);
  }

  #runWithOptions(fn: (signal: AbortSignal) => unknown, options: unknown): Promise<unknown> {
    if (options === undefined) return this.runWith(fn, this.rules, null);
    try {
      const call = toCallSettings(options, false);
      return this.runWith(fn, withCallRules(this.rules, call.timeout, call.fallback), call.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * @internal Runs `fn` judged by the `rules` of one call (`factory.run` or a decorated function
   * given options) without a breaker of its own, cancelled by `signal` (or `null`).
   */
  runWith(fn: (signal: AbortSignal) => unknown, rules: CallRules, signal: AbortSignal | null): Promise<unknown> {
    if (signal !== null || rules.timeoutMs !== null) return this.#guarded(fn, rules, signal);
    const circuit = this.circuit;
    circuit.used = true;
    const snapshot = circuit.snapshot;
    if (snapshot.state !== "closed" || circuit.forgotten || this.timed(circuit)) return this.#offFastPath(fn, rules);
    const generation = snapshot.generation;
    let result: unknown;
    try {
      result = fn(NEVER_ABORTED);
    } catch (error) {
      if (typeof fn !== "function") return Promise.reject(notAFunction(fn));
      return promised(this.outcomeOfError(error, generation, rules, UNTIMED));
    }
    return this.#settle(result, generation, rules);
  }

  /**
   * A call that cannot take the fast path: on a circuit that is not closed (or was forgotten), it
   * waits for its admission; a timed call (`slowCall`, call listeners) runs as a `GuardedCall`.
   */
  #offFastPath(fn: (signal: AbortSignal) => unknown, rules: CallRules): Promise<unknown> {
    return this.timed(this.circuit) ? this.#guarded(fn, rules, null) : this.#admitThenCall(fn, rules);
  }

  /** An untimed call on a circuit that is not closed (or was forgotten): admission, then `fn`. */
  async #admitThenCall(fn: (signal: AbortSignal) => unknown, rules: CallRules): Promise<unknown> {
    // Checked before admission: a bad argument must neither take a probe slot nor count.
    if (typeof fn !== "function") throw notAFunction(fn);
    const circuit = await this.attached();
    const snapshot = circuit.snapshot;
    const generation =
      snapshot.state === "closed" ? snapshot.generation : this.admitted(await this.admit(circuit, false));
    if (typeof generation !== "number") return this.outcomeOfRejection(generation, rules);
    let result: unknown;
    try {
      result = fn(NEVER_ABORTED);
    } catch (error) {
      return this.outcomeOfError(error, generation, rules, UNTIMED);
    }
    return this.#settle(result, generation, rules);
  }

  /**
   * A call with a timeout or a caller's signal, or a timed call: a `GuardedCall` races `fn`
   * against both and measures it. A signal already aborted rejects at once, before admission:
   * `fn` is not called, nothing counts.
   */
  #guarded(fn: (signal: AbortSignal) => unknown, rules: CallRules, signal: AbortSignal | null): Promise<unknown> {
    if (typeof fn !== "function") return Promise.reject(notAFunction(fn));
    if (signal?.aborted === true) return Promise.reject(signal.reason as unknown);
    const circuit = this.circuit;
    circuit.used = true;
    return new Promise((resolve, reject) => {
      const call = new GuardedCall(this, fn, rules, signal, resolve, reject);
      const snapshot = circuit.snapshot;
      if (snapshot.state === "closed" && !circuit.forgotten) call.start(snapshot.generation, false);
      else void this.#admitGuarded(call);
    });
  }

  async #admitGuarded(call: GuardedCall): Promise<void> {
    try {
      const circuit = await this.attached();
      const snapshot = circuit.snapshot;
      if (snapshot.state === "closed") return call.start(snapshot.generation, false);
      const admission = await this.admit(circuit, false);
      const ticket = this.admitted(admission);
      if (typeof ticket !== "number") call.rejected(ticket);
      else call.start(ticket, admission.verdict === "probe", scopeOf(admission));
    } catch (error) {
      call.failed(error); // e.g. FactoryClosedError: no fallback, nothing counted
    }
  }

  /** Records the outcome of what `fn` returned, then settles as it did. */
  #settle(result: unknown, generation: number, rules: CallRules): Promise<unknown> {
    if (typeof (result as { then?: unknown } | null)?.then !== "function") {
      const pending =
        rules.isFailure === null ? this.succeeded(generation) : this.judged(result, generation, rules, UNTIMED);
      return pending === undefined ? Promise.resolve(result) : pending.then(() => result);
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
    const promise = result instanceof Promise ? result : Promise.resolve(result as PromiseLike<unknown>);
    return promise.then(onValue, onError);
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
            const pending = this.judged(value, generation, rules, UNTIMED);
            return pending === undefined ? value : pending.then(() => value);
          };
    const onError = (error: unknown) => this.outcomeOfError(error, generation, rules, UNTIMED);
    return [onValue, onError];
  }
}

/**
 * A breaker for synchronous code. Get one from `SyncCircuitBreakerFactory.getBreaker`. `F` is
 * what its default `fallback` returns (`never` without one).
 *
 * @example
 * ```ts
 * const value = sync.getBreaker("parser").run(() => JSON.parse(text));
 * ```
 */
export class SyncCircuitBreaker<F = never> extends CircuitBreakerBase {
  /** @internal */ protected readonly synchronous = true;
  /** Type only, nothing at run time: see `AsyncCircuitBreaker`. */
  declare readonly [FALLBACK]?: F;

  /**
   * Runs `fn` under the circuit: throws `CircuitOpenError` without running it when the circuit is
   * opened; otherwise returns or throws exactly as `fn` does, after recording the outcome (a
   * result `isFailure` flags is recorded as a failure and still returned). Only what `fn` returns
   * or throws is judged: guard promise-returning code with the async factory. With a `fallback`
   * (the call's, else the breaker's), a `CircuitOpenError` or a counted failure returns what the
   * fallback returns instead (after the failure is recorded).
   *
   * @example
   * ```ts
   * const settings = breaker.run(() => JSON.parse(text), { fallback: () => ({}) });
   * ```
   */
  run<T, G = F>(fn: () => T, options?: SyncCallOptions<G>): T | G {
    if (options === undefined) return this.runWith(fn, this.rules) as T;
    const call = toCallSettings(options, true);
    return this.runWith(fn, withCallRules(this.rules, undefined, call.fallback)) as T | G;
  }

  /** @internal Runs `fn` judged by the `rules` of one call, without a breaker of its own. */
  runWith(fn: () => unknown, rules: CallRules): unknown {
    const circuit = this.circuit;
    circuit.used = true;
    const snapshot = circuit.snapshot;
    if (snapshot.state === "closed" && !circuit.forgotten && !this.timed(circuit)) {
      return this.#call(fn, snapshot.generation, rules, UNTIMED);
    }
    const admission = this.#admit(fn);
    const generation = typeof admission === "number" ? admission : this.admitted(admission);
    if (typeof generation !== "number") {
      this.report("rejected", 0, generation.scope);
      if (rules.fallback === null) throw generation;
      return rules.fallback(generation);
    }
    const scope = typeof admission === "number" ? "fleet" : scopeOf(admission);
    return this.#call(fn, generation, rules, this.timed(this.circuit) ? callStart() : UNTIMED, scope);
  }

  /**
   * Calls `fn`, admitted with `generation` in `scope` and started at `startedAt` (`UNTIMED`: not
   * measured), and records how it ended.
   */
  #call(
    fn: () => unknown,
    generation: number,
    rules: CallRules,
    startedAt: number,
    scope: CircuitScope = "fleet",
  ): unknown {
    let result: unknown;
    try {
      result = fn();
    } catch (error) {
      if (typeof fn !== "function") throw notAFunction(fn);
      const durationMs = elapsedSince(startedAt);
      if (this.excludes(error, rules)) {
        void this.success(generation, durationMs, "excluded", scope);
        throw error;
      }
      void this.failure(generation, error, rules, durationMs, "failure", scope);
      if (rules.fallback === null) throw error;
      return rules.fallback(error);
    }
    void this.judged(result, generation, rules, elapsedSince(startedAt), scope);
    return result;
  }

  /**
   * Admits a call on a circuit that is not closed: the storage's `Admission`, or the token of a
   * circuit found closed once attached.
   */
  #admit(fn: unknown): number | Admission {
    if (typeof fn !== "function") throw notAFunction(fn);
    const circuit = this.attached();
    if (isPromise(circuit)) throw asyncStorageError(this.name);
    const snapshot = circuit.snapshot;
    if (snapshot.state === "closed") return snapshot.generation;
    const admission = this.admit(circuit, true);
    if (isPromise(admission)) throw asyncStorageError(this.name);
    return admission;
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
