/**
 * `maxCircuits`: a factory holds at most that many circuits, whatever names arrive. Past it, a new
 * name makes room by forgetting the least recently used closed, idle circuit (a second-chance
 * clock sweep over the flag every call sets), emitting `circuit_forgotten` with reason "limit";
 * an opened, half-opened, isolated or disabled circuit is never forgotten for room, and when none
 * can go the new name is refused with `CircuitLimitError`. Runs for every storage kind and both
 * factories.
 */
import { describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitLimitError,
  CircuitOpenError,
  InMemoryStorage,
  InvalidOptionError,
  isCircuitLimitError,
  SyncCircuitBreakerFactory,
  type CircuitForgottenEvent,
} from "../../src/index.js";
import {
  circuitName,
  Deferred,
  flavoursFor,
  listen,
  throwing,
  trip,
  useWorkbench,
  type EventLog,
  type FactoryUnderTest,
} from "../support/factories.js";
import { waitFor } from "../support/redis-helpers.js";
import { memoryKind, storageKinds } from "../support/storage-kinds.js";

/** The `circuit_forgotten` events of the log, as `[name, reason]`. */
function forgotten(log: EventLog): [string, CircuitForgottenEvent["reason"]][] {
  return log.calls.flatMap(([, type, event]) =>
    type === "circuit_forgotten" ? [[event.name, event.reason] as [string, CircuitForgottenEvent["reason"]]] : [],
  );
}

