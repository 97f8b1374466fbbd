/**
 * The circuit state machine as pure functions: snapshot, config and `now` in; the next snapshot
 * and the events to emit out. Every shell (sync and async breakers, memory and Redis storage)
 * decides through these functions and none re-implements them.
 * @module
 */
import type {
  CircuitConfig,
  CircuitSnapshot,
  HalfOpenedSnapshot,
  OpenedSnapshot,
  Transition,
} from "./circuit.js";

/**
 * The answer to "may a call run now?". `run` and `probe` carry the generation to hand back with
 * the call's outcome; `probe` and a due `reject` may carry a transition to store and emit first.
 */
export type Admission =
  | { readonly verdict: "run"; readonly generation: number; readonly transition: null }
  | { readonly verdict: "probe"; readonly generation: number; readonly transition: Transition | null }
  | {
      readonly verdict: "reject";
      readonly openedAt: number;
      readonly retryAfterMs: number;
      readonly transition: Transition | null;
    };

/**
 * The ttl in milliseconds, rounded to the microsecond: `2.007 * 1000` is `2007.0000000000002` in
 * floating point, which would keep a circuit opened 1 ms too long and report a `retryAfterMs` of
 * `2e-13`.
 */
export const ttlMs = (config: CircuitConfig): number => Math.round(config.ttl * 1e6) / 1e3;

/**
 * Decides whether a call may run. A closed circuit runs it; an opened circuit rejects it until its
 * ttl has elapsed, then half-opens and admits it as a probe; a half-opened circuit admits probes
 * while fewer than `halfOpenMaxCalls` unexpired leases are held.
 *
 * @example
 * ```ts
 * const a = admit(CLOSED_SNAPSHOT, { threshold: 1, ttl: 1, halfOpenMaxCalls: 1 }, Date.now());
 * a.verdict; // "run"
 * ```
 */
export function admit(snapshot: CircuitSnapshot, config: CircuitConfig, now: number): Admission {
  switch (snapshot.state) {
    case "closed":
      return { verdict: "run", generation: snapshot.generation, transition: null };
    case "opened":
      return admitOpened(snapshot, config, now);
    case "half-opened":
      return admitHalfOpened(snapshot, config, now);
  }
}

function admitOpened(snapshot: OpenedSnapshot, config: CircuitConfig, now: number): Admission {
  const due = snapshot.openedAt + ttlMs(config);
  if (now < due) {
    return {
      verdict: "reject",
      openedAt: snapshot.openedAt,
      retryAfterMs: due - now,
      transition: null,
    };
  }
  const generation = snapshot.generation + 1;
  const next: HalfOpenedSnapshot = {
    state: "half-opened",
    generation,
    failureCount: snapshot.failureCount,
    openedAt: snapshot.openedAt,
    probeLeases: [now + ttlMs(config)],
  };
  return {
    verdict: "probe",
    generation,
    transition: {
      snapshot: next,
      // As in the Python purgatory, only an opened state carries an openedAt. The snapshot keeps
      // the last one: a call rejected while every probe slot is taken still reports it.
      events: [{ type: "state_changed", state: "half-opened", openedAt: null }],
    },
  };
}

function admitHalfOpened(
  snapshot: HalfOpenedSnapshot,
  config: CircuitConfig,
  now: number,
): Admission {
  const live = snapshot.probeLeases.filter((expiry) => expiry > now);
  if (live.length >= config.halfOpenMaxCalls) {
    const freedAt = Math.min(...live);
    return {
      verdict: "reject",
      openedAt: snapshot.openedAt,
      retryAfterMs: freedAt - now,
      transition: null,
    };
  }
  live.push(now + ttlMs(config));
  return {
    verdict: "probe",
    generation: snapshot.generation,
    transition: { snapshot: { ...snapshot, probeLeases: live }, events: [] },
  };
}

/**
 * Records a success (or an excluded error) of a call admitted in `generation`. Returns `null` when
 * nothing changes, which is the case on the hot path: a closed circuit with no failures.
 *
 * @example
 * ```ts
 * recordSuccess({ state: "closed", generation: 0, failureCount: 2 }, 0)?.events;
 * // [{ type: "recovered" }]
 * ```
 */
export function recordSuccess(snapshot: CircuitSnapshot, generation: number): Transition | null {
  if (snapshot.generation !== generation) return null;
  switch (snapshot.state) {
    case "closed":
      if (snapshot.failureCount === 0) return null;
      return {
        snapshot: { state: "closed", generation, failureCount: 0 },
        events: [{ type: "recovered" }],
      };
    case "half-opened":
      return {
        snapshot: { state: "closed", generation: generation + 1, failureCount: 0 },
        events: [{ type: "recovered" }, { type: "state_changed", state: "closed", openedAt: null }],
      };
    case "opened":
      return null;
  }
}

/**
 * Records a failure of a call admitted in `generation`, at `now`. A closed circuit counts it and
 * opens at `threshold`; a failing probe opens a half-opened circuit again with a new `openedAt`.
 *
 * @example
 * ```ts
 * const t = recordFailure(CLOSED_SNAPSHOT, { threshold: 1, ttl: 1, halfOpenMaxCalls: 1 }, 0, 1000);
 * t?.snapshot.state; // "opened"
 * ```
 */
export function recordFailure(
  snapshot: CircuitSnapshot,
  config: CircuitConfig,
  generation: number,
  now: number,
): Transition | null {
  if (snapshot.generation !== generation) return null;
  switch (snapshot.state) {
    case "closed": {
      const failureCount = snapshot.failureCount + 1;
      if (failureCount < config.threshold) {
        return {
          snapshot: { state: "closed", generation, failureCount },
          events: [{ type: "failed", failureCount }],
        };
      }
      return {
        snapshot: { state: "opened", generation: generation + 1, failureCount, openedAt: now },
        events: [
          { type: "failed", failureCount },
          { type: "state_changed", state: "opened", openedAt: now },
        ],
      };
    }
    case "half-opened":
      return {
        snapshot: {
          state: "opened",
          generation: generation + 1,
          failureCount: snapshot.failureCount + 1,
          openedAt: now,
        },
        events: [{ type: "state_changed", state: "opened", openedAt: now }],
      };
    case "opened":
      return null;
  }
}

/**
 * Whether a circuit may be forgotten at `now` without changing what its next call sees: not while
 * it is opened and its ttl has not elapsed, nor while a probe holds an unexpired lease.
 */
export function isForgettable(
  snapshot: CircuitSnapshot,
  config: CircuitConfig,
  now: number,
): boolean {
  switch (snapshot.state) {
    case "closed":
      return true;
    case "opened":
      return now >= snapshot.openedAt + ttlMs(config);
    case "half-opened":
      return snapshot.probeLeases.every((expiry) => expiry <= now);
  }
}
