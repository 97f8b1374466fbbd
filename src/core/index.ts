/**
 * What the pure circuit state machine offers outside the core: its types (named by the public
 * types) and, for storage authors ("purgatory/storage"), the functions to apply atomically in a
 * storage so that the breakers behave the same over it.
 * @module
 */
export {
  CLOSED_SNAPSHOT,
  type BackoffPolicy,
  type CircuitConfig,
  type CircuitScope,
  type CircuitSnapshot,
  type CircuitStateName,
  type CircuitTransitionEvent,
  type ClosedSnapshot,
  type DisabledSnapshot,
  type FailureRatePolicy,
  type HalfOpenedSnapshot,
  type IsolatedSnapshot,
  type OpenedSnapshot,
  type ProbeLease,
  type QuorumPolicy,
  type SlowCallPolicy,
  type Transition,
} from "./circuit.js";
export {
  admit,
  checkRates,
  control,
  isForgettable,
  recordFailure,
  recordSuccess,
  releaseProbe,
  ttlMs,
  type Admission,
  type ControlAction,
} from "./machine.js";
export {
  clear,
  count,
  countsOf,
  countSuccess,
  createWindow,
  windowFor,
  type CallCounts,
  type RateWindow,
  type WindowOutcome,
} from "./window.js";
