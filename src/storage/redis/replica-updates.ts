/**
 * How the replicas of a `RedisStorage`'s circuits change, in one place: a script's reply learned
 * (what it found was made by other processes; what it left is a call's own transition), a message
 * another process published on a circuit's channel, the hold of `fail-closed` while Redis is away,
 * and the decisions made while Redis cannot be told (`onStorageError`). The circuit's config, its
 * quorum and this process's presence follow what a replica adopted; a change the breakers did not
 * make is reported to the storage's subscribers as a remote `state_changed`; a script's reply is
 * checked against the core's prediction (`storage_error` when they disagree). The pure steps are
 * `replica.ts`'s and `admission.ts`'s; this applies them to the records.
 * @module
 */
import type { CircuitSnapshot, Transition } from "../../core/circuit.js";
import { recordFailure, type Admission } from "../../core/machine.js";
import { count, countsOf } from "../../core/window.js";
import type { CircuitHookArgs } from "../../events.js";
import { degradedAdmission } from "./admission.js";
import { takeConfig } from "./circuit-config.js";
import {
  CorruptStateError,
  messageSource,
  parseMessage,
  sameSnapshot,
  type ScriptReply,
  type SharedState,
} from "./codec.js";
import type { HandOver } from "./handover.js";
import type { RedisKeys } from "./keys.js";
import type { StorageErrorPolicy } from "./options.js";
import type { OwnCircuit } from "./own.js";
import { show, type ReplicaCircuit } from "./replica-circuit.js";
import { adopt, decideLocally, hold, tokenUse, viewChanged, type Replica, type Source } from "./replica.js";
import type { Learning } from "./script-call.js";

/** Sets the replica of `circuit`, and so what its breakers read. */
export function setReplica(circuit: ReplicaCircuit, replica: Replica): void {
  circuit.replica = replica;
  show(circuit);
}

/** Sets the circuit `circuit`'s process keeps for itself, and so what its breakers read. */
export function setOwn(circuit: ReplicaCircuit, own: OwnCircuit): void {
  circuit.own = own;
  show(circuit);
}

/** What the replica updates need from their storage. */
export interface ReplicaUpdatesOptions {
  readonly keys: RedisKeys;
  /** The storage's `onStorageError`. */
  readonly policy: StorageErrorPolicy;
  /** This storage's instance id: a message its own script published is not learned again. */
  readonly id: string;
  /** The hand-overs: a new incarnation makes this process say its presence again. */
  readonly handOver: HandOver<ReplicaCircuit>;
  /** The factory's clock (ms). */
  readonly clock: () => number;
  /** The circuit `name` as this process holds it, if it does. */
  readonly held: (name: string) => ReplicaCircuit | undefined;
  /** Calls the storage's subscribers. */
  readonly emit: (...args: CircuitHookArgs) => void;
}

/** The updates of a storage's replicas. */
export class ReplicaUpdates {
  readonly #options: ReplicaUpdatesOptions;
  #messages = 0;

  /** Nothing changes before the first update. */
  constructor(options: ReplicaUpdatesOptions) {
    this.#options = options;
  }

  /** Pub/sub messages received on the circuits' channels. */
  get messages(): number {
    return this.#messages;
  }

  /**
   * Takes what a script saw and left. What it found was made by other processes (or is a new
   * incarnation): learned as remote. What it left is a call's own transition, which its breaker
   * emits, or (`internal`, `resync`) a change reported as remote when the view moved.
   */
  learn(circuit: ReplicaCircuit, reply: ScriptReply, kind: Learning): void {
    if (kind === "call") this.#adopt(circuit, reply.before, "reply", true);
    this.#adopt(circuit, reply.after, kind === "resync" ? "resync" : "reply", kind !== "call");
  }

  /**
   * Returns the transition the core derived for a call's script reply (learned already), after
   * checking that the script left the state the core predicts.
   */
  check(circuit: ReplicaCircuit, reply: ScriptReply, transition: Transition | null): Transition | null {
    const expected = transition?.snapshot ?? reply.before.snapshot;
    if (!sameSnapshot(expected, reply.after.snapshot)) {
      const error = new CorruptStateError(
        `script and state machine disagree: ${JSON.stringify(reply.after.snapshot)} vs ${JSON.stringify(expected)}`,
      );
      this.#options.emit(circuit.name, "storage_error", { name: circuit.name, storage: "redis", error });
    }
    return transition;
  }

