/**
 * Validation of the trip policies beyond the Python purgatory's consecutive threshold: `failureRate`,
 * `slowCall` and `backoff` (circuit options), and of a `reconfigure` call's changes.
 * @module
 */
import {
  circuitConfig,
  type BackoffPolicy,
  type CircuitConfig,
  type FailureRatePolicy,
  type QuorumPolicy,
  type SlowCallPolicy,
} from "../core/circuit.js";
import { MAX_QUORUM_PROCESSES } from "../core/quorum.js";
import { InvalidOptionError } from "../errors.js";
import { BOUNDS, checkKeys, checkPositiveInteger, checkTtl } from "./checks.js";

/** Longest rate window, in seconds: one day (10 buckets of 2.4 hours). */
const MAX_WINDOW = 86_400;
/** Largest backoff multiplier: beyond it the second opening already reaches any maxTtl. */
const MAX_MULTIPLIER = 1000;
/** Longest open time a backoff may reach, in seconds: one day. */
const MAX_BACKOFF_TTL = 86_400;

function checkObject(value: unknown, option: string, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new InvalidOptionError(option, value, what);
  return value as Record<string, unknown>;
}

function checkNumber(
  value: unknown,
  option: string,
  min: number,
  max: number,
  what: string,
  minExclusive = false,
): number {
  const ok = typeof value === "number" && (minExclusive ? value > min : value >= min) && value <= max;
  if (!ok) throw new InvalidOptionError(option, value, what);
  return value;
}

function checkRate(value: unknown, option: string): number {
  return checkNumber(value, option, 0, 1, "a rate above 0 and at most 1 (0.5 is 50 %)", true);
}

function checkSecondsWithin(value: unknown, option: string, max: number): number {
  return checkNumber(value, option, BOUNDS.minTtl, max, `a number of seconds from ${BOUNDS.minTtl} to ${max}`);
}

/** Checks `failureRate: { rate, minimumCalls, window }`. */
export function checkFailureRate(value: unknown, option = "failureRate"): FailureRatePolicy {
  const o = checkObject(value, option, "{ rate, minimumCalls, window }");
  checkKeys(o, { rate: true, minimumCalls: true, window: true }, `${option}.`);
  return {
    rate: checkRate(o.rate, `${option}.rate`),
    minimumCalls: checkPositiveInteger(o.minimumCalls, `${option}.minimumCalls`, 1_000_000),
    window: checkSecondsWithin(o.window, `${option}.window`, MAX_WINDOW),
  };
}

/** Checks `slowCall: { duration, rate }`. */
export function checkSlowCall(value: unknown, option = "slowCall"): SlowCallPolicy {
  const o = checkObject(value, option, "{ duration, rate }");
  checkKeys(o, { duration: true, rate: true }, `${option}.`);
  return { duration: checkTtl(o.duration, `${option}.duration`), rate: checkRate(o.rate, `${option}.rate`) };
}

/**
 * Checks a backoff's jitter: a fraction from 0 up to, not including, 1. At 1 an opening could last
 * about 0 ms (`ttl * (1 - jitter)`): a circuit that opens and at once lets a probe through.
 */
function checkJitter(value: unknown, option: string): number {
  const ok = typeof value === "number" && value >= 0 && value < 1;
  if (!ok) throw new InvalidOptionError(option, value, "a fraction from 0 up to 1, not 1 (0.1 is 10 %)");
  return value;
}

/**
 * Checks that the parts of a circuit's config agree: a backoff's `maxTtl` is not below the `ttl`
 * (every opening would last less than the ttl asked for). Throws an `InvalidOptionError` that names
 * both options and values; `names` says what the options are called where the user gave them.
 */
export function checkConfigCoherence(
  config: CircuitConfig,
  names: { ttl: string; backoff: string } = { ttl: "ttl", backoff: "backoff" },
): CircuitConfig {
  const { backoff } = config;
  if (backoff !== undefined && backoff.maxTtl < config.ttl) {
    const option = `${names.backoff}.maxTtl`;
    throw new InvalidOptionError(
      option,
      backoff.maxTtl,
      `at least ${names.ttl} (${config.ttl} s)`,
      `Invalid option "${option}": it caps every opening, so it cannot be below ${names.ttl} (${config.ttl} s), got ${backoff.maxTtl}`,
    );
  }
  return config;
}

/**
 * What the `backoff` options take (`defaultBackoff`, `backoff`, `reconfigure`): each opening
 * lasts `multiplier` times the previous one, up to `maxTtl` seconds, varied by up to `jitter`
 * (a fraction from 0 up to 1, default 0) either way.
 *
 * @example
 * ```ts
 * const backoff: BackoffOption = { multiplier: 2, maxTtl: 300, jitter: 0.1 };
 * ```
 */
export interface BackoffOption {
  /** Each re-opening lasts this many times the previous one (1 to 1000). */
  readonly multiplier: number;
  /** Seconds. */
  readonly maxTtl: number;
  /** From 0 up to, not including, 1. Default 0. */
  readonly jitter?: number;
}

/** Checks `backoff: { multiplier, maxTtl, jitter }` (jitter defaults to 0). */
export function checkBackoff(value: unknown, option = "backoff"): BackoffPolicy {
  const o = checkObject(value, option, "{ multiplier, maxTtl, jitter? }");
  checkKeys(o, { multiplier: true, maxTtl: true, jitter: true }, `${option}.`);
  return {
    multiplier: checkNumber(
      o.multiplier,
      `${option}.multiplier`,
      1,
      MAX_MULTIPLIER,
      `a number from 1 to ${MAX_MULTIPLIER}`,
    ),
    maxTtl: checkSecondsWithin(o.maxTtl, `${option}.maxTtl`, MAX_BACKOFF_TTL),
    jitter: o.jitter === undefined ? 0 : checkJitter(o.jitter, `${option}.jitter`),
  };
}

