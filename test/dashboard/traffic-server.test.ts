/**
 * The dashboard's server and the fleet's traffic (`startDashboard`, in this process, over a
 * scripted fleet whose traffic watch emits what the test says): the watch runs only while a page
 * is open (none for a dashboard nobody looks at, one for any number of pages, closed once the last
 * one left), each second is one `traffic` event serialised once for every stream, a page that
 * connects gets the histories kept so far, a watch that cannot start is said (and tried again),
 * and `GET /api/traffic` follows the token rules of every route. It also measures the bytes a
 * second the stream costs for 1,000 busy circuits.
 */
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { upperBoundOf } from "../../src/core/traffic.js";
import { startDashboard, type Dashboard, type DashboardFleet } from "../../src/dashboard/server.js";
import type { DashboardTrafficWatch } from "../../src/dashboard/traffic.js";
import type { WireFrame, WireHistory } from "../../src/dashboard/traffic-wire.js";
import type { CircuitTraffic, TrafficSnapshot } from "../../src/storage/redis/traffic-watch.js";
import { sleep, waitFor } from "../support/redis-helpers.js";
import { closedInfo } from "../support/circuit-info.js";

const T = Date.UTC(2024, 4, 1, 12, 0, 0);

/** A traffic watch that emits what the test says. */
class ScriptedWatch implements DashboardTrafficWatch {
  readonly #listeners = new Set<(snapshot: TrafficSnapshot) => void>();
  #last: TrafficSnapshot = {
    t: 0,
    processes: 0,
    totals: { calls: 0, errors: 0, rejected: 0, errorRate: 0 },
    circuits: [],
  };
  closed = false;
  snapshot(): TrafficSnapshot {
    return this.#last;
  }
  onUpdate(listener: (snapshot: TrafficSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  emit(snapshot: TrafficSnapshot): void {
    this.#last = snapshot;
    for (const listener of this.#listeners) listener(snapshot);
  }
}

/** A fleet of one circuit whose traffic watches are `ScriptedWatch`es (or fail with `refusal`). */
function scriptedFleet(): DashboardFleet & { watches: ScriptedWatch[]; refusal: Error | undefined } {
  const fleet = {
    prefix: "scripted",
    url: "redis://scripted",
    watches: [] as ScriptedWatch[],
    refusal: undefined as Error | undefined,
    async watch(listener: Parameters<DashboardFleet["watch"]>[0]) {
      listener.read([closedInfo("api")], [], 0);
      return { refresh: async () => undefined, close: async () => undefined };
    },
    control: () => Promise.reject(new Error("no control here")),
    async watchTraffic() {
      if (fleet.refusal !== undefined) throw fleet.refusal;
      const watch = new ScriptedWatch();
      fleet.watches.push(watch);
      return watch;
    },
  };
  return fleet;
}

/** A circuit's traffic in second `t`: `calls` a second over 3 processes, the third failing `failing` of its own. */
function circuit(name: string, t: number, calls: number, history: number[] = []): CircuitTraffic {
  const p99 = upperBoundOf(40);
  const point = { t, calls, errors: 0, rejected: 0, errorRate: 0, p50: upperBoundOf(31), p99 };
  const share = (process: string, n: number, errorRate = 0) => ({
    ...point,
    calls: n,
    errors: n * errorRate,
    errorRate,
    process,
    openForItself: false,
  });
  return {
    ...point,
    name,
    processes: [
      share("web-1.prod:12345", calls / 2),
      share("web-2.prod:23456", calls / 4),
      share("web-7.prod:4242", calls / 4, 1),
    ],
    history: [...history.map((n, i) => ({ ...point, t: t - (history.length - i) * 1000, calls: n })), point],
  };
}

const snapshotAt = (t: number, circuits: CircuitTraffic[]): TrafficSnapshot => ({
  t,
  processes: 3,
  totals: { calls: circuits.reduce((n, c) => n + c.calls, 0), errors: 0, rejected: 0, errorRate: 0 },
  circuits,
});

/** An event stream read into events, and its bytes counted. */
async function stream(url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const response = await fetch(`${url}events`, { signal: abort.signal, headers });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const received: { event: string; data: string }[] = [];
  let bytes = 0;
  let buffer = "";
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        bytes += value.length;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event !== undefined && data !== undefined) received.push({ event, data });
        }
      }
    } catch {
      // stopped
    }
  })();
  const of = <T>(event: string): T[] => received.filter((e) => e.event === event).map((e) => JSON.parse(e.data) as T);
  await waitFor("the snapshot", () => of("snapshot").length > 0);
  return { received, of, bytes: () => bytes, stop: () => abort.abort() };
}

/** The status of a GET with any headers (`fetch` will not send another Host). */
function statusOf(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once("error", reject);
    req.end();
  });
}

let dashboard: Dashboard | undefined;
afterEach(async () => {
  await dashboard?.close();
  dashboard = undefined;
});

