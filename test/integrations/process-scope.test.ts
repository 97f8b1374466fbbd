/**
 * The `scope` label of the metrics: a circuit with a quorum, shared through Redis (the Redis at
 * REDIS_URL, under a key prefix of this test's own) by two factories standing for two processes,
 * "a" and "b". Process a's failures alone meet the trip rule while the quorum (2 processes) is not
 * met: a opens for itself. Its Prometheus and OpenTelemetry metrics say so with `scope="process"`
 * (state gauge, rejections, transitions); b's stay the fleet's.
 */
import { MeterProvider, type DataPoint } from "@opentelemetry/sdk-metrics";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  type AsyncCircuitBreaker,
  type ListenerDisposer,
} from "../../src/index.js";
import { registerMetrics as registerOtel } from "../../src/integrations/otel.js";
import { registerMetrics as registerPrometheus } from "../../src/integrations/prometheus.js";
import { PullReader, Scrape } from "../support/metrics.js";
import { REDIS_URL, deleteKeys, inspector, sleep, uniquePrefix, waitFor } from "../support/redis-helpers.js";

const CALLS = "purgatory_calls_total";
const STATE = "purgatory_circuit_state";
const CHANGES = "purgatory_state_changes_total";
const CIRCUIT = "payments-api";
const TTL = 0.2;

/** One process of the fleet: a factory over Redis, with both integrations registered. */
interface Proc {
  readonly factory: AsyncCircuitBreakerFactory;
  readonly storage: RedisStorage;
  readonly registry: Registry;
  readonly reader: PullReader;
  breaker: AsyncCircuitBreaker;
}

let prefix = "";
const cleanups: (() => unknown)[] = [];
beforeEach(() => {
  prefix = uniquePrefix("test-metrics-scope");
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startProcess(processName: string): Promise<Proc> {
  const storage = new RedisStorage({ url: REDIS_URL, prefix, processName, flushInterval: 0.02 });
  const factory = new AsyncCircuitBreakerFactory({ storage });
  cleanups.push(() => factory.close());
  const registry = new Registry();
  const reader = new PullReader();
  const provider = new MeterProvider({ readers: [reader] });
  cleanups.push(() => provider.shutdown());
  const stops: ListenerDisposer[] = [
    registerPrometheus(factory, { registry }),
    registerOtel(factory, { meter: provider.getMeter("test") }),
  ];
  cleanups.push(() => stops.forEach((stop) => stop()));
  const breaker = await factory.getBreaker(CIRCUIT, { threshold: 2, ttl: TTL, quorum: 2 });
  return { factory, storage, registry, reader, breaker };
}

/** Processes a and b, both active callers of the circuit (each called it once). */
async function twoProcesses(): Promise<[Proc, Proc]> {
  cleanups.push(async () => {
    const redis = inspector();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });
  const a = await startProcess("a");
  const b = await startProcess("b");
  await a.breaker.run(() => "ok");
  await b.breaker.run(() => "ok");
  await waitFor(
    "both processes are active callers",
    async () => (await a.storage.inspect([CIRCUIT]))[0]?.quorum?.activeCallers.length === 2,
  );
  return [a, b];
}

/** Process a fails twice: it opens for itself; the fleet's circuit stays closed. */
async function openForItself(a: Proc): Promise<void> {
  for (let i = 0; i < 2; i++) await a.breaker.run(() => Promise.reject(new Error("unreachable from a"))).catch(() => 0);
  expect([a.breaker.state, a.breaker.scope]).toEqual(["opened", "process"]);
}

/** The state gauge's series at 1 for the circuit, as `state/scope`, in Prometheus and OpenTelemetry. */
async function gauges(p: Proc): Promise<{ prometheus: string[]; otel: string[] }> {
  const scrape = await Scrape.of(p.registry);
  const collected = await p.reader.read();
  const points = (collected.metric(STATE)?.dataPoints ?? []) as DataPoint<unknown>[];
  return {
    prometheus: scrape.all(STATE).flatMap((s) => (s.value === 1 ? [`${s.labels.state}/${s.labels.scope}`] : [])),
    otel: points.flatMap((d) => (d.value === 1 ? [`${String(d.attributes.state)}/${String(d.attributes.scope)}`] : [])),
  };
}

describe("a process open for itself (a circuit with a quorum, over Redis)", () => {
  it('labels its rejections scope="process", in Prometheus and OpenTelemetry; the other process never rejects', async () => {
    const [a, b] = await twoProcesses();
    await openForItself(a);
    const rejection: unknown = await a.breaker.run(() => "not run").catch((error: unknown) => error);
    expect(rejection).toBeInstanceOf(CircuitOpenError);
    expect((rejection as CircuitOpenError).scope).toBe("process");
    await expect(b.breaker.run(() => "b still calls")).resolves.toBe("b still calls");

    const scrape = await Scrape.of(a.registry);
    expect(scrape.value(CALLS, { circuit: CIRCUIT, outcome: "rejected", scope: "process" })).toBe(1);
    expect(scrape.value(CALLS, { circuit: CIRCUIT, outcome: "rejected", scope: "fleet" })).toBeUndefined();
    // The calls before it opened were decided by the fleet's (closed) circuit.
    expect(scrape.value(CALLS, { circuit: CIRCUIT, outcome: "failure", scope: "fleet" })).toBe(2);
    const collected = await a.reader.read();
    expect(collected.value(CALLS, { circuit: CIRCUIT, outcome: "rejected", scope: "process" })).toBe(1);
    expect(collected.value(CALLS, { circuit: CIRCUIT, outcome: "rejected", scope: "fleet" })).toBeUndefined();

    const other = await Scrape.of(b.registry);
    expect(other.all(CALLS).map((s) => [s.labels.outcome, s.labels.scope, s.value])).toEqual([["success", "fleet", 2]]);
  });

  it("shows its state in the gauge with scope process, and its transitions so; the other process's stay the fleet's", async () => {
    const [a, b] = await twoProcesses();
    await openForItself(a);
    expect(await gauges(a)).toEqual({ prometheus: ["opened/process"], otel: ["opened/process"] });
    expect(await gauges(b)).toEqual({ prometheus: ["closed/fleet"], otel: ["closed/fleet"] });
    const scrape = await Scrape.of(a.registry);
    expect(scrape.value(CHANGES, { circuit: CIRCUIT, state: "opened", origin: "local", scope: "process" })).toBe(1);
    expect(scrape.all(CHANGES).filter((s) => s.labels.scope === "fleet")).toEqual([]);

    // After its own ttl, it probes for itself: the probe is its own too; it closes, back to the fleet's state.
    await sleep(TTL * 1000 + 50);
    await a.breaker.run(() => "probe");
    expect([a.breaker.state, a.breaker.scope]).toEqual(["closed", "fleet"]);
    const after = await Scrape.of(a.registry);
    expect(after.value(CALLS, { circuit: CIRCUIT, outcome: "success", scope: "process" })).toBe(1);
    expect(after.value(CHANGES, { circuit: CIRCUIT, state: "closed", origin: "local", scope: "process" })).toBe(1);
    // No stale series: OpenTelemetry repeats an attribute set no longer observed, so the gauge
    // observes the process's series (at 0) whatever the scope.
    expect(await gauges(a)).toEqual({ prometheus: ["closed/fleet"], otel: ["closed/fleet"] });
    expect(await gauges(b)).toEqual({ prometheus: ["closed/fleet"], otel: ["closed/fleet"] });
  });
});
