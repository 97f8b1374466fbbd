/**
 * What both breakers share: a view of one circuit with the rules (`exclude`, `isFailure`,
 * `timeout`, `fallback`) of the call that asked for it, deciding through the storage, which
 * decides through `core/machine`; recording outcomes and reporting them to the call listeners.
 * `AsyncCircuitBreaker` (`async.ts`) guards code that returns promises, `SyncCircuitBreaker`
 * (`sync.ts`) synchronous code.
 *
 * Past 400 lines because this is the one path every outcome of both breakers takes (admission,
 * recording, the listeners, control): split, the breaker's private state would cross modules on
 * the hot path.
 * @module
 */
import type { CallListeners, CallOutcome } from "../calls.js";
import type { Clock } from "../timing/coarse-clock.js";
import type { CircuitConfig, CircuitScope, CircuitStateName, Transition } from "../core/circuit.js";
import type { Admission, ControlAction } from "../core/machine.js";
import type { Deadlines } from "../timing/deadlines.js";
import { CircuitOpenError, InvalidOptionError, type CallTimeoutError } from "../errors.js";
import { emitTransition, type Hooks } from "../events.js";
import { isExcluded, type ExcludeRules } from "../exclude.js";
import { BOUNDS, secondsToMs } from "../options/checks.js";
import type { CallRules, FallbackFn } from "../options/settings.js";
import type { RetryAfter } from "../options/types.js";
import { isPromise, type CircuitRecord, type CircuitStorage, type MaybePromise } from "../storage/storage.js";

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

export const passValue = (value: unknown): unknown => value;

/**
 * A thenable that rejects with `error`. Returned from a promise handler, it rejects the derived
 * promise with the caller's own error without a `throw` (V8's exception machinery costs ~300 ns)
 * and without a new rejected promise (Node's unhandled-rejection bookkeeping costs more).
 */
export class Rejection {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
  then(_onFulfilled: unknown, onRejected: (error: unknown) => void): void {
    onRejected(this.error);
  }
}

/** An outcome (a value, a promise or a `Rejection`) as a promise. */
export const promised = (outcome: unknown): Promise<unknown> =>
  outcome instanceof Rejection ? Promise.reject(outcome.error) : Promise.resolve(outcome);

/**
 * The minimum open time (ms) `retryAfter` asks for after `failure`: `undefined` for none, for what
 * is not a number of seconds > 0, and when it throws (a broken `retryAfter` must not change the
 * call's outcome); capped at the longest ttl (one hour), so that no server can keep a circuit
 * open for a day.
 */
export function minOpenMsOf(retryAfter: RetryAfter, failure: unknown): number | undefined {
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
export function fallenBack(fallback: FallbackFn, error: unknown): unknown {
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
export const scopeOf = (admission: Admission): CircuitScope =>
  admission.verdict === "probe" && admission.scope === "process" ? "process" : "fleet";

/** What sync and async breakers share: the circuit's readable state and outcome recording. */
export abstract class CircuitBreakerBase {
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
 * @internal The error for a `fn` that is not a function, typically the result of a call passed
 * instead of the call (`run("api", fetch(url))`): it names `fn` and the value, and counts nothing.
 */
export function notAFunction(fn: unknown): InvalidOptionError {
  return new InvalidOptionError("fn", fn, "a function to run under the circuit, e.g. () => fetch(url)");
}
