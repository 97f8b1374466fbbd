/**
 * The generic checks of options and arguments: each throws an `InvalidOptionError` that names the
 * option and the value, at once, never falling back to a silent default; and the bounds of
 * circuit options (docs/options.md, "Bounds").
 * @module
 */
import { describeValue, InvalidOptionError, quote } from "../errors.js";

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

export function checkObject(value: unknown, option: string): object {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(option, value, "an options object");
  }
  return value;
}

/**
 * The bounds of circuit options, documented in docs/options.md ("Bounds"). Values outside are mistakes
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

export function checkFunction<F>(value: unknown, option: string, what: string): F {
  if (typeof value !== "function") throw new InvalidOptionError(option, value, what);
  return value as F;
}
