import { describe, expect, it } from "vitest";
import { CLOSED_SNAPSHOT, type CircuitConfig } from "../../src/core/circuit.js";
import type { Admission } from "../../src/core/machine.js";
import { InvalidOptionError } from "../../src/errors.js";
import { InMemoryStorage, type InMemoryStorageOptions } from "../../src/storage/memory.js";
import type { SavedCircuits } from "../../src/storage/saved.js";
import type { CircuitRecord } from "../../src/storage/storage.js";

const config = (threshold = 2, ttl = 10, halfOpenMaxCalls = 1): CircuitConfig => ({
  threshold,
  ttl,
  halfOpenMaxCalls,
});

/** Registers `name` and returns its record. */
function registered(storage: InMemoryStorage, name = "www.example.com", cfg = config()): CircuitRecord {
  return storage.register(name, cfg).circuit;
}

/** Fails `threshold` calls of a closed circuit at `now`, which opens it. */
function trip(storage: InMemoryStorage, circuit: CircuitRecord, now: number): void {
  for (let i = 0; i < circuit.config.threshold; i++) {
    storage.recordFailure(circuit, circuit.snapshot.generation, now);
  }
}

/** A clock that always reads `now`. */
const clockAt = (now: number) => () => now;

/** The generation of an admitted call; fails the test on a rejection. */
function generationOf(admission: Admission): number {
  if (admission.verdict === "reject") throw new Error("expected the call to be admitted");
  return admission.generation;
}

describe("InMemoryStorage registration", () => {
  it("creates a closed, unforgotten record on the first registration", () => {
    const storage = new InMemoryStorage();
    const cfg = config(3, 5);
    const registration = storage.register("payments-db", cfg);
    expect(registration.created).toBe(true);
    expect(registration.circuit).toEqual({
      name: "payments-db",
      config: { threshold: 3, ttl: 5, halfOpenMaxCalls: 1 },
      snapshot: CLOSED_SNAPSHOT,
      used: true,
      forgotten: false,
      window: null,
    });
    expect(storage.get("payments-db")).toBe(registration.circuit);
  });

  it("lets the first registration win: a second one returns created: false and the first config", () => {
    const storage = new InMemoryStorage();
    const first = storage.register("www.example.com", config(3, 5));
    const second = storage.register("www.example.com", config(7, 42, 2));
    expect(second.created).toBe(false);
    expect(second.circuit).toBe(first.circuit);
    expect(second.circuit.config).toEqual({ threshold: 3, ttl: 5, halfOpenMaxCalls: 1 });
  });

  it("keeps the state of an existing circuit when it is registered again", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage);
    trip(storage, circuit, 1_000);
    const again = storage.register("www.example.com", config());
    expect(again.circuit.snapshot).toMatchObject({ state: "opened", openedAt: 1_000 });
  });

  it("lists the registered names and answers get() for them only", () => {
    const storage = new InMemoryStorage();
    registered(storage, "a");
    registered(storage, "b");
    registered(storage, "a");
    expect([...storage.names()]).toEqual(["a", "b"]);
    expect(storage.get("a")?.name).toBe("a");
    expect(storage.get("c")).toBeUndefined();
  });

  it("keeps circuits independent", () => {
    const storage = new InMemoryStorage();
    const a = registered(storage, "a", config(1));
    const b = registered(storage, "b", config(1));
    trip(storage, a, 1_000);
    expect(a.snapshot.state).toBe("opened");
    expect(b.snapshot).toBe(CLOSED_SNAPSHOT);
  });
});