  /** A message heard on a circuit's channel: another process's change, learned as remote. */
  heard(message: string): void {
    this.#messages += 1;
    // This process's own writes are learned from their script replies (a registration burst
    // hears its own creations: they are not decoded).
    if (messageSource(message) === this.#options.id) return;
    let parsed;
    try {
      parsed = parseMessage(message);
    } catch (error) {
      this.#options.emit("*", "storage_error", { name: "*", storage: "redis", error });
      return;
    }
    const circuit = this.#options.held(parsed.name);
    if (circuit !== undefined) this.#adopt(circuit, parsed, "message", true);
  }

  /** The circuits this process holds of `channels` (subscribed again: their messages may be lost). */
  circuitsOf(channels: readonly string[]): ReplicaCircuit[] {
    const circuits: ReplicaCircuit[] = [];
    for (const channel of channels) {
      const name = this.#options.keys.nameOf(channel);
      const circuit = name === undefined ? undefined : this.#options.held(name);
      if (circuit !== undefined) circuits.push(circuit);
    }
    return circuits;
  }

  /**
   * Policy `fail-closed`, Redis away: the circuit reads as opened from `redisNow` until Redis is
   * back (a remote `state_changed`).
   */
  hold(circuit: ReplicaCircuit, redisNow: number): void {
    const before = circuit.replica;
    const after = hold(before, circuit.config, redisNow);
    if (after === before) return;
    setReplica(circuit, after);
    if (viewChanged(before, after)) this.#emitState(circuit);
  }

  /**
   * An outcome decided while Redis cannot be told, as the outage policy says: nothing with
   * `fail-open` or for a stale token; else `decide`'s transition on the view, which the replica
   * takes as a local decision.
   */
  decide(
    circuit: ReplicaCircuit,
    token: number,
    decide: (view: CircuitSnapshot) => Transition | null,
  ): Transition | null {
    if (this.#options.policy === "fail-open") return null;
    const replica = circuit.replica;
    if (tokenUse(replica, token).kind === "stale") return null;
    const transition = decide(replica.view);
    if (transition !== null) setReplica(circuit, decideLocally(replica, transition));
    return transition;
  }

  /**
   * A failure decided while Redis cannot be told (see `decide`), at `redisNow`: on a closed view it
   * is counted in the circuit's rate window first, whose counts the trip rule then reads.
   */
  failure(circuit: ReplicaCircuit, token: number, redisNow: number, minOpenMs: number): Transition | null {
    const window = circuit.window ?? null;
    if (window !== null && circuit.replica.view.state === "closed") count(window, redisNow, "failure");
    return this.decide(circuit, token, (view) =>
      recordFailure(
        view,
        circuit.config,
        token,
        redisNow,
        window === null ? undefined : countsOf(window, redisNow),
        minOpenMs,
      ),
    );
  }

  /** A call admitted while Redis is away, by `onStorageError` (`admission.ts`), at `redisNow`. */
  admit(circuit: ReplicaCircuit, redisNow: number): Admission {
    const admission = degradedAdmission(this.#options.policy, circuit.replica.view, circuit.config, redisNow);
    if (admission.transition !== null) setReplica(circuit, decideLocally(circuit.replica, admission.transition));
    return admission;
  }

  #adopt(circuit: ReplicaCircuit, shared: SharedState, source: Source, remote: boolean): void {
    const before = circuit.replica;
    const after = adopt(before, shared, source);
    if (after === before) return;
    const { handOver } = this.#options;
    setReplica(circuit, after);
    takeConfig(circuit, shared.config, handOver);
    // A new incarnation lost the callers and processes open for themselves with the old one: a
    // process that called the circuit lately says so again at once (and whether it is open for
    // itself), the others at their next call.
    if (circuit.own !== null && before.shared !== null && before.shared.incarnation !== after.shared?.incarnation) {
      const lately =
        circuit.announcedAt !== 0 && this.#options.clock() - circuit.announcedAt < handOver.horizon(circuit);
      handOver.renounce(circuit);
      if (lately) handOver.announce(circuit);
    }
    if (remote && viewChanged(before, after)) this.#emitState(circuit);
  }

  /** Reports the view's state to the subscribers as a remote `state_changed`. */
  #emitState(circuit: ReplicaCircuit): void {
    const { name } = circuit;
    const view = circuit.replica.view;
    const openedAt = view.state === "opened" ? view.openedAt : null;
    this.#options.emit(name, "state_changed", { name, state: view.state, openedAt, scope: "fleet", remote: true });
  }
}
