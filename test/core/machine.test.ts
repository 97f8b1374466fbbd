import { describe, expect, it } from "vitest";
import {
  CLOSED_SNAPSHOT,
  type CircuitConfig,
  type CircuitSnapshot,
  type ClosedSnapshot,
  type HalfOpenedSnapshot,
  type OpenedSnapshot,
  type Transition,
} from "../../src/core/circuit.js";
import {
  admit,
  isForgettable,
  recordFailure,
  recordSuccess,
  releaseProbe,
  type Admission,
} from "../../src/core/machine.js";

const config = (threshold = 3, ttl = 30, halfOpenMaxCalls = 1): CircuitConfig => ({
  threshold,
  ttl,
  halfOpenMaxCalls,
});

const closed = (failureCount = 0, generation = 0): ClosedSnapshot => ({
  state: "closed",
  generation,
  failureCount,
});

/** An opened snapshot whose probe is due `retryAfter` ms after `openedAt` (a 30 s ttl by default). */
const opened = (openedAt: number, generation = 1, failureCount = 3, retryAfter = 30_000): OpenedSnapshot => ({
  state: "opened",
  generation,
  failureCount,
  openedAt,
  retryAt: openedAt + retryAfter,
  openings: 1,
});

/** The snapshot the core makes when a closed circuit of `cfg` trips at `at`. */
const trippedAt = (cfg: CircuitConfig, at: number): CircuitSnapshot =>
  (recordFailure(closed(cfg.threshold - 1), cfg, 0, at) as Transition).snapshot;

/** A half-opened snapshot; `leases` are `[token, expiresAt]` pairs; generation is the last token. */
const halfOpened = (
  openedAt: number,
  leases: [token: number, expiresAt: number][],
  failureCount = 3,
): HalfOpenedSnapshot => ({
  state: "half-opened",
  generation: Math.max(2, ...leases.map(([token]) => token)),
  failureCount,
  openedAt,
  openings: 1,
  probeLeases: leases.map(([token, expiresAt]) => ({ token, expiresAt })),
});

/** Narrows a transition that the test expects to exist. */
function expectTransition(transition: Transition | null): Transition {
  expect(transition).not.toBeNull();
  return transition as Transition;
}

/** Freezes a snapshot deeply, so a test fails if the machine mutates its input. */
function frozen<S extends CircuitSnapshot>(snapshot: S): S {
  if (snapshot.state === "half-opened") snapshot.probeLeases.forEach((lease) => Object.freeze(lease));
  if (snapshot.state === "half-opened") Object.freeze(snapshot.probeLeases);
  return Object.freeze(snapshot);
}

describe("closed circuit", () => {
  it("admits a call as run, with its generation and no transition", () => {
    expect(admit(closed(2, 7), config(), 1_000)).toEqual({
      verdict: "run",
      generation: 7,
      transition: null,
    });
  });

  it("starts closed, with no failure, in generation 0", () => {
    expect(CLOSED_SNAPSHOT).toEqual({ state: "closed", generation: 0, failureCount: 0 });
    expect(Object.isFrozen(CLOSED_SNAPSHOT)).toBe(true);
  });

  it("counts a failure and emits failed", () => {
    const t = expectTransition(recordFailure(frozen(closed(0, 4)), config(3), 4, 1_000));
    expect(t.snapshot).toEqual({ state: "closed", generation: 4, failureCount: 1 });
    expect(t.events).toEqual([{ type: "failed", failureCount: 1 }]);
  });

  it("counts consecutive failures up to threshold - 1 without opening", () => {
    const t = expectTransition(recordFailure(closed(1), config(3), 0, 1_000));
    expect(t.snapshot).toEqual({ state: "closed", generation: 0, failureCount: 2 });
    expect(t.events).toEqual([{ type: "failed", failureCount: 2 }]);
  });

  it("opens at threshold with failed then state_changed", () => {
    const t = expectTransition(recordFailure(frozen(closed(2, 4)), config(3), 4, 12_345));
    expect(t.snapshot).toEqual({
      state: "opened",
      generation: 5,
      failureCount: 3,
      openedAt: 12_345,
      retryAt: 42_345,
      openings: 1,
    });
    expect(t.events).toEqual([
      { type: "failed", failureCount: 3 },
      { type: "state_changed", state: "opened", openedAt: 12_345 },
    ]);
  });

  it("opens on the first failure when threshold is 1", () => {
    const t = expectTransition(recordFailure(CLOSED_SNAPSHOT, config(1), 0, 500));
    expect(t.snapshot).toEqual({
      state: "opened",
      generation: 1,
      failureCount: 1,
      openedAt: 500,
      retryAt: 30_500,
      openings: 1,
    });
    expect(t.events).toEqual([
      { type: "failed", failureCount: 1 },
      { type: "state_changed", state: "opened", openedAt: 500 },
    ]);
  });

  it("changes nothing on a success with no failure counted (the hot path)", () => {
    expect(recordSuccess(CLOSED_SNAPSHOT, 0, 0)).toBeNull();
    expect(recordSuccess(closed(0, 6), 6, 0)).toBeNull();
  });

  it("resets a non-zero failure count on a success and emits recovered", () => {
    const t = expectTransition(recordSuccess(frozen(closed(2, 6)), 6, 0));
    expect(t.snapshot).toEqual({ state: "closed", generation: 6, failureCount: 0 });
    expect(t.events).toEqual([{ type: "recovered" }]);
  });

  it("counts failures again from zero after a recovery", () => {
    const afterSuccess = expectTransition(recordSuccess(closed(2), 0, 0)).snapshot;
    const t = expectTransition(recordFailure(afterSuccess, config(3), 0, 1_000));
    expect(t.snapshot).toEqual({ state: "closed", generation: 0, failureCount: 1 });
  });

  it("is forgettable at any time", () => {
    expect(isForgettable(closed(2), config(), 0)).toBe(true);
  });
});

