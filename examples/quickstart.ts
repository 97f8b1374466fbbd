/**
 * Quick start: one factory, named circuits, three ways to guard a call, and `isFailure` for
 * results that are failures (a 5xx response).
 *
 *   npx tsx examples/quickstart.ts
 *
 * No network: the "remote service" is a local function that fails on demand.
 */
import { AsyncCircuitBreakerFactory, CircuitOpenError } from "../src/index.js";

/** A stand-in for a remote call: fails while `down` is true. */
let down = false;
async function fetchPrice(item: string): Promise<number> {
  if (down) throw new Error(`price service unavailable for ${item}`);
  return 42;
}

const circuitbreaker = new AsyncCircuitBreakerFactory({
  defaultThreshold: 2, // 2 consecutive failures open a circuit
  defaultTtl: 0.2, // seconds it stays opened before a probe may run
});
await circuitbreaker.initialize(); // connects the storage; a no-op in memory

// 1. getBreaker + run (the Python `async with await circuitbreaker.get_breaker(name)`)
const breaker = await circuitbreaker.getBreaker("prices");
console.log("price:", await breaker.run(() => fetchPrice("book")));

// 2. the one-liner
console.log("price again:", await circuitbreaker.run("prices", () => fetchPrice("pen")));

// 3. a circuit with its own threshold and ttl: only the first registration of a name configures it
const strict = await circuitbreaker.getBreaker("stock", { threshold: 1, ttl: 60 });
console.log(`circuit ${strict.name}: threshold=${strict.threshold} ttl=${strict.ttl}s state=${strict.state}`);

// The service goes down: two failures open the circuit, then calls fail fast.
down = true;
for (let i = 1; i <= 3; i++) {
  try {
    await breaker.run(() => fetchPrice("book"));
  } catch (error) {
    if (error instanceof CircuitOpenError) {
      console.log(`call ${i}: rejected fast by ${error.circuitName}, retry in ${error.retryAfterMs} ms`);
    } else {
      console.log(`call ${i}: failed (${(error as Error).message}), failureCount=${breaker.failureCount}`);
    }
  }
}
console.log("state:", breaker.state);

// The service comes back; after the ttl the next call is a probe, and its success closes the circuit.
down = false;
await new Promise((resolve) => setTimeout(resolve, 250));
console.log("probe:", await breaker.run(() => fetchPrice("book")), "state:", breaker.state);

// fetch resolves on a 503: isFailure counts such results as failures, and the caller still gets
// the response. (A Response made here stands in for fetch, so the example needs no network.)
const status = async (code: number) => new Response(null, { status: code });
const api = { isFailure: (res: Response) => res.status >= 500, threshold: 2 };
for (const code of [503, 503]) {
  const res = await circuitbreaker.run("api", () => status(code), api);
  console.log(`api answered ${res.status}; circuit api: ${(await circuitbreaker.getBreaker("api")).state}`);
}

await circuitbreaker.close(); // releases the storage; also `await using` via Symbol.asyncDispose
