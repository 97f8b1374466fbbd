/**
 * `purgatory circuits --watch`: the circuits table, then every change until the process is asked
 * to stop, learnt through a `FleetWatcher` (the circuits' channels, a few Redis commands a second
 * whatever the number of circuits). On a terminal the table is redrawn in place; piped, one line a
 * change; with `--json`, one JSON object a line.
 * @module
 */
import { FleetWatcher, type FleetUpdate } from "../fleet/watcher.js";
import type { ObservedTransition } from "../fleet/history.js";
import type { CircuitInfo } from "../storage/redis/inspect.js";
import { circuitsTable, state } from "./commands.js";
import { quoted, type Fleet } from "../fleet/fleet.js";
import { safe, type Output, type Paint } from "./table.js";

/** Where the watch writes. */
export interface WatchOutput {
  readonly stdout: Output;
  readonly paint: Paint;
  /** One JSON object a line. */
  readonly json: boolean;
}

/** How often a terminal's table is redrawn at most (and at least, for the relative times), ms. */
const REDRAW_MS = 250;
const REFRESH_MS = 1000;

/**
 * Watches the fleet until `stopped` resolves.
 *
 * @example
 * ```ts
 * await watchCircuits(fleet, { stdout: process.stdout, paint, json: false }, untilSigint);
 * ```
 */
export async function watchCircuits(fleet: Fleet, out: WatchOutput, stopped: Promise<void>): Promise<void> {
  const watcher = new FleetWatcher((listener, options) => fleet.watch(listener, options));
  const redraw = out.stdout.isTTY === true && !out.json;
  let started = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const write = (text: string): void => out.stdout.write(`${text}\n`);
  const draw = (): void => {
    timer = undefined;
    const circuits = watcher.circuits.map((c) => c.info);
    const status = watcher.status.available
      ? out.paint("green", "live")
      : out.paint("red", `Redis is not answering (${watcher.status.error ?? "no answer"}): the last state read`);
    out.stdout.write(
      `\x1b[H\x1b[2J${circuitsTable(circuits, fleet, out.paint, watcher.now())}\n${status} ${out.paint("dim", "· Ctrl-C stops")}\n`,
    );
  };
  const drawSoon = (): void => {
    timer ??= setTimeout(draw, REDRAW_MS);
  };
  watcher.subscribe((update) => {
    if (!started) return;
    if (redraw) return drawSoon();
    write(out.json ? JSON.stringify(updateJson(update, watcher.now())) : describeUpdate(update, out.paint));
  });
  await watcher.start();
  started = true;
  const circuits = watcher.circuits.map((c) => c.info);
  if (out.json) {
    write(JSON.stringify({ type: "snapshot", now: watcher.now(), redis: watcher.status, circuits }));
  } else if (redraw) {
    draw();
  } else {
    write(circuitsTable(circuits, fleet, out.paint, watcher.now()));
    write(out.paint("dim", `watching the circuits under prefix ${quoted(safe(fleet.prefix))} (Ctrl-C stops)`));
  }
  const refresh = redraw ? setInterval(drawSoon, REFRESH_MS) : undefined;
  await stopped;
  clearInterval(refresh);
  clearTimeout(timer);
  await watcher.stop();
}

/** An update as one JSON line's object. */
function updateJson(update: FleetUpdate, now: number): Record<string, unknown> {
  switch (update.type) {
    case "circuit":
      return { type: "circuit", now, circuit: update.circuit.info, transitions: update.added };
    case "removed":
      return { type: "removed", now, name: update.name };
    case "redis":
      return { type: "redis", now, available: update.status.available, error: update.status.error };
  }
}

/** An update as a line: `2024-05-01T12:03:04.123Z "payments": closed -> opened (3/3 failures)`. */
export function describeUpdate(update: FleetUpdate, paint: Paint, at: Date = new Date()): string {
  const time = paint("dim", at.toISOString());
  switch (update.type) {
    case "circuit": {
      const { info } = update.circuit;
      const moves = update.added.map((t) => transitionText(t, paint));
      const what = moves.length > 0 ? moves.join(", ") : state(info.state, paint);
      return `${time} ${safe(quoted(info.name))}: ${what} (${details(info)})`;
    }
    case "removed":
      return `${time} ${safe(quoted(update.name))}: gone (Redis no longer holds it)`;
    case "redis":
      return update.status.available
        ? `${time} ${paint("green", "Redis answers again")}`
        : `${time} ${paint("red", `Redis is not answering (${update.status.error ?? "no answer"})`)}: changes show once it answers again`;
  }
}

function transitionText(t: ObservedTransition, paint: Paint): string {
  if (t.from === null) return `seen ${state(t.to, paint)}`;
  if (t.from === t.to) return `${state(t.to, paint)} again`;
  return `${state(t.from, paint)} -> ${state(t.to, paint)}`;
}

/** `failures 2/5, window 40/3/0, 12 callers`. */
function details(info: CircuitInfo): string {
  const parts = [`failures ${info.failureCount}/${info.config.threshold}`];
  if (info.window !== null) parts.push(`window ${info.window.calls}/${info.window.failures}/${info.window.slow}`);
  if (info.quorum !== null) parts.push(`${info.quorum.activeCallers.length} callers`);
  return parts.join(", ");
}
