/**
 * The rules `purgatory/fetch` and `purgatory/undici` share, kept in one place so that a request
 * gets the same judgement through either: which statuses are failures, how a `Retry-After` header
 * reads, how a request names its circuit (its URL's `host`), the default bounds of a pool of hosts,
 * the breaker options both pass on, and the validation of the options both take (an
 * `InvalidOptionError` naming the option and its value).
 *
 * Bundled into each HTTP entry point; it imports the library by its package name (kept external by
 * the build), so the errors and the factory are the package's own classes.
 * @module
 */
import {
  InvalidOptionError,
  SyncCircuitBreakerFactory,
  type AsyncCircuitBreakerFactory,
  type BreakerOptions,
  type RunOptions,
} from "purgatory";

/**
 * The default failing statuses: 5xx (the server failed) and 429 (it asks us to slow down). Other
 * 4xx say the request was wrong, not that the server is unwell: successes for the circuit.
 *
 * @example
 * ```ts
 * const get = circuitFetch(circuitbreaker, { isFailureStatus: (status) => isFailureStatus(status) || status === 408 });
 * ```
 */
export function isFailureStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

/** `Retry-After` as delay-seconds: digits only (RFC 9110, section 10.2.3). */
const DELAY_SECONDS = /^\d+$/;
/** The obsolete asctime form of an HTTP-date, which carries no zone: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/**
 * The seconds a `Retry-After` header value asks for: delay-seconds (`"120"`), or an HTTP-date
 * (IMF-fixdate `"Wed, 21 Oct 2015 07:28:00 GMT"`, or the obsolete RFC 850 and asctime forms, all
 * in GMT) minus `now` (epoch ms). `undefined` for no value, a value that is neither, and a time
 * that is not in the future: nothing asked.
 *
 * @example
 * ```ts
 * retryAfterSeconds("120"); // 120
 * retryAfterSeconds("Wed, 21 Oct 2015 07:30:00 GMT", Date.parse("2015-10-21T07:28:00Z")); // 120
 * ```
 */
export function retryAfterSeconds(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (DELAY_SECONDS.test(text)) {
    const seconds = Number(text);
    return seconds > 0 ? seconds : undefined;
  }
  let at = Number.NaN;
  if (text.endsWith(" GMT")) at = Date.parse(text);
  else if (ASCTIME.test(text)) at = Date.parse(`${text} GMT`);
  const seconds = (at - now) / 1000;
  return seconds > 0 ? seconds : undefined;
}

/**
 * One header's value as `Headers.get` gives it: a repeated header (an array, as undici and
 * node:http hand it) joined with `", "`, so that both entry points read the same text.
 */
export function headerText(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined || typeof value === "string") return value;
  return value.join(", ");
}

/**
 * The circuit of a URL by default: its `host` (`"api.example.com"`, `"127.0.0.1:8080"`: the port
 * is part of it unless it is the scheme's default), or its protocol (`"data:"`) for a URL without
 * a host.
 */
export const hostCircuitName = (url: URL): string => url.host || url.protocol;

/**
 * The bounds of an HTTP integration's circuits when its options give none: at most 1,000 hosts,
 * each forgotten after 600 s (10 minutes) without a request. A thousand hosts called within ten
 * minutes is more than most services ever call; at about 25 Prometheus series per circuit it is
 * also about as many series as a scrape should carry. Raise it (or pass `null`) for a webhook
 * sender that calls many more.
 *
 * @example
 * ```ts
 * const fetch = circuitFetch(circuitbreaker, { maxCircuits: DEFAULT_HTTP_LIMITS.maxCircuits * 10 });
 * ```
 */
export const DEFAULT_HTTP_LIMITS: Readonly<{
  /** The most circuits (hosts) an integration holds: 1,000. */
  maxCircuits: number;
  /** Seconds after which a host with no request is forgotten: 600. */
  idleTtl: number;
}> = Object.freeze({
  maxCircuits: 1_000,
  idleTtl: 600,
});

/** The options of `BreakerOptions` that the HTTP integrations pass on to the circuit of every host. */
export type PassedOn =
  "threshold" | "ttl" | "halfOpenMaxCalls" | "failureRate" | "slowCall" | "backoff" | "exclude" | "timeout";

/** The keys of `PassedOn`, in the order the error messages list them. */
export const PASSED_KEYS: readonly PassedOn[] = [
  "threshold",
  "ttl",
  "halfOpenMaxCalls",
  "failureRate",
  "slowCall",
  "backoff",
  "exclude",
  "timeout",
];

/** The options every HTTP integration takes besides those it passes on (each adds its own). */
export const SHARED_KEYS = ["circuitName", "isFailureStatus", "retryAfter", "clock", "maxCircuits", "idleTtl"] as const;

/** What an HTTP integration is, for its validation messages. */
export interface HttpIntegration {
  /** The function users call: `"circuitFetch"`, `"circuitBreaker"`. */
  readonly name: string;
  /** Why the factory must be an async one, said in the `factory` error. */
  readonly asyncBecause: string;
  /** The keys it takes of its own, beyond `SHARED_KEYS` and `PASSED_KEYS`. */
  readonly ownKeys: readonly string[];
  /** Keys that mean something else here, with what to use instead. */
  readonly instead: Readonly<Record<string, string>>;
  /** What its function options expect, by key: `"a function (status, response) => boolean"`. */
  readonly functions: Readonly<Record<string, string>>;
}

