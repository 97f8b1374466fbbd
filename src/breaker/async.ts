/**
 * The breaker for code that returns promises: the fast path of a closed circuit, timed and
 * cancellable calls (`GuardedCall`), and admission while the circuit is not closed.
 * @module
 */
import { UNTIMED } from "../calls.js";
import { GuardedCall, NEVER_ABORTED } from "./guarded-call.js";
import { toCallSettings, withCallRules, type CallRules } from "../options/settings.js";
import type { CallOptions } from "../options/types.js";
import { CircuitBreakerBase, notAFunction, passValue, promised, scopeOf } from "./base.js";

/** The key of a breaker's type-only record of what its default fallback returns. */
declare const FALLBACK: unique symbol;

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
export class AsyncCircuitBreaker<F = never> extends CircuitBreakerBase {
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
