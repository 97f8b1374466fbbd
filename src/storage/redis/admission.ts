/**
 * The admissions a RedisStorage decides without asking Redis, as pure functions of what the
 * process knows (the replica's view of the circuit, its config, the circuit the process keeps for
 * itself, Redis time): a rejection while every probe slot is being asked for or fail-closed holds
 * the circuit, a probe granted in the background, a call of a process open for itself while the
 * fleet's circuit is opened, and the decisions while Redis is away (`onStorageError`). The storage
 * applies what they return; only a possible probe of the fleet's circuit asks Redis.
 * @module
 */
import type { CircuitConfig, CircuitSnapshot } from "../../core/circuit.js";
import { admit, ttlMs, type Admission } from "../../core/machine.js";
import type { StorageErrorPolicy } from "./options.js";
import type { OwnCircuit } from "./own.js";
import { STALE_TOKEN } from "./replica.js";

/** When the circuit `snapshot` describes opened (0 when it never did: closed, disabled). */
function openedAtOf(snapshot: CircuitSnapshot): number {
  if (snapshot.state === "opened" || snapshot.state === "half-opened") return snapshot.openedAt;
  return snapshot.state === "isolated" ? snapshot.since : 0;
}

/**
 * A call rejected without a round trip: this process already asks Redis for every probe slot, or
 * fail-closed holds the circuit. It may be retried after the circuit's ttl.
 */
export function busyRejection(view: CircuitSnapshot, config: CircuitConfig): Admission {
  return { verdict: "reject", openedAt: openedAtOf(view), retryAfterMs: ttlMs(config), transition: null };
}

/**
 * The probe Redis granted in the background to a synchronous caller (`grant`, its token), if its
 * lease is still live on the view at `redisNow`; otherwise `undefined` (the grant is spent either way).
 */
export function grantedProbe(grant: number | null, view: CircuitSnapshot, redisNow: number): Admission | undefined {
  if (grant === null) return undefined;
  const live =
    view.state === "half-opened" && view.probeLeases.some((l) => l.token === grant && l.expiresAt > redisNow);
  return live ? { verdict: "probe", generation: grant, transition: null } : undefined;
}

/**
 * A call of a process open for itself while the fleet's circuit is not closed: `undefined` when
 * the fleet's rules decide (the circuit is isolated or disabled, or the fleet's circuit rejects the
 * call anyway); when the fleet's circuit would let a probe through, the process never takes it: it
 * is rejected for itself (`scope: "process"`), by its own circuit's rules if they reject, else
 * until its own ttl.
 */
export function ownRejection(
  view: CircuitSnapshot,
  own: OwnCircuit,
  config: CircuitConfig,
  redisNow: number,
): Admission | undefined {
  if ((view.state !== "opened" && view.state !== "half-opened") || admit(view, config, redisNow).verdict !== "probe") {
    return undefined;
  }
  const mine = admit(own.snapshot, config, redisNow);
  if (mine.verdict === "reject") return { ...mine, scope: "process" };
  const s = own.snapshot;
  const openedAt = s.state === "opened" || s.state === "half-opened" ? s.openedAt : 0;
  return { verdict: "reject", openedAt, retryAfterMs: ttlMs(config), transition: null, scope: "process" };
}

/**
 * A call while Redis is away (or until the re-read after an outage reached the circuit), by the
 * storage's `onStorageError`: `fail-open` runs it and counts nothing (a stale token), `fail-closed`
 * rejects it, `local` decides on the view as the memory storage would (a transition it returns is
 * the storage's to apply to its replica, as a local decision).
 */
export function degradedAdmission(
  policy: StorageErrorPolicy,
  view: CircuitSnapshot,
  config: CircuitConfig,
  redisNow: number,
): Admission {
  if (policy === "fail-open") return { verdict: "run", generation: STALE_TOKEN, transition: null };
  if (policy === "fail-closed") return busyRejection(view, config);
  return admit(view, config, redisNow);
}
