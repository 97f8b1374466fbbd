/**
 * Drives both factories through one interface, so that each storage-independent scenario is
 * written once and runs for `AsyncCircuitBreakerFactory` and `SyncCircuitBreakerFactory` alike.
 * The sync adapter calls the sync API and only then wraps the outcome in a promise, and fails the
 * test if the sync API ever returns a promise; the async adapter fails it if the async API ever
 * throws instead of rejecting.
 */
import { afterEach, beforeEach } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  SyncCircuitBreakerFactory,
  type AsyncCircuitBreaker,
  type BreakerOptions,
  type CircuitHookArgs,
  type CircuitScope,
  type CircuitStateName,
  type FactoryOptions,
  type SyncCircuitBreaker,
} from "../../src/index.js";
import type { StorageHarness, StorageKind } from "./storage-kinds.js";

/**
 * The options of one call that both factories take: a `fallback`. (The harness types the
 * fallback's value as the call's, to keep scenarios short.)
 */
export interface SharedCallOptions {
  readonly fallback?: (error: unknown) => unknown;
}

/** A breaker of either factory; `run` settles as the breaker did. */
export interface BreakerUnderTest {
  readonly name: string;
  readonly threshold: number;
  readonly ttl: number;
  readonly state: CircuitStateName;
  readonly scope: CircuitScope;
  readonly failureCount: number;
  readonly openedAt: number | null;
  /** Runs a synchronous `fn` under the circuit, with the call's `options`. */
  readonly run: <T>(fn: () => T, options?: SharedCallOptions) => Promise<T>;
}

/**
 * A factory of either kind, through the calls both share. Its calls are function properties, not
 * methods, so tests may take them apart (`const { getBreaker } = bench.make(flavour)`).
 */
export interface FactoryUnderTest {
  readonly flavour: "async" | "sync";
  readonly factory: AsyncCircuitBreakerFactory | SyncCircuitBreakerFactory;
  readonly getBreaker: (name: string, options?: BreakerOptions) => Promise<BreakerUnderTest>;
  readonly run: <T>(name: string, fn: () => T, options?: BreakerOptions) => Promise<T>;
  readonly forget: (name: string) => Promise<void>;
}

/** How to make a factory of one flavour over a storage harness. */
export interface Flavour {
  readonly name: "async" | "sync";
  create(options: FactoryOptions): FactoryUnderTest;
}

const isThenable = (value: unknown): boolean => typeof (value as { then?: unknown } | null)?.then === "function";

/** Calls the sync API; its outcome, which must be synchronous, becomes a settled promise. */
function settledNow<T>(call: () => T): Promise<T> {
  let value: T;
  try {
    value = call();
  } catch (error) {
    return Promise.reject(error);
  }
  if (isThenable(value)) throw new Error("the synchronous API returned a promise");
  return Promise.resolve(value);
}

/** Calls the async API, which must never throw synchronously. */
function promised<T>(call: () => Promise<T>): Promise<T> {
  let promise: Promise<T>;
  try {
    promise = call();
  } catch (error) {
    throw new Error(`the asynchronous API threw synchronously: ${String(error)}`, { cause: error });
  }
  if (!(promise instanceof Promise)) throw new Error("the asynchronous API did not return a promise");
  return promise;
}

function view(
  raw: AsyncCircuitBreaker<unknown> | SyncCircuitBreaker<unknown>,
  run: BreakerUnderTest["run"],
): BreakerUnderTest {
  return {
    get name() {
      return raw.name;
    },
    get threshold() {
      return raw.threshold;
    },
    get ttl() {
      return raw.ttl;
    },
    get state() {
      return raw.state;
    },
    get scope() {
      return raw.scope;
    },
    get failureCount() {
      return raw.failureCount;
    },
    get openedAt() {
      return raw.openedAt;
    },
    run,
  };
}

export const asyncFlavour: Flavour = {
  name: "async",
  create(options) {
    const factory = new AsyncCircuitBreakerFactory(options);
    return {
      flavour: "async",
      factory,
      async getBreaker(name, breakerOptions) {
        const breaker = await promised(() => factory.getBreaker(name, breakerOptions));
        return view(
          breaker,
          <T>(fn: () => T, call?: SharedCallOptions) => promised(() => breaker.run(fn, call)) as Promise<T>,
        );
      },
      run: <T>(name: string, fn: () => T, breakerOptions?: BreakerOptions) =>
        promised(() => factory.run(name, fn, breakerOptions)) as Promise<T>,
      forget: async (name) => factory.forget(name),
    };
  },
};

