/**
 * The breakers' own edges, beyond the behaviour suite: a synchronous breaker over a storage that
 * can only answer asynchronously.
 */
import { describe, expect, it } from "vitest";
import { InMemoryStorage, SyncCircuitBreakerFactory, type Admission, type CircuitRecord } from "../src/index.js";

/** A storage that decides admissions asynchronously, as a remote one may. */
class AsyncAdmissions extends InMemoryStorage {
  override admit(circuit: CircuitRecord, now: number): Admission {
    return Promise.resolve(super.admit(circuit, now)) as unknown as Admission;
  }
}

describe("SyncCircuitBreaker over a storage that answers asynchronously", () => {
  it("throws a TypeError that says so, naming the circuit in a short message", () => {
    const name = "n".repeat(100_000);
    const factory = new SyncCircuitBreakerFactory({ storage: new AsyncAdmissions(), defaultThreshold: 1 });
    const breaker = factory.getBreaker(name);
    expect(() =>
      breaker.run(() => {
        throw new Error("down");
      }),
    ).toThrow("down");
    let thrown: unknown;
    try {
      breaker.run(() => 1);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(/^Circuit n{197}\.\.\.: the storage answered asynchronously/);
    expect((thrown as Error).message.length).toBeLessThan(400);
  });
});
