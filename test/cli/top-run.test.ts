/**
 * `runTop`'s handling of a terminal, in-process with stand-ins (a fleet, a traffic watch, a
 * terminal and a keyboard that record what is done to them): the raw mode and the alternate
 * screen are entered and given back on every way out (a key, a signal, an error while drawing),
 * keys re-sort, a state change redraws, and nothing touches the keyboard when stdout is piped.
 */
import { describe, expect, it } from "vitest";
import type { TopSort } from "../../src/cli/args.js";
import type { Fleet } from "../../src/fleet/fleet.js";
import { runTop, type KeyInput, type TopIo } from "../../src/cli/top.js";
import type { CircuitInfo } from "../../src/storage/redis/inspect.js";
import type { CircuitTraffic, TrafficSnapshot } from "../../src/storage/redis/traffic-watch.js";
import type { FeedListener } from "../../src/storage/redis/watch.js";

const ENTER = "\x1b[?1049h\x1b[?25l";
const LEAVE = "\x1b[?25h\x1b[?1049l";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function circuit(name: string, calls: number, errorRate: number): CircuitTraffic {
  return {
    t: 1000,
    name,
    calls,
    errors: calls * errorRate,
    rejected: 0,
    errorRate,
    p50: 1,
    p99: 2,
    processes: [],
    history: [],
  };
}

const snapshot = (t: number, circuits: CircuitTraffic[]): TrafficSnapshot => ({
  t,
  processes: 1,
  totals: { calls: 0, errors: 0, rejected: 0, errorRate: 0 },
  circuits,
});

