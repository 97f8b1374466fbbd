/**
 * Child process of the memory section: `memory-child.ts <library> <circuits> <repeats>`.
 * Creates `circuits` named circuits (`host-0`, `host-1`, ...) `repeats` times, each time in a fresh
 * registry after a full gc, and reports the heap growth per circuit (after a full gc, the registry
 * still alive), the creation time, and the timers left active per circuit.
 * @module
 */
import { ConsecutiveBreaker, circuitBreaker, handleAll } from "cockatiel";
import CircuitBreaker from "opossum";
import { sendResult } from "./child.js";
import { fullGc } from "./gc.js";
import { loadPurgatory } from "./purgatory.js";
import { median } from "./report.js";
import { installTimerCounter } from "./timer-count.js";

export interface MemoryResult {
  readonly library: string;
  readonly circuits: number;
  readonly repeats: number;
  /** Median heap bytes per circuit. */
  readonly bytesPerCircuit: number;
  /** Median creation time of `circuits` circuits, ms. */
  readonly createMs: number;
  readonly msPer100k: number;
  /** Live timers (ref'd or not) per circuit once created. */
  readonly timersPerCircuit: number;
  readonly all: { readonly bytesPerCircuit: number; readonly createMs: number }[];
}

type Registry = { keep: unknown; dispose(): void };
type Create = (n: number) => Promise<Registry> | Registry;

const action = async (): Promise<number> => 42;
const { AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory } = await loadPurgatory();
/** The rate window of the window runs, docs/design.md's example: ten buckets of 6 s. */
const FAILURE_RATE = { rate: 0.5, minimumCalls: 20, window: 60 } as const;

/** How each library makes `n` named circuits, with its defaults (purgatory: threshold 5, ttl 30 s). */
const CREATE: Record<string, Create> = {
  "purgatory-sync": (n) => {
    const factory = new SyncCircuitBreakerFactory();
    for (let i = 0; i < n; i++) factory.getBreaker(`host-${i}`);
    return { keep: factory, dispose: () => void factory.close() };
  },
  "purgatory-async": async (n) => {
    const factory = new AsyncCircuitBreakerFactory();
    for (let i = 0; i < n; i++) await factory.getBreaker(`host-${i}`);
    return { keep: factory, dispose: () => void factory.close() };
  },
  // the factory's defaultFailureRate: circuits share the factory's config, each has its window of
  // ten buckets (windows are made at registration, see src/storage/memory.ts)
  "purgatory-async-window-default": async (n) => {
    const factory = new AsyncCircuitBreakerFactory({ defaultFailureRate: FAILURE_RATE });
    for (let i = 0; i < n; i++) await factory.getBreaker(`host-${i}`);
    return { keep: factory, dispose: () => void factory.close() };
  },
  // each circuit registered with its own failureRate: a config of its own, and its window
  "purgatory-async-window": async (n) => {
    const factory = new AsyncCircuitBreakerFactory();
    for (let i = 0; i < n; i++) await factory.getBreaker(`host-${i}`, { failureRate: FAILURE_RATE });
    return { keep: factory, dispose: () => void factory.close() };
  },
  // the same, each circuit then called once: its window has counted, and its breaker holds its
  // outcome handlers (made on a generation's first call)
  "purgatory-async-window-called": async (n) => {
    const factory = new AsyncCircuitBreakerFactory();
    for (let i = 0; i < n; i++)
      await (await factory.getBreaker(`host-${i}`, { failureRate: FAILURE_RATE })).run(action);
    return { keep: factory, dispose: () => void factory.close() };
  },
  // a cockatiel policy per name, kept in a Map, as an application would
  cockatiel: (n) => {
    const policies = new Map<string, unknown>();
    for (let i = 0; i < n; i++) {
      policies.set(
        `host-${i}`,
        circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) }),
      );
    }
    return { keep: policies, dispose: () => policies.clear() };
  },
  // an opossum breaker per name, with its defaults (it arms two intervals per breaker)
  opossum: (n) => {
    const breakers = new Map<string, CircuitBreaker>();
    for (let i = 0; i < n; i++) breakers.set(`host-${i}`, new CircuitBreaker(action));
    return {
      keep: breakers,
      dispose: () => {
        for (const breaker of breakers.values()) breaker.shutdown();
        breakers.clear();
      },
    };
  },
  // baseline: only the names, in a Map
  names: (n) => {
    const names = new Map<string, number>();
    for (let i = 0; i < n; i++) names.set(`host-${i}`, i);
    return { keep: names, dispose: () => names.clear() };
  },
};

const timers = installTimerCounter();

interface Measure {
  readonly bytesPerCircuit: number;
  readonly createMs: number;
  readonly timersPerCircuit: number;
}

/**
 * One measurement, in its own function so that nothing of the registry outlives it: a suspended
 * async function keeps its last awaited values alive, which would hide the next registry's heap.
 */
async function measure(create: Create, n: number): Promise<Measure> {
  fullGc();
  const heap0 = process.memoryUsage().heapUsed;
  const timers0 = timers.live();
  const t0 = performance.now();
  const registry = await create(n);
  const t1 = performance.now();
  fullGc();
  const heap1 = process.memoryUsage().heapUsed;
  const timersPerCircuit = (timers.live() - timers0) / n;
  if (registry.keep === null) throw new Error("unreachable: keeps the registry alive until here");
  registry.dispose();
  return { bytesPerCircuit: (heap1 - heap0) / n, createMs: t1 - t0, timersPerCircuit };
}

async function warmUp(create: Create, n: number): Promise<void> {
  (await create(n)).dispose();
}

async function main(): Promise<void> {
  const [library = "", circuitsArg = "100000", repeatsArg = "1"] = process.argv.slice(2);
  const create = CREATE[library];
  if (create === undefined) throw new Error(`unknown library ${library}; one of ${Object.keys(CREATE).join(", ")}`);
  const n = Number(circuitsArg);
  const repeats = Number(repeatsArg);

  await warmUp(create, Math.min(n, 100_000)); // let the JIT compile the creation path
  const all: Measure[] = [];
  for (let r = 0; r < repeats; r++) all.push(await measure(create, n));
  const createMs = median(all.map((a) => a.createMs));
  const result: MemoryResult = {
    library,
    circuits: n,
    repeats,
    bytesPerCircuit: median(all.map((a) => a.bytesPerCircuit)),
    createMs,
    msPer100k: (createMs / n) * 100_000,
    timersPerCircuit: Math.max(...all.map((a) => a.timersPerCircuit)),
    all: all.map(({ bytesPerCircuit, createMs }) => ({ bytesPerCircuit, createMs })),
  };
  sendResult(result);
}

await main();
