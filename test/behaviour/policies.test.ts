/**
 * Trip policies beyond consecutive failures, and an operator's control (docs/design.md,
 * "Policies"): a failure rate over a time window, backoff of the open time, isolate / disable /
 * reset, and reconfigure. Runs for every storage kind, with the async factory (and the sync one
 * where the storage decides synchronously).
 */
import { describe, expect, it } from "vitest";
import { CircuitOpenError, type AsyncCircuitBreaker } from "../../src/index.js";
import { circuitName, flavoursFor, listen, throwing, trip, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

const boom = () => Promise.reject(new Error("downstream failed"));
const fail = (breaker: AsyncCircuitBreaker) => breaker.run(boom).catch((error: unknown) => error);

/** The error a call on an opened circuit is rejected with. */
async function rejection(breaker: AsyncCircuitBreaker): Promise<CircuitOpenError> {
  const error = await breaker.run(() => "ran").catch((e: unknown) => e);
  expect(error).toBeInstanceOf(CircuitOpenError);
  return error as CircuitOpenError;
}

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe("a failure rate over a window", () => {
    it("trips at the failure that reaches the rate, once minimumCalls calls were seen", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("rate"), {
        threshold: 100,
        failureRate: { rate: 0.5, minimumCalls: 10, window: 60 },
      });
      for (let i = 0; i < 5; i++) await breaker.run(() => "ok");
      for (let i = 0; i < 4; i++) await fail(breaker);
      expect(breaker.state).toBe("closed");
      await fail(breaker); // the 10th call, the 5th failure: 50 %
      expect(breaker.state).toBe("opened");
      expect(breaker.failureCount).toBe(5);
    });

    it("does not trip below minimumCalls, however high the rate", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("rate-minimum"), {
        threshold: 100,
        failureRate: { rate: 0.5, minimumCalls: 10, window: 60 },
      });
      for (let i = 0; i < 9; i++) await fail(breaker);
      expect(breaker.state).toBe("closed");
    });

    it("forgets the calls that left the window", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("rate-window"), {
        threshold: 100,
        failureRate: { rate: 0.5, minimumCalls: 4, window: 0.2 },
      });
      for (let i = 0; i < 3; i++) await fail(breaker);
      // Twice the window: over Redis, a process dates its counts by its estimate of Redis time,
      // which a loaded machine's delays can put tens of milliseconds late.
      await bench.advance(400);
      // The three old failures count no more: 1 failure in 1 call is below minimumCalls.
      await fail(breaker);
      expect(breaker.state).toBe("closed");
      for (let i = 0; i < 3; i++) await breaker.run(() => "ok");
      expect(breaker.state).toBe("closed");
    });

    it("still opens at threshold consecutive failures, whatever the rate", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("rate-threshold"), {
        threshold: 3,
        failureRate: { rate: 0.9, minimumCalls: 100, window: 60 },
      });
      for (let i = 0; i < 3; i++) await fail(breaker);
      expect(breaker.state).toBe("opened");
    });
  });

  describe("backoff", () => {
    it("opens longer at each re-opening since the last close, up to maxTtl, and says so in retryAfterMs", async () => {
      const factory = bench.makeAsync();
      // Open times of 200, 600 and (capped) 1,000 ms; each bound leaves room for a slow machine.
      const breaker = await factory.getBreaker(circuitName("backoff"), {
        threshold: 1,
        ttl: 0.2,
        backoff: { multiplier: 3, maxTtl: 1, jitter: 0 },
      });
      const retryAfter = async () => (await rejection(breaker)).retryAfterMs;
      await fail(breaker);
      expect(await retryAfter()).toBeLessThanOrEqual(200);
      await bench.advance(210);
      await fail(breaker); // the probe fails: the second opening lasts 600 ms
      expect(await retryAfter()).toBeGreaterThan(300);
      expect(await retryAfter()).toBeLessThanOrEqual(600);
      await bench.advance(610);
      await fail(breaker); // the third: 1,800 ms, capped at 1,000 ms
      expect(await retryAfter()).toBeGreaterThan(700);
      expect(await retryAfter()).toBeLessThanOrEqual(1000);
      await bench.advance(1010);
      await breaker.run(() => "ok"); // closes: the next opening starts from ttl again
      await fail(breaker);
      expect(await retryAfter()).toBeLessThanOrEqual(200);
    });
  });

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    describe("an operator's control", () => {
      it("isolates a circuit: every call is rejected as isolated, until reset", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const name = circuitName("isolated");
        const breaker = await made.factory.getBreaker(name);
        await breaker.isolate();
        expect(breaker.state).toBe("isolated");
        const error = await made.run(name, () => "ran").catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CircuitOpenError);
        expect((error as CircuitOpenError).isolated).toBe(true);
        expect((error as CircuitOpenError).message).toBe(`Circuit ${name} is isolated`);
        await breaker.reset();
        expect(breaker.state).toBe("closed");
        await expect(made.run(name, () => "runs")).resolves.toBe("runs");
        expect(log.labels(name)).toEqual(["circuit_breaker_created", "state_changed isolated", "state_changed closed"]);
      });

      it("disables a circuit: calls run and failures are counted, but it never trips", async () => {
        const made = bench.make(flavour);
        const name = circuitName("disabled");
        const breaker = await made.factory.getBreaker(name, { threshold: 2 });
        await breaker.disable();
        for (let i = 0; i < 5; i++) {
          await made
            .run(name, () => {
              throw new Error("down");
            })
            .catch(() => undefined);
        }
        expect(breaker.state).toBe("disabled");
        expect(breaker.failureCount).toBe(5);
        await breaker.reset();
        expect([breaker.state, breaker.failureCount]).toEqual(["closed", 0]);
      });

      it("resets an opened circuit at once", async () => {
        const made = bench.make(flavour);
        const name = circuitName("reset");
        const breaker = await made.factory.getBreaker(name, { threshold: 1, ttl: 60 });
        await made
          .run(name, () => {
            throw new Error("down");
          })
          .catch(() => undefined);
        expect(breaker.state).toBe("opened");
        await breaker.reset();
        await expect(made.run(name, () => "runs")).resolves.toBe("runs");
      });
    });

    describe("slow calls", () => {
      // A call slower than `duration` (20 ms) is slow: busy-waiting 40 ms is, returning at once is not.
      const slowly = (): string => {
        const end = performance.now() + 40;
        while (performance.now() < end);
        return "slow";
      };
      const slowCircuit = {
        threshold: 100,
        failureRate: { rate: 1, minimumCalls: 4, window: 60 },
        slowCall: { duration: 0.02, rate: 0.5 },
      };

      it("trips at the call that reaches the slow-call rate, once minimumCalls calls were seen", async () => {
        const made = bench.make(flavour);
        const name = circuitName("slow");
        const breaker = await made.getBreaker(name, slowCircuit);
        await made.run(name, () => "fast");
        await made.run(name, () => "fast");
        await expect(made.run(name, slowly)).resolves.toBe("slow"); // 1 slow in 3 calls
        expect(breaker.state).toBe("closed");
        await expect(made.run(name, slowly)).resolves.toBe("slow"); // 2 in 4: 50 %
        expect(breaker.state).toBe("opened");
        await expect(made.run(name, () => "fast")).rejects.toBeInstanceOf(CircuitOpenError);
      });

      it("counts an excluded error that took long as slow, and a slow failure as a failure only", async () => {
        const made = bench.make(flavour);
        const name = circuitName("slow-excluded");
        // `exclude` is a rule of the breaker's calls: they go through the breaker.
        const breaker = await made.getBreaker(name, { ...slowCircuit, exclude: [RangeError] });
        const slowThrow = (error: Error) => () => {
          slowly();
          throw error;
        };
        await breaker.run(() => "fast");
        await breaker.run(slowThrow(new Error("slow failure"))).catch(() => undefined); // a failure, not slow
        await breaker.run(() => "fast");
        expect(breaker.state).toBe("closed"); // 0 slow in 3
        await breaker.run(slowThrow(new RangeError("slow, excluded"))).catch(() => undefined); // 1 slow in 4
        expect(breaker.state).toBe("closed");
        await breaker.run(slowly); // 2 slow in 5: 40 %
        expect(breaker.state).toBe("closed");
        await breaker.run(slowly); // 3 in 6: 50 %
        expect(breaker.state).toBe("opened");
      });

      it("starts timing a circuit's calls when a slowCall rule is reconfigured in", async () => {
        const made = bench.make(flavour);
        const name = circuitName("slow-later");
        const breaker = await made.getBreaker(name, { threshold: 100 });
        await made.run(name, slowly);
        await made.factory.reconfigure(name, {
          slowCall: { duration: 0.02, rate: 1 },
          failureRate: { rate: 1, minimumCalls: 2, window: 60 },
        });
        await made.run(name, slowly);
        expect(breaker.state).toBe("closed"); // the slow call before the rule was not timed: 1 call seen
        await made.run(name, slowly);
        expect(breaker.state).toBe("opened");
      });
    });

    describe("retryAfter: the open time a failure asks for", () => {
      const down = () => {
        throw Object.assign(new Error("busy"), { retryAfterSeconds: 2 });
      };
      const retryAfter = (failure: unknown) => (failure as { retryAfterSeconds?: number }).retryAfterSeconds;

      it("keeps the circuit opened at least that long, past its ttl, and says so in retryAfterMs", async () => {
        const made = bench.make(flavour);
        const name = circuitName("retry-after");
        // `retryAfter` is a rule of the breaker's calls: they go through the breaker.
        const breaker = await made.getBreaker(name, { threshold: 1, ttl: 0.05, retryAfter });
        await breaker.run(down).catch(() => undefined);
        await bench.advance(60); // past the ttl
        const error = await breaker.run(() => "probe").catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CircuitOpenError);
        const retryAfterMs = (error as CircuitOpenError).retryAfterMs;
        expect(retryAfterMs).toBeGreaterThan(1_000);
        expect(retryAfterMs).toBeLessThanOrEqual(2_000);
      });

      it("asks for nothing when it returns no number of seconds > 0, or throws; the call's outcome is unchanged", async () => {
        const made = bench.make(flavour);
        for (const broken of [
          () => undefined,
          () => -1,
          () => Number.NaN,
          () => "2",
          () => {
            throw new Error("retryAfter bug");
          },
        ]) {
          const name = circuitName("retry-after-none");
          const breaker = await made.getBreaker(name, { threshold: 1, ttl: 0.05, retryAfter: broken as () => number });
          await expect(breaker.run(down)).rejects.toThrow("busy");
          await bench.advance(60);
          await expect(breaker.run(() => "probe")).resolves.toBe("probe");
        }
      });

      it("is capped at one hour", async () => {
        const made = bench.make(flavour);
        const name = circuitName("retry-after-cap");
        const breaker = await made.getBreaker(name, { threshold: 1, ttl: 0.05, retryAfter: () => 86_400 });
        await breaker.run(down).catch(() => undefined);
        const error = (await breaker.run(() => "probe").catch((e: unknown) => e)) as CircuitOpenError;
        expect(error.retryAfterMs).toBeLessThanOrEqual(3_600_000);
        expect(error.retryAfterMs).toBeGreaterThan(3_500_000);
      });
    });

    describe("quorum", () => {
      it("changes nothing for a lone process: it trips, probes and closes as without one", async () => {
        const made = bench.make(flavour);
        const name = circuitName("lone-quorum");
        const breaker = await made.getBreaker(name, { threshold: 2, ttl: 0.05, quorum: 3 });
        await trip(breaker);
        expect(breaker.state).toBe("opened");
        expect(breaker.scope).toBe("fleet");
        const error = (await breaker.run(() => "rejected").catch((e: unknown) => e)) as CircuitOpenError;
        expect(error).toBeInstanceOf(CircuitOpenError);
        expect(error.scope).toBe("fleet");
        expect(error.message).toBe(`Circuit ${name} is open`);
        await bench.advance(60);
        await expect(breaker.run(() => "probe")).resolves.toBe("probe");
        expect(breaker.state).toBe("closed");
      });

      it("trips a lone process by its failure rate as without one", async () => {
        const made = bench.make(flavour);
        const name = circuitName("lone-quorum-rate");
        const failureRate = { rate: 0.5, minimumCalls: 4, window: 10 };
        const breaker = await made.getBreaker(name, {
          threshold: 100,
          quorum: { processes: 2, fraction: 0.5 },
          failureRate,
        });
        await breaker.run(() => "ok");
        await breaker.run(() => "ok");
        await breaker.run(throwing(new Error("one"))).catch(() => undefined);
        expect(breaker.state).toBe("closed");
        await breaker.run(throwing(new Error("two"))).catch(() => undefined);
        expect(breaker.state).toBe("opened");
        expect(breaker.scope).toBe("fleet");
      });
    });

    describe("reconfigure", () => {
      it("changes a circuit's threshold and ttl; the next calls follow the new config", async () => {
        const made = bench.make(flavour);
        const name = circuitName("reconfigured");
        const breaker = await made.factory.getBreaker(name, { threshold: 5, ttl: 30 });
        await made.factory.reconfigure(name, { threshold: 2, ttl: 0.05 });
        expect([breaker.threshold, breaker.ttl]).toEqual([2, 0.05]);
        for (let i = 0; i < 2; i++) {
          await made
            .run(name, () => {
              throw new Error("down");
            })
            .catch(() => undefined);
        }
        expect(breaker.state).toBe("opened");
        await bench.advance(60);
        await expect(made.run(name, () => "probe")).resolves.toBe("probe");
      });

      it("rejects a bad change, naming the option", async () => {
        const made = bench.make(flavour);
        const name = circuitName("bad-reconfigure");
        await made.factory.getBreaker(name);
        await expect(made.factory.reconfigure(name, { threshold: 0 })).rejects.toThrow(/"threshold"/);
        await expect(
          made.factory.reconfigure(name, { failureRate: { rate: 2, minimumCalls: 1, window: 1 } }),
        ).rejects.toThrow(/"failureRate.rate"/);
      });
    });
  });
});
