/**
 * Timers section: no timer per call or per circuit, and a process that exits by itself after
 * `close()`. Each library runs in a fresh child process (`timers-child.ts`) whose timer functions
 * are wrapped to count every timer created.
 * @module
 */
import { runChild } from "./child.js";
import { table, verdict, type Report, type Section } from "./report.js";
import type { TimersResult } from "./timers-child.js";

const RUNS = [
  { library: "purgatory", circuits: 100_000 },
  { library: "cockatiel", circuits: 10_000 },
  { library: "opossum", circuits: 10_000 },
] as const;

export const timersSection: Section = {
  name: "timers",
  async run(report: Report): Promise<void> {
    const rows: string[][] = [];
    const results: (TimersResult & { exitedByItself: boolean })[] = [];
    for (const run of RUNS) {
      report.progress(`timers: ${run.library}, ${run.circuits.toLocaleString("en-US")} circuits`);
      const { result, exitedByItself } = await runChild<TimersResult>(
        "timers-child.ts",
        [run.library, String(run.circuits)],
        60_000,
      );
      results.push({ ...result, exitedByItself });
      const isPurgatory = run.library === "purgatory";
      const pass = result.created === 0 && result.liveAfterCalls === 0 && result.liveAfterClose === 0 && exitedByItself;
      rows.push([
        run.library,
        result.circuits.toLocaleString("en-US"),
        result.calls.toLocaleString("en-US"),
        result.created.toLocaleString("en-US"),
        (result.created / result.calls).toFixed(2),
        result.liveAfterCalls.toLocaleString("en-US"),
        result.liveAfterClose.toLocaleString("en-US"),
        exitedByItself ? "yes" : "NO",
        isPurgatory ? "0 timers, exits" : "",
        isPurgatory ? verdict(pass) : "",
      ]);
      if (isPurgatory) {
        report.target({
          id: "timers.per-call",
          label: "timers created while creating and calling circuits (all paths)",
          goal: "0",
          measured: `${result.created} created, ${result.liveAfterCalls} live, over ${result.calls.toLocaleString("en-US")} calls`,
          pass: result.created === 0 && result.liveAfterCalls === 0,
        });
        report.target({
          id: "timers.exit-after-close",
          label: "process exits by itself after close()",
          goal: "yes",
          measured: exitedByItself && result.activeAfterClose === 0 ? "yes" : "no",
          pass: exitedByItself && result.activeAfterClose === 0 && result.liveAfterClose === 0,
        });
      }
    }
    report.print("Timers: every timer created (setTimeout/setInterval/setImmediate, ref'd or not) while creating");
    report.print("circuits and calling them: successes, failures that open, rejections, probes (purgatory, via its");
    report.print("clock option), idle forgetting, one-liners, decorators. Peers with their defaults.");
    report.print();
    report.print(
      table(
        [
          "library",
          "circuits",
          "calls",
          "timers created",
          "per call",
          "live after calls",
          "live after close",
          "exited by itself",
          "target",
          "result",
        ],
        rows,
        "lrrrrrrlll",
      ),
    );
    report.sections.timers = { runs: results };
  },
};
