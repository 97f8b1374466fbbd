/**
 * A circuit as `RedisStorage` holds it in one process: the record the breakers read (`snapshot`),
 * the replica of the shared state behind it, the circuit the process keeps for itself when the
 * circuit has a quorum, and the calls in flight. Which of the two states the breakers read is
 * decided here (`show`), in one place.
 * @module
 */
import type { CircuitConfig } from "../../core/circuit.js";
import { CLOSED_SNAPSHOT } from "../../core/circuit.js";
import { createWindow } from "../../core/window.js";
import type { CircuitRecord } from "../storage.js";
import type { OwnCircuit } from "./own.js";
import { PENDING_REPLICA, type Replica } from "./replica.js";

/** A circuit's record in this process: the replica and the calls in flight on it. */
export interface ReplicaCircuit extends CircuitRecord {
  /**
   * The replica. `snapshot` is its view, or the own circuit's while the process is open for itself
   * and the fleet's circuit is closed (`show`).
   */
  replica: Replica;
  /** With a quorum: the circuit this process keeps for itself (`own.ts`); `null` without. */
  own: OwnCircuit | null;
  /**
   * Whether Redis knows that this process calls the circuit (`true` without a quorum: nothing to
   * tell). A call that finds it `false` queues a hand-over, which says so.
   */
  announced: boolean;
  /** When (factory clock, ms) a script last told Redis this process calls the circuit. */
  announcedAt: number;
  /** Whether Redis holds this process as open for itself (what the scripts last heard). */
  openSaid: boolean;
  /** The registration round trip while it is in flight: asynchronous callers wait for it. */
  registering: Promise<void> | undefined;
  /** Probe requests this process has in flight (at most halfOpenMaxCalls: no stampede). */
  asking: number;
  /** Failures sent to Redis and not yet answered: a success meanwhile must reach Redis too. */
  pendingFailures: number;
  /** A probe Redis granted to a synchronous breaker's earlier call, for its next call. */
  grant: number | null;
  /** Whether it is in the hand-over list (window counts, or its presence with a quorum). */
  queued: boolean;
  /** `encodeConfig(config)`, kept while the config is the same object. */
  encoded: { readonly config: CircuitConfig; readonly json: string } | null;
  /** A cancelled probe's release on its way to Redis: the next probe request waits for it. */
  releasing: Promise<void> | undefined;
}

/** The record of a circuit this process registers: a pending replica, nothing in flight. */
export function newReplicaCircuit(name: string, config: CircuitConfig): ReplicaCircuit {
  return {
    name,
    config,
    snapshot: CLOSED_SNAPSHOT,
    used: true,
    forgotten: false,
    window: createWindow(config),
    scope: "fleet",
    replica: PENDING_REPLICA,
    own: null,
    announced: true,
    announcedAt: 0,
    openSaid: false,
    registering: undefined,
    asking: 0,
    pendingFailures: 0,
    grant: null,
    queued: false,
    encoded: null,
    releasing: undefined,
  };
}

/**
 * Sets what the breakers read: the replica's view, or, while the fleet's circuit is closed and
 * this process is open for itself, the circuit it keeps for itself (`scope: "process"`).
 */
export function show(circuit: ReplicaCircuit): void {
  const view = circuit.replica.view;
  const own = circuit.own;
  if (own !== null && own.snapshot.state !== "closed" && view.state === "closed") {
    circuit.snapshot = own.snapshot;
    circuit.scope = "process";
  } else {
    circuit.snapshot = view;
    circuit.scope = "fleet";
  }
}
