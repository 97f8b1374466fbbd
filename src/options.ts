/**
 * Validation of every option and argument. Each check throws an `InvalidOptionError` that names
 * the option and the value, at once, never falling back to a silent default.
 * @module
 */
import type { IsFailure, RetryAfter } from "./breaker.js";
import type { CircuitConfig, FailureRatePolicy, SlowCallPolicy } from "./core/circuit.js";
import { InvalidOptionError, describeValue, quote } from "./errors.js";
import type { CircuitHook } from "./events.js";
import { NO_EXCLUDE, toExcludeRules, type ExcludeList, type ExcludeRules } from "./exclude.js";
import { withCoarse, type Clock } from "./coarse-clock.js";
import { checkConfigCoherence, policiesOf, type BackoffOption, type QuorumOption } from "./policies.js";
import { InMemoryStorage } from "./storage/memory.js";
import type { CircuitStorage } from "./storage/storage.js";

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

/** Validated factory options. */
export interface FactorySettings {
  readonly config: CircuitConfig;
  readonly exclude: ExcludeRules;
  readonly isFailure: IsFailure | null;
  readonly storage: CircuitStorage;
  readonly idleTtl: number | null;
  /** `maxCircuits`; `null` for no bound. */
  readonly maxCircuits: number | null;
  readonly clock: Clock;
  readonly listeners: readonly CircuitHook[];
  /** `defaultTimeout`, in seconds; `null` for none. */
  readonly timeout: number | null;
}

const FACTORY_KEYS: Record<keyof FactoryOptions, true> = {
  defaultThreshold: true,
  defaultTtl: true,
  halfOpenMaxCalls: true,
  defaultFailureRate: true,
  defaultSlowCall: true,
  defaultBackoff: true,
  defaultQuorum: true,
  exclude: true,
  isFailure: true,
  storage: true,
  idleTtl: true,
  maxCircuits: true,
  clock: true,
  listeners: true,
  defaultTimeout: true,
};
const BREAKER_KEYS: Record<keyof BreakerOptions, true> = {
  threshold: true,
  ttl: true,
  halfOpenMaxCalls: true,
  failureRate: true,
  slowCall: true,
  backoff: true,
  quorum: true,
  exclude: true,
  isFailure: true,
  timeout: true,
  fallback: true,
  retryAfter: true,
};
const RUN_KEYS: Record<keyof RunOptions, true> = { ...BREAKER_KEYS, signal: true };
const CALL_KEYS: Record<keyof CallOptions, true> = { signal: true, timeout: true, fallback: true };
/** Names a user of the Python purgatory may still type. */
const PYTHON_NAMES: Record<string, string> = {
  default_threshold: "defaultThreshold",
  default_ttl: "defaultTtl",
  uow: "storage",
  half_open_max_calls: "halfOpenMaxCalls",
};

/** Up to eight names in quotes, then how many more: an error message stays short. */
function listOf(names: readonly string[]): string {
  const shown = names
    .slice(0, 8)
    .map((k) => `"${k}"`)
    .join(", ");
  return names.length > 8 ? `${shown} and ${names.length - 8} more` : shown;
}

/**
 * Rejects a key of `options` that `known` does not have, with a hint for a near miss:
 * `Unknown option "default_ttl" (did you mean "defaultTtl"?), got 3`.
 */
export function checkKeys(options: object, known: object, where = ""): void {
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(known, key)) continue;
    const python = PYTHON_NAMES[key];
    // A breaker's option given to the factory (`threshold`: `defaultThreshold`), or the reverse.
    const lower = key.toLowerCase();
    const hint =
      (python !== undefined && Object.hasOwn(known, python) ? python : undefined) ??
      Object.keys(known).find((k) => {
        const name = k.toLowerCase();
        return name === lower || name === `default${lower}` || `default${name}` === lower;
      });
    const option = `${where}${key}`;
    const value: unknown = options[key as keyof typeof options];
    const expected = hint ? `"${hint}"` : `one of ${listOf(Object.keys(known))}`;
    const why = hint ? `did you mean ${expected}?` : `expected ${expected}`;
    throw new InvalidOptionError(
      option,
      value,
      expected,
      `Unknown option ${quote(option)} (${why}), got ${describeValue(value)}`,
    );
  }
}

function checkObject(value: unknown, option: string): object {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(option, value, "an options object");
  }
  return value;
}

/**
 * The bounds of circuit options, documented in the README ("Bounds"). Values outside are mistakes
 * (a ttl in milliseconds, a threshold that can never be reached), rejected instead of honoured.
 */
