/**
 * The pure circuit state machine, exported for storage authors: apply these functions atomically
 * in your storage and the breakers behave the same over it.
 * @module
 */
export {
  CLOSED_SNAPSHOT,
  type BackoffPolicy,
  type DisabledSnapshot,
  type FailureRatePolicy,
  type IsolatedSnapshot,
  type SlowCallPolicy,
  type CircuitConfig,
  type CircuitSnapshot,
  type CircuitStateName,
  type CircuitScope,
  type CircuitTransitionEvent,
  type ClosedSnapshot,
  type HalfOpenedSnapshot,
  type OpenedSnapshot,
  type ProbeLease,
  type QuorumPolicy,
  type Transition,
} from "./circuit.js";
export {
  admit,
  checkRates,
  control,
  isForgettable,
  jitterUnit,
  openTtlMs,
  recordFailure,
  recordSuccess,
  releaseProbe,
  ttlMs,
  type Admission,
  type ControlAction,
} from "./machine.js";
export { callerHorizonMs, effectiveQuorum, hasQuorum } from "./quorum.js";
export {
  BUCKETS,
  clear,
  count,
  countsOf,
  countSuccess,
  createWindow,
  DEFAULT_WINDOW,
  drain,
  exceedsRates,
  roll,
  windowFor,
  windowOf,
  type CallCounts,
  type RateWindow,
  type WindowOutcome,
} from "./window.js";
