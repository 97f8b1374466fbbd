/**
 * `purgatory/fetch`: a `fetch` whose requests run under the circuit of their host.
 *
 * An HTTP error is no rejection for `fetch`, so the circuit judges responses by status (5xx and
 * 429 are failures, other statuses successes) and still hands every response to its caller; a
 * network error (a rejection) is a failure. A failing response's `Retry-After` is the least time
 * its circuit stays opened (`BreakerOptions.retryAfter`).
 *
 * The hosts of URLs are chosen by whoever writes the URLs (a user's webhook, a redirect), so the
 * circuits of a `circuitFetch` are bounded by default: at most `maxCircuits` (1,000), each forgotten
 * once unused for `idleTtl` (600 s), apart from the factory's other circuits.
 *
 * The library is imported by its package name, which the build keeps external: dist/fetch.js
 * loads dist/index.js and dist/fetch.cjs loads dist/index.cjs, so the factory, `CircuitOpenError`
 * and `InvalidOptionError` are the package's own classes, never a second copy. The core never
 * imports this file.
 * @module
 */
import {
  InvalidOptionError,
  SyncCircuitBreakerFactory,
  type AsyncCircuitBreakerFactory,
  type BreakerOptions,
  type RunOptions,
} from "purgatory";
// Bundled into this entry (a few lines, no class): its own followers, not the library's.
import { followAbort, unfollowAbort } from "../timing/abort-listeners.js";

/** What `fetch` takes as its first argument: a URL string, a `URL` or a `Request`. */
export type FetchInput = string | URL | Request;

/**
 * A function with the signature of the global `fetch`: what `circuitFetch` returns, and what its
 * `fetch` option takes.
 *
 * @example
 * ```ts
 * const get: FetchFunction = circuitFetch(circuitbreaker);
 * const res = await get("https://api.example.com/items", { headers: { accept: "application/json" } });
 * ```
 */
export type FetchFunction = (input: FetchInput, init?: RequestInit) => Promise<Response>;

/** The options of `BreakerOptions` that `circuitFetch` passes on to the circuit of every host. */
type PassedOn =
  "threshold" | "ttl" | "halfOpenMaxCalls" | "failureRate" | "slowCall" | "backoff" | "exclude" | "timeout";

/**
 * Options of `circuitFetch`. `threshold`, `ttl`, `halfOpenMaxCalls`, `failureRate`, `slowCall`,
 * `backoff`, `exclude` and `timeout` are the `BreakerOptions` of the same names, given to the
 * circuit of every host: the circuit parameters configure a circuit when a request registers it
 * (later ones do not change it), `exclude` and `timeout` apply to each request. `X` types the
 * predicates of `exclude` by their classes, inferred.
 *
 * @example
 * ```ts
 * const get = circuitFetch(circuitbreaker, {
 *   threshold: 3, ttl: 10, timeout: 5,
 *   isFailureStatus: (status) => status >= 500,
 *   fallback: (error, url) => new Response(cache.get(url.href) ?? null, { status: 503 }),
 * });
 * ```
 */
export interface CircuitFetchOptions<X extends readonly unknown[] = readonly unknown[]> extends Pick<
  BreakerOptions<Response, X>,
  PassedOn
