/**
 * The latency scenarios, side by side: bare calls, purgatory, cockatiel and opossum on the closed
 * success path, the closed failure path (a circuit that never opens) and the open rejection path;
 * and purgatory's success path again with each rule that adds work to it: a `failureRate` window
 * (a bucket increment), a `slowCall` rule and a call listener (both time every call); and with the
 * fleet's telemetry counting while somebody watches (the factory's own recorder, a call listener
 * that counts by circuit, outcome and latency bucket) beside a call listener that does nothing.
 *
 * Every scenario is a zero-argument function that mitata calls and awaits. Success scenarios return
 * the guarded promise itself, so mitata's loop does exactly `await fn()`. Failure and rejection
 * scenarios are all wrapped the same way, `try { await call } catch {}`, the bare one included.
 * @module
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from "cockatiel";
import CircuitBreaker from "opossum";
import { do_not_optimize } from "mitata";
import type { PurgatoryModule } from "./purgatory.js";

export type Library = "bare" | "purgatory" | "cockatiel" | "opossum";
export type Path = "success" | "failure" | "open" | "sync-success";

export interface Scenario {
  /** `<library>.<path>`, e.g. `purgatory.success`, or `<library>.<path>-<rule>` for purgatory with a rule. */
  readonly id: string;
  readonly library: Library;
  readonly path: Path;
  /** What runs per iteration, as printed in the table. */
  readonly label: string;
  readonly fn: () => unknown;
}

export interface ScenarioSet {
  readonly scenarios: readonly Scenario[];
  /** Throws unless every circuit is in the state its scenario needs. */
  checkStates(): void;
  /** Runs each scenario once and throws unless it resolves or rejects as intended. */
  verify(): Promise<void>;
  /** Stops the peers' timers. */
  dispose(): Promise<void>;
}

/** A long time: circuits opened for the benchmark stay opened (1 hour). */
const HOUR_MS = 3_600_000;
/** A threshold the failure scenarios never reach. */
const NEVER = 1_000_000_000;
/** The rate window of the rule scenarios, docs/design.md's example; successes alone never trip it. */
const RATE_WINDOW = { rate: 0.5, minimumCalls: 20, window: 60 } as const;
/** A slow-call rule no call of the benchmark reaches (a success slower than 2 s). */
const SLOW_CALL = { duration: 2, rate: 0.8 } as const;

const VALUE = 42;
/** The guarded async call: `async () => value`. */
const succeed = async (): Promise<number> => VALUE;
/** The failing async call: a fresh Error (with its stack) per call, like a real failure. */
const fail = async (): Promise<never> => {
  throw new Error("boom");
};
const syncSucceed = (): number => VALUE;

/** The factory's recorder of calls for the telemetry, as a storage sees it (`TrafficSource`). */
interface TrafficSourceLike {
  watched(watching: boolean): void;
  take(): readonly { readonly name: string; readonly sample: { readonly outcomes: readonly number[] } }[];
}

