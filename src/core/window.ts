/**
 * Rate windows: calls, failures and slow calls counted in a fixed number of time buckets, for the
 * `failureRate` and `slowCall` rules. A window is a small mutable accumulator (three arrays of
 * `BUCKETS` numbers), so that counting a success costs an array increment and the failure path
 * stays O(1) whatever the traffic: no per-call arrays. Buckets are aligned on multiples of their
 * width since the epoch, so that counts from several processes (and Redis) merge bucket by bucket.
 * No clock is read here: every function takes `now`.
 * @module
 */
import type { CircuitConfig } from "./circuit.js";

/** Buckets per window: the window slides by a tenth of its length. */
export const BUCKETS = 10;

/** The window and minimum number of calls when only `slowCall` is configured. */
export const DEFAULT_WINDOW = { minimumCalls: 20, window: 60 } as const;

/** What a window counted. */
export interface CallCounts {
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
}

/** The counts of `BUCKETS` consecutive buckets; the newest starts at `start`. */
export interface RateWindow {
  /** Bucket width, ms. */
  readonly width: number;
  /** Start of the newest bucket, ms (a multiple of `width`). */
  start: number;
  /** Index of the newest bucket in the arrays. */
  head: number;
  readonly calls: number[];
  readonly failures: number[];
  readonly slow: number[];
}

/** What a call's outcome adds to a window. */
export type WindowOutcome = "success" | "failure" | "slow";

/** The window length (ms) and minimum number of calls the rate rules of `config` use, if any. */
export function windowOf(config: CircuitConfig): { readonly windowMs: number; readonly minimumCalls: number } | null {
  if (config.failureRate === undefined && config.slowCall === undefined) return null;
  const { window, minimumCalls } = config.failureRate ?? DEFAULT_WINDOW;
  return { windowMs: Math.round(window * 1e6) / 1e3, minimumCalls };
}

/** A new, empty window for `config`, or `null` when it has no rate rule. */
export function createWindow(config: CircuitConfig): RateWindow | null {
  const of = windowOf(config);
  if (of === null) return null;
  const zeros = () => new Array<number>(BUCKETS).fill(0);
  return { width: of.windowMs / BUCKETS, start: 0, head: 0, calls: zeros(), failures: zeros(), slow: zeros() };
}

/** Moves the newest bucket to the one `now` falls in, emptying the buckets it passes (at most all). */
export function roll(window: RateWindow, now: number): void {
  const start = Math.floor(now / window.width) * window.width;
  if (start <= window.start) return;
  const steps = Math.min(BUCKETS, Math.round((start - window.start) / window.width));
  for (let i = 1; i <= steps; i++) {
    const index = (window.head + i) % BUCKETS;
    window.calls[index] = 0;
    window.failures[index] = 0;
    window.slow[index] = 0;
  }
  window.head = (window.head + steps) % BUCKETS;
  window.start = start;
}

/** Counts one call at `now`: a success, a failure, or a slow success. */
export function count(window: RateWindow, now: number, outcome: WindowOutcome): void {
  if (now >= window.start + window.width) roll(window, now);
  const head = window.head;
  window.calls[head] = (window.calls[head] as number) + 1;
  if (outcome === "failure") window.failures[head] = (window.failures[head] as number) + 1;
  else if (outcome === "slow") window.slow[head] = (window.slow[head] as number) + 1;
}

/** The counts of the window at `now` (buckets older than the window count nothing). */
export function countsOf(window: RateWindow, now: number): CallCounts {
  roll(window, now);
  let calls = 0;
  let failures = 0;
  let slow = 0;
  for (let i = 0; i < BUCKETS; i++) {
    calls += window.calls[i] as number;
    failures += window.failures[i] as number;
    slow += window.slow[i] as number;
  }
  return { calls, failures, slow };
}

/** Empties the window (the circuit changed state: a new period starts). */
export function clear(window: RateWindow): void {
  window.calls.fill(0);
  window.failures.fill(0);
  window.slow.fill(0);
}

/**
 * Whether `counts` trip a circuit by the rate rules of `config`: at least `minimumCalls` calls,
 * and failures / calls at least `failureRate.rate`, or slow / calls at least `slowCall.rate`.
 */
export function exceedsRates(config: CircuitConfig, counts: CallCounts): boolean {
  const of = windowOf(config);
  if (of === null || counts.calls < of.minimumCalls || counts.calls === 0) return false;
  const { failureRate, slowCall } = config;
  return (
    (failureRate !== undefined && counts.failures / counts.calls >= failureRate.rate) ||
    (slowCall !== undefined && counts.slow / counts.calls >= slowCall.rate)
  );
}

/**
 * The buckets that hold counts, as `[start, calls, failures, slow]` (oldest first), emptying
 * them: what a process hands to a shared storage, which merges them by `start`.
 */
export function drain(window: RateWindow): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  for (let i = BUCKETS - 1; i >= 0; i--) {
    const index = (window.head - i + BUCKETS) % BUCKETS;
    const calls = window.calls[index] as number;
    if (calls === 0) continue;
    out.push([window.start - i * window.width, calls, window.failures[index] as number, window.slow[index] as number]);
    window.calls[index] = 0;
    window.failures[index] = 0;
    window.slow[index] = 0;
  }
  return out;
}
