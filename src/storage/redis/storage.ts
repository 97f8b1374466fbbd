/**
 * `RedisStorage`: one circuit state for a whole fleet. Each process keeps a replica of the
 * circuits it uses (`replica.ts`); the closed success path reads only the replica; every change is
 * one Lua script that applies the state machine atomically in Redis with Redis time and fences
 * stale tokens; pub/sub and a bounded periodic re-read keep replicas fresh; an outage degrades to
 * the replica. The protocol is docs/fleet-protocol.md.
 *
 * This file is longer than the others because it is where the replica (`replica.ts`), the circuit
 * a process keeps for itself (`own.ts`) and the transport meet: each operation (admission, success,
 * failure, control) decides across them in one place. What stands alone lives beside it: the
 * record (`replica-circuit.ts`), the hand-overs of window counts and presence (`handover.ts`), the
 * re-reads (`resync.ts`), the core's predictions for a reply (`outcomes.ts`), the admissions
 * decided without Redis (`admission.ts`), the operators' reads (`inspect.ts`).
 * @module
 */
import type { Clock } from "../../timing/coarse-clock.js";
import type { CircuitConfig, CircuitSnapshot, Transition } from "../../core/circuit.js";
import {
  admit,
  checkRates,
  control,
  recordFailure,
  recordSuccess,
  type Admission,
  type ControlAction,
} from "../../core/machine.js";
import { hasQuorum } from "../../core/quorum.js";
import { count, countsOf, countSuccess, drain, windowFor } from "../../core/window.js";
import { emitTransition, type CircuitHookArgs, type EventSink } from "../../events.js";
import { InvalidOptionError } from "../../errors.js";
import { LocalCircuitsStorage } from "../local-circuits.js";
import type { CircuitRecord, CircuitStorage, MaybePromise, Registration, TrafficSource } from "../storage.js";
import {
  CorruptStateError,
  encodeConfig,
  isReplyError,
  messageSource,
  parseMessage,
  parseReply,
  sameSnapshot,
  type ScriptReply,
  type SharedState,
} from "./codec.js";
import { redisKeys, type RedisKeys } from "./keys.js";
import { toRedisSettings, type RedisClient, type RedisSettings, type RedisStorageOptions } from "./options.js";
import {
  adopt,
  anticipateFailure,
  decideLocally,
  hold,
  localToken,
  localTrip,
  releaseLocally,
  tokenUse,
  viewChanged,
  type Replica,
  type SharedToken,
  type Source,
} from "./replica.js";
import { busyRejection, degradedAdmission, grantedProbe, ownRejection } from "./admission.js";
import { ClockOffset } from "./clock-offset.js";
import { HandOver, NO_PRESENCE } from "./handover.js";
import { newReplicaCircuit, show, type ReplicaCircuit } from "./replica-circuit.js";
import { RegistryUpkeep } from "./registry.js";
import { Telemetry } from "./telemetry.js";
import { Resync } from "./resync.js";
import { inspectCircuits, listCircuits, pruneRegistry, type CircuitInfo } from "./inspect.js";
import { Limiter } from "./limiter.js";
import { coreToken, encodeBuckets, expectedFailure, merged, withRates } from "./outcomes.js";
import {
  admitOwn,
  isOwnToken,
  ownCircuit,
  ownFailure,
  ownSuccess,
  reconfigured,
  releaseOwn,
  type OwnCircuit,
} from "./own.js";
import type { ScriptName } from "./scripts.js";
import { RedisConfigurationError, RedisTransport } from "./transport.js";
import { randomBase64url } from "./runtime.js";

/**
 * How a script's reply is learned: `call`, the outcome or admission of a call of this process
 * (its breaker emits the transition); `internal`, a change this process made for itself
 * (configure, release); `resync`, a read of what Redis holds (registration, re-read, reopen).
 */
type Learning = "call" | "internal" | "resync";

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
interface ScriptCall {
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
  /** How its reply is learned (default: by its script, `LEARNING`). */
  readonly learning?: Learning;
  /** An operator's action: the circuit must exist (`MISSING` is thrown when Redis holds none). */
  readonly existing?: boolean;
  /** An operator's action: a reply error is thrown (with the server's words), not returned as `undefined`. */
  readonly rethrow?: boolean;
}

/**
 * A process warning (`process.emitWarning`, where there is a `process`): what a storage says of its
 * own health once per outage, so that a degraded fleet is never silent even without a hook.
 */
function warn(message: string, code: string): void {
  globalThis.process?.emitWarning?.(`purgatory: ${message}`, { code });
}

/** Thrown by `#script` for a call with `existing` on a circuit Redis does not hold. */
const MISSING = new Error("the circuit does not exist");

type Emit = (...args: CircuitHookArgs) => void;

/** What `RedisStorage.stats()` counts, since the storage was made. */
export interface RedisStorageStats {
  /** Circuits this process holds (a replica each). */
  readonly circuits: number;
  /** Channels this process is subscribed to (one per circuit it holds). */
  readonly subscriptions: number;
  /** Pub/sub messages received. */
  readonly messagesReceived: number;
  /** Scripts sent to Redis (one round trip each). */
  readonly scriptsRun: number;
  /** Traffic reports sent while somebody watched (one command each, at most one a second). */
  readonly trafficReports: number;
}

/**
 * Circuit state in Redis (or Redis Cluster, or Valkey), shared by every process pointed at it.
 * Needs the optional peer dependency `ioredis`.
 *
 * @example
 * ```ts
 * const circuitbreaker = new AsyncCircuitBreakerFactory({
 *   storage: new RedisStorage("redis://127.0.0.1:6379/0"),
 * });
 * await circuitbreaker.initialize();
 * ```
 */