describe("the traffic's watch follows the pages", () => {
  it("none while nobody looks; one for any number of pages; closed once the last page left (after lingerMs)", async () => {
    const fleet = scriptedFleet();
    dashboard = await startDashboard({ fleet, port: 0, traffic: { lingerMs: 300 } });
    await sleep(200);
    // A dashboard nobody looks at: no watch, so the processes report nothing.
    expect(fleet.watches).toHaveLength(0);
    expect(dashboard.traffic().state).toBe("idle");
    const first = await stream(dashboard.url);
    await waitFor("the watch on", () => dashboard?.traffic().state === "on");
    expect(first.of("traffic-status").map((s) => (s as { state: string }).state)).toEqual(["starting", "on"]);
    const second = await stream(dashboard.url);
    expect(fleet.watches).toHaveLength(1);
    first.stop();
    await sleep(500);
    expect(fleet.watches[0]?.closed).toBe(false);
    second.stop();
    await waitFor("the watch closed", () => fleet.watches[0]?.closed === true, 3000);
    expect(dashboard.traffic()).toMatchObject({ state: "idle", started: 1 });
    // A page again: a new watch.
    const third = await stream(dashboard.url);
    await waitFor("a second watch", () => fleet.watches.length === 2 && dashboard?.traffic().state === "on");
    third.stop();
  });

  it("a page that comes back within lingerMs (a reload) keeps the watch and its history", async () => {
    const fleet = scriptedFleet();
    dashboard = await startDashboard({ fleet, port: 0, traffic: { lingerMs: 2000 } });
    const page = await stream(dashboard.url);
    await waitFor("the watch on", () => fleet.watches.length === 1);
    fleet.watches[0]?.emit(snapshotAt(T, [circuit("api", T, 40, [10, 20, 30])]));
    await waitFor("the second", () => page.of("traffic").length === 1);
    page.stop();
    await sleep(100);
    const reloaded = await stream(dashboard.url);
    expect(fleet.watches).toHaveLength(1);
    const [history] = reloaded.of<WireHistory>("traffic-history");
    expect(history?.t).toBe(T);
    expect(history?.c).toEqual([
      [
        "api",
        [
          [10, 20, 30, 40],
          [0, 0, 0, 0],
          [0, 0, 0, 0],
          [0, 0, 0, 0],
          [31, 31, 31, 31],
          [40, 40, 40, 40],
        ],
      ],
    ]);
    expect(history?.tot[0][0]).toEqual([40]);
    reloaded.stop();
  });
});

