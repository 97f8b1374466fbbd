/**
 * `timeout`: a call that has not settled in time rejects with `CallTimeoutError`, counts as a
 * failure, and the signal its function got aborts (docs/design.md, "Outcomes"). Async factory only
 * (the sync factory rejects the option: see test/options.test.ts). Runs for every storage kind.
 *
 * The timeouts are real (a few tens of ms), whatever the storage: each test awaits the timeout it
 * is about, not an arbitrary sleep. The factories' timer itself is tested with fake timers in
 * test/deadlines.test.ts.
 */
import { describe, expect, it, vi } from "vitest";
import { CallTimeoutError, CircuitOpenError } from "../../src/index.js";
import { circuitName, Deferred, listen, throwing, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

/** A guarded function that never settles. */
const hanging = (): Promise<never> => new Promise<never>(() => undefined);

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe("a call with a timeout", () => {
    it("rejects with CallTimeoutError, naming the circuit and the timeout, once it has not settled in time", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("slow"), { timeout: 0.05 });
      const started = performance.now();
      const error = await breaker.run(hanging).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CallTimeoutError);
      expect(error).toMatchObject({ code: "PURGATORY_CALL_TIMEOUT", circuitName: breaker.name, timeoutMs: 50 });
      expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    });

    it("counts as a failure: a failed event each, and the circuit opens at threshold", async () => {
      const factory = bench.makeAsync();
      const log = listen(factory);
      const breaker = await factory.getBreaker(circuitName("counted"), { threshold: 2, ttl: 10, timeout: 0.03 });
      await expect(breaker.run(hanging)).rejects.toBeInstanceOf(CallTimeoutError);
      expect(breaker.failureCount).toBe(1);
      await expect(breaker.run(hanging)).rejects.toBeInstanceOf(CallTimeoutError);
      expect(breaker.state).toBe("opened");
      expect(log.labels(breaker.name)).toEqual([
        "circuit_breaker_created",
        "failed 1",
        "failed 2",
        "state_changed opened",
      ]);
      await expect(breaker.run(() => "fine")).rejects.toBeInstanceOf(CircuitOpenError);
    });

    it("aborts the signal the guarded function got, with the CallTimeoutError as its reason", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("aborts"), { timeout: 0.03 });
      let signal: AbortSignal | undefined;
      const aborted = vi.fn();
      const error = await breaker
        .run((s) => {
          signal = s;
          s.addEventListener("abort", aborted);
          return hanging();
        })
        .catch((e: unknown) => e);
      expect(signal?.aborted).toBe(true);
      expect(signal?.reason).toBe(error);
      expect(aborted).toHaveBeenCalledTimes(1);
    });

    it("ignores what the function does after it timed out", async () => {
      const factory = bench.makeAsync();
      const log = listen(factory);
      const breaker = await factory.getBreaker(circuitName("late"), { threshold: 5, timeout: 0.03 });
      const late = new Deferred<string>();
      await expect(breaker.run(() => late.promise)).rejects.toBeInstanceOf(CallTimeoutError);
      late.resolve("too late"); // a success now would reset the count and emit recovered
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(breaker.failureCount).toBe(1);
      expect(log.labels(breaker.name)).toEqual(["circuit_breaker_created", "failed 1"]);
    });

    it("leaves a call that settles in time alone: its value, a success, a signal that never aborted", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("quick"), { threshold: 5, timeout: 5 });
      await breaker.run(throwing(new Error("one"))).catch(() => undefined);
      let signal: AbortSignal | undefined;
      await expect(breaker.run((s) => ((signal = s), Promise.resolve("value")))).resolves.toBe("value");
      expect(breaker.failureCount).toBe(0);
      expect(signal?.aborted).toBe(false);
      const error = new Error("in time");
      await expect(breaker.run(() => Promise.reject(error))).rejects.toBe(error);
      expect(breaker.failureCount).toBe(1);
    });

    it("opens the circuit again when a probe times out", async () => {
      // The probe's lease lasts the ttl: well past the 30 ms timeout plus a slow round trip, so
      // that its failure is the probe's (a lease that ended first would make it a zombie's).
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.25 });
      const breaker = await factory.getBreaker(circuitName("probe"), { timeout: 0.03 });
      await breaker.run(throwing(new Error("down"))).catch(() => undefined);
      const firstOpenedAt = breaker.openedAt!;
      await bench.advance(260);
      await expect(breaker.run(hanging)).rejects.toBeInstanceOf(CallTimeoutError);
      expect(breaker.state).toBe("opened");
      expect(breaker.openedAt).toBeGreaterThan(firstOpenedAt);
    });

    it("comes from the factory's defaultTimeout, which a breaker's and then a call's timeout replace", async () => {
      const factory = bench.makeAsync({ defaultTimeout: 0.03 });
      const name = circuitName("defaults");
      await expect(factory.run(name, hanging)).rejects.toMatchObject({ timeoutMs: 30 });
      const breaker = await factory.getBreaker(name, { timeout: 0.04 });
      await expect(breaker.run(hanging)).rejects.toMatchObject({ timeoutMs: 40 });
      await expect(breaker.run(hanging, { timeout: 0.05 })).rejects.toMatchObject({ timeoutMs: 50 });
      await expect(factory.run(name, hanging, { timeout: 0.035 })).rejects.toMatchObject({ timeoutMs: 35 });
    });

    it("applies to decorated functions too, which get no signal (their arguments are their caller's)", async () => {
      const factory = bench.makeAsync();
      const name = circuitName("decorated");
      const guarded = factory.decorate(name, { timeout: 0.03 })(async (id: number) => {
        await hanging();
        return id;
      });
      await expect(guarded(1)).rejects.toMatchObject({ name: "CallTimeoutError", circuitName: name });
      expect((await factory.getBreaker(name)).failureCount).toBe(1);
    });
  });

  describe("a call without a timeout", () => {
    it("gets a signal that never aborts, the same for every call (nothing allocated per call)", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("untimed"));
      const signals: AbortSignal[] = [];
      await breaker.run((s) => signals.push(s));
      await factory.run(breaker.name, (s) => signals.push(s));
      expect(signals[0]).toBe(signals[1]);
      expect(signals[0]).toBeInstanceOf(AbortSignal);
      expect(signals[0]?.aborted).toBe(false);
    });
  });
});
