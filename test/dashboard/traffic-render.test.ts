/**
 * The traffic on the dashboard, without a browser: the compact events the server sends
 * (src/dashboard/traffic-wire.ts: what is left out, how numbers are rounded, how many bytes a
 * second 1,000 busy circuits cost), the page's own record of them (page/traffic.ts: one point a
 * second, quiet seconds and missed ones counted 0, histories at connect), and what the page draws
 * from them (page/traffic-view.ts: a card's numbers, the breakdown by process with the failing
 * process marked, the fleet's totals, the order and the search). The browser tests
 * (traffic.test.ts, traffic-many.test.ts) show the same on the real page.
 */
import { describe, expect, it } from "vitest";
import type { CircuitInfo } from "../../src/index.js";
import { LATENCY_BUCKETS, upperBoundOf } from "../../src/core/traffic.js";
import type {
  CircuitTraffic,
  ProcessTraffic,
  TrafficPoint,
  TrafficSnapshot,
} from "../../src/storage/redis/traffic-watch.js";
import {
  bucketIndex,
  decodeCircuits,
  encodeFrame,
  encodeHistory,
  latencyOf,
  type LatestCircuit,
  type WireFrame,
} from "../../src/dashboard/traffic-wire.js";
import { HISTORY_SECONDS, TrafficStore } from "../../src/dashboard/page/traffic.js";
import {
  formatLatency,
  formatPercent,
  formatRate,
  matches,
  orderOf,
  processesView,
  quietText,
  sparkData,
  sparkSpan,
  totalsView,
  trafficCells,
  trafficNote,
  trafficSkeleton,
  worstProcesses,
} from "../../src/dashboard/page/traffic-view.js";
import { textOf, type VNode } from "../../src/dashboard/page/view.js";

const T = Date.UTC(2024, 4, 1, 12, 0, 0);
/** A latency the watcher can give: the upper bound of a bucket. */
const MS_2 = upperBoundOf(31); // about 2.2 ms
const MS_10 = upperBoundOf(40); // 10.24 ms

const point = (changes: Partial<TrafficPoint> = {}): TrafficPoint => ({
  t: T,
  calls: 0,
  errors: 0,
  rejected: 0,
  errorRate: 0,
  p50: null,
  p99: null,
  ...changes,
});

const proc = (process: string, changes: Partial<ProcessTraffic> = {}): ProcessTraffic => ({
  ...point({ calls: 10, p50: MS_2, p99: MS_10 }),
  process,
  openForItself: false,
  ...changes,
});

function circuit(name: string, changes: Partial<CircuitTraffic> = {}): CircuitTraffic {
  const latest = point({ calls: 30, p50: MS_2, p99: MS_10, ...changes });
  return {
    ...latest,
    name,
    processes: [proc("web-1:101"), proc("web-2:102"), proc("web-7:4242")],
    history: [point({ t: T - 1000, calls: 12 }), latest],
    ...changes,
  };
}

const snapshot = (circuits: CircuitTraffic[], changes: Partial<TrafficSnapshot> = {}): TrafficSnapshot => ({
  t: T,
  processes: 3,
  totals: { calls: circuits.reduce((n, c) => n + c.calls, 0), errors: 0, rejected: 0, errorRate: 0 },
  circuits,
  ...changes,
});

/** A `traffic` event with `circuits` ([name, calls/s, errors/s] and 0 elsewhere), at `t`. */
const frameAt = (t: number, circuits: [string, number, number?][]): WireFrame => ({
  now: t + 1500,
  t,
  n: 2,
  tot: [circuits.reduce((n, [, calls]) => n + calls, 0), 0, 0, 0],
  p: ["web-1:101"],
  c: circuits.map(([name, calls, errors = 0]) => [
    name,
    calls,
    errors,
    0,
    calls === 0 ? 0 : Math.round((errors / calls) * 1000),
    40,
    52,
    1,
    [[0, calls, 52]],
  ]),
  cut: 0,
});

const info = (name: string, state: CircuitInfo["state"] = "closed"): CircuitInfo => ({
  name,
  state,
  failureCount: 0,
  openedAt: null,
  retryAt: null,
  probes: 0,
  config: { threshold: 3, ttl: 30, halfOpenMaxCalls: 1 },
  window: null,
  updatedAt: T,
  incarnation: "1-a",
  createdAt: T,
  generation: 0,
  quorum: null,
});

