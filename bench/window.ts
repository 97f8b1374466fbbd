/**
 * Window section: what one failure costs once N calls are in the circuit's rate window, for
 * N = 1,000 to 1,000,000, for purgatory (a `failureRate` window: ten buckets of counts) and opossum
 * (its rolling stats: by default each failure concatenates and sorts the latencies of the whole
 * window to compute percentiles; "fastest" turns the percentiles off). One fresh child process per
 * library and N (`window-child.ts`), so that no run inherits another's heap. docs/design.md,
 * "Performance targets": purgatory's failure cost is flat, at most 1.5x from N = 1k to 1M.
 * @module
 */
import { runChild } from "./child.js";
import { ns, ratio, table, verdict, type Report, type Section } from "./report.js";
import type { WindowResult } from "./window-child.js";

/** Calls in the window before the timed failures. */
const SIZES = [1_000, 10_000, 100_000, 1_000_000] as const;
/** Most a failure at N = 1M may cost over one at N = 1k. */
const MAX_GROWTH = 1.5;

interface Library {
  readonly library: string;
  readonly config: string;
  /** Whether the flatness target applies. */
  readonly target: boolean;
}

const LIBRARIES: readonly Library[] = [
  { library: "purgatory", config: "failureRate { rate: 1, window: 600 } (never trips)", target: true },
  { library: "purgatory-plain", config: "none (plain circuit: what the window adds)", target: false },
  { library: "opossum", config: "rolling stats as by default (percentiles on), 600 s window", target: false },
  { library: "opossum-fastest", config: "rollingPercentilesEnabled: false, 600 s window", target: false },
];

/** Repeats per run: fewer at 1M calls, where a fill takes up to a second and opossum's failures 100 ms each. */
const repeatsFor = (calls: number): number => (calls >= 1_000_000 ? 9 : 21);

const count = (n: number): string => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1_000}k`);

export const windowSection: Section = {
  name: "window",
  async run(report: Report): Promise<void> {
    const results: WindowResult[] = [];
    const rows: string[][] = [];
    const growth: Record<string, number> = {};
    for (const lib of LIBRARIES) {
      const byCalls = new Map<number, WindowResult>();
      for (const calls of SIZES) {
        report.progress(`window: ${lib.library}, ${calls.toLocaleString("en-US")} calls in the window`);
        const { result } = await runChild<WindowResult>(
          "window-child.ts",
          [lib.library, String(calls), String(repeatsFor(calls))],
          300_000,
        );
        results.push(result);
        byCalls.set(calls, result);
      }
      const at = (calls: number): WindowResult => byCalls.get(calls) as WindowResult;
      const g = at(1_000_000).nsPerFailure / at(1_000).nsPerFailure;
      growth[lib.library] = g;
      rows.push([
        lib.library,
        lib.config,
        ...SIZES.map((calls) => {
          const r = at(calls);
          return `${ns(r.nsPerFailure)} (+${ns(Math.max(0, r.nsPerFailure - r.bareNsPerFailure))})`;
        }),
        ratio(g),
        lib.target ? `<= ${ratio(MAX_GROWTH)}` : "",
        lib.target ? verdict(g <= MAX_GROWTH) : "",
      ]);
    }
    const purgatory = growth.purgatory ?? NaN;
    report.target({
      id: "window.failure-flat",
      label: "failure cost with 1M calls in the rate window / with 1k (flat)",
      goal: `<= ${ratio(MAX_GROWTH)}`,
      measured: `${ratio(purgatory)} (opossum ${ratio(growth.opossum ?? NaN)}, at its fastest ${ratio(growth["opossum-fastest"] ?? NaN)})`,
      pass: purgatory <= MAX_GROWTH,
    });

    const bare = results.map((r) => r.bareNsPerFailure).sort((a, b) => a - b);
    report.print("Window: ns per failure once N calls are in the circuit's rate window (N successes, then failures);");
    report.print("in brackets, over a bare failing call timed the same way in the same process. One fresh process per");
    report.print(
      "cell; each repeat a fresh circuit; 100 failures timed per repeat (fewer past 100 ms); median of repeats.",
    );
    report.print();
    report.print(
      table(
        ["library", "rolling window", ...SIZES.map((n) => `N = ${count(n)}`), "1M / 1k", "target", "result"],
        rows,
        "llrrrrrll",
      ),
    );
    report.print();
    report.print(
      `A bare failing call (a fresh Error) measured ${ns(bare[0] ?? NaN)} to ${ns(bare[bare.length - 1] ?? NaN)} ns across the processes.`,
    );
    report.print("This section is about growth with N: the bracketed overheads come from a short loop on a fresh");
    report.print(
      "circuit after a gc and run higher than the latency section's failure row, which sets the failure target.",
    );
    report.print(
      "opossum: timeout false, enableSnapshots false, errorThresholdPercentage 100 (never opens), otherwise",
    );
    report.print("its defaults; its window stretched to 600 s like purgatory's so that every call stays in it. The");
    report.print(
      "guarded function settles at once, so opossum sorts latencies that are all 0 or 1 ms, its cheapest sort.",
    );
    report.sections.window = { sizes: SIZES, maxGrowth: MAX_GROWTH, growth, runs: results };
  },
};