/** Registers each name with one successful call. */
async function use(made: FactoryUnderTest, ...names: string[]): Promise<void> {
  for (const name of names) await made.run(name, () => "ok");
}

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    describe("maxCircuits", () => {
      it("holds at most maxCircuits circuits: a new name forgets the oldest idle one, with circuit_forgotten", async () => {
        const made = bench.make(flavour, { maxCircuits: 3 });
        const log = listen(made.factory);
        const [a, b, c, d] = ["a", "b", "c", "d"].map(circuitName) as [string, string, string, string];
        await use(made, a, b, c, d);
        expect(made.factory.circuitNames().sort()).toEqual([b, c, d].sort());
        expect(forgotten(log)).toEqual([[a, "limit"]]);
        for (let i = 0; i < 20; i++) await use(made, circuitName(`flood-${i}`));
        expect(made.factory.circuitNames()).toHaveLength(3);
        expect(forgotten(log)).toHaveLength(21);
        expect(forgotten(log).every(([, reason]) => reason === "limit")).toBe(true);
      });

      it("spares a circuit called since the sweep last passed it, and forgets one that was not", async () => {
        const made = bench.make(flavour, { maxCircuits: 3 });
        const log = listen(made.factory);
        const [a, b, c] = ["a", "b", "c"].map(circuitName) as [string, string, string];
        await use(made, a, b, c);
        await use(made, circuitName("d")); // the first sweep passes every circuit once: a goes
        await made.run(b, () => "called again");
        await use(made, circuitName("e"));
        expect(forgotten(log).map(([name]) => name)).toEqual([a, c]);
        expect(made.factory.circuitNames()).toContain(b);
      });

      it("never forgets an opened, isolated or disabled circuit: a new name is refused with CircuitLimitError", async () => {
        const made = bench.make(flavour, { maxCircuits: 3 });
        const log = listen(made.factory);
        const [opened, isolated, disabled] = ["opened", "isolated", "disabled"].map(circuitName) as [
          string,
          string,
          string,
        ];
        await trip(await made.getBreaker(opened, { threshold: 1, ttl: 60 }));
        const isolating = made.factory.getBreaker(isolated);
        await (await isolating).isolate();
        await (await made.factory.getBreaker(disabled)).disable();
        const newcomer = circuitName("newcomer");
        let ran = false;
        const error = await made
          .run(newcomer, () => {
            ran = true;
          })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CircuitLimitError);
        expect(error).toMatchObject({ code: "PURGATORY_CIRCUIT_LIMIT", limit: 3, circuitName: newcomer });
        expect(isCircuitLimitError(error)).toBe(true);
        expect(ran).toBe(false);
        expect(made.factory.circuitStates()).toEqual(
          new Map([
            [opened, "opened"],
            [isolated, "isolated"],
            [disabled, "disabled"],
          ]),
        );
        expect(forgotten(log)).toEqual([]);
        expect(log.labels(newcomer)).toEqual([]);
        // The circuits held keep working as before.
        await expect(made.run(opened, () => "runs")).rejects.toBeInstanceOf(CircuitOpenError);
        await expect(made.run(disabled, () => "runs")).resolves.toBe("runs");
      });

      it("makes room again once a circuit that held its place closes", async () => {
        const made = bench.make(flavour, { maxCircuits: 1 });
        const log = listen(made.factory);
        const held = circuitName("isolated");
        const breaker = await made.factory.getBreaker(held);
        await breaker.isolate();
        const newcomer = circuitName("newcomer");
        await expect(made.run(newcomer, () => "runs")).rejects.toBeInstanceOf(CircuitLimitError);
        await breaker.reset();
        await expect(made.run(newcomer, () => "runs")).resolves.toBe("runs");
        expect(made.factory.circuitNames()).toEqual([newcomer]);
        expect(forgotten(log)).toEqual([[held, "limit"]]);
      });

      it("forgets a closed circuit with no failure count before one that counts failures", async () => {
        const made = bench.make(flavour, { maxCircuits: 2 });
        const log = listen(made.factory);
        const failing = circuitName("failing");
        const clean = circuitName("clean");
        await made.run(failing, throwing(new Error("down")), { threshold: 5 }).catch(() => undefined);
        await use(made, clean);
        await use(made, circuitName("newcomer"));
        expect(forgotten(log)).toEqual([[clean, "limit"]]);
        expect((await made.getBreaker(failing)).failureCount).toBe(1);
      });

      it("forgets a closed circuit that counts failures when no other can go", async () => {
        const made = bench.make(flavour, { maxCircuits: 1 });
        const log = listen(made.factory);
        const failing = circuitName("failing");
        await made.run(failing, throwing(new Error("down")), { threshold: 5 }).catch(() => undefined);
        const newcomer = circuitName("newcomer");
        await expect(made.run(newcomer, () => "runs")).resolves.toBe("runs");
        expect(forgotten(log)).toEqual([[failing, "limit"]]);
        expect(made.factory.circuitNames()).toEqual([newcomer]);
      });

      it("registers a forgotten circuit again on its next call; a breaker handed out keeps working", async () => {
        const made = bench.make(flavour, { maxCircuits: 2 });
        const log = listen(made.factory);
        const name = circuitName("comes-back");
        const held = await made.getBreaker(name, { threshold: 4 });
        await use(made, circuitName("b"), circuitName("c"));
        expect(made.factory.circuitNames()).not.toContain(name);
        await expect(held.run(() => "still works")).resolves.toBe("still works");
        expect(made.factory.circuitNames()).toContain(name);
        expect(made.factory.circuitNames()).toHaveLength(2);
        expect(held.threshold).toBe(4);
        expect(log.labels(name).filter((label) => label === "circuit_breaker_created")).toHaveLength(
          kind.sharedState === true ? 1 : 2,
        );
      });

      it("refuses a breaker handed out whose circuit was forgotten, when no room can be made", async () => {
        const made = bench.make(flavour, { maxCircuits: 1 });
        const name = circuitName("held");
        const held = await made.getBreaker(name);
        const blocker = circuitName("blocker");
        await use(made, blocker); // forgets `name`
        await (await made.factory.getBreaker(blocker)).isolate();
        await expect(held.run(() => "runs")).rejects.toBeInstanceOf(CircuitLimitError);
      });

      it("has no bound by default", async () => {
        const made = bench.make(flavour);
        expect(made.factory.maxCircuits).toBeNull();
        const log = listen(made.factory);
        for (let i = 0; i < 50; i++) await use(made, circuitName(`unbounded-${i}`));
        expect(made.factory.circuitNames()).toHaveLength(50);
        expect(forgotten(log)).toEqual([]);
      });
    });

    describe("circuit_forgotten", () => {
      it("tells forget(name) with reason forget, and idleTtl's sweep with reason idle", async () => {
        const made = bench.make(flavour, { idleTtl: 0.05 });
        const log = listen(made.factory);
        const dropped = circuitName("dropped");
        const idle = circuitName("idle");
        await use(made, dropped, idle);
        await made.forget(dropped);
        await made.forget(circuitName("never-registered"));
        for (let i = 0; i < 2; i++) {
          await bench.advance(60);
          await use(made, circuitName("newcomer"));
        }
        expect(forgotten(log).filter(([name]) => name === dropped || name === idle)).toEqual([
          [dropped, "forget"],
          [idle, "idle"],
        ]);
        expect(forgotten(log).filter(([, reason]) => reason === "forget")).toHaveLength(1);
      });
    });
  });

  describe("async factory", () => {
    it("never forgets a half-opened circuit whose probe is running", async () => {
      const factory = bench.makeAsync({ maxCircuits: 1 });
      const name = circuitName("probing");
      const breaker = await factory.getBreaker(name, { threshold: 1, ttl: 0.05 });
      await breaker.run(throwing(new Error("down"))).catch(() => undefined);
      await bench.advance(60);
      const probe = new Deferred<string>();
      const probing = breaker.run(() => probe.promise);
      await waitFor("the probe's admission", () => breaker.state === "half-opened");
      await expect(factory.run(circuitName("newcomer"), () => "runs")).rejects.toBeInstanceOf(CircuitLimitError);
      probe.resolve("probed");
      await expect(probing).resolves.toBe("probed");
      expect(breaker.state).toBe("closed");
      await expect(factory.run(circuitName("newcomer"), () => "runs")).resolves.toBe("runs");
    });

    it("rejects a decorated function's call with CircuitLimitError, never throwing", async () => {
      const factory = bench.makeAsync({ maxCircuits: 1 });
      await (await factory.getBreaker(circuitName("isolated"))).isolate();
      const get = factory.decorate((host: string) => host)(async (host: string) => `got ${host}`);
      let outcome: Promise<string> | undefined;
      expect(() => {
        outcome = get(circuitName("host"));
      }).not.toThrow();
      await expect(outcome).rejects.toBeInstanceOf(CircuitLimitError);
    });

    it("counts a registration under way: concurrent new names never exceed the bound", async () => {
      const factory = bench.makeAsync({ maxCircuits: 5 });
      const names = Array.from({ length: 40 }, (_, i) => circuitName(`concurrent-${i}`));
      const outcomes = await Promise.allSettled(names.map((name) => factory.run(name, () => name)));
      expect(factory.circuitNames().length).toBeLessThanOrEqual(5);
      // Each is either run, or refused while every place was taken by a registration under way.
      for (const outcome of outcomes) {
        if (outcome.status === "rejected") expect(outcome.reason).toBeInstanceOf(CircuitLimitError);
      }
      expect(outcomes.filter((o) => o.status === "fulfilled").length).toBeGreaterThanOrEqual(5);
    });
  });
});

