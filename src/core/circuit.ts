/**
 * The plain data of one circuit: its configuration and the snapshot of its state.
 * Nothing here does I/O or reads a clock; every time is passed in as epoch milliseconds.
 * @module
 */

/** The three states of a circuit, as strings (docs/design.md, "Circuits"). */
export type CircuitStateName = "closed" | "opened" | "half-opened";

/**
 * What configures one circuit. Fixed by the first registration of its name.
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
export type CircuitSnapshot = ClosedSnapshot | OpenedSnapshot | HalfOpenedSnapshot;

/** A closed circuit: calls run; `failureCount` consecutive failures so far. */
export interface ClosedSnapshot {
  readonly state: "closed";
  /** Grows by one on every transition; outcomes of calls admitted in older ones are ignored. */
  readonly generation: number;
  /** Consecutive failures counted so far. */
  readonly failureCount: number;
}

/** An opened circuit: calls are rejected until `openedAt + ttl`. */
export interface OpenedSnapshot {
  readonly state: "opened";
  readonly generation: number;
  readonly failureCount: number;
  /** When the circuit opened, epoch ms. */
  readonly openedAt: number;
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
  readonly state: "half-opened";
  /** The token of the latest probe admitted (each probe admission grows it by one). */
  readonly generation: number;
  readonly failureCount: number;
  /**
   * When the circuit last opened, epoch ms: what a call rejected for want of a probe slot reports.
   * The `state_changed` event and `breaker.openedAt` show `null` while half-opened.
   */
  readonly openedAt: number;
  /** The leases of the probes admitted since the circuit half-opened (expired ones included until pruned). */
  readonly probeLeases: readonly ProbeLease[];
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
  | { readonly type: "failed"; readonly failureCount: number }
  | { readonly type: "recovered" }
  | {
      readonly type: "state_changed";
      readonly state: CircuitStateName;
      readonly openedAt: number | null;
    };

/** A change of snapshot and the events it emits, in order. */
export interface Transition {
  /** The state to store. */
  readonly snapshot: CircuitSnapshot;
  /** What to emit, in order. */
  readonly events: readonly CircuitTransitionEvent[];
}