export class RedisStorage extends LocalCircuitsStorage<ReplicaCircuit> implements CircuitStorage {
  readonly #settings: RedisSettings;
  readonly #keys: RedisKeys;
  readonly #id = randomBase64url(6);
  readonly #transport: RedisTransport;
  readonly #emitters = new Set<Emit>();
  /** The subscribers, as a sink for `emitTransition`. */
  readonly #sink: EventSink = { emit: (...args) => this.#emit(...args) };
  #clock: () => number = () => Date.now();
  /**
   * Redis time minus the factory clock: `#offsets.value`, kept in a field of its own for the
   * paths that read it on every call (a success counted in a rate window).
   */
  #offset = 0;
  readonly #offsets = new ClockOffset();
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;
  #outageReported = false;
  #refusalReported = false;
  #messages = 0;
  #scripts = 0;
  /** What this process hands over without a call outcome: window counts, its presence. */
  readonly #handOver: HandOver<ReplicaCircuit>;
  /** The re-reads of what Redis holds (one at a time, and a background round). */
  readonly #resync: Resync<ReplicaCircuit>;
  /** The fleet's telemetry: this process's reports while somebody watches. */
  readonly #telemetry: Telemetry;
  /** With `keyTtl`: the registry's names whose keys expired leave it. */
  readonly #registry: RegistryUpkeep | null;
  /** Registration reads and hand-overs in flight at most. */
  readonly #reads = new Limiter(128);
  /** Names to add to the registry, in one ZADD per turn of the event loop. */
  #listing: [number, string][] = [];

