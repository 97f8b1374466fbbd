/**
 * The half-opened circuit: after ttl, probes decide whether the circuit closes (docs/design.md,
 * "Circuits").
 * Runs for every storage kind; for both factories where a probe can be made to overlap.
 */
import { describe, expect, it, vi } from "vitest";
import { CircuitOpenError } from "../../src/index.js";
import { circuitName, Deferred, flavoursFor, listen, throwing, trip, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    describe("half-opened circuit", () => {
      it("is entered by the first call after ttl, which runs as a probe", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const breaker = await made.getBreaker(circuitName("enter"), { threshold: 1, ttl: 0.05 });
        await trip(breaker);
        await bench.advance(60);
        let stateDuringProbe: string | undefined;
        await breaker.run(() => (stateDuringProbe = breaker.state));
        expect(stateDuringProbe).toBe("half-opened");
        expect(log.labels(breaker.name)).toContain("state_changed half-opened");
      });

      it("has no openedAt while half-opened, as the Python purgatory (opened_at=None)", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const breaker = await made.getBreaker(circuitName("half-opened-at"), { threshold: 1, ttl: 0.05 });
        await trip(breaker);
        expect(breaker.openedAt).toEqual(expect.any(Number));
        await bench.advance(60);
        let openedAtDuringProbe: number | null | undefined;
        await breaker.run(() => (openedAtDuringProbe = breaker.openedAt));
        expect(openedAtDuringProbe).toBeNull();
        const halfOpened = log
          .of(breaker.name)
          .find(([, type, event]) => type === "state_changed" && event.state === "half-opened");
        expect(halfOpened?.[2]).toEqual({ name: breaker.name, state: "half-opened", openedAt: null, scope: "fleet" });
      });

      it("closes when the probe succeeds, with a failure count of 0", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("good-probe"), { threshold: 2, ttl: 0.05 });
        await trip(breaker);
        await bench.advance(60);
        await expect(breaker.run(() => "fine")).resolves.toBe("fine");
        expect(breaker.state).toBe("closed");
        expect(breaker.failureCount).toBe(0);
        expect(breaker.openedAt).toBeNull();
        // A closed circuit counts from zero again.
        await breaker.run(throwing(new Error("one"))).catch(() => undefined);
        expect(breaker.state).toBe("closed");
      });

      it("opens again when the probe fails, with a new openedAt, re-throwing the probe's error", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("bad-probe"), { threshold: 1, ttl: 0.05 });
        await trip(breaker);
        const firstOpenedAt = breaker.openedAt!;
        await bench.advance(60);
        const error = new Error("still down");
        await expect(breaker.run(throwing(error))).rejects.toBe(error);
        expect(breaker.state).toBe("opened");
        expect(breaker.openedAt).toBeGreaterThan(firstOpenedAt);
        await expect(breaker.run(() => "too soon")).rejects.toBeInstanceOf(CircuitOpenError);
      });

      it("waits a whole ttl again after a failing probe", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("reopened"), { threshold: 1, ttl: 0.05 });
        await trip(breaker);
        await bench.advance(60);
        await breaker.run(throwing(new Error("still down"))).catch(() => undefined);
        await bench.advance(60);
        await expect(breaker.run(() => "back")).resolves.toBe("back");
        expect(breaker.state).toBe("closed");
      });

      it("counts a non-Error thrown by the probe as a failure", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("probe-non-error"), { threshold: 1, ttl: 0.05 });
        await trip(breaker);
        await bench.advance(60);
        await expect(breaker.run(throwing(503))).rejects.toBe(503);
        expect(breaker.state).toBe("opened");
      });
    });
  });

  describe.skipIf(kind.syncFactory === false)("half-opened circuit, sync factory", () => {
    it("rejects a call made from inside the running probe", async () => {
      const factory = bench.makeSync({ defaultThreshold: 1, defaultTtl: 0.05 });
      const breaker = factory.getBreaker(circuitName("reentrant"));
      expect(() => breaker.run(throwing(new Error("x")))).toThrow("x");
      await bench.advance(60);
      const nested = vi.fn(() => "nested");
      const result = breaker.run(() => {
        expect(() => breaker.run(nested)).toThrow(CircuitOpenError);
        return "probe";
      });
      expect(result).toBe("probe");
      expect(nested).not.toHaveBeenCalled();
      expect(breaker.state).toBe("closed");
    });
  });

  describe("half-opened circuit, async factory", () => {
    it("rejects a second probe at once, without running it, while the first runs", async () => {
      // A probe's lease lasts the ttl: 0.3 s keeps it alive in real time (Redis) while we look.
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.3 });
      const breaker = await factory.getBreaker(circuitName("second-probe"));
      await breaker.run(throwing(new Error("x"))).catch(() => undefined);
      const openedAt = breaker.openedAt;
      await bench.advance(310);
      const probe = new Deferred<string>();
      const started = vi.fn();
      const first = breaker.run(() => (started(), probe.promise));
      await vi.waitFor(() => expect(started).toHaveBeenCalled(), { interval: 1 });
      const second = vi.fn(async () => "second");
      const rejected = await breaker.run(second).catch((e: unknown) => e);
      expect(rejected).toBeInstanceOf(CircuitOpenError);
      expect((rejected as CircuitOpenError).retryAfterMs).toBeGreaterThan(0);
      // The rejection still says when the circuit last opened, although the state shows none.
      expect((rejected as CircuitOpenError).openedAt).toBe(openedAt);
      expect(breaker.openedAt).toBeNull();
      expect(second).not.toHaveBeenCalled();
      expect(breaker.state).toBe("half-opened");
      probe.resolve("first");
      await expect(first).resolves.toBe("first");
      expect(breaker.state).toBe("closed");
    });

    it("admits up to halfOpenMaxCalls probes at once and rejects the next", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.3, halfOpenMaxCalls: 3 });
      const breaker = await factory.getBreaker(circuitName("max-calls"));
      await breaker.run(throwing(new Error("x"))).catch(() => undefined);
      await bench.advance(310);
      const probes = [new Deferred(), new Deferred(), new Deferred()];
      const started = vi.fn();
      const running = probes.map((p) => breaker.run(() => (started(), p.promise)));
      await vi.waitFor(() => expect(started).toHaveBeenCalledTimes(3), { interval: 1 });
      await expect(breaker.run(async () => "fourth")).rejects.toBeInstanceOf(CircuitOpenError);
      for (const p of probes) p.resolve();
      await Promise.all(running);
      expect(breaker.state).toBe("closed");
    });

    it("is decided by the first probe to finish; later probes' outcomes are ignored", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.05, halfOpenMaxCalls: 2 });
      const log = listen(factory);
      const breaker = await factory.getBreaker(circuitName("first-decides"));
      await breaker.run(throwing(new Error("x"))).catch(() => undefined);
      await bench.advance(60);
      const good = new Deferred<string>();
      const bad = new Deferred<string>();
      const goodRun = breaker.run(() => good.promise);
      const badRun = breaker.run(() => bad.promise);
      good.resolve("ok");
      await goodRun;
      expect(breaker.state).toBe("closed");
      const error = new Error("late probe failure");
      bad.reject(error);
      await expect(badRun).rejects.toBe(error);
      expect(breaker.state).toBe("closed");
      expect(breaker.failureCount).toBe(0);
      expect(log.labels(breaker.name).slice(-3)).toEqual([
        "state_changed half-opened",
        "recovered",
        "state_changed closed",
      ]);
    });

    it("frees a hung probe's slot once ttl has elapsed", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.05 });
      const breaker = await factory.getBreaker(circuitName("hung-probe"));
      await breaker.run(throwing(new Error("x"))).catch(() => undefined);
      await bench.advance(60);
      const hung = new Deferred<string>();
      void breaker.run(() => hung.promise).catch(() => undefined);
      await expect(breaker.run(async () => "blocked")).rejects.toBeInstanceOf(CircuitOpenError);
      await bench.advance(60);
      await expect(breaker.run(async () => "next probe")).resolves.toBe("next probe");
      expect(breaker.state).toBe("closed");
      hung.resolve("too late");
    });

    it("opens again when a probe fails while another is still running", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.05, halfOpenMaxCalls: 2 });
      const breaker = await factory.getBreaker(circuitName("fail-while-running"));
      await breaker.run(throwing(new Error("x"))).catch(() => undefined);
      await bench.advance(60);
      const slow = new Deferred<string>();
      const slowRun = breaker.run(() => slow.promise);
      await breaker.run(async () => Promise.reject(new Error("fast failure"))).catch(() => undefined);
      expect(breaker.state).toBe("opened");
      slow.resolve("late success");
      await expect(slowRun).resolves.toBe("late success");
      expect(breaker.state).toBe("opened");
    });
  });
});
