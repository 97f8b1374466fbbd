/**
 * A storage that fails never changes the outcome of the guarded call: a custom storage whose
 * `recordSuccess` or `recordFailure` throws, or returns a promise that rejects, leaves the caller
 * with the call's own value or error, and is reported to the hooks as `storage_error` with its
 * error. For both factories.
 */
import { describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  InMemoryStorage,
  SyncCircuitBreakerFactory,
  type CircuitHookArgs,
  type CircuitRecord,
} from "../../src/index.js";
import type { Clock } from "../../src/timing/coarse-clock.js";

const storageBug = new Error("the storage broke");

/** A storage that fails as told, once the circuit exists. */
class FailingStorage extends InMemoryStorage {
  how: "throw" | "reject" | null = null;

  #fail(): never | Promise<never> {
    if (this.how === "throw") throw storageBug;
    return Promise.reject(storageBug);
  }

  override recordSuccess(c: CircuitRecord, generation: number, clock: Clock, slow?: boolean) {
    return this.how === null ? super.recordSuccess(c, generation, clock, slow) : (this.#fail() as never);
  }

  override recordFailure(c: CircuitRecord, generation: number, now: number, sync?: boolean, minOpenMs?: number) {
    return this.how === null ? super.recordFailure(c, generation, now, sync, minOpenMs) : (this.#fail() as never);
  }
}

function errorsOf(events: CircuitHookArgs[]): unknown[] {
  return events
    .filter(([, type]) => type === "storage_error")
    .map(([, , event]) => (event as { error: unknown }).error);
}

describe.each(["throw", "reject"] as const)("a custom storage whose outcome recording fails (%s)", (how) => {
  it("leaves an async call its own value and error, and reports storage_error", async () => {
    const storage = new FailingStorage();
    const events: CircuitHookArgs[] = [];
    const factory = new AsyncCircuitBreakerFactory({ storage, listeners: [(...args) => events.push(args)] });
    const breaker = await factory.getBreaker("flaky-storage");
    storage.how = how;
    await expect(breaker.run(() => "the value")).resolves.toBe("the value");
    const own = new Error("the call's own error");
    await expect(breaker.run(() => Promise.reject(own))).rejects.toBe(own);
    await Promise.resolve();
    expect(errorsOf(events)).toEqual([storageBug, storageBug]);
  });

  it("leaves a sync call its own value and error", () => {
    if (how === "reject") return; // a sync storage answers at once
    const storage = new FailingStorage();
    const events: CircuitHookArgs[] = [];
    const factory = new SyncCircuitBreakerFactory({ storage, listeners: [(...args) => events.push(args)] });
    const breaker = factory.getBreaker("flaky-storage");
    storage.how = how;
    expect(breaker.run(() => "the value")).toBe("the value");
    const own = new Error("the call's own error");
    expect(() =>
      breaker.run(() => {
        throw own;
      }),
    ).toThrow(own);
    expect(errorsOf(events)).toEqual([storageBug, storageBug]);
  });
});
