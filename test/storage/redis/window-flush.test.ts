/**
 * A closed circuit's rate-window counts on their way to Redis (src/storage/redis/window-flush.ts),
 * alone: what a success counts where the process is, what a call's script and a flush hand over,
 * and the trip a flush's reply means. Pure functions over a circuit's record; no Redis here.
 */
import { describe, expect, it } from "vitest";
import type { CircuitConfig, CircuitSnapshot } from "../../../src/core/circuit.js";
import { countsOf, type RateWindow } from "../../../src/core/window.js";
import type { ScriptReply, SharedState } from "../../../src/storage/redis/codec.js";
import { ownCircuit } from "../../../src/storage/redis/own.js";
import { newReplicaCircuit, type ReplicaCircuit } from "../../../src/storage/redis/replica-circuit.js";
import { adopt, decideLocally, PENDING_REPLICA } from "../../../src/storage/redis/replica.js";
import { countClosedSuccess, flushedCounts, flushTrip, windowCounts } from "../../../src/storage/redis/window-flush.js";

/** A 10 s window: ten buckets of one second. */
const RATE: CircuitConfig = {
  threshold: 5,
  ttl: 30,
  halfOpenMaxCalls: 1,
  failureRate: { rate: 0.5, minimumCalls: 4, window: 10 },
};
const SLOW: CircuitConfig = { ...RATE, slowCall: { duration: 1, rate: 0.5 } };
const PLAIN: CircuitConfig = { threshold: 5, ttl: 30, halfOpenMaxCalls: 1 };

const closed: CircuitSnapshot = { state: "closed", generation: 1, failureCount: 0 };
const opened: CircuitSnapshot = {
  state: "opened",
  generation: 2,
  failureCount: 5,
  openedAt: 1_000,
  retryAt: 31_000,
  openings: 1,
};
const shared = (snapshot: CircuitSnapshot, config = RATE): SharedState => ({
  incarnation: "A",
  config,
  snapshot,
  version: 10,
});

/** A circuit whose replica follows Redis, which holds `snapshot`. */
function synced(config: CircuitConfig, snapshot: CircuitSnapshot = closed): ReplicaCircuit {
  const circuit = newReplicaCircuit("payments", config);
  circuit.replica = adopt(PENDING_REPLICA, shared(snapshot, config), "reply");
  return circuit;
}

function windowOf(circuit: ReplicaCircuit): RateWindow {
  const window = circuit.window;
  if (window === undefined || window === null) throw new Error("no window");
  return window;
}

describe("a success of a closed circuit, counted where the process is", () => {
  it("counts one call in the circuit's window", () => {
    const circuit = synced(RATE);
    countClosedSuccess(windowOf(circuit), null, 5_100);
    expect(countsOf(windowOf(circuit), 5_100)).toEqual({ calls: 1, failures: 0, slow: 0 });
  });

  it("counts it in the window of the circuit the process keeps for itself too", () => {
    const circuit = synced(RATE);
    const own = ownCircuit(RATE);
    countClosedSuccess(windowOf(circuit), own, 5_100);
    countClosedSuccess(windowOf(circuit), own, 5_200);
    expect(countsOf(own.window as RateWindow, 5_200)).toEqual({ calls: 2, failures: 0, slow: 0 });
    expect(countsOf(windowOf(circuit), 5_200)).toEqual({ calls: 2, failures: 0, slow: 0 });
  });

  it("leaves an own circuit without a window alone", () => {
    const circuit = synced(RATE);
    const own = ownCircuit(PLAIN);
    expect(own.window).toBeNull();
    countClosedSuccess(windowOf(circuit), own, 5_100);
    expect(countsOf(windowOf(circuit), 5_100).calls).toBe(1);
  });
});

