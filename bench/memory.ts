/**
 * Memory section: heap bytes per circuit and creation time for 100,000 and 1,000,000 named circuits,
 * each measured in a fresh child process (`memory-child.ts`), for purgatory's sync and async
 * factories (also with a `failureRate` window per circuit, registered, then called once), cockatiel
 * and opossum (fewer: it arms two timers per breaker), and a baseline of the names alone in a Map.
 * @module
 */
import { runChild } from "./child.js";
import type { MemoryResult } from "./memory-child.js";
import { ns, table, verdict, type Report, type Section } from "./report.js";

const MAX_BYTES = 400;
/** A circuit with a rate window: its config, ten buckets of three counts, its outcome handlers. */
const MAX_WINDOW_BYTES = 1024;
const MAX_MS_PER_100K = 150;

interface Run {
  readonly library: string;
  readonly registry: string;
  readonly circuits: number;
  readonly repeats: number;
  /** Whether the targets apply: bytes for purgatory, creation time for its 100k runs. */
  readonly bytesTarget: boolean;
  readonly timeTarget: boolean;
  /** The bytes target of circuits with a rate window instead. */
  readonly windowBytesTarget?: boolean;
  /**
   * Calls were made: the process may hold the one shared coarse clock (a timer for the process,
   * src/coarse-clock.ts), so "no timer per circuit" is checked as at most one in all.
   */
  readonly called?: boolean;
}

const RUNS: readonly Run[] = [
  {
    library: "purgatory-sync",
    registry: "SyncCircuitBreakerFactory.getBreaker",
    circuits: 100_000,
    repeats: 7,
    bytesTarget: true,
    timeTarget: true,
  },
  {
    library: "purgatory-sync",
    registry: "SyncCircuitBreakerFactory.getBreaker",
    circuits: 1_000_000,
    repeats: 1,
    bytesTarget: true,
    timeTarget: false,
  },
  {
    library: "purgatory-async",
    registry: "await AsyncCircuitBreakerFactory.getBreaker",
    circuits: 100_000,
    repeats: 7,
    bytesTarget: true,
    timeTarget: true,
  },
  {
    library: "purgatory-async",
    registry: "await AsyncCircuitBreakerFactory.getBreaker",
    circuits: 1_000_000,
    repeats: 1,
    bytesTarget: true,
    timeTarget: false,
  },
  {
    library: "purgatory-async-window-default",
    registry: "factory { defaultFailureRate }, await getBreaker(name)",
    circuits: 100_000,
    repeats: 7,
    bytesTarget: false,
    timeTarget: false,
    windowBytesTarget: true,
  },
  {
    library: "purgatory-async-window",
    registry: "await getBreaker(name, { failureRate })",
    circuits: 100_000,
    repeats: 7,
    bytesTarget: false,
    timeTarget: false,
    windowBytesTarget: true,
  },
  {
    library: "purgatory-async-window-called",
    registry: "... then one breaker.run(fn) each",
    circuits: 100_000,
    repeats: 7,
    bytesTarget: false,
    timeTarget: false,
    windowBytesTarget: true,
    called: true,
  },
  {
    library: "cockatiel",
    registry: "Map of circuitBreaker(ConsecutiveBreaker)",
    circuits: 100_000,
    repeats: 3,
    bytesTarget: false,
    timeTarget: false,
  },
  {
    library: "opossum",
    registry: "Map of new CircuitBreaker (defaults)",
    circuits: 10_000,
    repeats: 3,
    bytesTarget: false,
    timeTarget: false,
  },
  {
    library: "names",
    registry: "baseline: Map of the names only",
    circuits: 100_000,
    repeats: 3,
    bytesTarget: false,
    timeTarget: false,
  },
  {
    library: "names",
    registry: "baseline: Map of the names only",
    circuits: 1_000_000,
    repeats: 1,
    bytesTarget: false,
    timeTarget: false,
  },
];

