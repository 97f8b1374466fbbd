/**
 * Model-based test of the pure core: random sequences of calls, outcomes and clock jumps run
 * against `core/machine` (applied to a snapshot the way `InMemoryStorage` does) and against a
 * small reference circuit written independently below, step by step.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CLOSED_SNAPSHOT,
  type CircuitConfig,
  type CircuitSnapshot,
  type CircuitStateName,
  type CircuitTransitionEvent,
  type Transition,
} from "../../src/core/circuit.js";
import { admit, recordFailure, recordSuccess } from "../../src/core/machine.js";

type Verdict =
  | { readonly verdict: "run" | "probe"; readonly generation: number }
  | { readonly verdict: "reject"; readonly openedAt: number; readonly retryAfterMs: number };

/**
 * The reference: a mutable circuit that says what the contract says, in the plainest code.
 * Time is whole milliseconds; `ttlMs` is given as an integer, never derived from seconds.
 */
class ReferenceCircuit {
  state: CircuitStateName = "closed";
  failureCount = 0;
  openedAt: number | null = null;
  generation = 0;
  /** Token and lease expiry of each probe admitted in the current half-opening. */
  probes: { token: number; expiry: number }[] = [];
  events: CircuitTransitionEvent[] = [];

  constructor(
    readonly threshold: number,
    readonly ttlMs: number,
    readonly halfOpenMaxCalls: number,
  ) {}

  start(now: number): Verdict {
    if (this.state === "closed") return { verdict: "run", generation: this.generation };
    if (this.state === "opened") {
      const opened = this.openedAt as number;
      if (now - opened < this.ttlMs) {
        return { verdict: "reject", openedAt: opened, retryAfterMs: opened + this.ttlMs - now };
      }
      // Half-opening is not a generation of its own: the first probe's admission below is.
      this.moveTo("half-opened", opened, false);
      this.probes = [];
    }
    const running = this.probes.filter((probe) => now < probe.expiry);
    if (running.length >= this.halfOpenMaxCalls) {
      let soonest = (running[0] as { expiry: number }).expiry;
      for (const probe of running) if (probe.expiry < soonest) soonest = probe.expiry;
      return { verdict: "reject", openedAt: this.openedAt as number, retryAfterMs: soonest - now };
    }
    // Every probe gets a token of its own: the generation grows by one per probe.
    this.generation += 1;
    this.probes = [...running, { token: this.generation, expiry: now + this.ttlMs }];
    return { verdict: "probe", generation: this.generation };
  }

  /** Whether `token` may decide now: the current generation while closed, a live probe while half-opened. */
  private holds(token: number, now: number): boolean {
    if (this.state === "closed") return token === this.generation;
    if (this.state === "half-opened") return this.probes.some((p) => p.token === token && now < p.expiry);
    return false;
  }

  succeed(token: number, now: number): void {
    if (!this.holds(token, now)) return;
    if (this.state === "closed" && this.failureCount > 0) {
      this.failureCount = 0;
      this.events.push({ type: "recovered" });
    } else if (this.state === "half-opened") {
      this.failureCount = 0;
      this.events.push({ type: "recovered" });
      this.moveTo("closed", null);
      this.probes = [];
    }
  }

  fail(token: number, now: number): void {
    if (!this.holds(token, now)) return;
    if (this.state === "closed") {
      this.failureCount += 1;
      this.events.push({ type: "failed", failureCount: this.failureCount });
      if (this.failureCount === this.threshold) this.moveTo("opened", now);
    } else if (this.state === "half-opened") {
      this.failureCount += 1;
      this.moveTo("opened", now);
      this.probes = [];
    }
  }

  /** When the circuit's next time-driven change is due, if any. */
  deadline(now: number): number | null {
    if (this.state === "opened") return (this.openedAt as number) + this.ttlMs;
    if (this.state === "half-opened") {
      const running = this.probes.filter((probe) => now < probe.expiry);
      return running.length === 0 ? null : Math.min(...running.map((probe) => probe.expiry));
    }
    return null;
  }

  private moveTo(state: CircuitStateName, openedAt: number | null, bump = true): void {
    this.state = state;
    this.openedAt = openedAt;
    if (bump) this.generation += 1;
    // Only an opened state carries openedAt in its event; the circuit remembers the last one.
    this.events.push({ type: "state_changed", state, openedAt: state === "opened" ? openedAt : null });
  }
}

/** The real core, driven the way `InMemoryStorage` drives it. */
class CoreCircuit {
  snapshot: CircuitSnapshot = CLOSED_SNAPSHOT;
  events: CircuitTransitionEvent[] = [];

  constructor(readonly config: CircuitConfig) {}

  start(now: number): Verdict {
    const admission = admit(this.snapshot, this.config, now);
    this.store(admission.transition);
    if (admission.verdict === "reject") {
      const { verdict, openedAt, retryAfterMs } = admission;
      return { verdict, openedAt, retryAfterMs };
    }
    return { verdict: admission.verdict, generation: admission.generation };
  }

