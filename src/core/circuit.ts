/**
 * The plain data of one circuit: its configuration and the snapshot of its state.
 * Nothing here does I/O or reads a clock; every time is passed in as epoch milliseconds.
 * @module
 */

/**
 * The states of a circuit, as strings (docs/design.md, "Circuits"): the Python purgatory's three, and the two
 * an operator sets by hand (`isolated`: every call rejected; `disabled`: every call runs and
 * nothing trips), which win over the automatic ones until a reset.
 */
export type CircuitStateName = "closed" | "opened" | "half-opened" | "isolated" | "disabled";

/**
 * Trip also at a failure rate over a sliding time window (Resilience4j's failure rate threshold,
 * minimum number of calls and sliding window; Polly's failure ratio, minimum throughput and
 * sampling duration).
 */
export interface FailureRatePolicy {
  /** Trip when failures / calls reaches this (0 < rate <= 1). */
  readonly rate: number;
  /** ...once at least this many calls are in the window (integer >= 1). */
  readonly minimumCalls: number;
  /** The window, in seconds (counted in 10 buckets of a tenth each). */
  readonly window: number;
}

/** Trip also at a rate of slow calls (successes slower than `duration`), on the failure rate's window. */
export interface SlowCallPolicy {
  /** Seconds after which a success counts as slow. */
  readonly duration: number;
  /** Trip when slow calls / calls reaches this (0 < rate <= 1). */
  readonly rate: number;
}

/**
 * Each re-opening since the last close multiplies the open time (Polly's break duration
 * generator): the n-th opening lasts `ttl * multiplier^(n-1)`, at most `maxTtl`, give or take
 * `jitter` (a fraction) so that a fleet's probes spread out.
 */
export interface BackoffPolicy {
  /** Each re-opening lasts this many times the previous one (1 to 1000). */
  readonly multiplier: number;
  /** Seconds. */
  readonly maxTtl: number;
  /** 0 to 1: the open time varies by up to this fraction either way. */
  readonly jitter: number;
}

/**
 * How many distinct processes must report failures before a shared circuit opens for the whole
 * fleet (see `core/quorum`): at least `processes`, and at least `fraction` of the processes that
 * called the circuit lately (its active callers), never more than the active callers. A process
 * whose own failures meet the trip rule before that opens for itself alone.
 */
export interface QuorumPolicy {
  /** Distinct processes whose failures a fleet-wide opening needs (integer >= 1). */
  readonly processes: number;
  /** Also at least this fraction of the active callers (0 < fraction <= 1), rounded up. */
  readonly fraction?: number;
}

/**
 * What configures one circuit. Fixed by the first registration of its name (and changed only by
 * `reconfigure`).
 *
 * @example
 * ```ts
 * const config: CircuitConfig = { threshold: 5, ttl: 30, halfOpenMaxCalls: 1 };
 * ```
 */
export interface CircuitConfig {
  /** Consecutive failures that open the circuit (integer >= 1). */
  readonly threshold: number;
  /** Seconds the circuit stays opened before a probe may run (finite > 0). */
  readonly ttl: number;
  /** Probes that may run at once while half-opened (integer >= 1). */
  readonly halfOpenMaxCalls: number;
  /** Also trip at a failure rate over a time window. */
  readonly failureRate?: FailureRatePolicy;
  /** Also trip at a rate of slow calls, on the same window. */
  readonly slowCall?: SlowCallPolicy;
  /** Open longer at each re-opening. */
  readonly backoff?: BackoffPolicy;
  /** With a shared storage: the processes a fleet-wide opening needs. Absent: one (any process). */
  readonly quorum?: QuorumPolicy;
}

/**
 * `config` laid out as every circuit's config is: the three numbers, then the policies it has,
 * always in that order. Objects built alike share one hidden class in V8; a config spread
 * together from defaults and options (or with a policy deleted) may get a class of its own,
 * about 200 bytes more per circuit.
 */
export function circuitConfig(config: CircuitConfig): CircuitConfig {
  const laidOut: { -readonly [K in keyof CircuitConfig]: CircuitConfig[K] } = {
    threshold: config.threshold,
    ttl: config.ttl,
    halfOpenMaxCalls: config.halfOpenMaxCalls,
  };
  if (config.failureRate !== undefined) laidOut.failureRate = config.failureRate;
  if (config.slowCall !== undefined) laidOut.slowCall = config.slowCall;
  if (config.backoff !== undefined) laidOut.backoff = config.backoff;
  if (config.quorum !== undefined) laidOut.quorum = config.quorum;
  return laidOut;
}

/**
 * A circuit's state as an immutable discriminated union. `generation` grows by one on every
 * transition and on every probe admission, so each admission carries a token (the generation it
 * was admitted in) that identifies it: an outcome whose token is no longer current is ignored.
 *
 * @example
 * ```ts
 * const fresh: CircuitSnapshot = { state: "closed", generation: 0, failureCount: 0 };
 * ```
 */
export type CircuitSnapshot =
  ClosedSnapshot | OpenedSnapshot | HalfOpenedSnapshot | IsolatedSnapshot | DisabledSnapshot;

