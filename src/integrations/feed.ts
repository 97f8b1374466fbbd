/**
 * What the metrics integrations (`purgatory/prometheus`, `purgatory/otel`) share: the metric
 * names, the validation of their options, and the feed, which turns a factory's call listener and
 * hook into "a call ended" and "a circuit changed state". The core never imports this folder.
 * @module
 */
import type { CallListener, CallOutcome } from "../calls.js";
import type { CircuitScope, CircuitStateName } from "../core/circuit.js";
import { InvalidOptionError } from "../errors.js";
import { disposer, type CircuitHook, type ForgetReason, type ListenerDisposer } from "../events.js";
import { checkKeys } from "../options/checks.js";

/**
 * What `registerMetrics` reads from a factory: `AsyncCircuitBreakerFactory` and
 * `SyncCircuitBreakerFactory` both have it. A structural type, so a factory from the ESM or the
 * CommonJS build of the package fits either build of the integrations.
 */
export interface MeteredFactory {
  /** See `AsyncCircuitBreakerFactory.addListener`: the `state_changed` events feed a counter. */
  addListener(hook: CircuitHook): ListenerDisposer;
  /** See `AsyncCircuitBreakerFactory.addCallListener`: each call feeds a counter and a histogram. */
  addCallListener(listener: CallListener): ListenerDisposer;
  /** See `AsyncCircuitBreakerFactory.circuitStates`: read at each scrape for the state gauge. */
  circuitStates(): ReadonlyMap<string, CircuitStateName>;
  /** See `AsyncCircuitBreakerFactory.circuitScopes`: read with it, for the gauge's `scope` label. */
  circuitScopes(): ReadonlyMap<string, CircuitScope>;
}

/** Every state a circuit can be in: the `state` label of the state gauge takes each of them. */
export const CIRCUIT_STATES: readonly CircuitStateName[] = Object.freeze([
  "closed",
  "opened",
  "half-opened",
  "isolated",
  "disabled",
]);

/** Every outcome of a call (the `outcome` label of the call counter and the duration histogram). */
export const CALL_OUTCOMES: readonly CallOutcome[] = Object.freeze(
  Object.keys({
    success: true,
    failure: true,
    excluded: true,
    rejected: true,
    timeout: true,
    cancelled: true,
  } satisfies Record<CallOutcome, true>) as CallOutcome[],
);

/** Every scope (the `scope` label). */
export const SCOPES: readonly CircuitScope[] = Object.freeze(["fleet", "process"] as const);

/** Every origin of a transition (the `origin` label of the state changes counter). */
export const ORIGINS: readonly TransitionOrigin[] = Object.freeze(["local", "remote"] as const);

/**
 * The series of the state gauge, for each circuit: its five states in scope `"fleet"`, and in
 * scope `"process"` the two a process open for itself can be in (`opened`, `half-opened`). A fixed
 * set, so that no series comes and goes when a circuit's scope changes: an OpenTelemetry SDK keeps
 * reporting an attribute set it no longer observes, with its last value (a stale 1).
 */
export const STATE_SERIES: readonly (readonly [state: CircuitStateName, scope: CircuitScope])[] = Object.freeze([
  ...CIRCUIT_STATES.map((state) => Object.freeze([state, "fleet"] as const)),
  Object.freeze(["opened", "process"] as const),
  Object.freeze(["half-opened", "process"] as const),
]);

/**
 * Reads the state gauge of every circuit `source` holds, now (`circuitStates()` and
 * `circuitScopes()`, one right after the other): calls `observe` with each of the circuit's
 * `STATE_SERIES`, 1 for its current state and scope, 0 for the others. A pair outside
 * `STATE_SERIES` (a custom storage's) is observed too, with 1.
 */
