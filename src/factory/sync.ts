/**
 * The factory of breakers for synchronous code.
 * @module
 */
import { notAFunction } from "../breaker/base.js";
import { SyncCircuitBreaker } from "../breaker/sync.js";
import { makeDecorator, type CircuitDecorator, type CircuitNameSource } from "../decorate.js";
import { checkName } from "../options/checks.js";
import { toBreakerSettings, type BreakerSettings, type CallRules } from "../options/settings.js";
import type { FactoryOptions, SyncBreakerOptions } from "../options/types.js";
import { isPromise, type CircuitRecord, type MaybePromise } from "../storage/storage.js";

import { CircuitBreakerFactoryBase } from "./base.js";

/**
 * Makes and keeps named circuit breakers for synchronous code.
 *
 * @example
 * ```ts
 * const sync = new SyncCircuitBreakerFactory({ defaultThreshold: 3 });
 * const value = sync.getBreaker("parser").run(() => JSON.parse(text));
 * ```
 */
export class SyncCircuitBreakerFactory<
  X extends readonly unknown[] = readonly unknown[],
> extends CircuitBreakerFactoryBase<SyncCircuitBreaker> {
  /** Validates `options` at once; see `FactoryOptions` and `AsyncCircuitBreakerFactory`. */
  constructor(options?: FactoryOptions<X>) {
    super(options, true);
  }

  /** @internal */
  protected makeBreaker(circuit: CircuitRecord, rules: CallRules): SyncCircuitBreaker {
    return new SyncCircuitBreaker(this.context, circuit, rules);
  }

  /** Same as `close()`, for `using`. The storage closes in the background. */
  [Symbol.dispose](): void {
    void this.close();
  }

  /**
   * The breaker of circuit `name`; see `AsyncCircuitBreakerFactory.getBreaker`. `timeout` is
   * rejected with `InvalidOptionError`: a synchronous call cannot be interrupted.
   */
  getBreaker<Y extends readonly unknown[] = readonly unknown[], F = never>(
    name: string,
    options?: SyncBreakerOptions<unknown, Y, F>,
  ): SyncCircuitBreaker<F> {
    const [checked, settings] = this.checkArgs(name, options);
    return this.#sync(this.breakerFor(checked, settings));
  }

  /**
   * Runs `fn` under circuit `name`; see `AsyncCircuitBreakerFactory.run`. `timeout` and `signal`
   * are rejected with `InvalidOptionError`: a synchronous call can be neither timed out nor
   * cancelled.
   */
  run<T, Y extends readonly unknown[] = readonly unknown[], F = never>(
    name: string,
    fn: () => T,
    options?: SyncBreakerOptions<T, Y, F>,
  ): T | F {
    if (options === undefined) {
      const cached = this.breakers.get(name);
      if (cached !== undefined) return cached.run(fn);
    }
    if (typeof fn !== "function") throw notAFunction(fn);
    const [checked, settings] = this.checkArgs(name, options, true);
    return this.#runWith(checked, settings, this.rulesFor(settings), fn) as T | F;
  }

  /** Wraps synchronous functions or methods; see `AsyncCircuitBreakerFactory.decorate`. */
  decorate<Y extends readonly unknown[] = readonly unknown[], F = never>(
    nameOrFn: CircuitNameSource,
    options?: SyncBreakerOptions<unknown, Y, F>,
  ): CircuitDecorator<"sync", F> {
    const settings = toBreakerSettings(options, true);
    const rules = this.rulesFor(settings);
    return makeDecorator(nameOrFn, (name, fn) => this.#runWith(checkName(name), settings, rules, fn), "sync");
  }

  #runWith(name: string, settings: BreakerSettings, rules: CallRules | null, fn: () => unknown): unknown {
    const breaker = this.#sync(this.sharedBreaker(name, settings));
    return rules === null ? breaker.run(fn) : breaker.runWith(fn, rules);
  }

  #sync(breaker: MaybePromise<SyncCircuitBreaker>): SyncCircuitBreaker {
    if (isPromise(breaker)) {
      throw new TypeError("The storage registers circuits asynchronously; use AsyncCircuitBreakerFactory");
    }
    return breaker;
  }
}