/** A closed circuit: calls run; `failureCount` consecutive failures so far. */
export interface ClosedSnapshot {
  /** Always `"closed"`: what tells the snapshots apart. */
  readonly state: "closed";
  /** Grows by one on every transition; outcomes of calls admitted in older ones are ignored. */
  readonly generation: number;
  /** Consecutive failures counted so far. */
  readonly failureCount: number;
}

/** An opened circuit: calls are rejected until `retryAt`. */
export interface OpenedSnapshot {
  /** Always `"opened"`: what tells the snapshots apart. */
  readonly state: "opened";
  /** Grows by one on every transition; outcomes of calls admitted in older ones are ignored. */
  readonly generation: number;
  /** The failure count it opened with (a failing probe adds one); cleared when it closes. */
  readonly failureCount: number;
  /** When the circuit opened, epoch ms. */
  readonly openedAt: number;
  /** When a probe may run, epoch ms: `openedAt` + the ttl of this opening (see `BackoffPolicy`). */
  readonly retryAt: number;
  /** Openings since the circuit last closed, this one included (1 for the first). */
  readonly openings: number;
}

/**
 * One probe's lease: the token (generation) the probe was admitted with and when the lease ends.
 * Only a probe whose lease is live when it settles may decide: a late (zombie) probe is ignored.
 */
export interface ProbeLease {
  /** The generation the probe was admitted in; its outcome must hand it back. */
  readonly token: number;
  /** When the lease ends, epoch ms; an expired lease frees its slot. */
  readonly expiresAt: number;
}

/** A half-opened circuit: up to `halfOpenMaxCalls` probes run; their outcome decides. */
export interface HalfOpenedSnapshot {
  /** Always `"half-opened"`: what tells the snapshots apart. */
  readonly state: "half-opened";
  /** The token of the latest probe admitted (each probe admission grows it by one). */
  readonly generation: number;
  /** The failure count of the opening it came from; cleared when a probe closes the circuit. */
  readonly failureCount: number;
  /**
   * When the circuit last opened, epoch ms: what a call rejected for want of a probe slot reports.
   * The `state_changed` event and `breaker.openedAt` show `null` while half-opened.
   */
  readonly openedAt: number;
  /** Openings since the circuit last closed: a failing probe opens it for the next backoff step. */
  readonly openings: number;
  /** The leases of the probes admitted since the circuit half-opened (expired ones included until pruned). */
  readonly probeLeases: readonly ProbeLease[];
}

/** An isolated circuit (set by hand): every call is rejected until a reset. */
export interface IsolatedSnapshot {
  /** Always `"isolated"`: what tells the snapshots apart. */
  readonly state: "isolated";
  /** Grows by one on every transition; outcomes of calls admitted in older ones are ignored. */
  readonly generation: number;
  /** The failure count it had when isolated, kept until a reset clears it. */
  readonly failureCount: number;
  /** When it was isolated, epoch ms (what a rejected call's `openedAt` reports). */
  readonly since: number;
}

/** A disabled circuit (set by hand): every call runs, failures are counted, nothing trips. */
export interface DisabledSnapshot {
  /** Always `"disabled"`: what tells the snapshots apart. */
  readonly state: "disabled";
  /** Grows by one on every transition; outcomes of calls admitted in older ones are ignored. */
  readonly generation: number;
  /** Consecutive failures counted so far (a success clears them); they never trip the circuit. */
  readonly failureCount: number;
}

/** The snapshot of a circuit that was just registered. */
export const CLOSED_SNAPSHOT: ClosedSnapshot = Object.freeze({
  state: "closed",
  generation: 0,
  failureCount: 0,
});

/**
 * What the state machine tells its shell to emit. The shell adds the circuit name.
 * Order matters and follows docs/design.md, "Events".
 */
export type CircuitTransitionEvent =
  | {
      /** A counted failure. */
      readonly type: "failed";
      /** Consecutive failures counted, this one included. */
      readonly failureCount: number;
    }
  | {
      /** A non-zero failure count reset, or a probe that closed the circuit. */
      readonly type: "recovered";
      /** Absent for the circuit's own (`"fleet"`); `"process"`: a probe closed the state a process keeps for itself. */
      readonly scope?: CircuitScope;
    }
  | {
      /** A transition to `state`. */
      readonly type: "state_changed";
      /** The state the circuit moved to. */
      readonly state: CircuitStateName;
      /** When the circuit opened, epoch ms, for `opened`; `null` for every other state. */
      readonly openedAt: number | null;
      /** Absent for the circuit's own transitions (`"fleet"`); a shared storage sets `"process"`. */
      readonly scope?: CircuitScope;
    };

/**
 * Whose state a transition or a rejection is about: `"fleet"`, the circuit's own state (shared by
 * every process with a shared storage); `"process"`, the state a process keeps for itself when its
 * failures alone meet the trip rule and the fleet's quorum is not met.
 */
export type CircuitScope = "fleet" | "process";

/** A change of snapshot and the events it emits, in order. */
export interface Transition {
  /** The state to store. */
  readonly snapshot: CircuitSnapshot;
  /** What to emit, in order. */
  readonly events: readonly CircuitTransitionEvent[];
}
