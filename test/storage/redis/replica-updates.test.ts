/**
 * How a RedisStorage's replicas change (src/storage/redis/replica-updates.ts), alone: a script's
 * reply learned, a message heard, the hold of fail-closed, the decisions made while Redis cannot be
 * told, and what each reports to the storage's subscribers. The subscribers are recorded and the
 * hand-overs are real (no timer runs for circuits without a quorum); no Redis here.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { CircuitConfig, CircuitSnapshot, Transition } from "../../../src/core/circuit.js";
import { recordFailure } from "../../../src/core/machine.js";
import { countsOf, type RateWindow } from "../../../src/core/window.js";
import type { CircuitHookArgs } from "../../../src/events.js";
import {
  CorruptStateError,
  encodeConfig,
  type ScriptReply,
  type SharedState,
} from "../../../src/storage/redis/codec.js";
import { HandOver } from "../../../src/storage/redis/handover.js";
import { redisKeys } from "../../../src/storage/redis/keys.js";
import type { StorageErrorPolicy } from "../../../src/storage/redis/options.js";
import { newReplicaCircuit, type ReplicaCircuit } from "../../../src/storage/redis/replica-circuit.js";
import { ReplicaUpdates } from "../../../src/storage/redis/replica-updates.js";
import { adopt, PENDING_REPLICA, STALE_TOKEN } from "../../../src/storage/redis/replica.js";

const CONFIG: CircuitConfig = { threshold: 1, ttl: 30, halfOpenMaxCalls: 1 };
const keys = redisKeys("purgatory");
const closed: CircuitSnapshot = { state: "closed", generation: 1, failureCount: 0 };
const opened: CircuitSnapshot = {
  state: "opened",
  generation: 2,
  failureCount: 1,
  openedAt: 1_000,
  retryAt: 31_000,
  openings: 1,
};
const shared = (snapshot: CircuitSnapshot, version: number, config = CONFIG): SharedState => ({
  incarnation: "A",
  config,
  snapshot,
  version,
});
const reply = (before: SharedState, after: SharedState): ScriptReply => ({
  now: 2_000,
  created: false,
  counts: null,
  before,
  after,
  quorum: null,
});
/** A message as a script publishes it: `config|incarnation|state|…|version|source|name`. */
const message = (source: string, name: string) =>
  `${encodeConfig(CONFIG)}|A|opened|2|1|1000|31000|1|||11|${source}|${name}`;

const handOvers: HandOver<ReplicaCircuit>[] = [];
afterEach(() => {
  for (const handOver of handOvers.splice(0)) handOver.close();
});

/** Updates over the circuits `held` (by name), with the events they emitted. */
function updatesOver(held: ReplicaCircuit[], policy: StorageErrorPolicy = "local") {
  const events: CircuitHookArgs[] = [];
  const byName = new Map(held.map((circuit) => [circuit.name, circuit]));
  const handOver = new HandOver<ReplicaCircuit>({
    flushInterval: 1_000,
    callerHorizon: 60_000,
    processName: "here",
    clock: () => 2_000,
    circuits: () => byName.values(),
    send: () => Promise.resolve(),
  });
  handOvers.push(handOver);
  const updates = new ReplicaUpdates({
    keys,
    policy,
    id: "me",
    handOver,
    clock: () => 2_000,
    held: (name) => byName.get(name),
    emit: (...args) => events.push(args),
  });
  return { updates, events };
}

/** A circuit whose replica follows Redis, which holds `snapshot` at version 10. */
function synced(snapshot: CircuitSnapshot = closed, config = CONFIG): ReplicaCircuit {
  const circuit = newReplicaCircuit("payments", config);
  circuit.replica = adopt(PENDING_REPLICA, shared(snapshot, 10, config), "reply");
  circuit.snapshot = circuit.replica.view;
  return circuit;
}

const types = (events: CircuitHookArgs[]) => events.map(([, type]) => type);

