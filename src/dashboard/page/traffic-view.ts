/**
 * What the page shows of the fleet's traffic, as plain data (like `view.ts`): a card's numbers
 * (calls/s, error rate, rejected/s, p50 / p99) above their sparklines, the per-process breakdown
 * with the failing process marked, the fleet's totals, and the order and filter of the cards. The
 * sparklines themselves are drawn by `charts.ts` (uPlot) from `sparkData`.
 * @module
 */
import type { CircuitInfo } from "../../storage/redis/inspect.js";
import type { LatestCircuit, LatestProcess } from "../traffic-wire.js";
import { HISTORY_SECONDS, type Series, type Totals, type TrafficStore } from "./traffic.js";
import { byConcern, h, type VNode } from "./view.js";

/** Whether the dashboard watches the traffic, as the server says (`traffic-status`). */
export interface TrafficStatusView {
  /**
   * `idle`: nobody looks (no page, no API read); `starting`: announced, the processes report from
   * the next second; `on`; `failed`: the watch could not start (`error` says why; it tries again);
   * `unsupported`: this dashboard has no traffic to show.
   */
  readonly state: "idle" | "starting" | "on" | "failed" | "unsupported";
  readonly error: string | null;
}

/** A rate a second: `0`, `2.5`, `48`, `1200`, `12.3k`. */
export function formatRate(perSecond: number): string {
  if (perSecond >= 10_000) return `${Math.round(perSecond / 100) / 10}k`;
  if (perSecond >= 10) return String(Math.round(perSecond));
  return String(Math.round(perSecond * 10) / 10);
}

/** An error rate (0 to 1): `0%`, `4.1%`, `100%`. */
export const formatPercent = (rate: number): string => `${Math.round(rate * 1000) / 10}%`;

/** A latency: `18µs`, `1.2ms`, `140ms`, `2.4s`; `–` for none. */
export function formatLatency(ms: number | null): string {
  if (ms === null) return "–";
  const two = (n: number): string => (n >= 100 ? String(Math.round(n)) : String(Number(n.toPrecision(2))));
  if (ms < 1) return `${two(ms * 1000)}µs`;
  if (ms < 1000) return `${two(ms)}ms`;
  return `${two(ms / 1000)}s`;
}

/** The metrics of a card, in the order of their cells. */
export const METRICS = ["calls", "errors", "rejected", "latency"] as const;
export type Metric = (typeof METRICS)[number];

/** One number of a card, above its sparkline. */
export interface TrafficCell {
  readonly metric: Metric;
  readonly label: string;
  readonly value: string;
  /** `bad` for errors or rejections, else `""`. */
  readonly tone: "" | "bad";
}

/** A card's numbers for its latest second (`undefined`: no call in it, every number 0). */
export function trafficCells(latest: LatestCircuit | undefined): TrafficCell[] {
  const c = latest ?? { calls: 0, errors: 0, rejected: 0, errorRate: 0, p50: null, p99: null };
  return [
    { metric: "calls", label: "calls/s", value: formatRate(c.calls), tone: "" },
    {
      metric: "errors",
      label: "errors",
      value: `${formatPercent(c.errorRate)}${c.errors > 0 ? ` · ${formatRate(c.errors)}/s` : ""}`,
      tone: c.errors > 0 ? "bad" : "",
    },
    { metric: "rejected", label: "rejected/s", value: formatRate(c.rejected), tone: c.rejected > 0 ? "bad" : "" },
    { metric: "latency", label: "p50 / p99", value: `${formatLatency(c.p50)} / ${formatLatency(c.p99)}`, tone: "" },
  ];
}

/** A cell's head: its label and value. */
export function cellHead(cell: TrafficCell): VNode[] {
  return [
    h("span", { cls: "label", text: cell.label }),
    h("span", { cls: `value num${cell.tone === "" ? "" : ` ${cell.tone}`}`, text: cell.value }),
  ];
}

/**
 * A card's traffic block, drawn once per card (its numbers, sparklines and breakdown are then
 * updated in place every second): a cell per metric (head, and a `.chart` for the sparkline), the
 * line said when the circuit had no call, and the breakdown by process (a `<details>`).
 */
