/**
 * The replica of one circuit in one process, as a pure state machine: a replica and an event
 * (a script reply, a message, a local decision during an outage, a resync) in, the next replica
 * out. No I/O, no clock. `RedisStorage` wires it to Redis; docs/fleet-protocol.md draws it.
 *
 * A replica is a cache of Redis, never a second source of truth:
 * - It holds the shared state it last heard (`shared`) and the `view` the breakers read: the
 *   shared snapshot with generations moved into this process's own numbering (`base`), so that a
 *   token handed to a call identifies one shared token, one local epoch, or nothing (stale).
 * - A different incarnation from Redis is adopted at once, whatever the versions; the same
 *   incarnation only moves forward by version.
 * - Decisions made while Redis cannot be reached live in a local epoch whose tokens never match a
 *   shared token; the resync after the outage ends it.
 * @module
 */
import type { CircuitConfig, CircuitSnapshot, Transition } from "../../core/circuit.js";
import { CLOSED_SNAPSHOT } from "../../core/circuit.js";
import { releaseProbe, ttlMs } from "../../core/machine.js";
import type { SharedState } from "./codec.js";

/**
 * - `pending`: nothing heard from Redis yet; the view is a closed placeholder.
 * - `synced`: the view mirrors the shared state.
 * - `diverged`: Redis could not be reached and this process decided on its own (policy `local`).
 * - `held`: Redis could not be reached and the policy (`fail-closed`) holds an artificial opened
 *   view, which is never written to Redis.
 */
export type ReplicaMode = "pending" | "synced" | "diverged" | "held";

/** A token as Redis knows it: the circuit's incarnation and a generation in it. */
export interface SharedToken {
  readonly incarnation: string;
  readonly generation: number;
}

/** The replica of one circuit. */
export interface Replica {
  readonly mode: ReplicaMode;
  /** What Redis said last (`null` until it said anything). */
  readonly shared: SharedState | null;
  /** What the breakers read. Its generations are this process's: shared generation + `base`. */
  readonly view: CircuitSnapshot;
  /** Local generation = shared generation + `base`, while synced. */
  readonly base: number;
  /**
   * Tokens below `floor` were handed out under an older numbering or epoch: they are stale. The
   * view's generation only grows and is the highest token handed out, so a new numbering starts
   * above it.
   */
  readonly floor: number;
  /** While diverged: the shared token when the local decisions began (`null`: none known). */
  readonly since: SharedToken | null;
  /** Incarnations this replica left (newest last): a late message about them is ignored. */
  readonly retired: readonly string[];
  /** Whether the view shows failures sent to Redis and not answered yet (`anticipateFailure`). */
  readonly anticipated: boolean;
}

/** What to do with the outcome of a call that holds a token. */
export type TokenUse =
  /** Send it to Redis with this token. */
  | { readonly kind: "shared"; readonly token: SharedToken }
  /** Send it to Redis as a placeholder: it counts only on a closed circuit. */
  | { readonly kind: "placeholder" }
  /** Decide it on the view (the local epoch of an outage). */
  | { readonly kind: "local" }
  /** Ignore it. */
  | { readonly kind: "stale" };

/** Where a shared state was learned. */
export type Source = "reply" | "message" | "resync";

/** A token that no replica ever holds: the outcome of its call is ignored. */
export const STALE_TOKEN = -1;

const STALE: TokenUse = Object.freeze({ kind: "stale" });
const PLACEHOLDER: TokenUse = Object.freeze({ kind: "placeholder" });
const LOCAL: TokenUse = Object.freeze({ kind: "local" });
const RETIRED_KEPT = 4;

/** A replica that has heard nothing yet. */
export const PENDING_REPLICA: Replica = Object.freeze({
  mode: "pending",
  shared: null,
  view: CLOSED_SNAPSHOT,
  base: 0,
  floor: 0,
  since: null,
  retired: Object.freeze([]),
  anticipated: false,
});

/** Moves a shared snapshot into local numbering. */
function translate(snapshot: CircuitSnapshot, base: number): CircuitSnapshot {
  const generation = snapshot.generation + base;
  if (snapshot.state !== "half-opened") return { ...snapshot, generation };
  const probeLeases = snapshot.probeLeases.map((lease) => ({ ...lease, token: lease.token + base }));
  return { ...snapshot, generation, probeLeases };
}

/** What the outcome of a call admitted with `token` should do. */
export function tokenUse(replica: Replica, token: number): TokenUse {
  if (token < replica.floor) return STALE;
  switch (replica.mode) {
    case "pending":
      return PLACEHOLDER;
    case "synced": {
      const shared = replica.shared as SharedState;
      return { kind: "shared", token: { incarnation: shared.incarnation, generation: token - replica.base } };
    }
    case "diverged":
      return LOCAL;
    case "held":
      return STALE;
  }
}

/** The local token of a shared one (`STALE_TOKEN` unless it is of the incarnation the replica follows). */
export function localToken(replica: Replica, token: SharedToken): number {
  if (replica.mode !== "synced" || replica.shared?.incarnation !== token.incarnation) return STALE_TOKEN;
  return token.generation + replica.base;
}

/**
 * Adopts a shared state learned from `source`:
 * - an outage's replica (`diverged`, `held`) only yields to the resync that ends the outage;
 * - a different incarnation is adopted at once, whatever the versions (a late message about an
 *   incarnation this replica already left is ignored);
 * - the same incarnation is adopted only when its version is newer.
 * A new incarnation, and the end of an outage, start a new numbering above every token handed
 * out so far (the view's generation), so that no earlier token can match the new shared state.
 */
