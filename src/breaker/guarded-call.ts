/**
 * One call of the async breaker that has a timeout or a caller's signal, or that is timed (for a
 * `slowCall` rule or call listeners): it races the guarded function against its deadline and the
 * caller's cancellation, and whichever comes first decides (docs/design.md, "Outcomes"). Calls
 * with none of these never get here: they take the breaker's fast path, which makes no object
 * per call.
 * @module
 */
import { followAbort, unfollowAbort } from "../timing/abort-listeners.js";
import type { CallRules } from "../options/settings.js";
import { callStart, elapsedSince, UNTIMED } from "../calls.js";
import type { CircuitScope } from "../core/circuit.js";
import type { Deadline, Deadlines } from "../timing/deadlines.js";
import { CallTimeoutError, type CircuitOpenError } from "../errors.js";

/**
 * What a guarded call needs from its breaker. Each `outcomeOf...` records the outcome of a call
 * that ran `durationMs` (`NaN` when it is not timed), then returns what the caller gets: a value,
 * or a thenable (a promise, a rejection). None throws. `scope` is the scope of the state that
 * admitted the call, for the call listeners: `"process"` for a probe of the state the process
 * keeps for itself, `"fleet"` otherwise.
 */
export interface CallHost {
  /** The circuit's name, for `CallTimeoutError`. */
  readonly name: string;
  /** The factory's deadlines. */
  readonly deadlines: Deadlines;
  /** Whether to measure how long the function runs. */
  timesCalls(): boolean;
  /** `fn` resolved (or returned) `value`. */
  outcomeOfValue(
    value: unknown,
    generation: number,
    rules: CallRules,
    durationMs: number,
    scope: CircuitScope,
  ): unknown;
  /** `fn` threw or rejected with `error`. */
  outcomeOfError(
    error: unknown,
    generation: number,
    rules: CallRules,
    durationMs: number,
    scope: CircuitScope,
  ): unknown;
  /** The call timed out: a failure, whatever `exclude` says. */
  outcomeOfTimeout(
    error: CallTimeoutError,
    generation: number,
    rules: CallRules,
    durationMs: number,
    scope: CircuitScope,
  ): unknown;
  /** The circuit rejected the call (reported in the error's `scope`). */
  outcomeOfRejection(error: CircuitOpenError, rules: CallRules): unknown;
  /** The caller cancelled the call after `durationMs` (0 before it ran): nothing counts. */
  cancelled(durationMs: number, scope: CircuitScope): void;
  /** Frees the probe slot of a cancelled call admitted with `generation`. */
  releaseProbe(generation: number): void;
}

/**
 * A signal that never aborts, handed to every guarded function that has neither a timeout nor a
 * caller's signal: one for the process, so the fast path allocates nothing. It can never fire, so
 * listeners added to it are dropped instead of kept (they could never be called): code that adds
 * one per call and never removes it (as `fetch` does until the request is collected) leaks
 * nothing, and Node never warns of too many listeners on it.
 */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;
Object.defineProperties(NEVER_ABORTED, {
  addEventListener: { value: () => undefined },
  removeEventListener: { value: () => undefined },
});

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | null)?.then === "function";

type Phase = "admitting" | "running" | "done";

/** A call racing its function, its deadline and its caller's signal. Made by `AsyncCircuitBreaker`. */
export class GuardedCall implements Deadline {
  /** @internal */ dueAt = 0;
  /** @internal */ queued = false;
  #phase: Phase = "admitting";
  #generation = -1;
  #probe = false;
  #scope: CircuitScope = "fleet";
  #startedAt = UNTIMED;
  #controller: AbortController | null = null;
  readonly #host: CallHost;
  readonly #fn: (signal: AbortSignal) => unknown;
  readonly #rules: CallRules;
  readonly #signal: AbortSignal | null;
  readonly #resolve: (outcome: unknown) => void;
  readonly #reject: (error: unknown) => void;

