/**
 * `purgatory/prometheus`: real calls through real factories, then a real prom-client registry
 * scraped as Prometheus would (`registry.metrics()`, the text exposition).
 */
import { Counter, Registry, register } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CallTimeoutError,
  CircuitOpenError,
  InvalidOptionError,
  SyncCircuitBreakerFactory,
  type CallListener,
  type CircuitHook,
  type CircuitScope,
  type CircuitStateName,
  type ListenerDisposer,
} from "../../src/index.js";
import { registerMetrics } from "../../src/integrations/prometheus.js";
import { Scrape } from "../support/metrics.js";

const CALLS = "purgatory_calls_total";
const DURATION = "purgatory_call_duration_seconds";
const STATE = "purgatory_circuit_state";
const CHANGES = "purgatory_state_changes_total";

const stops: ListenerDisposer[] = [];
const factories: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  for (const factory of factories.splice(0)) await factory.close();
});

/** An async factory on a clock the test moves: threshold 2, ttl 30 s, `TypeError` excluded. */
function makeFactory() {
  const time = { now: 1_000_000 };
  const factory = new AsyncCircuitBreakerFactory({
    defaultThreshold: 2,
    defaultTtl: 30,
    exclude: [TypeError],
    clock: () => time.now,
  });
  factories.push(factory);
  return { factory, time };
}

function register_(
  factory: Parameters<typeof registerMetrics>[0],
  options?: Parameters<typeof registerMetrics>[1],
): ListenerDisposer {
  const stop = registerMetrics(factory, options);
  stops.push(stop);
  return stop;
}

const fail = () => Promise.reject(new Error("down"));

