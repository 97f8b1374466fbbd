/**
 * Options turned into settings: the factory's, a breaker's, a call's and `initialize()`'s,
 * validated at once (see `checks.ts`), and the rules a call is judged by.
 * @module
 */
import type { Clock } from "../timing/coarse-clock.js";
import { withCoarse } from "../timing/coarse-clock.js";
import type { CircuitConfig } from "../core/circuit.js";
import { describeValue, InvalidOptionError, quote } from "../errors.js";
import type { CircuitHook } from "../events.js";
import { NO_EXCLUDE, toExcludeRules, type ExcludeRules } from "../exclude.js";
import { InMemoryStorage } from "../storage/memory.js";
import type { CircuitStorage } from "../storage/storage.js";
import {
  BOUNDS,
  checkFunction,
  checkKeys,
  checkObject,
  checkPositiveInteger,
  checkSeconds,
  checkTimeout,
  checkTtl,
  secondsToMs,
} from "./checks.js";
import { checkConfigCoherence, policiesOf } from "./policies.js";
import type {
  BreakerOptions,
  CallOptions,
  FactoryOptions,
  InitializeOptions,
  IsFailure,
  RetryAfter,
  RunOptions,
} from "./types.js";

/** A fallback as the breakers call it. */
export type FallbackFn = (error: unknown) => unknown;

/**
 * What a call's outcome is judged by, besides the factory's `exclude`: its own `exclude` rules
 * (checked first) and the `isFailure` for its results (the call's, else the factory's); and how
 * it runs: its timeout (the call's, else the breaker's, else the factory's `defaultTimeout`) and
 * its fallback (the call's, else the breaker's). Internal.
 */
export interface CallRules {
  readonly exclude: ExcludeRules;
  readonly isFailure: IsFailure | null;
  /** Milliseconds a call may run; `null`: no timeout (always for a sync breaker). */
  readonly timeoutMs: number | null;
  /** Called instead of failing, or `null`. */
  readonly fallback: FallbackFn | null;
  /** The minimum open time a failure asks for, or `null`. */
  readonly retryAfter: RetryAfter | null;
}

/** `rules` with a call's own `timeout` (seconds) and `fallback`, where it gives them. */
export function withCallRules(rules: CallRules, timeout: number | undefined, fallback: FallbackFn | null): CallRules {
  if (timeout === undefined && fallback === null) return rules;
  return {
    exclude: rules.exclude,
    isFailure: rules.isFailure,
    timeoutMs: timeout === undefined ? rules.timeoutMs : secondsToMs(timeout),
    fallback: fallback ?? rules.fallback,
    retryAfter: rules.retryAfter,
  };
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
