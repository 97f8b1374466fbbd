/**
 * The factories' own bookkeeping, beyond the behaviour of circuits: which breaker objects they
 * make. Storage-independent: runs over the default in-memory storage.
 */
import { describe, expect, it, vi } from "vitest";
import { AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory } from "../src/index.js";

/** Counts the breakers a factory makes (its internal `makeBreaker`). */
function countBreakers(factory: AsyncCircuitBreakerFactory | SyncCircuitBreakerFactory) {
  return vi.spyOn(factory as unknown as { makeBreaker(...args: unknown[]): unknown }, "makeBreaker");
}

describe.each([
  { name: "AsyncCircuitBreakerFactory", make: () => new AsyncCircuitBreakerFactory() },
  { name: "SyncCircuitBreakerFactory", make: () => new SyncCircuitBreakerFactory() },
])("$name", ({ make }) => {
  it("makes one breaker for 100 calls of run(name, fn, { exclude, isFailure })", async () => {
    const factory = make();
    const made = countBreakers(factory);
    for (let i = 0; i < 100; i++) {
      await factory.run("api", () => i, { exclude: [RangeError], isFailure: () => false });
    }
    expect(made).toHaveBeenCalledTimes(1);
  });

  it("makes one breaker for 100 calls of a decorated function with options", async () => {
    const factory = make();
    const made = countBreakers(factory);
    const guarded = factory.decorate("api", { exclude: [RangeError] })((n: number) => n);
    for (let i = 0; i < 100; i++) await guarded(i);
    expect(made).toHaveBeenCalledTimes(1);
  });

  it("still judges each call by its own exclude", async () => {
    const factory = make();
    const fail = (error: Error) => () => {
      throw error;
    };
    /** Runs a call that fails, whether the factory throws (sync) or rejects (async). */
    const failing = async (call: () => unknown) => {
      try {
        await call();
      } catch {
        // expected
      }
    };
    await failing(() => factory.run("api", fail(new RangeError("excluded")), { exclude: [RangeError] }));
    expect((await factory.getBreaker("api")).failureCount).toBe(0);
    await failing(() => factory.run("api", fail(new RangeError("counted"))));
    expect((await factory.getBreaker("api")).failureCount).toBe(1);
  });
});
