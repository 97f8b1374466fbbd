/**
 * The pure circuit state machine, exported for storage authors: apply these functions atomically
 * in your storage and the breakers behave the same over it.
 * @module
 */
export {
  CLOSED_SNAPSHOT,
  type CircuitConfig,
  type CircuitSnapshot,
  type CircuitStateName,
  type CircuitTransitionEvent,
  type ClosedSnapshot,
  type HalfOpenedSnapshot,
  type OpenedSnapshot,
  type ProbeLease,
  type Transition,
} from "./circuit.js";
export {
  admit,
  isForgettable,
  recordFailure,
  recordSuccess,
  releaseProbe,
  ttlMs,
  type Admission,
} from "./machine.js";
