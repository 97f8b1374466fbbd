/**
 * Circuits: registration, the closed and opened states, and what the caller sees (docs/design.md,
 * "Circuits").
 * Runs for every storage kind and both factories.
 */
import { describe, expect, it, vi } from "vitest";
import { CircuitOpenError, InvalidOptionError } from "../../src/index.js";
import { circuitName, flavoursFor, listen, throwing, trip, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    describe("a new circuit", () => {
      it("is closed, with the factory's default threshold and ttl", async () => {
        const { getBreaker } = bench.make(flavour, { defaultThreshold: 3, defaultTtl: 0.05 });
        const name = circuitName("new");
        const breaker = await getBreaker(name);
        expect(breaker.name).toBe(name);
        expect(breaker.threshold).toBe(3);
        expect(breaker.ttl).toBe(0.05);
        expect(breaker.state).toBe("closed");
        expect(breaker.failureCount).toBe(0);
        expect(breaker.openedAt).toBeNull();
      });

      it("uses the defaults 5 and 30 s when the factory sets none", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("defaults"));
        expect([breaker.threshold, breaker.ttl]).toEqual([5, 30]);
      });

      it("takes threshold and ttl from its first registration only", async () => {
        const { getBreaker, run } = bench.make(flavour);
        const name = circuitName("first-wins");
        const first = await getBreaker(name, { threshold: 2, ttl: 0.05 });
        const later = await getBreaker(name, { threshold: 7, ttl: 42 });
        await run(name, () => "ok", { threshold: 9, ttl: 9 });
        for (const breaker of [first, later, await getBreaker(name)]) {
          expect([breaker.threshold, breaker.ttl]).toEqual([2, 0.05]);
        }
      });

      it("keeps the default ttl when only threshold is given, and the reverse", async () => {
        const { getBreaker } = bench.make(flavour, { defaultThreshold: 4, defaultTtl: 12 });
        const a = await getBreaker(circuitName("threshold-only"), { threshold: 2 });
        const b = await getBreaker(circuitName("ttl-only"), { ttl: 0.5 });
        expect([a.threshold, a.ttl]).toEqual([2, 12]);
        expect([b.threshold, b.ttl]).toEqual([4, 0.5]);
      });

      it("is registered by factory.run, once", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const name = circuitName("run-registers");
        await made.run(name, () => 1, { threshold: 2 });
        await made.run(name, () => 2);
        expect(made.factory.circuitNames()).toContain(name);
        expect(log.labels(name)).toEqual(["circuit_breaker_created"]);
        expect((await made.getBreaker(name)).threshold).toBe(2);
      });

      it("is shared by every breaker that names it", async () => {
        const { getBreaker, run } = bench.make(flavour, { defaultThreshold: 3 });
        const name = circuitName("shared");
        const one = await getBreaker(name);
        const other = await getBreaker(name, { exclude: [RangeError] });
        await one.run(throwing(new Error("a"))).catch(() => undefined);
        await run(name, throwing(new Error("b"))).catch(() => undefined);
        expect(other.failureCount).toBe(2);
        await other.run(throwing(new Error("c"))).catch(() => undefined);
        expect(one.state).toBe("opened");
      });
    });

    describe("a guarded call given something other than a function", () => {
      // The common slip: run("api", fetch(url)) passes the promise, not the call.
      const notFunctions: unknown[] = [Promise.resolve(1), 42, undefined, "fetch"];

      it("rejects breaker.run with an InvalidOptionError naming fn and the value, counting nothing", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const breaker = await made.getBreaker(circuitName("not-a-function"), { threshold: 1 });
        for (const value of notFunctions) {
          const error = await breaker.run(value as () => unknown).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(InvalidOptionError);
          expect((error as InvalidOptionError).option).toBe("fn");
          expect((error as InvalidOptionError).value).toBe(value);
        }
        expect(await breaker.run(() => 1).catch((e: unknown) => e)).toBe(1);
        expect([breaker.state, breaker.failureCount]).toEqual(["closed", 0]);
        expect(log.labels(breaker.name)).toEqual(["circuit_breaker_created"]);
      });

      it("rejects factory.run the same way, for a new circuit and a known one", async () => {
        const made = bench.make(flavour, { defaultThreshold: 1 });
        const log = listen(made.factory);
        const name = circuitName("run-not-a-function");
        const fresh = await made.run(name, Promise.resolve(1) as never).catch((e: unknown) => e);
        expect(fresh).toBeInstanceOf(InvalidOptionError);
        expect((fresh as InvalidOptionError).message).toBe(
          'Invalid option "fn": expected a function to run under the circuit, e.g. () => fetch(url), got a promise',
        );
        expect(log.labels(name)).toEqual([]);
        await made.run(name, () => "registers");
        const known = await made.run(name, 42 as never).catch((e: unknown) => e);
        expect(known).toBeInstanceOf(InvalidOptionError);
        expect((await made.getBreaker(name)).state).toBe("closed");
        expect(log.labels(name)).toEqual(["circuit_breaker_created"]);
      });

      it("takes no probe slot of a half-opened circuit", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("probe-not-a-function"), { threshold: 1, ttl: 0.05 });
        await trip(breaker);
        await bench.advance(60);
        await expect(breaker.run(undefined as never)).rejects.toBeInstanceOf(InvalidOptionError);
        await expect(breaker.run(() => "probe")).resolves.toBe("probe");
        expect(breaker.state).toBe("closed");
      });
    });

    describe("closed circuit", () => {
      it("returns what the guarded function returns", async () => {
        const made = bench.make(flavour);
        const breaker = await made.getBreaker(circuitName("value"));
        await expect(breaker.run(() => ({ answer: 42 }))).resolves.toEqual({ answer: 42 });
        await expect(made.run(circuitName("value-run"), () => "one-liner")).resolves.toBe("one-liner");
      });

      it("re-throws the guarded function's error unchanged", async () => {
        const made = bench.make(flavour);
        const error = new TypeError("boom");
        const breaker = await made.getBreaker(circuitName("rethrow"));
        await expect(breaker.run(throwing(error))).rejects.toBe(error);
        await expect(made.run(breaker.name, throwing(error))).rejects.toBe(error);
        expect(breaker.failureCount).toBe(2);
      });

      it("counts thrown values that are not Errors as failures", async () => {
        const { getBreaker } = bench.make(flavour, { defaultThreshold: 10 });
        const breaker = await getBreaker(circuitName("non-error"));
        const thrown: unknown[] = ["a string", 404, null, undefined, { status: 503 }];
        for (const value of thrown) await expect(breaker.run(throwing(value))).rejects.toBe(value);
        expect(breaker.failureCount).toBe(thrown.length);
      });

      it("counts consecutive failures", async () => {
        const { getBreaker } = bench.make(flavour, { defaultThreshold: 3 });
        const breaker = await getBreaker(circuitName("count"));
        await breaker.run(throwing(new Error("1"))).catch(() => undefined);
        await breaker.run(throwing(new Error("2"))).catch(() => undefined);
        expect(breaker.failureCount).toBe(2);
        expect(breaker.state).toBe("closed");
      });

      it("resets the failure count on a success", async () => {
        const { getBreaker } = bench.make(flavour, { defaultThreshold: 2 });
        const breaker = await getBreaker(circuitName("reset"));
        await breaker.run(throwing(new Error("1"))).catch(() => undefined);
        await breaker.run(() => "ok");
        expect(breaker.failureCount).toBe(0);
        await breaker.run(throwing(new Error("2"))).catch(() => undefined);
        expect(breaker.state).toBe("closed");
      });

      it("opens after threshold consecutive failures", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("opens"), { threshold: 2, ttl: 10 });
        await trip(breaker);
        expect(breaker.state).toBe("opened");
        expect(breaker.failureCount).toBe(2);
        expect(breaker.openedAt).toEqual(expect.any(Number));
      });

      it("opens with a threshold of 1 at the first failure", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("threshold-1"), { threshold: 1, ttl: 10 });
        await breaker.run(throwing(new Error("once"))).catch(() => undefined);
        expect(breaker.state).toBe("opened");
      });
    });

    describe("opened circuit", () => {
      it("rejects calls with CircuitOpenError without running the guarded function", async () => {
        const made = bench.make(flavour);
        const breaker = await made.getBreaker(circuitName("rejects"), { threshold: 2, ttl: 10 });
        await trip(breaker);
        const guarded = vi.fn(() => "should not run");
        await expect(breaker.run(guarded)).rejects.toBeInstanceOf(CircuitOpenError);
        await expect(made.run(breaker.name, guarded)).rejects.toBeInstanceOf(CircuitOpenError);
        expect(guarded).not.toHaveBeenCalled();
      });

      it("rejects with an error that names the circuit and says when to retry", async () => {
        const { getBreaker } = bench.make(flavour);
        const name = circuitName("open-error");
        const breaker = await getBreaker(name, { threshold: 1, ttl: 10 });
        await trip(breaker);
        const error = await breaker.run(() => "never").catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CircuitOpenError);
        expect(error).toBeInstanceOf(Error);
        const open = error as CircuitOpenError;
        expect(open.message).toBe(`Circuit ${name} is open`);
        expect(open.name).toBe("CircuitOpenError");
        expect(open.code).toBe("PURGATORY_CIRCUIT_OPEN");
        expect(open.circuitName).toBe(name);
        expect(open.openedAt).toBe(breaker.openedAt);
        expect(open.retryAfterMs).toBeGreaterThan(0);
        expect(open.retryAfterMs).toBeLessThanOrEqual(10_000);
        expect(String(open)).toBe(`CircuitOpenError: Circuit ${name} is open`);
      });

      it("stays opened, rejecting every call, until its ttl has elapsed", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("stays"), { threshold: 1, ttl: 10 });
        await trip(breaker);
        const openedAt = breaker.openedAt;
        for (let i = 0; i < 5; i++) {
          await expect(breaker.run(() => i)).rejects.toBeInstanceOf(CircuitOpenError);
        }
        expect(breaker.state).toBe("opened");
        expect(breaker.openedAt).toBe(openedAt);
        expect(breaker.failureCount).toBe(1);
      });

      it("counts no failure for a rejected call", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const breaker = await made.getBreaker(circuitName("no-count"), { threshold: 1, ttl: 10 });
        await trip(breaker);
        log.clear();
        await breaker.run(() => 1).catch(() => undefined);
        expect(log.labels(breaker.name)).toEqual([]);
        expect(breaker.failureCount).toBe(1);
      });

      it("lets a probe through once its ttl has elapsed", async () => {
        const { getBreaker } = bench.make(flavour);
        const breaker = await getBreaker(circuitName("probe"), { threshold: 1, ttl: 0.05 });
        await trip(breaker);
        await bench.advance(60);
        await expect(breaker.run(() => "probe result")).resolves.toBe("probe result");
        expect(breaker.state).toBe("closed");
        expect(breaker.failureCount).toBe(0);
        expect(breaker.openedAt).toBeNull();
      });
    });
  });

  describe("async factory", () => {
    it("guards a synchronous function, resolving with its value", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("sync-fn"));
      const result = breaker.run(() => 7);
      expect(result).toBeInstanceOf(Promise);
      await expect(result).resolves.toBe(7);
    });

    it("rejects, never throws, when a synchronous function throws", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("sync-throw"));
      const error = new Error("sync");
      let result: Promise<unknown> | undefined;
      expect(() => (result = breaker.run(throwing(error)))).not.toThrow();
      await expect(result).rejects.toBe(error);
      expect(breaker.failureCount).toBe(1);
    });

    it("counts a rejected promise as a failure and re-rejects with its reason", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 2, defaultTtl: 10 });
      const breaker = await factory.getBreaker(circuitName("async-reject"));
      const reason = new Error("async");
      await expect(breaker.run(() => Promise.reject(reason))).rejects.toBe(reason);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a rejection that is not an Error, on purpose
      await expect(breaker.run(async () => Promise.reject("plain string"))).rejects.toBe("plain string");
      expect(breaker.state).toBe("opened");
    });

    it("resolves with the value of an awaited thenable", async () => {
      const factory = bench.makeAsync();
      const thenable: PromiseLike<string> = { then: (resolve) => Promise.resolve("thenable").then(resolve) };
      await expect(factory.run(circuitName("thenable"), () => thenable)).resolves.toBe("thenable");
    });

    it("returns a real promise even for a thenable whose then returns nothing, and counts its rejection", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 10 });
      const name = circuitName("bare-thenable");
      const resolving = {
        then: (resolve: (value: number) => void) => void resolve(7),
      } as unknown as PromiseLike<number>;
      const result = factory.run(name, () => resolving);
      expect(result).toBeInstanceOf(Promise);
      await expect(result).resolves.toBe(7);
      const reason = new Error("thenable");
      const rejecting = {
        then: (_: unknown, reject: (e: unknown) => void) => void reject(reason),
      } as unknown as PromiseLike<number>;
      await expect(factory.run(name, () => rejecting)).rejects.toBe(reason);
      expect((await factory.getBreaker(name)).state).toBe("opened");
    });

    it("rejects factory.run with a CircuitOpenError when the circuit is opened", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 10 });
      const name = circuitName("run-open");
      await factory.run(name, throwing(new Error("x"))).catch(() => undefined);
      const guarded = vi.fn(async () => "never");
      await expect(factory.run(name, guarded)).rejects.toMatchObject({ circuitName: name });
      expect(guarded).not.toHaveBeenCalled();
    });
  });

  describe.skipIf(kind.syncFactory === false)("sync factory", () => {
    it("throws CircuitOpenError synchronously when the circuit is opened", async () => {
      const factory = bench.makeSync({ defaultThreshold: 1, defaultTtl: 10 });
      const name = circuitName("sync-open");
      expect(() => factory.run(name, throwing(new Error("x")))).toThrow("x");
      expect(() => factory.run(name, () => 1)).toThrow(CircuitOpenError);
      expect(() => factory.getBreaker(name).run(() => 1)).toThrow(`Circuit ${name} is open`);
    });

    it("returns the guarded function's value as is, even a promise, without awaiting it", async () => {
      const factory = bench.makeSync();
      const promise = Promise.reject(new Error("not judged"));
      promise.catch(() => undefined);
      const breaker = factory.getBreaker(circuitName("sync-promise"));
      expect(breaker.run(() => promise)).toBe(promise);
      await promise.catch(() => undefined);
      expect(breaker.failureCount).toBe(0);
    });
  });
});