describe("calls", () => {
  it("counts calls by outcome and times those that ran, rejected calls excepted", async () => {
    const { factory } = makeFactory();
    const registry = new Registry();
    register_(factory, { registry });

    for (let i = 0; i < 3; i++) await factory.run("api", () => "ok");
    await expect(factory.run("api", () => Promise.reject(new TypeError("not found")))).rejects.toThrow(TypeError);
    for (let i = 0; i < 2; i++) await expect(factory.run("api", fail)).rejects.toThrow("down");
    for (let i = 0; i < 2; i++) await expect(factory.run("api", () => "ok")).rejects.toBeInstanceOf(CircuitOpenError);
    // A call that never settles: its timeout ends it, or its caller's cancellation does.
    const hang = (signal: AbortSignal) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted"))));
    await expect(factory.run("slow", hang, { timeout: 0.005 })).rejects.toBeInstanceOf(CallTimeoutError);
    const controller = new AbortController();
    const cancelled = factory.run("slow", hang, { signal: controller.signal });
    controller.abort(new Error("the caller left"));
    await expect(cancelled).rejects.toThrow("the caller left");

    const scrape = await Scrape.of(registry);
    expect(scrape.all(CALLS).map((s) => [s.labels.circuit, s.labels.outcome, s.labels.scope, s.value])).toEqual(
      expect.arrayContaining([
        ["api", "success", "fleet", 3],
        ["api", "excluded", "fleet", 1],
        ["api", "failure", "fleet", 2],
        ["api", "rejected", "fleet", 2],
        ["slow", "timeout", "fleet", 1],
        ["slow", "cancelled", "fleet", 1],
      ]),
    );
    expect(scrape.all(CALLS)).toHaveLength(6);
    expect(scrape.value(`${DURATION}_count`, { circuit: "api", outcome: "success" })).toBe(3);
    expect(scrape.value(`${DURATION}_count`, { circuit: "api", outcome: "excluded" })).toBe(1);
    expect(scrape.value(`${DURATION}_count`, { circuit: "api", outcome: "failure" })).toBe(2);
    expect(scrape.value(`${DURATION}_count`, { circuit: "slow", outcome: "timeout" })).toBe(1);
    expect(scrape.value(`${DURATION}_count`, { circuit: "slow", outcome: "cancelled" })).toBe(1);
    expect(scrape.value(`${DURATION}_count`, { circuit: "api", outcome: "rejected" })).toBeUndefined();
    // The timed-out call ran until its deadline at least: its duration is not zero.
    expect(scrape.value(`${DURATION}_sum`, { circuit: "slow", outcome: "timeout" })).toBeGreaterThan(0);
    // Cumulative buckets, the last (+Inf) holding every call.
    const buckets = scrape
      .all(`${DURATION}_bucket`)
      .filter((s) => s.labels.circuit === "api" && s.labels.outcome === "success");
    expect(buckets.map((s) => s.labels.le)).toEqual([
      "0.005",
      "0.01",
      "0.025",
      "0.05",
      "0.1",
      "0.25",
      "0.5",
      "1",
      "2.5",
      "5",
      "10",
      "+Inf",
    ]);
    expect(buckets.at(-1)?.value).toBe(3);
  });

  it("counts the calls of a synchronous factory", async () => {
    const sync = new SyncCircuitBreakerFactory({ defaultThreshold: 1 });
    factories.push(sync);
    const registry = new Registry();
    register_(sync, { registry });
    sync.run("parser", () => JSON.parse("{}") as unknown);
    expect(() => sync.run("parser", () => JSON.parse("{") as unknown)).toThrow(SyntaxError);
    expect(() => sync.run("parser", () => 1)).toThrow(CircuitOpenError);
    const scrape = await Scrape.of(registry);
    expect(scrape.value(CALLS, { circuit: "parser", outcome: "success", scope: "fleet" })).toBe(1);
    expect(scrape.value(CALLS, { circuit: "parser", outcome: "failure", scope: "fleet" })).toBe(1);
    expect(scrape.value(CALLS, { circuit: "parser", outcome: "rejected", scope: "fleet" })).toBe(1);
    expect(scrape.statesOf("parser")).toEqual(["opened"]);
  });

  it("gives no duration to a call cancelled before it ran (reported with 0 ms)", async () => {
    // A factory as registerMetrics sees it, driven by hand: what an async admission over Redis
    // does when its caller cancels before the call runs.
    let listener: CallListener = () => undefined;
    const factory = {
      addListener: (_hook: CircuitHook) => Object.assign(() => undefined, { [Symbol.dispose]: () => undefined }),
      addCallListener: (l: CallListener) => {
        listener = l;
        return Object.assign(() => undefined, { [Symbol.dispose]: () => undefined });
      },
      circuitStates: () => new Map<string, CircuitStateName>(),
      circuitScopes: () => new Map<string, CircuitScope>(),
    };
    const registry = new Registry();
    register_(factory, { registry });
    listener("api", "cancelled", 0, "fleet");
    listener("api", "cancelled", 12, "fleet");
    const scrape = await Scrape.of(registry);
    expect(scrape.value(CALLS, { circuit: "api", outcome: "cancelled", scope: "fleet" })).toBe(2);
    expect(scrape.value(`${DURATION}_count`, { circuit: "api", outcome: "cancelled" })).toBe(1);
    expect(scrape.value(`${DURATION}_sum`, { circuit: "api", outcome: "cancelled" })).toBe(0.012);
  });

  it("takes custom buckets, in seconds", async () => {
    const { factory } = makeFactory();
    const registry = new Registry();
    register_(factory, { registry, buckets: [0.1, 1] });
    await factory.run("api", () => "ok");
    const scrape = await Scrape.of(registry);
    expect(scrape.all(`${DURATION}_bucket`).map((s) => [s.labels.le, s.value])).toEqual([
      ["0.1", 1],
      ["1", 1],
      ["+Inf", 1],
    ]);
  });
});

describe("the state gauge", () => {
  it("is 1 for the current state and scope and 0 for the others, from circuits registered before registerMetrics", async () => {
    const { factory } = makeFactory();
    await factory.getBreaker("early");
    const registry = new Registry();
    register_(factory, { registry });
    const scrape = await Scrape.of(registry);
    // Every state of the fleet's circuit, and the two of a process open for itself.
    expect(scrape.all(STATE).map((s) => [s.labels.circuit, s.labels.state, s.labels.scope, s.value])).toEqual([
      ["early", "closed", "fleet", 1],
      ["early", "opened", "fleet", 0],
      ["early", "half-opened", "fleet", 0],
      ["early", "isolated", "fleet", 0],
      ["early", "disabled", "fleet", 0],
      ["early", "opened", "process", 0],
      ["early", "half-opened", "process", 0],
    ]);
  });

  it("follows trips, probes, closes and an operator's isolate; the changes are counted as local", async () => {
    const { factory, time } = makeFactory();
    const registry = new Registry();
    register_(factory, { registry });
    const states = async () => (await Scrape.of(registry)).statesOf("api");

    await factory.run("api", () => "ok");
    expect(await states()).toEqual(["closed"]);
    for (let i = 0; i < 2; i++) await factory.run("api", fail).catch(() => undefined);
    expect(await states()).toEqual(["opened"]);

    time.now += 30_000;
    let probing: () => void = () => undefined;
    const probe = factory.run("api", () => new Promise<string>((resolve) => (probing = () => resolve("ok"))));
    await Promise.resolve();
    expect(await states()).toEqual(["half-opened"]);
    probing();
    await probe;
    expect(await states()).toEqual(["closed"]);

    const breaker = await factory.getBreaker("api");
    await breaker.isolate();
    expect(await states()).toEqual(["isolated"]);
    await breaker.reset();
    expect(await states()).toEqual(["closed"]);

    const scrape = await Scrape.of(registry);
    expect(scrape.all(CHANGES).map((s) => [s.labels.state, s.labels.origin, s.labels.scope, s.value])).toEqual(
      expect.arrayContaining([
        ["opened", "local", "fleet", 1],
        ["half-opened", "local", "fleet", 1],
        ["closed", "local", "fleet", 2],
        ["isolated", "local", "fleet", 1],
      ]),
    );
    expect(scrape.all(CHANGES)).toHaveLength(4);
  });

  it("drops a forgotten circuit", async () => {
    const { factory } = makeFactory();
    const registry = new Registry();
    register_(factory, { registry });
    await factory.run("gone", () => "ok");
    expect((await Scrape.of(registry)).statesOf("gone")).toEqual(["closed"]);
    await factory.forget("gone");
    expect((await Scrape.of(registry)).all(STATE)).toEqual([]);
  });
});

