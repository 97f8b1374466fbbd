/**
 * `purgatory/prometheus`: a factory's circuits and calls as Prometheus metrics, through
 * prom-client (an optional peer dependency: `npm install prom-client`).
 *
 * @example
 * ```ts
 * import { register } from "prom-client";
 * import { registerMetrics } from "purgatory/prometheus";
 * const stop = registerMetrics(circuitbreaker); // into prom-client's default registry
 * const text = await register.metrics();        // what GET /metrics answers
 * stop();
 * ```
 * @packageDocumentation
 */
import {
  Counter,
  Gauge,
  Histogram,
  register,
  type Metric,
  type OpenMetricsContentType,
  type PrometheusContentType,
  type Registry,
} from "prom-client";
import { InvalidOptionError } from "../errors.js";
import { disposer, type ListenerDisposer } from "../events.js";
import { checkHasMethods, checkRegistration, feed, HELP, observeStates, type MeteredFactory } from "./feed.js";

export type { MeteredFactory } from "./feed.js";

/** The options of `registerMetrics`. */
export interface PrometheusMetricsOptions {
  /** Where the metrics are registered; default: prom-client's default registry (`register`). */
  readonly registry?: Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;
  /**
   * Put before every metric name: `"myapp_"` gives `myapp_purgatory_calls_total`. Letters, digits
   * and `_`, starting with a letter; default `""`.
   */
  readonly prefix?: string;
  /**
   * Bucket upper bounds of the call duration histogram, in seconds, increasing; default 5 ms to
   * 10 s (`[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]`).
   */
  readonly buckets?: readonly number[];
}

const KNOWN: Record<keyof PrometheusMetricsOptions, true> = { registry: true, prefix: true, buckets: true };

/**
 * Registers four metrics for `factory`'s circuits (an `AsyncCircuitBreakerFactory` or a
 * `SyncCircuitBreakerFactory`) in a prom-client registry, and feeds them:
 *
 * - `purgatory_circuit_state{circuit, state, scope}` (gauge): 1 for each circuit's current state
 *   and scope, 0 for the others. `scope` is `"process"` while this process is open for itself (a
 *   circuit with a `quorum` whose failures in this process alone met its trip rule; the fleet's
 *   circuit is closed), `"fleet"` otherwise. Seven series per circuit, whatever its state: the
 *   five states (`closed`, `opened`, `half-opened`, `isolated`, `disabled`) with `scope="fleet"`,
 *   and `opened`, `half-opened` with `scope="process"`. Read at each scrape from the factory's
 *   local records (`factory.circuitStates()` and `factory.circuitScopes()`), so it holds circuits
 *   registered before this call, and with `RedisStorage` follows transitions made by other
 *   processes; a forgotten circuit leaves it.
 * - `purgatory_calls_total{circuit, outcome, scope}` (counter): calls by outcome, `success`,
 *   `failure`, `excluded`, `rejected`, `timeout` or `cancelled` (see `CallOutcome`); `scope` is
 *   `"process"` for a call rejected by (or probing) a circuit open in this process only, `"fleet"`
 *   for the others (see `CallListener`).
 * - `purgatory_call_duration_seconds{circuit, outcome}` (histogram): how long the guarded
 *   function ran, for calls that ran (not `rejected`, nor `cancelled` before they ran).
 * - `purgatory_state_changes_total{circuit, state, origin, scope}` (counter): transitions to
 *   `state` seen by this process, `origin` `"local"` when this process made them, `"remote"` when
 *   another process sharing the storage did; `scope` `"process"` for a transition of the state this
 *   process keeps for itself, `"fleet"` for the circuit's own (see `CircuitStateChangedEvent`).
 *
 * Every series carries the circuit's name as a label: circuit names must come from a bounded set
 * (hosts, not URLs). One registration per registry: a second one, while the first is registered,
 * throws `InvalidOptionError` (give it another `registry` or `prefix`). Throws `InvalidOptionError`
 * for bad input, naming the option and the value.
 *
 * Returns a disposer: calling it (or `using`) stops feeding the metrics and removes them from the
 * registry, so that `registerMetrics` may be called on it again; calling it again does nothing.
 *
 * @example
 * ```ts
 * import { Registry } from "prom-client";
 * import { registerMetrics } from "purgatory/prometheus";
 * const registry = new Registry();
 * const stop = registerMetrics(circuitbreaker, { registry, prefix: "myapp_" });
 * console.log(await registry.metrics());
 * stop();
 * ```
 */
export function registerMetrics(factory: MeteredFactory, options?: PrometheusMetricsOptions): ListenerDisposer {
  const { source, given, names, buckets } = checkRegistration<PrometheusMetricsOptions>(factory, options, KNOWN);
  const registry =
    given.registry === undefined
      ? register
      : checkHasMethods<NonNullable<PrometheusMetricsOptions["registry"]>>(
          given.registry,
          "registry",
          ["registerMetric", "getSingleMetric", "removeSingleMetric"],
          "a prom-client Registry",
        );

  const taken = [names.state, names.calls, names.duration, names.stateChanges].find(
    (name) => registry.getSingleMetric(name) !== undefined,
  );
  if (taken !== undefined) {
    throw new InvalidOptionError(
      "registry",
      registry,
      "a registry without purgatory's metrics",
      `Invalid option "registry": it already has a metric named "${taken}" (registerMetrics was already called ` +
        "with this registry, or something else uses the name); call the first registration's disposer, " +
        'or pass another "registry" or a "prefix"',
    );
  }

  const state = new Gauge({
    name: names.state,
    help: HELP.state,
    labelNames: ["circuit", "state", "scope"] as const,
    registers: [],
    collect() {
      this.reset();
      observeStates(source, (value, circuit, s, scope) => this.set({ circuit, state: s, scope }, value));
    },
  });
  const calls = new Counter({
    name: names.calls,
    help: HELP.calls,
    labelNames: ["circuit", "outcome", "scope"] as const,
    registers: [],
  });
  const duration = new Histogram({
    name: names.duration,
    help: HELP.duration,
    labelNames: ["circuit", "outcome"] as const,
    buckets: [...buckets],
    registers: [],
  });
  const stateChanges = new Counter({
    name: names.stateChanges,
    help: HELP.stateChanges,
    labelNames: ["circuit", "state", "origin", "scope"] as const,
    registers: [],
  });
  const metrics: readonly (readonly [name: string, metric: Metric])[] = [
    [names.state, state],
    [names.calls, calls],
    [names.duration, duration],
    [names.stateChanges, stateChanges],
  ];
  for (const [, metric] of metrics) registry.registerMetric(metric);

  const stopFeed = feed(source, {
    call(circuit, outcome, scope, seconds) {
      calls.inc({ circuit, outcome, scope });
      if (seconds !== null) duration.observe({ circuit, outcome }, seconds);
    },
    stateChange(circuit, to, origin, scope) {
      stateChanges.inc({ circuit, state: to, origin, scope });
    },
  });
  return disposer(() => {
    stopFeed();
    // Only ours: the registry may hold another metric of that name by now.
    for (const [name, metric] of metrics) {
      if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name);
    }
  });
}
