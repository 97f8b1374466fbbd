/**
 * The admissions a RedisStorage decides without asking Redis (`admission.ts`), alone: pure
 * functions of the view, the config, the process's own circuit and Redis time.
 */
import { describe, expect, it } from "vitest";
import type { CircuitConfig, HalfOpenedSnapshot, OpenedSnapshot } from "../../../src/core/circuit.js";
import { CLOSED_SNAPSHOT } from "../../../src/core/circuit.js";
import { admit } from "../../../src/core/machine.js";
import { busyRejection, degradedAdmission, grantedProbe, ownRejection } from "../../../src/storage/redis/admission.js";
import { ownCircuit, ownFailure, type OwnCircuit } from "../../../src/storage/redis/own.js";
import { STALE_TOKEN } from "../../../src/storage/redis/replica.js";

const config: CircuitConfig = { threshold: 2, ttl: 10, halfOpenMaxCalls: 1, quorum: { processes: 2 } };
const opened = (openedAt: number): OpenedSnapshot => ({
  state: "opened",
  generation: 3,
  failureCount: 2,
  openedAt,
  retryAt: openedAt + 10_000,
  openings: 1,
});
const halfOpened = (leases: HalfOpenedSnapshot["probeLeases"]): HalfOpenedSnapshot => ({
  state: "half-opened",
  generation: 4,
  failureCount: 2,
  openedAt: 1_000,
  openings: 1,
  probeLeases: leases,
});
/** A process's own circuit opened for itself at `at` (its own failures met the threshold). */
function openForItself(at: number): OwnCircuit {
  let own = ownCircuit(config);
  for (let i = 0; i < config.threshold; i++) own = ownFailure(own, config, 12, at)[0];
  return own;
}

describe("a call rejected without a round trip (busy, or held by fail-closed)", () => {
  it("says when the circuit opened and to retry after its ttl", () => {
    expect(busyRejection(opened(5_000), config)).toEqual({
      verdict: "reject",
      openedAt: 5_000,
      retryAfterMs: 10_000,
      transition: null,
    });
  });

  it("dates an isolated circuit from its isolation, a closed one from nothing", () => {
    const isolated = { state: "isolated", generation: 2, failureCount: 0, since: 7_000 } as const;
    expect(busyRejection(isolated, config)).toMatchObject({ openedAt: 7_000 });
    expect(busyRejection(CLOSED_SNAPSHOT, config)).toMatchObject({ openedAt: 0 });
  });
});

describe("a probe granted in the background to a synchronous caller", () => {
  it("is taken while its lease is live on the view", () => {
    const view = halfOpened([{ token: 9, expiresAt: 2_000 }]);
    expect(grantedProbe(9, view, 1_500)).toEqual({ verdict: "probe", generation: 9, transition: null });
  });

  it("is not taken once its lease expired, when the view holds another lease, or when there is none", () => {
    const view = halfOpened([{ token: 9, expiresAt: 2_000 }]);
    expect(grantedProbe(9, view, 2_000)).toBeUndefined();
    expect(grantedProbe(8, view, 1_500)).toBeUndefined();
    expect(grantedProbe(null, view, 1_500)).toBeUndefined();
    expect(grantedProbe(9, opened(1_000), 1_500)).toBeUndefined();
  });
});

describe("a call of a process open for itself while the fleet's circuit is not closed", () => {
  it("is the fleet's to decide while the fleet's circuit rejects anyway (its ttl runs), or is isolated", () => {
    const own = openForItself(1_000);
    expect(ownRejection(opened(1_000), own, config, 5_000)).toBeUndefined();
    const isolated = { state: "isolated", generation: 2, failureCount: 0, since: 1_000 } as const;
    expect(ownRejection(isolated, own, config, 5_000)).toBeUndefined();
  });

  it("never takes the fleet's probe: rejected for itself by its own circuit while its own ttl runs", () => {
    const own = openForItself(8_000);
    // The fleet's circuit opened at 1,000: at 12,000 its ttl is over and it would let a probe through.
    expect(admit(opened(1_000), config, 12_000).verdict).toBe("probe");
    expect(ownRejection(opened(1_000), own, config, 12_000)).toMatchObject({
      verdict: "reject",
      openedAt: 8_000,
      scope: "process",
    });
  });

  it("rejected for itself until its own ttl when its own circuit would let a probe through too", () => {
    const own = openForItself(1_000);
    expect(ownRejection(opened(1_000), own, config, 12_000)).toEqual({
      verdict: "reject",
      openedAt: 1_000,
      retryAfterMs: 10_000,
      transition: null,
      scope: "process",
    });
  });
});

describe("a call while Redis is away, by onStorageError", () => {
  it("fail-open runs it and counts nothing (a stale token)", () => {
    expect(degradedAdmission("fail-open", opened(1_000), config, 2_000)).toEqual({
      verdict: "run",
      generation: STALE_TOKEN,
      transition: null,
    });
  });

  it("fail-closed rejects it, even on a closed circuit", () => {
    expect(degradedAdmission("fail-closed", CLOSED_SNAPSHOT, config, 2_000)).toMatchObject({ verdict: "reject" });
  });

  it("local decides on the view as the memory storage would, transition included", () => {
    for (const [view, now] of [
      [CLOSED_SNAPSHOT, 2_000],
      [opened(1_000), 2_000],
      [opened(1_000), 12_000],
    ] as const) {
      expect(degradedAdmission("local", view, config, now)).toEqual(admit(view, config, now));
    }
    expect(degradedAdmission("local", opened(1_000), config, 12_000).transition).not.toBeNull();
  });
});