> {
  /**
   * The `fetch` that sends the requests. Default: `globalThis.fetch`, looked up on each request
   * (a stub installed later is used).
   */
  readonly fetch?: FetchFunction;
  /**
   * The circuit of a request. Default: the URL's `host` (`"api.example.com"`,
   * `"127.0.0.1:8080"`: the port is part of it unless it is the scheme's default), or its
   * protocol (`"data:"`) for a URL without a host. Must return a non-empty string; the request
   * rejects with an `InvalidOptionError` otherwise, and with what it throws if it throws.
   *
   * @example
   * ```ts
   * circuitName: (url) => `${url.host}${url.pathname.split("/", 2).join("/")}` // one per host and first path segment
   * ```
   */
  readonly circuitName?: (url: URL, input: FetchInput, init: RequestInit | undefined) => string;
  /**
   * The statuses that are failures for the circuit. Default `isFailureStatus` (5xx and 429); a
   * status for which it returns `false` is a success (resets a failure count, closes a
   * half-opened circuit). Either way the caller gets the response. Replaces the factory's
   * `isFailure` for these requests.
   */
  readonly isFailureStatus?: (status: number, response: Response) => boolean;
  /**
   * The seconds a failing response asks its circuit to stay opened at least. Default: its
   * `Retry-After` header, read by `retryAfterSeconds` (delay-seconds or an HTTP-date, against
   * `clock`). `false` ignores the header. The library caps it at one hour.
   */
  readonly retryAfter?: false | ((response: Response) => number | undefined);
  /**
   * Current time in epoch ms, for a `Retry-After` that is an HTTP-date. Default
   * `() => Date.now()`. Give it the factory's `clock` when the factory has one (tests).
   */
  readonly clock?: () => number;
  /**
   * The most circuits (hosts) this `circuitFetch` holds: an integer >= 1, or `null` for no bound of
   * its own. Default `DEFAULT_FETCH_LIMITS.maxCircuits` (1,000). A request to a new host past it
   * makes room by forgetting this `circuitFetch`'s least recently used host whose circuit is closed
   * and has no request in flight (`circuit_forgotten`, reason `"limit"`); if none can go (every
   * one opened, half-opened, isolated, disabled or busy), it rejects with `CircuitLimitError`
   * without being sent. Hosts are counted apart from the factory's other circuits, which a flood
   * of hosts never pushes out; the factory's own `maxCircuits`, if set, bounds them all.
   *
   * @example
   * ```ts
   * const webhooks = circuitFetch(circuitbreaker, { maxCircuits: 20_000, idleTtl: 3_600 });
   * ```
   */
  readonly maxCircuits?: number | null;
  /**
   * Seconds after which a host with no request is forgotten (finite > 0), or `null` for never.
   * Default `DEFAULT_FETCH_LIMITS.idleTtl` (600). Checked when a request to a new host comes, at
   * most once a second; an opened circuit stays until its ttl is over.
   */
  readonly idleTtl?: number | null;
  /**
   * What a request resolves with instead of failing: called with the `CircuitOpenError` (the
   * circuit is opened), the `CallTimeoutError` or a network error (counted first), and the
   * request's URL. Not called for failing statuses (the caller gets the response), nor for a
   * cancelled request. If it throws (or rejects), the request rejects with that.
   */
  readonly fallback?: (error: unknown, url: URL) => Response | PromiseLike<Response>;
}

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
 * The bounds of a `circuitFetch`'s circuits when its options give none: at most 1,000 hosts, each
 * forgotten after 600 s (10 minutes) without a request. A thousand hosts called within ten minutes
 * is more than most services ever call; at about 25 Prometheus series per circuit it is also about
 * as many series as a scrape should carry. Raise it (or pass `null`) for a webhook sender that
 * calls many more.
 *
 * @example
 * ```ts
 * const fetch = circuitFetch(circuitbreaker, { maxCircuits: DEFAULT_FETCH_LIMITS.maxCircuits * 10 });
 * ```
 */
export const DEFAULT_FETCH_LIMITS: Readonly<{ maxCircuits: number; idleTtl: number }> = Object.freeze({
  maxCircuits: 1_000,
  idleTtl: 600,
});

/** The keys `circuitFetch` takes, own and passed on: an unknown key is a mistake. */
const OWN_KEYS = [
  "fetch",
  "circuitName",
  "isFailureStatus",
  "retryAfter",
  "clock",
  "fallback",
  "maxCircuits",
  "idleTtl",
] as const;
const PASSED_KEYS: readonly PassedOn[] = [
  "threshold",
  "ttl",
  "halfOpenMaxCalls",
  "failureRate",
  "slowCall",
  "backoff",
  "exclude",
  "timeout",
];
/** Keys of `BreakerOptions` that mean something else here: what to use instead. */
const INSTEAD: Record<string, string> = {
  isFailure: '"isFailureStatus" (circuitFetch judges responses by status)',
  signal: "no signal here: each request's own, in init.signal",
};

/** The circuit name of a URL without a host (`data:`): its protocol. */
const defaultName = (url: URL): string => url.host || url.protocol;
const defaultFetch: FetchFunction = (input, init) => globalThis.fetch(input, init);
const defaultClock = (): number => Date.now();

/** Whether `value` looks like a `Response` (of any `fetch` implementation, so not by `instanceof`). */
function isResponse(value: unknown): value is Response {
  const response = value as Partial<Response> | null;
  return (
    typeof response === "object" &&
    response !== null &&
    typeof response.status === "number" &&
    typeof response.headers?.get === "function"
  );
}

/**
 * The URL string of what `fetch` was given: a `Request`'s `url` (of any `fetch` implementation,
 * so not by `instanceof`), anything else as a string, as `fetch` reads it.
 */
function urlOf(input: FetchInput): string {
  if (typeof input === "string") return input;
  if (input instanceof URL) return input.href;
  const other: unknown = input;
  const url = (other as Partial<Request> | null)?.url;
  return typeof url === "string" ? url : String(other);
}