export const memorySection: Section = {
  name: "memory",
  async run(report: Report): Promise<void> {
    const rows: string[][] = [];
    const results: (MemoryResult & { registry: string })[] = [];
    let worstBytes = { value: 0, where: "" };
    let worstWindowBytes = { value: 0, where: "" };
    let worstMs = { value: 0, where: "" };
    for (const run of RUNS) {
      report.progress(`memory: ${run.library}, ${run.circuits.toLocaleString("en-US")} circuits`);
      const { result } = await runChild<MemoryResult>("memory-child.ts", [
        run.library,
        String(run.circuits),
        String(run.repeats),
      ]);
      results.push({ ...result, registry: run.registry });
      const where = `${run.library} ${run.circuits.toLocaleString("en-US")}`;
      const checks: boolean[] = [];
      const goals: string[] = [];
      if (run.bytesTarget) {
        goals.push(`<= ${MAX_BYTES} B`);
        checks.push(result.bytesPerCircuit <= MAX_BYTES);
        if (result.bytesPerCircuit > worstBytes.value) worstBytes = { value: result.bytesPerCircuit, where };
      }
      if (run.windowBytesTarget === true) {
        goals.push(`<= ${MAX_WINDOW_BYTES} B`);
        checks.push(result.bytesPerCircuit <= MAX_WINDOW_BYTES);
        if (result.bytesPerCircuit > worstWindowBytes.value)
          worstWindowBytes = { value: result.bytesPerCircuit, where };
      }
      if (run.timeTarget) {
        goals.push(`<= ${MAX_MS_PER_100K} ms`);
        checks.push(result.msPer100k <= MAX_MS_PER_100K);
        if (result.msPer100k > worstMs.value) worstMs = { value: result.msPer100k, where };
      }
      if (run.called === true) {
        goals.push("<= 1 timer in all");
        checks.push(Math.round(result.timersPerCircuit * run.circuits) <= 1);
      } else if (run.library.startsWith("purgatory")) {
        goals.push("0 timers");
        checks.push(result.timersPerCircuit === 0);
      }
      rows.push([
        run.library,
        run.registry,
        run.circuits.toLocaleString("en-US"),
        result.bytesPerCircuit.toFixed(0),
        ns(result.createMs),
        ns(result.msPer100k),
        run.called === true
          ? `${Math.round(result.timersPerCircuit * run.circuits)} in all`
          : String(result.timersPerCircuit),
        goals.join(", "),
        checks.length === 0 ? "" : verdict(checks.every(Boolean)),
      ]);
    }
    const called = new Set(RUNS.filter((r) => r.called === true).map((r) => r.library));
    const purgatoryTimers = results.filter((r) => r.library.startsWith("purgatory") && !called.has(r.library));
    report.target({
      id: "memory.bytes-per-circuit",
      label: "heap bytes per circuit (worst purgatory run)",
      goal: `<= ${MAX_BYTES}`,
      measured: `${worstBytes.value.toFixed(0)} (${worstBytes.where})`,
      pass: worstBytes.value <= MAX_BYTES,
    });
    report.target({
      id: "memory.bytes-per-circuit-window",
      label: "heap bytes per circuit with a failureRate window (worst run)",
      goal: `<= ${MAX_WINDOW_BYTES}`,
      measured: `${worstWindowBytes.value.toFixed(0)} (${worstWindowBytes.where})`,
      pass: worstWindowBytes.value <= MAX_WINDOW_BYTES,
    });
    report.target({
      id: "memory.create-100k",
      label: "time to create 100,000 circuits (slower factory)",
      goal: `<= ${MAX_MS_PER_100K} ms`,
      measured: `${worstMs.value.toFixed(0)} ms (${worstMs.where})`,
      pass: worstMs.value <= MAX_MS_PER_100K,
    });
    report.target({
      id: "memory.timers-per-circuit",
      label: "timers per circuit",
      goal: "0",
      measured: String(Math.max(...purgatoryTimers.map((r) => r.timersPerCircuit))),
      pass: purgatoryTimers.every((r) => r.timersPerCircuit === 0),
    });

    report.print("Memory: heap growth per circuit after a full gc (registry alive), and creation time;");
    report.print("one fresh process per row, after a warm-up run of up to 100,000 circuits; median of the repeats.");
    report.print();
    report.print(
      table(
        [
          "library",
          "how circuits are made (names host-0, host-1, ...)",
          "circuits",
          "heap B/circuit",
          "create ms",
          "ms per 100k",
          "timers/circuit",
          "target",
          "result",
        ],
        rows,
        "llrrrrrll",
      ),
    );
    report.print();
    report.print("Heap per circuit includes its name string (see the names baseline). The create-time target");
    report.print("applies to the 100k rows; the 1M rows' ms per 100k includes old-generation gc of a large heap.");
    report.print("Window rows: failureRate { rate: 0.5, minimumCalls: 20, window: 60 }, a window of ten buckets per");
    report.print("circuit; from the factory's default (one shared config) or per registration (a config per circuit);");
    report.print("the called row also holds the outcome handlers of one call, and its create time includes the call.");
    report.print("Calls start the process's one coarse clock (a timer for the process, none per circuit).");
    report.sections.memory = {
      targets: {
        maxBytesPerCircuit: MAX_BYTES,
        maxWindowBytesPerCircuit: MAX_WINDOW_BYTES,
        maxMsPer100k: MAX_MS_PER_100K,
      },
      runs: results,
    };
  },
};
