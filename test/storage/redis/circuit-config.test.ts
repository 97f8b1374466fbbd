/**
 * A circuit's config in a RedisStorage (src/storage/redis/circuit-config.ts), alone: the `keyTtl`
 * check at registration, the encoding kept for the scripts, the fleet's config taken over this
 * process's, and the circuit the process keeps for itself that a quorum brings. Functions over a
 * circuit's record, with a hand-over that records what it is asked; no Redis here.
 */
import { describe, expect, it } from "vitest";
import type { CircuitConfig, OpenedSnapshot } from "../../../src/core/circuit.js";
import { countsOf, countSuccess, type RateWindow } from "../../../src/core/window.js";
import { InvalidOptionError } from "../../../src/errors.js";
import {
  checkKeyTtl,
  encodedConfig,
  followQuorum,
  takeConfig,
  type QuorumHandOver,
} from "../../../src/storage/redis/circuit-config.js";
import { encodeConfig } from "../../../src/storage/redis/codec.js";
import { newReplicaCircuit, type ReplicaCircuit } from "../../../src/storage/redis/replica-circuit.js";

const PLAIN: CircuitConfig = { threshold: 5, ttl: 30, halfOpenMaxCalls: 1 };
const RATE: CircuitConfig = { ...PLAIN, failureRate: { rate: 0.5, minimumCalls: 10, window: 10 } };
const QUORUM: CircuitConfig = { ...PLAIN, quorum: { processes: 2 } };
const QUORUM_RATE: CircuitConfig = { ...RATE, quorum: { processes: 2 } };

/** A hand-over that records the circuits renounced and the renewals asked for. */
function recordingHandOver(): QuorumHandOver & { renounced: string[]; renewals: number } {
  const handOver = {
    renounced: [] as string[],
    renewals: 0,
    renounce(circuit: ReplicaCircuit): void {
      handOver.renounced.push(circuit.name);
    },
    watchRenewals(): void {
      handOver.renewals += 1;
    },
  };
  return handOver;
}

