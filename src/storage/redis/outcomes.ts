/**
 * What the core predicts for a script's reply, so that the storage can check every script against
 * `core/machine` (a disagreement is a `storage_error`), and the window counts a script carries.
 * Pure functions.
 * @module
 */
import type { Transition } from "../../core/circuit.js";
import { checkRates, recordFailure } from "../../core/machine.js";
import type { ScriptReply, SharedState } from "./codec.js";
import { STALE_TOKEN, type SharedToken } from "./replica.js";

/** Window buckets as the scripts read them: `'start:calls:failures:slow,...'`. */
export function encodeBuckets(buckets: readonly (readonly number[])[]): string {
  return buckets.map((bucket) => bucket.join(":")).join(",");
}

/** A success's transition, then the slow-call rate's verdict on the window the script left. */
export function withRates(success: Transition | null, reply: ScriptReply): Transition | null {
  if (reply.counts === null) return success;
  const snapshot = success?.snapshot ?? reply.before.snapshot;
  const trip = checkRates(snapshot, reply.before.config, reply.counts, reply.now, reply.quorum?.met ?? true);
  if (trip === null) return success;
  return { snapshot: trip.snapshot, events: [...(success?.events ?? []), ...trip.events] };
}

/**
 * The fleet's transition (or the promise of it) and then the transition of the circuit the process
 * keeps for itself, as one list of events for the breaker to emit.
 */
export function merged(fleet: Transition | null, own: Transition | null): Transition | null;
export function merged(fleet: Promise<Transition | null>, own: Transition | null): Promise<Transition | null>;
export function merged(
  fleet: Transition | null | Promise<Transition | null>,
  own: Transition | null,
): Transition | null | Promise<Transition | null>;
export function merged(
  fleet: Transition | null | Promise<Transition | null>,
  own: Transition | null,
): Transition | null | Promise<Transition | null> {
  if (own === null || own.events.length === 0) return fleet;
  if (fleet instanceof Promise) return fleet.then((f) => merged(f, own));
  if (fleet === null) return own;
  return { snapshot: fleet.snapshot, events: [...fleet.events, ...own.events] };
}

/**
 * What the core says the failure of a caller holding `token` (`null`: a placeholder) did to the
 * state the script found, with the counts and the quorum the script decided on.
 */
export function expectedFailure(reply: ScriptReply, token: SharedToken | null, minOpenMs: number): Transition | null {
  const { before } = reply;
  const counts = reply.counts ?? undefined;
  const met = reply.quorum?.met ?? true;
  return recordFailure(before.snapshot, before.config, coreToken(before, token), reply.now, counts, minOpenMs, met);
}

/** The token the core should see for a script's caller: `STALE_TOKEN` when it is not of this incarnation. */
export function coreToken(before: SharedState, token: SharedToken | null): number {
  if (token === null) return before.snapshot.state === "closed" ? before.snapshot.generation : STALE_TOKEN;
  return token.incarnation === before.incarnation ? token.generation : STALE_TOKEN;
}
