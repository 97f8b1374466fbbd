/**
 * The public option types: what the factories, breakers and calls take. Checked and turned into
 * settings by `settings.ts`.
 * @module
 */
import type { FailureRatePolicy, SlowCallPolicy } from "../core/circuit.js";
import type { CircuitHook } from "../events.js";
import type { ExcludeList } from "../exclude.js";
import type { CircuitStorage } from "../storage/storage.js";
import type { BackoffOption, QuorumOption } from "./policies.js";

/** A function that says whether a call's result is a failure (`isFailure` option). */
export type IsFailure = (result: unknown) => boolean;

/** What the `retryAfter` option is: the seconds a failure (an error, or a result `isFailure` flagged) asks for. */
export type RetryAfter = (failure: unknown) => number | undefined;

/**
 * Options of `AsyncCircuitBreakerFactory` and `SyncCircuitBreakerFactory`. `X` types the
 * predicates of `exclude` by their classes; it is inferred by the constructor.
 *
 * @example
 * ```ts
 * const factory = new AsyncCircuitBreakerFactory({ defaultThreshold: 3, defaultTtl: 10 });
 * ```
 */
export interface FactoryOptions<X extends readonly unknown[] = readonly unknown[]> {
  /** Consecutive failures that open a circuit (integer from 1 to `Number.MAX_SAFE_INTEGER`). Default 5. */
  readonly defaultThreshold?: number;
  /** Seconds a circuit stays opened (0.001 to 3600, fractions allowed). Default 30. */
  readonly defaultTtl?: number;
  /** Probes that may run at once while half-opened (integer from 1 to 1,000). Default 1. */
  readonly halfOpenMaxCalls?: number;
  /** The `failureRate` of circuits whose registration gives none. Default none. */
  readonly defaultFailureRate?: FailureRatePolicy;
  /** The `slowCall` of circuits whose registration gives none. Default none. */
  readonly defaultSlowCall?: SlowCallPolicy;
  /** The `backoff` of circuits whose registration gives none. Default none. */
  readonly defaultBackoff?: BackoffOption;
  /**
   * The `quorum` of circuits whose registration gives none: with a shared storage (Redis), the
   * processes whose failures a fleet-wide opening needs. Default 1 (any process's failures).
   */
  readonly defaultQuorum?: QuorumOption;
  /**
   * Errors that are not failures, checked after a call's own `exclude`: classes, and
   * `[class, predicate]` pairs whose predicate gets an instance of the class. Default none.
   */
  readonly exclude?: ExcludeList<X>;
  /**
   * Results that are failures, for every circuit whose call does not give its own: a call whose
   * result makes it return `true` (or throw) is counted as a failure, and its caller still gets
   * the result. Default: every result is a success.
   *
   * @example
   * ```ts
   * isFailure: (result) => result instanceof Response && result.status >= 500
   * ```
   */
  readonly isFailure?: (result: unknown) => boolean;
  /** Where circuit state lives. Default a new `InMemoryStorage`. */
  readonly storage?: CircuitStorage;
  /**
   * Forget circuits left unused for this many seconds (finite > 0). Default: never. Checked
   * lazily, at most once per `idleTtl`, when a new circuit registers (no timer, no clock read per
   * call): an unused circuit goes after one to two `idleTtl`. An opened circuit is kept until its
   * ttl has elapsed, and a half-opened one while a probe holds a lease.
   */
  readonly idleTtl?: number;
  /**
   * The most circuits this factory holds in this process (an integer from 1 to
   * `Number.MAX_SAFE_INTEGER`). Default: no bound. When a new name would register past it, the
   * least recently used circuit that is closed and idle (no call since the factory last looked) is
   * forgotten first, as `forget(name)` does (with `RedisStorage`: its replica and its subscription
   * go, the shared keys stay and expire after `keyTtl`), and `circuit_forgotten` is emitted with
   * `reason: "limit"`. A closed circuit with no failure count goes before one that counts
   * failures. An opened, half-opened, isolated or disabled circuit is never forgotten for room: if
   * none can be, the new name is refused with `CircuitLimitError` (nothing runs), and the circuits
   * already held keep working.
   *
   * Set it where circuit names come from outside (hosts of URLs a user or a redirect chose:
   * `decorate((url) => new URL(url).host)`), so that heap, Redis keys and subscriptions, and
   * metric series stay bounded whatever names arrive; add `idleTtl` so that opened circuits nobody
   * calls any more are forgotten too once their ttl is over. Costs nothing per call: recency is
   * read from the flag each call already sets, by a clock sweep at registrations (second chance).
   *
   * @example
   * ```ts
   * const hosts = new AsyncCircuitBreakerFactory({ maxCircuits: 10_000, idleTtl: 600 });
   * const get = hosts.decorate((url: string) => new URL(url).host)((url: string) => fetch(url));
   * ```
   */
  readonly maxCircuits?: number;
  /**
   * Current time in epoch ms. Default `() => Date.now()`, looked up on each use, so the fake
   * timers of vitest, jest or sinon drive ttl even for a factory made before they were installed.
   */
  readonly clock?: () => number;
  /** Hooks to add at once, as `addListener` would. */
  readonly listeners?: readonly CircuitHook[];
  /**
   * Seconds a guarded call may run before it rejects with `CallTimeoutError` and counts as a
   * failure, for every breaker that gives no `timeout` of its own (0.001 to 3600, fractions
   * allowed). `AsyncCircuitBreakerFactory` only: the sync factory rejects it (a synchronous call
   * holds the thread, so no timer can fire before it returns). Default: no timeout.
   */
  readonly defaultTimeout?: number;
}

