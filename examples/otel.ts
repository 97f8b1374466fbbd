/**
 * OpenTelemetry metrics with `purgatory/otel` (@opentelemetry/api, an optional peer dependency):
 * `registerMetrics(factory, { meter? })` makes the instruments of `purgatory/prometheus`, with the
 * same names and attributes, on a Meter: an ObservableGauge `purgatory_circuit_state`, Counters
 * `purgatory_calls_total` and `purgatory_state_changes_total`, and a Histogram
 * `purgatory_call_duration_seconds` (unit `s`). Without `meter`, it uses
 * `metrics.getMeter("purgatory", <version>)`, that is the global MeterProvider your SDK set up.
 *
 * Here the SDK (@opentelemetry/sdk-metrics) has a reader that this script pulls, instead of an
 * exporter that pushes to a collector; the collection is printed one data point a line.
 *
 *   npx tsx examples/otel.ts
 *
 * In an application: `import { registerMetrics } from "purgatory/otel"`.
 */
import { metrics } from "@opentelemetry/api";
import { MeterProvider, MetricReader, type DataPoint } from "@opentelemetry/sdk-metrics";
import { AsyncCircuitBreakerFactory } from "../src/index.js";
import { registerMetrics } from "../src/integrations/otel.js";

/** A reader that exports nowhere: `collect()` hands over what an exporter would receive. */
class PullReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

const reader = new PullReader();
const provider = new MeterProvider({ readers: [reader] });
metrics.setGlobalMeterProvider(provider); // what an SDK's set-up does (NodeSDK, ...)

const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 2, defaultTtl: 30 });
const stopMetrics = registerMetrics(circuitbreaker); // the global provider's meter "purgatory"

await circuitbreaker.run("inventory", () => "ok");
for (let i = 0; i < 2; i++)
  await circuitbreaker.run("inventory", () => Promise.reject(new Error("down"))).catch(() => undefined);
await circuitbreaker.run("inventory", () => "ok").catch(() => undefined); // rejected: the circuit is opened

const { resourceMetrics } = await reader.collect();
for (const { scope, metrics: instruments } of resourceMetrics.scopeMetrics) {
  console.log(`meter ${scope.name} ${scope.version ?? ""}`);
  for (const { descriptor, dataPoints } of instruments) {
    for (const point of dataPoints as DataPoint<unknown>[]) {
      const attributes = Object.entries(point.attributes)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(",");
      const value = typeof point.value === "number" ? point.value : `count=${(point.value as { count: number }).count}`;
      console.log(`  ${descriptor.name}{${attributes}} ${value}`);
    }
  }
}

stopMetrics();
await circuitbreaker.close();
await provider.shutdown();