describe("opened circuit", () => {
  const ttl30 = config(3, 30);

  it("rejects until ttl with retryAfterMs", () => {
    const snapshot = frozen(opened(1_000));
    expect(admit(snapshot, ttl30, 1_000)).toEqual({
      verdict: "reject",
      openedAt: 1_000,
      retryAfterMs: 30_000,
      transition: null,
    });
    expect(admit(snapshot, ttl30, 21_000)).toEqual({
      verdict: "reject",
      openedAt: 1_000,
      retryAfterMs: 10_000,
      transition: null,
    });
    expect(admit(snapshot, ttl30, 30_999)).toEqual({
      verdict: "reject",
      openedAt: 1_000,
      retryAfterMs: 1,
      transition: null,
    });
  });

  it("half-opens at ttl and admits a probe", () => {
    const admission = admit(frozen(opened(1_000, 5, 3)), ttl30, 31_000);
    expect(admission).toEqual({
      verdict: "probe",
      generation: 6,
      transition: {
        snapshot: {
          state: "half-opened",
          generation: 6,
          failureCount: 3,
          openedAt: 1_000,
          openings: 1,
          probeLeases: [{ token: 6, expiresAt: 61_000 }],
        },
        events: [{ type: "state_changed", state: "half-opened", openedAt: null }],
      },
    });
  });

  it("half-opens on a call long after ttl, leasing the probe from that call", () => {
    const admission = admit(opened(1_000, 1), ttl30, 5_000_000);
    expect(admission.verdict).toBe("probe");
    expect(admission.transition?.snapshot).toEqual({
      state: "half-opened",
      generation: 2,
      failureCount: 3,
      openedAt: 1_000,
      openings: 1,
      probeLeases: [{ token: 2, expiresAt: 5_030_000 }],
    });
  });

  it("ignores successes and failures: no call runs in an opened generation", () => {
    const snapshot = opened(1_000, 3);
    expect(recordSuccess(snapshot, 3, 2_000)).toBeNull();
    expect(recordFailure(snapshot, ttl30, 3, 2_000)).toBeNull();
    expect(recordSuccess(snapshot, 2, 2_000)).toBeNull();
    expect(recordFailure(snapshot, ttl30, 2, 2_000)).toBeNull();
  });

  it("is forgettable only once its ttl has elapsed", () => {
    expect(isForgettable(opened(1_000), ttl30, 30_999)).toBe(false);
    expect(isForgettable(opened(1_000), ttl30, 31_000)).toBe(true);
  });
});

