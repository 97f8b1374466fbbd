/**
 * A script call of a `RedisStorage`, from its arguments to its learned reply: what a script
 * carries besides its circuit (`ScriptCall`; scripts/prologue.lua documents ARGV), this process's
 * presence when it carries calls of a circuit with a quorum, the clock offset sampled against the
 * moment it was sent, the errors it may meet, and its reply parsed and handed to the storage to
 * learn before the caller sees it. Every reply is learned at the same point, the same number of
 * microtasks after it arrives, so in the order Redis ran the scripts. (Learned by each caller, a
 * re-read's reply could be learned before the reply of a call that ran before it, and this
 * process's own trip be reported as remote.)
 * @module
 */
import { isReplyError, parseReply, type ScriptReply } from "./codec.js";
import { encodedConfig } from "./circuit-config.js";
import { NO_PRESENCE, type HandOver } from "./handover.js";
import type { RedisKeys } from "./keys.js";
import type { ReplicaCircuit } from "./replica-circuit.js";
import type { SharedToken } from "./replica.js";
import type { ScriptName } from "./scripts.js";

/**
 * How a script's reply is learned: `call`, the outcome or admission of a call of this process
 * (its breaker emits the transition); `internal`, a change this process made for itself
 * (configure, release); `resync`, a read of what Redis holds (registration, re-read, reopen).
 */
export type Learning = "call" | "internal" | "resync";

const LEARNING: Readonly<Record<ScriptName, Learning>> = {
  read: "resync",
  reopen: "resync",
  admit: "call",
  success: "call",
  failure: "call",
  flush: "call",
  control: "call",
  configure: "internal",
  release: "internal",
};

/** What a script call carries besides its circuit (scripts/prologue.lua documents ARGV). */
export interface ScriptCall {
  /** The caller's token; `null` (the default): a placeholder, or none. */
  readonly token?: SharedToken | null;
  /** When it was sent (factory clock, ms): its reply then also samples the clock offset. */
  readonly now?: number;
  /** Window counts handed over (`'start:calls:failures:slow,...'`). */
  readonly counts?: string;
  /** The script's own argument (a slow success, a minimum open time, an action). */
  readonly argument?: string;
  /** The config of a circuit the script creates (default: the circuit's), or `configure`'s new one. */
  readonly config?: string;
  /** Whether it carries this process's calls: with a quorum, it then says this process calls the circuit. */
  readonly calls?: boolean;
  /** Whether the failure it carries opened the circuit this process keeps for itself (`'+ms'`). */
  readonly tentative?: boolean;
  /** How its reply is learned (default: by its script). */
  readonly learning?: Learning;
  /** An operator's action: the circuit must exist (`MISSING` is thrown when Redis holds none). */
  readonly existing?: boolean;
  /** An operator's action: a reply error is thrown (with the server's words), not returned as `undefined`. */
  readonly rethrow?: boolean;
}

/** Thrown by `ScriptCaller.run` for a call with `existing` on a circuit Redis does not hold. */
export const MISSING = new Error("the circuit does not exist");

/** What the script calls need of the transport. */
export interface ScriptTransport {
  /** Whether Redis answers now: no script is sent while it does not. */
  readonly available: boolean;
  /** `SPUBLISH` or `PUBLISH`, as the circuits' messages travel. */
  readonly publishCommand: string;
  /** Runs a script (`RedisTransport.script`): `sent` is called as it is handed to the client. */
  script(
    name: ScriptName,
    keys: readonly string[],
    args: readonly (string | number)[],
    sent?: () => void,
  ): Promise<unknown>;
}

