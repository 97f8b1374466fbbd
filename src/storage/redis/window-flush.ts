/**
 * A closed circuit's rate-window counts on their way to Redis: a success is counted where the
 * process is (no command), and the counts are handed over either with the next script of a call
 * (`windowCounts`: a failure, a slow success) or by the flush of the hand-overs (`flushedCounts`),
 * whose reply may say the fleet's merged counts reached a rate (`flushTrip`). Pure functions over
 * the circuit's record (the window is the core's mutable accumulator); `RedisStorage` sends them.
 * @module
 */
import type { Transition } from "../../core/circuit.js";
import { checkRates } from "../../core/machine.js";
import { count, countSuccess, drain, type RateWindow, type WindowOutcome } from "../../core/window.js";
import type { ScriptReply } from "./codec.js";
import { encodeBuckets } from "./outcomes.js";
import type { OwnCircuit } from "./own.js";
import type { ReplicaCircuit } from "./replica-circuit.js";

/**
 * Counts a success of a closed circuit at `redisNow` in its `window`, and in the window of the
 * circuit the process keeps for itself (`own`), if any: the hot path, two array increments.
 */
export function countClosedSuccess(window: RateWindow, own: OwnCircuit | null, redisNow: number): void {
  countSuccess(window, redisNow);
  if (own !== null && own.window !== null) countSuccess(own.window, redisNow);
}

/**
 * The counts of a closed circuit's window to hand to Redis with a call's script, this call's
 * `outcome` counted at `redisNow` (`'start:calls:failures:slow,...'`); the window is emptied.
 * `''` (nothing counted) without a window or once the view is not closed.
 */
export function windowCounts(circuit: ReplicaCircuit, redisNow: number, outcome: WindowOutcome): string {
  const window = circuit.window;
  if (window === undefined || window === null || circuit.replica.view.state !== "closed") return "";
  count(window, redisNow, outcome);
  return encodeBuckets(drain(window));
}

/**
 * What a flush hands over of a circuit's window (emptying it): its counts while the replica
 * follows Redis and the view is closed; `''` otherwise (the counts stay, for a later flush).
 */
export function flushedCounts(circuit: ReplicaCircuit): string {
  const window = circuit.window;
  const hands =
    window !== undefined &&
    window !== null &&
    circuit.replica.mode === "synced" &&
    circuit.replica.view.state === "closed";
  return hands ? encodeBuckets(drain(window)) : "";
}

/**
 * The trip the core derives from a flush's reply: the fleet's merged counts reached a rate of the
 * circuit's config while it was closed (and, with a quorum, enough processes back it).
 */
export function flushTrip(reply: ScriptReply): Transition | null {
  if (reply.counts === null) return null;
  return checkRates(reply.before.snapshot, reply.before.config, reply.counts, reply.now, reply.quorum?.met ?? true);
}
