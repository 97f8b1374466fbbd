/**
 * What `purgatory top` draws, without a terminal: `renderTop` and `topJson` are pure functions of
 * a traffic snapshot, the circuits' states, the terminal's size and the sort key. Sorting by each
 * key, the columns and names on a narrow terminal, a short terminal, colours and NO_COLOR, and
 * names with control characters in them.
 */
import { describe, expect, it } from "vitest";
import type { CircuitStateName } from "../../src/core/circuit.js";
import type { CircuitTraffic, ProcessTraffic, TrafficSnapshot } from "../../src/storage/redis/traffic-watch.js";
import type { TopSort } from "../../src/cli/args.js";
import { painter, visibleWidth } from "../../src/cli/table.js";
import { topJson } from "../../src/cli/top-json.js";
import {
  formatLatency,
  formatPercent,
  formatRate,
  renderTop,
  sortCircuits,
  truncate,
  type TopFrame,
} from "../../src/cli/top-view.js";

const T = Date.UTC(2026, 0, 2, 3, 4, 5);

function proc(process: string, calls: number, openForItself = false): ProcessTraffic {
  return { t: T, process, calls, errors: 0, rejected: 0, errorRate: 0, p50: 1, p99: 2, openForItself };
}

function circuit(name: string, fields: Partial<Omit<CircuitTraffic, "name">> = {}): CircuitTraffic {
  return {
    t: T,
    name,
    calls: 0,
    errors: 0,
    rejected: 0,
    errorRate: 0,
    p50: null,
    p99: null,
    processes: [],
    history: [],
    ...fields,
  };
}

/** A fleet of five circuits, each first by one sort key. */
const CIRCUITS: readonly CircuitTraffic[] = [
  circuit("payments", {
    calls: 120,
    errors: 6,
    errorRate: 0.05,
    p50: 4.2,
    p99: 35,
    processes: [proc("web-1", 80), proc("web-2", 40)],
  }),
  circuit("search", { calls: 40, errors: 30, errorRate: 0.75, p50: 12, p99: 90, processes: [proc("web-1", 40)] }),
  circuit("inventory", { calls: 12, rejected: 12, p50: 0.011, p99: 0.011, processes: [proc("web-2", 12)] }),
  circuit("reports", {
    calls: 2,
    errors: 1,
    errorRate: 0.5,
    p50: 800,
    p99: 2400,
    processes: [proc("web-3", 1, true), proc("web-1", 1)],
  }),
  circuit("a-circuit-with-a-rather-long-name-indeed", { calls: 7, p50: 1, p99: 3, processes: [proc("web-1", 7)] }),
];

const SNAPSHOT: TrafficSnapshot = {
  t: T,
  processes: 3,
  totals: { calls: 181, errors: 36, rejected: 12, errorRate: 36 / 169 },
  circuits: CIRCUITS,
};

const STATES = new Map<string, CircuitStateName>([
  ["payments", "closed"],
  ["search", "half-opened"],
  ["inventory", "opened"],
  ["reports", "closed"],
]);

function frame(overrides: Partial<TopFrame> = {}): TopFrame {
  return {
    snapshot: SNAPSHOT,
    states: STATES,
    redis: { available: true, error: null },
    sort: "calls",
    width: 100,
    height: 30,
    limit: null,
    paint: painter(false),
    prefix: "purgatory",
    url: "redis://127.0.0.1:6379",
    keys: true,
    idle: false,
    ...overrides,
  };
}

