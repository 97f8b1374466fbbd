/**
 * Traffic: how many calls a circuit carried, by outcome, and how long they ran, per interval. Plain
 * data and pure functions: a process counts into `CallCounts` (see `countCall`), takes one
 * `TrafficSample` per circuit per interval (`takeSample`), and a watcher merges the samples of
 * every process (`mergeSamples`) and reads rates and percentiles from them.
 *
 * Latencies go into fixed logarithmic buckets, four per doubling from 10 µs (each bucket's upper
 * bound is 2^(1/4), about 19 %, above the previous one) up to about 100 s, the last bucket taking
 * anything longer: a percentile read from them is the upper bound of its bucket, at most 19 % above
 * the true value. Fixed buckets merge by addition across processes and intervals, and a sample
 * sends only the buckets that counted something.
 * @module
 */

/** How a call ended (as the call listeners say it), in the order of `CallCounts.outcomes`. */
export const OUTCOMES = ["success", "failure", "excluded", "rejected", "timeout", "cancelled"] as const;

/** One of `OUTCOMES`. */
export type TrafficOutcome = (typeof OUTCOMES)[number];

/** Index of each outcome in `CallCounts.outcomes`. */
export const OUTCOME_INDEX: Readonly<Record<TrafficOutcome, number>> = Object.freeze({
  success: 0,
  failure: 1,
  excluded: 2,
  rejected: 3,
  timeout: 4,
  cancelled: 5,
});

/** The upper bound of the first latency bucket, in milliseconds (10 µs). */
export const FIRST_BUCKET_MS = 0.01;
/** Latency buckets per doubling. */
export const BUCKETS_PER_DOUBLING = 4;
/** How many latency buckets there are: up to 10 µs x 2^(93/4), about 100 s, then one for longer. */
export const LATENCY_BUCKETS = 94;

/**
 * A circuit's counts in this process since they were last taken: calls by outcome, and the
 * latencies of the calls that were timed (those that ran, while a watcher wants latencies).
 */
export interface CallCounts {
  /** Calls by outcome, indexed as `OUTCOMES`. */
  readonly outcomes: number[];
  /** Timed calls by latency bucket (see `bucketOf`). */
  readonly latency: Uint32Array;
  /** Whether anything was counted since the counts were last taken. */
  active: boolean;
}

/** New, empty counts. */
export function newCallCounts(): CallCounts {
  return { outcomes: [0, 0, 0, 0, 0, 0], latency: new Uint32Array(LATENCY_BUCKETS), active: false };
}

/**
 * The latency bucket of a call that ran `ms` milliseconds: bucket `i` holds the calls longer than
 * `upperBoundOf(i - 1)` and at most `upperBoundOf(i)`.
 */
export function bucketOf(ms: number): number {
  if (!(ms > FIRST_BUCKET_MS)) return 0;
  const index = Math.ceil(BUCKETS_PER_DOUBLING * Math.log2(ms / FIRST_BUCKET_MS) - 1e-9);
  return index < LATENCY_BUCKETS ? index : LATENCY_BUCKETS - 1;
}

/**
 * The upper bound of latency bucket `index`, in milliseconds. The last bucket also takes every
 * longer call: its bound (about 100 s) then reads as "100 s or more".
 */
export function upperBoundOf(index: number): number {
  const i = Math.min(Math.max(index, 0), LATENCY_BUCKETS - 1);
  return FIRST_BUCKET_MS * 2 ** (i / BUCKETS_PER_DOUBLING);
}

/**
 * Counts one call that ended with `outcome` (an index into `OUTCOMES`) after running `durationMs`
 * (`NaN` for a call that was not timed: it counts, with no latency).
 */
export function countCall(counts: CallCounts, outcome: number, durationMs: number): void {
  counts.outcomes[outcome] = (counts.outcomes[outcome] ?? 0) + 1;
  counts.active = true;
  if (durationMs === durationMs) {
    const bucket = bucketOf(durationMs);
    counts.latency[bucket] = (counts.latency[bucket] ?? 0) + 1;
  }
}

/**
 * What one process counted for one circuit over one interval: calls by outcome, and the latency
 * buckets that counted something, as `[bucket, count]` pairs in bucket order.
 */
export interface TrafficSample {
  /** Calls by outcome, indexed as `OUTCOMES`. */
  readonly outcomes: readonly number[];
  /** `[bucket, count]` for each latency bucket that counted something. */
  readonly latency: readonly (readonly [number, number])[];
}

/** One circuit's sample (of one process, over one interval). */
export interface CircuitSample {
  readonly name: string;
  readonly sample: TrafficSample;
}

/** Takes what `counts` counted since last taken (`undefined` when nothing), and starts them again. */
export function takeSample(counts: CallCounts): TrafficSample | undefined {
  if (!counts.active) return undefined;
  counts.active = false;
  const outcomes = counts.outcomes.slice();
  counts.outcomes.fill(0);
  const latency: [number, number][] = [];
  const buckets = counts.latency;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i] ?? 0;
    if (n !== 0) {
      latency.push([i, n]);
      buckets[i] = 0;
    }
  }
  return { outcomes, latency };
}

/** The sum of `samples` (of several processes, or of several intervals). */
export function mergeSamples(samples: Iterable<TrafficSample>): TrafficSample {
  const outcomes = [0, 0, 0, 0, 0, 0];
  const latency = new Map<number, number>();
  for (const sample of samples) {
    sample.outcomes.forEach((n, i) => (outcomes[i] = (outcomes[i] ?? 0) + n));
    for (const [bucket, n] of sample.latency) latency.set(bucket, (latency.get(bucket) ?? 0) + n);
  }
  return { outcomes, latency: [...latency].sort((a, b) => a[0] - b[0]) };
}

/** Every call of `sample`, whatever its outcome. */
export function callsOf(sample: TrafficSample): number {
  return sample.outcomes.reduce((sum, n) => sum + n, 0);
}

/**
 * The share of the calls that ran (all but rejected and cancelled ones) that failed or timed out,
 * from 0 to 1; `0` when none ran. Rejections are counted apart: they are what the circuit saved.
 */
export function errorRateOf(sample: TrafficSample): number {
  const [success = 0, failure = 0, excluded = 0, , timeout = 0] = sample.outcomes;
  const ran = success + failure + excluded + timeout;
  return ran === 0 ? 0 : (failure + timeout) / ran;
}

/**
 * The latency under which a fraction `q` (0 to 1) of the timed calls of `sample` ran, as the upper
 * bound of its bucket (at most 19 % above the true value); `null` when no call was timed.
 */
export function percentileOf(sample: TrafficSample, q: number): number | null {
  let total = 0;
  for (const [, n] of sample.latency) total += n;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [bucket, n] of sample.latency) {
    seen += n;
    if (seen >= rank) return upperBoundOf(bucket);
  }
  return upperBoundOf(LATENCY_BUCKETS - 1);
}
