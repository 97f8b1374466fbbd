/**
 * `purgatory/undici`: an undici interceptor that runs each request under the circuit of its host.
 *
 * `circuitBreaker(factory, options?)` composes onto an undici `Agent` (`new Agent().compose(...)`),
 * and that agent, made the global dispatcher, guards every `fetch` of the process. The rules are
 * `purgatory/fetch`'s, from one place (http-rules.ts): a response head whose status is a failure
 * (5xx and 429) counts as one and still reaches the caller; an error before the response head
 * (refused, reset, undici's own timeouts) counts; `timeout` aborts a request still waiting for its
 * response head and counts; a failing response's `Retry-After` keeps the circuit opened at least
 * that long; the caller's abort (the controller's `abort`, as an `AbortSignal` of `request` or
 * `fetch` does) counts nothing. An opened circuit rejects a request before it is sent, through the
 * handler's `onResponseError`, with `CircuitOpenError`.
 *
 * It follows the handler API of undici 7 and later (`onRequestStart`, `onResponseStart`,
 * `onResponseData`, `onResponseEnd`, `onResponseError`): `compose` hands an interceptor that API
 * whatever the caller's handler speaks. It needs nothing of undici at run time (its types only),
 * and imports the library by its package name, kept external by the build.
 *
 * Past 400 lines, mostly TSDoc: the options, and one request's state machine (`GuardedRequest`,
 * with the controller it hands the caller), which reads best whole.
 * @module
 */
import type { Dispatcher } from "undici";
import { InvalidOptionError, type AsyncCircuitBreakerFactory, type BreakerOptions, type RunOptions } from "purgatory";
import {
  DEFAULT_HTTP_LIMITS,
  checkHttpOptions,
  checkPassedOn,
  headerText,
  hostCircuitName,
  hostCircuits,
  httpRunOptions,
  isFailureStatus,
  retryAfterSeconds,
  type HostCircuits,
  type HttpIntegration,
  type PassedOn,
} from "./http-rules.js";

export { DEFAULT_HTTP_LIMITS, isFailureStatus, retryAfterSeconds };

/** The headers of a response head, as undici parses them: lower-case names, repeated ones as arrays. */
export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * What the circuit judges a request by: the status and headers of its response head (the final
 * one: 1xx heads are passed on, not judged), and the request's dispatch options.
 *
 * @example
 * ```ts
 * const isFailure = (status: number, head: UndiciResponseHead): boolean =>
 *   status >= 500 || (status === 404 && head.request.path.startsWith("/health"));
 * ```
 */
export interface UndiciResponseHead {
  /** The response's status. */
  readonly statusCode: number;
  /** The response's headers. */
  readonly headers: ResponseHeaders;
  /** The request, as it was dispatched (`origin`, `path`, `method`, `headers`...). */
  readonly request: Dispatcher.DispatchOptions;
}

/**
 * Options of `circuitBreaker`. `threshold`, `ttl`, `halfOpenMaxCalls`, `failureRate`, `slowCall`,
 * `backoff`, `exclude` and `timeout` are the `BreakerOptions` of the same names, given to the
 * circuit of every host, as `purgatory/fetch` does: the circuit parameters configure a circuit when
 * a request registers it, `exclude` and `timeout` apply to each request (`timeout`: seconds until
 * the response head). `X` types the predicates of `exclude` by their classes, inferred.
 *
 * @example
 * ```ts
 * const options: CircuitBreakerInterceptorOptions = { threshold: 3, ttl: 10, timeout: 5 };
 * ```
 */
export interface CircuitBreakerInterceptorOptions<X extends readonly unknown[] = readonly unknown[]> extends Pick<
  BreakerOptions<UndiciResponseHead, X>,
  PassedOn
