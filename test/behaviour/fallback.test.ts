/**
 * `fallback(error)`: what the caller gets instead of a failure (docs/design.md, "Outcomes"). Called
 * for a `CircuitOpenError`, a `CallTimeoutError` and a counted failure, after the failure is
 * counted; not for excluded errors, cancelled calls or bad arguments. Runs for every storage kind,
 * for both factories where the scenario is synchronous.
 */
import { describe, expect, it, vi } from "vitest";
import { CallTimeoutError, CircuitOpenError, FactoryClosedError, InvalidOptionError } from "../../src/index.js";
import { circuitName, flavoursFor, listen, throwing, trip, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

class NotFoundError extends Error {}

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    describe("a fallback", () => {
      it("answers for an opened circuit: it gets the CircuitOpenError, the caller gets its value", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("opened"), { threshold: 1, ttl: 10 });
        await trip(breaker);
        const fallback = vi.fn(() => "cached");
        const fn = vi.fn(() => "fresh");
        await expect(breaker.run(fn, { fallback })).resolves.toBe("cached");
        expect(fn).not.toHaveBeenCalled();
        expect(fallback).toHaveBeenCalledWith(expect.any(CircuitOpenError));
      });

      it("answers for a counted failure, once the failure is counted", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const breaker = await made.getBreaker(circuitName("counted"), { threshold: 2 });
        const error = new Error("down");
        let countSeen: number | undefined;
        const fallback = vi.fn(() => ((countSeen = breaker.failureCount), "cached"));
        await expect(breaker.run(throwing(error), { fallback })).resolves.toBe("cached");
        expect(fallback).toHaveBeenCalledWith(error);
        expect(countSeen).toBe(1);
        await expect(breaker.run(throwing(error), { fallback })).resolves.toBe("cached");
        expect(breaker.state).toBe("opened");
        expect(log.labels(breaker.name)).toEqual([
          "circuit_breaker_created",
          "failed 1",
          "failed 2",
          "state_changed opened",
        ]);
      });

      it("is not called for an excluded error: the caller gets the error, and it counts as a success", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("excluded"), { exclude: [NotFoundError] });
        const fallback = vi.fn(() => "cached");
        const counted = new Error("counted");
        await expect(breaker.run(throwing(counted), { fallback })).resolves.toBe("cached");
        expect(breaker.failureCount).toBe(1);
        const error = new NotFoundError("404");
        await expect(breaker.run(throwing(error), { fallback })).rejects.toBe(error);
        expect(fallback.mock.calls).toEqual([[counted]]);
        expect(breaker.failureCount).toBe(0);
      });

      it("is not called for a result isFailure flags: the caller gets the result", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("result"), { threshold: 5, isFailure: (r) => r === "503" });
        const fallback = vi.fn(() => "cached");
        const thrown = new Error("thrown");
        await expect(breaker.run(throwing(thrown), { fallback })).resolves.toBe("cached");
        await expect(breaker.run(() => "503", { fallback })).resolves.toBe("503");
        expect(fallback.mock.calls).toEqual([[thrown]]);
        expect(breaker.failureCount).toBe(2);
      });

      it("that throws hands its own error to the caller", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("throws"));
        const own = new Error("fallback failed too");
        const fallback = () => {
          throw own;
        };
        await expect(breaker.run(throwing(new Error("down")), { fallback })).rejects.toBe(own);
        expect(breaker.failureCount).toBe(1);
      });

      it("given to getBreaker answers for every call of that breaker; a call's own replaces it", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("default"), { fallback: () => "breaker's" });
        await expect(breaker.run(throwing(new Error("x")))).resolves.toBe("breaker's");
        await expect(breaker.run(throwing(new Error("x")), { fallback: () => "call's" })).resolves.toBe("call's");
        await expect(breaker.run(() => "value")).resolves.toBe("value");
      });

      it("given to factory.run answers for that call", async () => {
        const { run } = bench.make(flavour);
        const name = circuitName("run");
        await expect(run(name, throwing(new Error("x")), { fallback: () => "fallen back" })).resolves.toBe(
          "fallen back",
        );
        await expect(run(name, throwing(new Error("y")))).rejects.toThrow("y");
      });

      it("is not called for a function that is not a function, nor after close()", async () => {
        const made = bench.make(flavour);
        const fallback = vi.fn(() => "cached");
        const name = circuitName("bad-input");
        await expect(made.run(name, "not a function" as unknown as () => string, { fallback })).rejects.toBeInstanceOf(
          InvalidOptionError,
        );
        await made.factory.close();
        await expect(made.run(name, () => "x", { fallback })).rejects.toBeInstanceOf(FactoryClosedError);
        expect(fallback).not.toHaveBeenCalled();
      });
    });
  });

  describe("a fallback, async factory", () => {
    it("may return a promise: the caller gets what it resolves to, or its rejection", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("async"));
      await expect(breaker.run(() => Promise.reject(new Error("x")), { fallback: async () => "later" })).resolves.toBe(
        "later",
      );
      const own = new Error("rejected fallback");
      await expect(
        breaker.run(() => Promise.reject(new Error("x")), { fallback: () => Promise.reject(own) }),
      ).rejects.toBe(own);
    });

    it("answers for a call that timed out, with the CallTimeoutError, after counting it", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("timeout"), { timeout: 0.03 });
      let countSeen: number | undefined;
      const fallback = vi.fn(() => ((countSeen = breaker.failureCount), "cached"));
      await expect(breaker.run(() => new Promise<string>(() => undefined), { fallback })).resolves.toBe("cached");
      expect(fallback).toHaveBeenCalledWith(expect.any(CallTimeoutError));
      expect(countSeen).toBe(1);
    });

    it("is not called for a cancelled call: the caller gets the abort reason", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("cancelled"));
      const fallback = vi.fn(() => "cached");
      const controller = new AbortController();
      const call = breaker.run(() => new Promise<string>(() => undefined), { signal: controller.signal, fallback });
      controller.abort("bye");
      await expect(call).rejects.toBe("bye");
      await expect(breaker.run(() => "x", { signal: AbortSignal.abort("before"), fallback })).rejects.toBe("before");
      expect(fallback).not.toHaveBeenCalled();
    });

    it("given to decorate answers for every call of the wrapped function", async () => {
      const factory = bench.makeAsync();
      const guarded = factory.decorate(circuitName("decorated"), { fallback: () => -1 })(async (n: number) => {
        if (n < 0) throw new Error("negative");
        return n;
      });
      await expect(guarded(2)).resolves.toBe(2);
      await expect(guarded(-5)).resolves.toBe(-1);
    });

    it("answers for a failing probe, which opens the circuit again", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.05 });
      const breaker = await factory.getBreaker(circuitName("probe"), { fallback: () => "fallback" });
      await expect(breaker.run(throwing(new Error("down")))).resolves.toBe("fallback");
      await bench.advance(60);
      await expect(breaker.run(() => Promise.reject(new Error("still down")))).resolves.toBe("fallback");
      expect(breaker.state).toBe("opened");
    });
  });

  describe.skipIf(kind.syncFactory === false)("a fallback, sync factory", () => {
    it("given to decorate answers for every call of the wrapped function", () => {
      const sync = bench.makeSync();
      const guarded = sync.decorate(circuitName("decorated"), { fallback: () => -1 })((n: number) => {
        if (n < 0) throw new Error("negative");
        return n;
      });
      expect(guarded(2)).toBe(2);
      expect(guarded(-5)).toBe(-1);
    });
  });
});
