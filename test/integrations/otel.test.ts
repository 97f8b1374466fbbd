/**
 * `purgatory/otel`: real calls through a real factory, collected by a real OpenTelemetry SDK
 * (`MeterProvider` of @opentelemetry/sdk-metrics) through a reader the test pulls.
 */
import { metrics } from "@opentelemetry/api";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { afterEach, describe, expect, it } from "vitest";
import packageJson from "../../package.json" with { type: "json" };
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  InvalidOptionError,
  type ListenerDisposer,
} from "../../src/index.js";
import { registerMetrics } from "../../src/integrations/otel.js";
import { PullReader } from "../support/metrics.js";

const CALLS = "purgatory_calls_total";
const DURATION = "purgatory_call_duration_seconds";
const STATE = "purgatory_circuit_state";
const CHANGES = "purgatory_state_changes_total";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A MeterProvider with a reader the test pulls, shut down after the test. */
function sdk() {
  const reader = new PullReader();
  const provider = new MeterProvider({ readers: [reader] });
  cleanups.push(() => provider.shutdown());
  return { reader, provider, meter: provider.getMeter("test") };
}

function makeFactory() {
  const time = { now: 1_000_000 };
  const factory = new AsyncCircuitBreakerFactory({
    defaultThreshold: 2,
    defaultTtl: 30,
    exclude: [TypeError],
    clock: () => time.now,
  });
  cleanups.push(() => factory.close());
  return { factory, time };
}

function register(...args: Parameters<typeof registerMetrics>): ListenerDisposer {
  const stop = registerMetrics(...args);
  cleanups.push(stop);
  return stop;
}

const fail = () => Promise.reject(new Error("down"));

