/**
 * What the dashboard has seen of the fleet: the latest `CircuitInfo` of each circuit and the
 * transitions observed between two reads, as plain data. `observe` is a pure function from the
 * previous observation and a new read to the next observation and what changed, so the watcher
 * that polls Redis stays a thin loop around it.
 * @module
 */
import type { CircuitStateName } from "../core/circuit.js";
import type { CircuitInfo } from "../storage/redis/inspect.js";

/**
 * A transition seen between two reads. `from` is `null` for the first sight of a circuit.
 * `at` is Redis time: when it opened for `opened`, else when Redis last wrote the circuit (the
 * transition, or a later write before the read).
 */
export interface ObservedTransition {
  readonly at: number;
  readonly from: CircuitStateName | null;
  readonly to: CircuitStateName;
}

/** One circuit as last read, with the transitions seen so far (oldest first, bounded). */
export interface ObservedCircuit {
  readonly info: CircuitInfo;
  readonly transitions: readonly ObservedTransition[];
}

/** Every circuit seen, by name. */
export type Observation = ReadonlyMap<string, ObservedCircuit>;

/** What one read changed: circuits new or different (with their new transitions), circuits gone. */
export interface ObservationChanges {
  readonly changed: readonly { readonly circuit: ObservedCircuit; readonly added: readonly ObservedTransition[] }[];
  readonly removed: readonly string[];
}

/** Transitions kept per circuit. */
export const HISTORY_LIMIT = 50;

/** Whether two reads of a circuit differ in anything the page shows. */
function same(a: CircuitInfo, b: CircuitInfo): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The transition between two reads of a circuit, if its state (or its opening) changed. */
function transitionOf(before: CircuitInfo | undefined, after: CircuitInfo): ObservedTransition | null {
  const at = after.state === "opened" && after.openedAt !== null ? after.openedAt : after.updatedAt;
  if (before === undefined) return { at, from: null, to: after.state };
  if (before.state !== after.state) return { at, from: before.state, to: after.state };
  // Opened again between two reads (a probe failed, or it closed and tripped again): a new opening.
  if (after.state === "opened" && before.openedAt !== after.openedAt)
    return { at, from: before.state, to: after.state };
  // A lost key made again (a new incarnation) starts over, closed.
  if (before.incarnation !== after.incarnation) return { at, from: before.state, to: after.state };
  return null;
}

/**
 * The next observation after reading every circuit (`circuits`: a circuit seen before and not in
 * it is gone), and what changed since `previous`.
 *
 * @example
 * ```ts
 * let seen: Observation = new Map();
 * const { next, changes } = observe(seen, await storage.inspect());
 * seen = next;
 * ```
 */
export function observe(
  previous: Observation,
  circuits: readonly CircuitInfo[],
  limit = HISTORY_LIMIT,
): { next: Observation; changes: ObservationChanges } {
  const read = new Set(circuits.map((c) => c.name));
  const gone = [...previous.keys()].filter((name) => !read.has(name));
  return observeSome(previous, circuits, gone, limit);
}

/**
 * The next observation after reading some circuits (`circuits`) and learning that others are
 * gone (`gone`); the circuits not named keep what was seen of them.
 */
export function observeSome(
  previous: Observation,
  circuits: readonly CircuitInfo[],
  gone: readonly string[],
  limit = HISTORY_LIMIT,
): { next: Observation; changes: ObservationChanges } {
  const next = new Map(previous);
  const changed: { circuit: ObservedCircuit; added: ObservedTransition[] }[] = [];
  for (const info of circuits) {
    const before = previous.get(info.name);
    if (before !== undefined && same(before.info, info)) continue;
    const transition = transitionOf(before?.info, info);
    const added = transition === null ? [] : [transition];
    const transitions = [...(before?.transitions ?? []), ...added].slice(-limit);
    const circuit = { info, transitions };
    next.set(info.name, circuit);
    changed.push({ circuit, added });
  }
  const removed = gone.filter((name) => next.delete(name));
  return { next, changes: { changed, removed } };
}