export function observeStates(
  source: MeteredFactory,
  observe: (value: 0 | 1, circuit: string, state: CircuitStateName, scope: CircuitScope) => void,
): void {
  const states = source.circuitStates();
  const scopes = source.circuitScopes();
  for (const [circuit, current] of states) {
    const scope = scopes.get(circuit) ?? "fleet";
    let listed = false;
    for (const [state, of] of STATE_SERIES) {
      const on = state === current && of === scope;
      if (on) listed = true;
      observe(on ? 1 : 0, circuit, state, of);
    }
    if (!listed) observe(1, circuit, current, scope);
  }
}

/**
 * Histogram bucket boundaries in seconds, for calls over a network: 5 ms to 10 s (prom-client's
 * defaults, given to OpenTelemetry too, whose own defaults are meant for milliseconds).
 */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** The names of the five instruments, `prefix` first. */
export interface MetricNames {
  /** Gauge `{circuit, state, scope}`: 1 for the circuit's current state and scope, 0 for the others. */
  readonly state: string;
  /** Counter `{circuit, outcome, scope}`: calls by outcome and the scope of the state that decided them. */
  readonly calls: string;
  /** Histogram `{circuit, outcome}`: how long the calls that ran took, in seconds. */
  readonly duration: string;
  /** Counter `{circuit, state, origin, scope}`: transitions seen by this process. */
  readonly stateChanges: string;
  /** Counter `{reason}`: circuits this process forgot (`circuit_forgotten`); no circuit label. */
  readonly forgotten: string;
}

/** The metric names under `prefix` (`""` by default: `purgatory_calls_total`, ...). */
export function metricNames(prefix: string): MetricNames {
  return {
    state: `${prefix}purgatory_circuit_state`,
    calls: `${prefix}purgatory_calls_total`,
    duration: `${prefix}purgatory_call_duration_seconds`,
    stateChanges: `${prefix}purgatory_state_changes_total`,
    forgotten: `${prefix}purgatory_circuits_forgotten_total`,
  };
}

/** Help texts, the same for both integrations. */
export const HELP: Readonly<Record<keyof MetricNames, string>> = Object.freeze({
  state:
    "State of each circuit as this process holds it: 1 for the current state and scope, 0 for the others; " +
    "scope is process while this process is open for itself (the fleet's circuit closed), fleet otherwise",
  calls:
    "Calls guarded by a circuit, by outcome (success, failure, excluded, rejected, timeout, cancelled); " +
    "scope is process for those rejected or probed by a circuit open in this process only, fleet otherwise",
  duration: "Time the guarded calls ran, in seconds, by outcome (calls rejected by an open circuit are not timed)",
  stateChanges:
    "Circuit transitions seen by this process; origin is remote for those made by another process, " +
    "scope is process for those of a circuit open in this process only",
  forgotten:
    "Circuits this process forgot, by reason: limit (room for a new one under maxCircuits), idle (unused for " +
    "idleTtl), forget (forget(name) called)",
});

/** Where a transition was made: by this process, or by another one sharing the storage. */
export type TransitionOrigin = "local" | "remote";

/** What the feed reports; each integration writes it into its instruments. */
export interface MetricsSink {
  /**
   * A call of `circuit` ended with `outcome`, decided by the state of `scope`; `seconds` is `null`
   * for a call that did not run.
   */
  call(circuit: string, outcome: CallOutcome, scope: CircuitScope, seconds: number | null): void;
  /** Circuit `circuit` (its state of `scope`) moved to `state`. */
  stateChange(circuit: string, state: CircuitStateName, origin: TransitionOrigin, scope: CircuitScope): void;
  /** This process forgot circuit `circuit`, for `reason`: its series may go. */
  forgotten(circuit: string, reason: ForgetReason): void;
}

/**
 * Feeds `sink` from `factory`'s call listener and hook until the returned disposer is called.
 * A rejected call did not run, nor did a call cancelled before it ran (reported with 0 ms):
 * neither gets a duration.
 */