describe("InMemoryStorage decisions", () => {
  it("stores each failure's snapshot and returns the transition", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage, "x", config(2, 10));
    const first = storage.recordFailure(circuit, 0, 1_000);
    expect(first?.events).toEqual([{ type: "failed", failureCount: 1 }]);
    expect(circuit.snapshot).toEqual({ state: "closed", generation: 0, failureCount: 1 });
    const second = storage.recordFailure(circuit, 0, 2_000);
    expect(second?.events).toEqual([
      { type: "failed", failureCount: 2 },
      { type: "state_changed", state: "opened", openedAt: 2_000 },
    ]);
    expect(circuit.snapshot).toEqual({
      state: "opened",
      generation: 1,
      failureCount: 2,
      openedAt: 2_000,
      retryAt: 12_000,
      openings: 1,
    });
  });

  it("stores a recovery and returns null, keeping the snapshot, when nothing changes", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage);
    expect(storage.recordSuccess(circuit, 0, clockAt(1_000))).toBeNull();
    expect(circuit.snapshot).toBe(CLOSED_SNAPSHOT);
    storage.recordFailure(circuit, 0, 1_000);
    const recovered = storage.recordSuccess(circuit, 0, clockAt(1_000));
    expect(recovered?.events).toEqual([{ type: "recovered" }]);
    expect(circuit.snapshot).toEqual({ state: "closed", generation: 0, failureCount: 0 });
  });

  it("leaves the snapshot alone when it rejects a call", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage, "x", config(1, 10));
    trip(storage, circuit, 1_000);
    const before = circuit.snapshot;
    expect(storage.admit(circuit, 4_000)).toEqual({
      verdict: "reject",
      openedAt: 1_000,
      retryAfterMs: 7_000,
      transition: null,
    });
    expect(circuit.snapshot).toBe(before);
  });

  it("stores the half-opening of a due circuit and counts its probe", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage, "x", config(1, 10));
    trip(storage, circuit, 1_000);
    const admission = storage.admit(circuit, 11_000);
    expect(admission.verdict).toBe("probe");
    expect(circuit.snapshot).toEqual({
      state: "half-opened",
      generation: 2,
      failureCount: 1,
      openedAt: 1_000,
      openings: 1,
      probeLeases: [{ token: 2, expiresAt: 21_000 }],
    });
    expect(storage.admit(circuit, 11_001)).toMatchObject({ verdict: "reject", retryAfterMs: 9_999 });
  });

  it("reads the clock for a probe's success only, never for a closed circuit's", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage, "x", config(1, 10));
    let reads = 0;
    const clock = () => {
      reads += 1;
      return 11_500;
    };
    storage.recordSuccess(circuit, 0, clock);
    expect(reads).toBe(0);
    trip(storage, circuit, 1_000);
    storage.recordSuccess(circuit, generationOf(storage.admit(circuit, 11_000)), clock);
    expect(reads).toBe(1);
  });

  it("closes on a probe success and opens again on a probe failure", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage, "x", config(1, 10));
    trip(storage, circuit, 1_000);

    const probe = generationOf(storage.admit(circuit, 11_000));
    const failed = storage.recordFailure(circuit, probe, 12_000);
    expect(failed?.events).toEqual([{ type: "state_changed", state: "opened", openedAt: 12_000 }]);
    expect(circuit.snapshot).toMatchObject({ state: "opened", openedAt: 12_000 });

    const next = generationOf(storage.admit(circuit, 22_000));
    const closed = storage.recordSuccess(circuit, next, clockAt(23_000));
    expect(closed?.events).toEqual([{ type: "recovered" }, { type: "state_changed", state: "closed", openedAt: null }]);
    expect(circuit.snapshot).toEqual({ state: "closed", generation: 5, failureCount: 0 });
  });

  it("ignores an outcome from an older generation and keeps the snapshot", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage, "x", config(1, 10));
    trip(storage, circuit, 1_000);
    storage.admit(circuit, 11_000);
    const before = circuit.snapshot;
    expect(storage.recordSuccess(circuit, 0, clockAt(11_500))).toBeNull();
    expect(storage.recordFailure(circuit, 0, 11_500)).toBeNull();
    expect(circuit.snapshot).toBe(before);
  });
});

describe("InMemoryStorage forgetting and closing", () => {
  it("forget marks the record forgotten and removes it from names() and get()", () => {
    const storage = new InMemoryStorage();
    const a = registered(storage, "a");
    registered(storage, "b");
    storage.forget("a");
    expect(a.forgotten).toBe(true);
    expect(storage.get("a")).toBeUndefined();
    expect([...storage.names()]).toEqual(["b"]);
    expect(storage.get("b")?.forgotten).toBe(false);
  });

  it("forgets an unknown name without complaint", () => {
    const storage = new InMemoryStorage();
    registered(storage, "a");
    expect(() => storage.forget("nope")).not.toThrow();
    expect([...storage.names()]).toEqual(["a"]);
  });

  it("registers a forgotten name afresh: created again, closed, with the new config", () => {
    const storage = new InMemoryStorage();
    const old = registered(storage, "a", config(1, 10));
    trip(storage, old, 1_000);
    storage.forget("a");
    const again = storage.register("a", config(4, 20));
    expect(again.created).toBe(true);
    expect(again.circuit).not.toBe(old);
    expect(again.circuit.snapshot).toBe(CLOSED_SNAPSHOT);
    expect(again.circuit.config).toEqual({ threshold: 4, ttl: 20, halfOpenMaxCalls: 1 });
    expect(old.snapshot.state).toBe("opened");
  });

  it("initialize and close resolve; close forgets every circuit", async () => {
    const storage = new InMemoryStorage();
    await expect(storage.initialize()).resolves.toBeUndefined();
    const a = registered(storage, "a");
    const b = registered(storage, "b");
    await expect(storage.close()).resolves.toBeUndefined();
    expect(a.forgotten).toBe(true);
    expect(b.forgotten).toBe(true);
    expect([...storage.names()]).toEqual([]);
  });
});

