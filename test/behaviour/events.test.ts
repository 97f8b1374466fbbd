/**
 * Monitoring hooks: which events, with which payloads, in which order (docs/design.md, "Events").
 * Runs for every storage kind and both factories.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { InvalidOptionError, type CircuitHook, type CircuitStateChangedEvent } from "../../src/index.js";
import { circuitName, EventLog, flavoursFor, listen, throwing, trip, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    describe("events", () => {
      it("follow the design's example for threshold 2: open, failing probe, good probe", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const name = circuitName("design-example");
        const breaker = await made.getBreaker(name, { threshold: 2, ttl: 0.05 });
        await trip(breaker);
        expect(log.labels(name)).toEqual(["circuit_breaker_created", "failed 1", "failed 2", "state_changed opened"]);

        log.clear();
        await bench.advance(60);
        await breaker.run(throwing(new Error("failing probe"))).catch(() => undefined);
        expect(log.labels(name)).toEqual(["state_changed half-opened", "state_changed opened"]);

        log.clear();
        await bench.advance(60);
        await breaker.run(() => "good probe");
        expect(log.labels(name)).toEqual(["state_changed half-opened", "recovered", "state_changed closed"]);
      });

      it("carry the payloads of the design's table", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const name = circuitName("payloads");
        const breaker = await made.getBreaker(name, { threshold: 2, ttl: 0.05 });
        await trip(breaker);
        const firstOpenedAt = breaker.openedAt;
        await bench.advance(60);
        await breaker.run(throwing(new Error("failing probe"))).catch(() => undefined);
        const secondOpenedAt = breaker.openedAt;
        await bench.advance(60);
        await breaker.run(() => "good probe");

        expect(firstOpenedAt).toEqual(expect.any(Number));
        expect(secondOpenedAt).toBeGreaterThan(firstOpenedAt!);
        expect(log.of(name)).toEqual([
          [name, "circuit_breaker_created", { name, threshold: 2, ttl: 0.05 }],
          [name, "failed", { name, failureCount: 1 }],
          [name, "failed", { name, failureCount: 2 }],
          [name, "state_changed", { name, state: "opened", openedAt: firstOpenedAt, scope: "fleet" }],
          [name, "state_changed", { name, state: "half-opened", openedAt: null, scope: "fleet" }],
          [name, "state_changed", { name, state: "opened", openedAt: secondOpenedAt, scope: "fleet" }],
          [name, "state_changed", { name, state: "half-opened", openedAt: null, scope: "fleet" }],
          [name, "recovered", { name, scope: "fleet" }],
          [name, "state_changed", { name, state: "closed", openedAt: null, scope: "fleet" }],
        ]);
      });

      it("include circuit_breaker_created only for the first registration of a name", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const name = circuitName("created-once");
        await made.getBreaker(name);
        await made.getBreaker(name, { threshold: 3 });
        await made.run(name, () => 1);
        expect(log.labels(name)).toEqual(["circuit_breaker_created"]);
      });

      it("include recovered when a success resets a non-zero failure count", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const breaker = await made.getBreaker(circuitName("recovered"), { threshold: 3 });
        await breaker.run(() => "no failures yet");
        await breaker.run(throwing(new Error("one"))).catch(() => undefined);
        await breaker.run(() => "resets");
        await breaker.run(() => "nothing to reset");
        expect(log.labels(breaker.name)).toEqual(["circuit_breaker_created", "failed 1", "recovered"]);
      });

      it("include nothing for successes of a circuit with no failures", async () => {
        const made = bench.make(flavour);
        const breaker = await made.getBreaker(circuitName("quiet"));
        const log = listen(made.factory);
        for (let i = 0; i < 10; i++) await breaker.run(() => i);
        expect(log.calls).toEqual([]);
      });
    });

    describe("hooks", () => {
      afterEach(() => {
        vi.restoreAllMocks();
      });

      it("are all called, in the order they were added", async () => {
        const made = bench.make(flavour);
        const order: string[] = [];
        made.factory.addListener(() => order.push("first"));
        made.factory.addListener(() => order.push("second"));
        await made.getBreaker(circuitName("two-hooks"));
        expect(order).toEqual(["first", "second"]);
      });

      it("can be given with the listeners option", async () => {
        const log = new EventLog();
        const made = bench.make(flavour, { listeners: [log.hook] });
        const name = circuitName("listeners-option");
        await made.run(name, throwing(new Error("x"))).catch(() => undefined);
        expect(log.labels(name)).toEqual(["circuit_breaker_created", "failed 1"]);
      });

      it("stop being called once removed", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const name = circuitName("removed");
        await made.getBreaker(name);
        made.factory.removeListener(log.hook);
        await made.run(name, throwing(new Error("x"))).catch(() => undefined);
        expect(log.labels(name)).toEqual(["circuit_breaker_created"]);
      });

      it("stop being called once the function addListener returned is called, once", async () => {
        const made = bench.make(flavour);
        const log = new EventLog();
        const stop = made.factory.addListener(log.hook);
        const again = made.factory.addListener(log.hook); // added twice: called twice
        const name = circuitName("disposer");
        await made.getBreaker(name);
        expect(log.labels(name)).toEqual(["circuit_breaker_created", "circuit_breaker_created"]);
        stop();
        stop(); // a no-op: the other registration stays
        await made.run(name, throwing(new Error("x"))).catch(() => undefined);
        expect(log.labels(name)).toEqual(["circuit_breaker_created", "circuit_breaker_created", "failed 1"]);
        again[Symbol.dispose]();
        await made.run(name, throwing(new Error("y"))).catch(() => undefined);
        expect(log.labels(name)).toHaveLength(3);
        expect(() => made.factory.removeListener(log.hook)).toThrow(InvalidOptionError);
      });

      it("cannot be removed when not listening: removeListener throws InvalidOptionError", () => {
        const made = bench.make(flavour);
        const stranger: CircuitHook = () => undefined;
        expect(() => made.factory.removeListener(stranger)).toThrow(InvalidOptionError);
        const log = listen(made.factory);
        made.factory.removeListener(log.hook);
        expect(() => made.factory.removeListener(log.hook)).toThrow(InvalidOptionError);
      });

      it("must be functions: addListener throws InvalidOptionError otherwise", () => {
        const made = bench.make(flavour);
        expect(() => made.factory.addListener("hook" as unknown as CircuitHook)).toThrow(InvalidOptionError);
      });

      it("that throw never change the outcome of the guarded call", async () => {
        vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
        const made = bench.make(flavour);
        made.factory.addListener(() => {
          throw new Error("hook bug");
        });
        const log = listen(made.factory);
        const name = circuitName("throwing-hook");
        const breaker = await made.getBreaker(name, { threshold: 2, ttl: 0.05 });
        await expect(breaker.run(() => "value")).resolves.toBe("value");
        const error = new Error("guarded failure");
        await expect(breaker.run(throwing(error))).rejects.toBe(error);
        await expect(breaker.run(() => "recovers")).resolves.toBe("recovers");
        await trip(breaker);
        expect(breaker.state).toBe("opened");
        await bench.advance(60);
        await expect(breaker.run(() => "probe")).resolves.toBe("probe");
        expect(breaker.state).toBe("closed");
        expect(log.labels(name)).toContain("recovered");
      });

      it("that throw are reported once each as a process warning", async () => {
        const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
        const made = bench.make(flavour);
        made.factory.addListener(() => {
          throw new Error("hook bug");
        });
        made.factory.addListener(() => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- a hook throwing a non-Error, on purpose
          throw "not an Error";
        });
        const breaker = await made.getBreaker(circuitName("warned"), { threshold: 5 });
        for (let i = 0; i < 3; i++) await breaker.run(throwing(new Error("x"))).catch(() => undefined);
        expect(warn).toHaveBeenCalledTimes(2);
        expect(String(warn.mock.calls[0]?.[0])).toMatch(/hook threw.*hook bug/);
        expect(String(warn.mock.calls[1]?.[0])).toMatch(/not an Error/);
        expect(warn.mock.calls[0]?.[1]).toMatchObject({ code: "PURGATORY_HOOK_ERROR" });
      });

      it("that are async and reject neither crash the process nor change the outcome, and are reported once", async () => {
        const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
        const unhandled: unknown[] = [];
        const onUnhandled = (reason: unknown) => unhandled.push(reason);
        process.on("unhandledRejection", onUnhandled);
        try {
          const made = bench.make(flavour);
          made.factory.addListener(async () => {
            throw new Error("async hook bug");
          });
          const breaker = await made.getBreaker(circuitName("async-hook"), { threshold: 5 });
          const error = new Error("guarded failure");
          for (let i = 0; i < 3; i++) await expect(breaker.run(throwing(error))).rejects.toBe(error);
          await expect(breaker.run(() => "value")).resolves.toBe("value");
          // Unhandled rejections are detected once the microtask queue drains.
          await new Promise((resolve) => setImmediate(resolve));
          expect(unhandled).toEqual([]);
          expect(warn).toHaveBeenCalledTimes(1);
          expect(String(warn.mock.calls[0]?.[0])).toMatch(/hook rejected.*async hook bug/);
          expect(warn.mock.calls[0]?.[1]).toMatchObject({ code: "PURGATORY_HOOK_ERROR" });
        } finally {
          process.off("unhandledRejection", onUnhandled);
        }
      });

      it("receive state_changed without remote for a transition this process made", async () => {
        const made = bench.make(flavour);
        const log = listen(made.factory);
        const name = circuitName("local");
        await trip(await made.getBreaker(name, { threshold: 1, ttl: 10 }));
        const changes = log.of(name).filter(([, type]) => type === "state_changed");
        expect(changes).toHaveLength(1);
        expect((changes[0]![2] as CircuitStateChangedEvent).remote).not.toBe(true);
      });
    });
  });
});