describe("registerMetrics (OpenTelemetry)", () => {
  it("counts calls by outcome in a Counter and times those that ran in a Histogram, in seconds", async () => {
    const { reader, meter } = sdk();
    const { factory } = makeFactory();
    register(factory, { meter });

    for (let i = 0; i < 3; i++) await factory.run("api", () => "ok");
    await expect(factory.run("api", () => Promise.reject(new TypeError("not found")))).rejects.toThrow(TypeError);
    for (let i = 0; i < 2; i++) await expect(factory.run("api", fail)).rejects.toThrow("down");
    await expect(factory.run("api", () => "ok")).rejects.toBeInstanceOf(CircuitOpenError);

    const collected = await reader.read();
    expect(collected.value(CALLS, { circuit: "api", outcome: "success", scope: "fleet" })).toBe(3);
    expect(collected.value(CALLS, { circuit: "api", outcome: "excluded", scope: "fleet" })).toBe(1);
    expect(collected.value(CALLS, { circuit: "api", outcome: "failure", scope: "fleet" })).toBe(2);
    expect(collected.value(CALLS, { circuit: "api", outcome: "rejected", scope: "fleet" })).toBe(1);
    expect(collected.metric(CALLS)?.descriptor.unit).toBe("{call}");

    const success = collected.histogram(DURATION, { circuit: "api", outcome: "success" });
    expect(success?.count).toBe(3);
    expect(collected.histogram(DURATION, { circuit: "api", outcome: "failure" })?.count).toBe(2);
    expect(collected.histogram(DURATION, { circuit: "api", outcome: "rejected" })).toBeUndefined();
    expect(collected.metric(DURATION)?.descriptor.unit).toBe("s");
    // The advised boundaries (seconds), not the SDK's defaults (meant for milliseconds).
    expect(success?.buckets.boundaries).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  });

  it("observes each circuit's state in an ObservableGauge, circuits registered before included", async () => {
    const { reader, meter } = sdk();
    const { factory, time } = makeFactory();
    await factory.getBreaker("early");
    register(factory, { meter });

    let collected = await reader.read();
    expect(collected.statesOf("early")).toEqual(["closed"]);
    expect(collected.value(STATE, { circuit: "early", state: "opened", scope: "fleet" })).toBe(0);
    expect(collected.value(STATE, { circuit: "early", state: "opened", scope: "process" })).toBe(0);
    // Every state of the fleet's circuit, and the two of a process open for itself.
    expect(collected.metric(STATE)?.dataPoints).toHaveLength(7);

    for (let i = 0; i < 2; i++) await factory.run("api", fail).catch(() => undefined);
    collected = await reader.read();
    expect(collected.statesOf("api")).toEqual(["opened"]);
    expect(collected.statesOf("early")).toEqual(["closed"]);

    time.now += 30_000;
    await factory.run("api", () => "ok");
    collected = await reader.read();
    expect(collected.statesOf("api")).toEqual(["closed"]);
    expect(collected.value(CHANGES, { circuit: "api", state: "opened", origin: "local", scope: "fleet" })).toBe(1);
    expect(collected.value(CHANGES, { circuit: "api", state: "half-opened", origin: "local", scope: "fleet" })).toBe(1);
    expect(collected.value(CHANGES, { circuit: "api", state: "closed", origin: "local", scope: "fleet" })).toBe(1);
  });

  it("counts circuits forgotten in a Counter, by reason only", async () => {
    const { reader, meter } = sdk();
    const time = { now: 1_000_000 };
    const factory = new AsyncCircuitBreakerFactory({ maxCircuits: 1, clock: () => time.now });
    cleanups.push(() => factory.close());
    register(factory, { meter });
    for (const name of ["a", "b", "c"]) await factory.run(name, () => "ok");
    await factory.forget("c");

    const collected = await reader.read();
    expect(collected.value("purgatory_circuits_forgotten_total", { reason: "limit" })).toBe(2);
    expect(collected.value("purgatory_circuits_forgotten_total", { reason: "forget" })).toBe(1);
    expect(collected.metric("purgatory_circuits_forgotten_total")?.dataPoints).toHaveLength(2);
    expect(collected.metric("purgatory_circuits_forgotten_total")?.descriptor.unit).toBe("{circuit}");
  });

  it("stops feeding and observing when its disposer is called", async () => {
    const { reader, meter } = sdk();
    const { factory } = makeFactory();
    const stop = register(factory, { meter });
    await factory.run("api", () => "ok");
    expect((await reader.read()).value(CALLS, { circuit: "api", outcome: "success", scope: "fleet" })).toBe(1);

    stop();
    stop();
    await factory.run("api", () => "ok");
    for (let i = 0; i < 2; i++) await factory.run("api", fail).catch(() => undefined);
    const collected = await reader.read();
    expect(collected.value(CALLS, { circuit: "api", outcome: "success", scope: "fleet" })).toBe(1);
    expect(collected.value(CALLS, { circuit: "api", outcome: "failure", scope: "fleet" })).toBeUndefined();
    expect(collected.metric(CHANGES)?.dataPoints ?? []).toEqual([]);
    // The circuit opened, but the gauge is no longer observed: the SDK repeats its last values.
    expect((await factory.getBreaker("api")).state).toBe("opened");
    expect(collected.statesOf("api")).toEqual(["closed"]);

    // The meter is free again.
    register(factory, { meter });
    expect((await reader.read()).statesOf("api")).toEqual(["opened"]);
  });

  it("refuses a second registration with one meter and prefix; another prefix or meter works", async () => {
    const { reader, meter, provider } = sdk();
    const { factory } = makeFactory();
    register(factory, { meter });
    expect(() => registerMetrics(factory, { meter })).toThrow(
      new InvalidOptionError(
        "meter",
        meter,
        "",
        `Invalid option "meter": registerMetrics is already feeding "${CALLS}" and the other instruments of this meter ` +
          '(it would count every call twice); call the first registration\'s disposer, or pass another "meter" or a "prefix"',
      ),
    );
    register(factory, { meter, prefix: "second_" });
    register(factory, { meter: provider.getMeter("other") });
    await factory.run("api", () => "ok");
    const collected = await reader.read();
    expect(collected.value(`second_${CALLS}`, { circuit: "api", outcome: "success", scope: "fleet" })).toBe(1);
    const both = collected.metrics.filter((m) => m.metric.descriptor.name === CALLS);
    expect(both.map((m) => [m.scope.name, m.metric.dataPoints[0]?.value])).toEqual([
      ["test", 1],
      ["other", 1],
    ]);
  });

  it('uses metrics.getMeter("purgatory", <its version>) by default', async () => {
    const { reader, provider } = sdk();
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    cleanups.push(() => metrics.disable());
    const { factory } = makeFactory();
    register(factory);
    await factory.run("api", () => "ok");
    const collected = await reader.read();
    const calls = collected.metrics.find((m) => m.metric.descriptor.name === CALLS);
    expect(calls?.scope).toMatchObject({ name: "purgatory", version: packageJson.version });
    expect(calls?.metric.dataPoints[0]?.value).toBe(1);
  });

  it("rejects bad input with InvalidOptionError naming the option and the value", () => {
    const factory = new AsyncCircuitBreakerFactory();
    const catching = (call: () => unknown): InvalidOptionError => {
      try {
        call();
      } catch (error) {
        if (error instanceof InvalidOptionError) return error;
        throw error;
      }
      throw new Error("no error");
    };
    expect(catching(() => registerMetrics(null as never)).option).toBe("factory");
    expect(catching(() => registerMetrics(factory, { meter: { createCounter() {} } as never })).option).toBe("meter");
    expect(catching(() => registerMetrics(factory, { prefix: "a.b" })).value).toBe("a.b");
    expect(catching(() => registerMetrics(factory, { buckets: [Number.NaN] })).option).toBe("buckets");
    expect(catching(() => registerMetrics(factory, { metre: 1 } as never)).message).toBe(
      'Unknown option "metre" (expected one of "meter", "prefix", "buckets"), got 1',
    );
  });
});
