/**
 * The circuit a process keeps for itself when a shared circuit has a quorum (`core/quorum`): the
 * same state machine as every circuit (`core/machine`), over this process's own outcomes only.
 * When this process's failures alone meet the trip rule and the fleet's quorum is not met, it
 * opens for this process alone (`scope: "process"`): its calls are rejected, it half-opens after
 * its own ttl (with its backoff) and probes for itself, without a fleet probe lease. Pure
 * functions over plain data (the rate window is the core's mutable accumulator); `RedisStorage`
 * wires them. docs/fleet-protocol.md draws how the view the breakers read combines both states.
 *
 * Tokens of calls admitted by the process's own circuit (its probes) are negative, below
 * `STALE_TOKEN`, so that they never collide with the tokens of the shared circuit's replica.
 * @module
 */
import type { CircuitConfig, CircuitSnapshot, CircuitTransitionEvent, Transition } from "../../core/circuit.js";
import { CLOSED_SNAPSHOT } from "../../core/circuit.js";
import { admit, checkRates, recordFailure, recordSuccess, releaseProbe, type Admission } from "../../core/machine.js";
import { clear, count, countsOf, createWindow, windowFor, type RateWindow } from "../../core/window.js";

/** The circuit a process keeps for itself: its snapshot and its own rate window. */
export interface OwnCircuit {
  /** Its state; closed (generation 0 upwards) while the process's own evidence does not trip it. */
  readonly snapshot: CircuitSnapshot;
  /** This process's calls, never handed over (`null` without a rate rule). */
  readonly window: RateWindow | null;
}

/** The largest token of the process's own circuit: its generation `g` is token `OWN_TOKEN - g`. */
const OWN_TOKEN = -2;

/** The token a call admitted by the own circuit in `generation` holds. */
export const ownToken = (generation: number): number => OWN_TOKEN - generation;

/** Whether `token` was handed out by the process's own circuit. */
export const isOwnToken = (token: number): boolean => token <= OWN_TOKEN;

const generationOf = (token: number): number => OWN_TOKEN - token;

/** A new own circuit for `config`: closed, with an empty window. */
export function ownCircuit(config: CircuitConfig): OwnCircuit {
  return { snapshot: CLOSED_SNAPSHOT, window: createWindow(config) };
}

/** The own circuit once the circuit's config becomes `config` (its window kept when it still fits). */
export function reconfigured(own: OwnCircuit, config: CircuitConfig): OwnCircuit {
  const window = windowFor(config, own.window);
  return window === own.window ? own : { snapshot: own.snapshot, window };
}

/** Whether the process is open for itself (opened or half-opened). */
export const isOpenForItself = (own: OwnCircuit | null): boolean => own !== null && own.snapshot.state !== "closed";

/**
 * Admission by the own circuit of a process that is open for itself: a rejection, or (after its
 * ttl) a probe of its own. Both carry `scope: "process"`.
 */
export function admitOwn(own: OwnCircuit, config: CircuitConfig, now: number): [OwnCircuit, Admission] {
  const admission = admit(own.snapshot, config, now);
  const next = store(own, admission.transition);
  const transition = scoped(admission.transition);
  switch (admission.verdict) {
    case "reject":
      return [next, { ...admission, transition, scope: "process" }];
    case "probe":
      return [next, { verdict: "probe", generation: ownToken(admission.generation), transition, scope: "process" }];
    case "run":
      return [next, admission];
  }
}

/**
 * A failure, at `now`: of a probe of the own circuit (`token` an own token), or of a call the fleet
 * admitted (any other token), which counts only while the own circuit is closed. Returns the next
 * own circuit and its transition (`null`: nothing to emit).
 */
export function ownFailure(
  own: OwnCircuit,
  config: CircuitConfig,
  token: number,
  now: number,
  minOpenMs = 0,
): [OwnCircuit, Transition | null] {
  const s = own.snapshot;
  if (isOwnToken(token)) return apply(own, recordFailure(s, config, generationOf(token), now, undefined, minOpenMs));
  if (s.state !== "closed") return [own, null];
  const window = own.window;
  if (window !== null) count(window, now, "failure");
  const counts = window === null ? undefined : countsOf(window, now);
  return apply(own, recordFailure(s, config, s.generation, now, counts, minOpenMs));
}

/**
 * A success (or excluded error), at `now`: of a probe of the own circuit (it closes it), or of a
 * call the fleet admitted, which resets the own circuit's count while it is closed (and may trip it
 * by its slow-call rate when `slow`).
 */
export function ownSuccess(
  own: OwnCircuit,
  config: CircuitConfig,
  token: number,
  now: number,
  slow = false,
): [OwnCircuit, Transition | null] {
  const s = own.snapshot;
  if (isOwnToken(token)) return apply(own, recordSuccess(s, generationOf(token), now));
  if (s.state !== "closed") return [own, null];
  const window = own.window;
  if (window !== null) count(window, now, slow ? "slow" : "success");
  const [after, reset] = apply(own, s.failureCount === 0 ? null : recordSuccess(s, s.generation, now));
  if (!slow || window === null) return [after, reset];
  return apply(after, checkRates(after.snapshot, config, countsOf(window, now), now));
}

/** Frees the slot of a cancelled probe of the own circuit. */
export function releaseOwn(own: OwnCircuit, token: number, now: number): OwnCircuit {
  return store(own, releaseProbe(own.snapshot, generationOf(token), now));
}

/**
 * What the process tells Redis of its own circuit: the ms it stays opened from `now` (0 while it
 * probes), or `null` while it is closed.
 */
export function openForMs(own: OwnCircuit, now: number): number | null {
  const s = own.snapshot;
  if (s.state === "opened") return Math.max(0, s.retryAt - now);
  return s.state === "half-opened" ? 0 : null;
}

/** Stores a transition: a change of state starts the own window afresh. */
function store(own: OwnCircuit, transition: Transition | null): OwnCircuit {
  if (transition === null) return own;
  if (transition.snapshot.state !== own.snapshot.state && own.window !== null) clear(own.window);
  return { snapshot: transition.snapshot, window: own.window };
}

function apply(own: OwnCircuit, transition: Transition | null): [OwnCircuit, Transition | null] {
  return [store(own, transition), scoped(transition)];
}

/**
 * The events a transition of the own circuit emits: only changes of state (and the `recovered`
 * of a probe that closes it), with `scope: "process"`. Its failure counts are not the circuit's
 * (`failed` reports the fleet's count), so a transition that keeps the state emits nothing.
 */
function scoped(transition: Transition | null): Transition | null {
  if (transition === null) return null;
  if (!transition.events.some((event) => event.type === "state_changed")) return { ...transition, events: [] };
  const events: CircuitTransitionEvent[] = [];
  for (const event of transition.events) if (event.type !== "failed") events.push({ ...event, scope: "process" });
  return { snapshot: transition.snapshot, events };
}
