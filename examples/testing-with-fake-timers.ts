/**
 * Testing code that uses circuit breakers, without waiting for a real ttl.
 *
 * Purgatory starts no timer: it compares the time of a call with the time the circuit opened.
 * Give the factory a `clock` (here a variable you move forward) and the ttl elapses when you say
 * so. With vitest or jest fake timers no option is needed: the default clock reads the faked
 * `Date` at each use, so `vi.advanceTimersByTime(ms)` moves the circuits' time too (docs/testing.md).
 *
 *   npx tsx examples/testing-with-fake-timers.ts
 */
import assert from "node:assert/strict";
import { AsyncCircuitBreakerFactory, CircuitOpenError } from "../src/index.js";

let now = Date.parse("2024-01-01T00:00:00Z");
const circuitbreaker = new AsyncCircuitBreakerFactory({
  defaultThreshold: 1,
  defaultTtl: 30,
  clock: () => now,
});
const breaker = await circuitbreaker.getBreaker("payments");

await assert.rejects(
  breaker.run(() => Promise.reject(new Error("timeout"))),
  /timeout/,
);
assert.equal(breaker.state, "opened");

now += 29_000; // 29 s later: still opened, 1 s to go
const rejection = await breaker.run(() => "never runs").catch((error: unknown) => error);
assert.ok(rejection instanceof CircuitOpenError);
assert.equal(rejection.retryAfterMs, 1_000);

now += 1_000; // the ttl has elapsed: the next call is a probe
assert.equal(await breaker.run(() => "probe ok"), "probe ok");
assert.equal(breaker.state, "closed");

await circuitbreaker.close();
console.log("all assertions passed: opened, rejected with retryAfterMs=1000, probe closed it");
