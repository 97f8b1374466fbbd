/**
 * The state gauges follow the shared state: with RedisStorage (the Redis at REDIS_URL, under a
 * key prefix of this test's own), another OS process (test/support/redis-worker.ts) trips and
 * resets a circuit, and this process's Prometheus and OpenTelemetry gauges follow, the transitions
 * counted with origin "remote".
 */
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import type { Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type ListenerDisposer } from "../../src/index.js";
import { registerMetrics as registerOtel } from "../../src/integrations/otel.js";
import { registerMetrics as registerPrometheus } from "../../src/integrations/prometheus.js";
import { PullReader, Scrape } from "../support/metrics.js";
import { startWorker, type Worker } from "../support/redis-fleet.js";
import { REDIS_URL, deleteKeys, inspector, uniquePrefix, waitFor } from "../support/redis-helpers.js";

const CHANGES = "purgatory_state_changes_total";
const prefix = uniquePrefix("test-metrics");
const registry = new Registry();
const reader = new PullReader();
const provider = new MeterProvider({ readers: [reader] });
let factory: AsyncCircuitBreakerFactory;
let other: Worker | undefined;
let redis: Redis;
const stops: ListenerDisposer[] = [];

beforeAll(async () => {
  redis = inspector();
  factory = new AsyncCircuitBreakerFactory({
    storage: new RedisStorage({ url: REDIS_URL, prefix }),
    defaultThreshold: 2,
    defaultTtl: 60,
  });
  await factory.initialize();
  stops.push(registerPrometheus(factory, { registry }), registerOtel(factory, { meter: provider.getMeter("test") }));
  other = await startWorker({ url: REDIS_URL, prefix, threshold: 2, ttl: 60 });
}, 60_000);

afterAll(async () => {
  for (const stop of stops) stop();
  try {
    if (other !== undefined) {
      const timer = setTimeout(() => other?.kill(), 5000);
      await other.send({ op: "exit" }).catch(() => undefined);
      await other.exited;
      clearTimeout(timer);
    }
  } finally {
    await factory?.close();
    await provider.shutdown();
    await deleteKeys(redis, prefix);
    await redis?.quit();
  }
});

/** The states the Prometheus gauge and the OpenTelemetry gauge show for `circuit`, now. */
async function gauges(circuit: string): Promise<{ prometheus: string[]; otel: string[] }> {
  return { prometheus: (await Scrape.of(registry)).statesOf(circuit), otel: (await reader.read()).statesOf(circuit) };
}

/** Polls (at most 10 s) until both gauges show `state` for `circuit`. */
const bothShow = (circuit: string, state: string) =>
  waitFor(
    `both gauges of ${circuit} at ${state}`,
    async () => {
      const seen = await gauges(circuit);
      return seen.prometheus.join() === state && seen.otel.join() === state ? seen : undefined;
    },
    10_000,
    10,
  );

describe("a circuit shared through Redis", () => {
  it("shows in this process's gauges the trip and the reset another process made", async () => {
    const name = "payments";
    const worker = other as Worker;
    await factory.getBreaker(name);
    await worker.send({ op: "register", name });
    expect(await gauges(name)).toEqual({ prometheus: ["closed"], otel: ["closed"] });

    const tripped = await worker.send({ op: "run", name, calls: 2, outcome: "fail" });
    expect(tripped.state).toBe("opened");
    await bothShow(name, "opened");

    await worker.send({ op: "control", name, action: "reset" });
    await bothShow(name, "closed");

    // Transitions learned from the other process, counted as remote; this process made none.
    const scrape = await Scrape.of(registry);
    expect(scrape.value(CHANGES, { circuit: name, state: "opened", origin: "remote", scope: "fleet" })).toBe(1);
    expect(scrape.value(CHANGES, { circuit: name, state: "closed", origin: "remote", scope: "fleet" })).toBe(1);
    expect(scrape.all(CHANGES).filter((s) => s.labels.origin === "local")).toEqual([]);
    const collected = await reader.read();
    expect(collected.value(CHANGES, { circuit: name, state: "opened", origin: "remote", scope: "fleet" })).toBe(1);
    // No call ran here.
    expect(scrape.all("purgatory_calls_total")).toEqual([]);
  });
});
