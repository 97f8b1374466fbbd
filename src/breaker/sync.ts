/**
 * The breaker for synchronous code: decides from the circuit's record at once; a storage that
 * answers asynchronously cannot serve it.
 * @module
 */
import { callStart, elapsedSince, UNTIMED } from "../calls.js";
import type { CircuitScope } from "../core/circuit.js";
import type { Admission } from "../core/machine.js";
import { clipName } from "../errors.js";
import { toCallSettings, withCallRules, type CallRules } from "../options/settings.js";
import type { SyncCallOptions } from "../options/types.js";
import { isPromise } from "../storage/storage.js";
import { CircuitBreakerBase, notAFunction, scopeOf } from "./base.js";

/** The key of a breaker's type-only record of what its default fallback returns. */
declare const FALLBACK: unique symbol;

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

function asyncStorageError(name: string): Error {
  return new TypeError(
    `Circuit ${clipName(name)}: the storage answered asynchronously to a synchronous breaker; ` +
      "use AsyncCircuitBreakerFactory or a storage that supports synchronous decisions",
  );
}
