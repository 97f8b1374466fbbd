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
 * What counts, `Retry-After`, circuit names, the default bounds and the validation of the options
 * are shared with `purgatory/undici` (http-rules.ts), so a request gets the same judgement through
 * either.
 *
 * The library is imported by its package name, which the build keeps external: dist/fetch.js
 * loads dist/index.js and dist/fetch.cjs loads dist/index.cjs, so the factory, `CircuitOpenError`
 * and `InvalidOptionError` are the package's own classes, never a second copy. The core never
 * imports this file.
 * @module
 */
import { InvalidOptionError, type AsyncCircuitBreakerFactory, type BreakerOptions, type RunOptions } from "purgatory";
// Bundled into this entry (a few lines, no class): its own followers, not the library's.
import { followAbort, unfollowAbort } from "../timing/abort-listeners.js";
import {
  DEFAULT_HTTP_LIMITS,
  checkHttpOptions,
  checkPassedOn,
  hostCircuitName,
  hostCircuits,
  httpRunOptions,
  isFailureStatus,
  retryAfterSeconds,
  type HttpIntegration,
  type PassedOn,
} from "./http-rules.js";

export { isFailureStatus, retryAfterSeconds } from "./http-rules.js";

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
 * The bounds of a `circuitFetch`'s circuits when its options give none: at most 1,000 hosts, each
 * forgotten after 600 s (10 minutes) without a request. The same object as `purgatory/undici`'s
 * `DEFAULT_HTTP_LIMITS`: both integrations share their rules (http-rules.ts), and its comment says
 * why these numbers.
 *
 * @example
 * ```ts
 * const fetch = circuitFetch(circuitbreaker, { maxCircuits: DEFAULT_FETCH_LIMITS.maxCircuits * 10 });
 * ```
 */
export const DEFAULT_FETCH_LIMITS: Readonly<{
  /** The most circuits (hosts) a `circuitFetch` holds: 1,000. */
  maxCircuits: number;
  /** Seconds after which a host with no request is forgotten: 600. */
  idleTtl: number;
}> = DEFAULT_HTTP_LIMITS;

/** What `circuitFetch` is, for the shared validation (http-rules.ts). */
const FETCH: HttpIntegration = {
  name: "circuitFetch",
  asyncBecause: "fetch returns promises",
  ownKeys: ["fetch", "fallback"],
  instead: {
    isFailure: '"isFailureStatus" (circuitFetch judges responses by status)',
    signal: "no signal here: each request's own, in init.signal",
  },
  functions: {
    fetch: "a fetch function (input, init) => Promise<Response>",
    circuitName: "a function (url, input, init) => circuit name",
    isFailureStatus: "a function (status, response) => boolean",
    clock: "a function returning epoch ms",
    fallback: "a function (error, url) => Response",
  },
};

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

/**
 * Each request's controller, alive as long as the signal `fetch` was given is, and as long as
 * the response's body is: Bun's and Deno's `fetch` let go of the signal once the response came,
 * and the caller's abort must still reach a body being read.
 */
const controllerOf = new WeakMap<object, AbortController>();
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

/** Sends the request with `signal`; a controller of its own is then kept alive by the response's body. */
function sendWith(
  send: FetchFunction,
  input: FetchInput,
  init: RequestInit | undefined,
  signal: AbortSignal,
): Promise<Response> {
  const sent = send(input, { ...init, signal });
  const controller = controllerOf.get(signal);
  if (controller === undefined) return sent;
  return sent.then((response) => {
    if (response.body !== null) controllerOf.set(response.body, controller);
    return response;
  });
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
  const o = checkHttpOptions(FETCH, factory, options) as CircuitFetchOptions<X>;
  const passed = checkPassedOn<Response, X>(factory, o, "purgatory/fetch");

  const send = o.fetch ?? defaultFetch;
  const nameOf = o.circuitName ?? hostCircuitName;
  const failing = o.isFailureStatus ?? isFailureStatus;
  const clock = o.clock ?? defaultClock;
  const fallback = o.fallback;
  // The hosts' own pool of circuits in the factory; with no bound at all, the factory's run.
  const circuits = hostCircuits(factory, o.maxCircuits, o.idleTtl);
  const base = httpRunOptions<Response, X>(
    passed,
    (response) => failing(response.status, response),
    o.retryAfter ?? ((response: Response) => retryAfterSeconds(response.headers.get("retry-after"), clock())),
    isResponse,
  );

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
    return circuits.run(name, (signal) => sendWith(send, input, init, requestSignal(signal, callerSignal)), options);
  };
}