function nodes(node: VNode | string): VNode[] {
  if (typeof node === "string") return [];
  return [node, ...(node.children ?? []).flatMap(nodes)];
}
const byClass = (tree: VNode, cls: string): VNode[] =>
  nodes(tree).filter((n) => (n.cls ?? "").split(" ").includes(cls));

describe("the traffic event (traffic-wire.ts)", () => {
  it("a latency travels as its bucket's index and comes back exactly (the watcher's percentiles are bucket bounds)", () => {
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      expect(bucketIndex(upperBoundOf(i))).toBe(i);
      expect(latencyOf(bucketIndex(upperBoundOf(i)))).toBe(upperBoundOf(i));
    }
    expect(bucketIndex(null)).toBe(-1);
    expect(latencyOf(-1)).toBeNull();
  });

  it("only circuits with calls in the latest second (or open for itself somewhere), numbers rounded, names of processes once", () => {
    const frame = encodeFrame(
      snapshot([
        circuit("busy", { calls: 123.456, errors: 33.333, errorRate: 0.27027 }),
        circuit("quiet", { calls: 0, processes: [] }),
        circuit("held-open", { calls: 0, processes: [proc("web-7:4242", { calls: 0, openForItself: true })] }),
      ]),
      T + 1600,
    );
    expect(frame.c.map((c) => c[0])).toEqual(["busy", "held-open"]);
    expect(frame.c[0]?.slice(0, 8)).toEqual(["busy", 123, 33.3, 0, 270, 31, 40, 3]);
    expect(frame.p).toEqual(["web-1:101", "web-2:102", "web-7:4242"]);
    // A process's trailing zeros are left out: open for itself, it keeps them all.
    expect(frame.c[0]?.[8]).toEqual([
      [0, 10, 40],
      [1, 10, 40],
      [2, 10, 40],
    ]);
    expect(frame.c[1]?.[8]).toEqual([[2, 0, 40, 0, 0, 1]]);
    expect(frame).toMatchObject({ now: T + 1600, t: T, n: 3, cut: 0 });
    // And back, as the page reads it.
    const [busy] = decodeCircuits(frame);
    expect(busy).toMatchObject({ name: "busy", calls: 123, errors: 33.3, errorRate: 0.27, p50: MS_2, p99: MS_10 });
    expect(busy?.processes[2]).toEqual({
      process: "web-7:4242",
      calls: 10,
      rejected: 0,
      errorRate: 0,
      p99: MS_10,
      openForItself: false,
    });
  });

  it("bounded: at most maxCircuits (those with errors first), and maxProcesses each, the failing one always kept", () => {
    const many = Array.from({ length: 10 }, (_, i) => circuit(`c${i}`, { calls: 100 - i }));
    many.push(circuit("failing", { calls: 1, errors: 1, errorRate: 1 }));
    const frame = encodeFrame(snapshot(many), T, { maxCircuits: 4 });
    expect(frame.c.map((c) => c[0])).toEqual(["failing", "c0", "c1", "c2"]);
    expect(frame.cut).toBe(7);

    const crowd = Array.from({ length: 12 }, (_, i) => proc(`web-${i}:${100 + i}`, { calls: 50 - i }));
    crowd.push(proc("sick:1", { calls: 1, errorRate: 1 }));
    const [one] = encodeFrame(snapshot([circuit("api", { processes: crowd })]), T, { maxProcesses: 4 }).c;
    expect(one?.[7]).toBe(13);
    const kept = one?.[8].map(([index]) => index);
    expect(kept).toHaveLength(4);
    expect(
      decodeCircuits(
        encodeFrame(snapshot([circuit("api", { processes: crowd })]), T, { maxProcesses: 4 }),
      )[0]?.processes.map((p) => p.process),
    ).toEqual(["web-0:100", "web-1:101", "web-2:102", "sick:1"]);
  });

  it("1,000 busy circuits of 3 processes: under 90 bytes a circuit a second, a few times smaller than the snapshot's JSON", () => {
    const busy = Array.from({ length: 1000 }, (_, i) =>
      circuit(`service-${String(i).padStart(4, "0")}.example.internal`, {
        calls: 30 + (i % 17) / 3,
        errors: i % 10 === 0 ? 1.5 : 0,
        errorRate: i % 10 === 0 ? 0.05 : 0,
        processes: [
          proc("web-1.prod:12345", { calls: 10 + (i % 7) / 3 }),
          proc("web-2.prod:23456", { calls: 10 }),
          proc("web-3.prod:34567", { calls: 10, errorRate: i % 10 === 0 ? 0.15 : 0 }),
        ],
      }),
    );
    const s = snapshot(busy);
    const bytes = Buffer.byteLength(JSON.stringify(encodeFrame(s, T)));
    const plain = Buffer.byteLength(JSON.stringify({ ...s, circuits: s.circuits.map((c) => ({ ...c, history: [] })) }));
    console.log(`traffic event, 1,000 busy circuits x 3 processes: ${bytes} bytes (the snapshot as JSON: ${plain})`);
    expect(bytes).toBeLessThan(90_000);
    expect(bytes * 4).toBeLessThan(plain);
  });

  it("the history at connect: each circuit's series (and the fleet's), ending at the snapshot's second", () => {
    const history = encodeHistory(
      snapshot([circuit("api")]),
      [
        { t: T - 1000, calls: 12, errors: 0, rejected: 0, errorRate: 0, processes: 2 },
        { t: T, calls: 30, errors: 3, rejected: 1, errorRate: 0.1, processes: 3 },
      ],
      T + 1500,
    );
    expect(history).toEqual({
      now: T + 1500,
      t: T,
      tot: [
        [[12, 30], [0, 3], [0, 1], [0, 100], [], []],
        [2, 3],
      ],
      c: [
        [
          "api",
          [
            [12, 30],
            [0, 0],
            [0, 0],
            [0, 0],
            [-1, 31],
            [-1, 40],
          ],
        ],
      ],
    });
  });
});