/** What the script calls need from their storage. */
export interface ScriptCallerOptions {
  readonly transport: ScriptTransport;
  readonly keys: RedisKeys;
  /** The storage's `keyTtl`, ms (0: the keys never expire). */
  readonly keyTtlMs: number;
  /** This storage's instance id: the messages its scripts publish say it. */
  readonly id: string;
  /** The hand-overs, which say this process's presence with a script that carries its calls. */
  readonly handOver: HandOver<ReplicaCircuit>;
  /** The factory's clock (ms). */
  readonly clock: () => number;
  /** Redis time minus the factory clock, as the storage estimates it now. */
  readonly offset: () => number;
  /** Takes one reply's sample of the offset: the Redis time the script ran minus when it was sent. */
  readonly sampled: (sample: number) => void;
  /** A script wrote circuit `name`'s key anew (at Redis time `now`): the registry lists it again. */
  readonly created: (now: number, name: string) => void;
  /** A script on circuit `name` went unanswered (the connection failed): it may have written the key anew. */
  readonly unanswered: (name: string) => void;
  /** Takes a reply into the circuit's replica, before its caller sees it. */
  readonly learn: (circuit: ReplicaCircuit, reply: ScriptReply, learning: Learning) => void;
  /** An answer of Redis this process cannot use (a reply error, an unreadable reply), for `storage_error`. */
  readonly unusable: (name: string, error: unknown) => void;
}

/** A storage's script calls. */
export class ScriptCaller {
  readonly #options: ScriptCallerOptions;
  #runs = 0;

  /** Nothing is sent before the first `run`. */
  constructor(options: ScriptCallerOptions) {
    this.#options = options;
  }

  /** Scripts sent (one round trip each), since the storage was made. */
  get runs(): number {
    return this.#runs;
  }

  /**
   * Runs a script (see `ScriptCall`); `undefined` when Redis is unavailable or its answer is
   * unusable (reported as `unusable`). The reply is learned (`learn`) before it is returned.
   */
  async run(script: ScriptName, circuit: ReplicaCircuit, call: ScriptCall): Promise<ScriptReply | undefined> {
    const { transport, keys, handOver, clock } = this.#options;
    if (!transport.available) return undefined;
    this.#runs += 1;
    const { token = null, now, counts = "", argument = "" } = call;
    const presence =
      call.calls === true
        ? handOver.presence(circuit, (now ?? clock()) + this.#options.offset(), call.tentative === true)
        : NO_PRESENCE;
    // The offset to Redis time is sampled against the moment the script is sent, not the caller's
    // `now`: time spent waiting before (a limiter, a release) would inflate it.
    let sentAt = now === undefined ? undefined : clock();
    let raw: unknown;
    try {
      raw = await transport.script(
        script,
        keys.scriptKeys(circuit.name),
        [
          keys.channel(circuit.name),
          this.#options.keyTtlMs,
          call.config ?? encodedConfig(circuit),
          token?.incarnation ?? "",
          token?.generation ?? -1,
          this.#options.id,
          circuit.name,
          transport.publishCommand,
          counts,
          argument,
          ...presence,
          circuit.replica.shared?.incarnation ?? "",
          call.existing === true ? "1" : "",
          circuit.replica.shared?.version ?? "",
        ],
        sentAt === undefined ? undefined : () => (sentAt = clock()),
      );
    } catch (error) {
      if (call.existing === true && error instanceof Error && error.message.includes("PURGATORY_NO_CIRCUIT")) {
        throw MISSING;
      }
      if (call.rethrow === true && isReplyError(error)) {
        throw new Error(`Redis refused ${script} on circuit ${circuit.name}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      // Redis answered with an error (what it holds is not what the script expects): reported. Any
      // other error is the transport's (unavailable, timed out), which reports the outage itself.
      if (isReplyError(error)) this.#options.unusable(circuit.name, error);
      else this.#options.unanswered(circuit.name);
      return undefined;
    }
    try {
      const reply = parseReply(raw);
      // A key this script wrote anew (a new circuit, or one lost with the registry, as after a
      // FLUSHALL) is listed again, so that operators see every circuit a process holds.
      if (reply.created) this.#options.created(reply.now, circuit.name);
      if (sentAt !== undefined) this.#options.sampled(reply.now - sentAt);
      if (presence !== NO_PRESENCE) handOver.presented(circuit, presence, sentAt ?? clock());
      this.#options.learn(circuit, reply, call.learning ?? LEARNING[script]);
      return reply;
    } catch (error) {
      // Redis answered: an answer this process cannot use (or a bug in using it) is not an outage.
      this.#options.unusable(circuit.name, error);
      return undefined;
    }
  }
}