/** A fleet whose traffic watch is driven by the test (`publish`), and whose feed holds `states`. */
function fakeFleet(states: Record<string, CircuitInfo["state"]>) {
  const listeners = new Set<(s: TrafficSnapshot) => void>();
  let feed: FeedListener | undefined;
  let closed = 0;
  const info = (name: string, state: CircuitInfo["state"]) =>
    ({ name, state, openedAt: null, updatedAt: 1, incarnation: "i" }) as unknown as CircuitInfo;
  const fleet = {
    prefix: "purgatory",
    url: "redis://127.0.0.1:6379",
    watch: async (listener: FeedListener) => {
      feed = listener;
      listener.read(
        Object.entries(states).map(([name, state]) => info(name, state)),
        [],
        0,
      );
      return { refresh: async () => undefined, close: async () => void (closed += 1) };
    },
    watchTraffic: async () => ({
      onUpdate: (listener: (s: TrafficSnapshot) => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      snapshot: () => snapshot(0, []),
      close: async () => void (closed += 1),
    }),
  };
  return {
    fleet: fleet as unknown as Fleet,
    publish: (s: TrafficSnapshot) => {
      for (const listener of listeners) listener(s);
    },
    setState: (name: string, state: CircuitInfo["state"]) => feed?.read([info(name, state)], [], 0),
    closed: () => closed,
  };
}

/** A terminal that keeps what was written, and a keyboard the test types on. */
function fakeTerminal(options: { tty?: boolean } = {}) {
  const written: string[] = [];
  const raw: boolean[] = [];
  let onData: ((chunk: Buffer | string) => void) | undefined;
  let stop: (() => void) | undefined;
  let paused = true;
  const stdin: KeyInput = {
    isTTY: true,
    setRawMode: (on: boolean) => raw.push(on),
    on: (_event, listener) => (onData = listener),
    off: (_event, listener) => {
      if (onData === listener) onData = undefined;
    },
    resume: () => (paused = false),
    pause: () => (paused = true),
  };
  const io: TopIo = {
    stdout: {
      write: (text: string) => void written.push(text),
      isTTY: options.tty ?? true,
      columns: 100,
      rows: 30,
    } as TopIo["stdout"],
    env: { NO_COLOR: "1" },
    stdin,
    onStop: (s) => {
      stop = s;
      return () => (stop = undefined);
    },
  };
  return {
    io,
    type: (keys: string) => onData?.(keys),
    signal: () => stop?.(),
    output: () => written.join(""),
    /** The latest screen drawn, as lines. */
    screen: () => {
      const frames = written.join("").split("\x1b[H");
      const frame = frames.at(-1) ?? "";
      const end = frame.indexOf("\x1b[J");
      return (end < 0 ? frame : frame.slice(0, end)).replaceAll("\x1b[2K", "").split("\r\n");
    },
    raw,
    listening: () => onData !== undefined,
    paused: () => paused,
  };
}

const invocation = (sort: TopSort = "calls") =>
  ({ command: "top", json: false, sort, limit: null, redis: "", prefix: "purgatory" }) as const;

const firstRow = (lines: string[]): string | undefined => {
  const at = lines.findIndex((l) => l.startsWith("CIRCUIT"));
  return lines[at + 1]?.split(/\s+/)[0];
};

describe("runTop on a terminal", () => {
  it("enters raw mode and the alternate screen; keys re-sort; q gives everything back and resolves 0", async () => {
    const { fleet, publish, setState, closed } = fakeFleet({ busy: "closed", failing: "opened" });
    const term = fakeTerminal();
    const running = runTop(invocation(), fleet, term.io);
    await sleep(20);
    expect(term.output().startsWith(ENTER)).toBe(true);
    expect(term.raw).toEqual([true]);
    expect(term.paused()).toBe(false);
    // The first snapshot is a part of a second: skipped. The next one is drawn.
    publish(snapshot(1000, [circuit("busy", 99, 0), circuit("failing", 1, 1)]));
    expect(term.screen().join("\n")).toContain("waiting for the first second");
    publish(snapshot(2000, [circuit("busy", 50, 0), circuit("failing", 5, 1)]));
    expect(firstRow(term.screen())).toBe("busy");
    expect(term.screen().find((l) => l.startsWith("busy"))).toMatch(/^busy\s+50\s/);
    term.type("e");
    expect(firstRow(term.screen())).toBe("failing");
    expect(term.screen().join("\n")).toContain("sort: error rate");
    term.type("n");
    expect(term.screen().join("\n")).toContain("sort: name");
    // A state change (the circuit feed) redraws.
    setState("busy", "isolated");
    await sleep(120);
    expect(term.screen().find((l) => l.startsWith("busy"))).toMatch(/isolated/);
    term.type("q");
    expect(await running).toBe(0);
    expect(term.raw).toEqual([true, false]);
    expect(term.listening()).toBe(false);
    expect(term.paused()).toBe(true);
    expect(term.output().endsWith(LEAVE)).toBe(true);
    expect(closed()).toBe(2);
  });

  it("Ctrl-C (a raw byte) and SIGTERM (the stop signal) end it the same way", async () => {
    for (const end of ["ctrl-c", "signal"] as const) {
      const { fleet } = fakeFleet({});
      const term = fakeTerminal();
      const running = runTop(invocation(), fleet, term.io);
      await sleep(20);
      if (end === "ctrl-c") term.type("\x03");
      else term.signal();
      expect(await running).toBe(0);
      expect(term.raw).toEqual([true, false]);
      expect(term.output().endsWith(LEAVE)).toBe(true);
    }
  });

  it("an error while drawing: the terminal is given back, then the error is thrown", async () => {
    const { fleet, publish } = fakeFleet({});
    const term = fakeTerminal();
    const running = runTop(invocation(), fleet, term.io);
    await sleep(20);
    const broken = circuit("broken", 1, 0);
    Object.defineProperty(broken, "name", {
      get() {
        throw new Error("a broken snapshot");
      },
    });
    publish(snapshot(1000, []));
    publish(snapshot(2000, [broken, circuit("other", 2, 0)]));
    await expect(running).rejects.toThrow("a broken snapshot");
    expect(term.raw).toEqual([true, false]);
    expect(term.output().endsWith(LEAVE)).toBe(true);
  });
});

describe("runTop piped", () => {
  it("never touches the keyboard nor the screen's modes: one table a second", async () => {
    const { fleet, publish } = fakeFleet({ busy: "closed" });
    const term = fakeTerminal({ tty: false });
    const running = runTop(invocation(), fleet, term.io);
    await sleep(20);
    publish(snapshot(1000, [circuit("busy", 1, 0)]));
    publish(snapshot(2000, [circuit("busy", 7, 0)]));
    publish(snapshot(3000, [circuit("busy", 8, 0)]));
    term.signal();
    expect(await running).toBe(0);
    expect(term.raw).toEqual([]);
    expect(term.output()).not.toContain("\x1b");
    const tables = term
      .output()
      .split("\n\n")
      .filter((t) => t.includes("CIRCUIT"));
    expect(tables).toHaveLength(2);
    expect(tables[0]).toMatch(/^busy\s+7\s/m);
    expect(tables[1]).toMatch(/^busy\s+8\s/m);
  });
});
