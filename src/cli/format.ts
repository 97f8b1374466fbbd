/**
 * A circuit as words: durations, policies, counts and times of a `CircuitInfo`, for the CLI's
 * tables and `show`.
 * @module
 */
import type { CircuitConfig } from "../core/circuit.js";
import type { CircuitInfo } from "../storage/redis/inspect.js";

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

/** The rate-window and backoff policies of a config, one short phrase each (none: `[]`). */
export function policies(config: CircuitConfig): string[] {
  const out: string[] = [];
  const percent = (rate: number): string => `${Math.round(rate * 1000) / 10}%`;
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