export const BOUNDS = Object.freeze({
  /** Shortest ttl, in seconds: 1 ms. Below it a circuit is opened for no measurable time. */
  minTtl: 0.001,
  /**
   * Longest ttl, in seconds: one hour. A ttl is in seconds; 30000 is almost always meant as 30 s
   * in milliseconds, and one probe per hour already costs nothing. It also keeps `retryAfterMs`
   * far below what `setTimeout` accepts (2^31 - 1 ms, 24.8 days).
   */
  maxTtl: 3600,
  /**
   * Largest threshold: `Number.MAX_SAFE_INTEGER` (2^53 - 1), where counting stops being exact
   * (1e21 + 1 === 1e21). A huge threshold is how a circuit that never opens is written.
   */
  maxThreshold: Number.MAX_SAFE_INTEGER,
  /** Most probes at once while half-opened: each holds a lease stored with the circuit. */
  maxHalfOpenCalls: 1000,
  /** Shortest call timeout, in seconds: 1 ms, the resolution of Node's timers. */
  minTimeout: 0.001,
  /**
   * Longest call timeout, in seconds: one hour, as for ttl. A timeout is in seconds; 5000 is
   * almost always meant as 5 s in milliseconds. It also stays far below what `setTimeout` accepts.
   */
  maxTimeout: 3600,
});

/** Checks an integer from 1 to `max` (default `Number.MAX_SAFE_INTEGER`, where counts stay exact). */
export function checkPositiveInteger(value: unknown, option: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > max) {
    const bound = max === Number.MAX_SAFE_INTEGER ? "Number.MAX_SAFE_INTEGER" : max.toLocaleString("en-US");
    throw new InvalidOptionError(option, value, `an integer from 1 to ${bound}`);
  }
  return value;
}

/** Checks a finite number of seconds > 0. */
export function checkSeconds(value: unknown, option: string): number {
  return checkPositiveNumber(value, option, "a finite number of seconds > 0");
}

/** Checks a circuit's ttl: seconds from `BOUNDS.minTtl` (1 ms) to `BOUNDS.maxTtl` (one hour). */
export function checkTtl(value: unknown, option: string): number {
  if (typeof value !== "number" || !(value >= BOUNDS.minTtl && value <= BOUNDS.maxTtl)) {
    throw new InvalidOptionError(
      option,
      value,
      `a number of seconds from ${BOUNDS.minTtl} to ${BOUNDS.maxTtl} (ttl is in seconds, not milliseconds)`,
    );
  }
  return value;
}

/** Checks a call timeout: seconds from `BOUNDS.minTimeout` (1 ms) to `BOUNDS.maxTimeout` (one hour). */
export function checkTimeout(value: unknown, option: string): number {
  if (typeof value !== "number" || !(value >= BOUNDS.minTimeout && value <= BOUNDS.maxTimeout)) {
    throw new InvalidOptionError(
      option,
      value,
      `a number of seconds from ${BOUNDS.minTimeout} to ${BOUNDS.maxTimeout} (timeout is in seconds, not milliseconds)`,
    );
  }
  return value;
}

/** Seconds as milliseconds, rounded to the microsecond (`2.007 * 1000` is not `2007`). */
export const secondsToMs = (seconds: number): number => Math.round(seconds * 1e6) / 1e3;

/** Checks a finite number > 0; `expected` says what it measures, for the error. */
export function checkPositiveNumber(value: unknown, option: string, expected: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, value, expected);
  }
  return value;
}

/** Checks a circuit name: a non-empty string. */
export function checkName(value: unknown, option = "name"): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidOptionError(option, value, "a non-empty string circuit name");
  }
  return value;
}

function checkFunction<F>(value: unknown, option: string, what: string): F {
  if (typeof value !== "function") throw new InvalidOptionError(option, value, what);
  return value as F;
}

function checkStorage(value: unknown): CircuitStorage {
  const methods = [
    "initialize",
    "close",
    "register",
    "admit",
    "recordSuccess",
    "recordFailure",
    "forget",
    "get",
    "names",
  ];
  const missing =
    typeof value === "object" && value !== null
      ? methods.filter((m) => typeof (value as Record<string, unknown>)[m] !== "function")
      : methods;
  if (missing.length > 0) {
    throw new InvalidOptionError("storage", value, `a CircuitStorage (missing ${missing.join(", ")})`);
  }
  return value as CircuitStorage;
}

/**
 * The error for `timeout` (or `defaultTimeout`) given to the sync factory: a synchronous call
 * holds the thread, so no timer can fire before it returns.
 */
