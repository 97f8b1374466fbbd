/**
 * Prometheus metrics with `purgatory/prometheus` (prom-client, an optional peer dependency):
 * `registerMetrics(factory, { registry })` registers and feeds
 *
 * - `purgatory_circuit_state{circuit, state}`: 1 for the circuit's state, 0 for the others, read
 *   at each scrape (with RedisStorage it follows transitions made by other processes too);
 * - `purgatory_calls_total{circuit, outcome}`: success, failure, excluded, rejected, timeout,
 *   cancelled;
 * - `purgatory_call_duration_seconds{circuit, outcome}`: how long the calls that ran took;
 * - `purgatory_state_changes_total{circuit, state, origin}`: transitions, local or remote.
 *
 * One circuit goes through opened, a failing probe, and a good probe, with an injected clock
 * instead of sleeps; then the metrics are printed as Prometheus would scrape them.
 *
 *   npx tsx examples/prometheus.ts
 *
 * In an application: `import { registerMetrics } from "purgatory/prometheus"`.
 */
import { Registry } from "prom-client";
import { AsyncCircuitBreakerFactory, CircuitOpenError } from "../src/index.js";
import { registerMetrics } from "../src/integrations/prometheus.js";

let now = Date.parse("2024-01-01T00:00:00Z"); // an injected clock: the ttl elapses when we say so
const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 2, defaultTtl: 30, clock: () => now });
const registry = new Registry(); // or prom-client's default registry: registerMetrics(circuitbreaker)
const stopMetrics = registerMetrics(circuitbreaker, { registry });

const ok = () => Promise.resolve("ok");
const fail = () => Promise.reject(new Error("payments backend down"));

/** The state whose gauge sample is 1, as a scrape now shows it. */
async function gaugedState(circuit: string): Promise<string | undefined> {
  const text = await registry.getSingleMetricAsString("purgatory_circuit_state");
  const line = text.split("\n").find((l) => l.includes(`circuit="${circuit}"`) && l.endsWith(" 1"));
  return line === undefined ? undefined : /state="([^"]+)"/.exec(line)?.[1];
}

/** Makes one call, then prints its outcome and the state the gauge shows for the circuit. */
async function step(label: string, fn: () => Promise<string>): Promise<void> {
  const outcome = await circuitbreaker.run("payments", fn).then(
    (value) => value,
    (error: unknown) => (error instanceof CircuitOpenError ? "rejected (CircuitOpenError)" : "failed"),
  );
  console.log(`${label.padEnd(28)} ${outcome.padEnd(42)} gauge: ${await gaugedState("payments")}`);
}
/** A good probe that reads the gauge while it runs: the circuit is half-opened meanwhile. */
const watchedProbe = async () => `ok (gauge during the probe: ${await gaugedState("payments")})`;

await step("call 1", ok);
await step("call 2", fail);
await step("call 3 (threshold 2: opens)", fail);
await step("call 4", ok);
now += 30_000; // the ttl elapses
await step("+30 s, call 5 (probe)", fail);
await step("call 6", ok);
now += 30_000;
await step("+30 s, call 7 (probe)", watchedProbe);
await step("call 8", ok);

console.log("\nscrape:");
const scrape = await registry.metrics();
console.log(
  scrape
    .split("\n")
    // The histogram's buckets, left out to keep the output short.
    .filter((line) => line.includes("purgatory_") && !line.includes("_bucket"))
    .join("\n"),
);

stopMetrics(); // stops feeding, takes the metrics out of the registry
await circuitbreaker.close();
