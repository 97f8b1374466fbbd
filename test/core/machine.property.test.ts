/**
 * Model-based test of the pure core: random sequences of calls, outcomes (successes, slow
 * successes, failures, excluded errors), an operator's actions and clock jumps run against the
 * core as `InMemoryStorage` applies it (its rate window included) and against a small reference
 * circuit written independently below, step by step. Scenarios mix the Python purgatory's threshold rule with
 * a failure rate and a slow-call rate over a time window, backoff of the open time, and
 * isolate / disable / reset.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type {
  CircuitConfig,
  CircuitSnapshot,
  CircuitStateName,
  CircuitTransitionEvent,
  Transition,
} from "../../src/core/circuit.js";
import { control, type ControlAction } from "../../src/core/machine.js";
import { InMemoryStorage } from "../../src/storage/memory.js";
import type { CircuitRecord } from "../../src/storage/storage.js";

type Verdict =
  | { readonly verdict: "run" | "probe"; readonly generation: number }
  | {
      readonly verdict: "reject";
      readonly openedAt: number;
      readonly retryAfterMs: number;
      readonly isolated: boolean;
    };

interface Policies {
  readonly threshold: number;
  readonly ttlMs: number;
  readonly halfOpenMaxCalls: number;
  /** A failure rate (and, with `slowRate`, a slow-call rate) over `windowMs`. */
  readonly window: {
    readonly rate: number;
    readonly minimumCalls: number;
    readonly windowMs: number;
    readonly slowRate?: number;
  } | null;
  readonly backoff: { readonly multiplier: number; readonly maxTtlMs: number; readonly jitter: number } | null;
}

/**
 * The reference: a mutable circuit that says what the contract says, in the plainest code: a list
 * of the calls of the current period for the window, time in whole milliseconds.
 */
class ReferenceCircuit {
  state: CircuitStateName = "closed";
  failureCount = 0;
  openedAt: number | null = null;
  retryAt = 0;
  openings = 0;
  isolatedSince = 0;
  generation = 0;
  /** Token and lease expiry of each probe admitted in the current half-opening. */
  probes: { token: number; expiry: number }[] = [];
  /** The calls counted since the last change of state: when, and how they ended. */
  calls: { at: number; outcome: "success" | "failure" | "slow" }[] = [];
  events: CircuitTransitionEvent[] = [];

  constructor(readonly p: Policies) {}

  start(now: number): Verdict {
    if (this.state === "closed" || this.state === "disabled") return { verdict: "run", generation: this.generation };
    if (this.state === "isolated") {
      return { verdict: "reject", openedAt: this.isolatedSince, retryAfterMs: this.p.ttlMs, isolated: true };
    }
    if (this.state === "opened") {
      const opened = this.openedAt as number;
      if (now < this.retryAt)
        return { verdict: "reject", openedAt: opened, retryAfterMs: this.retryAt - now, isolated: false };
      this.moveTo("half-opened", false);
      this.probes = [];
    }
    const running = this.probes.filter((probe) => now < probe.expiry);
    if (running.length >= this.p.halfOpenMaxCalls) {
      const soonest = Math.min(...running.map((probe) => probe.expiry));
      return { verdict: "reject", openedAt: this.openedAt as number, retryAfterMs: soonest - now, isolated: false };
    }
    // Every probe gets a token of its own: the generation grows by one per probe.
    this.generation += 1;
    this.probes = [...running, { token: this.generation, expiry: now + this.p.ttlMs }];
    return { verdict: "probe", generation: this.generation };
  }

  /** Whether `token` may decide now: the current generation while closed or disabled, a live probe while half-opened. */
  private holds(token: number, now: number): boolean {
    if (this.state === "closed" || this.state === "disabled") return token === this.generation;
    if (this.state === "half-opened") return this.probes.some((p) => p.token === token && now < p.expiry);
    return false;
  }

  /** The window's counts at `now`: calls in the last 10 buckets of a tenth of the window. */
  private counts(now: number): { calls: number; failures: number; slow: number } {
    const width = (this.p.window as { windowMs: number }).windowMs / 10;
    const live = this.calls.filter((c) => Math.floor(c.at / width) >= Math.floor(now / width) - 9);
    return {
      calls: live.length,
      failures: live.filter((c) => c.outcome === "failure").length,
      slow: live.filter((c) => c.outcome === "slow").length,
    };
  }

  private ratesReached(now: number): boolean {
    const w = this.p.window;
    if (w === null) return false;
    const { calls, failures, slow } = this.counts(now);
    if (calls < w.minimumCalls || calls === 0) return false;
    return failures / calls >= w.rate || (w.slowRate !== undefined && slow / calls >= w.slowRate);
  }

