/**
 * The factory of breakers for asynchronous code.
 * @module
 */
import { AsyncCircuitBreaker } from "../breaker/async.js";
import { notAFunction } from "../breaker/base.js";
import type { PoolEntry, PooledRunner } from "./limits.js";
import { makeDecorator, type CircuitDecorator, type CircuitNameSource } from "../decorate.js";
import { checkName, checkPositiveInteger, checkSeconds } from "../options/checks.js";
import { toBreakerSettings, type BreakerSettings, type CallRules } from "../options/settings.js";
import type { BreakerOptions, FactoryOptions, RunOptions } from "../options/types.js";
import { isPromise, type CircuitRecord, type MaybePromise } from "../storage/storage.js";

import { CircuitBreakerFactoryBase } from "./base.js";

/**
 * Makes and keeps named circuit breakers for asynchronous code.
 *
 * @example
 * ```ts
 * const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 5, defaultTtl: 30 });
 * await circuitbreaker.initialize();
 * const page = await circuitbreaker.run("www.example.com", () => fetch(url));
 * await circuitbreaker.close();
 * ```
 */
export class AsyncCircuitBreakerFactory<
  X extends readonly unknown[] = readonly unknown[],
> extends CircuitBreakerFactoryBase<AsyncCircuitBreaker> {
  /**
   * Validates `options` at once; see `FactoryOptions`. `X` only types the predicates of
   * `options.exclude` by their classes, inferred from the list.
   */
  constructor(options?: FactoryOptions<X>) {
    super(options, false);
  }

  /** @internal */
  protected makeBreaker(circuit: CircuitRecord, rules: CallRules): AsyncCircuitBreaker {
    return new AsyncCircuitBreaker(this.context, circuit, rules);
  }

  /**
   * The breaker of circuit `name`, registering it with `options` if this is the first time the
   * name is used (later `threshold`/`ttl` are ignored); `options.exclude`, `isFailure`,
   * `timeout` and `fallback` apply to this breaker's calls.
   *
   * @example
   * ```ts
   * const breaker = await circuitbreaker.getBreaker("api", { threshold: 3, timeout: 2, fallback: () => null });
   * const user = await breaker.run((signal) => getUser(id, { signal })); // User | null
   * ```
   */
  async getBreaker<Y extends readonly unknown[] = readonly unknown[], F = never>(
    name: string,
    options?: BreakerOptions<unknown, Y, F>,
  ): Promise<AsyncCircuitBreaker<F>> {
    const [checked, settings] = this.checkArgs(name, options);
    return this.breakerFor(checked, settings);
  }

  /**
   * Runs `fn` under circuit `name`: the one-liner form of `getBreaker(name).run(fn)`. With
   * `options` (`exclude`, `isFailure`, `timeout`, `fallback`, and the caller's `signal`), the call
   * is judged and run by them through the circuit's shared breaker: no breaker is made per call.
   *
   * @example
   * ```ts
   * const res = await circuitbreaker.run("api", (signal) => fetch(url, { signal }), { signal: request.signal, timeout: 2 });
   * ```
   */
  run<T, Y extends readonly unknown[] = readonly unknown[], F = never>(
    name: string,
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: RunOptions<Awaited<T>, Y, F>,
  ): Promise<Awaited<T> | Awaited<F>> {
    if (options === undefined) {
      const cached = this.breakers.get(name);
      if (cached !== undefined) return cached.run(fn);
    }
    try {
      if (typeof fn !== "function") throw notAFunction(fn);
      const [checked, settings] = this.checkArgs(name, options, true);
      return this.runWith(checked, settings, this.rulesFor(settings), fn) as Promise<Awaited<T>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * @internal A bounded pool of this factory's circuits, for names chosen by others (hosts of URLs):
   * `purgatory/fetch` makes one per `circuitFetch`. Its `run` is this factory's `run`, except that
   * a circuit it registers takes a place in the pool: past `maxCircuits` (an integer >= 1, or
   * `null` for no bound) the pool's least recently used closed circuit with no call in flight is
   * forgotten (`circuit_forgotten`, reason `"limit"`), or the call rejects with
   * `CircuitLimitError`; and the pool's circuits unused for `idleTtl` seconds (or `null`: never)
   * are forgotten when a new one registers (reason `"idle"`). The factory's `maxCircuits` and
   * `idleTtl`, when set, apply too.
   *
   * @example
   * ```ts
   * const hosts = circuitbreaker.pool(1_000, 600);
   * const res = await hosts.run(new URL(url).host, (signal) => fetch(url, { signal }));
   * ```
   */
  pool(maxCircuits: number | null, idleTtl: number | null): PooledRunner {
    const pool = this.makePool(
      maxCircuits === null ? null : checkPositiveInteger(maxCircuits, "maxCircuits"),
      idleTtl === null ? null : checkSeconds(idleTtl, "idleTtl"),
    );
    const clock = this.settings.clock;
    const run = <T, Y extends readonly unknown[] = readonly unknown[], F = never>(
      name: string,
      fn: (signal: AbortSignal) => T | PromiseLike<T>,
      options?: RunOptions<Awaited<T>, Y, F>,
    ): Promise<Awaited<T> | Awaited<F>> => {
      let entry: PoolEntry;
      try {
        entry = this.enterPool(pool, checkName(name), clock());
      } catch (error) {
        return Promise.reject(error);
      }
      const result = this.run(name, fn, options);
      const leave = (): void => this.leavePool(pool, name, entry);
      result.then(leave, leave);
      return result;
    };
    return {
      run,
      get size() {
        return pool.entries.size;
      },
    };
  }

  /**
   * @internal Runs `fn` on circuit `name` through its shared breaker, judged by `rules`,
   * cancelled by `settings.signal`.
   */
  protected runWith(
    name: string,
    settings: BreakerSettings,
    rules: CallRules | null,
    fn: (signal: AbortSignal) => unknown,
  ): Promise<unknown> {
    let breaker: MaybePromise<AsyncCircuitBreaker>;
    try {
      breaker = this.sharedBreaker(name, settings);
    } catch (error) {
      // E.g. registering after close(): a decorated function rejects, it never throws.
      return Promise.reject(error);
    }
    const { signal } = settings;
    const run = (b: AsyncCircuitBreaker): Promise<unknown> =>
      rules === null && signal === null ? b.run(fn) : b.runWith(fn, rules ?? this.baseRules, signal);
    return isPromise(breaker) ? breaker.then(run) : run(breaker);
  }

  /**
   * Wraps functions or methods so every call runs under a circuit. `nameOrFn` is the circuit name,
   * or a function of the call's arguments that returns it. Works as a higher-order function, as a
   * standard (TC39) method decorator and as a legacy (`experimentalDecorators`) one. The wrapper
   * keeps `this`, the function's `name` and `length`, and returns a promise.
   *
   * With `options.timeout`, a call that runs too long rejects with `CallTimeoutError` and counts
   * as a failure; the wrapped function gets no signal (its arguments are its caller's). With
   * `options.fallback`, the wrapper resolves with the fallback's value instead of failing.
   *
   * @example
   * ```ts
   * const get = circuitbreaker.decorate((url: string) => new URL(url).host)(
   *   async (url: string) => fetch(url),
   * );
   * ```
   */
  decorate<Y extends readonly unknown[] = readonly unknown[], F = never>(
    nameOrFn: CircuitNameSource,
    options?: BreakerOptions<unknown, Y, F>,
  ): CircuitDecorator<"async", F> {
    const settings = toBreakerSettings(options);
    const rules = this.rulesFor(settings);
    return makeDecorator(nameOrFn, (name, fn) => this.runWith(checkName(name), settings, rules, fn), "async");
  }
}