describe("the page's record of the traffic (page/traffic.ts)", () => {
  it("one point a second per circuit: a circuit missing from an event had no call; missed seconds count 0", () => {
    const store = new TrafficStore();
    store.applyFrame(frameAt(T, [["a", 10]]));
    store.applyFrame(
      frameAt(T + 1000, [
        ["a", 12],
        ["b", 5],
      ]),
    );
    store.applyFrame(frameAt(T + 2000, [["b", 6]]));
    // The page missed two seconds (a reconnection without history).
    store.applyFrame(frameAt(T + 5000, [["b", 7]]));
    expect(store.series.get("a")?.calls).toEqual([10, 12, 0, 0, 0, 0]);
    expect(store.series.get("b")?.calls).toEqual([5, 6, 0, 0, 7]);
    expect(store.latest.has("a")).toBe(false);
    expect(store.latest.get("b")?.calls).toBe(7);
    expect(store.fleet.calls).toEqual([10, 17, 6, 0, 0, 7]);
    expect(store.totals).toMatchObject({ calls: 7, processes: 2 });
    // The same second again (a slow stream), or an older one: nothing changes.
    store.applyFrame(frameAt(T + 5000, [["b", 99]]));
    store.applyFrame(frameAt(T + 4000, [["b", 99]]));
    expect(store.series.get("b")?.calls).toEqual([5, 6, 0, 0, 7]);
  });

  it("keeps HISTORY_SECONDS points, and forgets a circuit once it had no call in all of them", () => {
    const store = new TrafficStore();
    store.applyFrame(
      frameAt(T, [
        ["a", 1],
        ["b", 2],
      ]),
    );
    for (let s = 1; s < HISTORY_SECONDS; s++) store.applyFrame(frameAt(T + s * 1000, [["b", 2]]));
    expect(store.series.get("a")?.calls).toHaveLength(HISTORY_SECONDS);
    store.applyFrame(frameAt(T + HISTORY_SECONDS * 1000, [["b", 3]]));
    expect(store.series.has("a")).toBe(false);
    expect(store.series.get("b")?.calls).toHaveLength(HISTORY_SECONDS);
    expect(store.series.get("b")?.calls.at(-1)).toBe(3);
    expect(store.fleet.calls).toHaveLength(HISTORY_SECONDS);
  });

  it("the server's history replaces the page's at a connection, unless the server has none yet", () => {
    const store = new TrafficStore();
    store.applyFrame(frameAt(T, [["old", 1]]));
    store.applyHistory({ now: T, t: 0, tot: [[[], [], [], [], [], []], []], c: [] });
    expect(store.series.has("old")).toBe(true);
    store.applyHistory({
      now: T + 3500,
      t: T + 2000,
      tot: [
        [[4, 6, 8], [0, 1, 2], [0, 0, 1], [0, 167, 286], [], []],
        [1, 2, 2],
      ],
      c: [
        [
          "api",
          [
            [4, 6, 8],
            [0, 1, 2],
            [0, 0, 1],
            [0, 167, 286],
            [40, 41, 42],
            [50, -1, 52],
          ],
        ],
      ],
    });
    expect(store.series.has("old")).toBe(false);
    expect(store.series.get("api")).toEqual({
      calls: [4, 6, 8],
      errors: [0, 1, 2],
      rejected: [0, 0, 1],
      errorRate: [0, 0.167, 0.286],
      p50: [upperBoundOf(40), upperBoundOf(41), upperBoundOf(42)],
      p99: [upperBoundOf(50), null, upperBoundOf(52)],
    });
    expect(store.totals).toEqual({ calls: 8, errors: 2, rejected: 1, errorRate: 0.286, processes: 2 });
    expect(store.latest.get("api")?.calls).toBe(8);
    store.applyFrame(frameAt(T + 3000, [["api", 9]]));
    expect(store.series.get("api")?.calls).toEqual([4, 6, 8, 9]);
  });

  it("recent(): calls a second and error rate over the last 10 s, steadier than one second", () => {
    const store = new TrafficStore();
    for (let s = 0; s < 20; s++) store.applyFrame(frameAt(T + s * 1000, [["a", s < 10 ? 100 : 10, s < 10 ? 0 : 5]]));
    expect(store.recent("a")).toEqual({ calls: 10, errors: 5, errorRate: 0.5 });
    expect(store.recent("nobody")).toEqual({ calls: 0, errors: 0, errorRate: 0 });
  });
});

