/**
 * The background round of re-reads: every circuit held is re-read within a round, however fast
 * new circuits arrive (a flood of new hosts must not starve the oldest, whose keys would expire).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Resync } from "../../../src/storage/redis/resync.js";

interface Circuit {
  readonly name: string;
  readonly registering: Promise<void> | undefined;
}

function circuit(name: string): Circuit {
  return { name, registering: undefined };
}

beforeEach(() => {
  vi.useFakeTimers();
  // The interval is jittered by Math.random: pinned to the middle, a tick every `interval` ms.
  vi.spyOn(Math, "random").mockReturnValue(0.5);
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** A resync over `held`, recording the names it re-reads, one tick per 100 ms. */
function resyncOver(held: Map<string, Circuit>, batch: number) {
  const read: string[] = [];
  const resync = new Resync<Circuit>({
    batch,
    interval: 100,
    circuits: () => held.values(),
    size: () => held.size,
    read: (c) => {
      read.push(c.name);
      return Promise.resolve();
    },
    available: () => true,
  });
  return { resync, read };
}

describe("the background round", () => {
  it("re-reads every circuit held in turn, `batch` per tick, a round's end filled from the next", async () => {
    const held = new Map(["a", "b", "c", "d", "e"].map((n) => [n, circuit(n)]));
    const { resync, read } = resyncOver(held, 2);
    resync.start();
    await vi.advanceTimersByTimeAsync(500);
    expect(read).toEqual(["a", "b", "c", "d", "e", "a", "b", "c", "d", "e"]);
    resync.close();
  });

  it("reaches the oldest circuits again while new ones arrive faster than it reads", async () => {
    const held = new Map(["old-1", "old-2"].map((n) => [n, circuit(n)]));
    const { resync, read } = resyncOver(held, 2);
    resync.start();
    // Three new circuits per tick, two read per tick: a live cursor never came back to the start.
    for (let tick = 0; tick < 20; tick += 1) {
      for (let k = 0; k < 3; k += 1) held.set(`new-${tick}-${k}`, circuit(`new-${tick}-${k}`));
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(read.filter((name) => name === "old-1").length).toBeGreaterThan(1);
    resync.close();
  });

  it("skips the circuits forgotten meanwhile and ends the round", async () => {
    const held = new Map(["a", "b", "c", "d"].map((n) => [n, circuit(n)]));
    const { resync, read } = resyncOver(held, 2);
    resync.start();
    await vi.advanceTimersByTimeAsync(100);
    held.delete("c");
    held.delete("d");
    await vi.advanceTimersByTimeAsync(100);
    expect(read).toEqual(["a", "b", "a", "b"]);
    resync.close();
  });
});