> {
  /**
   * The circuit of a request, given its URL (`origin` + `path`) and its dispatch options. Default:
   * the origin's `host` (`"api.example.com"`, `"127.0.0.1:8080"`), as `purgatory/fetch` names
   * them. Must return a non-empty string; the request fails with an `InvalidOptionError`
   * otherwise, and with what it throws if it throws, without being sent.
   *
   * @example
   * ```ts
   * circuitName: (url) => `${url.host}${url.pathname.split("/", 2).join("/")}` // per host and first path segment
   * ```
   */
  readonly circuitName?: (url: URL, request: Dispatcher.DispatchOptions) => string;
  /**
   * The statuses that are failures for the circuit. Default `isFailureStatus` (5xx and 429); a
   * status for which it returns `false` is a success. Either way the response reaches the caller.
   */
  readonly isFailureStatus?: (status: number, response: UndiciResponseHead) => boolean;
  /**
   * The seconds a failing response asks its circuit to stay opened at least. Default: its
   * `Retry-After` header, read by `retryAfterSeconds` (delay-seconds or an HTTP-date, against
   * `clock`). `false` ignores the header. The library caps it at one hour.
   */
  readonly retryAfter?: false | ((response: UndiciResponseHead) => number | undefined);
  /** Current time in epoch ms, for a `Retry-After` that is an HTTP-date. Default `() => Date.now()`. */
  readonly clock?: () => number;
  /**
   * The most circuits (hosts) this interceptor holds: an integer >= 1, or `null` for no bound of
   * its own. Default `DEFAULT_HTTP_LIMITS.maxCircuits` (1,000). Past it, a request to a new host
   * forgets the least recently used closed host with no request in flight, or fails with
   * `CircuitLimitError` without being sent. As in `purgatory/fetch`.
   */
  readonly maxCircuits?: number | null;
  /**
   * Seconds after which a host with no request is forgotten (finite > 0), or `null` for never.
   * Default `DEFAULT_HTTP_LIMITS.idleTtl` (600).
   */
  readonly idleTtl?: number | null;
}

/** What `circuitBreaker` is, for the shared validation (http-rules.ts). */
const UNDICI: HttpIntegration = {
  name: "circuitBreaker",
  asyncBecause: "undici dispatches asynchronously",
  ownKeys: [],
  instead: {
    isFailure: '"isFailureStatus" (circuitBreaker judges response heads by status)',
    signal: "no signal here: each request's own (request's or fetch's signal option)",
    fallback: "no fallback here: catch the CircuitOpenError (fetch: its cause) where the request is made",
    fetch: "no fetch here: the interceptor guards what the dispatcher sends (fetch included)",
  },
  functions: {
    circuitName: "a function (url, request) => circuit name",
    isFailureStatus: "a function (status, response) => boolean",
    clock: "a function returning epoch ms",
  },
};

const defaultClock = (): number => Date.now();

/** The response head a request resolves its guarded call with. */
class ResponseHead implements UndiciResponseHead {
  constructor(
    readonly statusCode: number,
    readonly headers: ResponseHeaders,
    readonly request: Dispatcher.DispatchOptions,
  ) {}
}

const isHead = (value: unknown): value is ResponseHead => value instanceof ResponseHead;

/** The circuit of a request with no `circuitName` option: its origin's host. */
function defaultName(request: Dispatcher.DispatchOptions): string {
  const { origin } = request;
  const url = origin instanceof URL ? origin : new URL(checkOrigin(origin));
  return hostCircuitName(url);
}

/** The request's origin, which names its circuit: an `Agent`'s requests carry one. */
function checkOrigin(origin: unknown): string {
  if (typeof origin === "string" && origin.length > 0) return origin;
  throw new InvalidOptionError(
    "origin",
    origin,
    "the request's origin (compose circuitBreaker on an Agent, whose requests carry one, or give each request its origin)",
  );
}

/** The URL a request is sent to: its origin and path. */
function requestUrl(request: Dispatcher.DispatchOptions): URL {
  const { origin } = request;
  return new URL(request.path, origin instanceof URL ? origin : checkOrigin(origin));
}

/** Where a request is: waiting for its circuit, sent, receiving its response, or over for its caller. */
type Phase = "admitting" | "sent" | "responding" | "done";

/**
 * The controller the caller's handler holds. Before the request reached the dispatcher below (or
 * when it never will), it is aborted with the reason the caller got; after, it is the dispatcher's,
 * except that `abort` first tells the circuit the caller cancelled (nothing counts).
 */
class RequestController implements Dispatcher.DispatchController {
  /** The controller of the dispatcher below, once it started the request. */
  downstream: Dispatcher.DispatchController | null = null;
  /** Why the request ended before the dispatcher below could say so. */
  ended: Error | null = null;
  readonly #cancel: (reason: Error) => void;

  constructor(cancel: (reason: Error) => void) {
    this.#cancel = cancel;
  }

