/**
 * What the dashboard remembers between two reads of the fleet (`observe`): a pure function, so
 * these run without Redis.
 */
import { describe, expect, it } from "vitest";
import type { CircuitInfo } from "../../src/index.js";
import { observe, type Observation } from "../../src/fleet/history.js";

const closed = (name: string, changes: Partial<CircuitInfo> = {}): CircuitInfo => ({
  name,
  state: "closed",
  failureCount: 0,
  openedAt: null,
  retryAt: null,
  probes: 0,
  config: { threshold: 3, ttl: 30, halfOpenMaxCalls: 1 },
  window: null,
  updatedAt: 1000,
  incarnation: "i1",
  createdAt: 500,
  generation: 0,
  quorum: null,
  ...changes,
});

const opened = (name: string, openedAt: number): CircuitInfo =>
  closed(name, { state: "opened", failureCount: 3, openedAt, retryAt: openedAt + 30_000, updatedAt: openedAt });

/** Runs `observe` over successive reads; returns the last observation and every change set. */
function observeAll(...reads: CircuitInfo[][]) {
  let seen: Observation = new Map();
  const changes = reads.map((read) => {
    const { next, changes } = observe(seen, read);
    seen = next;
    return changes;
  });
  return { seen, changes };
}

describe("observing the fleet", () => {
  it("a circuit seen for the first time starts its timeline with its state, dated by Redis's last write", () => {
    const { seen, changes } = observeAll([closed("api", { updatedAt: 5000 })]);
    expect(seen.get("api")?.transitions).toEqual([{ at: 5000, from: null, to: "closed" }]);
    expect(changes[0]?.changed.map((c) => c.circuit.info.name)).toEqual(["api"]);
  });

  it("a read with nothing new reports no change and keeps the same object", () => {
    const { seen, changes } = observeAll([closed("api")], [closed("api")]);
    expect(changes[1]).toEqual({ changed: [], removed: [] });
    expect(seen.get("api")?.transitions).toHaveLength(1);
  });

  it("a trip is a transition dated when the circuit opened", () => {
    const { seen, changes } = observeAll([closed("api")], [opened("api", 7000)]);
    expect(changes[1]?.changed[0]?.added).toEqual([{ at: 7000, from: "closed", to: "opened" }]);
    expect(seen.get("api")?.transitions.map((t) => t.to)).toEqual(["closed", "opened"]);
  });

  it("a count that changes is a change without a transition", () => {
    const { changes } = observeAll([closed("api")], [closed("api", { failureCount: 2, updatedAt: 2000 })]);
    expect(changes[1]?.changed).toHaveLength(1);
    expect(changes[1]?.changed[0]?.added).toEqual([]);
  });

  it("an opening between two reads that both saw it opened is a new opening", () => {
    const { changes } = observeAll([opened("api", 7000)], [opened("api", 40_000)]);
    expect(changes[1]?.changed[0]?.added).toEqual([{ at: 40_000, from: "opened", to: "opened" }]);
  });

  it("a key lost and made again (a new incarnation) is a transition even in the same state", () => {
    const { changes } = observeAll([closed("api")], [closed("api", { incarnation: "i2", updatedAt: 9000 })]);
    expect(changes[1]?.changed[0]?.added).toEqual([{ at: 9000, from: "closed", to: "closed" }]);
  });

  it("a circuit no longer listed (its keys expired) is removed", () => {
    const { seen, changes } = observeAll([closed("api"), closed("db")], [closed("db")]);
    expect(changes[1]?.removed).toEqual(["api"]);
    expect([...seen.keys()]).toEqual(["db"]);
  });

  it("keeps at most `limit` transitions per circuit, the latest", () => {
    let seen: Observation = new Map();
    for (let i = 1; i <= 6; i++) {
      const read = i % 2 === 0 ? opened("api", i * 1000) : closed("api", { updatedAt: i * 1000 });
      seen = observe(seen, [read], 4).next;
    }
    expect(seen.get("api")?.transitions.map((t) => t.at)).toEqual([3000, 4000, 5000, 6000]);
  });
});
