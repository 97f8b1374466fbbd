/**
 * Purgatory: named circuit breakers for TypeScript and Node.js.
 *
 * @example
 * ```ts
 * import { AsyncCircuitBreakerFactory } from "purgatory";
 * const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 5, defaultTtl: 30 });
 * await circuitbreaker.run("www.example.com", () => fetch("https://www.example.com/"));
 * ```
 * @packageDocumentation
 */
export { AsyncCircuitBreakerFactory } from "./factory/async.js";
export { SyncCircuitBreakerFactory } from "./factory/sync.js";
export { AsyncCircuitBreaker } from "./breaker/async.js";
export { SyncCircuitBreaker } from "./breaker/sync.js";
export type { CircuitBreakerBase } from "./breaker/base.js";
export type { CircuitBreakerFactoryBase } from "./factory/base.js";
export {
  CallTimeoutError,
  CircuitLimitError,
  CircuitOpenError,
  FactoryClosedError,
  InvalidOptionError,
  StorageUnavailableError,
  isCallTimeoutError,
  isCircuitLimitError,
  isCircuitOpenError,
  isFactoryClosedError,
  isInvalidOptionError,
  isStorageUnavailableError,
} from "./errors.js";
export type {
  CircuitCreatedEvent,
  CircuitEventMap,
  CircuitEventType,
  CircuitFailedEvent,
  CircuitForgottenEvent,
  CircuitHook,
  CircuitHookArgs,
  CircuitRecoveredEvent,
  CircuitStateChangedEvent,
  ForgetReason,
  ListenerDisposer,
  StorageAvailabilityEvent,
  StorageErrorEvent,
} from "./events.js";
export type { CallListener, CallOutcome } from "./calls.js";
export type { ErrorClass, ExcludeEntry, ExcludeList } from "./exclude.js";
export type {
  BreakerOptions,
  CallOptions,
  FactoryOptions,
  Fallback,
  InitializeOptions,
  RunOptions,
  SyncBreakerOptions,
  SyncCallOptions,
} from "./options/types.js";
export type { BackoffOption, ConfigChanges, QuorumOption } from "./options/policies.js";
export type { Clock } from "./timing/coarse-clock.js";
export type { CircuitDecorator, CircuitNameSource, DecoratableResult, DecoratedFunction } from "./decorate.js";
export { InMemoryStorage, type InMemoryStorageOptions } from "./storage/memory.js";
export type { LocalCircuitsStorage } from "./storage/local-circuits.js";
export { SAVED_CIRCUITS_VERSION, type SavedCircuit, type SavedCircuits } from "./storage/saved.js";
export type { CircuitRecord, CircuitStorage, MaybePromise, Registration } from "./storage/storage.js";
// The state machine's types, which the public types above name (a circuit's config and snapshot,
// what a storage answers). Its functions are for storage authors: "purgatory/storage".
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
} from "./core/index.js";
export { RedisStorage, type RedisStorageStats } from "./storage/redis/storage.js";
export type { CircuitInfo, LocalOpening, QuorumInfo } from "./storage/redis/inspect.js";
export { RedisConfigurationError } from "./storage/redis/transport.js";
export type {
  NodeRedisClient,
  NodeRedisCluster,
  PubSubMode,
  RedisClient,
  RedisStorageOptions,
  StorageErrorPolicy,
} from "./storage/redis/options.js";
export type { RedisKeys } from "./storage/redis/keys.js";