describe("what the page draws of the traffic (page/traffic-view.ts)", () => {
  const latest = (changes: Partial<LatestCircuit> = {}): LatestCircuit => ({
    name: "checkout",
    calls: 100,
    errors: 20,
    rejected: 0,
    errorRate: 0.2,
    p50: MS_2,
    p99: MS_10,
    processCount: 3,
    processes: [
      { process: "web-1:101", calls: 40, rejected: 0, errorRate: 0, p99: MS_2, openForItself: false },
      { process: "web-2:102", calls: 40, rejected: 0, errorRate: 0, p99: MS_2, openForItself: false },
      { process: "web-7:4242", calls: 20, rejected: 0, errorRate: 1, p99: MS_10, openForItself: false },
    ],
    ...changes,
  });

  it("numbers as a person reads them", () => {
    expect([0, 0.25, 2.5, 48.4, 1200, 12_345].map(formatRate)).toEqual(["0", "0.3", "2.5", "48", "1200", "12.3k"]);
    expect([0, 0.0412, 1].map(formatPercent)).toEqual(["0%", "4.1%", "100%"]);
    expect([null, 0.0168, 1.189, 14.14, 141.4, 2378].map(formatLatency)).toEqual([
      "–",
      "17µs",
      "1.2ms",
      "14ms",
      "141ms",
      "2.4s",
    ]);
  });

  it("a card's numbers: calls/s, error rate (and errors/s), rejected/s, p50 / p99; errors and rejections marked", () => {
    expect(trafficCells(latest()).map((c) => [c.metric, c.label, c.value, c.tone])).toEqual([
      ["calls", "calls/s", "100", ""],
      ["errors", "errors", "20% · 20/s", "bad"],
      ["rejected", "rejected/s", "0", ""],
      ["latency", "p50 / p99", "2.2ms / 10ms", ""],
    ]);
    // No call in the latest second: zeros, never NaN.
    expect(trafficCells(undefined).map((c) => c.value)).toEqual(["0", "0%", "0", "– / –"]);
    const skeleton = trafficSkeleton("checkout");
    expect(byClass(skeleton, "spark").map((n) => n.data?.metric)).toEqual(["calls", "errors", "rejected", "latency"]);
    expect(byClass(skeleton, "chart")).toHaveLength(4);
    expect(nodes(skeleton).some((n) => n.tag === "details")).toBe(true);
  });

  it("the breakdown by process: how many, the one failing named and its row marked", () => {
    const view = processesView(latest());
    expect(view.summary).toBe("3 processes · web-7:4242 100% errors");
    const rows = nodes(view.table as VNode).filter((n) => n.tag === "tr" && n.data?.process !== undefined);
    expect(rows.map((r) => [r.data?.process, r.cls ?? "", textOf(r)])).toEqual([
      ["web-1:101", "", "web-1:101400%02.2ms"],
      ["web-2:102", "", "web-2:102400%02.2ms"],
      ["web-7:4242", "worst", "web-7:424220100%010ms"],
    ]);
    expect(worstProcesses(latest())).toEqual(["web-7:4242"]);
  });

  it("nobody failing: nothing marked; a process open for itself (a quorum) says so; quieter processes counted", () => {
    const healthy = latest({
      errors: 0,
      errorRate: 0,
      rejected: 20,
      processCount: 5,
      processes: [
        { process: "web-1:101", calls: 40, rejected: 0, errorRate: 0, p99: MS_2, openForItself: false },
        { process: "web-7:4242", calls: 20, rejected: 20, errorRate: 0, p99: null, openForItself: true },
      ],
    });
    const view = processesView(healthy);
    expect(view.summary).toBe("5 processes · none failing · 1 open for itself");
    const table = view.table as VNode;
    expect(byClass(table, "worst")).toEqual([]);
    const open = byClass(table, "open-itself");
    expect(open.map((r) => [r.data?.process, textOf(r)])).toEqual([["web-7:4242", "web-7:4242open for itself200%20–"]]);
    expect(textOf(nodes(table).find((n) => n.tag === "tfoot") as VNode)).toBe("and 3 quieter processes");
    expect(processesView(undefined)).toEqual({ summary: "no process called it in the latest second", table: null });
  });

  it("the fleet's totals, and what the watch is doing in plain words", () => {
    const chips = totalsView({ calls: 171, errors: 20, rejected: 20, errorRate: 0.132, processes: 3 });
    expect(chips.map((c) => [c.data?.total, textOf(c), c.cls])).toEqual([
      ["calls", "calls/s171", "total"],
      ["errors", "errors13.2%", "total bad"],
      ["rejected", "rejected/s20", "total bad"],
      ["processes", "processes reporting3", "total"],
    ]);
    expect(trafficNote({ state: "on", error: null }, 0)).toBe(
      "live, one point a second · the processes report only while a page is open",
    );
    expect(trafficNote({ state: "on", error: null }, 12)).toContain("12 quieter circuits with calls left out");
    expect(trafficNote({ state: "failed", error: "NOPERM no permissions" }, 0)).toBe(
      "traffic: cannot watch (NOPERM no permissions); trying again",
    );
    expect(quietText({ state: "on", error: null }, false)).toBe("no calls in the last 5 min");
    expect(quietText({ state: "on", error: null }, true)).toBeNull();
    expect(quietText({ state: "starting", error: null }, false)).toBe("traffic: processes report from the next second");
  });

  it("the order: by concern, by traffic or error rate over the last 10 s, by name; the search keeps the names that contain it", () => {
    const store = new TrafficStore();
    for (let s = 0; s < 10; s++)
      store.applyFrame(
        frameAt(T + s * 1000, [
          ["search", 10],
          ["checkout", 100, 20],
          ["payments", 60, 3],
        ]),
      );
    const circuits = [
      info("search"),
      info("checkout"),
      info("payments"),
      info("inventory"),
      info("zz-opened", "opened"),
    ];
    const names = (mode: Parameters<typeof orderOf>[1], query = "") =>
      orderOf(circuits, mode, store, query).map((c) => c.name);
    expect(names("concern")).toEqual(["zz-opened", "checkout", "inventory", "payments", "search"]);
    expect(names("traffic")).toEqual(["checkout", "payments", "search", "zz-opened", "inventory"]);
    expect(names("errors")).toEqual(["checkout", "payments", "search", "zz-opened", "inventory"]);
    expect(names("name")).toEqual(["checkout", "inventory", "payments", "search", "zz-opened"]);
    expect(names("traffic", "  PAY ")).toEqual(["payments"]);
    expect(names("concern", "e")).toEqual(["zz-opened", "checkout", "inventory", "payments", "search"]);
    expect(names("concern", "nothing-like-it")).toEqual([]);
    expect(matches("Payments-API", "api")).toBe(true);
  });

  it("the sparklines' data: one point a second, x in seconds before the latest; error rate in %", () => {
    const store = new TrafficStore();
    store.applyFrame(frameAt(T, [["a", 10, 1]]));
    store.applyFrame(frameAt(T + 1000, [["a", 20, 10]]));
    const series = store.series.get("a");
    if (series === undefined) throw new Error("no series");
    expect(sparkData(series, "calls")).toEqual([
      [-1, 0],
      [10, 20],
    ]);
    expect(sparkData(series, "errors")).toEqual([
      [-1, 0],
      [10, 50],
    ]);
    expect(sparkData(series, "latency")).toEqual([
      [-1, 0],
      [upperBoundOf(40), upperBoundOf(40)],
      [upperBoundOf(52), upperBoundOf(52)],
    ]);
    expect([0, 5, 120, 1000].map(sparkSpan)).toEqual([20, 20, 120, HISTORY_SECONDS]);
  });
});
