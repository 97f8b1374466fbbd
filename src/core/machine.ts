/**
 * The circuit state machine as pure functions: snapshot, config and `now` in; the next snapshot
 * and the events to emit out. Every shell (sync and async breakers, memory and Redis storage)
 * decides through these functions and none re-implements them.
 * @module
 */
import type {
  CircuitConfig,
  CircuitScope,
  CircuitSnapshot,
  CircuitStateName,
  CircuitTransitionEvent,
  HalfOpenedSnapshot,
  OpenedSnapshot,
  ProbeLease,
  Transition,
} from "./circuit.js";
import { exceedsRates, type CallCounts } from "./window.js";

/**
 * The answer to "may a call run now?". `run` and `probe` carry the token (`generation`) to hand
 * back with the call's outcome; `probe` may carry a transition to store and emit first. A
 * rejection says since when (`openedAt`), for how long (`retryAfterMs`), and whether an operator
 * isolated the circuit.
 */
export type Admission =
  | {
      /** The call runs. */
      readonly verdict: "run";
      /**
       * The token to hand back with the outcome: the circuit's current generation (a Redis storage's
       * `fail-open` hands a stale one, so that the outcome counts nothing).
       */
      readonly generation: number;
      /** Always `null`: letting a call run changes nothing. */
      readonly transition: null;
    }
  | {
      /** The call runs as a probe. */
      readonly verdict: "probe";
      /** The probe's own token (each probe gets one), to hand back with its outcome. */
      readonly generation: number;
      /** What to store and emit before the probe runs (the half-opening, or its lease); `null`: stored already. */
      readonly transition: Transition | null;
      /** `"process"`: a probe of the state the process keeps for itself (a shared storage's). */
      readonly scope?: CircuitScope;
    }
  | {
      /** The call is rejected with a `CircuitOpenError`. */
      readonly verdict: "reject";
      /** When the circuit opened (or was isolated), epoch ms; 0 when it has no such time (closed, disabled). */
      readonly openedAt: number;
      /**
       * Milliseconds until a call may run as a probe: until `retryAt` while opened, until the earliest
       * probe lease ends while half-opened; the circuit's ttl when no time is known (isolated, or a
       * shared storage's rejection without asking its server).
       */
      readonly retryAfterMs: number;
      /** What to store and emit first; `null`, as a rejection changes nothing. */
      readonly transition: Transition | null;
      /** `true` when an operator isolated the circuit; absent otherwise. */
      readonly isolated?: boolean;
      /** `"process"`: rejected by the state the process keeps for itself, not the fleet's. */
      readonly scope?: CircuitScope;
    };

/** Milliseconds rounded to the microsecond: `2.007 * 1000` is `2007.0000000000002` in floating point. */
const ms = (seconds: number): number => Math.round(seconds * 1e6) / 1e3;

/**
 * The ttl in milliseconds, rounded to the microsecond, so that a circuit is not kept opened 1 ms
 * too long nor reports a `retryAfterMs` of `2e-13`.
 */
export const ttlMs = (config: CircuitConfig): number => ms(config.ttl);

/**
 * How long the `openings`-th opening since the last close lasts, in ms: the ttl, or with a
 * backoff `ttl * multiplier^(openings-1)`, at most `maxTtl`, varied by up to `jitter` either way.
 * The jitter is a deterministic function of the opening (`openedAt`, `generation`), so that every
 * storage (and the Lua scripts) compute the same time for the same opening.
 */
export function openTtlMs(config: CircuitConfig, openings: number, openedAt: number, generation: number): number {
  const backoff = config.backoff;
  if (backoff === undefined) return ttlMs(config);
  const grown = Math.min(ttlMs(config) * backoff.multiplier ** Math.max(0, openings - 1), ms(backoff.maxTtl));
  return Math.round(grown * (1 + backoff.jitter * (2 * jitterUnit(openedAt, generation) - 1)) * 1e3) / 1e3;
}