/**
 * A fallback: called with the error of a call that failed (a counted failure, a
 * `CircuitOpenError`, a `CallTimeoutError`); what it returns (or resolves to) is what the caller
 * gets instead. If it throws (or rejects), the caller gets that error.
 *
 * @example
 * ```ts
 * const fallback: Fallback<Page> = (error) => cache.get(url) ?? Promise.reject(error);
 * ```
 */
export type Fallback<F = unknown> = (error: unknown) => F | PromiseLike<F>;

/**
 * Per-circuit options of `getBreaker`, `run` and `decorate`. `threshold` and `ttl` configure the
 * circuit only if this call registers it; `exclude`, `isFailure`, `timeout` and `fallback` apply
 * to this breaker's calls.
 * `R` is the type of the guarded function's result, which `factory.run` infers for `isFailure`;
 * `X` types the predicates of `exclude` by their classes, inferred by each method; `F` is what
 * `fallback` returns, which the calls' result type includes.
 */
export interface BreakerOptions<R = unknown, X extends readonly unknown[] = readonly unknown[], F = unknown> {
  /** Consecutive failures that open this circuit (integer from 1 to `Number.MAX_SAFE_INTEGER`). */
  readonly threshold?: number;
  /** Seconds this circuit stays opened (0.001 to 3600, fractions allowed). */
  readonly ttl?: number;
  /** Probes that may run at once while half-opened (integer from 1 to 1,000). */
  readonly halfOpenMaxCalls?: number;
  /**
   * Also trip at a failure rate over a sliding window: `{ rate: 0.5, minimumCalls: 20, window: 60 }`
   * trips at 50 % failures over the last 60 s, once 20 calls were seen.
   */
  readonly failureRate?: FailureRatePolicy;
  /**
   * Also trip at a rate of slow calls (successes slower than `duration` seconds), on the
   * failure rate's window (or 60 s and 20 calls): `{ duration: 2, rate: 0.8 }`.
   */
  readonly slowCall?: SlowCallPolicy;
  /** Open longer at each re-opening: `{ multiplier: 2, maxTtl: 300, jitter: 0.1 }`. */
  readonly backoff?: BackoffOption;
  /**
   * With a shared storage (Redis): the distinct processes whose failures a fleet-wide opening
   * needs, a number, or `{ processes, fraction }` (`fraction` of the processes that called the
   * circuit lately), never more than the processes calling it. A process whose own failures meet
   * the trip rule first opens for itself alone (`scope: "process"`). Default 1: any process's
   * failures open the circuit for every process. In memory there is one process: always met.
   *
   * @example
   * ```ts
   * await circuitbreaker.getBreaker("payments-api", { threshold: 5, quorum: { processes: 2, fraction: 0.25 } });
   * ```
   */
  readonly quorum?: QuorumOption;
  /** Errors that are not failures for these calls, checked before the factory's. */
  readonly exclude?: ExcludeList<X>;
  /**
   * Results that are failures for these calls (instead of the factory's `isFailure`): a result
   * for which it returns `true` (or throws) is counted as a failure, and the caller still gets it.
   *
   * @example
   * ```ts
   * await circuitbreaker.run("api", () => fetch(url), { isFailure: (res) => res.status >= 500 });
   * ```
   */
  readonly isFailure?: (result: R) => boolean;
  /**
   * Seconds each call may run before it rejects with `CallTimeoutError` and counts as a failure
   * (0.001 to 3600, fractions allowed); the guarded function's `signal` aborts then. Replaces the
   * factory's `defaultTimeout`. Async factory only.
   *
   * @example
   * ```ts
   * const breaker = await circuitbreaker.getBreaker("api", { timeout: 2.5 });
   * await breaker.run((signal) => fetch(url, { signal }));
   * ```
   */
  readonly timeout?: number;
  /**
   * Called instead of failing, for each call that gives no `fallback` of its own: with the
   * `CircuitOpenError`, the `CallTimeoutError` or the counted failure's error; the caller gets what
   * it returns. Not called for excluded errors, cancelled calls or bad arguments.
   *
   * @example
   * ```ts
   * const breaker = await circuitbreaker.getBreaker("prices", { fallback: () => lastKnownPrices });
   * ```
   */
  readonly fallback?: Fallback<F>;
  /**
   * The seconds a failure asks the circuit to stay opened at least, e.g. an HTTP `Retry-After`:
   * called with each counted failure (the error, or the result `isFailure` flagged); a number of
   * seconds > 0 makes an opening this failure causes last at least that long (capped at one
   * hour), and `retryAfterMs` of the `CircuitOpenError`s tells it. Anything else (or a throw)
   * asks for nothing. Fleet-wide over Redis.
   *
   * @example
   * ```ts
   * retryAfter: (failure) => (failure instanceof HttpError ? failure.retryAfterSeconds : undefined)
   * ```
   */
  readonly retryAfter?: (failure: unknown) => number | undefined;
}