  get aborted(): boolean {
    return this.ended !== null || this.downstream?.aborted === true;
  }
  get paused(): boolean {
    return this.downstream?.paused === true;
  }
  get reason(): Error | null {
    return this.ended ?? this.downstream?.reason ?? null;
  }
  get rawHeaders(): NonNullable<Dispatcher.DispatchController["rawHeaders"]> | null {
    return this.downstream?.rawHeaders ?? null;
  }
  get rawTrailers(): NonNullable<Dispatcher.DispatchController["rawTrailers"]> | null {
    return this.downstream?.rawTrailers ?? null;
  }
  abort(reason: Error): void {
    this.#cancel(reason);
  }
  pause(): void {
    this.downstream?.pause();
  }
  resume(): void {
    this.downstream?.resume();
  }
}

/**
 * One request under its circuit: the handler the dispatcher below calls, passing everything on to
 * the caller's handler, and the guarded call's function, which settles with the response head
 * (a success or a failing status) or the error before it (a failure).
 */
class GuardedRequest implements Dispatcher.DispatchHandler {
  #phase: Phase = "admitting";
  #resolve: ((head: ResponseHead) => void) | null = null;
  #reject: ((error: unknown) => void) | null = null;
  /** The caller's cancellation, the guarded call's `signal`: an abort counts nothing. */
  readonly cancellation = new AbortController();
  readonly #controller = new RequestController((reason) => this.#cancelled(reason));
  readonly #dispatch: Dispatcher.Dispatch;
  readonly #request: Dispatcher.DispatchOptions;
  readonly #handler: Dispatcher.DispatchHandler;

  constructor(dispatch: Dispatcher.Dispatch, request: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.#dispatch = dispatch;
    this.#request = request;
    this.#handler = handler;
  }

