/**
 * Quorum in the pure core: how many processes a fleet-wide opening needs, and the quorum gate of
 * the trip rules (a lone process always meets it: `quorumMet` defaults to true).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CLOSED_SNAPSHOT, type CircuitConfig, type HalfOpenedSnapshot } from "../../src/core/circuit.js";
import { checkRates, recordFailure } from "../../src/core/machine.js";
import { callerHorizonMs, effectiveQuorum, hasQuorum, MAX_QUORUM_PROCESSES } from "../../src/core/quorum.js";

const config = (quorum?: CircuitConfig["quorum"]): CircuitConfig => ({
  threshold: 2,
  ttl: 30,
  halfOpenMaxCalls: 1,
  ...(quorum === undefined ? {} : { quorum }),
});

describe("effectiveQuorum", () => {
  it("is one process without a quorum, whatever the callers", () => {
    expect(effectiveQuorum(undefined, 50)).toBe(1);
  });

  it("is the number of processes asked for, never more than the active callers", () => {
    expect(effectiveQuorum({ processes: 3 }, 10)).toBe(3);
    expect(effectiveQuorum({ processes: 3 }, 2)).toBe(2);
    expect(effectiveQuorum({ processes: 3 }, 1)).toBe(1);
  });

  it("is at least the fraction of the active callers, rounded up (0.3 of 10 is 3, not 4)", () => {
    expect(effectiveQuorum({ processes: 2, fraction: 0.3 }, 10)).toBe(3);
    expect(effectiveQuorum({ processes: 2, fraction: 0.25 }, 12)).toBe(3);
    expect(effectiveQuorum({ processes: 2, fraction: 0.25 }, 13)).toBe(4);
    expect(effectiveQuorum({ processes: 2, fraction: 0.3 }, 4)).toBe(2);
    expect(effectiveQuorum({ processes: 1, fraction: 1 }, 7)).toBe(7);
  });

  it("is one for a process that counts itself as the only caller, or none at all", () => {
    expect(effectiveQuorum({ processes: 5, fraction: 0.5 }, 1)).toBe(1);
    expect(effectiveQuorum({ processes: 5 }, 0)).toBe(1);
  });

  it("stays within 1 and the callers, at least min(processes, callers), exactly the rounded formula", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_QUORUM_PROCESSES }),
        fc.option(fc.double({ min: 0.001, max: 1, noNaN: true }), { nil: undefined }),
        fc.integer({ min: 1, max: 2_000 }),
        (processes, fraction, callers) => {
          const need = effectiveQuorum(fraction === undefined ? { processes } : { processes, fraction }, callers);
          expect(need).toBeGreaterThanOrEqual(1);
          expect(need).toBeLessThanOrEqual(callers);
          expect(need).toBeGreaterThanOrEqual(Math.min(processes, callers));
          if (fraction !== undefined) {
            const share = Math.ceil(Number((fraction * callers).toFixed(6)));
            expect(need).toBe(Math.min(Math.max(processes, share), callers));
          }
        },
      ),
    );
  });
});

describe("hasQuorum", () => {
  it("is false without a quorum or with one process and no fraction: nothing to tell Redis", () => {
    expect(hasQuorum(config())).toBe(false);
    expect(hasQuorum(config({ processes: 1 }))).toBe(false);
  });

  it("is true for more than one process, or any fraction", () => {
    expect(hasQuorum(config({ processes: 2 }))).toBe(true);
    expect(hasQuorum(config({ processes: 1, fraction: 0.5 }))).toBe(true);
  });
});

describe("callerHorizonMs", () => {
  it("is the storage's horizon, or the rate window when that is longer", () => {
    expect(callerHorizonMs(config(), 60_000)).toBe(60_000);
    const windowed: CircuitConfig = { ...config(), failureRate: { rate: 0.5, minimumCalls: 5, window: 120 } };
    expect(callerHorizonMs(windowed, 60_000)).toBe(120_000);
    expect(callerHorizonMs({ ...windowed, failureRate: { rate: 0.5, minimumCalls: 5, window: 10 } }, 60_000)).toBe(
      60_000,
    );
  });
});

describe("the quorum gate of the trip rules", () => {
  it("keeps a closed circuit closed at threshold while the quorum is not met, counting the failure", () => {
    const at2 = recordFailure(
      { state: "closed", generation: 4, failureCount: 1 },
      config({ processes: 2 }),
      4,
      1_000,
      undefined,
      0,
      false,
    );
    expect(at2).toEqual({
      snapshot: { state: "closed", generation: 4, failureCount: 2 },
      events: [{ type: "failed", failureCount: 2 }],
    });
    const past = recordFailure(at2!.snapshot, config({ processes: 2 }), 4, 1_001, undefined, 0, false);
    expect(past?.snapshot).toEqual({ state: "closed", generation: 4, failureCount: 3 });
  });

  it("opens once the quorum is met, past the threshold", () => {
    const t = recordFailure(
      { state: "closed", generation: 4, failureCount: 5 },
      config({ processes: 2 }),
      4,
      1_000,
      undefined,
      0,
      true,
    );
    expect(t?.snapshot.state).toBe("opened");
    expect(t?.snapshot.failureCount).toBe(6);
  });

  it("reopens a half-opened circuit on a failing probe whatever the quorum", () => {
    const halfOpened: HalfOpenedSnapshot = {
      state: "half-opened",
      generation: 7,
      failureCount: 2,
      openedAt: 0,
      openings: 1,
      probeLeases: [{ token: 7, expiresAt: 40_000 }],
    };
    expect(recordFailure(halfOpened, config({ processes: 5 }), 7, 31_000, undefined, 0, false)?.snapshot.state).toBe(
      "opened",
    );
  });

  it("keeps a window that reaches its rate closed while the quorum is not met", () => {
    const rated: CircuitConfig = {
      ...config({ processes: 2 }),
      failureRate: { rate: 0.5, minimumCalls: 2, window: 10 },
    };
    const counts = { calls: 4, failures: 3, slow: 0 };
    expect(checkRates(CLOSED_SNAPSHOT, rated, counts, 1_000, false)).toBeNull();
    expect(checkRates(CLOSED_SNAPSHOT, rated, counts, 1_000, true)?.snapshot.state).toBe("opened");
    expect(recordFailure(CLOSED_SNAPSHOT, rated, 0, 1_000, counts, 0, false)?.snapshot.state).toBe("closed");
  });
});
