/**
 * Forgetting circuits: `factory.forget(name)`, the `idleTtl` option and `circuitNames()`.
 * Runs for every storage kind and both factories.
 */
import { describe, expect, it } from "vitest";
import { CircuitOpenError, InvalidOptionError } from "../../src/index.js";
import { circuitName, flavoursFor, listen, throwing, trip, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    describe("circuitNames()", () => {
      it("lists the circuits registered by getBreaker and run", async () => {
        const made = bench.make(flavour);
        const a = circuitName("listed-a");
        const b = circuitName("listed-b");
        await made.getBreaker(a);
        await made.run(b, () => 1);
        expect(made.factory.circuitNames()).toEqual(expect.arrayContaining([a, b]));
        expect(made.factory.circuitNames()).toHaveLength(2);
      });
    });

    describe("forget(name)", () => {
      it("drops the circuit's state: the next call registers it afresh", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const name = circuitName("forget");
        await trip(await made.getBreaker(name, { threshold: 1, ttl: 10 }));
        await made.forget(name);
        expect(made.factory.circuitNames()).not.toContain(name);
        const again = await made.getBreaker(name, { threshold: 3, ttl: 20 });
        if (kind.sharedState) {
          // Only this process's replica was dropped: the shared circuit is found again.
          expect([again.state, again.threshold, again.ttl]).toEqual(["opened", 1, 10]);
          await expect(again.run(() => "runs")).rejects.toBeInstanceOf(CircuitOpenError);
          return;
        }
        expect([again.state, again.failureCount, again.threshold, again.ttl]).toEqual(["closed", 0, 3, 20]);
        await expect(again.run(() => "runs")).resolves.toBe("runs");
        expect(log.labels(name).filter((l) => l === "circuit_breaker_created")).toHaveLength(2);
      });

      it("leaves breakers already handed out working: they register the circuit again", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const name = circuitName("held");
        const held = await made.getBreaker(name, { threshold: 2, ttl: 10 });
        await trip(held);
        await made.forget(name);
        log.clear();
        if (kind.sharedState) {
          await expect(held.run(() => "works")).rejects.toBeInstanceOf(CircuitOpenError);
          expect(made.factory.circuitNames()).toContain(name);
          expect([held.state, held.threshold, held.ttl]).toEqual(["opened", 2, 10]);
          return;
        }
        await expect(held.run(() => "works")).resolves.toBe("works");
        expect(made.factory.circuitNames()).toContain(name);
        expect(log.labels(name)).toEqual(["circuit_breaker_created"]);
        expect([held.state, held.threshold, held.ttl]).toEqual(["closed", 2, 10]);
        await held.run(throwing(new Error("1"))).catch(() => undefined);
        expect((await made.getBreaker(name)).failureCount).toBe(1);
      });

      it("lets factory.run register the circuit again", async () => {
        const made = bench.make(flavour);
        const name = circuitName("forget-run");
        await made.run(name, throwing(new Error("x")), { threshold: 1, ttl: 10 }).catch(() => undefined);
        await made.forget(name);
        const outcome = made.run(name, () => "runs");
        if (kind.sharedState) await expect(outcome).rejects.toBeInstanceOf(CircuitOpenError);
        else await expect(outcome).resolves.toBe("runs");
      });

      it("does nothing for a name that is not registered", async () => {
        const made = bench.make(flavour);
        await expect(made.forget(circuitName("unknown"))).resolves.toBeUndefined();
      });

      it("rejects a name that is not a non-empty string", () => {
        const made = bench.make(flavour);
        expect(() => made.factory.forget("")).toThrow(InvalidOptionError);
      });
    });

    describe("idleTtl", () => {
      it("forgets a circuit left unused, when a new circuit registers", async () => {
        const made = bench.make(flavour, { idleTtl: 0.05 });
        const idle = circuitName("idle");
        await made.run(idle, () => 1);
        // Sweeps run lazily, at most once per idleTtl, on registrations; a circuit unused for two
        // whole periods is forgotten.
        for (let i = 0; i < 2; i++) {
          await bench.advance(60);
          await made.getBreaker(circuitName("newcomer"));
        }
        expect(made.factory.circuitNames()).not.toContain(idle);
      });

      it("keeps a circuit used within the last idleTtl", async () => {
        const made = bench.make(flavour, { idleTtl: 0.05 });
        const busy = circuitName("busy");
        const breaker = await made.getBreaker(busy);
        for (let i = 0; i < 4; i++) {
          await breaker.run(() => i);
          await bench.advance(40);
          await made.getBreaker(circuitName("newcomer"));
        }
        expect(made.factory.circuitNames()).toContain(busy);
      });

      it("keeps an opened circuit whose ttl has not elapsed", async () => {
        const made = bench.make(flavour, { idleTtl: 0.05 });
        const name = circuitName("opened-idle");
        const breaker = await made.getBreaker(name, { threshold: 1, ttl: 10 });
        await trip(breaker);
        for (let i = 0; i < 3; i++) {
          await bench.advance(60);
          await made.getBreaker(circuitName("newcomer"));
        }
        expect(made.factory.circuitNames()).toContain(name);
        await expect(made.run(name, () => "rejected")).rejects.toMatchObject({ circuitName: name });
      });

      it("forgets an opened circuit once its ttl has elapsed", async () => {
        const made = bench.make(flavour, { idleTtl: 0.05 });
        const name = circuitName("opened-expired");
        await trip(await made.getBreaker(name, { threshold: 1, ttl: 0.05 }));
        for (let i = 0; i < 3; i++) {
          await bench.advance(60);
          await made.getBreaker(circuitName("newcomer"));
        }
        expect(made.factory.circuitNames()).not.toContain(name);
      });

      it("forgets nothing without a call that registers a new circuit", async () => {
        const made = bench.make(flavour, { idleTtl: 0.05 });
        const name = circuitName("lazy");
        await made.getBreaker(name);
        await bench.advance(60);
        await bench.advance(60);
        expect(made.factory.circuitNames()).toContain(name);
      });

      it("is off by default: idle circuits are kept", async () => {
        const made = bench.make(flavour);
        const name = circuitName("kept");
        await made.getBreaker(name);
        for (let i = 0; i < 3; i++) {
          await bench.advance(60);
          await made.getBreaker(circuitName("newcomer"));
        }
        expect(made.factory.circuitNames()).toContain(name);
      });

      it("leaves a forgotten circuit's breaker working", async () => {
        const made = bench.make(flavour, { idleTtl: 0.05 });
        const name = circuitName("idle-held");
        const held = await made.getBreaker(name, { threshold: 4 });
        for (let i = 0; i < 2; i++) {
          await bench.advance(60);
          await made.getBreaker(circuitName("newcomer"));
        }
        expect(made.factory.circuitNames()).not.toContain(name);
        await expect(held.run(() => "still works")).resolves.toBe("still works");
        expect(made.factory.circuitNames()).toContain(name);
        expect(held.threshold).toBe(4);
      });
    });
  });
});
