/**
 * What `purgatory top` shows, as pure functions of what it knows: the fleet's traffic (a
 * `TrafficSnapshot`), the circuits' states, whether Redis answers, the terminal's size and the sort
 * key give the lines of a screen (`renderTop`; `--json`'s object is `top-json.ts`'s). No terminal,
 * no clock, no Redis: the runner (`top.ts`) draws what these return.
 *
 * On a narrow terminal the least important columns go first (P50, PROCS, P99, REJ/S, STATE; the
 * sort key's column stays), then the circuit names are cut with an ellipsis; on a short one the
 * busiest circuits that fit are shown and a last line says how many more there are.
 *
 * About 400 lines because the columns' widths, what goes first and the sorting depend on one
 * another: one screen's layout is decided in one place.
 * @module
 */
import type { CircuitStateName } from "../core/circuit.js";
import type { CircuitTraffic, TrafficSnapshot } from "../storage/redis/traffic-watch.js";
import type { TopSort } from "./args.js";
import { byProcessName } from "../fleet/format.js";
import { safe, STATE_STYLE, visibleWidth, type Paint, type Style } from "./table.js";

/** Everything one screen of `top` is drawn from. */
export interface TopFrame {
  readonly snapshot: TrafficSnapshot;
  /** The circuits' states as the circuit feed read them (a circuit not there shows `-`). */
  readonly states: ReadonlyMap<string, CircuitStateName>;
  /** Whether Redis answers, and why not. */
  readonly redis: { readonly available: boolean; readonly error: string | null };
  readonly sort: TopSort;
  /** Columns of the terminal; `Infinity` when not drawing on one (nothing is cut). */
  readonly width: number;
  /** Rows of the terminal; `null` when not drawing on one (every circuit, up to `limit`). */
  readonly height: number | null;
  /** `--limit`: the most circuits shown; `null`: no limit but the height. */
  readonly limit: number | null;
  readonly paint: Paint;
  /** The fleet's key prefix (shown escaped) and Redis's URL (its password masked). */
  readonly prefix: string;
  readonly url: string;
  /** Whether the keys work (a terminal in raw mode): the hint line tells them, else only the sort. */
  readonly keys: boolean;
  /** No report arrived within a few seconds of starting: nobody calls (or nobody reports). */
  readonly idle: boolean;
}

/** The keys of a running `top` and the sort each one picks. */
export const SORT_KEYS: Readonly<Record<string, TopSort>> = {
  c: "calls",
  e: "errors",
  r: "rejected",
  p: "p99",
  n: "name",
};

/** What each sort key orders by, in the hint line. */
const SORT_WORDS: Readonly<Record<TopSort, string>> = {
  calls: "calls/s",
  errors: "error rate",
  rejected: "rejections/s",
  p99: "p99",
  name: "name",
};

const byName = (a: CircuitTraffic, b: CircuitTraffic): number => byProcessName(a.name, b.name);

/** How each sort key orders the circuits; ties go to the busier one, then by name. */
const COMPARE: Readonly<Record<TopSort, (a: CircuitTraffic, b: CircuitTraffic) => number>> = {
  calls: (a, b) => b.calls - a.calls || byName(a, b),
  errors: (a, b) => b.errorRate - a.errorRate || b.errors - a.errors || b.calls - a.calls || byName(a, b),
  rejected: (a, b) => b.rejected - a.rejected || b.calls - a.calls || byName(a, b),
  p99: (a, b) => (b.p99 ?? -1) - (a.p99 ?? -1) || b.calls - a.calls || byName(a, b),
  name: byName,
};

/**
 * `circuits` in the order of `sort`: `calls` busiest first, `errors` highest error rate first,
 * `rejected` most rejections a second first, `p99` slowest first (circuits without a timed call
 * last), `name` alphabetically (`api-2` before `api-10`).
 */
export function sortCircuits(circuits: readonly CircuitTraffic[], sort: TopSort): CircuitTraffic[] {
  return [...circuits].sort(COMPARE[sort]);
}

/** A rate a second: `0`, `0.5`, `12`, `340`, `1.2k`, `56k`, `3.4M`. */
export function formatRate(perSecond: number): string {
  const n = Math.max(0, perSecond);
  if (n === 0) return "0";
  if (n < 0.05) return "<0.1";
  if (n < 9.95) return trim(n.toFixed(1));
  if (n < 999.5) return String(Math.round(n));
  if (n < 9950) return `${trim((n / 1000).toFixed(1))}k`;
  if (n < 999_500) return `${Math.round(n / 1000)}k`;
  return `${trim((n / 1_000_000).toFixed(1))}M`;
}