  succeed(generation: number, now: number): void {
    this.store(recordSuccess(this.snapshot, generation, now));
  }

  fail(generation: number, now: number): void {
    this.store(recordFailure(this.snapshot, this.config, generation, now));
  }

  private store(transition: Transition | null): void {
    if (transition === null) return;
    this.snapshot = transition.snapshot;
    this.events.push(...transition.events);
  }
}

type Command =
  | { readonly kind: "start" }
  | { readonly kind: "settle"; readonly pick: number; readonly outcome: Outcome }
  | { readonly kind: "advance"; readonly ms: number }
  | { readonly kind: "toDeadline"; readonly offset: -1 | 0 | 1 };

/** An excluded error counts as a success: the shell records it with `recordSuccess`. */
type Outcome = "success" | "failure" | "excluded";

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Command>({ kind: "start" }) },
  {
    weight: 5,
    arbitrary: fc.record<Command & { kind: "settle" }>({
      kind: fc.constant("settle"),
      pick: fc.nat(),
      outcome: fc.constantFrom<Outcome>("success", "failure", "failure", "excluded"),
    }),
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
    arbitrary: fc
      .constantFrom<-1 | 0 | 1>(-1, 0, 1)
      .map((offset): Command => ({ kind: "toDeadline", offset })),
  },
);

const scenarioArb = fc.record({
  threshold: fc.integer({ min: 1, max: 5 }),
  ttlMs: fc.oneof(
    fc.integer({ min: 1, max: 20 }),
    fc.integer({ min: 1, max: 5_000 }),
    // Seconds that are not exact in binary: 1.001 * 1000 is 1000.9999999999999.
    fc.constantFrom(1_001, 1_003, 2_007, 2_011, 2_015),
  ),
  halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
  // Small epochs keep floating-point residue visible; 1.7e12 is a real Date.now().
  start: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000_000 }), fc.constant(1.7e12)),
  commands: fc.array(commandArb, { minLength: 1, maxLength: 120, size: "max" }),
});

interface PendingCall {
  readonly generation: number;
  readonly probe: boolean;
  readonly leaseExpiry: number;
  readonly admittedAt: number;
}

const openedAtOf = (s: CircuitSnapshot): number | null => (s.state === "opened" || s.state === "half-opened" ? s.openedAt : null);

describe("core machine against a reference circuit", () => {
  it("agrees on every verdict, state, count and event, and keeps its invariants", () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const config: CircuitConfig = {
          threshold: scenario.threshold,
          ttl: scenario.ttlMs / 1000,
          halfOpenMaxCalls: scenario.halfOpenMaxCalls,
        };
        const core = new CoreCircuit(config);
        const reference = new ReferenceCircuit(
          scenario.threshold,
          scenario.ttlMs,
          scenario.halfOpenMaxCalls,
        );
        const pending: PendingCall[] = [];
        let now = scenario.start;
        let generation = 0;

        scenario.commands.forEach((command, step) => {
          const where = `step ${step} ${JSON.stringify(command)} at ${now}`;
          const eventsBefore = core.events.length;
          switch (command.kind) {
            case "start": {
              const expected = reference.start(now);
              const actual = core.start(now);
              expect(actual, where).toEqual(expected);
              if (actual.verdict !== "reject") {
                pending.push({
                  generation: actual.generation,
                  probe: actual.verdict === "probe",
                  leaseExpiry: now + scenario.ttlMs,
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
                reference.succeed(call.generation, now);
                core.succeed(call.generation, now);
              }
              break;
            }
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

          // Invariants of the core, independent of the reference: the generation grows by one
          // per transition and per probe admitted (each probe's token is its own).
          const transitions = core.events
            .slice(eventsBefore)
            .filter((e) => e.type === "state_changed" && e.state !== "half-opened").length;
          const probes = command.kind === "start" && pending.at(-1)?.probe === true && pending.at(-1)?.admittedAt === step ? 1 : 0;
          expect(s.generation, where).toBe(generation + transitions + probes);
          generation = s.generation;
          if (s.state === "closed") expect(s.failureCount, where).toBeLessThan(config.threshold);
          if (s.state === "opened") expect(s.failureCount, where).toBeGreaterThanOrEqual(config.threshold);
          if (s.state === "half-opened") {
            const leases = s.probeLeases.filter((lease) => lease.expiresAt > now);
            expect(leases.length, where).toBeLessThanOrEqual(config.halfOpenMaxCalls);
            // Probes that may still decide: admitted in this half-opening, lease live.
            const deciding = pending.filter(
              (c) => c.probe && leases.some((lease) => lease.token === c.generation) && c.leaseExpiry > now,
            );
            expect(deciding.length, where).toBeLessThanOrEqual(config.halfOpenMaxCalls);
            expect(new Set(s.probeLeases.map((lease) => lease.token)).size, where).toBe(s.probeLeases.length);
          }
          for (const call of pending) expect(call.generation, where).toBeLessThanOrEqual(s.generation);
        });
      }),
      { numRuns: 300 },
    );
  });
});
