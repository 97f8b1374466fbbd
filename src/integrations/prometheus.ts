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
import type { CallOutcome } from "../calls.js";
import type { CircuitScope, CircuitStateName } from "../core/circuit.js";
import { InvalidOptionError } from "../errors.js";
import { disposer, type ListenerDisposer } from "../events.js";
import {
  CALL_OUTCOMES,
  checkHasMethods,
  checkRegistration,
  CIRCUIT_STATES,
  feed,
  HELP,
  observeStates,
  ORIGINS,
  SCOPES,
  type MeteredFactory,
  type TransitionOrigin,
} from "./feed.js";

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

const indexOf = <T extends string>(values: readonly T[]): Readonly<Record<T, number>> =>
  Object.fromEntries(values.map((value, i) => [value, i])) as Record<T, number>;
const OUTCOME_INDEX = indexOf(CALL_OUTCOMES);
const SCOPE_INDEX = indexOf(SCOPES);
const STATE_INDEX: Readonly<Partial<Record<string, number>>> = indexOf(CIRCUIT_STATES);
/** The bits of a circuit's call series (outcome x scope: 12) come first, then its state changes' (20). */
const CHANGE_BITS = CALL_OUTCOMES.length * SCOPES.length;

/** The bit of the call series `outcome`, `scope` (a call counter and a duration histogram series). */
const callBit = (outcome: CallOutcome, scope: CircuitScope): number => OUTCOME_INDEX[outcome] * 2 + SCOPE_INDEX[scope];

/** The bit of the state changes series; `undefined` for a state purgatory does not know (a custom storage's). */
function changeBit(state: CircuitStateName, origin: TransitionOrigin, scope: CircuitScope): number | undefined {
  const index = STATE_INDEX[state];
  return index === undefined ? undefined : CHANGE_BITS + index * 4 + (origin === "remote" ? 2 : 0) + SCOPE_INDEX[scope];
}

/**
 * Which series each circuit has, as bits (`callBit`, `changeBit`: 32 in all), so that forgetting
 * a circuit removes its series and no others: one `remove` per series it has, rather than one per
 * label combination it might have. A circuit costs one map entry while it has series; marking
 * costs a map look-up per call, beside prom-client's own hashing of the labels.
 */
class CircuitSeries {
  readonly #bits = new Map<string, number>();

  /** Notes that `circuit` has the series of `bit`. */
  mark(circuit: string, bit: number): void {
    const bits = this.#bits.get(circuit) ?? 0;
    const next = (bits | (1 << bit)) >>> 0;
    if (next !== bits) this.#bits.set(circuit, next);
  }

  /** The bits of the series `circuit` has, forgetting them. */
  *take(circuit: string): Generator<number> {
    const bits = this.#bits.get(circuit) ?? 0;
    this.#bits.delete(circuit);
    for (let bit = 0; bit < 32; bit++) if (((bits >>> bit) & 1) === 1) yield bit;
  }
}

/**
 * Registers five metrics for `factory`'s circuits (an `AsyncCircuitBreakerFactory` or a
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
 * - `purgatory_circuits_forgotten_total{reason}` (counter): circuits this process forgot
 *   (`circuit_forgotten`), `reason` `"limit"` (room for a new one under `maxCircuits`), `"idle"`
 *   (unused for `idleTtl`) or `"forget"` (`factory.forget(name)`). No circuit label.
 *
 * Every series but the last carries the circuit's name as a label. When the factory forgets a
 * circuit, its series go too: the gauge's at the next scrape, the counters' and the histogram's at
 * once (their counts restart from 0 if the circuit comes back, which `rate()` reads as a reset). So
 * the series follow the circuits the factory holds: bound those with `maxCircuits` (and `idleTtl`)
 * when names come from outside (hosts of URLs; `purgatory/fetch` bounds its own by default). One registration per registry: a second one, while the first is registered,
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

  const taken = [names.state, names.calls, names.duration, names.stateChanges, names.forgotten].find(
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
  const forgotten = new Counter({
    name: names.forgotten,
    help: HELP.forgotten,
    labelNames: ["reason"] as const,
    registers: [],
  });
  const metrics: readonly (readonly [name: string, metric: Metric])[] = [
    [names.state, state],
    [names.calls, calls],
    [names.duration, duration],
    [names.stateChanges, stateChanges],
    [names.forgotten, forgotten],
  ];
  for (const [, metric] of metrics) registry.registerMetric(metric);

  const series = new CircuitSeries();
  const stopFeed = feed(source, {
    call(circuit, outcome, scope, seconds) {
      series.mark(circuit, callBit(outcome, scope));
      calls.inc({ circuit, outcome, scope });
      if (seconds !== null) duration.observe({ circuit, outcome }, seconds);
    },
    stateChange(circuit, to, origin, scope) {
      const bit = changeBit(to, origin, scope);
      // A state of a custom storage has no bit: its series stays (a bounded few).
      if (bit !== undefined) series.mark(circuit, bit);
      stateChanges.inc({ circuit, state: to, origin, scope });
    },
    forgotten(circuit, reason) {
      forgotten.inc({ reason });
      // Only the series the circuit has: one remove each.
      for (const bit of series.take(circuit)) {
        if (bit < CHANGE_BITS) {
          const outcome = CALL_OUTCOMES[bit >> 1] as CallOutcome;
          calls.remove({ circuit, outcome, scope: SCOPES[bit & 1] as CircuitScope });
          duration.remove({ circuit, outcome });
        } else {
          const n = bit - CHANGE_BITS;
          stateChanges.remove({
            circuit,
            state: CIRCUIT_STATES[n >> 2] as CircuitStateName,
            origin: ORIGINS[(n >> 1) & 1] as TransitionOrigin,
            scope: SCOPES[n & 1] as CircuitScope,
          });
        }
      }
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
