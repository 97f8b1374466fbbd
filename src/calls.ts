/**
 * Call listeners: one report per guarded call (its outcome and how long it ran), for metrics.
 * Hooks report what happens to a circuit; call listeners report what happens to each call.
 * @module
 */
import type { CircuitScope } from "./core/circuit.js";
import { Listeners } from "./events.js";

/**
 * How a guarded call ended, as a call listener hears it:
 * - `"success"`: it returned or resolved, and `isFailure` (if any) passed the result;
 * - `"failure"`: it threw or rejected with an error the rules do not exclude, or `isFailure`
 *   flagged its result;
 * - `"excluded"`: it threw an excluded error (which counts as a success for the circuit);
 * - `"rejected"`: the circuit did not let it run (`CircuitOpenError`);
 * - `"timeout"`: it did not settle within its `timeout` (`CallTimeoutError`);
 * - `"cancelled"`: its caller's `signal` aborted it first (nothing counted).
 *
 * A `fallback` does not change the outcome: a failure answered by the fallback is a `"failure"`.
 */
export type CallOutcome = "success" | "failure" | "excluded" | "rejected" | "timeout" | "cancelled";

/**
 * A call listener: called synchronously once per guarded call, when its outcome is known, with
 * the circuit's name, the outcome, the milliseconds the guarded function ran (`0` for a call that
 * never ran: rejected, or cancelled while waiting for its admission) and the scope of the circuit
 * state that decided the call:
 * - `"process"` for a call rejected by the state a process keeps for itself (its
 *   `CircuitOpenError`'s `scope`: a circuit with a `quorum` whose failures in this process alone
 *   met the trip rule), and for a probe of that state;
 * - `"fleet"` for every other call: the circuit's own state decided it (shared by every process
 *   with a shared storage), as it always does without a `quorum`.
 *
 * A listener written for three arguments keeps working: `scope` is a trailing one. As with hooks,
 * one that throws or rejects is reported once as a process warning (code `PURGATORY_HOOK_ERROR`)
 * and never changes the call. While a factory has a call listener, its calls are timed (two clock
 * readings per call, see docs/benchmarks.md).
 *
 * @example
 * ```ts
 * const stop = circuitbreaker.addCallListener((name, outcome, durationMs, scope) => {
 *   histogram.observe({ circuit: name, outcome }, durationMs / 1000);
 *   if (outcome === "rejected" && scope === "process") console.warn(`${name}: open in this process only`);
 * });
 * ```
 */
export type CallListener = (
  circuitName: string,
  outcome: CallOutcome,
  durationMs: number,
  scope: CircuitScope,
) => unknown;

/** The call listeners of one factory. */
export class CallListeners extends Listeners<Parameters<CallListener>> {
  constructor() {
    super("call listener", (args) => args[1]);
  }
}

/** The start time of a call that is not timed; `elapsedSince` gives `NaN` for it. */
export const UNTIMED = Number.NaN;

/** A timestamp (ms, `performance.now()`'s time line) to measure a call from. */
export const callStart = (): number => performance.now();

/** Milliseconds since `startedAt` (a `callStart()`), or `NaN` when the call is `UNTIMED`. */
export const elapsedSince = (startedAt: number): number =>
  Number.isNaN(startedAt) ? Number.NaN : performance.now() - startedAt;