/**
 * What the `quorum` option takes: a number of processes, or `{ processes?, fraction? }` (at least
 * one of them). See `QuorumPolicy`.
 */
export type QuorumOption =
  | number
  | {
      /** Distinct processes whose failures a fleet-wide opening needs (integer from 1 to 1000); default 1. */
      readonly processes?: number;
      /** Also at least this fraction of the active callers (0 < fraction <= 1), rounded up; absent: none. */
      readonly fraction?: number;
    };

/** Checks `quorum`: an integer from 1 to 1,000, or `{ processes?, fraction? }`. */
export function checkQuorum(value: unknown, option = "quorum"): QuorumPolicy {
  const processes = (v: unknown, name: string) => checkPositiveInteger(v, name, MAX_QUORUM_PROCESSES);
  if (typeof value === "number") return { processes: processes(value, option) };
  const o = checkObject(
    value,
    option,
    "a number of processes (an integer from 1 to 1,000) or { processes?, fraction? }",
  );
  checkKeys(o, { processes: true, fraction: true }, `${option}.`);
  if (o.processes === undefined && o.fraction === undefined) {
    throw new InvalidOptionError(option, value, "{ processes?, fraction? } with at least one of them");
  }
  const policy: { processes: number; fraction?: number } = {
    processes: o.processes === undefined ? 1 : processes(o.processes, `${option}.processes`),
  };
  if (o.fraction !== undefined) {
    policy.fraction = checkNumber(
      o.fraction,
      `${option}.fraction`,
      0,
      1,
      "a fraction of the active callers above 0 and at most 1 (0.25 is a quarter)",
      true,
    );
  }
  return policy;
}

/** The policies a set of options gives (`undefined` ones left out), under `prefix`ed option names. */
export function policiesOf(
  o: Record<string, unknown>,
  names: { failureRate: string; slowCall: string; backoff: string; quorum: string },
): Partial<CircuitConfig> {
  return {
    ...(o[names.failureRate] === undefined
      ? {}
      : { failureRate: checkFailureRate(o[names.failureRate], names.failureRate) }),
    ...(o[names.slowCall] === undefined ? {} : { slowCall: checkSlowCall(o[names.slowCall], names.slowCall) }),
    ...(o[names.backoff] === undefined ? {} : { backoff: checkBackoff(o[names.backoff], names.backoff) }),
    ...(o[names.quorum] === undefined ? {} : { quorum: checkQuorum(o[names.quorum], names.quorum) }),
  };
}

/**
 * What `reconfigure(name, changes)` may change: `threshold`, `ttl`, `halfOpenMaxCalls`, and the
 * policies (`null` removes one; a removed `quorum` is one process again).
 */
export interface ConfigChanges {
  /** Consecutive failures that open the circuit (integer from 1 to `Number.MAX_SAFE_INTEGER`); absent: unchanged. */
  readonly threshold?: number;
  /** Seconds the circuit stays opened before a probe may run (0.001 to 3600); absent: unchanged. */
  readonly ttl?: number;
  /** Probes that may run at once while half-opened (integer from 1 to 1000); absent: unchanged. */
  readonly halfOpenMaxCalls?: number;
  /** The failure rate rule; `null` removes it, absent leaves it. */
  readonly failureRate?: FailureRatePolicy | null;
  /** The slow-call rule; `null` removes it, absent leaves it. */
  readonly slowCall?: SlowCallPolicy | null;
  /** The backoff; `null` removes it, absent leaves it. */
  readonly backoff?: BackoffOption | null;
  /** The processes a fleet-wide opening needs; `null` removes it (one process again), absent leaves it. */
  readonly quorum?: QuorumOption | null;
}

const CHANGE_KEYS: Record<keyof ConfigChanges, true> = {
  threshold: true,
  ttl: true,
  halfOpenMaxCalls: true,
  failureRate: true,
  slowCall: true,
  backoff: true,
  quorum: true,
};

/** Checks `changes` and applies them to `config`. */
export function applyChanges(config: CircuitConfig, changes: unknown): CircuitConfig {
  const o = checkObject(changes, "changes", "an object of the options to change");
  checkKeys(o, CHANGE_KEYS, "");
  const next: { -readonly [K in keyof CircuitConfig]: CircuitConfig[K] } = { ...config };
  if (o.threshold !== undefined) next.threshold = checkPositiveInteger(o.threshold, "threshold", BOUNDS.maxThreshold);
  if (o.ttl !== undefined) next.ttl = checkTtl(o.ttl, "ttl");
  if (o.halfOpenMaxCalls !== undefined)
    next.halfOpenMaxCalls = checkPositiveInteger(o.halfOpenMaxCalls, "halfOpenMaxCalls", BOUNDS.maxHalfOpenCalls);
  const policy = <K extends "failureRate" | "slowCall" | "backoff" | "quorum">(
    key: K,
    check: (v: unknown, option: string) => NonNullable<CircuitConfig[K]>,
  ) => {
    if (o[key] === null) delete next[key];
    else if (o[key] !== undefined) next[key] = check(o[key], key);
  };
  policy("failureRate", checkFailureRate);
  policy("slowCall", checkSlowCall);
  policy("backoff", checkBackoff);
  policy("quorum", checkQuorum);
  return checkConfigCoherence(circuitConfig(next));
}
