/**
 * Rate windows: calls, failures and slow calls counted in a fixed number of time buckets, for the
 * `failureRate` and `slowCall` rules. A window is a small mutable accumulator (one array of
 * `BUCKETS` groups of counts: calls and failures, and slow calls when the config has a `slowCall`
 * rule), so that counting a success costs an array increment and the failure path stays O(1)
 * whatever the traffic: no per-call arrays. One array rather than three keeps a window at about
 * 260 bytes (350 with slow calls) on a 64-bit heap. Buckets are aligned on multiples of their
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
  /** Calls counted: successes (slow ones included) and failures. */
  readonly calls: number;
  /** Failures among them. */
  readonly failures: number;
  /** Successes slower than `slowCall.duration` among them; 0 without a `slowCall` rule. */
  readonly slow: number;
}

/**
 * The counts of `BUCKETS` consecutive buckets; the newest starts at `start`. Bucket `b` holds its
 * calls at `counts[b * stride]`, its failures at `+ 1` and, when `stride` is 3, its slow calls at
 * `+ 2`.
 */
export interface RateWindow {
  /** Bucket width, ms. */
  readonly width: number;
  /** Start of the newest bucket, ms (a multiple of `width`). */
  start: number;
  /** Index of the newest bucket. */
  head: number;
  /** Numbers per bucket: 2 (calls, failures), or 3 with slow calls. */
  readonly stride: 2 | 3;
  /** The counts of every bucket, `stride` numbers each (`BUCKETS * stride` in all). */
  readonly counts: number[];
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
  const stride = config.slowCall === undefined ? 2 : 3;
  return {
    width: of.windowMs / BUCKETS,
    start: 0,
    head: 0,
    stride,
    counts: new Array<number>(BUCKETS * stride).fill(0),
  };
}

/** The window a circuit needs once its config becomes `config`: `current` when it still fits (its counts kept), else a new one. */
export function windowFor(config: CircuitConfig, current: RateWindow | null | undefined): RateWindow | null {
  const of = windowOf(config);
  if (of === null) return null;
  const fits =
    current !== null &&
    current !== undefined &&
    current.width === of.windowMs / BUCKETS &&
    current.stride === (config.slowCall === undefined ? 2 : 3);
  return fits ? current : createWindow(config);
}

/** Empties bucket `bucket`. */
function empty(window: RateWindow, bucket: number): void {
  const at = bucket * window.stride;
  window.counts.fill(0, at, at + window.stride);
}

/** Moves the newest bucket to the one `now` falls in, emptying the buckets it passes (at most all). */
export function roll(window: RateWindow, now: number): void {
  const start = Math.floor(now / window.width) * window.width;
  if (start <= window.start) return;
  const steps = Math.min(BUCKETS, Math.round((start - window.start) / window.width));
  for (let i = 1; i <= steps; i++) empty(window, (window.head + i) % BUCKETS);
  window.head = (window.head + steps) % BUCKETS;
  window.start = start;
}

/** Counts one call at `now`: a success, a failure, or a slow success (counted as a success without a slow-call rule). */
export function count(window: RateWindow, now: number, outcome: WindowOutcome): void {
  if (now >= window.start + window.width) roll(window, now);
  const counts = window.counts;
  const at = window.head * window.stride;
  counts[at] = (counts[at] as number) + 1;
  if (outcome === "failure") counts[at + 1] = (counts[at + 1] as number) + 1;
  else if (outcome === "slow" && window.stride === 3) counts[at + 2] = (counts[at + 2] as number) + 1;
}

/** Counts one success at `now`: `count(window, now, "success")`, on the hot path. */
export function countSuccess(window: RateWindow, now: number): void {
  if (now >= window.start + window.width) roll(window, now);
  const at = window.head * window.stride;
  const counts = window.counts;
  counts[at] = (counts[at] as number) + 1;
}

/** The counts of the window at `now` (buckets older than the window count nothing). */
export function countsOf(window: RateWindow, now: number): CallCounts {
  roll(window, now);
  const { counts, stride } = window;
  let calls = 0;
  let failures = 0;
  let slow = 0;
  for (let at = 0; at < counts.length; at += stride) {
    calls += counts[at] as number;
    failures += counts[at + 1] as number;
    if (stride === 3) slow += counts[at + 2] as number;
  }
  return { calls, failures, slow };
}

/** Empties the window (the circuit changed state: a new period starts). */
export function clear(window: RateWindow): void {
  window.counts.fill(0);
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
  const { counts, stride } = window;
  for (let i = BUCKETS - 1; i >= 0; i--) {
    const bucket = (window.head - i + BUCKETS) % BUCKETS;
    const at = bucket * stride;
    const calls = counts[at] as number;
    if (calls === 0) continue;
    out.push([
      window.start - i * window.width,
      calls,
      counts[at + 1] as number,
      stride === 3 ? (counts[at + 2] as number) : 0,
    ]);
    empty(window, bucket);
  }
  return out;
}
