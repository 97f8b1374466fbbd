/**
 * Timeouts, cancellation and fallbacks. The guarded function gets an `AbortSignal`: pass it on
 * (here to a slow dependency that honours it, as `fetch` does) and a call that times out, or that
 * its caller cancels, stops the work it started.
 *
 * - `timeout` (seconds): a call not settled by then rejects with `CallTimeoutError` and counts
 *   as a failure.
 * - `signal`: the caller's cancellation rejects at once with its reason and counts nothing.
 * - `fallback(error)`: what the caller gets instead of a `CircuitOpenError`, a
 *   `CallTimeoutError` or a counted failure.
 *
 *   npx tsx examples/timeouts-and-fallbacks.ts
 */
import { AsyncCircuitBreakerFactory, CallTimeoutError, CircuitOpenError } from "../src/index.js";

let aborted = 0;
/** A price service that answers after `ms`, and stops when its signal aborts. */
function fetchPrice(ms: number, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(42), ms);
    signal.addEventListener(
      "abort",
      () => {
        aborted += 1;
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 2, defaultTtl: 0.2, defaultTimeout: 0.05 });
const prices = await circuitbreaker.getBreaker("prices");

// 1. In time: the value, a success.
console.log("fast answer:", await prices.run((signal) => fetchPrice(5, signal)));

// 2. Too slow: CallTimeoutError after 50 ms, a failure; the service's work was aborted.
const error = await prices.run((signal) => fetchPrice(1_000, signal)).catch((e: unknown) => e);
if (error instanceof CallTimeoutError) {
  console.log(`timed out after ${error.timeoutMs} ms; failureCount=${prices.failureCount}; aborted=${aborted}`);
}

// 3. The caller gives up first (a user navigated away): rejects with its reason, counts nothing.
const controller = new AbortController();
setTimeout(() => controller.abort(new Error("client went away")), 10);
const cancelled = await prices
  .run((signal) => fetchPrice(30, signal), { signal: controller.signal })
  .catch((e: unknown) => e);
console.log(`cancelled: ${(cancelled as Error).message}; failureCount=${prices.failureCount}; aborted=${aborted}`);

// 4. Too slow again: the second failure opens the circuit.
await prices.run((signal) => fetchPrice(1_000, signal)).catch(() => undefined);
console.log("state:", prices.state);

// 5. A fallback answers while the circuit is opened (and for timeouts and failures).
let lastKnown = 41;
const fromCache = (e: unknown) =>
  e instanceof CircuitOpenError || e instanceof CallTimeoutError ? lastKnown : Promise.reject(e);
console.log("with a fallback:", await prices.run((signal) => fetchPrice(5, signal), { fallback: fromCache }));

// 6. After the ttl, a probe closes the circuit again.
await new Promise((resolve) => setTimeout(resolve, 210));
lastKnown = await prices.run((signal) => fetchPrice(5, signal), { fallback: fromCache });
console.log(`probe: ${lastKnown}; state: ${prices.state}`);

await circuitbreaker.close();
