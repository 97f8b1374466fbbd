/**
 * `exclude`: errors that are not failures (docs/design.md, "Outcomes"). Per-call entries are checked before the
 * factory's, and the first entry whose class matches decides. Runs for every storage kind and both
 * factories.
 */
import { describe, expect, it } from "vitest";
import { circuitName, flavoursFor, listen, throwing, trip, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

class NotFoundError extends Error {}
class HTTPStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}
class GoneError extends NotFoundError {}
const clientError = [HTTPStatusError, (err: HTTPStatusError) => err.status < 500] as const;

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    describe("an excluded error", () => {
      it("is re-thrown unchanged and is not counted as a failure", async () => {
        const { getBreaker } = bench.make(flavour, { exclude: [NotFoundError] });
        const breaker = await getBreaker(circuitName("excluded"), { threshold: 1 });
        const error = new NotFoundError("nope");
        await expect(breaker.run(throwing(error))).rejects.toBe(error);
        await expect(breaker.run(throwing(error))).rejects.toBe(error);
        expect(breaker.state).toBe("closed");
        expect(breaker.failureCount).toBe(0);
      });

      it("may be an instance of a subclass of an excluded class", async () => {
        const { getBreaker } = bench.make(flavour, { exclude: [NotFoundError] });
        const breaker = await getBreaker(circuitName("subclass"), { threshold: 1 });
        await breaker.run(throwing(new GoneError("gone"))).catch(() => undefined);
        expect(breaker.failureCount).toBe(0);
      });

      it("counts as a success: it resets a non-zero failure count and emits recovered", async () => {
        const made = bench.make(flavour, { exclude: [NotFoundError] });
        const log = listen(made.factory);
        const breaker = await made.getBreaker(circuitName("resets"), { threshold: 3 });
        await breaker.run(throwing(new Error("real"))).catch(() => undefined);
        await breaker.run(throwing(new Error("real"))).catch(() => undefined);
        await breaker.run(throwing(new NotFoundError("excluded"))).catch(() => undefined);
        expect(breaker.failureCount).toBe(0);
        expect(log.labels(breaker.name)).toEqual(["circuit_breaker_created", "failed 1", "failed 2", "recovered"]);
      });

      it("thrown by a probe closes the circuit", async () => {
        const made = bench.make(flavour, { exclude: [NotFoundError] });
        const log = listen(made.factory);
        const breaker = await made.getBreaker(circuitName("probe-excluded"), { threshold: 1, ttl: 0.05 });
        await trip(breaker);
        await bench.advance(60);
        const error = new NotFoundError("probe");
        await expect(breaker.run(throwing(error))).rejects.toBe(error);
        expect(breaker.state).toBe("closed");
        expect(log.labels(breaker.name).slice(-3)).toEqual([
          "state_changed half-opened",
          "recovered",
          "state_changed closed",
        ]);
      });
    });

    describe("a [class, predicate] entry", () => {
      it("excludes an instance of the class when the predicate returns true", async () => {
        const { getBreaker } = bench.make(flavour, { exclude: [clientError] });
        const breaker = await getBreaker(circuitName("predicate-true"), { threshold: 1 });
        const error = new HTTPStatusError(404);
        await expect(breaker.run(throwing(error))).rejects.toBe(error);
        expect(breaker.failureCount).toBe(0);
      });

      it("counts an instance of the class as a failure when the predicate returns false", async () => {
        const { getBreaker } = bench.make(flavour, { exclude: [clientError] });
        const breaker = await getBreaker(circuitName("predicate-false"), { threshold: 1, ttl: 10 });
        const error = new HTTPStatusError(503);
        await expect(breaker.run(throwing(error))).rejects.toBe(error);
        expect(breaker.state).toBe("opened");
      });

      it("excludes only when the predicate returns exactly true", async () => {
        const truthy = (() => 1) as unknown as (err: Error) => boolean;
        const { getBreaker } = bench.make(flavour, { exclude: [[Error, truthy]] });
        const breaker = await getBreaker(circuitName("predicate-truthy"), { threshold: 2 });
        await breaker.run(throwing(new Error("x"))).catch(() => undefined);
        expect(breaker.failureCount).toBe(1);
      });

      it("whose predicate throws counts the error as a failure and re-throws the original", async () => {
        const broken = (): boolean => {
          throw new Error("predicate bug");
        };
        const { getBreaker } = bench.make(flavour, { exclude: [[HTTPStatusError, broken]] });
        const breaker = await getBreaker(circuitName("predicate-throws"), { threshold: 2 });
        const error = new HTTPStatusError(404);
        await expect(breaker.run(throwing(error))).rejects.toBe(error);
        expect(breaker.failureCount).toBe(1);
      });

      it("is not asked about values that are not instances of its class", async () => {
        let asked = 0;
        const predicate = (): boolean => ++asked > 0;
        const { getBreaker } = bench.make(flavour, { exclude: [[HTTPStatusError, predicate]] });
        const breaker = await getBreaker(circuitName("predicate-other"), { threshold: 9 });
        for (const value of [new Error("x"), "string", null, { status: 404 }]) {
          await breaker.run(throwing(value)).catch(() => undefined);
        }
        expect(asked).toBe(0);
        expect(breaker.failureCount).toBe(4);
      });
    });

    describe("exclude lists", () => {
      it("of the factory apply to every circuit", async () => {
        const { getBreaker, run } = bench.make(flavour, { exclude: [NotFoundError] });
        const a = await getBreaker(circuitName("global-a"), { threshold: 1 });
        await a.run(throwing(new NotFoundError())).catch(() => undefined);
        const b = circuitName("global-b");
        await run(b, throwing(new NotFoundError()), { threshold: 1 }).catch(() => undefined);
        expect(a.failureCount).toBe(0);
        expect((await getBreaker(b)).failureCount).toBe(0);
      });

      it("of getBreaker apply to that breaker's calls only", async () => {
        const { getBreaker, run } = bench.make(flavour);
        const name = circuitName("per-breaker");
        const lenient = await getBreaker(name, { threshold: 5, exclude: [NotFoundError] });
        const strict = await getBreaker(name);
        await lenient.run(throwing(new NotFoundError())).catch(() => undefined);
        expect(lenient.failureCount).toBe(0);
        await strict.run(throwing(new NotFoundError())).catch(() => undefined);
        expect(strict.failureCount).toBe(1);
        await run(name, throwing(new NotFoundError())).catch(() => undefined);
        expect(strict.failureCount).toBe(2);
      });

      it("of factory.run apply to that call", async () => {
        const { getBreaker, run } = bench.make(flavour);
        const name = circuitName("per-run");
        await run(name, throwing(new NotFoundError()), { exclude: [NotFoundError] }).catch(() => undefined);
        expect((await getBreaker(name)).failureCount).toBe(0);
        await run(name, throwing(new NotFoundError())).catch(() => undefined);
        expect((await getBreaker(name)).failureCount).toBe(1);
      });

      it("of a call are checked before the factory's", async () => {
        const serverErrorsOnly = [HTTPStatusError, (err: HTTPStatusError) => err.status >= 500] as const;
        const { getBreaker } = bench.make(flavour, { exclude: [HTTPStatusError] });
        const breaker = await getBreaker(circuitName("call-first"), {
          threshold: 5,
          exclude: [serverErrorsOnly],
        });
        await breaker.run(throwing(new HTTPStatusError(503))).catch(() => undefined);
        expect(breaker.failureCount).toBe(0);
        // The call's entry matched the class and said "not excluded": the global entry is not asked.
        await breaker.run(throwing(new HTTPStatusError(404))).catch(() => undefined);
        expect(breaker.failureCount).toBe(1);
      });

      it("fall through to the factory's when no entry of the call matches the class", async () => {
        const { getBreaker } = bench.make(flavour, { exclude: [NotFoundError] });
        const breaker = await getBreaker(circuitName("fall-through"), {
          threshold: 5,
          exclude: [clientError],
        });
        await breaker.run(throwing(new NotFoundError())).catch(() => undefined);
        expect(breaker.failureCount).toBe(0);
      });

      it("are decided by the first entry whose class matches", async () => {
        const never = (): boolean => false;
        const { getBreaker } = bench.make(flavour, { exclude: [[HTTPStatusError, never], Error] });
        const breaker = await getBreaker(circuitName("first-match"), { threshold: 5 });
        await breaker.run(throwing(new HTTPStatusError(404))).catch(() => undefined);
        expect(breaker.failureCount).toBe(1);
        await breaker.run(throwing(new TypeError("other"))).catch(() => undefined);
        expect(breaker.failureCount).toBe(0);
      });
    });
  });
});