export const syncFlavour: Flavour = {
  name: "sync",
  create(options) {
    const factory = new SyncCircuitBreakerFactory(options);
    return {
      flavour: "sync",
      factory,
      async getBreaker(name, breakerOptions) {
        const breaker = await settledNow(() => factory.getBreaker(name, breakerOptions));
        return view(breaker, <T>(fn: () => T, call?: SharedCallOptions) =>
          settledNow(() => breaker.run(fn, call) as T),
        );
      },
      run: <T>(name: string, fn: () => T, breakerOptions?: BreakerOptions) =>
        settledNow(() => factory.run(name, fn, breakerOptions) as T),
      forget: async (name) => factory.forget(name),
    };
  },
};

/** Both factories. */
export const flavours: readonly Flavour[] = [asyncFlavour, syncFlavour];

/** The factories the behaviour suite runs over `kind`: both, unless it opts out of the sync one. */
export function flavoursFor(kind: StorageKind): readonly Flavour[] {
  return kind.syncFactory === false ? [asyncFlavour] : flavours;
}

let sequence = 0;
/** A circuit name no other test (or earlier run against a shared server) uses. */
export function circuitName(label: string): string {
  sequence += 1;
  return `${label}:${process.pid}:${Date.now().toString(36)}:${sequence}`;
}

/** A test's storage, and the factories it made over it, all released after the test. */
export interface Workbench {
  /** Lets `ms` milliseconds pass for the storage and the factories' clock. */
  advance(ms: number): Promise<void>;
  /** The storage harness of the running test. */
  readonly harness: StorageHarness;
  /** A factory of `flavour` over the test's storage (and clock), closed after the test. */
  make(flavour: Flavour, options?: FactoryOptions): FactoryUnderTest;
  /** An async factory over the test's storage, closed after the test. */
  makeAsync(options?: FactoryOptions): AsyncCircuitBreakerFactory;
  /** A sync factory over the test's storage, closed after the test. */
  makeSync(options?: FactoryOptions): SyncCircuitBreakerFactory;
}

/** Call inside a `describe`: a fresh storage of `kind` for each test. */
export function useWorkbench(kind: StorageKind): Workbench {
  let harness: StorageHarness | undefined;
  const factories: { close(): Promise<void> }[] = [];
  const current = (): StorageHarness => {
    if (harness === undefined) throw new Error("no storage: use the workbench inside a test");
    return harness;
  };
  const withStorage = (options: FactoryOptions | undefined): FactoryOptions => {
    const { storage, clock } = current();
    return { storage, ...(clock === undefined ? {} : { clock }), ...options };
  };
  beforeEach(async () => {
    harness = await kind.create();
  });
  afterEach(async () => {
    for (const factory of factories.splice(0)) await factory.close();
    await harness?.cleanup();
    harness = undefined;
  });
  return {
    advance: (ms) => current().advance(ms),
    get harness() {
      return current();
    },
    make(flavour, options) {
      const made = flavour.create(withStorage(options));
      factories.push(made.factory);
      return made;
    },
    makeAsync(options) {
      const factory = new AsyncCircuitBreakerFactory(withStorage(options));
      factories.push(factory);
      return factory;
    },
    makeSync(options) {
      const factory = new SyncCircuitBreakerFactory(withStorage(options));
      factories.push(factory);
      return factory;
    },
  };
}

/** Short labels of the events of one circuit, e.g. `failed 2`, `state_changed opened`. */
export type EventLabel = string;

/** Records every hook call of a factory. */
export class EventLog {
  readonly calls: CircuitHookArgs[] = [];
  readonly hook = (...args: CircuitHookArgs): void => {
    this.calls.push(args);
  };

  /** The events of circuit `name` as short labels, in order. */
  labels(name: string): EventLabel[] {
    return this.of(name).map(([, type, event]) => {
      switch (type) {
        case "failed":
          return `failed ${event.failureCount}`;
        case "state_changed":
          return `state_changed ${event.state}${event.remote === true ? " (remote)" : ""}`;
        default:
          return type;
      }
    });
  }

  /** The hook calls of circuit `name`, in order. */
  of(name: string): CircuitHookArgs[] {
    return this.calls.filter(([circuit]) => circuit === name);
  }

  /** Forgets what was recorded so far. */
  clear(): void {
    this.calls.length = 0;
  }
}

/** Listens to `factory` with a new `EventLog`. */
export function listen(factory: AsyncCircuitBreakerFactory | SyncCircuitBreakerFactory): EventLog {
  const log = new EventLog();
  factory.addListener(log.hook);
  return log;
}

/** A synchronous guarded function that throws `error`. */
export const throwing = (error: unknown) => (): never => {
  throw error;
};

/** Fails `threshold` times with fresh errors so that the circuit opens. */
export async function trip(breaker: BreakerUnderTest): Promise<void> {
  for (let i = 0; i < breaker.threshold; i++) {
    await breaker.run(throwing(new Error(`failure ${i + 1}`))).catch(() => undefined);
  }
}

/** A promise settled from outside, for calls that must overlap. */
export class Deferred<T = void> {
  resolve!: (value: T) => void;
  reject!: (error: unknown) => void;
  readonly promise = new Promise<T>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });
}