describe("a script's reply, learned", () => {
  it("reports what another process did before the call as a remote state_changed", () => {
    const circuit = synced();
    const { updates, events } = updatesOver([circuit]);
    updates.learn(circuit, reply(shared(opened, 11), shared(opened, 11)), "call");
    expect(circuit.snapshot.state).toBe("opened");
    expect(events).toEqual([
      [
        "payments",
        "state_changed",
        { name: "payments", state: "opened", openedAt: 1_000, scope: "fleet", remote: true },
      ],
    ]);
  });

  it("leaves a call's own transition to its breaker: the view shows it, nothing is emitted", () => {
    const circuit = synced();
    const { updates, events } = updatesOver([circuit]);
    updates.learn(circuit, reply(shared(closed, 10), shared(opened, 11)), "call");
    expect(circuit.snapshot.state).toBe("opened");
    expect(events).toEqual([]);
  });

  it("reports a re-read's change, and a change this process made for itself, as remote", () => {
    for (const kind of ["resync", "internal"] as const) {
      const circuit = synced();
      const { updates, events } = updatesOver([circuit]);
      updates.learn(circuit, reply(shared(closed, 10), shared(opened, 11)), kind);
      expect(types(events)).toEqual(["state_changed"]);
    }
  });

  it("takes the fleet's config with the state", () => {
    const circuit = synced();
    const { updates } = updatesOver([circuit]);
    const fleet: CircuitConfig = { ...CONFIG, threshold: 4 };
    updates.learn(circuit, reply(shared(closed, 10), shared(closed, 11, fleet)), "resync");
    expect(circuit.config).toEqual(fleet);
  });
});

describe("a reply checked against the core's prediction", () => {
  it("returns the core's transition, silently when the script left the state it predicts", () => {
    const circuit = synced();
    const { updates, events } = updatesOver([circuit]);
    const transition = recordFailure(closed, CONFIG, 1, 2_000) as Transition;
    const left = reply(shared(closed, 10), shared(transition.snapshot, 11));
    expect(updates.check(circuit, left, transition)).toBe(transition);
    expect(events).toEqual([]);
  });

  it("reports a disagreement as storage_error (a CorruptStateError), and still returns the core's transition", () => {
    const circuit = synced();
    const { updates, events } = updatesOver([circuit]);
    const left = reply(shared(closed, 10), shared(opened, 11));
    expect(updates.check(circuit, left, null)).toBeNull();
    expect(types(events)).toEqual(["storage_error"]);
    expect((events[0]?.[2] as { error: unknown }).error).toBeInstanceOf(CorruptStateError);
  });
});

describe("a message heard on a circuit's channel", () => {
  it("is another process's change: adopted, and reported as remote", () => {
    const circuit = synced();
    const { updates, events } = updatesOver([circuit]);
    updates.heard(message("other", "payments"));
    expect(circuit.snapshot.state).toBe("opened");
    expect(types(events)).toEqual(["state_changed"]);
    expect(updates.messages).toBe(1);
  });

  it("is not learned again when this process published it (its reply said it), but is counted", () => {
    const circuit = synced();
    const { updates, events } = updatesOver([circuit]);
    updates.heard(message("me", "payments"));
    expect(circuit.snapshot.state).toBe("closed");
    expect(events).toEqual([]);
    expect(updates.messages).toBe(1);
  });

  it("changes nothing for a circuit this process does not hold", () => {
    const circuit = synced();
    const { updates, events } = updatesOver([circuit]);
    updates.heard(message("other", "orders"));
    expect(circuit.snapshot.state).toBe("closed");
    expect(events).toEqual([]);
  });

  it("that cannot be read is a storage_error of no circuit in particular", () => {
    const { updates, events } = updatesOver([]);
    updates.heard("not|a|message");
    expect(events.map(([name, type, event]) => [name, type, event.name])).toEqual([["*", "storage_error", "*"]]);
    expect((events[0]?.[2] as { error: unknown }).error).toBeInstanceOf(CorruptStateError);
  });
});

