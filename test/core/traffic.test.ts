/**
 * Traffic in the pure core: calls counted by outcome and latency bucket, samples taken per
 * interval, merged across processes, and read as rates and percentiles.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bucketOf,
  callsOf,
  countCall,
  errorRateOf,
  LATENCY_BUCKETS,
  mergeSamples,
  newCallCounts,
  OUTCOME_INDEX,
  percentileOf,
  takeSample,
  upperBoundOf,
} from "../../src/core/traffic.js";

describe("latency buckets", () => {
  it("put a latency in the bucket whose bounds hold it: above the previous bound, at most its own", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.0101, max: 90_000, noNaN: true }), (ms) => {
        const bucket = bucketOf(ms);
        expect(upperBoundOf(bucket)).toBeGreaterThanOrEqual(ms * (1 - 1e-9));
        expect(upperBoundOf(bucket - 1)).toBeLessThan(ms);
      }),
    );
  });

  it("keep 10 µs and less in the first bucket, and anything past ~100 s in the last", () => {
    expect([bucketOf(0), bucketOf(0.01), bucketOf(-1), bucketOf(Number.NaN)]).toEqual([0, 0, 0, 0]);
    expect(bucketOf(1e9)).toBe(LATENCY_BUCKETS - 1);
    expect(upperBoundOf(LATENCY_BUCKETS - 1)).toBeGreaterThan(90_000);
  });
});

describe("counting and sampling", () => {
  it("counts calls by outcome and the timed ones by latency; a sample takes them and starts again", () => {
    const counts = newCallCounts();
    expect(takeSample(counts)).toBeUndefined();
    countCall(counts, OUTCOME_INDEX.success, 2);
    countCall(counts, OUTCOME_INDEX.success, 2.1);
    countCall(counts, OUTCOME_INDEX.failure, 40);
    countCall(counts, OUTCOME_INDEX.rejected, Number.NaN); // not timed: no latency
    const sample = takeSample(counts);
    expect(sample?.outcomes).toEqual([2, 1, 0, 1, 0, 0]);
    expect(sample?.latency).toEqual([
      [bucketOf(2), 2],
      [bucketOf(40), 1],
    ]);
    expect(takeSample(counts)).toBeUndefined();
  });

  it("reads calls, the error rate of the calls that ran (not the rejected ones) and percentiles", () => {
    const sample = {
      outcomes: [6, 3, 0, 10, 1, 0],
      latency: [
        [bucketOf(1), 90],
        [bucketOf(500), 10],
      ] as const,
    };
    expect(callsOf(sample)).toBe(20);
    expect(errorRateOf(sample)).toBe(0.4);
    expect(percentileOf(sample, 0.5)).toBe(upperBoundOf(bucketOf(1)));
    expect(percentileOf(sample, 0.99)).toBe(upperBoundOf(bucketOf(500)));
    expect(percentileOf({ outcomes: [0, 0, 0, 5, 0, 0], latency: [] }, 0.5)).toBeNull();
    expect(errorRateOf({ outcomes: [0, 0, 0, 5, 0, 0], latency: [] })).toBe(0);
  });

  it("merge samples of several processes as if one had counted every call", () => {
    const latencies = fc.array(fc.array(fc.double({ min: 0.001, max: 5000, noNaN: true }), { maxLength: 50 }), {
      minLength: 1,
      maxLength: 5,
    });
    fc.assert(
      fc.property(latencies, fc.double({ min: 0.01, max: 1, noNaN: true }), (processes, q) => {
        const one = newCallCounts();
        const samples = processes.map((calls) => {
          const counts = newCallCounts();
          for (const ms of calls) {
            countCall(counts, OUTCOME_INDEX.success, ms);
            countCall(one, OUTCOME_INDEX.success, ms);
          }
          return takeSample(counts) ?? { outcomes: [0, 0, 0, 0, 0, 0], latency: [] };
        });
        const merged = mergeSamples(samples);
        const all = takeSample(one) ?? { outcomes: [0, 0, 0, 0, 0, 0], latency: [] };
        expect(merged).toEqual(all);
        // A percentile is the bound of its bucket: at most 19 % above the true one.
        const sorted = processes.flat().sort((a, b) => a - b);
        const p = percentileOf(merged, q);
        if (sorted.length === 0) expect(p).toBeNull();
        else {
          const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? 0;
          expect(p).toBeGreaterThanOrEqual(Math.min(exact, 0.01) * (1 - 1e-9));
          expect(p).toBeLessThanOrEqual(Math.max(exact, 0.01) * 2 ** 0.25 * (1 + 1e-9));
        }
      }),
    );
  });
});