describe("the counts a call's script hands over", () => {
  it("are the window's buckets with this call counted, and the window is emptied", () => {
    const circuit = synced(RATE);
    countClosedSuccess(windowOf(circuit), null, 5_000);
    countClosedSuccess(windowOf(circuit), null, 6_200);
    expect(windowCounts(circuit, 6_500, "failure")).toBe("5000:1:0:0,6000:2:1:0");
    expect(countsOf(windowOf(circuit), 6_500)).toEqual({ calls: 0, failures: 0, slow: 0 });
  });

  it("count a slow success as slow under a slow-call rule", () => {
    const circuit = synced(SLOW);
    expect(windowCounts(circuit, 7_300, "slow")).toBe("7000:1:0:1");
  });

  it("are nothing once the view is not closed: the call is not counted and the window keeps its counts", () => {
    const circuit = synced(RATE, opened);
    countClosedSuccess(windowOf(circuit), null, 5_000);
    expect(windowCounts(circuit, 5_500, "failure")).toBe("");
    expect(countsOf(windowOf(circuit), 5_500)).toEqual({ calls: 1, failures: 0, slow: 0 });
  });

  it("are nothing without a rate rule", () => {
    expect(windowCounts(synced(PLAIN), 5_500, "failure")).toBe("");
  });
});

describe("the counts a flush hands over", () => {
  it("are the window's buckets while the replica follows Redis and the view is closed, emptying it", () => {
    const circuit = synced(RATE);
    countClosedSuccess(windowOf(circuit), null, 5_000);
    countClosedSuccess(windowOf(circuit), null, 5_400);
    expect(flushedCounts(circuit)).toBe("5000:2:0:0");
    expect(flushedCounts(circuit)).toBe("");
  });

  it("wait while nothing was heard from Redis yet (the counts stay for a later flush)", () => {
    const circuit = newReplicaCircuit("payments", RATE);
    countClosedSuccess(windowOf(circuit), null, 5_000);
    expect(flushedCounts(circuit)).toBe("");
    expect(countsOf(windowOf(circuit), 5_000).calls).toBe(1);
  });

  it("wait while the process decides on its own during an outage", () => {
    const circuit = synced(RATE);
    circuit.replica = decideLocally(circuit.replica, { snapshot: { ...closed, failureCount: 1 }, events: [] });
    countClosedSuccess(windowOf(circuit), null, 5_000);
    expect(flushedCounts(circuit)).toBe("");
  });

  it("are nothing once the view is not closed, or without a rate rule", () => {
    expect(flushedCounts(synced(RATE, opened))).toBe("");
    expect(flushedCounts(synced(PLAIN))).toBe("");
  });
});

describe("the trip a flush's reply means", () => {
  const reply = (
    snapshot: CircuitSnapshot,
    counts: ScriptReply["counts"],
    quorum: ScriptReply["quorum"] = null,
  ): ScriptReply => ({
    now: 9_000,
    created: false,
    counts,
    before: shared(snapshot),
    after: shared(snapshot),
    quorum,
  });

  it("opens a closed circuit whose fleet-wide counts reached the failure rate, at Redis time", () => {
    const trip = flushTrip(reply(closed, { calls: 4, failures: 2, slow: 0 }));
    expect(trip?.snapshot).toMatchObject({ state: "opened", openedAt: 9_000, generation: 2 });
  });

  it("is none below the rate or the minimum of calls, or without counts", () => {
    expect(flushTrip(reply(closed, { calls: 4, failures: 1, slow: 0 }))).toBeNull();
    expect(flushTrip(reply(closed, { calls: 3, failures: 3, slow: 0 }))).toBeNull();
    expect(flushTrip(reply(closed, null))).toBeNull();
  });

  it("is none for a circuit that was not closed, or whose quorum is not met", () => {
    expect(flushTrip(reply(opened, { calls: 4, failures: 4, slow: 0 }))).toBeNull();
    const unmet = { callers: 3, reporters: 1, need: 2, met: false };
    expect(flushTrip(reply(closed, { calls: 4, failures: 4, slow: 0 }, unmet))).toBeNull();
    expect(flushTrip(reply(closed, { calls: 4, failures: 4, slow: 0 }, { ...unmet, met: true }))).not.toBeNull();
  });
});
