/**
 * The factories' own bookkeeping, beyond the behaviour of circuits: which breaker objects they
 * make, and `toJSON` (with `InMemoryStorage({ restore })`, its reader). Storage-independent: runs
 * over the default in-memory storage.
 */
import { describe, expect, it, vi } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  InMemoryStorage,
  SyncCircuitBreakerFactory,
  type SavedCircuits,
} from "../../src/index.js";

/** Counts the breakers a factory makes (its internal `makeBreaker`). */
function countBreakers(factory: AsyncCircuitBreakerFactory | SyncCircuitBreakerFactory) {
  return vi.spyOn(factory as unknown as { makeBreaker(...args: unknown[]): unknown }, "makeBreaker");
}

describe.each([
  { name: "AsyncCircuitBreakerFactory", make: () => new AsyncCircuitBreakerFactory() },
  { name: "SyncCircuitBreakerFactory", make: () => new SyncCircuitBreakerFactory() },
])("$name", ({ make }) => {
  it("makes one breaker for 100 calls of run(name, fn, { exclude, isFailure })", async () => {
    const factory = make();
    const made = countBreakers(factory);
    for (let i = 0; i < 100; i++) {
      await factory.run("api", () => i, { exclude: [RangeError], isFailure: () => false });
    }
    expect(made).toHaveBeenCalledTimes(1);
  });

  it("makes one breaker for 100 calls of a decorated function with options", async () => {
    const factory = make();
    const made = countBreakers(factory);
    const guarded = factory.decorate("api", { exclude: [RangeError] })((n: number) => n);
    for (let i = 0; i < 100; i++) await guarded(i);
    expect(made).toHaveBeenCalledTimes(1);
  });

  it("still judges each call by its own exclude", async () => {
    const factory = make();
    const fail = (error: Error) => () => {
      throw error;
    };
    /** Runs a call that fails, whether the factory throws (sync) or rejects (async). */
    const failing = async (call: () => unknown) => {
      try {
        await call();
      } catch {
        // expected
      }
    };
    await failing(() => factory.run("api", fail(new RangeError("excluded")), { exclude: [RangeError] }));
    expect((await factory.getBreaker("api")).failureCount).toBe(0);
    await failing(() => factory.run("api", fail(new RangeError("counted"))));
    expect((await factory.getBreaker("api")).failureCount).toBe(1);
  });
});