describe("InMemoryStorage release of a cancelled probe", () => {
  it("frees the probe's slot at once: the next call is admitted as a probe", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage, "api", config(1, 10));
    trip(storage, circuit, 1_000);
    const probe = generationOf(storage.admit(circuit, 11_000));
    expect(storage.admit(circuit, 11_001).verdict).toBe("reject");
    storage.release(circuit, probe, 11_002);
    expect(circuit.snapshot).toMatchObject({ state: "half-opened", probeLeases: [] });
    expect(storage.admit(circuit, 11_003).verdict).toBe("probe");
  });

  it("changes nothing for a token that holds no lease", () => {
    const storage = new InMemoryStorage();
    const circuit = registered(storage, "api", config(1, 10));
    trip(storage, circuit, 1_000);
    const before = circuit.snapshot;
    storage.release(circuit, 99, 2_000);
    expect(circuit.snapshot).toBe(before);
  });
});

describe("InMemoryStorage restore", () => {
  const saved = {
    version: 1,
    circuits: [
      { name: "closed-one", config: config(3, 5), snapshot: { state: "closed", generation: 2, failureCount: 1 } },
      {
        name: "opened-one",
        config: config(1, 30),
        snapshot: { state: "opened", generation: 3, failureCount: 1, openedAt: 5_000, retryAt: 35_000, openings: 1 },
      },
      {
        name: "probing",
        config: config(1, 30, 2),
        snapshot: {
          state: "half-opened",
          generation: 5,
          failureCount: 1,
          openedAt: 4_000,
          openings: 1,
          probeLeases: [{ token: 5, expiresAt: 99_000 }],
        },
      },
    ],
  };

  /** The `InvalidOptionError` `new InMemoryStorage({ restore })` throws. */
  function restoreError(restore: unknown): InvalidOptionError {
    try {
      new InMemoryStorage({ restore: restore as SavedCircuits });
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidOptionError);
      return error as InvalidOptionError;
    }
    throw new Error("expected the restore to be rejected");
  }

  it("starts with the saved circuits, their configs, states, counts and openedAt", () => {
    const storage = new InMemoryStorage({ restore: saved as SavedCircuits });
    expect([...storage.names()].sort()).toEqual(["closed-one", "opened-one", "probing"]);
    expect(storage.get("closed-one")).toMatchObject({
      config: config(3, 5),
      snapshot: saved.circuits[0]!.snapshot,
      forgotten: false,
    });
    expect(storage.get("opened-one")?.snapshot).toEqual({
      state: "opened",
      generation: 3,
      failureCount: 1,
      openedAt: 5_000,
      retryAt: 35_000,
      openings: 1,
    });
  });

  it("keeps rejecting on a restored opened circuit until its ttl has elapsed", () => {
    const storage = new InMemoryStorage({ restore: saved as SavedCircuits });
    const circuit = storage.get("opened-one")!;
    expect(storage.admit(circuit, 34_999)).toMatchObject({ verdict: "reject", openedAt: 5_000, retryAfterMs: 1 });
    expect(storage.admit(circuit, 35_000).verdict).toBe("probe");
  });

  it("drops probe leases: the call that held one belongs to the process that saved it", () => {
    const storage = new InMemoryStorage({ restore: saved as SavedCircuits });
    const circuit = storage.get("probing")!;
    expect(circuit.snapshot).toMatchObject({ state: "half-opened", generation: 5, probeLeases: [] });
    expect(storage.admit(circuit, 10_000).verdict).toBe("probe");
  });

  it("registers a restored name as existing: first registration keeps the saved config", () => {
    const storage = new InMemoryStorage({ restore: saved as SavedCircuits });
    const registration = storage.register("closed-one", config(9, 9));
    expect(registration.created).toBe(false);
    expect(registration.circuit.config).toEqual(config(3, 5));
  });

  it("keeps fields it does not know, in the document, configs and snapshots", () => {
    const extra = {
      version: 1,
      savedBy: "a newer minor version",
      circuits: [
        {
          name: "x",
          config: { ...config(), futurePolicy: { duration: 2 } },
          snapshot: { state: "closed", generation: 0, failureCount: 0, window: [1, 2] },
          note: 1,
        },
      ],
    };
    const storage = new InMemoryStorage({ restore: extra as unknown as SavedCircuits });
    expect(storage.get("x")?.config).toEqual({ ...config(), futurePolicy: { duration: 2 } });
    expect(storage.get("x")?.snapshot).toEqual({ state: "closed", generation: 0, failureCount: 0, window: [1, 2] });
  });

  it("copies what it restores: changing the document afterwards changes nothing", () => {
    const document = structuredClone(saved) as unknown as { circuits: { config: { threshold: number } }[] };
    const storage = new InMemoryStorage({ restore: document as unknown as SavedCircuits });
    document.circuits[0]!.config.threshold = 99;
    expect(storage.get("closed-one")?.config.threshold).toBe(3);
  });

  it("rejects a document of a newer version, saying so", () => {
    const error = restoreError({ ...saved, version: 2 });
    expect(error.option).toBe("restore.version");
    expect(error.message).toBe(
      'Invalid option "restore.version": this purgatory reads documents of version 1, got 2, written by a newer purgatory (upgrade the reader)',
    );
  });

  it.each([
    ["not an object", "x", "restore"],
    ["an array", [], "restore"],
    ["no version", { circuits: [] }, "restore.version"],
    ["a version that is not a positive integer", { version: 0, circuits: [] }, "restore.version"],
    ["no circuits", { version: 1 }, "restore.circuits"],
    ["a circuit that is not an object", { version: 1, circuits: [null] }, "restore.circuits[0]"],
    ["an empty name", { version: 1, circuits: [{ ...saved.circuits[0], name: "" }] }, "restore.circuits[0].name"],
    [
      "a name saved twice",
      { version: 1, circuits: [saved.circuits[0], saved.circuits[0]] },
      "restore.circuits[1].name",
    ],
    [
      "a missing config",
      { version: 1, circuits: [{ name: "a", snapshot: CLOSED_SNAPSHOT }] },
      "restore.circuits[0].config",
    ],
    [
      "a ttl out of bounds",
      { version: 1, circuits: [{ name: "a", config: config(1, 0), snapshot: CLOSED_SNAPSHOT }] },
      "restore.circuits[0].config.ttl",
    ],
    [
      "a bad threshold",
      { version: 1, circuits: [{ name: "a", config: config(0), snapshot: CLOSED_SNAPSHOT }] },
      "restore.circuits[0].config.threshold",
    ],
    [
      "a bad halfOpenMaxCalls",
      { version: 1, circuits: [{ name: "a", config: config(1, 1, 0), snapshot: CLOSED_SNAPSHOT }] },
      "restore.circuits[0].config.halfOpenMaxCalls",
    ],
    [
      "an unknown state",
      { version: 1, circuits: [{ name: "a", config: config(), snapshot: { ...CLOSED_SNAPSHOT, state: "open" } }] },
      "restore.circuits[0].snapshot.state",
    ],
    [
      "a negative generation",
      { version: 1, circuits: [{ name: "a", config: config(), snapshot: { ...CLOSED_SNAPSHOT, generation: -1 } }] },
      "restore.circuits[0].snapshot.generation",
    ],
    [
      "a missing failureCount",
      { version: 1, circuits: [{ name: "a", config: config(), snapshot: { state: "closed", generation: 0 } }] },
      "restore.circuits[0].snapshot.failureCount",
    ],
    [
      "an opened state without openedAt",
      {
        version: 1,
        circuits: [{ name: "a", config: config(), snapshot: { state: "opened", generation: 1, failureCount: 3 } }],
      },
      "restore.circuits[0].snapshot.openedAt",
    ],
    [
      "a half-opened state with malformed leases",
      {
        version: 1,
        circuits: [
          {
            name: "a",
            config: config(),
            snapshot: {
              state: "half-opened",
              generation: 1,
              failureCount: 3,
              openedAt: 1,
              openings: 1,
              probeLeases: [{ token: "1" }],
            },
          },
        ],
      },
      "restore.circuits[0].snapshot.probeLeases[0].token",
    ],
  ])("rejects %s, naming the field", (_label, document, option) => {
    expect(restoreError(document).option).toBe(option);
  });

  it("rejects an unknown option, and options that are not an object", () => {
    expect(() => new InMemoryStorage({ restor: saved } as unknown as InMemoryStorageOptions)).toThrow(
      /Unknown option "restor"/,
    );
    expect(() => new InMemoryStorage(null as unknown as InMemoryStorageOptions)).toThrow(InvalidOptionError);
  });
});