export async function makeScenarios(purgatory: PurgatoryModule): Promise<ScenarioSet> {
  const { AsyncCircuitBreakerFactory, CircuitOpenError, InMemoryStorage, SyncCircuitBreakerFactory } = purgatory;
  // purgatory: one factory whose circuits never open, one whose circuit opens at the first failure
  const closed = new AsyncCircuitBreakerFactory({ defaultThreshold: NEVER, defaultTtl: 3600 });
  const pSuccess = await closed.getBreaker("success");
  const pFailure = await closed.getBreaker("failure");
  const opens = new AsyncCircuitBreakerFactory({ defaultThreshold: 1, defaultTtl: 3600 });
  const pOpen = await opens.getBreaker("open");
  await pOpen.run(fail).catch(() => undefined);
  const sync = new SyncCircuitBreakerFactory({ defaultThreshold: NEVER, defaultTtl: 3600 });
  const pSync = sync.getBreaker("sync");
  // purgatory with a rule on the success path: a rate window counts each success in a bucket (no
  // clock read: the coarse clock dates it); slowCall and call listeners time each call (two clock
  // readings, one object per call). A listener listens to every circuit of its factory, so it gets
  // a factory of its own.
  const pWindow = await closed.getBreaker("success-window", { failureRate: RATE_WINDOW });
  const pSlowCall = await closed.getBreaker("success-slow-call", { slowCall: SLOW_CALL });
  const listened = new AsyncCircuitBreakerFactory({ defaultThreshold: NEVER, defaultTtl: 3600 });
  let heard = 0;
  listened.addCallListener(() => {
    heard++;
  });
  const pListened = await listened.getBreaker("success-listener");
  // The fleet's telemetry, watched: a storage that shows the traffic (RedisStorage) gets the
  // factory's recorder through `attachTraffic` and, while somebody watches, calls its
  // `watched(true)`, which adds it as a call listener. This in-memory storage does the same and is
  // always watched: the calls pay the recorder's counting, without Redis. Beside it, a factory
  // whose one call listener does nothing: the difference is the counting itself.
  class WatchedStorage extends InMemoryStorage {
    source: TrafficSourceLike | undefined;
    attachTraffic(source: TrafficSourceLike): () => void {
      this.source = source;
      source.watched(true);
      return () => source.watched(false);
    }
  }
  const watchedStorage = new WatchedStorage();
  const recorded = new AsyncCircuitBreakerFactory({
    storage: watchedStorage,
    defaultThreshold: NEVER,
    defaultTtl: 3600,
  });
  const pRecorded = await recorded.getBreaker("success-telemetry");
  const noop = new AsyncCircuitBreakerFactory({ defaultThreshold: NEVER, defaultTtl: 3600 });
  noop.addCallListener(() => undefined);
  const pNoop = await noop.getBreaker("success-noop-listener");
  const pSyncWindow = sync.getBreaker("sync-window", { failureRate: RATE_WINDOW });

  // cockatiel: consecutive breakers, as the peer figures of docs/design.md
  const cockatielClosed = () =>
    circuitBreaker(handleAll, { halfOpenAfter: HOUR_MS, breaker: new ConsecutiveBreaker(NEVER) });
  const cSuccess = cockatielClosed();
  const cFailure = cockatielClosed();
  const cOpen = circuitBreaker(handleAll, { halfOpenAfter: HOUR_MS, breaker: new ConsecutiveBreaker(1) });
  await cOpen.execute(fail).catch(() => undefined);

  // opossum, at its fastest: `timeout: false` so no timer is armed per call (its default arms a
  // 10 s one), and no rolling latency percentiles (by default each failure sorts every latency of
  // the 10 s window, so a failure costs milliseconds under load). An error percentage over 100
  // never happens, so the closed ones never open.
  const opossumOptions = {
    timeout: false,
    rollingPercentilesEnabled: false,
    enableSnapshots: false,
    resetTimeout: HOUR_MS,
  } as const;
  const opossumClosed = (action: () => Promise<unknown>) =>
    new CircuitBreaker(action, { ...opossumOptions, errorThresholdPercentage: 100 });
  const oSuccess = opossumClosed(succeed);
  const oFailure = opossumClosed(fail);
  const oOpen = new CircuitBreaker(succeed, opossumOptions);
  oOpen.open();

  const scenarios: Scenario[] = [
    { id: "bare.success", library: "bare", path: "success", label: "await fn()", fn: () => succeed() },
    {
      id: "bare.failure",
      library: "bare",
      path: "failure",
      label: "try { await failing() } catch {}",
      fn: async () => {
        try {
          await fail();
        } catch {
          // expected
        }
      },
    },
    {
      id: "purgatory.success",
      library: "purgatory",
      path: "success",
      label: "breaker.run(fn)",
      fn: () => pSuccess.run(succeed),
    },
    {
      id: "purgatory.failure",
      library: "purgatory",
      path: "failure",
      label: "breaker.run(failing)",
      fn: async () => {
        try {
          await pFailure.run(fail);
        } catch {
          // expected
        }
      },
    },
    {
      id: "purgatory.open",
      library: "purgatory",
      path: "open",
      label: "breaker.run(fn), opened",
      fn: async () => {
        try {
          await pOpen.run(succeed);
        } catch {
          // expected
        }
      },
    },
    {
      id: "purgatory.success-window",
      library: "purgatory",
      path: "success",
      label: "breaker.run(fn), failureRate window",
      fn: () => pWindow.run(succeed),
    },
    {
      id: "purgatory.success-slow-call",
      library: "purgatory",
      path: "success",
      label: "breaker.run(fn), slowCall rule",
      fn: () => pSlowCall.run(succeed),
    },
    {
      id: "purgatory.success-listener",
      library: "purgatory",
      path: "success",
      label: "breaker.run(fn), a call listener",
      fn: () => pListened.run(succeed),
    },
    {
      id: "purgatory.success-noop-listener",
      library: "purgatory",
      path: "success",
      label: "breaker.run(fn), a no-op call listener",
      fn: () => pNoop.run(succeed),
    },
    {
      id: "purgatory.success-telemetry",
      library: "purgatory",
      path: "success",
      label: "breaker.run(fn), watched: telemetry counting",
      fn: () => pRecorded.run(succeed),
    },
    {
      id: "cockatiel.success",
      library: "cockatiel",
      path: "success",
      label: "policy.execute(fn)",
      fn: () => cSuccess.execute(succeed),
    },
    {
      id: "cockatiel.failure",
      library: "cockatiel",
      path: "failure",
      label: "policy.execute(failing)",
      fn: async () => {
        try {
          await cFailure.execute(fail);
        } catch {
          // expected
        }
      },
    },
    {
      id: "cockatiel.open",
      library: "cockatiel",
      path: "open",
      label: "policy.execute(fn), open",
      fn: async () => {
        try {
          await cOpen.execute(succeed);
        } catch {
          // expected
        }
      },
    },
    { id: "opossum.success", library: "opossum", path: "success", label: "breaker.fire()", fn: () => oSuccess.fire() },
    {
      id: "opossum.failure",
      library: "opossum",
      path: "failure",
      label: "breaker.fire() (failing)",
      fn: async () => {
        try {
          await oFailure.fire();
        } catch {
          // expected
        }
      },
    },
    {
      id: "opossum.open",
      library: "opossum",
      path: "open",
      label: "breaker.fire(), open",
      fn: async () => {
        try {
          await oOpen.fire();
        } catch {
          // expected
        }
      },
    },
    {
      id: "bare.sync-success",
      library: "bare",
      path: "sync-success",
      label: "fn() (sync)",
      fn: () => do_not_optimize(syncSucceed()),
    },
    {
      id: "purgatory.sync-success",
      library: "purgatory",
      path: "sync-success",
      label: "syncBreaker.run(fn)",
      fn: () => do_not_optimize(pSync.run(syncSucceed)),
    },
    {
      id: "purgatory.sync-success-window",
      library: "purgatory",
      path: "sync-success",
      label: "syncBreaker.run(fn), failureRate window",
      fn: () => do_not_optimize(pSyncWindow.run(syncSucceed)),
    },
  ];

  const expectState = (what: string, actual: unknown, expected: unknown): void => {
    if (actual !== expected) throw new Error(`${what}: state ${String(actual)}, expected ${String(expected)}`);
  };
  const checkStates = (): void => {
    expectState("purgatory success circuit", pSuccess.state, "closed");
    expectState("purgatory failure circuit", pFailure.state, "closed");
    expectState("purgatory open circuit", pOpen.state, "opened");
    expectState("purgatory sync circuit", pSync.state, "closed");
    for (const breaker of [pWindow, pSlowCall, pListened, pNoop, pRecorded, pSyncWindow])
      expectState(`purgatory ${breaker.name} circuit`, breaker.state, "closed");
    expectState("cockatiel success policy", cSuccess.state, CircuitState.Closed);
    expectState("cockatiel failure policy", cFailure.state, CircuitState.Closed);
    expectState("cockatiel open policy", cOpen.state, CircuitState.Open);
    expectState("opossum success breaker closed", oSuccess.closed, true);
    expectState("opossum failure breaker closed", oFailure.closed, true);
    expectState("opossum open breaker opened", oOpen.opened, true);
  };

  const rejection = async (call: () => Promise<unknown>): Promise<unknown> => {
    try {
      await call();
    } catch (error) {
      return error;
    }
    throw new Error("expected a rejection");
  };
  const verify = async (): Promise<void> => {
    checkStates();
    const successes = [pSuccess, pWindow, pSlowCall, pListened, pNoop, pRecorded].map((b) => () => b.run(succeed));
    for (const call of [...successes, () => cSuccess.execute(succeed), () => oSuccess.fire()]) {
      if ((await call()) !== VALUE) throw new Error("a success scenario did not return the value");
    }
    const heardBefore = heard;
    await pListened.run(succeed);
    if (heard !== heardBefore + 1) throw new Error("the call listener did not hear the call");
    // The telemetry's recorder is attached, watched, and counts each call as a success.
    const source = watchedStorage.source;
    if (source === undefined) throw new Error("the factory did not attach its recorder to the storage");
    source.take();
    for (let i = 0; i < 3; i++) await pRecorded.run(succeed);
    const counted = source.take().find((c) => c.name === "success-telemetry")?.sample.outcomes;
    if (counted?.[0] !== 3 || counted.slice(1).some((n) => n !== 0))
      throw new Error(`the telemetry's recorder counted ${JSON.stringify(counted)}, not 3 successes`);
    for (const breaker of [pSync, pSyncWindow]) {
      if (breaker.run(syncSucceed) !== VALUE) throw new Error("a sync scenario did not return the value");
    }
    for (const call of [() => fail(), () => pFailure.run(fail), () => cFailure.execute(fail), () => oFailure.fire()]) {
      const error = await rejection(call);
      if (!(error instanceof Error) || error.message !== "boom")
        throw new Error(`a failure scenario rejected with ${String(error)}`);
    }
    if (!((await rejection(() => pOpen.run(succeed))) instanceof CircuitOpenError))
      throw new Error("purgatory open: not CircuitOpenError");
    if (!((await rejection(() => cOpen.execute(succeed))) instanceof BrokenCircuitError))
      throw new Error("cockatiel open: not BrokenCircuitError");
    const opossumError = (await rejection(() => oOpen.fire())) as { code?: unknown };
    if (opossumError.code !== "EOPENBREAKER") throw new Error("opossum open: not EOPENBREAKER");
    checkStates();
  };

  const dispose = async (): Promise<void> => {
    for (const breaker of [oSuccess, oFailure, oOpen]) breaker.shutdown();
    await Promise.all([closed.close(), opens.close(), sync.close(), listened.close(), recorded.close(), noop.close()]);
  };

  return { scenarios, checkStates, verify, dispose };
}
