/**
 * `purgatory/storage`: what someone writing a {@link CircuitStorage} needs beyond the types of
 * `purgatory`. The storage contract's types again, and the pure state machine as functions: a
 * storage applies them atomically to a circuit's snapshot (in one `Map` entry, one SQL
 * transaction, one Lua script...) and stores what they return, so that the breakers behave the same
 * over it as over the built-in storages. Rate windows (`failureRate`, `slowCall`) are counted with
 * the window functions, by a storage that keeps `CircuitRecord.window`.
 *
 * @example
 * ```ts
 * import { admit, type Admission, type CircuitRecord } from "purgatory/storage";
 *
 * function admitOn(circuit: CircuitRecord, now: number): Admission {
 *   const admission = admit(circuit.snapshot, circuit.config, now);
 *   if (admission.transition !== null) circuit.snapshot = admission.transition.snapshot;
 *   return admission;
 * }
 * ```
 * @packageDocumentation
 */
export type { CircuitRecord, CircuitStorage, MaybePromise, Registration } from "./storage.js";
export type { CircuitEventMap, CircuitEventType, CircuitHookArgs } from "../events.js";
export type { Clock } from "../timing/coarse-clock.js";
export type {
  Admission,
  BackoffPolicy,
  CallCounts,
  CircuitConfig,
  CircuitScope,
  CircuitSnapshot,
  CircuitStateName,
  CircuitTransitionEvent,
  ClosedSnapshot,
  ControlAction,
  DisabledSnapshot,
  FailureRatePolicy,
  HalfOpenedSnapshot,
  IsolatedSnapshot,
  OpenedSnapshot,
  ProbeLease,
  QuorumPolicy,
  RateWindow,
  SlowCallPolicy,
  Transition,
} from "../core/index.js";
export {
  CLOSED_SNAPSHOT,
  admit,
  checkRates,
  control,
  isForgettable,
  recordFailure,
  recordSuccess,
  releaseProbe,
  ttlMs,
  type WindowOutcome,
  clear as clearWindow,
  count as countInWindow,
  countSuccess as countSuccessInWindow,
  countsOf as windowCounts,
  createWindow as createRateWindow,
  windowFor as rateWindowFor,
} from "../core/index.js";