export function trafficSkeleton(name: string): VNode {
  return h("div", { cls: "traffic", data: { traffic: name } }, [
    h(
      "div",
      { cls: "sparks" },
      trafficCells(undefined).map((cell) =>
        h("div", { cls: "spark", data: { metric: cell.metric } }, [
          h("div", { cls: "head" }, cellHead(cell)),
          h("div", { cls: "chart" }),
        ]),
      ),
    ),
    h("p", { cls: "quiet", text: "" }),
    h("details", { cls: "processes" }, [h("summary", { text: "" }), h("div", { cls: "procs" })]),
  ]);
}

/** The line of a card without calls to show, or `null` when it has some. */
export function quietText(status: TrafficStatusView, hasHistory: boolean): string | null {
  switch (status.state) {
    case "unsupported":
      return "traffic: not available from this dashboard";
    case "failed":
      return `traffic: cannot watch (${status.error ?? "unknown error"})`;
    case "idle":
    case "starting":
      return hasHistory ? null : "traffic: processes report from the next second";
    case "on":
      return hasHistory ? null : "no calls in the last 5 min";
  }
}

/** The processes with the highest error rate, when it is above 0: the ones to look at. */
export function worstProcesses(latest: LatestCircuit): string[] {
  const highest = Math.max(0, ...latest.processes.map((p) => p.errorRate));
  if (highest === 0) return [];
  return latest.processes.filter((p) => p.errorRate === highest).map((p) => p.process);
}

/** The breakdown by process: its summary line and its table (`null` without a process). */
export function processesView(latest: LatestCircuit | undefined): { summary: string; table: VNode | null } {
  if (latest === undefined || latest.processCount === 0)
    return { summary: "no process called it in the latest second", table: null };
  const count = latest.processCount;
  const worst = worstProcesses(latest);
  const open = latest.processes.filter((p) => p.openForItself);
  const parts = [`${count} ${count === 1 ? "process" : "processes"}`];
  const first = latest.processes.find((p) => p.process === worst[0]);
  if (first !== undefined) {
    const more = worst.length > 1 ? ` (and ${worst.length - 1} more)` : "";
    parts.push(`${first.process} ${formatPercent(first.errorRate)} errors${more}`);
  } else parts.push("none failing");
  if (open.length > 0) parts.push(`${open.length} open for itself`);
  const rows = latest.processes.map((p) => processRow(p, worst.includes(p.process)));
  const hidden = count - latest.processes.length;
  const table = h("table", { cls: "procs-table" }, [
    h("thead", {}, [
      h(
        "tr",
        {},
        ["process", "calls/s", "errors", "rejected/s", "p99"].map((text) => h("th", { text })),
      ),
    ]),
    h("tbody", {}, rows),
    hidden > 0 &&
      h("tfoot", {}, [
        h("tr", {}, [
          h("td", {
            text: `and ${hidden} quieter ${hidden === 1 ? "process" : "processes"}`,
            attrs: { colspan: "5" },
          }),
        ]),
      ]),
  ]);
  return { summary: parts.join(" · "), table };
}

function processRow(p: LatestProcess, worst: boolean): VNode {
  const cls = [worst ? "worst" : "", p.openForItself ? "open-itself" : ""].filter((c) => c !== "").join(" ");
  return h("tr", { ...(cls === "" ? {} : { cls }), data: { process: p.process } }, [
    h("td", { cls: "who", attrs: { title: p.process } }, [
      h("span", { cls: "pname", text: p.process }),
      p.openForItself &&
        h("span", {
          cls: "tag",
          text: "open for itself",
          attrs: { title: "this process opened the circuit for itself: the fleet's quorum is not met" },
        }),
    ]),
    h("td", { cls: "num", text: formatRate(p.calls) }),
    h("td", { cls: `num${p.errorRate > 0 ? " bad" : ""}`, text: formatPercent(p.errorRate) }),
    h("td", { cls: `num${p.rejected > 0 ? " bad" : ""}`, text: formatRate(p.rejected) }),
    h("td", { cls: "num", text: formatLatency(p.p99) }),
  ]);
}