/** The table's lines (from the column header on), and its rows' first words. */
function table(lines: readonly string[]): { header: string; rows: string[]; names: string[] } {
  const at = lines.findIndex((l) => l.startsWith("CIRCUIT"));
  expect(at, lines.join("\n")).toBeGreaterThan(0);
  const rows = lines.slice(at + 1).filter((l) => !l.startsWith("..."));
  return { header: lines[at] ?? "", rows, names: rows.map((r) => r.split(/\s{2,}/)[0] ?? "") };
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

describe("sorting", () => {
  it.each<[TopSort, string[]]>([
    ["calls", ["payments", "search", "inventory", "a-circuit-with-a-rather-long-name-indeed", "reports"]],
    ["errors", ["search", "reports", "payments", "inventory", "a-circuit-with-a-rather-long-name-indeed"]],
    ["rejected", ["inventory", "payments", "search", "a-circuit-with-a-rather-long-name-indeed", "reports"]],
    ["p99", ["reports", "search", "payments", "a-circuit-with-a-rather-long-name-indeed", "inventory"]],
    ["name", ["a-circuit-with-a-rather-long-name-indeed", "inventory", "payments", "reports", "search"]],
  ])("by %s", (sort, expected) => {
    expect(sortCircuits(CIRCUITS, sort).map((c) => c.name)).toEqual(expected);
    const { names } = table(renderTop(frame({ sort, width: 200 })));
    expect(names).toEqual(expected);
  });

  it("ties go to the busier circuit, then by name as people read numbers (api-2 before api-10)", () => {
    const tied = [circuit("api-10", { calls: 5 }), circuit("api-2", { calls: 5 }), circuit("api-3", { calls: 9 })];
    expect(sortCircuits(tied, "errors").map((c) => c.name)).toEqual(["api-3", "api-2", "api-10"]);
    expect(sortCircuits(tied, "name").map((c) => c.name)).toEqual(["api-2", "api-3", "api-10"]);
  });

  it("by p99: circuits without a timed call last", () => {
    const some = [circuit("none", { calls: 50 }), circuit("fast", { calls: 1, p99: 0.5 })];
    expect(sortCircuits(some, "p99").map((c) => c.name)).toEqual(["fast", "none"]);
  });

  it("the header says the sort and the keys (only the sort when keys do not work)", () => {
    expect(renderTop(frame({ sort: "errors" })).join("\n")).toContain("sort: error rate");
    expect(renderTop(frame()).join("\n")).toContain("q quits");
    const piped = renderTop(frame({ keys: false, width: Infinity, height: null })).join("\n");
    expect(piped).toContain("sorted by calls/s");
    expect(piped).not.toContain("q quits");
  });
});

describe("a wide terminal (100 columns)", () => {
  it("shows the totals and every column, numbers right-aligned", () => {
    const lines = renderTop(frame());
    expect(lines[0]).toBe('purgatory top  prefix "purgatory" at redis://127.0.0.1:6379  03:04:05 UTC');
    expect(lines[1]).toBe("181 calls/s  21% err  12 rej/s  3 processes reporting  Redis live");
    const { header, rows } = table(lines);
    expect(header.split(/\s+/)).toEqual(["CIRCUIT", "CALLS/S", "ERR", "%", "REJ/S", "P50", "P99", "STATE", "PROCS"]);
    const row = (name: string) => rows.find((r) => r.startsWith(`${name} `))?.split(/\s{2,}/);
    expect(row("payments")).toEqual(["payments", "120", "5%", "0", "4.2ms", "35ms", "closed", "2"]);
    expect(row("search")).toEqual(["search", "40", "75%", "0", "12ms", "90ms", "half-opened", "1"]);
    expect(row("inventory")).toEqual(["inventory", "12", "0%", "12", "0.01ms", "0.01ms", "opened", "1"]);
    // A process open for itself on the circuit.
    expect(row("reports")).toEqual(["reports", "2", "50%", "0", "800ms", "2.4s", "closed", "2, 1 open"]);
    // A circuit Redis does not hold: no state.
    expect(rows.find((r) => r.startsWith("a-circuit"))?.split(/\s{2,}/)[6]).toBe("-");
    // Right-aligned: the CALLS/S column ends at the same place on every row.
    const end = header.indexOf("CALLS/S") + "CALLS/S".length;
    for (const r of rows) expect(r[end - 1], r).toMatch(/\d/);
    for (const line of lines) expect(visibleWidth(line)).toBeLessThanOrEqual(100);
  });

  it("Redis away: says so in the header", () => {
    const lines = renderTop(frame({ redis: { available: false, error: "connection refused" } }));
    expect(lines[1]).toContain("Redis not answering (connection refused)");
  });

  it("before the first second, without reports, with no calls", () => {
    const empty: TrafficSnapshot = { ...SNAPSHOT, t: 0, processes: 0, circuits: [] };
    expect(renderTop(frame({ snapshot: empty })).join("\n")).toContain("waiting for the first second of reports");
    expect(renderTop(frame({ snapshot: empty, idle: true })).join("\n")).toContain(
      "no process reports calls under this prefix (yet)",
    );
    expect(renderTop(frame({ snapshot: { ...empty, t: T } })).join("\n")).toContain("no calls reported lately");
  });
});

describe("a narrow terminal (40 columns)", () => {
  it("no line wider than 40; long names cut with an ellipsis; the least important columns dropped", () => {
    const lines = renderTop(frame({ width: 40, height: 20 }));
    for (const line of lines) expect(visibleWidth(line), line).toBeLessThanOrEqual(40);
    const { header, rows, names } = table(lines);
    expect(header.split(/\s{2,}/)).toEqual(["CIRCUIT", "CALLS/S", "ERR %", "STATE"]);
    expect(names).toContain("payments");
    const long = names.find((n) => n.startsWith("a-circuit"));
    expect(long).toMatch(/^a-circuit-.*…$/);
    expect([...(long ?? "")].length).toBeLessThan("a-circuit-with-a-rather-long-name-indeed".length);
    expect(rows.find((r) => r.startsWith("search"))?.split(/\s{2,}/)).toEqual(["search", "40", "75%", "half-opened"]);
    // The compact header: the totals and Redis's status, then the sort and the keys in a word.
    expect(lines.slice(0, 3)).toEqual([
      "181 calls/s  21% err  12 rej/s  3 procs",
      'Redis live  prefix "purgatory"',
      "sort: calls/s  c e r p n: sort, q: quit",
    ]);
  });

  it("the sort key's column stays, whatever else goes", () => {
    const { header } = table(renderTop(frame({ width: 40, sort: "p99" })));
    expect(header.split(/\s{2,}/)).toContain("P99");
    const byRejected = table(renderTop(frame({ width: 40, sort: "rejected" })));
    expect(byRejected.header.split(/\s{2,}/)).toContain("REJ/S");
    expect(byRejected.names[0]).toBe("inventory");
  });

  it("even at 20 columns, every line fits", () => {
    for (const line of renderTop(frame({ width: 20, height: 30 }))) expect(visibleWidth(line)).toBeLessThanOrEqual(20);
  });
});

describe("a short terminal, and --limit", () => {
  it("shows the busiest circuits that fit and says how many more there are", () => {
    const lines = renderTop(frame({ height: 8 }));
    expect(lines).toHaveLength(8);
    const { names } = table(lines);
    expect(names).toEqual(["payments", "search", "inventory"]);
    expect(lines[7]).toBe("... and 2 more (a taller terminal shows them)");
  });

  it("--limit 2: two circuits, and a word on the rest", () => {
    const lines = renderTop(frame({ limit: 2 }));
    expect(table(lines).names).toEqual(["payments", "search"]);
    expect(lines.at(-1)).toBe("... and 3 more (--limit 2)");
  });

  it("piped (no height): every circuit, names in full", () => {
    const lines = renderTop(frame({ width: Infinity, height: null, keys: false }));
    expect(table(lines).names).toHaveLength(5);
    expect(lines.join("\n")).toContain("a-circuit-with-a-rather-long-name-indeed");
  });
});

describe("colours", () => {
  it("NO_COLOR (a plain painter): not one escape code", () => {
    for (const width of [100, 40]) {
      const text = renderTop(frame({ width, paint: painter(false) })).join("\n");
      expect(text).not.toContain("\x1b");
    }
  });

  it("with colours: states in their colours, a high error rate red, an open process red; widths unchanged", () => {
    const colored = renderTop(frame({ paint: painter(true) }));
    const text = colored.join("\n");
    expect(text).toContain("\x1b[31mopened\x1b[39m");
    expect(text).toContain("\x1b[33mhalf-opened\x1b[39m");
    expect(text).toContain("\x1b[31m75%\x1b[39m");
    expect(text).toContain("\x1b[31m1 open\x1b[39m");
    const plain = renderTop(frame({ paint: painter(false) }));
    expect(colored.map((l) => l.replace(SGR, ""))).toEqual(plain);
  });
});

describe("names with control characters", () => {
  const evil = "evil\x1b[2J\x1b]0;pwned\x07\nname";
  const snapshot: TrafficSnapshot = { ...SNAPSHOT, circuits: [circuit(evil, { calls: 500 }), ...CIRCUITS] };

  it.each([100, 40])("are shown escaped, never raw (%i columns)", (width) => {
    const lines = renderTop(frame({ snapshot, width }));
    for (const line of lines) expect(line).not.toMatch(CONTROL);
    const first = table(lines).rows[0] ?? "";
    expect(first.startsWith("evil\\u001b")).toBe(true);
    for (const line of lines) expect(visibleWidth(line)).toBeLessThanOrEqual(width);
  });

  it("and so is a prefix", () => {
    const lines = renderTop(frame({ prefix: "p\x1b[31m" }));
    expect(lines[0]).toContain('prefix "p\\u001b[31m"');
    for (const line of lines) expect(line).not.toMatch(CONTROL);
  });
});

describe("top --json", () => {
  it("the snapshot's circuits in the sort's order, at most --limit, with their states (null: none)", () => {
    const json = topJson(SNAPSHOT, STATES, "errors", 3, "purgatory");
    expect(json).toMatchObject({ t: T, prefix: "purgatory", sort: "errors", processes: 3 });
    expect(json.totals).toEqual({ calls: 181, errors: 36, rejected: 12, errorRate: 0.213 });
    expect(json.circuits.map((c) => [c.name, c.state])).toEqual([
      ["search", "half-opened"],
      ["reports", "closed"],
      ["payments", "closed"],
    ]);
    expect(topJson(SNAPSHOT, new Map(), "calls", null, "p").circuits[0]).toMatchObject({
      name: "payments",
      state: null,
      calls: 120,
      processes: [
        { process: "web-1", calls: 80, openForItself: false },
        { process: "web-2", calls: 40, openForItself: false },
      ],
    });
  });
});

describe("formats", () => {
  it("rates, percentages, latencies, and cutting", () => {
    expect([0, 0.01, 0.5, 3, 9.96, 12.4, 999.4, 1234, 56_789, 3_400_000].map(formatRate)).toEqual([
      "0",
      "<0.1",
      "0.5",
      "3",
      "10",
      "12",
      "999",
      "1.2k",
      "57k",
      "3.4M",
    ]);
    expect([0, 0.0001, 0.025, 0.35, 1].map(formatPercent)).toEqual(["0%", "<0.1%", "2.5%", "35%", "100%"]);
    expect([null, 0.0119, 1.19, 35.4, 1500, 100_000].map(formatLatency)).toEqual([
      "-",
      "0.01ms",
      "1.2ms",
      "35ms",
      "1.5s",
      "100s",
    ]);
    expect(truncate("payments", 8)).toBe("payments");
    expect(truncate("payments", 5)).toBe("paym…");
  });
});