/** The caller's signal: `init.signal`, else a `Request`'s own (which `init.signal` replaces, as in `fetch`). */
function callerSignalOf(input: FetchInput, init: RequestInit | undefined): AbortSignal | undefined {
  if (init?.signal != null) return init.signal;
  const signal = (input as Partial<Request> | null)?.signal;
  return typeof signal === "object" && signal !== null ? signal : undefined;
}

/** Each request's controller, alive as long as the signal `fetch` was given is. */
const controllerOf = new WeakMap<AbortSignal, AbortController>();
/** Stops a request following its caller's signal once its controller is collected. */
const unfollow = new FinalizationRegistry<{ readonly signal: AbortSignal; readonly listener: () => void }>(
  ({ signal, listener }) => unfollowAbort(signal, listener),
);

/**
 * Makes `controller` abort with `callerSignal`, holding it weakly: the caller's signal keeps one
 * listener for every call that follows it, and the entry of a request whose controller was
 * collected goes.
 */
function follow(callerSignal: AbortSignal, controller: AbortController): void {
  const ref = new WeakRef(controller);
  const listener = (): void => ref.deref()?.abort(callerSignal.reason);
  followAbort(callerSignal, listener);
  unfollow.register(controller, { signal: callerSignal, listener });
}

/**
 * The signal the request is sent with: the guarded call's, which aborts on timeout and on the
 * caller's cancellation while the call runs, joined (when it is another: with a `timeout`) with the
 * caller's own, so that the caller can still abort reading the body afterwards, as with `fetch`.
 *
 * Not with `AbortSignal.any`: a caller's signal often outlives its requests by far (a server's
 * shutdown signal, given to every request), and Node keeps an entry per signal made from it until
 * it is collected or aborts, a leak of every request. Nor with a listener per request on the
 * caller's signal, removed once the request is over: the request is over only once its body has
 * been read, which nothing tells short of wrapping the response (which would no longer be the one
 * `fetch` made), and a listener left for each response whose body is never read to the end is
 * the same leak (Node also scans a signal's listeners on each one added, and warns past ten). So
 * the request gets a controller of its own that follows both signals: the call's with a plain
 * listener (the call's signal lasts as long as the call, and holds the controller as long), the
 * caller's through `follow`, weakly. The controller then lives as long as the signal given to
 * `fetch` (`controllerOf`), which a `fetch` holds while it listens to it, to stop listening once
 * done (Node's does as long as the request it made of it is alive): the caller's abort reaches the
 * request while its response is awaited and while its body is read; once `fetch` has let go of
 * the signal, the controller and its entry among the caller signal's followers are collected.
 */
function requestSignal(callSignal: AbortSignal, callerSignal: AbortSignal | undefined): AbortSignal {
  if (callerSignal === undefined || callerSignal === callSignal) return callSignal;
  const controller = new AbortController();
  const signal = controller.signal;
  if (callerSignal.aborted) controller.abort(callerSignal.reason);
  else if (callSignal.aborted) controller.abort(callSignal.reason);
  else {
    callSignal.addEventListener("abort", () => controller.abort(callSignal.reason), { once: true });
    controllerOf.set(signal, controller);
    follow(callerSignal, controller);
  }
  return signal;
}

function checkFunction(options: Readonly<Record<string, unknown>>, key: string, expected: string): void {
  const value = options[key];
  if (value !== undefined && typeof value !== "function") throw new InvalidOptionError(key, value, expected);
}