/** A rate from 0 to 1 as a percentage: `0%`, `<0.1%`, `2.5%`, `35%`, `100%`. */
export function formatPercent(rate: number): string {
  const p = Math.max(0, rate) * 100;
  if (p === 0) return "0%";
  if (p < 0.05) return "<0.1%";
  if (p < 9.95) return `${trim(p.toFixed(1))}%`;
  return `${Math.round(p)}%`;
}

/** A latency in ms: `-` (none timed), `0.05ms`, `1.2ms`, `35ms`, `1.5s`, `100s`. */
export function formatLatency(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 0.995) return `${ms.toFixed(2)}ms`;
  if (ms < 9.95) return `${trim(ms.toFixed(1))}ms`;
  if (ms < 999.5) return `${Math.round(ms)}ms`;
  if (ms < 9950) return `${trim((ms / 1000).toFixed(1))}s`;
  return `${Math.round(ms / 1000)}s`;
}

const trim = (fixed: string): string => fixed.replace(/\.0$/, "");

/** `text` cut to `width` characters, the last one an ellipsis when anything was cut. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 0) return "";
  return `${chars.slice(0, width - 1).join("")}…`;
}

/** A cell: its text, and how to paint it once laid out. */
interface Cell {
  readonly text: string;
  readonly paint?: (text: string, paint: Paint) => string;
}

type ColumnKey = "name" | "calls" | "errors" | "rejected" | "p50" | "p99" | "state" | "procs";

interface Column {
  readonly key: ColumnKey;
  readonly title: string;
  readonly right: boolean;
  readonly cell: (c: CircuitTraffic, states: ReadonlyMap<string, CircuitStateName>) => Cell;
}

const styled =
  (style: Style | undefined) =>
  (text: string, paint: Paint): string =>
    style === undefined ? text : paint(style, text);

/** The columns, in the order they are shown. */
const COLUMNS: readonly Column[] = [
  { key: "name", title: "CIRCUIT", right: false, cell: (c) => ({ text: safe(c.name) }) },
  { key: "calls", title: "CALLS/S", right: true, cell: (c) => ({ text: formatRate(c.calls) }) },
  {
    key: "errors",
    title: "ERR %",
    right: true,
    cell: (c) => ({
      text: formatPercent(c.errorRate),
      paint: styled(c.errorRate >= 0.5 ? "red" : c.errorRate > 0 ? "yellow" : undefined),
    }),
  },
  {
    key: "rejected",
    title: "REJ/S",
    right: true,
    cell: (c) => ({ text: formatRate(c.rejected), paint: styled(c.rejected > 0 ? "yellow" : undefined) }),
  },
  { key: "p50", title: "P50", right: true, cell: (c) => ({ text: formatLatency(c.p50) }) },
  { key: "p99", title: "P99", right: true, cell: (c) => ({ text: formatLatency(c.p99) }) },
  {
    key: "state",
    title: "STATE",
    right: false,
    cell: (c, states) => {
      const state = states.get(c.name);
      return state === undefined
        ? { text: "-", paint: styled("dim") }
        : { text: state, paint: styled(STATE_STYLE[state]) };
    },
  },
  {
    key: "procs",
    title: "PROCS",
    right: false,
    cell: (c) => {
      const count = String(c.processes.length);
      const open = c.processes.filter((p) => p.openForItself).length;
      if (open === 0) return { text: count };
      const note = `${open} open`;
      return {
        text: `${count}, ${note}`,
        paint: (text, paint) => (text.endsWith(note) ? `${text.slice(0, -note.length)}${paint("red", note)}` : text),
      };
    },
  },
];

/** Which columns go first when the terminal is narrow: the last of this list first. */
const IMPORTANCE: readonly ColumnKey[] = ["calls", "errors", "state", "rejected", "p99", "procs", "p50"];

/** The column each sort key shows its order in (kept on any width). */
const SORT_COLUMN: Readonly<Record<TopSort, ColumnKey>> = {
  calls: "calls",
  errors: "errors",
  rejected: "rejected",
  p99: "p99",
  name: "name",
};