/** A number in [0, 1) that looks random and depends only on its inputs (exact in doubles). */
export function jitterUnit(openedAt: number, generation: number): number {
  return ((generation * 2654435761 + Math.floor(openedAt)) % 4294967296) / 4294967296;
}

/** An opened snapshot for an opening at `now`, for at least `minOpenMs` (a dependency's Retry-After). */
function opening(
  config: CircuitConfig,
  generation: number,
  failureCount: number,
  now: number,
  openings: number,
  minOpenMs = 0,
): OpenedSnapshot {
  const retryAt = now + Math.max(openTtlMs(config, openings, now, generation), minOpenMs);
  return { state: "opened", generation, failureCount, openedAt: now, retryAt, openings };
}

const stateChanged = (state: CircuitStateName, openedAt: number | null = null): CircuitTransitionEvent => ({
  type: "state_changed",
  state,
  openedAt,
});

/**
 * Decides whether a call may run. A closed (or disabled) circuit runs it; an opened circuit
 * rejects it until `retryAt`, then half-opens and admits it as a probe; a half-opened circuit
 * admits probes while fewer than `halfOpenMaxCalls` unexpired leases are held; an isolated one
 * rejects every call. Each probe gets a token of its own (the generation grows by one per probe)
 * and a lease of one ttl.
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
    case "disabled":
      return { verdict: "run", generation: snapshot.generation, transition: null };
    case "opened":
      return admitOpened(snapshot, config, now);
    case "half-opened":
      return admitHalfOpened(snapshot, config, now);
    case "isolated":
      // No time is known for an isolation: a caller that waits retries after one ttl.
      return {
        verdict: "reject",
        openedAt: snapshot.since,
        retryAfterMs: ttlMs(config),
        transition: null,
        isolated: true,
      };
  }
}

function admitOpened(snapshot: OpenedSnapshot, config: CircuitConfig, now: number): Admission {
  if (now < snapshot.retryAt) {
    return {
      verdict: "reject",
      openedAt: snapshot.openedAt,
      retryAfterMs: snapshot.retryAt - now,
      transition: null,
    };
  }
  const token = snapshot.generation + 1;
  const next: HalfOpenedSnapshot = {
    state: "half-opened",
    generation: token,
    failureCount: snapshot.failureCount,
    openedAt: snapshot.openedAt,
    openings: snapshot.openings,
    probeLeases: [{ token, expiresAt: now + ttlMs(config) }],
  };
  return {
    verdict: "probe",
    generation: token,
    transition: { snapshot: next, events: [stateChanged("half-opened")] },
  };
}

function admitHalfOpened(snapshot: HalfOpenedSnapshot, config: CircuitConfig, now: number): Admission {
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
 * failures. A closed (or disabled) circuit only takes the token of its current generation; a
 * half-opened one only the token of a probe whose lease is still live (a zombie probe decides
 * nothing). A slow success is counted by a rate window and judged by `checkRates`.
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
    case "disabled":
      if (snapshot.generation !== token || snapshot.failureCount === 0) return null;
      return { snapshot: { ...snapshot, failureCount: 0 }, events: [{ type: "recovered" }] };
    case "half-opened":
      if (!holdsLiveLease(snapshot, token, now)) return null;
      return {
        snapshot: { state: "closed", generation: snapshot.generation + 1, failureCount: 0 },
        events: [{ type: "recovered" }, stateChanged("closed")],
      };
    case "opened":
    case "isolated":
      return null;
  }
}

/**
 * Records a failure of a call admitted with `token`, at `now`. A closed circuit counts it and
 * opens at `threshold`, or when `counts` (its rate window, this failure included) reach a rate
 * of the config, provided `quorumMet` (a shared storage's answer to "did enough processes report
 * failures?", see `core/quorum`; always `true` for a lone process); a failing probe (with a live
 * lease) opens a half-opened circuit again, for the next backoff step, whatever the quorum; a
 * disabled circuit counts it and never opens. An opening it makes lasts at least `minOpenMs`
 * (what the failing dependency asked for, e.g. an HTTP `Retry-After`).
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
  counts?: CallCounts,
  minOpenMs = 0,
  quorumMet = true,
): Transition | null {
  switch (snapshot.state) {
    case "closed": {
      if (snapshot.generation !== token) return null;
      const failureCount = snapshot.failureCount + 1;
      const failed: CircuitTransitionEvent = { type: "failed", failureCount };
      const trips = failureCount >= config.threshold || (counts !== undefined && exceedsRates(config, counts));
      if (!trips || !quorumMet) {
        return { snapshot: { state: "closed", generation: token, failureCount }, events: [failed] };
      }
      const next = opening(config, token + 1, failureCount, now, 1, minOpenMs);
      return { snapshot: next, events: [failed, stateChanged("opened", now)] };
    }
    case "half-opened": {
      if (!holdsLiveLease(snapshot, token, now)) return null;
      const next = opening(
        config,
        snapshot.generation + 1,
        snapshot.failureCount + 1,
        now,
        snapshot.openings + 1,
        minOpenMs,
      );
      return { snapshot: next, events: [stateChanged("opened", now)] };
    }
    case "disabled": {
      if (snapshot.generation !== token) return null;
      const failureCount = snapshot.failureCount + 1;
      return { snapshot: { ...snapshot, failureCount }, events: [{ type: "failed", failureCount }] };
    }
    case "opened":
    case "isolated":
      return null;
  }
}

/**
 * Opens a closed circuit whose rate window (`counts`) reached a rate of the config: what a slow
 * success (or a window's counts merged from other processes) can do, provided `quorumMet` (see
 * `recordFailure`). `null` otherwise.
 */