describe("forgotten circuits", () => {
  const FORGOTTEN = "purgatory_circuits_forgotten_total";

  it("counts circuits forgotten, by reason only: limit, idle and forget", async () => {
    const time = { now: 1_000_000 };
    const factory = new AsyncCircuitBreakerFactory({ maxCircuits: 2, idleTtl: 10, clock: () => time.now });
    factories.push(factory);
    const registry = new Registry();
    register_(factory, { registry });
    for (const name of ["a", "b", "c", "d"]) await factory.run(name, () => "ok"); // a and b go for room
    await factory.forget("c");
    time.now += 11_000;
    await factory.run("e", () => "ok"); // the idle sweep: d was not used since the previous one
    time.now += 11_000;
    await factory.run("f", () => "ok"); // d goes now

    const scrape = await Scrape.of(registry);
    expect(scrape.all(FORGOTTEN).map((s) => [s.labels, s.value])).toEqual(
      expect.arrayContaining([
        [{ reason: "limit" }, 2],
        [{ reason: "forget" }, 1],
        [{ reason: "idle" }, 1],
      ]),
    );
    expect(scrape.all(FORGOTTEN)).toHaveLength(3);
  });

  it("removes every series of a forgotten circuit: calls, durations and state changes, not only the gauge", async () => {
    const { factory, time } = makeFactory();
    const registry = new Registry();
    register_(factory, { registry });
    await factory.run("gone", () => "ok");
    await factory.run("gone", () => Promise.reject(new TypeError("excluded"))).catch(() => undefined);
    for (let i = 0; i < 2; i++) await factory.run("gone", fail).catch(() => undefined);
    await factory.run("gone", () => "ok").catch(() => undefined); // rejected
    time.now += 30_000;
    await factory.run("gone", () => "ok"); // half-opened, closed
    await factory.run("kept", () => "ok");
    const before = await Scrape.of(registry);
    const series = (scrape: Scrape, circuit: string) => scrape.samples.filter((s) => s.labels.circuit === circuit);
    expect(series(before, "gone").map((s) => s.name)).toEqual(expect.arrayContaining([STATE, CALLS, CHANGES]));
    expect(series(before, "gone").some((s) => s.name.startsWith(DURATION))).toBe(true);
    const kept = series(before, "kept");

    await factory.forget("gone");
    const after = await Scrape.of(registry);
    expect(series(after, "gone")).toEqual([]);
    expect(series(after, "kept")).toEqual(kept);
    expect(after.value("purgatory_circuits_forgotten_total", { reason: "forget" })).toBe(1);
  });

  it("keeps the series bounded by maxCircuits whatever names arrive", async () => {
    const factory = new AsyncCircuitBreakerFactory({ maxCircuits: 10 });
    factories.push(factory);
    const registry = new Registry();
    register_(factory, { registry });
    const lines = async () => (await registry.metrics()).split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    for (let i = 0; i < 10; i++) await factory.run(`host-${i}`, () => "ok");
    const full = (await lines()).length;
    for (let i = 10; i < 1_000; i++) await factory.run(`host-${i}`, () => "ok");
    expect((await lines()).length).toBeLessThanOrEqual(full + 1); // + the forgotten counter's series
  });
});

