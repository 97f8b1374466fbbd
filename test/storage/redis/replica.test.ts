/**
 * The replica of a circuit, as a pure state machine (src/storage/redis/replica.ts): what it
 * adopts, how it numbers tokens, and what an outage does to it. No Redis here.
 */
import { describe, expect, it } from "vitest";
import type { CircuitConfig, CircuitSnapshot } from "../../../src/core/circuit.js";
import type { SharedState } from "../../../src/storage/redis/codec.js";
import {
  adopt,
  anticipateFailure,
  decideLocally,
  localTrip,
  hold,
  localToken,
  PENDING_REPLICA,
  STALE_TOKEN,
  tokenUse,
  viewChanged,
  type Replica,
} from "../../../src/storage/redis/replica.js";

const closed = (generation: number, failureCount = 0): CircuitSnapshot => ({
  state: "closed",
  generation,
  failureCount,
});
const opened = (generation: number, openedAt = 1_000, failureCount = 3): CircuitSnapshot => ({
  state: "opened",
  generation,
  failureCount,
  openedAt,
  retryAt: openedAt + 30_000,
  openings: 1,
});
const halfOpened = (generation: number, leases: [number, number][]): CircuitSnapshot => ({
  state: "half-opened",
  generation,
  failureCount: 3,
  openedAt: 1_000,
  openings: 1,
  probeLeases: leases.map(([token, expiresAt]) => ({ token, expiresAt })),
});
const CONFIG: CircuitConfig = { threshold: 3, ttl: 30, halfOpenMaxCalls: 1 };
const shared = (incarnation: string, snapshot: CircuitSnapshot, version: number): SharedState => ({
  incarnation,
  config: CONFIG,
  snapshot,
  version,
});

/** A replica synced on incarnation "A" with `snapshot` at `version`. */
const syncedOn = (snapshot: CircuitSnapshot, version = 10, incarnation = "A"): Replica =>
  adopt(PENDING_REPLICA, shared(incarnation, snapshot, version), "reply");

describe("a pending replica (nothing heard from Redis yet)", () => {
  it("shows a closed placeholder whose tokens travel as placeholders", () => {
    expect(PENDING_REPLICA.mode).toBe("pending");
    expect(PENDING_REPLICA.view).toEqual(closed(0));
    expect(tokenUse(PENDING_REPLICA, 0)).toEqual({ kind: "placeholder" });
  });

  it("adopts the first shared state it hears, from any source, in a numbering above its placeholder", () => {
    for (const source of ["reply", "message", "resync"] as const) {
      const replica = adopt(PENDING_REPLICA, shared("A", opened(7), 5), source);
      expect(replica.mode, source).toBe("synced");
      expect(replica.view, source).toEqual(opened(1));
      expect(tokenUse(replica, 0), source).toEqual({ kind: "stale" });
      expect(tokenUse(replica, 1), source).toEqual({ kind: "shared", token: { incarnation: "A", generation: 7 } });
    }
  });
});

describe("a synced replica", () => {
  it("maps each local token to one shared token, and back", () => {
    const replica = syncedOn(closed(4, 1));
    const token = replica.view.generation;
    expect(tokenUse(replica, token)).toEqual({ kind: "shared", token: { incarnation: "A", generation: 4 } });
    expect(localToken(replica, { incarnation: "A", generation: 4 })).toBe(token);
    expect(localToken(replica, { incarnation: "B", generation: 4 })).toBe(STALE_TOKEN);
    expect(tokenUse(replica, STALE_TOKEN)).toEqual({ kind: "stale" });
  });

  it("moves forward only by version within one incarnation", () => {
    const replica = syncedOn(closed(4, 1), 10);
    expect(adopt(replica, shared("A", closed(4, 2), 10), "message")).toBe(replica);
    expect(adopt(replica, shared("A", closed(4, 0), 9), "reply")).toBe(replica);
    const next = adopt(replica, shared("A", opened(5), 11), "message");
    expect(next.view).toEqual(opened(replica.view.generation + 1));
    expect(tokenUse(next, next.view.generation)).toEqual({
      kind: "shared",
      token: { incarnation: "A", generation: 5 },
    });
  });

  it("keeps the numbering of leases, so a probe's token finds its lease", () => {
    const replica = syncedOn(
      halfOpened(6, [
        [5, 90_000],
        [6, 95_000],
      ]),
    );
    const view = replica.view;
    expect(view.state).toBe("half-opened");
    const tokens = view.state === "half-opened" ? view.probeLeases.map((l) => l.token) : [];
    expect(tokens.map((t) => tokenUse(replica, t))).toEqual([
      { kind: "shared", token: { incarnation: "A", generation: 5 } },
      { kind: "shared", token: { incarnation: "A", generation: 6 } },
    ]);
  });

  it("adopts another incarnation at once, whatever its version, and starts a numbering above every token it handed out", () => {
    const replica = syncedOn(opened(9), 1_000_000);
    const handedOut = replica.view.generation;
    const lost = adopt(replica, shared("B", closed(0), 5), "reply");
    expect(lost.mode).toBe("synced");
    expect(lost.view.state).toBe("closed");
    expect(lost.view.generation).toBeGreaterThan(handedOut);
    // A token of the old incarnation is stale: it can never be mistaken for one of the new.
    expect(tokenUse(lost, handedOut)).toEqual({ kind: "stale" });
    expect(tokenUse(lost, lost.view.generation)).toEqual({
      kind: "shared",
      token: { incarnation: "B", generation: 0 },
    });
    expect(lost.retired).toEqual(["A"]);
  });

  it("ignores a late message about an incarnation it left, but not a script's reply about it", () => {
    const moved = adopt(syncedOn(opened(9)), shared("B", closed(0), 5), "message");
    expect(adopt(moved, shared("A", opened(10), 99), "message")).toBe(moved);
    expect(adopt(moved, shared("A", opened(10), 99), "reply").shared?.incarnation).toBe("A");
  });

  it("shows a synchronous caller's failure at once, without a new token, until Redis answers", () => {
    const replica = syncedOn(closed(2, 1));
    const once = anticipateFailure(replica, CONFIG, 5_000);
    expect(once.view).toEqual(closed(replica.view.generation, 2));
    const twice = anticipateFailure(once, CONFIG, 5_000);
    expect(twice.view).toEqual({
      state: "opened",
      generation: replica.view.generation,
      failureCount: 3,
      openedAt: 5_000,
      retryAt: 35_000,
      openings: 1,
    });
    expect(twice.anticipated).toBe(true);
    // Redis answers: the shared state replaces the anticipation, even when it is not newer.
    expect(adopt(twice, replica.shared as SharedState, "reply").view).toEqual(replica.view);
    expect(adopt(twice, shared("A", opened(3, 4_990), 11), "reply").view).toEqual(
      opened(replica.view.generation + 1, 4_990),
    );
  });
});