/** Throws an `InvalidOptionError` unless `options[key]` is a function or absent. */
function checkFunction(options: Readonly<Record<string, unknown>>, key: string, expected: string): void {
  const value = options[key];
  if (value !== undefined && typeof value !== "function") throw new InvalidOptionError(key, value, expected);
}

/**
 * Validates what an HTTP integration checks itself: the factory (an `AsyncCircuitBreakerFactory`),
 * the options object, its keys (an unknown key is a mistake: the message names a near miss, or
 * what to use instead, or every key taken), its function options, `retryAfter`, `maxCircuits` and
 * `idleTtl`. The options it passes on to the breakers are the factory's to check
 * (`checkPassedOn`).
 */
export function checkHttpOptions(
  integration: HttpIntegration,
  factory: unknown,
  options: unknown,
): Readonly<Record<string, unknown>> {
  if (
    factory instanceof SyncCircuitBreakerFactory ||
    typeof (factory as { run?: unknown } | null)?.run !== "function" ||
    typeof (factory as { pool?: unknown } | null)?.pool !== "function"
  ) {
    throw new InvalidOptionError("factory", factory, `an AsyncCircuitBreakerFactory (${integration.asyncBecause})`);
  }
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidOptionError("options", options, "an options object");
  }
  const o = options as Readonly<Record<string, unknown>>;
  const known: readonly string[] = [...integration.ownKeys, ...SHARED_KEYS, ...PASSED_KEYS];
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    const expected =
      integration.instead[key] ??
      (near === undefined
        ? `an option of ${integration.name}, one of ${known.map((k) => `"${k}"`).join(", ")}`
        : `"${near}"`);
    throw new InvalidOptionError(key, o[key], expected);
  }
  for (const [key, expected] of Object.entries(integration.functions)) checkFunction(o, key, expected);
  if (o.retryAfter !== undefined && o.retryAfter !== false && typeof o.retryAfter !== "function") {
    throw new InvalidOptionError("retryAfter", o.retryAfter, "false, or a function (response) => seconds or undefined");
  }
  const { maxCircuits, idleTtl } = o;
  if (
    maxCircuits !== undefined &&
    maxCircuits !== null &&
    !(typeof maxCircuits === "number" && Number.isSafeInteger(maxCircuits) && maxCircuits >= 1)
  ) {
    throw new InvalidOptionError("maxCircuits", maxCircuits, "an integer >= 1, or null for no bound");
  }
  if (
    idleTtl !== undefined &&
    idleTtl !== null &&
    !(typeof idleTtl === "number" && Number.isFinite(idleTtl) && idleTtl > 0)
  ) {
    throw new InvalidOptionError("idleTtl", idleTtl, "a finite number of seconds > 0, or null for never");
  }
  return o;
}

/**
 * The breaker options among `options`, checked by `factory` as it checks its own calls' (bounds,
 * exclude entries, policies), naming the option and the value: `decorate` does so at once and
 * registers no circuit (the decorator it returns is dropped).
 */
export function checkPassedOn<R, X extends readonly unknown[]>(
  factory: AsyncCircuitBreakerFactory,
  options: Readonly<Partial<Record<PassedOn, unknown>>>,
  label: string,
): Pick<BreakerOptions<R, X>, PassedOn> {
  const passed = Object.fromEntries(
    PASSED_KEYS.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]),
  ) as Pick<BreakerOptions<R, X>, PassedOn>;
  factory.decorate(label, passed);
  return passed;
}

/** A runner of calls on circuits named by others: the factory, or a bounded pool of its circuits. */
export type HostCircuits = Pick<AsyncCircuitBreakerFactory, "run">;

/**
 * The circuits of an integration's hosts: a pool of `factory` bounded by `maxCircuits` and
 * `idleTtl` (`undefined`: the defaults, `DEFAULT_HTTP_LIMITS`), or the factory itself when both
 * are `null`.
 */
export function hostCircuits(
  factory: AsyncCircuitBreakerFactory,
  maxCircuits: number | null | undefined,
  idleTtl: number | null | undefined,
): HostCircuits {
  const max = maxCircuits === undefined ? DEFAULT_HTTP_LIMITS.maxCircuits : maxCircuits;
  const idle = idleTtl === undefined ? DEFAULT_HTTP_LIMITS.idleTtl : idleTtl;
  return max === null && idle === null ? factory : factory.pool(max, idle);
}

/**
 * The call options every request of an integration runs with: the breaker options it passes on,
 * `isFailure` from the response's status (`failing`), and `retryAfter` from a failing response
 * (`secondsOf`; an error asks for nothing; `false`: never). `isResponse` tells a response from an
 * error among the failures.
 */
export function httpRunOptions<R, X extends readonly unknown[]>(
  passed: Pick<BreakerOptions<R, X>, PassedOn>,
  failing: (response: R) => boolean,
  secondsOf: false | ((response: R) => number | undefined),
  isResponse: (failure: unknown) => failure is R,
): RunOptions<R, X, R> {
  return {
    ...passed,
    isFailure: failing,
    // Called with each counted failure: a flagged response, or an error (which asks for nothing).
    ...(secondsOf === false
      ? {}
      : { retryAfter: (failure: unknown) => (isResponse(failure) ? secondsOf(failure) : undefined) }),
  };
}