describe("stopping", () => {
  it("stops feeding and takes the metrics out of the registry; calling it again does nothing", async () => {
    const { factory } = makeFactory();
    const registry = new Registry();
    const stop = register_(factory, { registry });
    await factory.run("api", () => "ok");
    const calls = registry.getSingleMetric(CALLS);
    expect(calls).toBeDefined();

    stop();
    stop();
    await factory.run("api", () => "ok");
    await factory.run("api", fail).catch(() => undefined);
    expect((await calls?.get())?.values.map((v) => [v.labels.outcome, v.value])).toEqual([["success", 1]]);
    expect(await registry.metrics()).not.toContain("purgatory_");

    // The registry is free again.
    register_(factory, { registry });
    await factory.run("api", () => "ok");
    expect((await Scrape.of(registry)).value(CALLS, { circuit: "api", outcome: "success", scope: "fleet" })).toBe(1);
  });

  it("is disposable (`using`)", async () => {
    const { factory } = makeFactory();
    const registry = new Registry();
    {
      using _metrics = registerMetrics(factory, { registry });
      expect(await registry.metrics()).toContain(CALLS);
    }
    expect(await registry.metrics()).toBe("\n");
  });
});

describe("registries", () => {
  it("uses prom-client's default registry when given none", async () => {
    const { factory } = makeFactory();
    register_(factory);
    await factory.run("api", () => "ok");
    expect((await Scrape.of(register)).value(CALLS, { circuit: "api", outcome: "success", scope: "fleet" })).toBe(1);
  });

  it("refuses a second registration on one registry with a clear error; another registry or a prefix works", async () => {
    const { factory } = makeFactory();
    const registry = new Registry();
    register_(factory, { registry });
    let error: unknown;
    try {
      registerMetrics(factory, { registry });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe("registry");
    expect((error as Error).message).toBe(
      'Invalid option "registry": it already has a metric named "purgatory_circuit_state" (registerMetrics was already ' +
        "called with this registry, or something else uses the name); call the first registration's disposer, " +
        'or pass another "registry" or a "prefix"',
    );

    register_(factory, { registry: new Registry() });
    register_(factory, { registry, prefix: "second_" });
    await factory.run("api", () => "ok");
    const scrape = await Scrape.of(registry);
    expect(scrape.value(CALLS, { circuit: "api", outcome: "success", scope: "fleet" })).toBe(1);
    expect(scrape.value(`second_${CALLS}`, { circuit: "api", outcome: "success", scope: "fleet" })).toBe(1);
    expect(scrape.statesOf("api", `second_${STATE}`)).toEqual(["closed"]);
  });

  it("names a metric registered by someone else, and registers nothing then", () => {
    const { factory } = makeFactory();
    const registry = new Registry();
    new Counter({ name: CHANGES, help: "someone else's", registers: [registry] });
    expect(() => registerMetrics(factory, { registry })).toThrow(`it already has a metric named "${CHANGES}"`);
    expect(registry.getMetricsAsArray()).toHaveLength(1);
  });
});

describe("bad input", () => {
  const factory = new AsyncCircuitBreakerFactory();
  const cases: [string, () => unknown, string, unknown][] = [
    ["no factory", () => registerMetrics(undefined as never), "factory", undefined],
    ["a factory that is not one", () => registerMetrics({ addListener() {} } as never), "factory", "object"],
    ["options that are not an object", () => registerMetrics(factory, "registry" as never), "options", "registry"],
    ["a registry that is not one", () => registerMetrics(factory, { registry: {} as never }), "registry", "object"],
    [
      "an unknown option",
      () => registerMetrics(factory, { registery: new Registry() } as never),
      "registery",
      "object",
    ],
    ["a prefix that is no metric name", () => registerMetrics(factory, { prefix: "9-lives" }), "prefix", "9-lives"],
    ["empty buckets", () => registerMetrics(factory, { buckets: [] }), "buckets", "object"],
    ["buckets out of order", () => registerMetrics(factory, { buckets: [1, 0.5] }), "buckets", "object"],
  ];
  it.each(cases)("%s: InvalidOptionError naming the option and the value", (_, call, option, value) => {
    let error: unknown;
    try {
      call();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    const invalid = error as InvalidOptionError;
    expect(invalid.option).toBe(option);
    if (value === "object") expect(typeof invalid.value).toBe("object");
    else expect(invalid.value).toBe(value);
    expect(invalid.message).toContain(`"${option}"`);
  });

  it("registers nothing on bad input", async () => {
    const registry = new Registry();
    expect(() => registerMetrics(factory, { registry, buckets: [0] })).toThrow(InvalidOptionError);
    expect(await registry.metrics()).toBe("\n");
  });
});