  /** Runs the request on circuit `name` of `circuits`. */
  run<X extends readonly unknown[]>(circuits: HostCircuits, name: string, options: RunOptions<ResponseHead, X>): void {
    circuits.run(name, this.#send, options).then(undefined, this.#notSent);
  }

  /** Fails the request without sending it, as the circuit would have (after `dispatch` returned). */
  refuse(error: unknown): void {
    queueMicrotask(() => this.#notSent(error));
  }

  /** The guarded call: sends the request, settles with its response head or the error before it. */
  readonly #send = (signal: AbortSignal): Promise<ResponseHead> =>
    new Promise<ResponseHead>((resolve, reject) => {
      this.#phase = "sent";
      this.#resolve = resolve;
      this.#reject = reject;
      signal.addEventListener("abort", () => this.#aborted(signal.reason), { once: true });
      try {
        this.#dispatch(this.#request, this);
      } catch (error) {
        this.onResponseError(null, error as Error);
      }
    });

  /** The circuit did not send the request (opened, full, a bad name...): the caller gets why. */
  readonly #notSent = (error: unknown): void => {
    if (this.#phase !== "admitting") return; // sent: the dispatcher below told the caller
    this.#end(error);
  };

  /** The guarded call's signal aborted (its timeout, or the caller's cancellation) before the head. */
  #aborted(reason: unknown): void {
    if (this.#phase !== "sent") return;
    const downstream = this.#controller.downstream;
    if (downstream !== null)
      downstream.abort(reason as Error); // which reports it, as onResponseError
    else this.#end(reason); // still connecting: the caller hears now, the request is aborted once started
  }

  /** The caller aborted through its controller: while the head is awaited, a cancellation for the circuit. */
  #cancelled(reason: Error): void {
    if (this.#phase === "sent") this.cancellation.abort(reason);
    this.#controller.downstream?.abort(reason);
  }

  /** Ends the request for the caller with `error`, whatever the dispatcher below does next. */
  #end(error: unknown): void {
    this.#phase = "done";
    if (this.#controller.downstream === null) this.#controller.ended = error as Error;
    this.#handler.onResponseError?.(this.#controller, error as Error);
  }

  /** Settles the guarded call (once). */
  #settle(head: ResponseHead | null, error?: unknown): void {
    const resolve = this.#resolve;
    const reject = this.#reject;
    this.#resolve = this.#reject = null;
    if (head !== null) resolve?.(head);
    else reject?.(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    if (this.#phase === "done") {
      controller.abort(this.#controller.reason ?? new Error("aborted"));
      return;
    }
    this.#controller.downstream = controller;
    this.#handler.onRequestStart?.(this.#controller, context);
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
    socket: Parameters<NonNullable<Dispatcher.DispatchHandler["onRequestUpgrade"]>>[3],
  ): void {
    if (this.#phase === "done") return;
    this.#phase = "responding";
    this.#settle(new ResponseHead(statusCode, headers, this.#request));
    this.#handler.onRequestUpgrade?.(this.#controller, statusCode, headers, socket);
    this.#phase = "done";
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
    statusMessage?: string,
  ): void {
    if (this.#phase === "done") return;
    if (this.#phase === "sent" && statusCode >= 200) {
      this.#phase = "responding";
      this.#settle(new ResponseHead(statusCode, headers, this.#request));
    }
    this.#handler.onResponseStart?.(this.#controller, statusCode, headers, statusMessage);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#phase !== "done") this.#handler.onResponseData?.(this.#controller, chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: ResponseHeaders): void {
    if (this.#phase === "done") return;
    // Done once the caller's handler returned: one that throws (undici's retry handler does, to
    // retry) gets its error back through onResponseError, as the dispatcher below sends it.
    this.#handler.onResponseEnd?.(this.#controller, trailers);
    this.#phase = "done";
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    if (this.#phase === "done") return;
    // Before the head, the error is the guarded call's (a failure, unless the caller cancelled);
    // after it, the call is settled (the outcome counted): reading the body is the caller's.
    this.#settle(null, error);
    this.#end(error);
  }
}

/**
 * An undici interceptor that runs each request under the circuit of its host, on `factory`,
 * with `purgatory/fetch`'s rules:
 *
 * - a response head whose status `isFailureStatus` flags (5xx and 429 by default) is a failure,
 *   any other a success; the caller gets every response, its body passed on as it comes;
 * - an error before the response head (connection refused or reset, undici's `headersTimeout`...)
 *   is a failure, and reaches the caller as it is;
 * - `timeout` (seconds until the response head) aborts the request and counts a failure: the
 *   caller gets a `CallTimeoutError`;
 * - a failing response's `Retry-After` keeps an opening it causes for at least that long;
 * - while the circuit is opened, a request is not sent: the caller's `onResponseError` gets a
 *   `CircuitOpenError` (`request` rejects with it; `fetch` with a `TypeError` whose `cause` it is);
 * - the caller's abort (its controller's `abort`, which a `signal` of `request` or `fetch` calls)
 *   ends the request with its reason and counts nothing;
 * - its circuits are bounded as `purgatory/fetch`'s: `maxCircuits` hosts (1,000), each forgotten
 *   after `idleTtl` seconds without a request (600).
 *
 * Options are validated at once: a bad one throws an `InvalidOptionError` naming it and its value.
 * Requests are never retried.
 *
 * @example
 * ```ts
 * import { Agent, setGlobalDispatcher } from "undici";
 * import { AsyncCircuitBreakerFactory } from "purgatory";
 * import { circuitBreaker } from "purgatory/undici";
 *
 * const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 5, defaultTtl: 30 });
 * setGlobalDispatcher(new Agent().compose(circuitBreaker(circuitbreaker, { timeout: 10 })));
 * const res = await fetch("https://api.example.com/items"); // circuit "api.example.com"
 * ```
 */
export function circuitBreaker<X extends readonly unknown[] = readonly unknown[]>(
  factory: AsyncCircuitBreakerFactory,
  options?: CircuitBreakerInterceptorOptions<X>,
): Dispatcher.DispatcherComposeInterceptor {
  const o = checkHttpOptions(UNDICI, factory, options) as CircuitBreakerInterceptorOptions<X>;
  const passed = checkPassedOn<ResponseHead, X>(factory, o, "purgatory/undici");
  const nameOf = o.circuitName;
  const failing = o.isFailureStatus ?? isFailureStatus;
  const clock = o.clock ?? defaultClock;
  const circuits = hostCircuits(factory, o.maxCircuits, o.idleTtl);
  const base = httpRunOptions<ResponseHead, X>(
    passed,
    (head) => failing(head.statusCode, head),
    o.retryAfter ?? ((head) => retryAfterSeconds(headerText(head.headers["retry-after"]), clock())),
    isHead,
  );

  return (dispatch) =>
    function circuitBreakerInterceptor(request, handler) {
      const guarded = new GuardedRequest(dispatch, request, handler);
      let name: unknown;
      try {
        name = nameOf === undefined ? defaultName(request) : nameOf(requestUrl(request), request);
        if (typeof name !== "string" || name.length === 0) {
          throw new InvalidOptionError("circuitName", name, "a function returning a non-empty string circuit name");
        }
      } catch (error) {
        guarded.refuse(error);
        return true;
      }
      guarded.run(circuits, name, { ...base, signal: guarded.cancellation.signal });
      return true;
    };
}