describe("half-opened circuit", () => {
  const ttl30 = config(3, 30, 1);

  it("rejects a probe beyond halfOpenMaxCalls", () => {
    const admission = admit(frozen(halfOpened(1_000, [[2, 61_000]])), ttl30, 40_000);
    expect(admission).toEqual({
      verdict: "reject",
      openedAt: 1_000,
      retryAfterMs: 21_000,
      transition: null,
    });
  });

  it("admits up to halfOpenMaxCalls probes at once, each with a token of its own, then rejects until the first lease ends", () => {
    const three = config(3, 30, 3);
    let snapshot: CircuitSnapshot = halfOpened(1_000, [[2, 61_000]]);
    const second = admit(snapshot, three, 40_000);
    expect(second).toEqual({
      verdict: "probe",
      generation: 3,
      transition: {
        snapshot: halfOpened(1_000, [
          [2, 61_000],
          [3, 70_000],
        ]),
        events: [],
      },
    });
    snapshot = expectTransition(second.transition).snapshot;
    const third = admit(snapshot, three, 45_000);
    expect(third).toMatchObject({ verdict: "probe", generation: 4 });
    snapshot = expectTransition(third.transition).snapshot;
    expect(snapshot).toEqual(
      halfOpened(1_000, [
        [2, 61_000],
        [3, 70_000],
        [4, 75_000],
      ]),
    );
    expect(admit(snapshot, three, 50_000)).toEqual({
      verdict: "reject",
      openedAt: 1_000,
      retryAfterMs: 11_000,
      transition: null,
    });
  });

  it("frees the slot of a probe whose lease expired", () => {
    const snapshot = frozen(halfOpened(1_000, [[2, 61_000]]));
    expect(admit(snapshot, ttl30, 60_999).verdict).toBe("reject");
    expect(admit(snapshot, ttl30, 61_000)).toEqual({
      verdict: "probe",
      generation: 3,
      transition: { snapshot: halfOpened(1_000, [[3, 91_000]]), events: [] },
    });
  });

  it("drops only the expired leases when it admits a probe", () => {
    const admission = admit(
      halfOpened(1_000, [
        [2, 50_000],
        [3, 70_000],
      ]),
      config(3, 30, 2),
      60_000,
    );
    expect(admission.transition?.snapshot).toEqual(
      halfOpened(1_000, [
        [3, 70_000],
        [4, 90_000],
      ]),
    );
  });

  it("closes on a probe success with recovered before state_changed", () => {
    const t = expectTransition(recordSuccess(frozen(halfOpened(1_000, [[2, 61_000]])), 2, 40_000));
    expect(t.snapshot).toEqual({ state: "closed", generation: 3, failureCount: 0 });
    expect(t.events).toEqual([{ type: "recovered" }, { type: "state_changed", state: "closed", openedAt: null }]);
  });

  it("opens again on a probe failure with a new openedAt", () => {
    const t = expectTransition(recordFailure(frozen(halfOpened(1_000, [[2, 61_000]])), ttl30, 2, 45_000));
    expect(t.snapshot).toEqual({
      state: "opened",
      generation: 3,
      failureCount: 4,
      openedAt: 45_000,
      retryAt: 75_000,
      openings: 2,
    });
    expect(t.events).toEqual([{ type: "state_changed", state: "opened", openedAt: 45_000 }]);
    expect(admit(t.snapshot, ttl30, 74_999)).toEqual({
      verdict: "reject",
      openedAt: 45_000,
      retryAfterMs: 1,
      transition: null,
    });
    expect(admit(t.snapshot, ttl30, 75_000).verdict).toBe("probe");
  });

  it("ignores a probe that settles after its lease expired (a zombie decides nothing)", () => {
    const snapshot = frozen(halfOpened(1_000, [[2, 61_000]]));
    expect(recordSuccess(snapshot, 2, 61_000)).toBeNull();
    expect(recordFailure(snapshot, ttl30, 2, 61_000)).toBeNull();
    expect(recordSuccess(snapshot, 2, 60_999)?.snapshot.state).toBe("closed");
  });

  it("lets the probe of a later lease decide and ignores the zombie it replaced", () => {
    const zombieExpired = halfOpened(1_000, [[2, 61_000]]);
    const takeover = admit(zombieExpired, ttl30, 62_000);
    expect(takeover).toMatchObject({ verdict: "probe", generation: 3 });
    const snapshot = expectTransition(takeover.transition).snapshot;
    expect(recordFailure(snapshot, ttl30, 2, 63_000)).toBeNull();
    expect(recordSuccess(snapshot, 3, 63_000)?.snapshot).toEqual({ state: "closed", generation: 4, failureCount: 0 });
  });

  it("lets the first probe to settle decide and ignores the others", () => {
    const two = config(3, 30, 2);
    const snapshot = halfOpened(1_000, [
      [2, 61_000],
      [3, 62_000],
    ]);
    const first = expectTransition(recordFailure(snapshot, two, 2, 40_000));
    expect(first.snapshot.state).toBe("opened");
    expect(recordSuccess(first.snapshot, 3, 41_000)).toBeNull();
    expect(recordFailure(first.snapshot, two, 3, 41_000)).toBeNull();
  });

  it("ignores an outcome whose token is not a probe's (a call admitted while closed)", () => {
    const snapshot = halfOpened(1_000, [[5, 61_000]]);
    expect(recordSuccess(snapshot, 3, 40_000)).toBeNull();
    expect(recordFailure(snapshot, ttl30, 4, 40_000)).toBeNull();
  });

  it("is forgettable only once every probe lease has expired", () => {
    const snapshot = halfOpened(1_000, [
      [2, 61_000],
      [3, 70_000],
    ]);
    expect(isForgettable(snapshot, ttl30, 69_999)).toBe(false);
    expect(isForgettable(snapshot, ttl30, 70_000)).toBe(true);
    expect(isForgettable(halfOpened(1_000, []), ttl30, 0)).toBe(true);
  });
});

