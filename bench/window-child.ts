/**
 * Child process of the window section: `window-child.ts <library> <calls> <repeats>`.
 * Each repeat makes a fresh breaker, fills its rate window with `calls` successes, collects the
 * garbage of the fill, makes a few failures untimed (the first allocations after a full gc are
 * slower), then times `FAILURES` failures one after the other (a fresh `Error` each), or fewer
 * when they take more than `BUDGET_MS`: the same number for every `calls`, so that only the
 * window's size differs between runs, and at most a tenth of the smallest window. A bare failing
 * call is timed the same way, in the same process, so that the breaker's own share of a failure
 * shows. Medians over the repeats.
 * @module
 */
import CircuitBreaker from "opossum";
import { sendResult } from "./child.js";
import { fullGc } from "./gc.js";
import { loadPurgatory } from "./purgatory.js";
import { median } from "./report.js";

export interface WindowResult {
  readonly library: string;
  /** Calls in the window before the timed failures. */
  readonly calls: number;
  readonly repeats: number;
  /** Median over the repeats of the mean ns per failure. */
  readonly nsPerFailure: number;
  /** The same for a bare `try { await failing() } catch {}`. */
  readonly bareNsPerFailure: number;
  /** Median number of failures timed per repeat. */
  readonly failuresPerRepeat: number;
  /** ms to fill the window with `calls` successes, median. */
  readonly fillMs: number;
  readonly all: readonly { readonly nsPerFailure: number; readonly failures: number; readonly fillMs: number }[];
}

/** Failures timed per repeat: a tenth of the smallest window (1,000 calls). */
const FAILURES = 100;
/** Untimed failures before the timed ones, after the gc. */
const SETTLE = 10;
/** Time spent failing per repeat, at most (opossum's failures cost 100 ms and more at 1M calls). */
const BUDGET_MS = 100;
/** Failures timed per repeat, at least, whatever the budget. */
const MIN_FAILURES = 3;
/** The warm-up's failures, at most, or its time: enough for the JIT to optimize every path, whatever the N. */
const WARM_UP = { failures: 20_000, ms: 500 } as const;
/** A window no run outlives: 600 s, ten buckets of 60 s, for purgatory and opossum alike. */
const WINDOW_S = 600;

const succeed = async (): Promise<number> => 42;
const fail = async (): Promise<never> => {
  throw new Error("boom");
};
/** The bare failing call, one frame under the timing loop like a subject's `failure`. */
const bareFailure = (): Promise<never> => fail();

/** One circuit: `success()` and `failure()` make one call each; `check` throws unless the window holds `calls`. */
interface Subject {
  readonly success: () => Promise<unknown>;
  readonly failure: () => Promise<unknown>;
  readonly check: (calls: number, failures: number) => void;
  readonly dispose: () => void;
}

const { AsyncCircuitBreakerFactory, InMemoryStorage } = await loadPurgatory();
let made = 0;

/** opossum: a breaker over a function that succeeds or fails as told, so one breaker sees both. */
function opossum(rollingPercentilesEnabled: boolean): Subject {
  let failing = false;
  const breaker = new CircuitBreaker(() => (failing ? fail() : succeed()), {
    // rolling stats: the window as long as purgatory's, its other settings left at their defaults
    // (10 buckets; rollingPercentilesEnabled true unless "opossum-fastest")
    rollingCountTimeout: WINDOW_S * 1000,
    rollingPercentilesEnabled,
    // not rolling stats, set so that only the failure's own work is timed: no 10 s timer armed
    // per call (timeout: false), no snapshot of the stats every bucket (60 s) that could land in
    // a timed stretch, and an error percentage it never exceeds, so that it stays closed
    timeout: false,
    enableSnapshots: false,
    errorThresholdPercentage: 100,
    resetTimeout: 3_600_000,
  });
  return {
    success: () => {
      failing = false;
      return breaker.fire();
    },
    failure: () => {
      failing = true;
      return breaker.fire();
    },
    check: (calls, failures) => {
      const window = breaker.status.window;
      const fires = window.reduce((sum, bucket) => sum + bucket.fires, 0);
      const failed = window.reduce((sum, bucket) => sum + bucket.failures, 0);
      if (fires !== calls || failed !== failures || !breaker.closed) {
        throw new Error(
          `opossum window: ${fires} calls, ${failed} failures, closed ${String(breaker.closed)}; expected ${calls}, ${failures}, true`,
        );
      }
    },
    dispose: () => breaker.shutdown(),
  };
}