function syncTimeout(option: string, value: unknown): InvalidOptionError {
  return new InvalidOptionError(
    option,
    value,
    "no timeout",
    `Invalid option ${quote(option)}: a synchronous call cannot time out (it holds the thread until it returns, ` +
      `so no timer can fire before); use AsyncCircuitBreakerFactory for calls that may hang, got ${describeValue(value)}`,
  );
}

/** The error for `signal` given to the sync factory: nothing can abort a synchronous call. */
function syncSignal(value: unknown): InvalidOptionError {
  return new InvalidOptionError(
    "signal",
    value,
    "no signal",
    `Invalid option "signal": a synchronous call cannot be cancelled (nothing else runs until it returns); ` +
      `use AsyncCircuitBreakerFactory, got ${describeValue(value)}`,
  );
}

/** Checks a caller's `signal`: an `AbortSignal` (from any realm: by its shape). */
function checkSignal(value: unknown): AbortSignal {
  const signal = value as Partial<AbortSignal> | null;
  if (
    typeof signal !== "object" ||
    signal === null ||
    typeof signal.aborted !== "boolean" ||
    typeof signal.addEventListener !== "function"
  ) {
    throw new InvalidOptionError("signal", value, "an AbortSignal");
  }
  return value as AbortSignal;
}

function checkFallback(value: unknown): ((error: unknown) => unknown) | null {
  if (value === undefined) return null;
  return checkFunction(value, "fallback", "a function (error) => value");
}

/** Validates factory options; `sync` for `SyncCircuitBreakerFactory`, which has no timeouts. */
export function toFactorySettings(options: unknown, sync = false): FactorySettings {
  const o = checkObject(options, "options") as FactoryOptions;
  checkKeys(o, FACTORY_KEYS, "");
  if (sync && o.defaultTimeout !== undefined) throw syncTimeout("defaultTimeout", o.defaultTimeout);
  const listeners = o.listeners === undefined ? [] : o.listeners;
  if (!Array.isArray(listeners)) throw new InvalidOptionError("listeners", listeners, "an array of hooks");
  listeners.forEach((l, i) => checkFunction(l, `listeners[${i}]`, "a hook function"));
  return {
    config: checkConfigCoherence(
      {
        threshold: checkPositiveInteger(
          o.defaultThreshold === undefined ? 5 : o.defaultThreshold,
          "defaultThreshold",
          BOUNDS.maxThreshold,
        ),
        ttl: checkTtl(o.defaultTtl === undefined ? 30 : o.defaultTtl, "defaultTtl"),
        halfOpenMaxCalls: checkPositiveInteger(
          o.halfOpenMaxCalls === undefined ? 1 : o.halfOpenMaxCalls,
          "halfOpenMaxCalls",
          BOUNDS.maxHalfOpenCalls,
        ),
        ...policiesOf(o as Record<string, unknown>, {
          failureRate: "defaultFailureRate",
          slowCall: "defaultSlowCall",
          backoff: "defaultBackoff",
          quorum: "defaultQuorum",
        }),
      },
      { ttl: "defaultTtl", backoff: "defaultBackoff" },
    ),
    exclude: toExcludeRules(o.exclude, "exclude"),
    isFailure: checkIsFailure(o.isFailure),
    storage: o.storage === undefined ? new InMemoryStorage() : checkStorage(o.storage),
    idleTtl: o.idleTtl === undefined ? null : checkSeconds(o.idleTtl, "idleTtl"),
    maxCircuits: o.maxCircuits === undefined ? null : checkPositiveInteger(o.maxCircuits, "maxCircuits"),
    clock:
      o.clock === undefined
        ? withCoarse(() => Date.now(), true)
        : checkFunction<() => number>(o.clock, "clock", "a function returning epoch ms"),
    listeners,
    timeout: o.defaultTimeout === undefined ? null : checkTimeout(o.defaultTimeout, "defaultTimeout"),
  };
}