describe("a cancelled probe (releaseProbe)", () => {
  const now = 10_000;

  it("frees its slot at once: the next call probes without waiting for the lease", () => {
    const snapshot = halfOpened(0, [[4, now + 30_000]]);
    expect(admit(snapshot, config(), now).verdict).toBe("reject");
    const released = releaseProbe(snapshot, 4, now);
    expect(released).not.toBeNull();
    expect(admit(released!.snapshot, config(), now).verdict).toBe("probe");
  });

  it("decides nothing: the circuit stays half-opened, same generation and counts, no event", () => {
    const snapshot = halfOpened(500, [[4, now + 30_000]], 7);
    expect(releaseProbe(snapshot, 4, now)).toEqual({
      snapshot: { state: "half-opened", generation: 4, failureCount: 7, openedAt: 500, openings: 1, probeLeases: [] },
      events: [],
    });
  });

  it("keeps the other probes' leases, which still decide", () => {
    const snapshot = halfOpened(0, [
      [3, now + 30_000],
      [4, now + 30_000],
    ]);
    const released = releaseProbe(snapshot, 3, now)!.snapshot;
    expect((released as HalfOpenedSnapshot).probeLeases).toEqual([{ token: 4, expiresAt: now + 30_000 }]);
    expect(recordSuccess(released, 4, now)?.snapshot.state).toBe("closed");
    // the released token no longer decides anything
    expect(recordFailure(released, config(), 3, now)).toBeNull();
  });

  it("prunes expired leases with it", () => {
    const snapshot = halfOpened(0, [
      [3, now - 1],
      [4, now + 30_000],
    ]);
    expect((releaseProbe(snapshot, 4, now)!.snapshot as HalfOpenedSnapshot).probeLeases).toEqual([]);
  });

  it("returns null when there is nothing to free", () => {
    expect(releaseProbe(closed(), 0, now)).toBeNull();
    expect(releaseProbe(opened(0), 1, now)).toBeNull();
    expect(releaseProbe(halfOpened(0, [[4, now + 30_000]]), 5, now)).toBeNull();
  });
});

describe("tokens (generations)", () => {
  const cfg = config(2, 10, 1);

  it("ignores an outcome from an older generation", () => {
    const snapshot = halfOpened(1_000, [[2, 21_000]]);
    expect(recordSuccess(snapshot, 0, 12_000)).toBeNull();
    expect(recordFailure(snapshot, cfg, 0, 12_000)).toBeNull();
    expect(recordSuccess(snapshot, 1, 12_000)).toBeNull();
  });

  it("ignores a failure of a call started before the circuit closed again", () => {
    const reclosed = closed(0, 3);
    expect(recordFailure(reclosed, cfg, 0, 50_000)).toBeNull();
    expect(recordFailure(reclosed, cfg, 2, 50_000)).toBeNull();
    expect(recordSuccess(closed(1, 3), 2, 50_000)).toBeNull();
  });

  it("keeps the generation while closed and grows it by one on every transition and probe", () => {
    const seen: number[] = [];
    let snapshot: CircuitSnapshot = CLOSED_SNAPSHOT;
    const step = (t: Transition | null): void => {
      snapshot = expectTransition(t).snapshot;
      seen.push(snapshot.generation);
    };
    step(recordFailure(snapshot, cfg, 0, 0)); // failed(1)
    step(recordFailure(snapshot, cfg, 0, 0)); // opened
    step(admit(snapshot, cfg, 10_000).transition); // half-opened, probe 2
    step(recordFailure(snapshot, cfg, 2, 10_000)); // opened
    step(admit(snapshot, cfg, 20_000).transition); // half-opened, probe 4
    step(recordSuccess(snapshot, 4, 20_000)); // closed
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect(snapshot).toEqual({ state: "closed", generation: 5, failureCount: 0 });
  });

  it("hands each probe of one half-opening a token of its own", () => {
    const cfg3 = config(2, 10, 3);
    const first = admit(opened(0, 1, 3, 10_000), cfg3, 10_000);
    const second = admit(expectTransition(first.transition).snapshot, cfg3, 10_001);
    expect(first).toMatchObject({ verdict: "probe", generation: 2 });
    expect(second).toMatchObject({ verdict: "probe", generation: 3 });
  });
});

