/**
 * A circuit as words: durations, policies, counts and times of a `CircuitInfo`, for the CLI's
 * tables, `show` and `top`, and for the dashboard's cards.
 * @module
 */
import type { CircuitConfig, QuorumPolicy } from "../core/circuit.js";
import type { CircuitInfo, QuorumInfo } from "../storage/redis/inspect.js";

/** Seconds as a person reads them: `0.25s`, `30s`, `5m`, `1.5h`. */
export function duration(seconds: number): string {
  const round = (n: number): number => Math.round(n * 100) / 100;
  if (seconds < 120) return `${round(seconds)}s`;
  if (seconds < 7200) return `${round(seconds / 60)}m`;
  return `${round(seconds / 3600)}h`;
}

/** Milliseconds as a short elapsed time: `850ms`, `12s`, `3m 20s`, `2h 5m`. */
export function elapsed(ms: number): string {
  const value = Math.max(0, Math.round(ms));
  if (value < 1000) return `${value}ms`;
  const s = Math.floor(value / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** A rate as a percentage: `50%`, `12.5%`. */
const percent = (rate: number): string => `${Math.round(rate * 1000) / 10}%`;

/** The rate-window and backoff policies of a config, one short phrase each (none: `[]`). */
export function policies(config: CircuitConfig): string[] {
  const out: string[] = [];
  if (config.failureRate !== undefined) {
    const { rate, minimumCalls, window } = config.failureRate;
    out.push(`failure rate >= ${percent(rate)} of >= ${minimumCalls} calls in ${duration(window)}`);
  }
  if (config.slowCall !== undefined) {
    out.push(`slow calls (> ${duration(config.slowCall.duration)}) >= ${percent(config.slowCall.rate)}`);
  }
  if (config.backoff !== undefined) {
    const { multiplier, maxTtl, jitter } = config.backoff;
    out.push(`backoff x${multiplier} up to ${duration(maxTtl)}${jitter > 0 ? ` +-${percent(jitter)}` : ""}`);
  }
  return out;
}

/** The window's counts, `40 calls, 12 failed, 0 slow`, or `null` without a rate window. */
export function windowCounts(info: CircuitInfo): string | null {
  if (info.window === null) return null;
  const { calls, failures, slow } = info.window;
  return `${calls} calls, ${failures} failed, ${slow} slow`;
}

/** When the circuit opened, relative to `now`: `12s ago`, or `null`. */
export function openedAgo(info: CircuitInfo, now: number): string | null {
  return info.openedAt === null ? null : `${elapsed(now - info.openedAt)} ago`;
}

/** When a probe may run, relative to `now`: `in 18s`, `now`, or `null`. */
export function retryIn(info: CircuitInfo, now: number): string | null {
  if (info.retryAt === null) return null;
  return info.retryAt <= now ? "now" : `in ${elapsed(info.retryAt - now)}`;
}

/** An epoch-ms time as ISO 8601 (UTC). */
export const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * A quorum as configured: `2 processes`, `2 processes (or 25% of active callers)`; without one,
 * `1 process`.
 */
export function quorumPolicy(quorum: QuorumPolicy | undefined): string {
  const processes = quorum?.processes ?? 1;
  const fraction = quorum?.fraction === undefined ? "" : ` (or ${percent(quorum.fraction)} of active callers)`;
  return `${processes} process${processes === 1 ? "" : "es"}${fraction}`;
}

/** A quorum in short, for a change: `2`, `2 or 25% of active callers`; without one, `1`. */
export function quorumShort(quorum: QuorumPolicy | undefined): string {
  const fraction = quorum?.fraction === undefined ? "" : ` or ${percent(quorum.fraction)} of active callers`;
  return `${quorum?.processes ?? 1}${fraction}`;
}

/**
 * A process as operators know it: a name of the default form `host:pid` as `host (pid 4242)`,
 * any other name as it is (not yet made `safe`).
 */
export function processLabel(name: string): string {
  const match = /^(.+):(\d+)$/.exec(name);
  return match === null ? name : `${match[1]} (pid ${match[2]})`;
}

/**
 * `items` joined by `separator`, as many as fit in about `width` characters (at least one), then
 * `and N more`.
 *
 * @example
 * ```ts
 * shortList(["web-1:101", "web-2:102", "web-3:103"], 20); // "web-1:101, web-2:102 and 1 more"
 * ```
 */
export function shortList(items: readonly string[], width = 60, separator = ", "): string {
  const shown: string[] = [];
  let length = 0;
  for (const item of items) {
    const added = (shown.length === 0 ? 0 : separator.length) + item.length;
    if (shown.length > 0 && length + added > width) break;
    shown.push(item);
    length += added;
  }
  const rest = items.length - shown.length;
  return shown.join(separator) + (rest > 0 ? ` and ${rest} more` : "");
}

/** Process names in a person's order: `web-2` before `web-10`. */
export const byProcessName = (a: string, b: string): number => a.localeCompare(b, "en", { numeric: true });

/**
 * The processes known to call a circuit: its active callers, and any process open for itself
 * that is no longer one (a process open for itself is one, unless its calls stopped).
 */
export function knownProcesses(quorum: QuorumInfo): number {
  return new Set([...quorum.activeCallers, ...quorum.openLocally.map((p) => p.process)]).size;
}

/** `1 of 12 processes open locally`, or `null` when no process is open for itself. */
export function openLocallyNote(quorum: QuorumInfo): string | null {
  const open = quorum.openLocally.length;
  if (open === 0) return null;
  const known = knownProcesses(quorum);
  return `${open} of ${known} process${known === 1 ? "" : "es"} open locally`;
}

/** When a probe may run, relative to `now`: `probe in 18s`, `probe now`. */
export function probeIn(retryAt: number, now: number): string {
  return retryAt <= now ? "probe now" : `probe in ${elapsed(retryAt - now)}`;
}
