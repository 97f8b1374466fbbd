/**
 * `isFailure`: results that are failures (docs/design.md, "Outcomes"), as `fetch` resolves on a 503. A
 * flagged result is counted as a failure and the caller still gets it, as Polly's and opossum's
 * "handle result". Runs for every storage kind and both factories.
 */
import { describe, expect, it, vi } from "vitest";
import { circuitName, flavoursFor, listen, trip, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

/** A stand-in for a `fetch` Response. */
interface Reply {
  readonly status: number;
}
const reply = (status: number): Reply => ({ status });
const serverError = (result: unknown): boolean => (result as Reply).status >= 500;

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    describe("a result isFailure flags", () => {
      it("is counted as a failure, and the caller still gets it", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const breaker = await made.getBreaker(circuitName("flagged"), { threshold: 3, isFailure: serverError });
        const down = reply(503);
        await expect(breaker.run(() => down)).resolves.toBe(down);
        expect(breaker.failureCount).toBe(1);
        await expect(breaker.run(() => reply(200))).resolves.toEqual(reply(200));
        expect(breaker.failureCount).toBe(0);
        expect(log.labels(breaker.name)).toEqual(["circuit_breaker_created", "failed 1", "recovered"]);
      });

      it("opens the circuit after threshold of them", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("opens"), { threshold: 2, ttl: 10, isFailure: serverError });
        for (let i = 0; i < 2; i++) await breaker.run(() => reply(503));
        expect(breaker.state).toBe("opened");
        await expect(breaker.run(() => reply(200))).rejects.toThrow("is open");
      });

      it("from a probe opens the circuit again", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("probe"), { threshold: 1, ttl: 0.05, isFailure: serverError });
        await trip(breaker);
        await bench.advance(60);
        await expect(breaker.run(() => reply(502))).resolves.toEqual(reply(502));
        expect(breaker.state).toBe("opened");
      });

      it("is a failure when isFailure throws, and the caller still gets it", async () => {
        const { getBreaker } = bench.make(flavour);
        const isFailure = () => {
          throw new Error("predicate bug");
        };
        const breaker = await getBreaker(circuitName("throwing"), { threshold: 5, isFailure });
        await expect(breaker.run(() => "value")).resolves.toBe("value");
        expect(breaker.failureCount).toBe(1);
      });
    });

    describe("isFailure", () => {
      it("is a factory default for every circuit", async () => {
        const made = bench.make(flavour, { isFailure: serverError });
        const name = circuitName("factory-default");
        await made.run(name, () => reply(500));
        expect((await made.getBreaker(name)).failureCount).toBe(1);
      });

      it("given to a call replaces the factory's", async () => {
        const made = bench.make(flavour, { isFailure: serverError });
        const name = circuitName("replaced");
        const only429 = vi.fn((result: unknown) => (result as Reply).status === 429);
        await made.run(name, () => reply(500), { isFailure: only429 });
        expect((await made.getBreaker(name)).failureCount).toBe(0);
        await made.run(name, () => reply(429), { isFailure: only429 });
        expect((await made.getBreaker(name)).failureCount).toBe(1);
        expect(only429).toHaveBeenCalledTimes(2);
      });

      it("applies to factory.run and to decorated functions", async () => {
        const made = bench.make(flavour);
        const name = circuitName("run-and-decorate");
        await made.run(name, () => reply(503), { isFailure: serverError });
        const decorated = made.factory.decorate(name, { isFailure: serverError })(() => reply(504));
        await decorated();
        expect((await made.getBreaker(name)).failureCount).toBe(2);
      });

      it("is not called for errors, which exclude judges", async () => {
        const made = bench.make(flavour);
        const isFailure = vi.fn(() => false);
        const breaker = await made.getBreaker(circuitName("errors"), { isFailure });
        await breaker
          .run(() => {
            throw new Error("thrown");
          })
          .catch(() => undefined);
        expect(isFailure).not.toHaveBeenCalled();
        expect(breaker.failureCount).toBe(1);
      });
    });
  });

  describe("isFailure, async factory", () => {
    it("judges what a promise resolves to, and resolves with it", async () => {
      const factory = bench.makeAsync({ isFailure: serverError });
      const breaker = await factory.getBreaker(circuitName("promise"), { threshold: 2, ttl: 10 });
      const down = reply(503);
      await expect(breaker.run(async () => down)).resolves.toBe(down);
      await expect(breaker.run(() => Promise.resolve(down))).resolves.toBe(down);
      expect(breaker.state).toBe("opened");
    });

    it("types its argument as the result of factory.run's function", async () => {
      const factory = bench.makeAsync();
      const name = circuitName("typed");
      const result = await factory.run(name, async () => reply(503), { isFailure: (res) => res.status >= 500 });
      expect(result.status).toBe(503);
      expect((await factory.getBreaker(name)).failureCount).toBe(1);
    });
  });
});