  /** A call ending while closed is counted in the window, whatever its token. */
  private count(now: number, outcome: "success" | "failure" | "slow"): void {
    if (this.state === "closed" && this.p.window !== null) this.calls.push({ at: now, outcome });
  }

  succeed(token: number, now: number, slow: boolean): void {
    this.count(now, slow ? "slow" : "success");
    if (this.holds(token, now)) {
      if ((this.state === "closed" || this.state === "disabled") && this.failureCount > 0) {
        this.failureCount = 0;
        this.events.push({ type: "recovered" });
      } else if (this.state === "half-opened") {
        this.failureCount = 0;
        this.openings = 0;
        this.events.push({ type: "recovered" });
        this.moveTo("closed");
      }
    }
    if (slow && this.state === "closed" && this.ratesReached(now)) this.open(now, 1);
  }

  fail(token: number, now: number): void {
    this.count(now, "failure");
    if (!this.holds(token, now)) return;
    if (this.state === "closed") {
      this.failureCount += 1;
      this.events.push({ type: "failed", failureCount: this.failureCount });
      if (this.failureCount >= this.p.threshold || this.ratesReached(now)) this.open(now, 1);
    } else if (this.state === "half-opened") {
      this.failureCount += 1;
      this.open(now, this.openings + 1);
    } else if (this.state === "disabled") {
      this.failureCount += 1;
      this.events.push({ type: "failed", failureCount: this.failureCount });
    }
  }

  act(action: ControlAction, now: number): void {
    if (action === "isolate" && this.state !== "isolated") {
      this.isolatedSince = now;
      this.moveTo("isolated");
    } else if (action === "disable" && this.state !== "disabled") {
      this.moveTo("disabled");
    } else if (action === "reset" && this.state !== "closed") {
      this.failureCount = 0;
      this.openings = 0;
      this.moveTo("closed");
    } else if (action === "reset" && this.failureCount > 0) {
      this.failureCount = 0;
      this.events.push({ type: "recovered" });
    }
  }

  /** When the circuit's next time-driven change is due, if any. */
  deadline(now: number): number | null {
    if (this.state === "opened") return this.retryAt;
    if (this.state === "half-opened") {
      const running = this.probes.filter((probe) => now < probe.expiry);
      return running.length === 0 ? null : Math.min(...running.map((probe) => probe.expiry));
    }
    return null;
  }

  /** Opens the circuit for its `openings`-th opening since the last close. */
  private open(now: number, openings: number): void {
    this.openings = openings;
    this.moveTo("opened", true, now);
    // The open time: ttl, times the backoff multiplier per re-opening, capped, jittered by a
    // deterministic function of the opening (the documented formula).
    let ms = this.p.ttlMs;
    const b = this.p.backoff;
    if (b !== null) {
      const grown = Math.min(this.p.ttlMs * b.multiplier ** (openings - 1), b.maxTtlMs);
      const u = ((this.generation * 2654435761 + Math.floor(now)) % 4294967296) / 4294967296;
      ms = Math.round(grown * (1 + b.jitter * (2 * u - 1)) * 1e3) / 1e3;
    }
    this.retryAt = now + ms;
  }

  private moveTo(state: CircuitStateName, bump = true, openedAt: number | null = null): void {
    if (state !== "half-opened") this.openedAt = openedAt;
    this.state = state;
    this.calls = [];
    // Half-opening is not a generation of its own: the first probe's admission is.
    if (bump) this.generation += 1;
    this.events.push({ type: "state_changed", state, openedAt: state === "opened" ? openedAt : null });
  }
}

/** The real core, as `InMemoryStorage` applies it. */
class CoreCircuit {
  readonly storage = new InMemoryStorage();
  readonly circuit: CircuitRecord;
  events: CircuitTransitionEvent[] = [];

  constructor(readonly config: CircuitConfig) {
    this.circuit = this.storage.register("circuit", config).circuit;
  }

  get snapshot(): CircuitSnapshot {
    return this.circuit.snapshot;
  }

  start(now: number): Verdict {
    const admission = this.storage.admit(this.circuit, now);
    this.store(admission.transition);
    if (admission.verdict === "reject") {
      const { verdict, openedAt, retryAfterMs, isolated } = admission;
      return { verdict, openedAt, retryAfterMs, isolated: isolated === true };
    }
    return { verdict: admission.verdict, generation: admission.generation };
  }

  succeed(generation: number, now: number, slow: boolean): void {
    this.store(this.storage.recordSuccess(this.circuit, generation, () => now, slow));
  }

