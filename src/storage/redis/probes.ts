/**
 * A `RedisStorage`'s probes that take more than the view's answer. A probe of the fleet's circuit
 * is asked of Redis (`ask`) only once the view says one may run: at most `halfOpenMaxCalls`
 * requests of this process in flight per circuit (another call meanwhile is rejected without a
 * round trip: no stampede); an asynchronous caller waits for Redis's answer, a synchronous one
 * cannot, so its call is rejected while the request goes on in the background, and a probe Redis
 * grants is kept for this process's next call while its lease is live (`granted`). A process open
 * for itself probes its own circuit instead, never the fleet's (`admitOwn`); the outcome of such a
 * probe is decided by its own circuit at once, then told to Redis (`ownSettled`).
 * @module
 */
import type { Transition } from "../../core/circuit.js";
import { admit, type Admission } from "../../core/machine.js";
import { emitTransition, type EventSink } from "../../events.js";
import type { MaybePromise } from "../storage.js";
import { busyRejection, grantedProbe, ownRejection } from "./admission.js";
import type { HandOver } from "./handover.js";
import { expectedFailure, merged } from "./outcomes.js";
import { admitOwn, type OwnCircuit } from "./own.js";
import type { ReplicaCircuit } from "./replica-circuit.js";
import { setOwn, type ReplicaUpdates } from "./replica-updates.js";
import { localToken } from "./replica.js";
import type { ScriptCaller } from "./script-call.js";

/** What the probes need from their storage. */
export interface ProbesOptions {
  readonly scripts: ScriptCaller;
  readonly updates: ReplicaUpdates;
  /** The hand-overs: a call of a process open for itself says that it calls, if Redis may not know. */
  readonly handOver: HandOver<ReplicaCircuit>;
  /** Whether Redis answers now. */
  readonly available: () => boolean;
  /** Redis time minus the factory clock, as the storage estimates it now. */
  readonly offset: () => number;
  /** The storage's subscribers, for the transition of a request a synchronous caller could not wait for. */
  readonly sink: EventSink;
}

/** A storage's probes. */
export class Probes {
  readonly #options: ProbesOptions;

  /** Nothing is asked before the first `ask`. */
  constructor(options: ProbesOptions) {
    this.#options = options;
  }

  /** The probe granted in the background to a synchronous caller (spent here), if its lease is still live on the view. */
  granted(circuit: ReplicaCircuit, redisNow: number): Admission | undefined {
    const grant = circuit.grant;
    circuit.grant = null;
    return grantedProbe(grant, circuit.replica.view, redisNow);
  }

  /** Asks Redis for a probe of the fleet's circuit (the view said one may run at `now`, factory clock). */
  ask(circuit: ReplicaCircuit, now: number, sync: boolean): MaybePromise<Admission> {
    if (sync) return this.#askInBackground(circuit, now);
    if (circuit.asking >= circuit.config.halfOpenMaxCalls) return busyRejection(circuit.replica.view, circuit.config);
    circuit.asking += 1;
    return this.#ask(circuit, now).finally(() => {
      circuit.asking -= 1;
    });
  }

  /**
   * A call of a process open for itself (`own`, the circuit it keeps for itself), at `now` (factory
   * clock). While the fleet's circuit is closed, its own circuit decides (a rejection, or a probe of
   * its own, with `scope: "process"`); it never takes a probe of the fleet's circuit (`undefined`
   * when the fleet's rules decide: opened, isolated, disabled).
   */
  admitOwn(circuit: ReplicaCircuit, own: OwnCircuit, now: number): Admission | undefined {
    if (!circuit.announced) this.#options.handOver.announce(circuit);
    const view = circuit.replica.view;
    const redisNow = now + this.#options.offset();
    if (view.state !== "closed") return ownRejection(view, own, circuit.config, redisNow);
    const [next, admission] = admitOwn(own, circuit.config, redisNow);
    setOwn(circuit, next);
    return admission;
  }

  /**
   * A probe of the circuit this process keeps for itself settled (its own circuit took it, and
   * decided at once: `transition`, from `before`): Redis is told, with a placeholder token, so
   * that the outcome also counts in the fleet's streak (a failure may meet the quorum and open the
   * fleet's circuit: this process made that transition) and Redis knows whether the process is
   * still open for itself.
   */
  ownSettled(
    circuit: ReplicaCircuit,
    before: OwnCircuit,
    transition: Transition | null,
    now: number,
    outcome: "success" | "failure",
    minOpenMs = 0,
  ): MaybePromise<Transition | null> {
    if (transition === null && before === circuit.own) return null;
    if (!this.#options.available()) return transition;
    const sent = this.#options.scripts.run(outcome, circuit, {
      now,
      argument: outcome === "failure" && minOpenMs > 0 ? String(minOpenMs) : "",
      calls: true,
      learning: outcome === "success" ? "internal" : "call",
    });
    if (outcome === "success") return sent.then(() => transition);
    return sent.then((reply) => {
      if (reply === undefined) return transition;
      return merged(transition, this.#options.updates.check(circuit, reply, expectedFailure(reply, null, minOpenMs)));
    });
  }

  async #ask(circuit: ReplicaCircuit, now: number): Promise<Admission> {
    // After a release, not before it (a NOSCRIPT retry of the release could come second).
    await circuit.releasing;
    const { scripts, updates } = this.#options;
    const reply = await scripts.run("admit", circuit, { now, calls: true });
    if (reply === undefined) return updates.admit(circuit, now + this.#options.offset());
    const admission = admit(reply.before.snapshot, reply.before.config, reply.now);
    updates.check(circuit, reply, admission.transition);
    if (admission.verdict === "reject") return admission;
    const token = { incarnation: reply.after.incarnation, generation: admission.generation };
    return { ...admission, generation: localToken(circuit.replica, token) };
  }

  /**
   * A synchronous caller cannot wait: its call asks Redis in the background and is rejected; a
   * probe Redis grants is kept for this process's next call, while its lease is live.
   */
  #askInBackground(circuit: ReplicaCircuit, now: number): Admission {
    if (circuit.asking === 0) {
      circuit.asking = 1;
      void this.#ask(circuit, now)
        .then((admission) => {
          if (admission.verdict === "probe") circuit.grant = admission.generation;
          emitTransition(this.#options.sink, circuit.name, admission.transition);
        })
        .finally(() => {
          circuit.asking = 0;
        });
    }
    return busyRejection(circuit.replica.view, circuit.config);
  }
}