describe("toJSON and InMemoryStorage({ restore }): a serverless hand-over", () => {
  const T0 = Date.UTC(2030, 0, 1);

  /** Circuits in every state, in a factory whose clock `now` drives. */
  async function savedFactory() {
    let now = T0;
    const clock = () => now;
    const factory = new AsyncCircuitBreakerFactory({ clock, defaultThreshold: 2, defaultTtl: 30 });
    const down = () => Promise.reject(new Error("down"));
    await factory.run("healthy", () => "ok");
    await factory.run("counting", down, { threshold: 5 }).catch(() => undefined);
    await factory.run("counting", down).catch(() => undefined);
    const probing = await factory.getBreaker("probing", { ttl: 10 });
    await probing.run(down).catch(() => undefined);
    await probing.run(down).catch(() => undefined);
    now += 10_000;
    void probing.run(() => new Promise(() => undefined)); // a probe that holds its slot
    now += 1_000;
    const opened = await factory.getBreaker("opened", { threshold: 1, ttl: 60 });
    await opened.run(down).catch(() => undefined);
    return { factory, clock, advance: (ms: number) => (now += ms) };
  }

  it("gives a JSON document: a version, and each circuit's name, config and snapshot", async () => {
    const { factory } = await savedFactory();
    const saved = factory.toJSON();
    expect(saved.version).toBe(1);
    const byName = Object.fromEntries(saved.circuits.map((c) => [c.name, c]));
    expect(Object.keys(byName).sort()).toEqual(["counting", "healthy", "opened", "probing"]);
    expect(byName.counting).toEqual({
      name: "counting",
      config: { threshold: 5, ttl: 30, halfOpenMaxCalls: 1 },
      snapshot: { state: "closed", generation: 0, failureCount: 2 },
    });
    expect(byName.opened?.snapshot).toMatchObject({
      state: "opened",
      generation: 1,
      failureCount: 1,
      openedAt: T0 + 11_000,
      openings: 1,
    });
    expect(byName.probing?.snapshot).toMatchObject({
      state: "half-opened",
      openedAt: T0,
      probeLeases: [expect.any(Object)],
    });
    expect(JSON.parse(JSON.stringify(saved))).toEqual(saved);
    expect(JSON.stringify(factory)).toBe(JSON.stringify(saved));
  });

  it("is a copy: changing it changes nothing in the factory", async () => {
    const { factory } = await savedFactory();
    const saved = factory.toJSON() as unknown as { circuits: { config: { threshold: number } }[] };
    for (const circuit of saved.circuits) circuit.config.threshold = 99;
    expect((await factory.getBreaker("counting")).threshold).toBe(5);
  });

  it("survives a round trip through JSON: states, counts, openedAt and configs", async () => {
    const { factory, clock } = await savedFactory();
    const text = JSON.stringify(factory.toJSON());
    const next = new AsyncCircuitBreakerFactory({
      clock,
      storage: new InMemoryStorage({ restore: JSON.parse(text) as SavedCircuits }),
    });
    const created = vi.fn();
    next.addListener((...args) => args[1] === "circuit_breaker_created" && created());
    expect(next.circuitNames().sort()).toEqual(["counting", "healthy", "opened", "probing"]);
    for (const name of next.circuitNames()) {
      const [before, after] = [await factory.getBreaker(name), await next.getBreaker(name, { threshold: 42, ttl: 42 })];
      expect([after.state, after.failureCount, after.openedAt, after.threshold, after.ttl]).toEqual([
        before.state,
        before.failureCount,
        before.openedAt,
        before.threshold,
        before.ttl,
      ]);
    }
    expect(created).not.toHaveBeenCalled(); // the circuits exist: first registration already happened
  });

  it("keeps an opened circuit rejecting until its ttl has elapsed, then lets a probe through", async () => {
    const { factory, clock, advance } = await savedFactory();
    const next = new AsyncCircuitBreakerFactory({ clock, storage: new InMemoryStorage({ restore: factory.toJSON() }) });
    advance(59_999);
    const rejected = await next.run("opened", () => "too soon").catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(CircuitOpenError);
    expect(rejected).toMatchObject({ openedAt: T0 + 11_000, retryAfterMs: 1 });
    advance(1);
    await expect(next.run("opened", () => "probe")).resolves.toBe("probe");
    expect((await next.getBreaker("opened")).state).toBe("closed");
  });

  it("keeps counting from the saved count", async () => {
    const { factory, clock } = await savedFactory();
    const next = new AsyncCircuitBreakerFactory({ clock, storage: new InMemoryStorage({ restore: factory.toJSON() }) });
    const counting = await next.getBreaker("counting");
    for (let i = 0; i < 3; i++) await counting.run(() => Promise.reject(new Error("down"))).catch(() => undefined);
    expect(counting.state).toBe("opened");
  });

  it("frees the slot of a probe that ran in the saving process: the next call probes", async () => {
    const { factory, clock } = await savedFactory();
    await expect(factory.run("probing", () => "busy")).rejects.toBeInstanceOf(CircuitOpenError);
    const next = new AsyncCircuitBreakerFactory({ clock, storage: new InMemoryStorage({ restore: factory.toJSON() }) });
    await expect(next.run("probing", () => "probe")).resolves.toBe("probe");
    expect((await next.getBreaker("probing")).state).toBe("closed");
  });

  it("works for the sync factory too", () => {
    const sync = new SyncCircuitBreakerFactory({ defaultThreshold: 1, defaultTtl: 60 });
    expect(() => sync.run("parser", (): unknown => JSON.parse("{"))).toThrow(SyntaxError);
    const restore = JSON.parse(JSON.stringify(sync)) as SavedCircuits;
    const next = new SyncCircuitBreakerFactory({ storage: new InMemoryStorage({ restore }) });
    expect(() => next.run("parser", () => 1)).toThrow(CircuitOpenError);
  });
});

describe("circuitStates(): what metrics read at each scrape", () => {
  it("maps each circuit this process holds to its state, read from its local record", async () => {
    const factory = new AsyncCircuitBreakerFactory({ defaultThreshold: 1 });
    await factory.getBreaker("idle");
    await factory.run("down", () => Promise.reject(new Error("boom"))).catch(() => undefined);
    await (await factory.getBreaker("held")).isolate();
    expect(factory.circuitStates()).toEqual(
      new Map([
        ["idle", "closed"],
        ["down", "opened"],
        ["held", "isolated"],
      ]),
    );
    await factory.forget("idle");
    expect([...factory.circuitStates().keys()]).toEqual(["down", "held"]);
  });

  it("is a fresh map: changing it changes nothing in the factory", () => {
    const factory = new SyncCircuitBreakerFactory();
    factory.getBreaker("api");
    factory.circuitStates().set("api", "opened");
    factory.circuitStates().delete("api");
    expect(factory.circuitStates()).toEqual(new Map([["api", "closed"]]));
  });
});