describe("maxCircuits with idleTtl (memory, exact time)", () => {
  const bench = useWorkbench(memoryKind);

  it.each(flavoursFor(memoryKind))(
    "$name factory: a use the sweep consumed still keeps the circuit through the next idle sweep",
    async (flavour) => {
      const made = bench.make(flavour, { maxCircuits: 4, idleTtl: 0.1 });
      const log = listen(made.factory);
      const [a, b, c, d] = ["a", "b", "c", "d"].map(circuitName) as [string, string, string, string];
      await use(made, a, b, c, d); // at 0 ms
      await bench.advance(50);
      await made.run(b, () => "used at 50 ms");
      await use(made, circuitName("e")); // full: the clock hand clears every flag, a goes
      expect(forgotten(log)).toEqual([[a, "limit"]]);
      await bench.advance(60);
      // At 110 ms the idle sweep runs: b, c and d were used since the previous sweep (at 0 ms).
      await made.forget(made.factory.circuitNames().at(-1) as string);
      await use(made, circuitName("f"));
      expect(forgotten(log).filter(([, reason]) => reason === "idle")).toEqual([]);
      expect(made.factory.circuitNames()).toEqual(expect.arrayContaining([b, c, d]));
      // At 220 ms they were not used since 110 ms: idle.
      await bench.advance(110);
      await made.forget(made.factory.circuitNames().at(-1) as string);
      await use(made, circuitName("g"));
      expect(
        forgotten(log)
          .filter(([, reason]) => reason === "idle")
          .map(([name]) => name)
          .sort(),
      ).toEqual([b, c, d].sort());
    },
  );

  it.each(flavoursFor(memoryKind))(
    "$name factory: counts the circuits the storage starts with (InMemoryStorage restore)",
    async (flavour) => {
      const source = bench.make(flavour);
      const restored = ["r1", "r2", "r3"].map(circuitName);
      await use(source, ...restored);
      const made = flavour.create({
        storage: new InMemoryStorage({ restore: source.factory.toJSON() }),
        maxCircuits: 2,
      });
      const log = listen(made.factory);
      const newcomer = circuitName("newcomer");
      await use(made, newcomer);
      expect(made.factory.circuitNames()).toHaveLength(2);
      expect(made.factory.circuitNames()).toContain(newcomer);
      expect(forgotten(log).map(([name]) => name)).toEqual(restored.slice(0, 2));
      await made.factory.close();
    },
  );
});

describe("maxCircuits: bad input", () => {
  it.each([0, -1, 1.5, "10", Number.NaN, Number.POSITIVE_INFINITY, null, 2 ** 53])(
    "rejects %s with an InvalidOptionError naming the option and the value",
    (value) => {
      for (const make of [
        () => new AsyncCircuitBreakerFactory({ maxCircuits: value as number }),
        () => new SyncCircuitBreakerFactory({ maxCircuits: value as number }),
      ]) {
        let error: unknown;
        try {
          make();
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error).toMatchObject({ option: "maxCircuits", value });
        expect((error as Error).message).toMatch(/^Invalid option "maxCircuits": expected an integer from 1 to /);
      }
    },
  );

  it("reads back as factory.maxCircuits", () => {
    expect(new AsyncCircuitBreakerFactory({ maxCircuits: 7 }).maxCircuits).toBe(7);
    expect(new SyncCircuitBreakerFactory().maxCircuits).toBeNull();
  });
});
