/**
 * `purgatory top`: the busiest circuits of the fleet, live. A `TrafficWatch` (`Fleet.watchTraffic`)
 * makes every process of the prefix report its traffic once a second while it runs; the circuits'
 * states come from the circuit feed (`Fleet.watch`, through a `FleetWatcher`, as for
 * `circuits --watch`). What is drawn is `renderTop`'s (top-view.ts): this module only runs the
 * terminal.
 *
 * - **On a terminal** (stdout and stdin both TTYs): the alternate screen, redrawn in place once a
 *   second, at each change of a state and at each resize; stdin in raw mode for the keys (`c`
 *   `e` `r` `p` `n` sort, `q` or Ctrl-C quits). The terminal is given back as it was on every way
 *   out: a key, SIGINT, SIGTERM, an error.
 * - **Not a terminal**: one table a second (every circuit, nothing cut, no key), until SIGINT or
 *   SIGTERM.
 * - **`--json`**: one snapshot, the first whole second every process reported (a few seconds at
 *   most; nobody reporting, an empty list), then exit 0.
 * @module
 */
import type { CircuitStateName } from "../core/circuit.js";
import { FleetWatcher } from "../fleet/watcher.js";
import type { TrafficSnapshot, TrafficWatch } from "../storage/redis/traffic-watch.js";
import type { Invocation, TopSort } from "./args.js";
import { EXIT } from "../fleet/errors.js";
import type { Fleet } from "../fleet/fleet.js";
import { painter, wantsColor, type Output } from "./table.js";
import { topJson } from "./top-json.js";
import { renderTop, SORT_KEYS, type TopFrame } from "./top-view.js";

/** `purgatory top`'s command line. */
export type TopInvocation = Extract<Invocation, { command: "top" }>;

/** A terminal's output: its size, and its resizes. */
interface Screen extends Output {
  readonly columns?: number;
  readonly rows?: number;
  on?(event: "resize", listener: () => void): unknown;
  off?(event: "resize", listener: () => void): unknown;
}