/** purgatory in memory; `failureRate` as given (`undefined`: a plain circuit, no window). */
async function purgatory(
  failureRate: { rate: number; minimumCalls: number; window: number } | undefined,
): Promise<Subject> {
  const storage = new InMemoryStorage();
  const factory = new AsyncCircuitBreakerFactory({ storage, defaultThreshold: Number.MAX_SAFE_INTEGER });
  const name = `window-${made++}`;
  const breaker = await factory.getBreaker(name, failureRate === undefined ? {} : { failureRate });
  /** The sum of the window's counts at `offset` of each bucket (0: calls, 1: failures). */
  const sum = (window: { counts: readonly number[]; stride: number } | undefined, offset: number): number =>
    (window?.counts ?? []).reduce((total, n, i) => (i % (window?.stride ?? 1) === offset ? total + n : total), 0);
  return {
    success: () => breaker.run(succeed),
    failure: () => breaker.run(fail),
    check: (calls, failures) => {
      const circuit = storage.get(name);
      const state = circuit?.snapshot.state;
      if (failureRate === undefined) {
        if ((circuit?.window ?? null) !== null || state !== "closed")
          throw new Error(`purgatory plain circuit: a window, or ${String(state)}`);
        return;
      }
      const window = circuit?.window ?? undefined;
      if (sum(window, 0) !== calls || sum(window, 1) !== failures || state !== "closed") {
        throw new Error(
          `purgatory window: ${sum(window, 0)} calls, ${sum(window, 1)} failures, ${String(state)}; expected ${calls}, ${failures}, closed`,
        );
      }
    },
    dispose: () => void factory.close(),
  };
}

const SUBJECTS: Record<string, () => Subject | Promise<Subject>> = {
  // a failure-rate window over WINDOW_S that these calls never trip (it takes 100 % failures),
  // and a consecutive-failure threshold they never reach
  purgatory: () => purgatory({ rate: 1, minimumCalls: 1_000_000, window: WINDOW_S }),
  // the same without a window: what the window adds to a failure
  "purgatory-plain": () => purgatory(undefined),
  opossum: () => opossum(true),
  "opossum-fastest": () => opossum(false),
};

/** Mean ns per call of `call`, called `max` times or until `budgetMs` (at least `MIN_FAILURES`); and how many. */
async function timeFailures(
  call: () => Promise<unknown>,
  max: number,
  budgetMs = BUDGET_MS,
): Promise<{ ns: number; failures: number }> {
  let failures = 0;
  const start = performance.now();
  let elapsed = 0;
  while (failures < max && (failures < MIN_FAILURES || elapsed < budgetMs)) {
    try {
      await call();
    } catch {
      // expected
    }
    failures++;
    elapsed = performance.now() - start;
  }
  return { ns: (elapsed * 1e6) / failures, failures };
}

interface Repeat {
  readonly nsPerFailure: number;
  readonly failures: number;
  readonly fillMs: number;
  readonly bareNs: number;
}

/** One repeat on a fresh circuit, in its own function so that nothing of it outlives it. */
async function repeat(make: () => Subject | Promise<Subject>, calls: number): Promise<Repeat> {
  const subject = await make();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await subject.success();
  const fillMs = performance.now() - t0;
  fullGc();
  await timeFailures(bareFailure, SETTLE);
  const bare = await timeFailures(bareFailure, FAILURES);
  fullGc();
  const settled = await timeFailures(subject.failure, SETTLE);
  const timed = await timeFailures(subject.failure, FAILURES);
  const failures = settled.failures + timed.failures;
  subject.check(calls + failures, failures);
  subject.dispose();
  return { nsPerFailure: timed.ns, failures: timed.failures, fillMs, bareNs: bare.ns };
}

async function main(): Promise<void> {
  const [library = "", callsArg = "1000", repeatsArg = "5"] = process.argv.slice(2);
  const make = SUBJECTS[library];
  if (make === undefined) throw new Error(`unknown library ${library}; one of ${Object.keys(SUBJECTS).join(", ")}`);
  const calls = Number(callsArg);
  const repeats = Number(repeatsArg);

  // warm-up, the same for every N: successes and failures until the JIT has compiled both paths
  const warm = await make();
  for (let i = 0; i < 1000; i++) await warm.success();
  await timeFailures(warm.failure, WARM_UP.failures, WARM_UP.ms);
  await timeFailures(bareFailure, WARM_UP.failures, WARM_UP.ms);
  warm.dispose();
  const all: Repeat[] = [];
  for (let r = 0; r < repeats; r++) all.push(await repeat(make, calls));
  const result: WindowResult = {
    library,
    calls,
    repeats,
    nsPerFailure: median(all.map((a) => a.nsPerFailure)),
    bareNsPerFailure: median(all.map((a) => a.bareNs)),
    failuresPerRepeat: median(all.map((a) => a.failures)),
    fillMs: median(all.map((a) => a.fillMs)),
    all: all.map(({ nsPerFailure, failures, fillMs }) => ({ nsPerFailure, failures, fillMs })),
  };
  sendResult(result);
}

await main();