  /**
   * Listens to the caller's `signal` at once, so that a cancellation while the call waits for its
   * admission rejects it too.
   */
  constructor(
    host: CallHost,
    fn: (signal: AbortSignal) => unknown,
    rules: CallRules,
    signal: AbortSignal | null,
    resolve: (outcome: unknown) => void,
    reject: (error: unknown) => void,
  ) {
    this.#host = host;
    this.#fn = fn;
    this.#rules = rules;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    if (signal !== null) followAbort(signal, this.#onAbort);
  }

  /**
   * Runs the function, admitted with token `generation` (as a probe when `probe`) by the state of
   * `scope`. A call cancelled while it waited for its admission only gives its probe slot back.
   */
  start(generation: number, probe: boolean, scope: CircuitScope = "fleet"): void {
    if (this.#phase === "done") {
      if (probe) this.#host.releaseProbe(generation);
      return;
    }
    this.#phase = "running";
    this.#generation = generation;
    this.#probe = probe;
    this.#scope = scope;
    let signal = this.#signal ?? NEVER_ABORTED;
    const timeoutMs = this.#rules.timeoutMs;
    if (timeoutMs !== null) {
      this.#controller = new AbortController();
      signal = this.#controller.signal;
      this.#host.deadlines.add(this, timeoutMs);
    }
    if (this.#host.timesCalls()) this.#startedAt = callStart();
    let result: unknown;
    try {
      result = this.#fn(signal);
    } catch (error) {
      this.#onError(error);
      return;
    }
    if (isThenable(result)) Promise.resolve(result).then(this.#onValue, this.#onError);
    else this.#onValue(result);
  }

  /** The circuit rejected the call (unless it was cancelled meanwhile). */
  rejected(error: CircuitOpenError): void {
    if (this.#end("admitting")) this.#resolve(this.#host.outcomeOfRejection(error, this.#rules));
  }

  /** The call could not be admitted (e.g. `FactoryClosedError`): the caller gets `error`, as it is. */
  failed(error: unknown): void {
    if (this.#end("admitting")) this.#reject(error);
  }

  /** @internal The deadline passed while the function ran: a failure, and its signal aborts. */
  expire(): void {
    if (!this.#end("running")) return;
    const error = new CallTimeoutError(this.#host.name, this.#rules.timeoutMs ?? 0);
    const outcome = this.#host.outcomeOfTimeout(
      error,
      this.#generation,
      this.#rules,
      elapsedSince(this.#startedAt),
      this.#scope,
    );
    this.#controller?.abort(error);
    this.#resolve(outcome);
  }

  readonly #onValue = (value: unknown): void => {
    if (this.#end("running"))
      this.#resolve(
        this.#host.outcomeOfValue(value, this.#generation, this.#rules, elapsedSince(this.#startedAt), this.#scope),
      );
  };

  readonly #onError = (error: unknown): void => {
    if (this.#end("running"))
      this.#resolve(
        this.#host.outcomeOfError(error, this.#generation, this.#rules, elapsedSince(this.#startedAt), this.#scope),
      );
  };

  /** The caller cancelled: reject at once with its reason, count nothing, free a probe slot. */
  readonly #onAbort = (): void => {
    const phase = this.#phase;
    if (phase === "done") return;
    this.#phase = "done";
    this.#host.deadlines.delete(this);
    if (this.#signal !== null) unfollowAbort(this.#signal, this.#onAbort);
    const reason: unknown = this.#signal?.reason;
    this.#reject(reason);
    if (phase !== "running") {
      this.#host.cancelled(0, "fleet");
      return; // still admitting: `start` gives a probe slot back
    }
    this.#host.cancelled(elapsedSince(this.#startedAt), this.#scope);
    this.#controller?.abort(reason);
    if (this.#probe) this.#host.releaseProbe(this.#generation);
  };

  /** Ends the call if it is in `phase`; `false` when something else ended it first. */
  #end(phase: Phase): boolean {
    if (this.#phase !== phase) return false;
    this.#phase = "done";
    this.#host.deadlines.delete(this);
    if (this.#signal !== null) unfollowAbort(this.#signal, this.#onAbort);
    return true;
  }
}
