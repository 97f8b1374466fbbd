/**
 * `purgatory/otel`: a factory's circuits and calls as OpenTelemetry metrics, through
 * `@opentelemetry/api` (an optional peer dependency: `npm install @opentelemetry/api`). Without an
 * SDK registered (`MeterProvider`), the API's meters record nothing, at almost no cost.
 *
 * @example
 * ```ts
 * import { registerMetrics } from "purgatory/otel";
 * const stop = registerMetrics(circuitbreaker); // metrics.getMeter("purgatory", <version>)
 * stop();
 * ```
 * @packageDocumentation
 */
import { metrics, type Meter, type ObservableResult } from "@opentelemetry/api";
import { version } from "../../package.json";
import { InvalidOptionError } from "../errors.js";
import { disposer, type ListenerDisposer } from "../events.js";
import { checkHasMethods, checkRegistration, feed, HELP, observeStates, type MeteredFactory } from "./feed.js";

export type { MeteredFactory } from "./feed.js";

/** The options of `registerMetrics`. */
export interface OtelMetricsOptions {
  /** The meter that makes the instruments; default `metrics.getMeter("purgatory", <purgatory's version>)`. */
  readonly meter?: Meter;
  /**
   * Put before every instrument name: `"myapp_"` gives `myapp_purgatory_calls_total`. Letters,
   * digits and `_`, starting with a letter; default `""`.
   */
  readonly prefix?: string;
  /**
   * Bucket boundaries advised for the call duration histogram, in seconds, increasing; default
   * 5 ms to 10 s (`[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]`). A view configured
   * in the SDK takes precedence.
   */
  readonly buckets?: readonly number[];
}

const KNOWN: Record<keyof OtelMetricsOptions, true> = { meter: true, prefix: true, buckets: true };

/** The prefixes each meter feeds, while registered: a second registration would count twice. */
const fed = new WeakMap<object, Set<string>>();

/**
 * Makes five instruments for `factory`'s circuits (an `AsyncCircuitBreakerFactory` or a
 * `SyncCircuitBreakerFactory`) with an OpenTelemetry `Meter`, and feeds them. The names and
 * attributes are those of `purgatory/prometheus`, so one dashboard reads both:
 *
 * - `purgatory_circuit_state{circuit, state, scope}` (ObservableGauge): 1 for each circuit's
 *   current state and scope, 0 for the others. `scope` is `"process"` while this process is open
 *   for itself (a circuit with a `quorum` whose failures in this process alone met its trip rule;
 *   the fleet's circuit is closed), `"fleet"` otherwise. Seven data points per circuit, whatever
 *   its state: the five states (`closed`, `opened`, `half-opened`, `isolated`, `disabled`) with
 *   scope `fleet`, and `opened`, `half-opened` with scope `process`. Observed at each collection
 *   from the factory's local records (`factory.circuitStates()` and `factory.circuitScopes()`),
 *   so it holds circuits registered before this call, and with `RedisStorage` follows transitions
 *   made by other processes.
 * - `purgatory_calls_total{circuit, outcome, scope}` (Counter, unit `{call}`): calls by outcome,
 *   `success`, `failure`, `excluded`, `rejected`, `timeout` or `cancelled` (see `CallOutcome`);
 *   `scope` is `"process"` for a call rejected by (or probing) a circuit open in this process
 *   only, `"fleet"` for the others (see `CallListener`).
 * - `purgatory_call_duration_seconds{circuit, outcome}` (Histogram, unit `s`): how long the
 *   guarded function ran, for calls that ran (not `rejected`, nor `cancelled` before they ran).
 * - `purgatory_state_changes_total{circuit, state, origin, scope}` (Counter, unit `{transition}`):
 *   transitions seen by this process, `origin` `"local"` or `"remote"` (made by another process
 *   sharing the storage), `scope` `"process"` for a transition of the state this process keeps
 *   for itself, `"fleet"` for the circuit's own (see `CircuitStateChangedEvent`).
 * - `purgatory_circuits_forgotten_total{reason}` (Counter, unit `{circuit}`): circuits this
 *   process forgot (`circuit_forgotten`), `reason` `"limit"`, `"idle"` or `"forget"`. No circuit
 *   attribute.
 *
 * Every series but the last carries the circuit's name as an attribute: circuit names must come
 * from a bounded set (hosts, not URLs), or be bounded by `maxCircuits` (`purgatory/fetch` bounds
 * its own). OpenTelemetry has no way to delete a series: an SDK keeps exporting those of a
 * forgotten circuit, up to its cardinality limit per instrument (2,000 attribute sets by default
 * in `@opentelemetry/sdk-metrics`, then one overflow series), so the export stays bounded but
 * does not shrink; a delta temporality exporter drops series that stop changing. One registration per meter and prefix: a second one, while the
 * first is registered, throws `InvalidOptionError` (it would count every call twice); give it
 * another `meter` or `prefix`. Throws `InvalidOptionError` for bad input, naming the option and
 * the value.
 *
 * Returns a disposer: calling it (or `using`) stops feeding the instruments and observing the
 * gauge (OpenTelemetry has no way to delete an instrument); calling it again does nothing.
 *
 * @example
 * ```ts
 * import { MeterProvider } from "@opentelemetry/sdk-metrics";
 * import { registerMetrics } from "purgatory/otel";
 * const provider = new MeterProvider({ readers: [reader] });
 * const stop = registerMetrics(circuitbreaker, { meter: provider.getMeter("purgatory") });
 * ```
 */