export function feed(factory: MeteredFactory, sink: MetricsSink): ListenerDisposer {
  const stopCalls = factory.addCallListener((circuit, outcome, durationMs, scope) => {
    const ran = outcome !== "rejected" && !(outcome === "cancelled" && durationMs === 0);
    sink.call(circuit, outcome, scope, ran ? durationMs / 1000 : null);
  });
  const stopHook = factory.addListener((circuit, eventType, event) => {
    if (eventType === "circuit_forgotten") {
      sink.forgotten(circuit, event.reason);
      return;
    }
    if (eventType !== "state_changed") return;
    // A custom storage's `subscribe` written before scopes existed may leave `scope` out.
    const scope = (event.scope as CircuitScope | undefined) ?? "fleet";
    sink.stateChange(circuit, event.state, event.remote === true ? "remote" : "local", scope);
  });
  return disposer(() => {
    stopCalls();
    stopHook();
  });
}

const hasMethods = (value: unknown, names: readonly string[]): boolean =>
  typeof value === "object" &&
  value !== null &&
  names.every((name) => typeof (value as Record<string, unknown>)[name] === "function");

/** `value` as a factory, or `InvalidOptionError` naming `"factory"`. */
function checkFactory(value: unknown): MeteredFactory {
  if (!hasMethods(value, ["addListener", "addCallListener", "circuitStates", "circuitScopes"])) {
    throw new InvalidOptionError("factory", value, "an AsyncCircuitBreakerFactory or SyncCircuitBreakerFactory");
  }
  return value as MeteredFactory;
}

/** `value` as an object with the methods `names`, or `InvalidOptionError` naming `option`. */
export function checkHasMethods<T>(value: unknown, option: string, names: readonly string[], expected: string): T {
  if (!hasMethods(value, names)) throw new InvalidOptionError(option, value, expected);
  return value as T;
}

/** The options every `registerMetrics` takes. */
export interface CommonMetricsOptions {
  readonly prefix?: string;
  readonly buckets?: readonly number[];
}

/** The checked arguments of a `registerMetrics`. */
export interface Registration<O> {
  readonly source: MeteredFactory;
  readonly given: O;
  readonly prefix: string;
  readonly names: MetricNames;
  readonly buckets: readonly number[];
}

/**
 * Checks the arguments of a `registerMetrics`: the factory, the options object (`undefined` gives
 * `{}`) with no key outside `known`, its `prefix` and its `buckets`.
 */
export function checkRegistration<O extends CommonMetricsOptions>(
  factory: unknown,
  options: unknown,
  known: Readonly<Record<keyof O, true>>,
): Registration<O> {
  const source = checkFactory(factory);
  if (options !== undefined && (typeof options !== "object" || options === null || Array.isArray(options))) {
    throw new InvalidOptionError("options", options, "an options object");
  }
  const given = (options ?? {}) as O;
  checkKeys(given, known);
  const prefix = checkPrefix(given.prefix);
  return { source, given, prefix, names: metricNames(prefix), buckets: checkBuckets(given.buckets) };
}

/**
 * A prefix of metric names: empty, or letters, digits and underscores starting with a letter, a
 * name both Prometheus and OpenTelemetry accept (`"myapp_"` gives `myapp_purgatory_calls_total`).
 */
function checkPrefix(value: unknown): string {
  if (value === undefined) return "";
  if (typeof value !== "string" || !/^(?:[A-Za-z][A-Za-z0-9_]{0,100})?$/.test(value)) {
    throw new InvalidOptionError(
      "prefix",
      value,
      'a metric name prefix of letters, digits and "_", starting with a letter (e.g. "myapp_")',
    );
  }
  return value;
}

/** Histogram bucket boundaries: a non-empty array of finite numbers > 0 in increasing order. */
function checkBuckets(value: unknown): readonly number[] {
  if (value === undefined) return DEFAULT_BUCKETS;
  const valid =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(
      (b: unknown, i) =>
        typeof b === "number" && Number.isFinite(b) && b > 0 && (i === 0 || b > (value[i - 1] as number)),
    );
  if (!valid) {
    throw new InvalidOptionError("buckets", value, "a non-empty array of increasing finite numbers > 0 (seconds)");
  }
  return Object.freeze([...(value as number[])]);
}