  /** `url` or options; nothing connects before `initialize()` (or the first registration). */
  constructor(options?: string | RedisStorageOptions) {
    super();
    this.#settings = toRedisSettings(options);
    this.#keys = redisKeys(this.#settings.prefix);
    this.#transport = new RedisTransport(this.#settings, {
      message: (message, channel) =>
        channel === this.#keys.telemetry.watch ? this.#telemetry.heard(message) : this.#onMessage(message),
      down: (error) => this.#down(error),
      up: () => void this.#up(),
      resubscribed: (channels) => {
        if (channels.includes(this.#keys.telemetry.watch)) this.#checkWatchers();
        void this.#resync.queue(this.#circuitsOf(channels));
      },
      // A subscription Redis refused (an ACL without the channel): the circuit's changes made by
      // other processes are then seen only at the periodic re-read.
      refused: (channel, error) => {
        const name = this.#keys.nameOf(channel);
        if (name !== undefined) this.#emit(name, "storage_error", { name, storage: "redis", error });
      },
    });
    const { flushInterval, callerHorizon, processName, resyncBatch, resyncInterval } = this.#settings;
    this.#handOver = new HandOver({
      flushInterval,
      callerHorizon,
      processName,
      clock: () => this.#clock(),
      circuits: () => this.circuits.values(),
      send: (circuit) => this.#flush(circuit),
    });
    this.#resync = new Resync({
      batch: resyncBatch,
      interval: resyncInterval,
      circuits: () => this.circuits.values(),
      size: () => this.circuits.size,
      read: (circuit) => this.#reread(circuit),
      available: () => this.#transport.available,
    });
    this.#telemetry = new Telemetry({
      keys: this.#keys,
      processName,
      now: () => this.#clock() + this.#offset,
      run: (command) => this.#transport.run(command),
      publishCommand: () => this.#transport.publishCommand,
      openForItself: (name) => {
        const own = this.circuits.get(name)?.own;
        return own !== undefined && own !== null && own.snapshot.state !== "closed";
      },
    });
    const { keyTtlMs } = this.#settings;
    this.#registry =
      keyTtlMs === 0
        ? null
        : new RegistryUpkeep({
            keys: this.#keys,
            keyTtlMs,
            batch: Math.max(resyncBatch, 100),
            now: () => this.#clock() + this.#offset,
            run: (command) => this.#transport.run(command),
            available: () => this.#transport.available,
          });
  }

  /** The key layout in use (see docs/redis.md, "Key layout"). */
  get keys(): RedisKeys {
    return this.#keys;
  }

  /** Whether Redis answers now; `false` while degraded to the local replicas. */
  get available(): boolean {
    return this.#transport.available;
  }

  /**
   * Where Redis is, for messages (`StorageUnavailableError`): the URL with its password masked,
   * `"redis://127.0.0.1:6379"` by default, `undefined` for a client passed in.
   */
  get location(): string | undefined {
    const { url, client } = this.#settings;
    return url === undefined && client !== undefined ? undefined : this.#where();
  }

  /**
   * @internal Lets `source` (the factory's recorder of calls) count the calls while somebody watches the
   * fleet's traffic (the dashboard, `purgatory top`), and reports what it counted, one message a
   * second (docs/telemetry.md). Returns what detaches it. Called by the factory.
   */
  attachTraffic(source: TrafficSource): () => void {
    return this.#telemetry.attach(source);
  }

  /** Whether somebody watches the fleet's traffic now (this process then reports it). */
  get trafficWatched(): boolean {
    return this.#telemetry.watched;
  }

  /** How many circuit channels this process is subscribed to: one per circuit it holds. */
  get subscriptions(): number {
    return this.#circuitChannels();
  }

  /**
   * Counters of this process's traffic with Redis, for monitoring and benchmarks: the circuits
   * it holds, the channels it is subscribed to, the messages it received, the scripts it ran.
   */
  stats(): RedisStorageStats {
    return {
      circuits: this.circuits.size,
      subscriptions: this.#circuitChannels(),
      trafficReports: this.#telemetry.reports,
      messagesReceived: this.#messages,
      scriptsRun: this.#scripts,
    };
  }

  /**
   * Forgets `name` in this process: its replica goes, and so does its channel's subscription.
   * The shared state stays (its keys expire after `keyTtl`).
   */
  override forget(name: string): void {
    if (this.circuits.get(name) === undefined) return;
    super.forget(name);
    this.#transport.unsubscribe(this.#keys.channel(name));
  }

  /**
   * Connects the command client and the pub/sub subscriber. Resolves even when Redis is down:
   * the storage then starts degraded, reports `storage_unavailable`, and reconnects by itself.
   * Rejects only for set-up errors (ioredis missing).
   */
  initialize(): Promise<void> {
    this.#starting ??= this.#transport.start().then(async () => {
      this.#resync.start();
      this.#registry?.start();
      // The telemetry's watch channel (with the first circuits' channels when they come in the
      // same turn); then whether a watcher is there. A refusal (an ACL without it) only means no
      // telemetry.
      await this.#transport.subscribe(this.#keys.telemetry.watch).then(
        () => this.#checkWatchers(),
        () => undefined,
      );
    });
    return this.#starting;
  }

  /** Ends the timers, the subscriber and the client it made; a client you passed stays open. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    this.#resync.close();
    this.#registry?.close();
    this.#telemetry.close();
    this.#handOver.close();
    await this.#starting?.catch(() => undefined);
    await this.#transport.close();
  }

  /**
   * Adds a function the storage calls with remote transitions and its health; `clock` (the
   * factory's) dates what the storage decides by itself (an outage policy's opened state).
   */
  subscribe(emit: Emit, clock?: () => number): () => void {
    this.#emitters.add(emit);
    if (clock !== undefined) this.#clock = clock;
    return () => this.#emitters.delete(emit);
  }

  /**
   * First registration wins fleet-wide. An asynchronous caller waits for the registration round
   * trip (also when another call of this process started it), so that no call runs on a circuit
   * this process has not heard of yet; a synchronous caller cannot wait and gets the placeholder.
   */
  register(name: string, config: CircuitConfig, now: number, sync: boolean): MaybePromise<Registration> {
    this.#checkKeyTtl(config);
    const existing = this.circuits.get(name);
    if (existing !== undefined) {
      const registering = existing.registering;
      if (sync || registering === undefined) return { circuit: existing, created: false };
      return registering.then(() => ({ circuit: existing, created: false }));
    }
    const circuit = newReplicaCircuit(name, config);
    this.#quorum(circuit, config);
    this.circuits.add(circuit);
    let created = true;
    const registering = this.#registerShared(circuit, now).then(
      (fresh) => {
        created = fresh;
      },
      (error: unknown) => this.#emit(name, "storage_error", { name, storage: "redis", error }),
    );
    circuit.registering = registering.finally(() => {
      circuit.registering = undefined;
    });
    if (sync) return { circuit, created: true };
    return circuit.registering.then(() => ({ circuit, created }));
  }

  /**
   * A `keyTtl` shorter than a circuit's longest opening (its ttl, or its backoff's `maxTtl`) would
   * let the key of an opened circuit that no process re-reads expire: the fleet would make it anew,
   * closed, before its time. Refused at registration, naming both.
   */
  #checkKeyTtl(config: CircuitConfig): void {
    const keyTtlMs = this.#settings.keyTtlMs;
    if (keyTtlMs === 0) return;
    const longest = Math.max(config.ttl, config.backoff?.maxTtl ?? 0);
    if (keyTtlMs >= longest * 1000) return;
    const option = config.backoff !== undefined && config.backoff.maxTtl > config.ttl ? "backoff.maxTtl" : "ttl";
    throw new InvalidOptionError(
      "keyTtl",
      keyTtlMs / 1000,
      `at least the circuit's longest opening (${option} ${longest} s)`,
      `Invalid option "keyTtl": the key of an opened circuit would expire before it may close, ` +
        `${keyTtlMs / 1000} s is below the circuit's ${option} (${longest} s)`,
    );
  }

  async #registerShared(circuit: ReplicaCircuit, now: number): Promise<boolean> {
    await this.initialize();
    // Subscribed before it reads, so that no change falls between the read and the first message.
    await this.#transport.subscribe(this.#keys.channel(circuit.name));
    // A burst of registrations (10,000 circuits at start-up) reads a few at a time: sent all at
    // once, the last ones would wait behind the others past commandTimeout, an outage for nothing.
    const reply = await this.#reads.run(() => this.#script("read", circuit, { now }));
    if (reply === undefined) {
      // Registered while Redis cannot be reached: the outage policy decides until it is back.
      if (this.#settings.onStorageError === "fail-closed") this.#hold(circuit);
      return true;
    }
    if (!reply.created) this.#list(reply.now, circuit.name);
    return reply.created;
  }

  /** Adds a name to the registry: the names registered in one turn go in one ZADD. */
  #list(score: number, name: string): void {
    if (this.#listing.length === 0) {
      queueMicrotask(() => {
        const entries = this.#listing.splice(0);
        this.#transport.zadd(this.#keys.registry, entries).catch((error: unknown) => {
          // Refused (an ACL without the registry key): operators would list nothing. Said once per
          // name; an unavailable Redis is the outage's, already reported.
          if (this.#closed || !isReplyError(error)) return;
          for (const [, name] of entries) this.#emit(name, "storage_error", { name, storage: "redis", error });
        });
      });
    }
    this.#listing.push([score, name]);
  }

  /** Admission of a call on a circuit whose view is not closed. */
  admit(c: CircuitRecord, now: number, sync: boolean): MaybePromise<Admission> {
    const circuit = c as ReplicaCircuit;
    const { mode } = circuit.replica;
    if (mode === "held") return this.#busy(circuit);
    const own = circuit.own;
    if (own !== null && own.snapshot.state !== "closed") {
      const mine = this.#admitOwn(circuit, own, now);
      if (mine !== undefined) return mine;
    }
    // An outage's local decisions go on until the resync after it has reached this circuit.
    if (!this.#transport.available || mode === "diverged") return this.#admitDegraded(circuit, now);
    const redisNow = now + this.#offset;
    const granted = sync ? this.#takeGrant(circuit, redisNow) : undefined;
    if (granted !== undefined) return granted;
    // The view answers what it can: while the ttl runs, or while every probe slot it knows of is
    // leased, the call is rejected without a round trip. Only a possible probe asks Redis.
    const local = admit(circuit.replica.view, circuit.config, redisNow);
    if (local.verdict !== "probe") return local;
    if (sync) return this.#admitSync(circuit, now);
    if (circuit.asking >= circuit.config.halfOpenMaxCalls) return this.#busy(circuit);
    circuit.asking += 1;
    return this.#askProbe(circuit, now).finally(() => {
      circuit.asking -= 1;
    });
  }

  async #askProbe(circuit: ReplicaCircuit, now: number): Promise<Admission> {
    // After a release, not before it (a NOSCRIPT retry of the release could come second).
    await circuit.releasing;
    const reply = await this.#script("admit", circuit, { now, calls: true });
    if (reply === undefined) return this.#admitDegraded(circuit, now);
    const admission = admit(reply.before.snapshot, reply.before.config, reply.now);
    this.#check(circuit, reply, admission.transition);
    if (admission.verdict === "reject") return admission;
    const token = { incarnation: reply.after.incarnation, generation: admission.generation };
    return { ...admission, generation: localToken(circuit.replica, token) };
  }

  /**
   * A synchronous caller cannot wait: its call asks Redis in the background and is rejected; a
   * probe Redis grants is kept for this process's next call, while its lease is live.
   */
  #admitSync(circuit: ReplicaCircuit, now: number): Admission {
    if (circuit.asking === 0) {
      circuit.asking = 1;
      void this.#askProbe(circuit, now)
        .then((admission) => {
          if (admission.verdict === "probe") circuit.grant = admission.generation;
          emitTransition(this.#sink, circuit.name, admission.transition);
        })
        .finally(() => {
          circuit.asking = 0;
        });
    }
    return this.#busy(circuit);
  }

  /**
   * A call of a process open for itself. While the fleet's circuit is closed, its own circuit
   * decides (a rejection, or a probe of its own, with `scope: "process"`); it never takes a probe
   * of the fleet's circuit (`undefined` when the fleet's rules decide: opened, isolated, disabled).
   */
  #admitOwn(circuit: ReplicaCircuit, own: OwnCircuit, now: number): Admission | undefined {
    if (!circuit.announced) this.#handOver.announce(circuit);
    const view = circuit.replica.view;
    const redisNow = now + this.#offset;
    if (view.state !== "closed") return ownRejection(view, own, circuit.config, redisNow);
    const [next, admission] = admitOwn(own, circuit.config, redisNow);
    this.#setOwn(circuit, next);
    return admission;
  }

  /** The probe granted in the background (spent here), if its lease is still live on the view. */
  #takeGrant(circuit: ReplicaCircuit, redisNow: number): Admission | undefined {
    const grant = circuit.grant;
    circuit.grant = null;
    return grantedProbe(grant, circuit.replica.view, redisNow);
  }

  /** Rejects a call: this process already asks Redis for every probe slot, or fail-closed holds it. */
  #busy(circuit: ReplicaCircuit): Admission {
    return busyRejection(circuit.replica.view, circuit.config);
  }

  /** Decides a call while Redis is away, by `onStorageError` (`admission.ts`). */
  #admitDegraded(circuit: ReplicaCircuit, now: number): Admission {
    const admission = degradedAdmission(
      this.#settings.onStorageError,
      circuit.replica.view,
      circuit.config,
      now + this.#offset,
    );
    if (admission.transition !== null) this.#set(circuit, decideLocally(circuit.replica, admission.transition));
    return admission;
  }

  /**
   * A success: no I/O for a closed circuit with no failures (a rate window counts it, to be handed
   * over at the next flush); otherwise one round trip. A slow success is a round trip too, which
   * carries the window's counts: like a failure, it may be the call that reaches a trip rate. With
   * a quorum, the circuit this process keeps for itself counts it too (`own.ts`), and a probe of
   * its own that succeeds closes it at once, then tells Redis (one round trip, as a placeholder's
   * success: it resets the fleet's count, and Redis no longer lists the process open for itself).
   */
  recordSuccess(c: CircuitRecord, token: number, clock: Clock, slow = false): MaybePromise<Transition | null> {
    const circuit = c as ReplicaCircuit;
    const view = circuit.snapshot;
    const own = circuit.own;
    if (
      view.state === "closed" &&
      view.failureCount === 0 &&
      circuit.pendingFailures === 0 &&
      !slow &&
      (own === null || own.snapshot.failureCount === 0)
    ) {
      if (!circuit.announced) this.#handOver.announce(circuit);
      const window = circuit.window;
      if (window !== undefined && window !== null) this.#countSuccess(circuit, window, clock);
      return null;
    }
    const now = clock();
    const redisNow = now + this.#offset;
    let mine: Transition | null = null;
    if (own !== null && this.#countsOwn()) {
      const [next, transition] = ownSuccess(own, circuit.config, token, redisNow, slow);
      this.#setOwn(circuit, next);
      if (isOwnToken(token)) return this.#ownProbeSettled(circuit, own, transition, now, "success");
      mine = transition;
    }
    const decide = (s: CircuitSnapshot) => recordSuccess(s, token, redisNow);
    const use = tokenUse(circuit.replica, token);
    if (use.kind === "stale") return mine;
    if (use.kind === "local" || !this.#transport.available) return merged(this.#degraded(circuit, token, decide), mine);
    const shared = use.kind === "shared" ? use.token : null;
    const counts = this.#windowCounts(circuit, redisNow, slow ? "slow" : "success");
    const sent = this.#script("success", circuit, {
      token: shared,
      now,
      counts,
      argument: slow ? "1" : "",
      calls: true,
    });
    return sent.then((reply) => {
      if (reply === undefined) return merged(this.#degraded(circuit, token, decide), mine);
      const success = recordSuccess(reply.before.snapshot, coreToken(reply.before, shared), reply.now);
      return merged(this.#check(circuit, reply, slow ? withRates(success, reply) : success), mine);
    });
  }

  /**
   * A probe of the circuit this process keeps for itself settled (its own circuit took it, and
   * decided at once): Redis is told, with a placeholder token, so that the outcome also counts in
   * the fleet's streak (a failure may meet the quorum and open the fleet's circuit: this process
   * made that transition) and Redis knows whether the process is still open for itself.
   */
  #ownProbeSettled(
    circuit: ReplicaCircuit,
    before: OwnCircuit,
    transition: Transition | null,
    now: number,
    outcome: "success" | "failure",
    minOpenMs = 0,
  ): MaybePromise<Transition | null> {
    if (transition === null && before === circuit.own) return null;
    if (!this.#transport.available) return transition;
    const sent = this.#script(outcome, circuit, {
      now,
      argument: outcome === "failure" && minOpenMs > 0 ? String(minOpenMs) : "",
      calls: true,
      learning: outcome === "success" ? "internal" : "call",
    });
    if (outcome === "success") return sent.then(() => transition);
    return sent.then((reply) => {
      if (reply === undefined) return transition;
      return merged(transition, this.#check(circuit, reply, expectedFailure(reply, null, minOpenMs)));
    });
  }

  /** Whether this process's own circuits count outcomes now: not while an outage policy other than `local` rules. */
  #countsOwn(): boolean {
    return this.#transport.available || this.#settings.onStorageError === "local";
  }

  /**
   * Counts a success of a closed circuit in its window (dated by the coarse clock), and in the
   * window of the circuit the process keeps for itself, if any.
   */
  #countSuccess(circuit: ReplicaCircuit, window: NonNullable<CircuitRecord["window"]>, clock: Clock): void {
    const now = (clock.coarse ?? clock)() + this.#offset;
    countSuccess(window, now);
    const own = circuit.own;
    if (own !== null && own.window !== null) countSuccess(own.window, now);
    this.#handOver.queue(circuit);
  }

  /**
   * The counts of a closed circuit's window to hand to Redis with a script, this call counted
   * (`'start:calls:failures:slow,...'`; `''` without a window or once the circuit is not closed).
   */
  #windowCounts(circuit: ReplicaCircuit, redisNow: number, outcome: "success" | "failure" | "slow"): string {
    const window = circuit.window;
    if (window === undefined || window === null || circuit.replica.view.state !== "closed") return "";
    count(window, redisNow, outcome);
    return encodeBuckets(drain(window));
  }

  /**
   * Hands over what a queued circuit gathered: its window's counts, and with a quorum this
   * process's presence (and whether it is open for itself). One script, publishing only a trip.
   * Unsaid while Redis is away: the recovery says the presence again (`#up`).
   */
  async #flush(circuit: ReplicaCircuit): Promise<void> {
    if (!this.#transport.available) return;
    const window = circuit.window;
    const presence = circuit.own !== null;
    const hands =
      window !== undefined &&
      window !== null &&
      circuit.replica.mode === "synced" &&
      circuit.replica.view.state === "closed";
    const counts = hands ? encodeBuckets(drain(window)) : "";
    if (counts === "" && !presence) return;
    // Hand-overs of many circuits at once (a first call of each at start-up) go a few at a time,
    // as registrations do: sent all at once, the last ones would wait past commandTimeout.
    const reply = await this.#reads.run(() =>
      this.#script("flush", circuit, { now: this.#clock(), counts, calls: true }),
    );
    if (reply === undefined) {
      // With a quorum, Redis did not hear that this process calls: said again at its next call, or,
      // when Redis went away meanwhile, as soon as it answers again (`#up`).
      circuit.announced = !presence || !this.#transport.available;
      return;
    }
    const met = reply.quorum?.met ?? true;
    const trip =
      reply.counts === null
        ? null
        : checkRates(reply.before.snapshot, reply.before.config, reply.counts, reply.now, met);
    emitTransition(this.#sink, circuit.name, this.#check(circuit, reply, trip));
  }

  /**
   * A failure: one round trip, which also hands over the window's counts; the script that made a
   * transition is the one told so. A synchronous caller's failure shows on the view at once
   * (`anticipateFailure`). With a quorum, the circuit this process keeps for itself counts it at
   * once, and opens for this process alone when its own failures meet the trip rule; the script
   * then says so (the process is a reporter of the quorum until its own probe succeeds).
   */
  recordFailure(
    c: CircuitRecord,
    token: number,
    now: number,
    sync: boolean,
    minOpenMs = 0,
  ): MaybePromise<Transition | null> {
    const circuit = c as ReplicaCircuit;
    const redisNow = now + this.#offset;
    const window = circuit.window;
    const own = circuit.own;
    let mine: Transition | null = null;
    let tentative = false;
    if (own !== null && this.#countsOwn()) {
      const [next, transition] = ownFailure(own, circuit.config, token, redisNow, minOpenMs);
      this.#setOwn(circuit, next);
      if (isOwnToken(token)) return this.#ownProbeSettled(circuit, own, transition, now, "failure", minOpenMs);
      mine = transition;
      tentative = own.snapshot.state === "closed" && next.snapshot.state !== "closed";
    }
    const use = tokenUse(circuit.replica, token);
    if (use.kind === "stale") return mine;
    if (use.kind === "local" || !this.#transport.available) {
      // With a quorum, the fleet's circuit is never tripped on this process's word: its own did it.
      if (own !== null && circuit.replica.view.state === "closed") return mine;
      const local = window === undefined || window === null ? undefined : window;
      if (local !== undefined && circuit.replica.view.state === "closed") count(local, redisNow, "failure");
      return this.#degraded(circuit, token, (s) =>
        recordFailure(
          s,
          circuit.config,
          token,
          redisNow,
          local === undefined ? undefined : countsOf(local, redisNow),
          minOpenMs,
        ),
      );
    }
    const decide = (s: CircuitSnapshot) => recordFailure(s, circuit.config, token, redisNow, undefined, minOpenMs);
    // What this failure does to the view, if Redis cannot be told after all. (With a quorum, the
    // circuit this process keeps for itself already showed it.)
    const anticipates = sync && own === null;
    const anticipated = anticipates ? decide(circuit.replica.view) : null;
    if (anticipates) this.#set(circuit, anticipateFailure(circuit.replica, circuit.config, redisNow));
    const shared = use.kind === "shared" ? use.token : null;
    const counts = this.#windowCounts(circuit, redisNow, "failure");
    circuit.pendingFailures += 1;
    const argument = minOpenMs > 0 ? String(minOpenMs) : "";
    const call: ScriptCall = { token: shared, now, counts, argument, calls: true, tentative };
    const sent = this.#script("failure", circuit, call).finally(() => {
      circuit.pendingFailures -= 1;
    });
    return sent.then((reply) => {
      if (reply === undefined) {
        if (own !== null && circuit.replica.view.state === "closed") return mine;
        if (anticipated === null || !circuit.replica.anticipated) return this.#degraded(circuit, token, decide);
        // The view already shows it: it becomes the local decision.
        this.#set(circuit, decideLocally(circuit.replica, { snapshot: circuit.replica.view, events: [] }));
        return anticipated;
      }
      const expected = expectedFailure(reply, shared, minOpenMs);
      if (tentative && reply.before.snapshot.state === "closed" && reply.after.snapshot.state === "opened") {
        // This failure opened the fleet's circuit: it speaks for this process, which is not open
        // for itself as well (the script dropped that opening too).
        this.#setOwn(circuit, ownCircuit(circuit.config));
        circuit.openSaid = false;
        mine = null;
      }
      return merged(this.#check(circuit, reply, expected), mine);
    });
  }

  /** An operator's action, fleet-wide and atomic: every process holding the circuit hears it. */
  async control(c: CircuitRecord, action: ControlAction, now: number): Promise<Transition | null> {
    const circuit = c as ReplicaCircuit;
    await circuit.registering;
    const reply = await this.#script("control", circuit, { now, argument: action, rethrow: true });
    if (reply === undefined)
      throw new Error(`Redis is unavailable: cannot ${action} circuit ${circuit.name} fleet-wide`);
    return this.#check(circuit, reply, control(reply.before.snapshot, action, reply.now));
  }

  /** Replaces the circuit's config fleet-wide; every process holding it adopts the new one. */
  async configure(c: CircuitRecord, config: CircuitConfig): Promise<void> {
    const circuit = c as ReplicaCircuit;
    await circuit.registering;
    const reply = await this.#script("configure", circuit, { config: encodeConfig(config), rethrow: true });
    if (reply === undefined)
      throw new Error(`Redis is unavailable: cannot reconfigure circuit ${circuit.name} fleet-wide`);
  }

  /**
   * An operator's action (`isolate`, `disable`, `reset`) on circuit `name`, fleet-wide and atomic,
   * held by this process or not, **only if Redis holds the circuit**: resolves `false`, having
   * written nothing, when it does not (an operator's tool never creates a circuit; checking first
   * and acting after would re-create one deleted in between). Rejects while Redis is unavailable.
   *
   * @example
   * ```ts
   * if (!(await storage.controlExisting("payments-api", "isolate"))) console.error("no such circuit");
   * ```
   */
  async controlExisting(name: string, action: ControlAction): Promise<boolean> {
    await this.initialize();
    return this.#operate(name, "control", { argument: action, now: this.#clock() }, action);
  }

  /**
   * Replaces the config of circuit `name` fleet-wide, held by this process or not, only if Redis
   * holds the circuit (see `controlExisting`): `false` when it does not.
   */
  async configureExisting(name: string, config: CircuitConfig): Promise<boolean> {
    await this.initialize();
    return this.#operate(name, "configure", { config: encodeConfig(config) }, "reconfigure");
  }

  async #operate(name: string, script: ScriptName, call: ScriptCall, what: string): Promise<boolean> {
    // A circuit this process does not hold is run through a record of its own, never kept.
    const circuit = this.circuits.get(name) ?? newReplicaCircuit(name, { threshold: 1, ttl: 1, halfOpenMaxCalls: 1 });
    let reply: ScriptReply | undefined;
    try {
      reply = await this.#script(script, circuit, { ...call, existing: true, learning: "internal", rethrow: true });
    } catch (error) {
      if (error === MISSING) return false;
      throw error;
    }
    if (reply === undefined) throw new Error(`Redis is unavailable: cannot ${what} circuit ${name} fleet-wide`);
    return true;
  }

  /**
   * Frees the probe slot of a cancelled call at once, in this process and then fleet-wide (its
   * lease would expire anyway).
   */
  async release(c: CircuitRecord, token: number, now: number): Promise<void> {
    const circuit = c as ReplicaCircuit;
    const own = circuit.own;
    if (isOwnToken(token)) {
      if (own !== null) this.#setOwn(circuit, releaseOwn(own, token, now + this.#offset));
      return;
    }
    const use = tokenUse(circuit.replica, token);
    if (use.kind === "stale") return;
    this.#set(circuit, releaseLocally(circuit.replica, token, now + this.#offset));
    if (use.kind !== "shared") return;
    const released = this.#script("release", circuit, { token: use.token, now }).then(() => undefined);
    circuit.releasing = released;
    await released;
    if (circuit.releasing === released) circuit.releasing = undefined;
  }

  /**
   * Every circuit registered in Redis under this prefix, from the registry (a sorted set, no
   * SCAN), sorted; read only (a name whose keys expired stays listed until `pruneRegistry()`).
   */
  async listCircuits(): Promise<string[]> {
    await this.initialize();
    return listCircuits(this.#transport.client as RedisClient, this.#keys);
  }

  /**
   * Drops from the registry the names whose keys are gone (expired by `keyTtl`, or deleted): the
   * maintenance write that listing never does (`purgatory prune`). A circuit that a process still
   * holds is listed again by the next script that writes its key. Resolves with the names dropped.
   */
  async pruneRegistry(): Promise<string[]> {
    await this.initialize();
    return pruneRegistry(this.#transport.client as RedisClient, this.#keys);
  }

  /**
   * What Redis holds for circuits of this prefix (all the registry lists, or `names`), for
   * operators: state, counts, config and window, read without registering anything and without
   * writing (a missing circuit is left out).
   *
   * @example
   * ```ts
   * for (const c of await storage.inspect()) console.log(c.name, c.state, c.failureCount);
   * ```
   */
  async inspect(names?: readonly string[]): Promise<CircuitInfo[]> {
    await this.initialize();
    const client = this.#transport.client as RedisClient;
    return inspectCircuits(client, this.#keys, names ?? (await listCircuits(client, this.#keys)));
  }

  // --- script calls and replica updates ------------------------------------------------------

  /**
   * Runs a script (see `ScriptCall`); `undefined` when Redis is unavailable or its data is
   * unusable (reported as `storage_error`). The replica learns the reply here, before the caller
   * sees it: every reply is learned the same number of microtasks after it arrives, so in the order
   * Redis ran the scripts. (Learned by each caller, a re-read's reply could be learned before the
   * reply of a call that ran before it, and this process's own trip be reported as remote.)
   */
  async #script(script: ScriptName, circuit: ReplicaCircuit, call: ScriptCall): Promise<ScriptReply | undefined> {
    if (!this.#transport.available) return undefined;
    this.#scripts += 1;
    const { token = null, now, counts = "", argument = "" } = call;
    const presence =
      call.calls === true
        ? this.#handOver.presence(circuit, (now ?? this.#clock()) + this.#offset, call.tentative === true)
        : NO_PRESENCE;
    // The offset to Redis time is sampled against the moment the script is sent, not the caller's
    // `now`: time spent waiting before (a limiter, a release) would inflate it.
    let sentAt = now === undefined ? undefined : this.#clock();
    let raw: unknown;
    try {
      raw = await this.#transport.script(
        script,
        this.#keys.scriptKeys(circuit.name),
        [
          this.#keys.channel(circuit.name),
          this.#settings.keyTtlMs,
          call.config ?? this.#encoded(circuit),
          token?.incarnation ?? "",
          token?.generation ?? -1,
          this.#id,
          circuit.name,
          this.#transport.publishCommand,
          counts,
          argument,
          ...presence,
          circuit.replica.shared?.incarnation ?? "",
          call.existing === true ? "1" : "",
          circuit.replica.shared?.version ?? "",
        ],
        sentAt === undefined ? undefined : () => (sentAt = this.#clock()),
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
      if (!this.#closed && isReplyError(error)) {
        this.#emit(circuit.name, "storage_error", { name: circuit.name, storage: "redis", error });
      }
      return undefined;
    }
    try {
      const reply = parseReply(raw);
      // A key this script wrote anew (a new circuit, or one lost with the registry, as after a
      // FLUSHALL) is listed again, so that operators see every circuit a process holds.
      if (reply.created) this.#list(reply.now, circuit.name);
      if (sentAt !== undefined) this.#offset = this.#offsets.add(reply.now - sentAt);
      if (presence !== NO_PRESENCE) this.#handOver.presented(circuit, presence, sentAt ?? this.#clock());
      this.#learn(circuit, reply, call.learning ?? LEARNING[script]);
      return reply;
    } catch (error) {
      // Redis answered: an answer this process cannot use (or a bug in using it) is not an outage.
      if (!this.#closed) this.#emit(circuit.name, "storage_error", { name: circuit.name, storage: "redis", error });
      return undefined;
    }
  }

  /** The circuit's config as the scripts read it (kept until the config changes). */
  #encoded(circuit: ReplicaCircuit): string {
    const cached = circuit.encoded;
    if (cached !== null && cached.config === circuit.config) return cached.json;
    const json = encodeConfig(circuit.config);
    circuit.encoded = { config: circuit.config, json };
    return json;
  }

  /**
   * Takes what a script saw and left. What it found was made by other processes (or is a new
   * incarnation): learned as remote. What it left is a call's own transition, which its breaker
   * emits, or (`internal`, `resync`) a change the storage reports as remote when the view moved.
   */
  #learn(circuit: ReplicaCircuit, reply: ScriptReply, kind: Learning): void {
    if (kind === "call") this.#adopt(circuit, reply.before, "reply", true);
    this.#adopt(circuit, reply.after, kind === "resync" ? "resync" : "reply", kind !== "call");
  }

  /**
   * Returns the transition the core derived for a call's script reply (learned already), after
   * checking that the script left the state the core predicts.
   */
  #check(circuit: ReplicaCircuit, reply: ScriptReply, transition: Transition | null): Transition | null {
    const expected = transition?.snapshot ?? reply.before.snapshot;
    if (!sameSnapshot(expected, reply.after.snapshot)) {
      const error = new CorruptStateError(
        `script and state machine disagree: ${JSON.stringify(reply.after.snapshot)} vs ${JSON.stringify(expected)}`,
      );
      this.#emit(circuit.name, "storage_error", { name: circuit.name, storage: "redis", error });
    }
    return transition;
  }

  #adopt(circuit: ReplicaCircuit, shared: SharedState, source: Source, remote: boolean): void {
    const before = circuit.replica;
    const after = adopt(before, shared, source);
    if (after === before) return;
    this.#set(circuit, after);
    this.#takeConfig(circuit, shared.config);
    // A new incarnation lost the callers and processes open for themselves with the old one: a
    // process that called the circuit lately says so again at once (and whether it is open for
    // itself), the others at their next call.
    if (circuit.own !== null && before.shared !== null && before.shared.incarnation !== after.shared?.incarnation) {
      const lately = circuit.announcedAt !== 0 && this.#clock() - circuit.announcedAt < this.#handOver.horizon(circuit);
      this.#handOver.renounce(circuit);
      if (lately) this.#handOver.announce(circuit);
    }
    if (remote && viewChanged(before, after)) this.#emitState(circuit);
  }

  /** Applies a decision made while Redis cannot be told, as the outage policy says. */
  #degraded(
    circuit: ReplicaCircuit,
    token: number,
    decide: (view: CircuitSnapshot) => Transition | null,
  ): Transition | null {
    if (this.#settings.onStorageError === "fail-open") return null;
    const replica = circuit.replica;
    if (tokenUse(replica, token).kind === "stale") return null;
    const transition = decide(replica.view);
    if (transition !== null) this.#set(circuit, decideLocally(replica, transition));
    return transition;
  }

  /** The shared config wins (the first registration, or a reconfigure, fixed it fleet-wide). */
  #takeConfig(circuit: ReplicaCircuit, config: CircuitConfig): void {
    if (circuit.encoded !== null && circuit.encoded.json === encodeConfig(config)) return;
    circuit.config = config;
    circuit.encoded = null;
    circuit.window = windowFor(config, circuit.window);
    this.#quorum(circuit, config);
  }

  /**
   * Gives a circuit whose config has a quorum the circuit this process keeps for itself (and takes
   * it from one that has none any more), and starts the renewal of this process's presence.
   */
  #quorum(circuit: ReplicaCircuit, config: CircuitConfig): void {
    if (!hasQuorum(config)) {
      if (circuit.own === null) return;
      circuit.own = null;
      circuit.announced = true;
      circuit.openSaid = false;
      show(circuit);
      return;
    }
    if (circuit.own === null) {
      circuit.own = ownCircuit(config);
      this.#handOver.renounce(circuit);
    } else {
      circuit.own = reconfigured(circuit.own, config);
    }
    this.#handOver.watchRenewals();
  }

  #set(circuit: ReplicaCircuit, replica: Replica): void {
    circuit.replica = replica;
    show(circuit);
  }

  #setOwn(circuit: ReplicaCircuit, own: OwnCircuit): void {
    circuit.own = own;
    show(circuit);
  }

  #onMessage(message: string): void {
    this.#messages += 1;
    // This process's own writes are learned from their script replies (a registration burst
    // hears its own creations: they are not decoded).
    if (messageSource(message) === this.#id) return;
    let parsed;
    try {
      parsed = parseMessage(message);
    } catch (error) {
      this.#emit("*", "storage_error", { name: "*", storage: "redis", error });
      return;
    }
    const circuit = this.circuits.get(parsed.name);
    if (circuit !== undefined) this.#adopt(circuit, parsed, "message", true);
  }

  /** Reports the view's state to the hooks as a remote `state_changed`. */
  #emitState(circuit: ReplicaCircuit): void {
    const { name } = circuit;
    const view = circuit.replica.view;
    const openedAt = view.state === "opened" ? view.openedAt : null;
    this.#emit(name, "state_changed", { name, state: view.state, openedAt, scope: "fleet", remote: true });
  }

  /** Calls every subscriber; one that throws is skipped, never stopping the storage's own work. */
  #emit(...args: CircuitHookArgs): void {
    for (const emit of this.#emitters) {
      try {
        emit(...args);
      } catch {
        // The factory's hooks report their own errors; a bare subscriber's error goes nowhere.
      }
    }
  }

  // --- outages, resync and recovery ----------------------------------------------------------

  #down(error: unknown): void {
    if (this.#closed) return;
    if (!this.#outageReported) {
      this.#outageReported = true;
      this.#refusalReported = error instanceof RedisConfigurationError;
      this.#emit("*", "storage_unavailable", { name: "*", storage: "redis", error });
      const cause = error instanceof Error ? error.message : String(error);
      warn(
        `Redis is unavailable at ${this.#where()} (${cause}); circuits go on under onStorageError ` +
          `"${this.#settings.onStorageError}" until it answers again`,
        "PURGATORY_STORAGE_UNAVAILABLE",
      );
    } else if (error instanceof RedisConfigurationError && !this.#refusalReported) {
      this.#refusalReported = true;
      this.#emit("*", "storage_error", { name: "*", storage: "redis", error });
    }
    if (this.#settings.onStorageError === "fail-closed") {
      for (const circuit of this.circuits.values()) this.#hold(circuit);
    }
  }

  /** Policy `fail-closed`: the circuit reads as opened until Redis is back (a remote `state_changed`). */
  #hold(circuit: ReplicaCircuit): void {
    const before = circuit.replica;
    const after = hold(before, circuit.config, this.#clock() + this.#offset);
    if (after === before) return;
    this.#set(circuit, after);
    if (viewChanged(before, after)) this.#emitState(circuit);
  }

  /** Redis is back: every replica re-reads it (pushing local trips), then the recovery is reported. */
  async #up(): Promise<void> {
    this.#checkWatchers();
    // With a quorum, this process says again that it calls (and is open for itself): at once for a
    // circuit it called since its last word to Redis (which the outage may have lost: a process
    // that called once would otherwise be missing from the active callers until its next call),
    // else at its next call.
    for (const circuit of this.circuits.values()) {
      if (circuit.own === null) continue;
      const called = circuit.announced;
      this.#handOver.renounce(circuit);
      if (called) this.#handOver.announce(circuit);
    }
    await this.#resync.queue([...this.circuits.values()]);
    if (!this.#transport.available || !this.#outageReported) return;
    this.#outageReported = false;
    this.#refusalReported = false;
    this.#emit("*", "storage_recovered", { name: "*", storage: "redis" });
    warn(`Redis answers again at ${this.#where()}; circuits follow it again`, "PURGATORY_STORAGE_RECOVERED");
  }

  /** The circuits' channels subscribed to (not the telemetry's watch channel). */
  #circuitChannels(): number {
    return this.#transport.subscriptions - (this.#transport.subscribedTo(this.#keys.telemetry.watch) ? 1 : 0);
  }

  /** Reads whether a watcher is there (after a connection or a resubscription); an error waits for the next. */
  #checkWatchers(): void {
    if (this.#closed || !this.#transport.available) return;
    this.#telemetry.check().catch(() => undefined);
  }

  /** Where Redis is, for a warning: the URL without its password, or the client that was passed. */
  #where(): string {
    const { url } = this.#settings;
    if (url === undefined) return this.#settings.client === undefined ? "redis://127.0.0.1:6379" : "the client passed";
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.href;
  }

  /** The circuits this process holds of `channels`. */
  #circuitsOf(channels: readonly string[]): ReplicaCircuit[] {
    const circuits: ReplicaCircuit[] = [];
    for (const channel of channels) {
      const name = this.#keys.nameOf(channel);
      const circuit = name === undefined ? undefined : this.circuits.get(name);
      if (circuit !== undefined) circuits.push(circuit);
    }
    return circuits;
  }

  /**
   * Re-reads a circuit and adopts what Redis holds (`Resync`). A trip decided locally during an
   * outage is pushed only as "open it if the shared state has not moved since" (`reopen`), never
   * replayed.
   */
  async #reread(circuit: ReplicaCircuit): Promise<void> {
    const trip = localTrip(circuit.replica);
    await (trip === null
      ? this.#script("read", circuit, {})
      : this.#script("reopen", circuit, { token: trip.token, argument: String(trip.tripAt) }));
  }
}