/** The narrowest the CIRCUIT column is cut to while other columns are dropped to make room. */
const MIN_NAME_WIDTH = 10;
const GAP = "  ";

/** A piece of a header line. */
interface Part {
  readonly text: string;
  readonly style?: Style;
}

/** `parts` on as few lines of at most `width` as they fit, two spaces apart (a part too wide is cut). */
function pack(parts: readonly Part[], width: number, paint: Paint): string[] {
  const lines: string[] = [];
  let line = "";
  let length = 0;
  for (const part of parts) {
    const text = truncate(part.text, width);
    const painted = part.style === undefined ? text : paint(part.style, text);
    const size = [...text].length;
    if (length > 0 && length + GAP.length + size > width) {
      lines.push(line);
      line = "";
      length = 0;
    }
    line += (length > 0 ? GAP : "") + painted;
    length += (length > 0 ? GAP.length : 0) + size;
  }
  if (length > 0) lines.push(line);
  return lines;
}

/** `text` on lines of at most `width`, broken at spaces (a word too long is cut). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    const joined = line === "" ? word : `${line} ${word}`;
    if ([...joined].length <= width || line === "") line = joined;
    else {
      lines.push(line);
      line = word;
    }
  }
  lines.push(line);
  return lines.map((l) => truncate(l, width));
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "es"}`;

/** Below this many columns the header is the compact one. */
const COMPACT_WIDTH = 80;

/**
 * The header: where, the fleet's totals and Redis's status, and the sort (with the keys). On a
 * narrow terminal, shorter: no title, no URL, no time, the keys in a word.
 */
function headerLines(frame: TopFrame): string[] {
  const { snapshot, paint, width } = frame;
  const { totals } = snapshot;
  const compact = width < COMPACT_WIDTH;
  const prefix = `prefix ${safe(JSON.stringify(frame.prefix))}`;
  const redis: Part = frame.redis.available
    ? { text: "Redis live", style: "green" }
    : { text: `Redis not answering (${frame.redis.error ?? "no answer"})`, style: "red" };
  const errorStyle = totals.errorRate >= 0.5 ? "red" : totals.errorRate > 0 ? "yellow" : undefined;
  const totalsParts: Part[] = [
    { text: `${formatRate(totals.calls)} calls/s`, style: "bold" },
    { text: `${formatPercent(totals.errorRate)} err`, ...(errorStyle === undefined ? {} : { style: errorStyle }) },
    { text: `${formatRate(totals.rejected)} rej/s`, ...(totals.rejected > 0 ? { style: "yellow" as const } : {}) },
    { text: compact ? `${snapshot.processes} procs` : `${plural(snapshot.processes, "process")} reporting` },
    redis,
  ];
  const sorted: Part = {
    text: frame.keys ? `sort: ${SORT_WORDS[frame.sort]}` : `sorted by ${SORT_WORDS[frame.sort]}`,
    style: "cyan",
  };
  const keys: Part[] = frame.keys
    ? [
        {
          text: compact ? "c e r p n: sort, q: quit" : "keys: c calls, e errors, r rejected, p p99, n name; q quits",
          style: "dim",
        },
      ]
    : [];
  if (compact)
    return [...pack([...totalsParts, { text: prefix }], width, paint), ...pack([sorted, ...keys], width, paint)];
  const time = snapshot.t === 0 ? [] : [{ text: `${new Date(snapshot.t).toISOString().slice(11, 19)} UTC` }];
  const title = pack(
    [{ text: "purgatory top", style: "bold" }, { text: `${prefix} at ${frame.url}` }, ...time],
    width,
    paint,
  );
  return [...title, ...pack(totalsParts, width, paint), ...pack([sorted, ...keys], width, paint)];
}

/** The columns shown at `width`: the sort key's and the most important ones that fit. */
function chooseColumns(widths: ReadonlyMap<ColumnKey, number>, width: number, sort: TopSort): Set<ColumnKey> {
  const chosen = new Set<ColumnKey>(["name"]);
  let used = Math.min(widths.get("name") ?? 0, MIN_NAME_WIDTH);
  const sortColumn = SORT_COLUMN[sort];
  const order = sortColumn === "name" ? IMPORTANCE : [sortColumn, ...IMPORTANCE.filter((k) => k !== sortColumn)];
  for (const key of order) {
    const added = GAP.length + (widths.get(key) ?? 0);
    if (used + added > width) break;
    chosen.add(key);
    used += added;
  }
  return chosen;
}