describe("keyTtl against a circuit's longest opening, at registration", () => {
  it("lets any circuit through when the keys never expire (keyTtl 0)", () => {
    expect(() => checkKeyTtl(0, { ...PLAIN, ttl: 86_400 })).not.toThrow();
  });

  it("lets a circuit through whose ttl fits in keyTtl, to the millisecond", () => {
    expect(() => checkKeyTtl(30_000, PLAIN)).not.toThrow();
  });

  it("refuses a ttl longer than keyTtl, naming both", () => {
    expect(() => checkKeyTtl(29_999, PLAIN)).toThrow(InvalidOptionError);
    expect(() => checkKeyTtl(20_000, PLAIN)).toThrow(/20 s is below the circuit's ttl \(30 s\)/);
  });

  it("names the backoff's maxTtl when that is the longest opening", () => {
    const backoff: CircuitConfig = { ...PLAIN, backoff: { multiplier: 2, maxTtl: 600, jitter: 0 } };
    expect(() => checkKeyTtl(60_000, backoff)).toThrow(/below the circuit's backoff\.maxTtl \(600 s\)/);
    expect(() => checkKeyTtl(600_000, backoff)).not.toThrow();
  });
});

describe("the config as the scripts read it", () => {
  it("is the circuit's config encoded, kept on the record while the config is the same object", () => {
    const circuit = newReplicaCircuit("payments", RATE);
    const json = encodedConfig(circuit);
    expect(json).toBe(encodeConfig(RATE));
    expect(circuit.encoded).toEqual({ config: RATE, json });
    expect(encodedConfig(circuit)).toBe(json);
  });

  it("is encoded again once the config is another object", () => {
    const circuit = newReplicaCircuit("payments", RATE);
    encodedConfig(circuit);
    circuit.config = PLAIN;
    expect(encodedConfig(circuit)).toBe(encodeConfig(PLAIN));
  });
});

describe("the fleet's config, taken over this process's", () => {
  it("replaces the circuit's config, and its rate window follows it", () => {
    const circuit = newReplicaCircuit("payments", PLAIN);
    expect(circuit.window).toBeNull();
    takeConfig(circuit, RATE, recordingHandOver());
    expect(circuit.config).toBe(RATE);
    expect(circuit.window).not.toBeNull();
    expect(circuit.encoded).toBeNull();
  });

  it("keeps the window's counts when the window still fits", () => {
    const circuit = newReplicaCircuit("payments", RATE);
    countSuccess(circuit.window as RateWindow, 5_000);
    takeConfig(circuit, { ...RATE, threshold: 7 }, recordingHandOver());
    expect(circuit.config.threshold).toBe(7);
    expect(countsOf(circuit.window as RateWindow, 5_000).calls).toBe(1);
  });

  it("changes nothing when the fleet's config encodes as the one the scripts already read", () => {
    const circuit = newReplicaCircuit("payments", RATE);
    encodedConfig(circuit);
    const same = { ...RATE };
    takeConfig(circuit, same, recordingHandOver());
    expect(circuit.config).toBe(RATE);
    expect(circuit.encoded).not.toBeNull();
  });

  it("brings the circuit the process keeps for itself along with a quorum", () => {
    const circuit = newReplicaCircuit("payments", PLAIN);
    const handOver = recordingHandOver();
    takeConfig(circuit, QUORUM, handOver);
    expect(circuit.own?.snapshot.state).toBe("closed");
    expect(handOver.renounced).toEqual(["payments"]);
  });
});

describe("the circuit the process keeps for itself, as the quorum comes and goes", () => {
  it("is given to a circuit with a quorum, whose presence Redis must then hear, and its renewals start", () => {
    const circuit = newReplicaCircuit("payments", QUORUM);
    const handOver = recordingHandOver();
    followQuorum(circuit, QUORUM, handOver);
    expect(circuit.own).not.toBeNull();
    expect(handOver.renounced).toEqual(["payments"]);
    expect(handOver.renewals).toBe(1);
  });

  it("is reconfigured, not made anew, when the quorum stays (its state kept)", () => {
    const circuit = newReplicaCircuit("payments", QUORUM);
    const handOver = recordingHandOver();
    followQuorum(circuit, QUORUM, handOver);
    const opened: OpenedSnapshot = {
      state: "opened",
      generation: 1,
      failureCount: 5,
      openedAt: 1_000,
      retryAt: 31_000,
      openings: 1,
    };
    circuit.own = { snapshot: opened, window: null };
    followQuorum(circuit, QUORUM_RATE, handOver);
    expect(circuit.own.snapshot).toBe(opened);
    expect(circuit.own.window).not.toBeNull();
    expect(handOver.renounced).toEqual(["payments"]);
    expect(handOver.renewals).toBe(2);
  });

  it("is taken away with the quorum: the breakers read the fleet's circuit, and there is nothing to tell Redis", () => {
    const circuit = newReplicaCircuit("payments", QUORUM);
    followQuorum(circuit, QUORUM, recordingHandOver());
    circuit.own = {
      snapshot: { state: "opened", generation: 1, failureCount: 5, openedAt: 1_000, retryAt: 31_000, openings: 1 },
      window: null,
    };
    circuit.snapshot = circuit.own.snapshot;
    circuit.scope = "process";
    circuit.announced = false;
    circuit.openSaid = true;
    followQuorum(circuit, PLAIN, recordingHandOver());
    expect(circuit.own).toBeNull();
    expect(circuit.announced).toBe(true);
    expect(circuit.openSaid).toBe(false);
    expect(circuit.scope).toBe("fleet");
    expect(circuit.snapshot).toBe(circuit.replica.view);
  });

  it("is not asked of a circuit that never had a quorum", () => {
    const circuit = newReplicaCircuit("payments", PLAIN);
    const handOver = recordingHandOver();
    followQuorum(circuit, PLAIN, handOver);
    expect(circuit.own).toBeNull();
    expect(handOver).toMatchObject({ renounced: [], renewals: 0 });
  });
});