/** What `top` reads keys from (`process.stdin`). */
export interface KeyInput {
  readonly isTTY?: boolean;
  setRawMode?(raw: boolean): unknown;
  on(event: "data", listener: (chunk: Buffer | string) => void): unknown;
  off(event: "data", listener: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** Where `top` reads and writes (the CLI's streams, and stdin for the keys). */
export interface TopIo {
  readonly stdout: Output;
  readonly env: NodeJS.ProcessEnv;
  /** Calls `stop` on SIGINT and SIGTERM; returns what stops listening. */
  readonly onStop?: (stop: () => void) => () => void;
  /** Default `process.stdin` (read only when stdout is a terminal too). */
  readonly stdin?: KeyInput;
}

/** Seconds of history the watch keeps: a circuit with no call for this long leaves the list. */
const HISTORY_SECONDS = 60;
/** With no report this long after starting, the screen says that nobody reports. */
const IDLE_MS = 4000;
/** `--json`: how long to wait for a first snapshot, and then for the next (a whole second). */
const FIRST_SNAPSHOT_MS = 4000;
const NEXT_SNAPSHOT_MS = 2000;
/** Changes of state drawn together within this many ms. */
const COALESCE_MS = 50;

/** What is shown before the first whole second. */
const EMPTY: TrafficSnapshot = {
  t: 0,
  processes: 0,
  totals: { calls: 0, errors: 0, rejected: 0, errorRate: 0 },
  circuits: [],
};

const ENTER = "\x1b[?1049h\x1b[?25l"; // the alternate screen, the cursor hidden
const LEAVE = "\x1b[?25h\x1b[?1049l"; // the cursor shown, the screen as it was

/**
 * Runs `purgatory top` until the user quits (or, with `--json`, once) and resolves with the exit
 * code. Throws the CLI's errors (Redis unreachable: exit code 2) before it touches the terminal.
 */
export async function runTop(invocation: TopInvocation, fleet: Fleet, io: TopIo): Promise<number> {
  // The circuit feed first: it connects the watch client the traffic watch shares (which does
  // not connect it itself).
  const watcher = new FleetWatcher((listener, options) => fleet.watch(listener, options));
  let traffic: TrafficWatch | undefined;
  try {
    await watcher.start();
    traffic = await fleet.watchTraffic({ historySeconds: HISTORY_SECONDS });
    if (invocation.json) {
      const snapshot = await wholeSecond(traffic);
      const json = topJson(snapshot, statesOf(watcher), invocation.sort, invocation.limit, fleet.prefix);
      io.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
      return EXIT.ok;
    }
    const screen = io.stdout as Screen;
    if (screen.isTTY === true)
      await interactive(invocation, fleet, traffic, watcher, io, screen, io.stdin ?? process.stdin);
    else await piped(invocation, fleet, traffic, watcher, io);
    return EXIT.ok;
  } finally {
    await Promise.all([watcher.stop(), traffic?.close()]);
  }
}

/** The circuits' states the feed read. */
function statesOf(watcher: FleetWatcher): Map<string, CircuitStateName> {
  return new Map(watcher.circuits.map((c) => [c.info.name, c.info.state]));
}

/**
 * The first whole second the processes reported: the snapshot after the first one (a process's
 * first interval is the part of a second since it heard the watcher), or the first if no other
 * comes, or the empty snapshot if nobody reports within `FIRST_SNAPSHOT_MS`.
 */
function wholeSecond(traffic: TrafficWatch): Promise<TrafficSnapshot> {
  return new Promise((resolve) => {
    let first: TrafficSnapshot | undefined;
    let timer = setTimeout(() => done(EMPTY), FIRST_SNAPSHOT_MS);
    const stop = traffic.onUpdate((snapshot) => {
      if (first === undefined) {
        first = snapshot;
        clearTimeout(timer);
        timer = setTimeout(() => done(snapshot), NEXT_SNAPSHOT_MS);
      } else if (snapshot.t > first.t) done(snapshot);
    });
    const done = (snapshot: TrafficSnapshot): void => {
      clearTimeout(timer);
      stop();
      resolve(snapshot);
    };
  });
}

/**
 * Calls `listener` with each snapshot from the first whole second on: the first snapshot is
 * skipped, since a process's first interval is only the part of a second since it heard the
 * watcher (a few calls over a few ms make a rate far off). Returns what stops it.
 */
function onWholeSeconds(traffic: TrafficWatch, listener: (snapshot: TrafficSnapshot) => void): () => void {
  let first: number | undefined;
  return traffic.onUpdate((snapshot) => {
    if (first === undefined) first = snapshot.t;
    else if (snapshot.t > first) listener(snapshot);
  });
}

/** A promise that resolves on SIGINT or SIGTERM, or when `stop` is called. */
function stopSignal(io: TopIo): {
  readonly stopped: Promise<void>;
  readonly stop: () => void;
  readonly dispose: () => void;
} {
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const dispose = io.onStop?.(stop) ?? (() => undefined);
  return { stopped, stop, dispose };
}

/** One table a second, as the snapshots come, until SIGINT or SIGTERM. */
async function piped(
  invocation: TopInvocation,
  fleet: Fleet,
  traffic: TrafficWatch,
  watcher: FleetWatcher,
  io: TopIo,
): Promise<void> {
  const paint = painter(wantsColor(io.stdout, io.env));
  const signal = stopSignal(io);
  const print = (snapshot: TrafficSnapshot, idle: boolean): void => {
    const frame: TopFrame = {
      snapshot,
      states: statesOf(watcher),
      redis: watcher.status,
      sort: invocation.sort,
      width: Infinity,
      height: null,
      limit: invocation.limit,
      paint,
      prefix: fleet.prefix,
      url: fleet.url,
      keys: false,
      idle,
    };
    io.stdout.write(`${renderTop(frame).join("\n")}\n\n`);
  };
  let reported = false;
  const stopUpdates = onWholeSeconds(traffic, (snapshot) => {
    reported = true;
    print(snapshot, false);
  });
  // Nobody reports: say so once, rather than print nothing.
  const idle = setTimeout(() => {
    if (!reported) print(EMPTY, true);
  }, IDLE_MS);
  try {
    await signal.stopped;
  } finally {
    signal.dispose();
    stopUpdates();
    clearTimeout(idle);
  }
}

/** The live screen until `q`, Ctrl-C, SIGINT or SIGTERM; the terminal restored on every way out. */
async function interactive(
  invocation: TopInvocation,
  fleet: Fleet,
  traffic: TrafficWatch,
  watcher: FleetWatcher,
  io: TopIo,
  screen: Screen,
  stdin: KeyInput,
): Promise<void> {
  const paint = painter(wantsColor(screen, io.env));
  const keys = stdin.isTTY === true && typeof stdin.setRawMode === "function";
  const signal = stopSignal(io);
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown): void => {
    failure ??= { error };
    signal.stop();
  };
  let sort: TopSort = invocation.sort;
  let latest = EMPTY;
  let idle = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const draw = (): void => {
    clearTimeout(timer);
    timer = undefined;
    try {
      const frame: TopFrame = {
        snapshot: latest,
        states: statesOf(watcher),
        redis: watcher.status,
        sort,
        width: Math.max(1, screen.columns ?? 80),
        height: Math.max(1, screen.rows ?? 24),
        limit: invocation.limit,
        paint,
        prefix: fleet.prefix,
        url: fleet.url,
        keys,
        idle,
      };
      // Each line cleared, then written; what is below the last one cleared too: no flicker.
      const lines = renderTop(frame).map((line) => `\x1b[2K${line}`);
      screen.write(`\x1b[H${lines.join("\r\n")}\x1b[J`);
    } catch (error) {
      fail(error);
    }
  };
  const drawSoon = (): void => {
    timer ??= setTimeout(draw, COALESCE_MS);
  };
  const onKey = (chunk: Buffer | string): void => {
    for (const key of String(chunk)) {
      if (key === "q" || key === "Q" || key === "\x03") return signal.stop();
      const picked = SORT_KEYS[key.toLowerCase()];
      if (picked !== undefined) {
        sort = picked;
        draw();
      }
    }
  };
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    if (keys) {
      stdin.off("data", onKey);
      stdin.setRawMode?.(false);
      stdin.pause();
    }
    screen.write(LEAVE);
  };
  // Should the process end some other way (an uncaught error), the terminal is given back too.
  process.once("exit", restore);
  const stopUpdates = onWholeSeconds(traffic, (snapshot) => {
    latest = snapshot;
    idle = false;
    draw();
  });
  const stopStates = watcher.subscribe(drawSoon);
  const idleTimer = setTimeout(() => {
    idle = latest.t === 0;
    draw();
  }, IDLE_MS);
  const onResize = (): void => draw();
  try {
    screen.write(ENTER);
    if (keys) {
      stdin.setRawMode?.(true);
      stdin.on("data", onKey);
      stdin.resume();
    }
    screen.on?.("resize", onResize);
    draw();
    await signal.stopped;
  } finally {
    signal.dispose();
    screen.off?.("resize", onResize);
    stopUpdates();
    stopStates();
    clearTimeout(timer);
    clearTimeout(idleTimer);
    restore();
    process.off("exit", restore);
  }
  if (failure !== undefined) throw failure.error;
}
