/**
 * The call timeouts of a factory share one timer (docs/design.md, "Performance targets": no timer
 * per call): a min-heap of deadlines, one `setTimeout` for the earliest, settled calls dropped
 * lazily. Driven by vitest's fake timers, which also fake `performance.now()`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Deadlines, type Deadline } from "../../src/timing/deadlines.js";

/** A deadline that records when it expired (fake ms since the test began). */
function entry(expired: number[], label = 0): Deadline & { label: number } {
  return {
    label,
    dueAt: 0,
    queued: false,
    expire() {
      expired.push(label);
    },
  };
}

describe("Deadlines", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("expires an entry when its deadline passes, not before", () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    deadlines.add(entry(expired, 1), 100);
    vi.advanceTimersByTime(99);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual([1]);
    expect(deadlines.size).toBe(0);
  });

  it("keeps one timer for 10,000 pending deadlines", () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    for (let i = 0; i < 10_000; i++) deadlines.add(entry(expired, i), 1_000 + (i % 97));
    expect(vi.getTimerCount()).toBe(1);
    expect(deadlines.size).toBe(10_000);
    vi.advanceTimersByTime(1_100);
    expect(expired).toHaveLength(10_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("expires entries in deadline order, whatever the order they were added in", () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    for (const ms of [50, 10, 40, 20, 30]) deadlines.add(entry(expired, ms), ms);
    for (let t = 0; t < 5; t++) vi.advanceTimersByTime(10);
    expect(expired).toEqual([10, 20, 30, 40, 50]);
  });

  it("re-arms its one timer for a deadline earlier than the armed one", () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    deadlines.add(entry(expired, 1), 1_000);
    deadlines.add(entry(expired, 2), 10);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10);
    expect(expired).toEqual([2]);
    expect(vi.getTimerCount()).toBe(1);
  });

  it("never expires a deleted entry, and clears its timer once nothing is pending", () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    const settled = entry(expired, 1);
    const other = entry(expired, 2);
    deadlines.add(settled, 10);
    deadlines.add(other, 20);
    deadlines.delete(settled);
    expect(deadlines.size).toBe(1);
    vi.advanceTimersByTime(15);
    expect(expired).toEqual([]);
    deadlines.delete(other);
    expect(deadlines.armed).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(100);
    expect(expired).toEqual([]);
  });

  it("drops settled entries in bulk so the heap does not grow with traffic", () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    const keep = entry(expired, -1);
    deadlines.add(keep, 60_000); // one long call holds the heap open
    for (let i = 0; i < 100_000; i++) {
      const call = entry(expired, i);
      deadlines.add(call, 5_000);
      deadlines.delete(call);
    }
    expect(deadlines.size).toBe(1);
    expect(deadlines.held).toBeLessThan(130); // at most twice the pending ones, or 64
    vi.advanceTimersByTime(60_000);
    expect(expired).toEqual([-1]);
  });

  it("unrefs its timer: a pending timeout never keeps the process alive", () => {
    const unref = vi.fn();
    const spy = vi.spyOn(globalThis, "setTimeout").mockImplementation(() => ({ unref }) as unknown as NodeJS.Timeout);
    try {
      new Deadlines().add(entry([]), 1_000);
      expect(unref).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it("clears its timer on close and ignores deadlines added afterwards", () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    deadlines.add(entry(expired, 1), 10);
    deadlines.close();
    expect(vi.getTimerCount()).toBe(0);
    deadlines.add(entry(expired, 2), 10);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(100);
    expect(expired).toEqual([]);
    expect(deadlines.size).toBe(0);
  });

  it("lets an expiry add a deadline without arming a second timer", () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    const chained: Deadline = {
      dueAt: 0,
      queued: false,
      expire: () => {
        expired.push(1);
        deadlines.add(entry(expired, 2), 10);
      },
    };
    deadlines.add(chained, 10);
    deadlines.add(entry(expired, 3), 15);
    vi.advanceTimersByTime(10);
    expect(expired).toEqual([1]);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10);
    expect(expired).toEqual([1, 3, 2]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("expires the armed deadline even when the clock reads a hair earlier than it", () => {
    // A timer may fire a fraction of a millisecond early, or only setTimeout may be faked.
    vi.useRealTimers();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const deadlines = new Deadlines();
    const expired: number[] = [];
    deadlines.add(entry(expired, 1), 10_000);
    vi.advanceTimersByTime(10_000); // performance.now() is real here: barely moved
    expect(expired).toEqual([1]);
  });
});