describe("the traffic events", () => {
  it("each second: one `traffic` event, serialised once whatever the number of streams; a page that connects later gets the history first", async () => {
    const fleet = scriptedFleet();
    dashboard = await startDashboard({ fleet, port: 0 });
    const streams = [await stream(dashboard.url), await stream(dashboard.url), await stream(dashboard.url)];
    await waitFor("the watch on", () => dashboard?.traffic().state === "on");
    const watch = fleet.watches[0] as ScriptedWatch;
    let read = 0;
    const circuits = [circuit("api", T, 40)];
    const counted = snapshotAt(T, circuits);
    // Every encoding reads the circuits once.
    Object.defineProperty(counted, "circuits", {
      get: () => {
        read += 1;
        return circuits;
      },
    });
    watch.emit(counted);
    await waitFor("every stream got it", () => streams.every((s) => s.of("traffic").length === 1));
    expect(read).toBe(1);
    const [frame] = streams[0]?.of<WireFrame>("traffic") ?? [];
    expect(frame).toMatchObject({ t: T, n: 3, tot: [40, 0, 0, 0], cut: 0 });
    expect(frame?.c).toEqual([
      [
        "api",
        40,
        0,
        0,
        0,
        31,
        40,
        3,
        [
          [0, 20, 40],
          [1, 10, 40],
          [2, 10, 40, 1000],
        ],
      ],
    ]);
    expect(frame?.p).toEqual(["web-1.prod:12345", "web-2.prod:23456", "web-7.prod:4242"]);
    // A page that connects now: the snapshot, the traffic's state, then the history.
    const late = await stream(dashboard.url);
    await waitFor("its history", () => late.of("traffic-history").length === 1);
    expect(late.received.map((e) => e.event)).toEqual(["snapshot", "traffic-status", "traffic-history"]);
    for (const s of [...streams, late]) s.stop();
  });

  it("1,000 busy circuits: the bytes a second on one stream (printed), bounded by maxCircuits", async () => {
    const fleet = scriptedFleet();
    dashboard = await startDashboard({ fleet, port: 0 });
    const page = await stream(dashboard.url);
    await waitFor("the watch on", () => dashboard?.traffic().state === "on");
    const watch = fleet.watches[0] as ScriptedWatch;
    const names = Array.from({ length: 1000 }, (_, i) => `payments-api-${String(i).padStart(4, "0")}`);
    const before = page.bytes();
    const seconds = 5;
    for (let s = 1; s <= seconds; s++)
      watch.emit(
        snapshotAt(
          T + s * 1000,
          names.map((name, i) => circuit(name, T + s * 1000, 20 + (i % 50))),
        ),
      );
    await waitFor("every second", () => page.of("traffic").length === seconds);
    const perSecond = (page.bytes() - before) / seconds;
    console.log(
      `traffic on the event stream, 1,000 busy circuits x 3 processes: ${Math.round(perSecond)} bytes a second`,
    );
    expect(perSecond).toBeLessThan(90_000);
    expect(dashboard.traffic().frameBytes / dashboard.traffic().frames).toBeCloseTo(perSecond, -3);
    page.stop();
    // Past maxCircuits: the busiest, and the count left out.
    await dashboard.close();
    dashboard = await startDashboard({ fleet, port: 0, traffic: { maxCircuits: 100 } });
    const bounded = await stream(dashboard.url);
    await waitFor("the watch on", () => dashboard?.traffic().state === "on");
    fleet.watches.at(-1)?.emit(
      snapshotAt(
        T,
        names.map((name, i) => circuit(name, T, 1000 - i)),
      ),
    );
    await waitFor("the second", () => bounded.of("traffic").length === 1);
    const [frame] = bounded.of<WireFrame>("traffic");
    expect(frame?.c).toHaveLength(100);
    expect(frame?.cut).toBe(900);
    bounded.stop();
  });

  it("a watch that cannot start is said to the pages in the fleet's words, and tried again", async () => {
    const fleet = scriptedFleet();
    fleet.refusal = new Error(
      "cannot watch the fleet's traffic: Redis at redis://viewer:***@127.0.0.1:6379 refused: NOPERM this user has no permissions to run the 'eval' command",
    );
    dashboard = await startDashboard({ fleet, port: 0, traffic: { retryMs: 200 } });
    const page = await stream(dashboard.url);
    await waitFor("the refusal", () => page.of<{ state: string }>("traffic-status").some((s) => s.state === "failed"));
    expect(page.of("traffic-status").find((s) => (s as { state: string }).state === "failed")).toMatchObject({
      error: expect.stringContaining("NOPERM") as string,
    });
    fleet.refusal = undefined;
    await waitFor("on, once allowed", () => page.of<{ state: string }>("traffic-status").at(-1)?.state === "on", 3000);
    expect(fleet.watches).toHaveLength(1);
    page.stop();
  });

  it("a fleet without traffic: said once, and nothing started", async () => {
    const scripted = scriptedFleet();
    const plain: DashboardFleet = {
      prefix: scripted.prefix,
      url: scripted.url,
      watch: (listener, options) => scripted.watch(listener, options),
      control: (name, action) => scripted.control(name, action),
    };
    dashboard = await startDashboard({ fleet: plain, port: 0 });
    const page = await stream(dashboard.url);
    expect(page.of("traffic-status")).toMatchObject([{ state: "unsupported", error: null }]);
    expect((await (await fetch(`${dashboard.url}api/traffic`)).json()) as object).toMatchObject({
      traffic: { state: "unsupported" },
      circuits: [],
    });
    page.stop();
  });
});

describe("GET /api/traffic", () => {
  it("needs the token like every route; a read starts the watch and keeps it leaseMs; the latest second in full", async () => {
    const fleet = scriptedFleet();
    const token = "api-traffic-token-0123456789";
    dashboard = await startDashboard({ fleet, port: 0, token, traffic: { leaseMs: 400, lingerMs: 0 } });
    const url = `${dashboard.url}api/traffic`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: "Bearer wrong-token-0123456789" } })).status).toBe(401);
    expect(await statusOf(url, { host: "attacker.example", authorization: `Bearer ${token}` })).toBe(403);
    expect(fleet.watches).toHaveLength(0);
    const auth = { authorization: `Bearer ${token}` };
    const first = (await (await fetch(url, { headers: auth })).json()) as { traffic: { state: string }; t: number };
    // The first read starts the watch: nothing to say yet.
    expect(first).toMatchObject({ traffic: { state: "starting" }, t: 0, circuits: [] });
    await waitFor("the watch on", () => fleet.watches.length === 1 && dashboard?.traffic().state === "on");
    fleet.watches[0]?.emit(snapshotAt(T, [circuit("api", T, 40, [10])]));
    const body = (await (await fetch(url, { headers: auth })).json()) as {
      t: number;
      circuits: { name: string; calls: number; processes: unknown[]; history?: unknown[] }[];
    };
    expect(body).toMatchObject({ traffic: { state: "on", error: null }, t: T, processes: 3, totals: { calls: 40 } });
    expect(body.circuits).toHaveLength(1);
    expect(body.circuits[0]).toMatchObject({ name: "api", calls: 40, p99: upperBoundOf(40) });
    expect(body.circuits[0]?.processes).toHaveLength(3);
    expect(body.circuits[0]?.history).toBeUndefined();
    const full = (await (await fetch(`${url}?history=1`, { headers: auth })).json()) as typeof body;
    expect(full.circuits[0]?.history).toHaveLength(2);
    // Nobody reads it any more: closed once the lease ran out.
    await waitFor("the watch closed", () => fleet.watches[0]?.closed === true, 3000);
  });
});
