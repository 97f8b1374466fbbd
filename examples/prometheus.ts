/**
 * Prometheus metrics with prom-client, fed by a hook.
 *
 * - `purgatory_circuit_state{circuit}`: a Gauge, 0 closed, 1 half-opened, 2 opened. The hook sets
 *   it on every `state_changed`. With `RedisStorage`, a transition made by another process reaches
 *   this process's hooks as `state_changed` with `remote: true`, so the same hook keeps each
 *   process's gauge on the shared state: do not filter remote events out of the gauge.
 * - `purgatory_failures_total{circuit}`: a Counter of the failures this process counted: the
 *   `failed` events, plus failing probes, which emit no `failed` but a half-opened -> opened
 *   transition made here (not `remote`). Excluded errors are not failures and are not counted.
 * - `purgatory_rejections_total{circuit}`: a Counter of the calls rejected with `CircuitOpenError`.
 *   No event reports a rejection (a rejection is not a change of state), so the caller counts them:
 *   here, a small wrapper around `circuitbreaker.run`.
 *
 * One circuit goes through opened, a failing probe, and a good probe, with an injected clock
 * instead of sleeps; then the metrics are printed as Prometheus would scrape them.
 *
 *   npx tsx examples/prometheus.ts
 */
import { Counter, Gauge, register } from "prom-client";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  type CircuitHook,
  type CircuitStateName,
} from "../src/index.js";

const STATE_VALUE: Record<CircuitStateName, number> = { closed: 0, disabled: 0, "half-opened": 1, opened: 2, isolated: 2 };

const stateGauge = new Gauge({
  name: "purgatory_circuit_state",
  help: "State of the circuit: 0 closed, 1 half-opened, 2 opened",
  labelNames: ["circuit"] as const,
});
const failures = new Counter({
  name: "purgatory_failures_total",
  help: "Failures counted by circuits in this process, failing probes included",
  labelNames: ["circuit"] as const,
});
const rejections = new Counter({
  name: "purgatory_rejections_total",
  help: "Calls rejected with CircuitOpenError in this process",
  labelNames: ["circuit"] as const,
});

const lastState = new Map<string, CircuitStateName>();

const metricsHook: CircuitHook = (name, eventType, event) => {
  switch (eventType) {
    case "circuit_breaker_created":
      // Export every series from the start, so that rate() and alerts see a 0 before the first 1.
      stateGauge.set({ circuit: name }, STATE_VALUE.closed);
      failures.inc({ circuit: name }, 0);
      rejections.inc({ circuit: name }, 0);
      break;
    case "failed":
      failures.inc({ circuit: name });
      break;
    case "state_changed":
      // A probe made by this process failed: no `failed` event for it, so count it here.
      if (!event.remote && event.state === "opened" && lastState.get(name) === "half-opened") {
        failures.inc({ circuit: name });
      }
      lastState.set(name, event.state);
      // Local or remote (`event.remote`), the gauge follows the circuit's state.
      stateGauge.set({ circuit: name }, STATE_VALUE[event.state]);
      break;
    default:
      break; // recovered, and the storage_* events of a shared storage
  }
};

let now = Date.parse("2024-01-01T00:00:00Z"); // an injected clock: the ttl elapses when we say so
const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 2, defaultTtl: 30, clock: () => now });
circuitbreaker.addListener(metricsHook);

/** `circuitbreaker.run`, counting rejections. Other errors pass through untouched. */
async function guarded<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await circuitbreaker.run(name, fn);
  } catch (error) {
    if (error instanceof CircuitOpenError) rejections.inc({ circuit: error.circuitName });
    throw error;
  }
}

const ok = () => Promise.resolve("ok");
const fail = () => Promise.reject(new Error("payments backend down"));

const gaugeValue = async (circuit: string): Promise<number | undefined> =>
  (await stateGauge.get()).values.find((v) => v.labels.circuit === circuit)?.value;

/** Makes one call, then prints its outcome and the gauge's value for the circuit. */
async function step(label: string, fn: () => Promise<string>): Promise<void> {
  const outcome = await guarded("payments", fn).then(
    (value) => value,
    (error: unknown) => (error instanceof CircuitOpenError ? "rejected (CircuitOpenError)" : "failed"),
  );
  console.log(`${label.padEnd(28)} ${outcome.padEnd(34)} purgatory_circuit_state=${await gaugeValue("payments")}`);
}
/** A good probe that reads the gauge while it runs: the circuit is half-opened meanwhile. */
const watchedProbe = async () => `ok (gauge during the probe: ${await gaugeValue("payments")})`;

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

await circuitbreaker.close();

console.log("\nscrape:");
const scrape = await register.metrics();
console.log(
  scrape
    .split("\n")
    .filter((line) => line.includes("purgatory_"))
    .join("\n"),
);