function checkIsFailure(value: unknown): IsFailure | null {
  if (value === undefined) return null;
  return checkFunction<IsFailure>(value, "isFailure", "a function (result) => boolean");
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

const INITIALIZE_KEYS: Record<keyof InitializeOptions, true> = { requireStorage: true };

/** Validates the options of `initialize()`; answers whether the storage is required. */
export function toInitializeSettings(options: unknown): { readonly requireStorage: boolean } {
  const o = checkObject(options, "options") as InitializeOptions;
  checkKeys(o, INITIALIZE_KEYS);
  const requireStorage = o.requireStorage === undefined ? false : o.requireStorage;
  if (typeof requireStorage !== "boolean") {
    throw new InvalidOptionError("requireStorage", requireStorage, "true or false");
  }
  return { requireStorage };
}

/** Validated per-circuit options. */
export interface BreakerSettings {
  /** What the options set of the circuit's config, if this call registers it. */
  readonly config: Partial<CircuitConfig>;
  readonly exclude: ExcludeRules;
  /** The call's own `isFailure`; `null` leaves the factory's. */
  readonly isFailure: IsFailure | null;
  /** The breaker's own `timeout`, seconds; `undefined` leaves the factory's. */
  readonly timeout: number | undefined;
  /** The breaker's `fallback`, or `null`. */
  readonly fallback: ((error: unknown) => unknown) | null;
  /** The caller's `signal` (`factory.run` only), or `null`. */
  readonly signal: AbortSignal | null;
  /** The breaker's `retryAfter`, or `null`. */
  readonly retryAfter: RetryAfter | null;
}

/** The settings of a call with no options. */
export const NO_BREAKER_OPTIONS: BreakerSettings = Object.freeze({
  config: Object.freeze({}),
  exclude: NO_EXCLUDE,
  isFailure: null,
  timeout: undefined,
  fallback: null,
  signal: null,
  retryAfter: null,
});

/**
 * Validates per-circuit options: of `getBreaker` and `decorate`, or with `run: true` of
 * `factory.run` (which also takes a caller's `signal`); `sync` for the sync factory, which
 * rejects `timeout` and `signal`.
 */
export function toBreakerSettings(options: unknown, sync = false, run = false): BreakerSettings {
  if (options === undefined) return NO_BREAKER_OPTIONS;
  const o = checkObject(options, "options") as RunOptions;
  if (sync && o.timeout !== undefined) throw syncTimeout("timeout", o.timeout);
  if (sync && o.signal !== undefined) throw syncSignal(o.signal);
  if (!run && o.signal !== undefined) {
    throw new InvalidOptionError(
      "signal",
      o.signal,
      "no signal",
      `Invalid option "signal": a signal belongs to one call, pass it to breaker.run(fn, { signal }) or ` +
        `factory.run(name, fn, { signal }), got ${describeValue(o.signal)}`,
    );
  }
  checkKeys(o, run && !sync ? RUN_KEYS : BREAKER_KEYS, "");
  return {
    config: {
      ...(o.threshold === undefined
        ? {}
        : { threshold: checkPositiveInteger(o.threshold, "threshold", BOUNDS.maxThreshold) }),
      ...(o.ttl === undefined ? {} : { ttl: checkTtl(o.ttl, "ttl") }),
      ...(o.halfOpenMaxCalls === undefined
        ? {}
        : { halfOpenMaxCalls: checkPositiveInteger(o.halfOpenMaxCalls, "halfOpenMaxCalls", BOUNDS.maxHalfOpenCalls) }),
      ...policiesOf(o as Record<string, unknown>, {
        failureRate: "failureRate",
        slowCall: "slowCall",
        backoff: "backoff",
        quorum: "quorum",
      }),
    },
    exclude: toExcludeRules(o.exclude, "exclude"),
    isFailure: checkIsFailure(o.isFailure),
    timeout: o.timeout === undefined ? undefined : checkTimeout(o.timeout, "timeout"),
    fallback: checkFallback(o.fallback),
    signal: o.signal === undefined ? null : checkSignal(o.signal),
    retryAfter:
      o.retryAfter === undefined
        ? null
        : checkFunction<RetryAfter>(o.retryAfter, "retryAfter", "a function (failure) => seconds or undefined"),
  };
}

/** Validated options of one call (`breaker.run(fn, options)`). */
export interface CallSettings {
  readonly signal: AbortSignal | null;
  /** Seconds; `undefined` leaves the breaker's. */
  readonly timeout: number | undefined;
  /** `null` leaves the breaker's. */
  readonly fallback: ((error: unknown) => unknown) | null;
}

/** Validates the options of one call; `sync` for a sync breaker, which rejects `signal` and `timeout`. */
export function toCallSettings(options: unknown, sync: boolean): CallSettings {
  const o = checkObject(options, "options") as CallOptions;
  if (sync && o.timeout !== undefined) throw syncTimeout("timeout", o.timeout);
  if (sync && o.signal !== undefined) throw syncSignal(o.signal);
  checkKeys(o, sync ? { fallback: true } : CALL_KEYS, "");
  return {
    signal: o.signal === undefined ? null : checkSignal(o.signal),
    timeout: o.timeout === undefined ? undefined : checkTimeout(o.timeout, "timeout"),
    fallback: checkFallback(o.fallback),
  };
}
