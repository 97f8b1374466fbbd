/**
 * Overlapping calls: exact counts, one transition, and outcomes of calls admitted before a
 * transition ignored (docs/design.md, "Circuits" and "Storage"). Runs for every storage kind, with the async factory
 * (synchronous calls cannot overlap).
 */
import { describe, expect, it } from "vitest";
import { CircuitOpenError } from "../../src/index.js";
import { circuitName, Deferred, listen, throwing, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

const CALLS = 200;

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe("overlapping calls", () => {
    it(`count every one of ${CALLS} failures exactly once`, async () => {
      const factory = bench.makeAsync();
      const log = listen(factory);
      const breaker = await factory.getBreaker(circuitName("exact-count"), { threshold: CALLS + 1 });
      const gates = Array.from({ length: CALLS }, () => new Deferred<never>());
      const calls = gates.map((gate) => breaker.run(() => gate.promise).catch(() => "failed"));
      gates.forEach((gate, i) => gate.reject(new Error(`failure ${i}`)));
      expect(await Promise.all(calls)).toEqual(Array(CALLS).fill("failed"));
      expect(breaker.failureCount).toBe(CALLS);
      const counts = log.of(breaker.name).flatMap(([, type, event]) => (type === "failed" ? [event.failureCount] : []));
      expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: CALLS }, (_, i) => i + 1));
      expect(breaker.state).toBe("closed");
    });

    it(`open the circuit exactly once when ${CALLS} fail together`, async () => {
      const factory = bench.makeAsync();
      const log = listen(factory);
      const threshold = 50;
      const breaker = await factory.getBreaker(circuitName("one-open"), { threshold, ttl: 10 });
      const errors = Array.from({ length: CALLS }, (_, i) => new Error(`failure ${i}`));
      const calls = errors.map((error) => breaker.run(() => Promise.reject(error)).catch((e: unknown) => e));
      const outcomes = await Promise.all(calls);
      // Every call had been admitted while closed, so each rejects with its own error.
      expect(outcomes).toEqual(errors);
      outcomes.forEach((outcome, i) => expect(outcome).toBe(errors[i]));
      expect(log.labels(breaker.name).filter((l) => l.startsWith("state_changed"))).toEqual(["state_changed opened"]);
      expect(log.labels(breaker.name).filter((l) => l.startsWith("failed"))).toHaveLength(threshold);
      expect(breaker.state).toBe("opened");
      expect(breaker.failureCount).toBe(threshold);
      await expect(breaker.run(async () => "after")).rejects.toBeInstanceOf(CircuitOpenError);
    });

    it("keep an exact count when failures and successes interleave", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("interleaved"), { threshold: CALLS });
      // 10 rounds of 19 failures then 1 success, settled in that order: the count ends at 0;
      // then 10 more failures.
      const gates = Array.from({ length: CALLS + 10 }, () => new Deferred<string>());
      const calls = gates.map((gate) => breaker.run(() => gate.promise).catch(() => "failed"));
      gates.forEach((gate, i) => (i < CALLS && i % 20 === 19 ? gate.resolve("ok") : gate.reject(new Error())));
      await Promise.all(calls);
      expect(breaker.failureCount).toBe(10);
      expect(breaker.state).toBe("closed");
    });
  });

  describe("outcomes of calls admitted before a transition", () => {
    it("are ignored once the circuit has opened: a late success does not close it", async () => {
      const factory = bench.makeAsync();
      const log = listen(factory);
      const breaker = await factory.getBreaker(circuitName("late-success"), { threshold: 2, ttl: 10 });
      const slow = new Deferred<string>();
      const slowRun = breaker.run(() => slow.promise);
      await breaker.run(throwing(new Error("1"))).catch(() => undefined);
      await breaker.run(throwing(new Error("2"))).catch(() => undefined);
      expect(breaker.state).toBe("opened");
      slow.resolve("late");
      await expect(slowRun).resolves.toBe("late");
      expect(breaker.state).toBe("opened");
      expect(log.labels(breaker.name)).not.toContain("recovered");
    });

    it("are ignored once the circuit has opened: a late failure is not counted", async () => {
      const factory = bench.makeAsync();
      const log = listen(factory);
      const breaker = await factory.getBreaker(circuitName("late-failure-opened"), { threshold: 1, ttl: 10 });
      const slow = new Deferred<never>();
      const slowRun = breaker.run(() => slow.promise);
      await breaker.run(throwing(new Error("opens"))).catch(() => undefined);
      const openedAt = breaker.openedAt;
      const late = new Error("late");
      slow.reject(late);
      await expect(slowRun).rejects.toBe(late);
      expect([breaker.state, breaker.failureCount, breaker.openedAt]).toEqual(["opened", 1, openedAt]);
      expect(log.labels(breaker.name)).toEqual(["circuit_breaker_created", "failed 1", "state_changed opened"]);
    });

    it("are ignored after the circuit has closed again: a late failure is not counted", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("late-failure-closed"), { threshold: 1, ttl: 0.05 });
      const slow = new Deferred<never>();
      const slowRun = breaker.run(() => slow.promise);
      await breaker.run(throwing(new Error("opens"))).catch(() => undefined);
      await bench.advance(60);
      await breaker.run(async () => "good probe");
      expect(breaker.state).toBe("closed");
      const late = new Error("late");
      slow.reject(late);
      await expect(slowRun).rejects.toBe(late);
      expect(breaker.state).toBe("closed");
      expect(breaker.failureCount).toBe(0);
    });

    it("are ignored after a failing probe: a late success of the old closed period does not close it", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("late-after-probe"), { threshold: 1, ttl: 0.05 });
      const slow = new Deferred<string>();
      const slowRun = breaker.run(() => slow.promise);
      await breaker.run(throwing(new Error("opens"))).catch(() => undefined);
      await bench.advance(60);
      await breaker.run(throwing(new Error("bad probe"))).catch(() => undefined);
      slow.resolve("late");
      await slowRun;
      expect(breaker.state).toBe("opened");
    });
  });
});
