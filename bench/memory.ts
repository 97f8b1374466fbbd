/**
 * Memory section: heap bytes per circuit and creation time for 100,000 and 1,000,000 named circuits,
 * each measured in a fresh child process (`memory-child.ts`), for purgatory's sync and async
 * factories, cockatiel and opossum (fewer: it arms two timers per breaker), and a baseline of the
 * names alone in a Map.
 * @module
 */
import { runChild } from "./child.js";
import type { MemoryResult } from "./memory-child.js";
import { ns, table, verdict, type Report, type Section } from "./report.js";

const MAX_BYTES = 400;
const MAX_MS_PER_100K = 150;

interface Run {
  readonly library: string;
  readonly registry: string;
  readonly circuits: number;
  readonly repeats: number;
  /** Whether the targets apply: bytes for purgatory, creation time for its 100k runs. */
  readonly bytesTarget: boolean;
  readonly timeTarget: boolean;
}

const RUNS: readonly Run[] = [
  { library: "purgatory-sync", registry: "SyncCircuitBreakerFactory.getBreaker", circuits: 100_000, repeats: 7, bytesTarget: true, timeTarget: true },
  { library: "purgatory-sync", registry: "SyncCircuitBreakerFactory.getBreaker", circuits: 1_000_000, repeats: 1, bytesTarget: true, timeTarget: false },
  { library: "purgatory-async", registry: "await AsyncCircuitBreakerFactory.getBreaker", circuits: 100_000, repeats: 7, bytesTarget: true, timeTarget: true },
  { library: "purgatory-async", registry: "await AsyncCircuitBreakerFactory.getBreaker", circuits: 1_000_000, repeats: 1, bytesTarget: true, timeTarget: false },
  { library: "cockatiel", registry: "Map of circuitBreaker(ConsecutiveBreaker)", circuits: 100_000, repeats: 3, bytesTarget: false, timeTarget: false },
  { library: "opossum", registry: "Map of new CircuitBreaker (defaults)", circuits: 10_000, repeats: 3, bytesTarget: false, timeTarget: false },
  { library: "names", registry: "baseline: Map of the names only", circuits: 100_000, repeats: 3, bytesTarget: false, timeTarget: false },
  { library: "names", registry: "baseline: Map of the names only", circuits: 1_000_000, repeats: 1, bytesTarget: false, timeTarget: false },
];

export const memorySection: Section = {
  name: "memory",
  async run(report: Report): Promise<void> {
    const rows: string[][] = [];
    const results: (MemoryResult & { registry: string })[] = [];
    let worstBytes = { value: 0, where: "" };
    let worstMs = { value: 0, where: "" };
    for (const run of RUNS) {
      report.progress(`memory: ${run.library}, ${run.circuits.toLocaleString("en-US")} circuits`);
      const { result } = await runChild<MemoryResult>("memory-child.ts", [run.library, String(run.circuits), String(run.repeats)]);
      results.push({ ...result, registry: run.registry });
      const where = `${run.library} ${run.circuits.toLocaleString("en-US")}`;
      const checks: boolean[] = [];
      const goals: string[] = [];
      if (run.bytesTarget) {
        goals.push(`<= ${MAX_BYTES} B`);
        checks.push(result.bytesPerCircuit <= MAX_BYTES);
        if (result.bytesPerCircuit > worstBytes.value) worstBytes = { value: result.bytesPerCircuit, where };
      }
      if (run.timeTarget) {
        goals.push(`<= ${MAX_MS_PER_100K} ms`);
        checks.push(result.msPer100k <= MAX_MS_PER_100K);
        if (result.msPer100k > worstMs.value) worstMs = { value: result.msPer100k, where };
      }
      if (run.library.startsWith("purgatory")) {
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
        String(result.timersPerCircuit),
        goals.join(", "),
        checks.length === 0 ? "" : verdict(checks.every(Boolean)),
      ]);
    }
    const purgatoryTimers = results.filter((r) => r.library.startsWith("purgatory"));
    report.target({
      id: "memory.bytes-per-circuit",
      label: "heap bytes per circuit (worst purgatory run)",
      goal: `<= ${MAX_BYTES}`,
      measured: `${worstBytes.value.toFixed(0)} (${worstBytes.where})`,
      pass: worstBytes.value <= MAX_BYTES,
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
        ["library", "how circuits are made (names host-0, host-1, ...)", "circuits", "heap B/circuit", "create ms", "ms per 100k", "timers/circuit", "target", "result"],
        rows,
        "llrrrrrll",
      ),
    );
    report.print();
    report.print("Heap per circuit includes its name string (see the names baseline). The create-time target");
    report.print("applies to the 100k rows; the 1M rows' ms per 100k includes old-generation gc of a large heap.");
    report.sections.memory = { targets: { maxBytesPerCircuit: MAX_BYTES, maxMsPer100k: MAX_MS_PER_100K }, runs: results };
  },
};
