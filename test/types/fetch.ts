/**
 * Type-level checks of `purgatory/fetch`, compiled by `tsc --noEmit` (`npm run typecheck`) and
 * never run: what `circuitFetch` returns stands in for the global `fetch`, `exclude` predicates are
 * inferred from their classes, a fallback must answer with a `Response`, and only the async
 * factory is accepted. `@ts-expect-error` marks what must not compile.
 */
import { AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory } from "../../src/index.js";
import { circuitFetch, type FetchFunction } from "../../src/integrations/fetch.js";

class HTTPStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

const circuitbreaker = new AsyncCircuitBreakerFactory();

// A drop-in for the global fetch, and the other way round (the `fetch` option).
export const guarded: typeof fetch = circuitFetch(circuitbreaker, { fetch: globalThis.fetch });
export const asFunction: FetchFunction = guarded;

// A factory made with exclude classes is still an AsyncCircuitBreakerFactory.
circuitFetch(new AsyncCircuitBreakerFactory({ exclude: [[HTTPStatusError, (err) => err.status < 500]] }));

// The predicate's argument is inferred from its class.
circuitFetch(circuitbreaker, { exclude: [[HTTPStatusError, (err) => err.status === 404]] });
// @ts-expect-error: an HTTPStatusError has no `query`
circuitFetch(circuitbreaker, { exclude: [[HTTPStatusError, (err) => err.query === ""]] });

circuitFetch(circuitbreaker, {
  threshold: 3,
  ttl: 10,
  timeout: 5,
  failureRate: { rate: 0.5, minimumCalls: 20, window: 60 },
  circuitName: (url, _input, init) => `${init?.method ?? "GET"} ${url.host}`,
  isFailureStatus: (status, response) => status >= 500 || response.headers.has("x-degraded"),
  retryAfter: (response) => Number(response.headers.get("retry-after")),
  clock: () => Date.now(),
  fallback: async (_error, url) => new Response(`cached ${url.href}`),
});
circuitFetch(circuitbreaker, { retryAfter: false });

// @ts-expect-error: a fallback answers with a Response, so that the result stays a fetch
circuitFetch(circuitbreaker, { fallback: () => null });
// @ts-expect-error: responses are judged by status
circuitFetch(circuitbreaker, { isFailure: () => true });
// @ts-expect-error: a signal belongs to a request (init.signal)
circuitFetch(circuitbreaker, { signal: new AbortController().signal });
// @ts-expect-error: a synchronous factory cannot guard fetch
circuitFetch(new SyncCircuitBreakerFactory());