describe("the channels subscribed again", () => {
  it("are the circuits this process holds of them, other channels left out", () => {
    const payments = synced();
    const { updates } = updatesOver([payments]);
    const channels = [keys.channel("payments"), keys.channel("orders"), keys.telemetry.watch];
    expect(updates.circuitsOf(channels)).toEqual([payments]);
  });
});

describe("the hold of fail-closed while Redis is away", () => {
  it("shows the circuit opened from Redis time for one ttl, reported as remote once", () => {
    const circuit = synced();
    const { updates, events } = updatesOver([circuit], "fail-closed");
    updates.hold(circuit, 5_000);
    updates.hold(circuit, 6_000);
    expect(circuit.replica.mode).toBe("held");
    expect(circuit.snapshot).toMatchObject({ state: "opened", openedAt: 5_000, retryAt: 35_000 });
    expect(types(events)).toEqual(["state_changed"]);
  });
});

describe("an outcome decided while Redis cannot be told", () => {
  const trip = (view: CircuitSnapshot) => recordFailure(view, CONFIG, 1, 2_000);

  it("is the core's decision on the view, which the replica takes as a local decision (policy local)", () => {
    const circuit = synced();
    const { updates, events } = updatesOver([circuit]);
    const transition = updates.decide(circuit, 1, trip);
    expect(transition?.snapshot.state).toBe("opened");
    expect(circuit.replica.mode).toBe("diverged");
    expect(circuit.snapshot.state).toBe("opened");
    expect(events).toEqual([]);
  });

  it("is nothing under fail-open, and nothing for a stale token", () => {
    const failOpen = synced();
    expect(updatesOver([failOpen], "fail-open").updates.decide(failOpen, 1, trip)).toBeNull();
    expect(failOpen.replica.mode).toBe("synced");
    const stale = synced();
    expect(updatesOver([stale]).updates.decide(stale, STALE_TOKEN, trip)).toBeNull();
    expect(stale.replica.mode).toBe("synced");
  });

  it("counts a failure on a closed view in the rate window, whose counts the trip rule reads", () => {
    const rate: CircuitConfig = { ...CONFIG, threshold: 100, failureRate: { rate: 1, minimumCalls: 1, window: 10 } };
    const circuit = synced(closed, rate);
    const { updates } = updatesOver([circuit]);
    const transition = updates.failure(circuit, 1, 2_000, 0);
    expect(transition?.snapshot.state).toBe("opened");
    expect(countsOf(circuit.window as RateWindow, 2_000)).toEqual({ calls: 1, failures: 1, slow: 0 });
  });

  it("does not count a failure in the window once the view is not closed", () => {
    const rate: CircuitConfig = { ...CONFIG, failureRate: { rate: 1, minimumCalls: 1, window: 10 } };
    const circuit = synced(opened, rate);
    const { updates } = updatesOver([circuit]);
    expect(updates.failure(circuit, 2, 2_000, 0)).toBeNull();
    expect(countsOf(circuit.window as RateWindow, 2_000).calls).toBe(0);
  });
});

describe("a call admitted while Redis is away", () => {
  it("is rejected under fail-closed, run uncounted under fail-open, decided on the view under local", () => {
    const view = synced(opened);
    expect(updatesOver([view], "fail-closed").updates.admit(view, 40_000).verdict).toBe("reject");
    expect(updatesOver([view], "fail-open").updates.admit(view, 40_000)).toMatchObject({
      verdict: "run",
      generation: STALE_TOKEN,
    });
    const local = updatesOver([view], "local").updates.admit(view, 40_000);
    expect(local.verdict).toBe("probe");
    expect(view.replica.mode).toBe("diverged");
    expect(view.snapshot.state).toBe("half-opened");
  });
});