/** The fleet's totals above the cards: calls/s, error rate, rejected/s, processes reporting. */
export function totalsView(totals: Totals): VNode[] {
  const chip = (key: string, label: string, value: string, tone = "") =>
    h("div", { cls: `total${tone === "" ? "" : ` ${tone}`}`, data: { total: key } }, [
      h("span", { cls: "label", text: label }),
      h("b", { cls: "num", text: value }),
    ]);
  return [
    chip("calls", "calls/s", formatRate(totals.calls)),
    chip("errors", "errors", formatPercent(totals.errorRate), totals.errors > 0 ? "bad" : ""),
    chip("rejected", "rejected/s", formatRate(totals.rejected), totals.rejected > 0 ? "bad" : ""),
    chip("processes", "processes reporting", String(totals.processes)),
  ];
}

/** What the totals' line says of the watch itself. */
export function trafficNote(status: TrafficStatusView, cut: number): string {
  switch (status.state) {
    case "unsupported":
      return "traffic: not available";
    case "failed":
      return `traffic: cannot watch (${status.error ?? "unknown error"}); trying again`;
    case "idle":
    case "starting":
      return "traffic: asking the processes to report (they do only while a page is open)";
    case "on":
      return cut > 0
        ? `live, one point a second · ${cut} quieter circuits with calls left out this second`
        : "live, one point a second · the processes report only while a page is open";
  }
}

/** How the cards are ordered. */
export type SortMode = "concern" | "traffic" | "errors" | "name";

export const SORT_MODES: readonly (readonly [SortMode, string])[] = [
  ["concern", "concern (state)"],
  ["traffic", "traffic (calls/s, last 10 s)"],
  ["errors", "error rate (last 10 s)"],
  ["name", "name"],
];

const byName = (a: CircuitInfo, b: CircuitInfo): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Whether a circuit's name matches the search (any part of it, case ignored; empty: all). */
export function matches(name: string, query: string): boolean {
  const q = query.trim().toLowerCase();
  return q === "" || name.toLowerCase().includes(q);
}

/**
 * The circuits to show, in order: those whose name matches `query`, sorted by `mode` (traffic and
 * error rate over the last 10 s, the state's concern then the name to break ties).
 */
export function orderOf(
  circuits: Iterable<CircuitInfo>,
  mode: SortMode,
  traffic: Pick<TrafficStore, "recent">,
  query = "",
): CircuitInfo[] {
  const shown: CircuitInfo[] = [];
  for (const info of circuits) if (matches(info.name, query)) shown.push(info);
  if (mode === "concern") return shown.sort(byConcern);
  if (mode === "name") return shown.sort(byName);
  const keys = new Map(shown.map((info) => [info.name, traffic.recent(info.name)]));
  const key = (info: CircuitInfo) => keys.get(info.name) ?? { calls: 0, errorRate: 0, errors: 0 };
  if (mode === "traffic") return shown.sort((a, b) => key(b).calls - key(a).calls || byConcern(a, b));
  return shown.sort(
    (a, b) =>
      key(b).errorRate - key(a).errorRate ||
      key(b).errors - key(a).errors ||
      key(b).calls - key(a).calls ||
      byConcern(a, b),
  );
}

/**
 * The seconds every sparkline spans: the history the page holds (so that its first seconds are not
 * a dot at the right end), at least 20, at most `HISTORY_SECONDS`.
 */
export const sparkSpan = (points: number): number => Math.min(HISTORY_SECONDS, Math.max(20, points));

/**
 * The data of a card's sparklines (uPlot's: x values, then each line's), one point a second, x in
 * seconds before the latest (so every card's sparklines line up, over `sparkSpan`):
 * calls/s; error rate in %; rejected/s; p50 and p99 in ms (`null`: no timed call that second).
 */
export function sparkData(series: Series, metric: Metric): [number[], ...(number | null)[][]] {
  const n = series.calls.length;
  const x = Array.from({ length: n }, (_, i) => i - (n - 1));
  switch (metric) {
    case "calls":
      return [x, series.calls];
    case "errors":
      return [x, series.errorRate.map((r) => Math.round(r * 1000) / 10)];
    case "rejected":
      return [x, series.rejected];
    case "latency":
      return [x, series.p50, series.p99];
  }
}