describe("fractional ttl", () => {
  it("half-opens after 1.5 seconds", () => {
    const cfg = config(1, 1.5);
    expect(admit(trippedAt(cfg, 0), cfg, 1_499)).toMatchObject({ verdict: "reject", retryAfterMs: 1 });
    expect(admit(trippedAt(cfg, 0), cfg, 1_500).transition?.snapshot).toMatchObject({
      state: "half-opened",
      probeLeases: [{ token: 2, expiresAt: 3_000 }],
    });
  });

  it("half-opens after a millisecond ttl", () => {
    const cfg = config(1, 0.001);
    expect(admit(trippedAt(cfg, 7), cfg, 7)).toMatchObject({ verdict: "reject", retryAfterMs: 1 });
    expect(admit(trippedAt(cfg, 7), cfg, 8).verdict).toBe("probe");
  });

  it.each([1.001, 2.007, 4.35, 0.3])("counts ttl %s in exact milliseconds, with no floating-point residue", (ttl) => {
    const cfg = config(1, ttl);
    const ms = Math.round(ttl * 1000);
    expect(admit(trippedAt(cfg, 0), cfg, ms - 1)).toEqual({
      verdict: "reject",
      openedAt: 0,
      retryAfterMs: 1,
      transition: null,
    });
    expect(admit(trippedAt(cfg, 0), cfg, ms).verdict).toBe("probe");
    expect(isForgettable(trippedAt(cfg, 0), cfg, ms)).toBe(true);
    const probing = admit(trippedAt(cfg, 0), cfg, ms).transition?.snapshot;
    expect(probing).toMatchObject({ probeLeases: [{ token: 2, expiresAt: 2 * ms }] });
  });
});

describe("the Python purgatory's event sequence (threshold 2)", () => {
  it("emits failed, failed, opened; half-opened, opened; half-opened, recovered, closed", () => {
    const cfg = config(2, 5);
    let snapshot: CircuitSnapshot = CLOSED_SNAPSHOT;
    const events: unknown[] = [];
    const apply = (t: Transition | null): void => {
      if (t === null) return;
      snapshot = t.snapshot;
      events.push(...t.events);
    };
    const enter = (now: number): number => {
      const a: Admission = admit(snapshot, cfg, now);
      apply(a.transition);
      if (a.verdict === "reject") throw new Error(`rejected at ${now}`);
      return a.generation;
    };

    const fail = (start: number, end: number): void => {
      const generation = enter(start);
      apply(recordFailure(snapshot, cfg, generation, end));
    };
    const succeed = (start: number): void => {
      const generation = enter(start);
      apply(recordSuccess(snapshot, generation, start));
    };

    fail(0, 100);
    fail(200, 300);
    expect(admit(snapshot, cfg, 5_299).verdict).toBe("reject");
    fail(5_300, 5_400);
    succeed(10_400);

    expect(events).toEqual([
      { type: "failed", failureCount: 1 },
      { type: "failed", failureCount: 2 },
      { type: "state_changed", state: "opened", openedAt: 300 },
      { type: "state_changed", state: "half-opened", openedAt: null },
      { type: "state_changed", state: "opened", openedAt: 5_400 },
      { type: "state_changed", state: "half-opened", openedAt: null },
      { type: "recovered" },
      { type: "state_changed", state: "closed", openedAt: null },
    ]);
    expect(snapshot).toEqual({ state: "closed", generation: 5, failureCount: 0 });
  });
});
