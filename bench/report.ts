/**
 * What the sections share: the `Section` shape, the `Report` they fill in, and table formatting.
 * @module
 */

/** One part of the benchmark. `bench/index.ts` runs the sections in order. */
export interface Section {
  readonly name: string;
  /**
   * Other words that select it on the command line besides its name (`npm run bench -- quorum`
   * runs every section whose name or alias is `quorum`).
   */
  readonly aliases?: readonly string[];
  run(report: Report): Promise<void>;
}

/** One target of docs/design.md, "Performance targets", as measured in this run. */
export interface TargetResult {
  /** Stable id, e.g. `latency.success`. */
  readonly id: string;
  /** What is measured, in words. */
  readonly label: string;
  /** The goal, e.g. `<= 1.80x`. */
  readonly goal: string;
  /** The measured figure, formatted. */
  readonly measured: string;
  readonly pass: boolean;
}

/** Collects tables, targets and machine-readable figures from every section. */
export class Report {
  readonly targets: TargetResult[] = [];
  /** Machine-readable figures by section name, written to `bench/results.json`. */
  readonly sections: Record<string, unknown> = {};
  /** Problems that are not target misses (a section that failed, an unexpected state). */
  readonly problems: string[] = [];

  target(result: TargetResult): TargetResult {
    this.targets.push(result);
    return result;
  }

  print(text = ""): void {
    process.stdout.write(`${text}\n`);
  }

  /** Prints a progress line on stderr, so stdout holds only the report. */
  progress(text: string): void {
    process.stderr.write(`  .. ${text}\n`);
  }
}

/** A markdown table with padded columns; `align` is "l" or "r" per column (default "r" but the first). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], align?: string): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const alignOf = (i: number): string => align?.[i] ?? (i === 0 ? "l" : "r");
  const cell = (text: string, i: number): string =>
    alignOf(i) === "l" ? text.padEnd(widths[i] ?? 0) : text.padStart(widths[i] ?? 0);
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => cell(c, i)).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (alignOf(i) === "l" ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(headers), rule, ...rows.map((r) => line(headers.map((_, i) => r[i] ?? "")))].join("\n");
}

/** Nanoseconds, 1 decimal below 1,000. */
export function ns(value: number): string {
  return value < 1000 ? value.toFixed(1) : Math.round(value).toLocaleString("en-US");
}

/** A ratio such as `1.72x`. */
export function ratio(value: number): string {
  return `${value.toFixed(2)}x`;
}

/** `PASS` or `MISS`. */
export function verdict(pass: boolean): string {
  return pass ? "PASS" : "MISS";
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The nearest-rank percentile `p` (0 to 100) of a non-empty list sorted in ascending order. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