describe("an outage with policy local (a diverged replica)", () => {
  it("decides on the view in a local epoch whose tokens never reach Redis", () => {
    const replica = syncedOn(closed(4, 2));
    const before = replica.view.generation;
    const tripped = decideLocally(replica, { snapshot: opened(before + 1, 7_000), events: [] });
    expect(tripped.mode).toBe("diverged");
    expect(tripped.since).toEqual({ incarnation: "A", generation: 4 });
    expect(tokenUse(tripped, before + 1)).toEqual({ kind: "local" });
    // Calls admitted before the local trip are stale in the local epoch.
    expect(tokenUse(tripped, before)).toEqual({ kind: "stale" });
  });

  it("keeps the shared token it started from across later local decisions", () => {
    const replica = syncedOn(closed(4, 2));
    const g = replica.view.generation;
    const counted = decideLocally(replica, { snapshot: closed(g, 3), events: [] });
    expect(tokenUse(counted, g)).toEqual({ kind: "local" });
    const tripped = decideLocally(counted, { snapshot: opened(g + 1), events: [] });
    expect(tripped.since).toEqual({ incarnation: "A", generation: 4 });
  });

  it("yields only to the resync after the outage, which starts a new numbering", () => {
    const tripped = decideLocally(syncedOn(closed(4, 2)), { snapshot: opened(99, 7_000), events: [] });
    const news = shared("A", opened(5, 6_000), 20);
    expect(adopt(tripped, news, "message")).toBe(tripped);
    expect(adopt(tripped, news, "reply")).toBe(tripped);
    const resynced = adopt(tripped, news, "resync");
    expect(resynced.mode).toBe("synced");
    expect(resynced.view).toEqual(opened(100, 6_000));
    expect(tokenUse(resynced, 99)).toEqual({ kind: "stale" });
  });

  it("has no shared token to start from when it never heard from Redis", () => {
    const local = decideLocally(PENDING_REPLICA, { snapshot: closed(0, 1), events: [] });
    expect(local.since).toBeNull();
  });

  it("pushes a local trip after the outage: with the shared token it started from, or its time when it had none", () => {
    const fromSynced = decideLocally(syncedOn(closed(4, 2)), { snapshot: opened(99, 7_000), events: [] });
    expect(localTrip(fromSynced)).toEqual({ token: { incarnation: "A", generation: 4 }, tripAt: 7_000 });
    const fromNothing = decideLocally(PENDING_REPLICA, { snapshot: opened(1, 8_000), events: [] });
    expect(localTrip(fromNothing)).toEqual({ token: null, tripAt: 8_000 });
    // Nothing to push without a local trip.
    expect(localTrip(decideLocally(PENDING_REPLICA, { snapshot: closed(0, 1), events: [] }))).toBeNull();
    expect(localTrip(syncedOn(opened(3)))).toBeNull();
  });
});

describe("an outage with policy fail-closed (a held replica)", () => {
  it("holds an artificial opened view at the given time, in a numbering of its own", () => {
    const replica = syncedOn(closed(4, 1));
    const held = hold(replica, CONFIG, 8_000);
    expect(held.mode).toBe("held");
    expect(held.view).toEqual({
      state: "opened",
      generation: replica.view.generation + 1,
      failureCount: 1,
      openedAt: 8_000,
      retryAt: 38_000,
      openings: 1,
    });
    expect(tokenUse(held, replica.view.generation)).toEqual({ kind: "stale" });
    expect(tokenUse(held, held.view.generation)).toEqual({ kind: "stale" });
    expect(hold(held, CONFIG, 9_000)).toBe(held);
  });

  it("yields to Redis's state at the resync, never pushing its own", () => {
    const held = hold(syncedOn(closed(4, 1)), CONFIG, 8_000);
    expect(adopt(held, shared("A", closed(4, 1), 10), "message")).toBe(held);
    const back = adopt(held, shared("A", closed(4, 1), 10), "resync");
    expect(back.mode).toBe("synced");
    expect(back.view.state).toBe("closed");
    expect(back.since).toBeNull();
  });
});

describe("viewChanged", () => {
  it("is a change of state, or a new openedAt of an opened view", () => {
    const a = syncedOn(opened(3, 1_000));
    expect(viewChanged(a, adopt(a, shared("A", opened(3, 2_000), 11), "reply"))).toBe(true);
    expect(viewChanged(a, adopt(a, shared("A", opened(3, 1_000, 4), 11), "reply"))).toBe(false);
    expect(viewChanged(a, adopt(a, shared("A", closed(4), 11), "reply"))).toBe(true);
  });
});