/**
 * Options of one call, `breaker.run(fn, options)` of the async factory: a caller's `signal`, and
 * a `timeout` and a `fallback` that replace the breaker's for this call.
 *
 * @example
 * ```ts
 * await breaker.run((signal) => fetch(url, { signal }), { signal: request.signal, timeout: 2, fallback: () => cached });
 * ```
 */
export interface CallOptions<F = unknown> {
  /**
   * The caller's cancellation: when it aborts, the call rejects at once with `signal.reason`, the
   * guarded function's signal aborts too, the outcome is not counted (neither a success nor a
   * failure) and a probe slot the call held is freed. Already aborted: the call rejects at once
   * and `fn` is not called.
   */
  readonly signal?: AbortSignal;
  /** Seconds this call may run (see `BreakerOptions.timeout`); replaces the breaker's. */
  readonly timeout?: number;
  /** Called instead of failing (see `BreakerOptions.fallback`); replaces the breaker's. */
  readonly fallback?: Fallback<F>;
}

/**
 * Options of `factory.run(name, fn, options)` (async): the breaker's options for this call, and
 * the caller's `signal` (see `CallOptions.signal`).
 *
 * @example
 * ```ts
 * await circuitbreaker.run("api", (signal) => fetch(url, { signal }), { signal: request.signal, timeout: 2 });
 * ```
 */
export interface RunOptions<
  R = unknown,
  X extends readonly unknown[] = readonly unknown[],
  F = unknown,
> extends BreakerOptions<R, X, F> {
  /** The caller's cancellation; see `CallOptions.signal`. */
  readonly signal?: AbortSignal;
}

/**
 * Per-circuit options of the sync factory's `getBreaker`, `run` and `decorate`: those of
 * `BreakerOptions` without `timeout` (a synchronous call cannot be interrupted), with a
 * synchronous `fallback`, whose return value the caller gets as it is.
 *
 * @example
 * ```ts
 * const value = sync.run("parser", () => JSON.parse(text), { fallback: () => ({}) });
 * ```
 */
export interface SyncBreakerOptions<
  R = unknown,
  X extends readonly unknown[] = readonly unknown[],
  F = unknown,
> extends Omit<BreakerOptions<R, X>, "timeout" | "fallback"> {
  /** Called instead of failing; see `BreakerOptions.fallback`. What it returns is returned. */
  readonly fallback?: (error: unknown) => F;
}

/**
 * Options of one call of a sync breaker, `breaker.run(fn, options)`: a `fallback` that replaces
 * the breaker's. (`signal` and `timeout` are rejected: a synchronous call can be neither
 * cancelled nor timed out.)
 *
 * @example
 * ```ts
 * const config = sync.getBreaker("config").run(() => readConfig(), { fallback: () => DEFAULTS });
 * ```
 */
export interface SyncCallOptions<F = unknown> {
  /** Called instead of failing; see `BreakerOptions.fallback`. What it returns is returned. */
  readonly fallback?: (error: unknown) => F;
}

/**
 * Options of `factory.initialize(options?)`.
 *
 * @example
 * ```ts
 * await circuitbreaker.initialize({ requireStorage: true }); // rejects when Redis cannot be reached
 * ```
 */
export interface InitializeOptions {
  /**
   * Reject with `StorageUnavailableError` when the storage could not reach its server (its
   * `available` reads `false` once it has connected or given up), instead of resolving and
   * running degraded on local state. Default `false`. A storage that does not tell whether it is
   * available (`InMemoryStorage`, which has no server) always passes.
   */
  readonly requireStorage?: boolean;
}