  fail(generation: number, now: number): void {
    this.store(this.storage.recordFailure(this.circuit, generation, now));
  }

  act(action: ControlAction, now: number): void {
    this.store(this.storage.control(this.circuit, action, now));
  }

  private store(transition: Transition | null): void {
    if (transition !== null) this.events.push(...transition.events);
  }
}

type Command =
  | { readonly kind: "start" }
  | { readonly kind: "settle"; readonly pick: number; readonly outcome: Outcome }
  | { readonly kind: "act"; readonly action: ControlAction }
  | { readonly kind: "advance"; readonly ms: number }
  | { readonly kind: "toDeadline"; readonly offset: -1 | 0 | 1 };

/** An excluded error counts as a success: the shell records it with `recordSuccess`. */
type Outcome = "success" | "slow" | "failure" | "excluded";

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Command>({ kind: "start" }) },
  {
    weight: 6,
    arbitrary: fc.record<Command & { kind: "settle" }>({
      kind: fc.constant("settle"),
      pick: fc.nat(),
      outcome: fc.constantFrom<Outcome>("success", "slow", "failure", "failure", "excluded"),
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<ControlAction>("isolate", "disable", "reset", "reset")
      .map((action): Command => ({ kind: "act", action })),
  },
  {
    weight: 3,
    arbitrary: fc
      .oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 0, max: 6_000 }),
        fc.integer({ min: 10_000, max: 10_000_000 }),
      )
      .map((ms): Command => ({ kind: "advance", ms })),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom<-1 | 0 | 1>(-1, 0, 1).map((offset): Command => ({ kind: "toDeadline", offset })),
  },
);

const scenarioArb = fc.record({
  policies: fc.record({
    threshold: fc.integer({ min: 1, max: 5 }),
    ttlMs: fc.oneof(
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 1, max: 5_000 }),
      // Seconds that are not exact in binary: 1.001 * 1000 is 1000.9999999999999.
      fc.constantFrom(1_001, 1_003, 2_007, 2_011, 2_015),
    ),
    halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
    window: fc.option(
      fc.record(
        {
          rate: fc.constantFrom(0.25, 0.5, 1 / 3, 0.9, 1),
          minimumCalls: fc.integer({ min: 1, max: 8 }),
          windowMs: fc.constantFrom(50, 1_000, 60_000, 7_003),
          slowRate: fc.constantFrom(0.2, 0.5, 1),
        },
        { requiredKeys: ["rate", "minimumCalls", "windowMs"] },
      ),
      { freq: 2 },
    ),
    backoff: fc.option(
      fc.record({
        multiplier: fc.constantFrom(1, 1.5, 2, 3),
        maxTtlMs: fc.constantFrom(10, 3_000, 60_000),
        jitter: fc.constantFrom(0, 0.1, 0.5),
      }),
      { freq: 2 },
    ),
  }),
  // Small epochs keep floating-point residue visible; 1.7e12 is a real Date.now().
  start: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000_000 }), fc.constant(1.7e12)),
  commands: fc.array(commandArb, { minLength: 1, maxLength: 120, size: "max" }),
});

/** The config the policies give, as `CircuitConfig` (seconds). */
function configOf(p: Policies): CircuitConfig {
  const { window, backoff } = p;
  return {
    threshold: p.threshold,
    ttl: p.ttlMs / 1000,
    halfOpenMaxCalls: p.halfOpenMaxCalls,
    ...(window === null
      ? {}
      : { failureRate: { rate: window.rate, minimumCalls: window.minimumCalls, window: window.windowMs / 1000 } }),
    ...(window?.slowRate === undefined ? {} : { slowCall: { duration: 1, rate: window.slowRate } }),
    ...(backoff === null
      ? {}
      : { backoff: { multiplier: backoff.multiplier, maxTtl: backoff.maxTtlMs / 1000, jitter: backoff.jitter } }),
  };
}

interface PendingCall {
  readonly generation: number;
  readonly probe: boolean;
  readonly leaseExpiry: number;
  readonly admittedAt: number;
}

const openedAtOf = (s: CircuitSnapshot): number | null =>
  s.state === "opened" || s.state === "half-opened" ? s.openedAt : null;

/** What the runs went through, to check that the generator reaches every rule. */
const seen = new Set<string>();

