/**
 * The breakers' own edges, beyond the behaviour suite: a synchronous breaker over a storage that
 * can only answer asynchronously; call timeouts on the factory's one timer (with fake timers);
 * the shared signal of untimed calls; a storage whose `release` fails.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CallTimeoutError,
  CircuitOpenError,
  InMemoryStorage,
  SyncCircuitBreakerFactory,
  type Admission,
  type CircuitRecord,
} from "../../src/index.js";

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

describe("AsyncCircuitBreaker timeouts, on the factory's one timer (fake timers)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A call that settles only when told to. */
  function pending() {
    let settle!: (value: string) => void;
    const promise = new Promise<string>((resolve) => (settle = resolve));
    return { promise, settle };
  }

  it("rejects exactly at the deadline, not a millisecond before", async () => {
    const factory = new AsyncCircuitBreakerFactory({ defaultTimeout: 2 });
    const call = factory.run("api", () => pending().promise);
    let outcome: unknown;
    call.catch((error: unknown) => (outcome = error));
    await vi.advanceTimersByTimeAsync(1_999);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(CallTimeoutError);
  });

  it("costs one timer for 10,000 calls in flight, and none once they settled", async () => {
    const factory = new AsyncCircuitBreakerFactory({ defaultThreshold: 100_000 });
    const breaker = await factory.getBreaker("api", { timeout: 5 });
    const calls = Array.from({ length: 10_000 }, () => pending());
    const running = calls.map((call) => breaker.run(() => call.promise));
    expect(vi.getTimerCount()).toBe(1);
    for (const call of calls) call.settle("ok");
    await Promise.all(running);
    expect(vi.getTimerCount()).toBe(0);
    expect(breaker.failureCount).toBe(0);
  });

  it("costs one timer across the circuits of a factory, each call timed out at its own deadline", async () => {
    const factory = new AsyncCircuitBreakerFactory();
    const outcomes: string[] = [];
    for (const [name, timeout] of [
      ["a", 3],
      ["b", 1],
      ["c", 2],
    ] as const) {
      factory.run(name, () => pending().promise, { timeout }).catch(() => outcomes.push(name));
    }
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(outcomes).toEqual(["b", "c", "a"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("clears its timer on close(); a call still running then no longer times out", async () => {
    const factory = new AsyncCircuitBreakerFactory({ defaultTimeout: 1 });
    const call = pending();
    const running = factory.run("api", () => call.promise);
    expect(vi.getTimerCount()).toBe(1);
    await factory.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5_000);
    call.settle("late but fine");
    await expect(running).resolves.toBe("late but fine");
  });
});

describe("AsyncCircuitBreaker without a timeout or a signal", () => {
  it("hands every call one shared signal that drops listeners: no leak, no MaxListeners warning", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const factory = new AsyncCircuitBreakerFactory();
      const aborted = vi.fn();
      // 50 calls at once, each listening to its signal as fetch does
      await Promise.all(
        Array.from({ length: 50 }, () =>
          factory.run("api", async (signal) => {
            signal.addEventListener("abort", () => void aborted()); // a listener of its own, as fetch adds
            await Promise.resolve();
          }),
        ),
      );
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
      expect(aborted).not.toHaveBeenCalled();
    } finally {
      process.off("warning", onWarning);
    }
  });
});

describe("AsyncCircuitBreaker over a storage whose release fails", () => {
  class FailingRelease extends InMemoryStorage {
    override release(): void {
      throw new Error("release failed");
    }
  }

  it("still rejects the cancelled call with its reason; the lease then expires by itself", async () => {
    let now = 0;
    const factory = new AsyncCircuitBreakerFactory({
      storage: new FailingRelease(),
      clock: () => now,
      defaultThreshold: 1,
      defaultTtl: 1,
    });
    await factory.run("api", () => Promise.reject(new Error("down"))).catch(() => undefined);
    now += 1_000;
    const controller = new AbortController();
    const probe = factory.run("api", () => new Promise(() => undefined), { signal: controller.signal });
    await Promise.resolve();
    controller.abort("cancelled");
    await expect(probe).rejects.toBe("cancelled");
    await expect(factory.run("api", () => "too soon")).rejects.toBeInstanceOf(CircuitOpenError);
    now += 1_000;
    await expect(factory.run("api", () => "probe")).resolves.toBe("probe");
  });
});