export function checkRates(
  snapshot: CircuitSnapshot,
  config: CircuitConfig,
  counts: CallCounts,
  now: number,
  quorumMet = true,
): Transition | null {
  if (snapshot.state !== "closed" || !quorumMet || !exceedsRates(config, counts)) return null;
  const next = opening(config, snapshot.generation + 1, snapshot.failureCount, now, 1);
  return { snapshot: next, events: [stateChanged("opened", now)] };
}

/** What an operator can do to a circuit. */
export type ControlAction = "isolate" | "disable" | "reset";

/**
 * An operator's action, which wins over the automatic transitions: `isolate` rejects every call
 * until a reset, `disable` runs every call and never trips, `reset` closes the circuit with its
 * counts cleared. `null` when the circuit is in that state already (a reset of a closed circuit
 * clears a failure count, emitting `recovered`).
 */
export function control(snapshot: CircuitSnapshot, action: ControlAction, now: number): Transition | null {
  const generation = snapshot.generation + 1;
  switch (action) {
    case "isolate":
      if (snapshot.state === "isolated") return null;
      return {
        snapshot: { state: "isolated", generation, failureCount: snapshot.failureCount, since: now },
        events: [stateChanged("isolated")],
      };
    case "disable":
      if (snapshot.state === "disabled") return null;
      return {
        snapshot: { state: "disabled", generation, failureCount: snapshot.failureCount },
        events: [stateChanged("disabled")],
      };
    case "reset":
      if (snapshot.state === "closed") {
        if (snapshot.failureCount === 0) return null;
        return { snapshot: { ...snapshot, failureCount: 0 }, events: [{ type: "recovered" }] };
      }
      return { snapshot: { state: "closed", generation, failureCount: 0 }, events: [stateChanged("closed")] };
  }
}

/**
 * Whether a circuit may be forgotten at `now` without changing what its next call sees: not while
 * it is opened and its ttl has not elapsed, nor while a probe holds an unexpired lease, nor while
 * an operator's state (isolated, disabled) holds.
 */
export function isForgettable(snapshot: CircuitSnapshot, _config: CircuitConfig, now: number): boolean {
  switch (snapshot.state) {
    case "closed":
      return true;
    case "opened":
      return now >= snapshot.retryAt;
    case "half-opened":
      return liveLeases(snapshot, now).length === 0;
    case "isolated":
    case "disabled":
      return false;
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