/** Validates what `circuitFetch` checks itself: the factory, the keys and its own options. */
function checkOptions(factory: unknown, options: unknown): Readonly<Record<string, unknown>> {
  if (
    factory instanceof SyncCircuitBreakerFactory ||
    typeof (factory as { run?: unknown } | null)?.run !== "function" ||
    typeof (factory as { pool?: unknown } | null)?.pool !== "function"
  ) {
    throw new InvalidOptionError("factory", factory, "an AsyncCircuitBreakerFactory (fetch returns promises)");
  }
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidOptionError("options", options, "an options object");
  }
  const o = options as Readonly<Record<string, unknown>>;
  const known: readonly string[] = [...OWN_KEYS, ...PASSED_KEYS];
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    const expected =
      INSTEAD[key] ??
      (near === undefined ? `an option of circuitFetch, one of ${known.map((k) => `"${k}"`).join(", ")}` : `"${near}"`);
    throw new InvalidOptionError(key, o[key], expected);
  }
  checkFunction(o, "fetch", "a fetch function (input, init) => Promise<Response>");
  checkFunction(o, "circuitName", "a function (url, input, init) => circuit name");
  checkFunction(o, "isFailureStatus", "a function (status, response) => boolean");
  checkFunction(o, "clock", "a function returning epoch ms");
  checkFunction(o, "fallback", "a function (error, url) => Response");
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
 * A `fetch` that runs each request under the circuit of its host, on `factory`:
 *
 * - a response whose status `isFailureStatus` flags (5xx and 429 by default) is a failure, any
 *   other a success; the caller gets every response, with its body unread;
 * - a network error (`fetch` rejects with a `TypeError`) is a failure, and rejects as `fetch` does;
 * - a failing response's `Retry-After` keeps an opening it causes for at least that long (the
 *   `CircuitOpenError`'s `retryAfterMs` tells it);
 * - while the circuit is opened, a request rejects with `CircuitOpenError` without being sent
 *   (unless `fallback` answers);
 * - `init.signal` (or a `Request`'s own signal) cancels a request: it rejects with the signal's
 *   reason and counts nothing; `timeout` (seconds, until the response's headers) aborts a request
 *   and counts a failure (`CallTimeoutError`).
 *
 * - its circuits are bounded: at most `maxCircuits` hosts (default 1,000), each forgotten after
 *   `idleTtl` seconds without a request (default 600); past the bound a request to a new host
 *   forgets the least recently used closed, idle one, or rejects with `CircuitLimitError` when
 *   none can go.
 *
 * Options are validated at once: a bad one throws an `InvalidOptionError` naming it and its value.
 * Requests are never retried.
 *
 * @example
 * ```ts
 * import { AsyncCircuitBreakerFactory, CircuitOpenError } from "purgatory";
 * import { circuitFetch } from "purgatory/fetch";
 *
 * const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 5, defaultTtl: 30 });
 * const fetch = circuitFetch(circuitbreaker, { timeout: 10 });
 * const res = await fetch("https://api.example.com/items"); // a 503 resolves, and counts
 * ```
 */
export function circuitFetch<X extends readonly unknown[] = readonly unknown[]>(
  factory: AsyncCircuitBreakerFactory,
  options?: CircuitFetchOptions<X>,
): FetchFunction {
  const o = checkOptions(factory, options) as CircuitFetchOptions<X>;
  const passed: Pick<BreakerOptions<Response, X>, PassedOn> = Object.fromEntries(
    PASSED_KEYS.filter((key) => o[key] !== undefined).map((key) => [key, o[key]]),
  );
  // The factory validates the options it takes (bounds, exclude entries, policies) as it does for
  // its own calls, naming the option and the value; `decorate` does so at once, and registers no
  // circuit (the decorator it returns is dropped).
  factory.decorate("purgatory/fetch", passed);

  const send = o.fetch ?? defaultFetch;
  const nameOf = o.circuitName ?? defaultName;
  const failing = o.isFailureStatus ?? isFailureStatus;
  const clock = o.clock ?? defaultClock;
  const secondsOf =
    o.retryAfter ?? ((response: Response) => retryAfterSeconds(response.headers.get("retry-after"), clock()));
  const fallback = o.fallback;
  const maxCircuits = o.maxCircuits === undefined ? DEFAULT_FETCH_LIMITS.maxCircuits : o.maxCircuits;
  const idleTtl = o.idleTtl === undefined ? DEFAULT_FETCH_LIMITS.idleTtl : o.idleTtl;
  // The hosts' own pool of circuits in the factory; with no bound at all, the factory's run.
  const circuits = maxCircuits === null && idleTtl === null ? factory : factory.pool(maxCircuits, idleTtl);
  const base: RunOptions<Response, X, Response> = {
    ...passed,
    isFailure: (response) => failing(response.status, response),
    // Called with each counted failure: a flagged response, or an error (which asks for nothing).
    ...(secondsOf === false
      ? {}
      : { retryAfter: (failure: unknown) => (isResponse(failure) ? secondsOf(failure) : undefined) }),
  };

  return (input, init) => {
    let url: URL;
    let name: unknown;
    try {
      url = new URL(urlOf(input)); // a relative URL or a bad one rejects with a TypeError, as in fetch
      name = nameOf(url, input, init);
    } catch (error) {
      return Promise.reject(error);
    }
    if (typeof name !== "string" || name.length === 0) {
      return Promise.reject(
        new InvalidOptionError("circuitName", name, "a function returning a non-empty string circuit name"),
      );
    }
    const callerSignal = callerSignalOf(input, init);
    const options: RunOptions<Response, X, Response> =
      callerSignal === undefined && fallback === undefined
        ? base
        : {
            ...base,
            ...(callerSignal === undefined ? {} : { signal: callerSignal }),
            ...(fallback === undefined ? {} : { fallback: (error: unknown) => fallback(error, url) }),
          };
    return circuits.run(
      name,
      (signal) => send(input, { ...init, signal: requestSignal(signal, callerSignal) }),
      options,
    );
  };
}