describe("core machine against a reference circuit", () => {
  it("agrees on every verdict, state, count and event, and keeps its invariants", () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const p = scenario.policies;
        const config = configOf(p);
        const core = new CoreCircuit(config);
        const reference = new ReferenceCircuit(p);
        const pending: PendingCall[] = [];
        let now = scenario.start;
        let generation = 0;

        scenario.commands.forEach((command, step) => {
          const where = `step ${step} ${JSON.stringify(command)} at ${now}`;
          const eventsBefore = core.events.length;
          const stateBefore = core.snapshot.state;
          switch (command.kind) {
            case "start": {
              const expected = reference.start(now);
              const actual = core.start(now);
              expect(actual, where).toEqual(expected);
              if (actual.verdict !== "reject") {
                pending.push({
                  generation: actual.generation,
                  probe: actual.verdict === "probe",
                  leaseExpiry: now + p.ttlMs,
                  admittedAt: step,
                });
              }
              break;
            }
            case "settle": {
              if (pending.length === 0) break;
              const [call] = pending.splice(command.pick % pending.length, 1) as [PendingCall];
              if (command.outcome === "failure") {
                reference.fail(call.generation, now);
                core.fail(call.generation, now);
              } else {
                const slow = command.outcome === "slow";
                reference.succeed(call.generation, now, slow);
                core.succeed(call.generation, now, slow);
              }
              break;
            }
            case "act":
              reference.act(command.action, now);
              core.act(command.action, now);
              break;
            case "advance":
              now += command.ms;
              break;
            case "toDeadline": {
              const deadline = reference.deadline(now);
              if (deadline !== null) now = Math.max(now, deadline + command.offset);
              break;
            }
          }

          const s = core.snapshot;
          expect(s.state, where).toBe(reference.state);
          expect(s.failureCount, where).toBe(reference.failureCount);
          expect(openedAtOf(s), where).toBe(reference.openedAt);
          expect(s.generation, where).toBe(reference.generation);
          expect(core.events, where).toEqual(reference.events);
          if (s.state === "opened") {
            expect([s.retryAt, s.openings], where).toEqual([reference.retryAt, reference.openings]);
            seen.add(s.openings > 1 ? "re-opened" : "opened");
            if (s.failureCount < p.threshold) seen.add("opened by a rate");
          }
          if (s.state !== stateBefore) seen.add(`${stateBefore} -> ${s.state}`);

          // Invariants of the core, independent of the reference: the generation grows by one
          // per transition (half-opening aside) and per probe admitted (each probe's token is its own).
          const transitions = core.events
            .slice(eventsBefore)
            .filter((e) => e.type === "state_changed" && e.state !== "half-opened").length;
          const probes =
            command.kind === "start" && pending.at(-1)?.probe === true && pending.at(-1)?.admittedAt === step ? 1 : 0;
          expect(s.generation, where).toBe(generation + transitions + probes);
          generation = s.generation;
          if (s.state === "closed") expect(s.failureCount, where).toBeLessThan(p.threshold);
          if (s.state === "opened" && p.window === null)
            expect(s.failureCount, where).toBeGreaterThanOrEqual(p.threshold);
          if (s.state === "opened" && p.backoff !== null) {
            expect(s.retryAt - s.openedAt, where).toBeLessThanOrEqual(
              p.backoff.maxTtlMs * (1 + p.backoff.jitter) + 0.001,
            );
          }
          if (s.state === "half-opened") {
            const leases = s.probeLeases.filter((lease) => lease.expiresAt > now);
            expect(leases.length, where).toBeLessThanOrEqual(p.halfOpenMaxCalls);
            const deciding = pending.filter(
              (c) => c.probe && leases.some((lease) => lease.token === c.generation) && c.leaseExpiry > now,
            );
            expect(deciding.length, where).toBeLessThanOrEqual(p.halfOpenMaxCalls);
            expect(new Set(s.probeLeases.map((lease) => lease.token)).size, where).toBe(s.probeLeases.length);
          }
          for (const call of pending) expect(call.generation, where).toBeLessThanOrEqual(s.generation);
        });
      }),
      { numRuns: 400 },
    );
    for (const corner of [
      "opened",
      "re-opened",
      "opened by a rate",
      "closed -> isolated",
      "isolated -> closed",
      "closed -> disabled",
      "disabled -> closed",
      "half-opened -> opened",
      "half-opened -> closed",
    ]) {
      expect([...seen], corner).toContain(corner);
    }
  });
});

describe("control", () => {
  it("is a no-op for the state the circuit is already in", () => {
    const isolated: CircuitSnapshot = { state: "isolated", generation: 3, failureCount: 0, since: 5 };
    expect(control(isolated, "isolate", 9)).toBeNull();
    expect(control({ state: "closed", generation: 1, failureCount: 0 }, "reset", 9)).toBeNull();
  });
});
