/**
 * Rate windows (`core/window`): fixed buckets that count calls, failures and slow calls, slide
 * with time, and hand their counts over.
 */
import { describe, expect, it } from "vitest";
import { count, countsOf, createWindow, drain, windowFor, type RateWindow } from "../../src/core/window.js";
import type { CircuitConfig } from "../../src/core/circuit.js";

const base: CircuitConfig = { threshold: 5, ttl: 30, halfOpenMaxCalls: 1 };
const rated: CircuitConfig = { ...base, failureRate: { rate: 0.5, minimumCalls: 1, window: 10 } };
const slowRated: CircuitConfig = { ...rated, slowCall: { duration: 1, rate: 0.5 } };

function windowOf(config: CircuitConfig): RateWindow {
  const window = createWindow(config);
  if (window === null) throw new Error("no window");
  return window;
}

describe("a rate window", () => {
  it("exists only for a config with a rate rule", () => {
    expect(createWindow(base)).toBeNull();
    expect(createWindow({ ...base, slowCall: { duration: 1, rate: 1 } })).not.toBeNull();
  });

  it("counts calls, failures and slow calls over the last window, in 10 buckets", () => {
    const window = windowOf(slowRated);
    count(window, 0, "success");
    count(window, 1_500, "failure");
    count(window, 9_999, "slow");
    expect(countsOf(window, 9_999)).toEqual({ calls: 3, failures: 1, slow: 1 });
    // At 10.5 s the first bucket (0-1 s) has left the window; at 21 s all have.
    expect(countsOf(window, 10_500)).toEqual({ calls: 2, failures: 1, slow: 1 });
    expect(countsOf(window, 21_000)).toEqual({ calls: 0, failures: 0, slow: 0 });
  });

  it("counts a slow success as a plain success when the config has no slow-call rule", () => {
    const window = windowOf(rated);
    count(window, 0, "slow");
    expect(countsOf(window, 0)).toEqual({ calls: 1, failures: 0, slow: 0 });
  });

  it("is one array of 2 numbers per bucket, 3 with slow calls: its size does not grow with traffic", () => {
    const window = windowOf(rated);
    for (let i = 0; i < 100_000; i++) count(window, i, i % 3 === 0 ? "failure" : "success");
    expect(window.counts).toHaveLength(20);
    expect(windowOf(slowRated).counts).toHaveLength(30);
  });

  it("hands over its buckets oldest first, with their start, and is empty afterwards", () => {
    const window = windowOf(slowRated);
    count(window, 500, "success");
    count(window, 2_500, "failure");
    count(window, 2_600, "slow");
    expect(drain(window)).toEqual([
      [0, 1, 0, 0],
      [2_000, 2, 1, 1],
    ]);
    expect(countsOf(window, 2_600)).toEqual({ calls: 0, failures: 0, slow: 0 });
  });

  it("is kept, counts and all, by a config change that leaves its shape, and replaced by one that changes it", () => {
    const window = windowOf(rated);
    count(window, 0, "failure");
    expect(windowFor({ ...rated, threshold: 9 }, window)).toBe(window);
    expect(windowFor({ ...rated, failureRate: { rate: 0.5, minimumCalls: 1, window: 20 } }, window)).not.toBe(window);
    expect(windowFor(slowRated, window)).not.toBe(window);
    expect(windowFor(base, window)).toBeNull();
    expect(windowFor(rated, null)).not.toBeNull();
  });
});
