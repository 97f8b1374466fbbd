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
  ProbeLease,
  Transition,
} from "./circuit.js";

/**
 * The answer to "may a call run now?". `run` and `probe` carry the token (`generation`) to hand
 * back with the call's outcome; `probe` may carry a transition to store and emit first.
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
 * while fewer than `halfOpenMaxCalls` unexpired leases are held. Each probe gets a token of its own
 * (the generation grows by one per probe) and a lease of one ttl.
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
  const token = snapshot.generation + 1;
  const next: HalfOpenedSnapshot = {
    state: "half-opened",
    generation: token,
    failureCount: snapshot.failureCount,
    openedAt: snapshot.openedAt,
    probeLeases: [{ token, expiresAt: now + ttlMs(config) }],
  };
  return {
    verdict: "probe",
    generation: token,
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
  const live = liveLeases(snapshot, now);
  if (live.length >= config.halfOpenMaxCalls) {
    const freedAt = Math.min(...live.map((lease) => lease.expiresAt));
    return {
      verdict: "reject",
      openedAt: snapshot.openedAt,
      retryAfterMs: freedAt - now,
      transition: null,
    };
  }
  const token = snapshot.generation + 1;
  live.push({ token, expiresAt: now + ttlMs(config) });
  return {
    verdict: "probe",
    generation: token,
    transition: { snapshot: { ...snapshot, generation: token, probeLeases: live }, events: [] },
  };
}

/** The leases of `snapshot` that have not expired at `now`. */
const liveLeases = (snapshot: HalfOpenedSnapshot, now: number): ProbeLease[] =>
  snapshot.probeLeases.filter((lease) => lease.expiresAt > now);

/** Whether `token` is the token of a probe whose lease is live at `now`. */
const holdsLiveLease = (snapshot: HalfOpenedSnapshot, token: number, now: number): boolean =>
  snapshot.probeLeases.some((lease) => lease.token === token && lease.expiresAt > now);

/**
 * Records a success (or an excluded error) of a call admitted with `token`, at `now`. Returns
 * `null` when nothing changes, which is the case on the hot path: a closed circuit with no
 * failures. A closed circuit only takes the token of its current generation; a half-opened one
 * only the token of a probe whose lease is still live (a zombie probe decides nothing).
 *
 * @example
 * ```ts
 * recordSuccess({ state: "closed", generation: 0, failureCount: 2 }, 0, Date.now())?.events;
 * // [{ type: "recovered" }]
 * ```
 */
export function recordSuccess(snapshot: CircuitSnapshot, token: number, now: number): Transition | null {
  switch (snapshot.state) {
    case "closed":
      if (snapshot.generation !== token || snapshot.failureCount === 0) return null;
      return {
        snapshot: { state: "closed", generation: token, failureCount: 0 },
        events: [{ type: "recovered" }],
      };
    case "half-opened":
      if (!holdsLiveLease(snapshot, token, now)) return null;
      return {
        snapshot: { state: "closed", generation: snapshot.generation + 1, failureCount: 0 },
        events: [{ type: "recovered" }, { type: "state_changed", state: "closed", openedAt: null }],
      };
    case "opened":
      return null;
  }
}

/**
 * Records a failure of a call admitted with `token`, at `now`. A closed circuit counts it and
 * opens at `threshold`; a failing probe (with a live lease) opens a half-opened circuit again
 * with a new `openedAt`.
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
  token: number,
  now: number,
): Transition | null {
  switch (snapshot.state) {
    case "closed": {
      if (snapshot.generation !== token) return null;
      const failureCount = snapshot.failureCount + 1;
      if (failureCount < config.threshold) {
        return {
          snapshot: { state: "closed", generation: token, failureCount },
          events: [{ type: "failed", failureCount }],
        };
      }
      return {
        snapshot: { state: "opened", generation: token + 1, failureCount, openedAt: now },
        events: [
          { type: "failed", failureCount },
          { type: "state_changed", state: "opened", openedAt: now },
        ],
      };
    }
    case "half-opened":
      if (!holdsLiveLease(snapshot, token, now)) return null;
      return {
        snapshot: {
          state: "opened",
          generation: snapshot.generation + 1,
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
      return liveLeases(snapshot, now).length === 0;
  }
}

/**
 * Frees the probe slot of a call admitted with `token` that was cancelled by its caller, so that
 * the next call may probe at once instead of waiting for the lease to expire. The cancelled call
 * decides nothing: the circuit stays half-opened, its generation unchanged (the other probes keep
 * their tokens), and nothing is emitted. Returns `null` when there is nothing to free: the
 * circuit is not half-opened, or holds no lease with that token (it was already decided, or the
 * lease was pruned). `now` is when the lease is released; expired leases are pruned with it.
 *
 * @example
 * ```ts
 * const halfOpened: CircuitSnapshot = {
 *   state: "half-opened", generation: 4, failureCount: 1, openedAt: 0,
 *   probeLeases: [{ token: 4, expiresAt: 30_000 }],
 * };
 * releaseProbe(halfOpened, 4, 1_000)?.snapshot; // { ...halfOpened, probeLeases: [] }
 * ```
 */
export function releaseProbe(snapshot: CircuitSnapshot, token: number, now: number): Transition | null {
  if (snapshot.state !== "half-opened") return null;
  if (!snapshot.probeLeases.some((lease) => lease.token === token)) return null;
  const probeLeases = snapshot.probeLeases.filter((lease) => lease.token !== token && lease.expiresAt > now);
  return { snapshot: { ...snapshot, probeLeases }, events: [] };
}