export function adopt(replica: Replica, shared: SharedState, source: Source): Replica {
  if (replica.mode === "diverged" || replica.mode === "held") {
    return source === "resync" ? renumber(replica, shared) : replica;
  }
  const current = replica.shared;
  if (replica.mode === "pending" || current === null) return renumber(replica, shared);
  if (shared.incarnation === current.incarnation) {
    if (shared.version <= current.version) {
      // Nothing newer, but an anticipated view yields to what Redis answered.
      return replica.anticipated
        ? { ...replica, view: translate(current.snapshot, replica.base), anticipated: false }
        : replica;
    }
    return { ...replica, shared, view: translate(shared.snapshot, replica.base), anticipated: false };
  }
  if (source === "message" && replica.retired.includes(shared.incarnation)) return replica;
  return renumber(replica, shared);
}

function renumber(replica: Replica, shared: SharedState): Replica {
  // Every token of the new shared state (its generation, its probes' leases) maps at or above the
  // floor; every token handed out so far lies below it.
  const floor = replica.view.generation + 1;
  const { snapshot } = shared;
  const lowest =
    snapshot.state === "half-opened"
      ? Math.min(snapshot.generation, ...snapshot.probeLeases.map((l) => l.token))
      : snapshot.generation;
  const base = floor - lowest;
  const left = replica.shared?.incarnation;
  const retired =
    left === undefined || left === shared.incarnation || replica.retired.includes(left)
      ? replica.retired
      : [...replica.retired, left].slice(-RETIRED_KEPT);
  return {
    mode: "synced",
    shared,
    view: translate(shared.snapshot, base),
    base,
    floor,
    since: null,
    retired,
    anticipated: false,
  };
}

/**
 * A decision made on the view while Redis cannot be reached (policy `local`): the view takes the
 * transition and the replica enters (or stays in) its local epoch. The first decision remembers
 * the shared token it started from, for `reopen` after the outage. A transition that changes the
 * generation starts the epoch's numbering above every token handed out so far.
 */
export function decideLocally(replica: Replica, transition: Transition): Replica {
  const view = transition.snapshot;
  const entering = replica.mode !== "diverged";
  const moved = view.generation !== replica.view.generation;
  return {
    ...replica,
    mode: "diverged",
    view,
    floor: entering && moved ? view.generation : replica.floor,
    since: entering ? sharedToken(replica) : replica.since,
    anticipated: false,
  };
}

/**
 * What a replica pushes to Redis once an outage ends: the trip it decided locally, as "open it if
 * the shared state has not moved since". A replica that followed Redis before gives the shared
 * token it started from; one that never heard from Redis (registered during the outage) gives the
 * time of its trip (Redis time, as the process estimates it): "open it if nothing was written since".
 * `null`: nothing to push (no local trip).
 */
export function localTrip(replica: Replica): { readonly token: SharedToken | null; readonly tripAt: number } | null {
  const view = replica.view;
  if (replica.mode !== "diverged" || view.state !== "opened") return null;
  if (replica.since !== null) return { token: replica.since, tripAt: view.openedAt };
  return replica.shared === null ? { token: null, tripAt: view.openedAt } : null;
}

/** The shared token of the view of a synced replica (`null` otherwise). */
function sharedToken(replica: Replica): SharedToken | null {
  if (replica.mode !== "synced" || replica.shared === null) return null;
  return { incarnation: replica.shared.incarnation, generation: replica.view.generation - replica.base };
}

/**
 * A failure sent to Redis by a synchronous caller, shown on the view before Redis answers (a
 * synchronous loop never yields to hear the answer): the failure is counted and, at `threshold`,
 * the view reads opened at `now` for one ttl. It keeps the view's generation, so it hands out no
 * new token, and the next shared state adopted replaces it.
 */
export function anticipateFailure(replica: Replica, config: CircuitConfig, now: number): Replica {
  const view = replica.view;
  if (replica.mode !== "synced" || view.state !== "closed") return replica;
  const failureCount = view.failureCount + 1;
  const anticipated: CircuitSnapshot =
    failureCount < config.threshold
      ? { ...view, failureCount }
      : {
          state: "opened",
          generation: view.generation,
          failureCount,
          openedAt: now,
          retryAt: now + ttlMs(config),
          openings: 1,
        };
  return { ...replica, view: anticipated, anticipated: true };
}

/**
 * A probe whose caller gave up, freed on the view at once (before Redis's answer, which replaces
 * it), so that this process's next call may probe without waiting.
 */
export function releaseLocally(replica: Replica, token: number, now: number): Replica {
  const released = releaseProbe(replica.view, token, now);
  return released === null ? replica : { ...replica, view: released.snapshot, anticipated: replica.mode === "synced" };
}

/**
 * Holds the circuit opened while Redis cannot be reached (policy `fail-closed`). The artificial
 * view is never written to Redis and yields to Redis's state at the resync after the outage.
 */
export function hold(replica: Replica, config: CircuitConfig, now: number): Replica {
  if (replica.mode === "held" || replica.mode === "diverged") return replica;
  const generation = replica.view.generation + 1;
  const { failureCount } = replica.view;
  const retryAt = now + ttlMs(config);
  return {
    ...replica,
    mode: "held",
    view: { state: "opened", generation, failureCount, openedAt: now, retryAt, openings: 1 },
    floor: generation,
    anticipated: false,
  };
}

/** Whether the view's state (or its openedAt) differs between two replicas: a `state_changed`. */
export function viewChanged(before: Replica, after: Replica): boolean {
  const [a, b] = [before.view, after.view];
  if (a.state !== b.state) return true;
  return a.state === "opened" && b.state === "opened" && a.openedAt !== b.openedAt;
}