/**
 * The lines of one screen of `top` (no line wider than `frame.width`, no more lines than
 * `frame.height`): a header of the fleet's totals, then a table of the circuits in the order of
 * `frame.sort`. Names from Redis are shown escaped (`safe`): no control character reaches the
 * terminal.
 *
 * @example
 * ```ts
 * renderTop({ snapshot, states, redis: { available: true, error: null }, sort: "calls", width: 100,
 *   height: 30, limit: null, paint: painter(false), where: 'prefix "purgatory"', keys: true, idle: false });
 * ```
 */
export function renderTop(frame: TopFrame): string[] {
  const { snapshot, paint, width } = frame;
  const header = headerLines(frame);
  // A blank line under the header, unless the terminal is short.
  const blank = frame.height === null || frame.height >= 16 ? [""] : [];
  const room = frame.height === null ? Infinity : frame.height - header.length - blank.length - 1;
  const lines = [...header, ...blank];
  if (snapshot.t === 0 || snapshot.circuits.length === 0) {
    const said =
      snapshot.t !== 0
        ? "no calls reported lately under this prefix"
        : frame.idle
          ? "no process reports calls under this prefix (yet): processes report while top watches, if they call a circuit"
          : "waiting for the first second of reports...";
    lines.push(...wrap(said, width).map((line) => paint("dim", line)));
    return fit(lines, frame);
  }
  const sorted = sortCircuits(snapshot.circuits, frame.sort);
  const wanted = frame.limit === null ? sorted.length : Math.min(frame.limit, sorted.length);
  // When not all are shown, a last line says how many more there are: it takes a row.
  let shown = Math.min(wanted, room);
  if (shown < sorted.length) shown = Math.min(wanted, Math.max(0, room - 1));
  const circuits = sorted.slice(0, shown);
  const cells = circuits.map((c) => COLUMNS.map((column) => column.cell(c, frame.states)));
  const widths = new Map<ColumnKey, number>(
    COLUMNS.map((column, i) => [
      column.key,
      Math.max(visibleWidth(column.title), ...cells.map((row) => [...(row[i]?.text ?? "")].length)),
    ]),
  );
  const chosen = chooseColumns(widths, width, frame.sort);
  const others = COLUMNS.filter((c) => c.key !== "name" && chosen.has(c.key));
  const othersWidth = others.reduce((sum, c) => sum + GAP.length + (widths.get(c.key) ?? 0), 0);
  widths.set("name", Math.max(1, Math.min(widths.get("name") ?? 0, width - othersWidth)));
  const shownColumns = COLUMNS.map((column, i) => ({ column, i })).filter(({ column }) => chosen.has(column.key));
  const layout = (texts: readonly Cell[], title: boolean): string =>
    shownColumns
      .map(({ column, i }, at) => {
        const cell = texts[i] ?? { text: "" };
        const size = widths.get(column.key) ?? 0;
        const text = truncate(cell.text, size);
        const pad = " ".repeat(Math.max(0, size - [...text].length));
        const painted = title
          ? column.key === SORT_COLUMN[frame.sort]
            ? paint("cyan", text)
            : text
          : (cell.paint?.(text, paint) ?? text);
        if (column.right) return pad + painted;
        return at === shownColumns.length - 1 ? painted : painted + pad;
      })
      .join(GAP);
  lines.push(
    paint(
      "bold",
      layout(
        COLUMNS.map((c) => ({ text: c.title })),
        true,
      ),
    ),
  );
  for (const row of cells) lines.push(layout(row, false));
  const more = sorted.length - shown;
  if (more > 0) {
    const why = shown < wanted ? "a taller terminal shows them" : `--limit ${wanted}`;
    const said = `... and ${more} more (${why})`;
    lines.push(paint("dim", [...said].length <= width ? said : truncate(`... and ${more} more`, width)));
  }
  return fit(lines, frame);
}

/** `lines` within the frame's height (the header first) and width (cut, colours dropped, if ever wider). */
function fit(lines: readonly string[], frame: TopFrame): string[] {
  const kept = frame.height === null ? lines : lines.slice(0, Math.max(0, frame.height));
  return kept.map((line) => (visibleWidth(line) <= frame.width ? line : truncate(line.replace(ANSI, ""), frame.width)));
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
