/**
 * The circuit a process keeps for itself (`own.ts`), alone: pure functions, no Redis.
 */
import { describe, expect, it } from "vitest";
import type { CircuitConfig } from "../../../src/core/circuit.js";
import {
  admitOwn,
  isOpenForItself,
  isOwnToken,
  openForMs,
  ownCircuit,
  ownFailure,
  ownSuccess,
  ownToken,
  releaseOwn,
  type OwnCircuit,
} from "../../../src/storage/redis/own.js";
import { STALE_TOKEN } from "../../../src/storage/redis/replica.js";

const config: CircuitConfig = { threshold: 3, ttl: 10, halfOpenMaxCalls: 1, quorum: { processes: 2 } };
/** A token the fleet's replica handed out (any number >= STALE_TOKEN). */
const FLEET = 12;

/** Fails `n` calls the fleet admitted, from `at` on; returns the own circuit and the last transition. */
function failFleetCalls(own: OwnCircuit, n: number, at = 1_000) {
  let last: ReturnType<typeof ownFailure> = [own, null];
  for (let i = 0; i < n; i++) last = ownFailure(last[0], config, FLEET, at + i);
  return last;
}

describe("tokens of the circuit a process keeps for itself", () => {
  it("are below every token of the fleet's replica, stale one included", () => {
    expect(ownToken(0)).toBeLessThan(STALE_TOKEN);
    expect(isOwnToken(ownToken(0))).toBe(true);
    expect(isOwnToken(ownToken(41))).toBe(true);
    expect(isOwnToken(STALE_TOKEN)).toBe(false);
    expect(isOwnToken(0)).toBe(false);
  });
});

describe("a process's own circuit", () => {
  it("opens once the process's own consecutive failures reach the threshold, emitting only its state change", () => {
    const [two, quiet] = failFleetCalls(ownCircuit(config), 2);
    expect(two.snapshot).toMatchObject({ state: "closed", failureCount: 2 });
    expect(quiet?.events).toEqual([]);
    const [three, opened] = ownFailure(two, config, FLEET, 5_000);
    expect(three.snapshot).toMatchObject({ state: "opened", openedAt: 5_000, retryAt: 15_000 });
    expect(opened?.events).toEqual([{ type: "state_changed", state: "opened", openedAt: 5_000, scope: "process" }]);
    expect(isOpenForItself(three)).toBe(true);
    expect(openForMs(three, 6_000)).toBe(9_000);
  });

  it("resets its count on a success of a call the fleet admitted, silently", () => {
    const [two] = failFleetCalls(ownCircuit(config), 2);
    const [reset, transition] = ownSuccess(two, config, FLEET, 2_000);
    expect(reset.snapshot).toMatchObject({ state: "closed", failureCount: 0 });
    expect(transition?.events).toEqual([]);
    expect(ownSuccess(reset, config, FLEET, 2_001)[1]).toBeNull();
  });

  it("rejects with scope process until its ttl, then admits one probe of its own", () => {
    const [opened] = failFleetCalls(ownCircuit(config), 3);
    const [same, rejected] = admitOwn(opened, config, 5_000);
    expect(rejected).toMatchObject({ verdict: "reject", scope: "process", retryAfterMs: 1_002 + 10_000 - 5_000 });
    expect(same).toBe(opened);
    const [probing, probe] = admitOwn(opened, config, 11_002);
    expect(probe.verdict).toBe("probe");
    expect(probe.verdict === "probe" && isOwnToken(probe.generation)).toBe(true);
    expect(probe.transition?.events).toEqual([
      { type: "state_changed", state: "half-opened", openedAt: null, scope: "process" },
    ]);
    expect(admitOwn(probing, config, 11_003)[1]).toMatchObject({ verdict: "reject", scope: "process" });
    expect(openForMs(probing, 11_003)).toBe(0);
  });

  it("closes when its probe succeeds, and opens for the next step when it fails", () => {
    const [opened] = failFleetCalls(ownCircuit(config), 3);
    const [probing, probe] = admitOwn(opened, config, 12_000);
    const token = probe.verdict === "probe" ? probe.generation : Number.NaN;
    const [closed, recovered] = ownSuccess(probing, config, token, 12_500);
    expect(closed.snapshot.state).toBe("closed");
    expect(openForMs(closed, 12_500)).toBeNull();
    expect(recovered?.events).toEqual([
      { type: "recovered", scope: "process" },
      { type: "state_changed", state: "closed", openedAt: null, scope: "process" },
    ]);
    const [reopened, again] = ownFailure(probing, config, token, 12_500);
    expect(reopened.snapshot).toMatchObject({ state: "opened", openedAt: 12_500, openings: 2 });
    expect(again?.events).toEqual([{ type: "state_changed", state: "opened", openedAt: 12_500, scope: "process" }]);
  });

  it("ignores the outcomes of calls the fleet admitted while it is not closed", () => {
    const [opened] = failFleetCalls(ownCircuit(config), 3);
    expect(ownFailure(opened, config, FLEET, 2_000)).toEqual([opened, null]);
    expect(ownSuccess(opened, config, FLEET, 2_000)).toEqual([opened, null]);
  });

  it("frees the slot of a cancelled probe of its own", () => {
    const [opened] = failFleetCalls(ownCircuit(config), 3);
    const [probing, probe] = admitOwn(opened, config, 12_000);
    const token = probe.verdict === "probe" ? probe.generation : Number.NaN;
    const released = releaseOwn(probing, token, 12_100);
    expect(admitOwn(released, config, 12_200)[1].verdict).toBe("probe");
  });

  it("opens by its own failure rate over its own window", () => {
    const rated: CircuitConfig = { ...config, threshold: 100, failureRate: { rate: 0.5, minimumCalls: 4, window: 10 } };
    let own = ownCircuit(rated);
    own = ownSuccess(own, rated, FLEET, 1_000)[0];
    own = ownSuccess(own, rated, FLEET, 1_001)[0];
    own = ownFailure(own, rated, FLEET, 1_002)[0];
    expect(own.snapshot.state).toBe("closed");
    const [opened, transition] = ownFailure(own, rated, FLEET, 1_003);
    expect(opened.snapshot.state).toBe("opened");
    expect(transition?.events.map((e) => e.type)).toEqual(["state_changed"]);
  });
});
