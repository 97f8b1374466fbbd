/**
 * Monitoring: a hook receives every event of every circuit as `hook(name, eventType, event)`.
 * This one keeps a gauge-like Map (0 closed, 1 half-opened, 2 opened) and a failure counter per
 * circuit, the way a Prometheus gauge and counter fed by a hook would.
 *
 *   npx tsx examples/monitoring.ts
 */
import { AsyncCircuitBreakerFactory, type CircuitHook, type CircuitStateName } from "../src/index.js";

const STATE_VALUE: Record<CircuitStateName, number> = {
  closed: 0,
  disabled: 0,
  "half-opened": 1,
  opened: 2,
  isolated: 2,
};
const stateGauge = new Map<string, number>();
const failures = new Map<string, number>();
const log: string[] = [];

const metricsHook: CircuitHook = (name, eventType, event) => {
  log.push(`${name}:${eventType}`);
  switch (eventType) {
    case "circuit_breaker_created":
      stateGauge.set(name, STATE_VALUE.closed);
      break;
    case "failed":
      failures.set(name, (failures.get(name) ?? 0) + 1);
      break;
    case "state_changed":
      stateGauge.set(name, STATE_VALUE[event.state]);
      break;
    case "recovered":
      break;
  }
};

let now = 0; // a manual clock: the ttl elapses when we say so
const circuitbreaker = new AsyncCircuitBreakerFactory({
  defaultThreshold: 2,
  defaultTtl: 5,
  clock: () => now,
});
circuitbreaker.addListener(metricsHook);

const fail = () => Promise.reject(new Error("backend down"));
const ok = () => Promise.resolve("ok");
const attempt = (name: string, fn: () => Promise<string>) => circuitbreaker.run(name, fn).catch(() => undefined);

await attempt("billing", ok);
await attempt("billing", fail);
await attempt("billing", fail); // opens "billing"
await attempt("search", ok);
console.log("gauge after the outage:", Object.fromEntries(stateGauge));

now += 5_000; // the ttl elapses
await attempt("billing", ok); // the probe closes it again
console.log("gauge after recovery:", Object.fromEntries(stateGauge));
console.log("failures:", Object.fromEntries(failures));
console.log("events:", log.join(" "));

// removeListener stops the hook; removing a hook that is not listening throws.
circuitbreaker.removeListener(metricsHook);
await attempt("billing", fail);
console.log("events after removeListener:", log.length, "(unchanged)");
try {
  circuitbreaker.removeListener(metricsHook);
} catch (error) {
  console.log(`${(error as Error).name}: ${(error as Error).message}`);
}

await circuitbreaker.close();