export function registerMetrics(factory: MeteredFactory, options?: OtelMetricsOptions): ListenerDisposer {
  const { source, given, prefix, names, buckets } = checkRegistration<OtelMetricsOptions>(factory, options, KNOWN);
  const meter =
    given.meter === undefined
      ? metrics.getMeter("purgatory", version)
      : checkHasMethods<Meter>(
          given.meter,
          "meter",
          ["createCounter", "createHistogram", "createObservableGauge"],
          "an OpenTelemetry Meter",
        );

  const prefixes = fed.get(meter) ?? new Set<string>();
  if (prefixes.has(prefix)) {
    throw new InvalidOptionError(
      "meter",
      meter,
      "a meter purgatory's metrics are not registered with",
      `Invalid option "meter": registerMetrics is already feeding "${names.calls}" and the other instruments ` +
        "of this meter (it would count every call twice); call the first registration's disposer, " +
        'or pass another "meter" or a "prefix"',
    );
  }
  prefixes.add(prefix);
  fed.set(meter, prefixes);

  const state = meter.createObservableGauge(names.state, { description: HELP.state });
  const observe = (result: ObservableResult): void => {
    observeStates(source, (value, circuit, s, scope) => result.observe(value, { circuit, state: s, scope }));
  };
  state.addCallback(observe);
  const calls = meter.createCounter(names.calls, { description: HELP.calls, unit: "{call}" });
  const duration = meter.createHistogram(names.duration, {
    description: HELP.duration,
    unit: "s",
    advice: { explicitBucketBoundaries: [...buckets] },
  });
  const stateChanges = meter.createCounter(names.stateChanges, {
    description: HELP.stateChanges,
    unit: "{transition}",
  });
  const forgotten = meter.createCounter(names.forgotten, { description: HELP.forgotten, unit: "{circuit}" });

  const stopFeed = feed(source, {
    call(circuit, outcome, scope, seconds) {
      calls.add(1, { circuit, outcome, scope });
      if (seconds !== null) duration.record(seconds, { circuit, outcome });
    },
    stateChange(circuit, to, origin, scope) {
      stateChanges.add(1, { circuit, state: to, origin, scope });
    },
    forgotten(_circuit, reason) {
      forgotten.add(1, { reason });
    },
  });
  return disposer(() => {
    stopFeed();
    state.removeCallback(observe);
    prefixes.delete(prefix);
  });
}
