/**
 * `RedisStorage`: one circuit state for a whole fleet. Each process keeps a replica of the
 * circuits it uses (`replica.ts`); the closed success path reads only the replica; every change is
 * one Lua script that applies the state machine atomically in Redis with Redis time and fences
 * stale tokens; pub/sub and a bounded periodic re-read keep replicas fresh; an outage degrades to
 * the replica. The protocol is docs/fleet-protocol.md.
 *
 * This file is longer than the others because it is where the replica (`replica.ts`), the circuit
 * a process keeps for itself (`own.ts`) and the transport meet: each operation (registration,
 * admission, success, failure, control, release) decides across them in one place. What stands
 * alone lives beside it: the record (`replica-circuit.ts`); a script call, from its arguments to
 * its learned reply (`script-call.ts`); what changes the replicas: replies, messages, holds,
 * decisions made while Redis is away (`replica-updates.ts`); a circuit's config
 * (`circuit-config.ts`); the probes asked of Redis, and those of the circuit a process keeps for
 * itself (`probes.ts`); the hand-overs of window counts and presence (`handover.ts`) and the counts
 * they carry (`window-flush.ts`); the re-reads (`resync.ts`); the clock offset (`clock-offset.ts`);
 * the core's predictions for a reply (`outcomes.ts`); the admissions decided without Redis
 * (`admission.ts`); the reports of an outage (`outage.ts`); the operators' actions and reads
 * (`operators.ts`, `inspect.ts`); the registry's upkeep (`registry.ts`); the fleet's telemetry
 * (`telemetry.ts`).
 * @module
 */
import type { Clock } from "../../timing/coarse-clock.js";
import type { CircuitConfig, CircuitSnapshot, Transition } from "../../core/circuit.js";
import { admit, control, recordFailure, recordSuccess } from "../../core/machine.js";
import type { Admission, ControlAction } from "../../core/machine.js";
import { emitTransition, type CircuitHookArgs, type EventSink } from "../../events.js";
import { LocalCircuitsStorage } from "../local-circuits.js";
import type { CircuitRecord, CircuitStorage, MaybePromise, Registration, TrafficSource } from "../storage.js";
import { encodeConfig } from "./codec.js";
import { redisKeys, type RedisKeys } from "./keys.js";
import { toRedisSettings, type RedisClient, type RedisSettings, type RedisStorageOptions } from "./options.js";
import { anticipateFailure, decideLocally, localTrip, releaseLocally, tokenUse } from "./replica.js";
import { busyRejection } from "./admission.js";
import { checkKeyTtl, followQuorum } from "./circuit-config.js";
import { ClockOffset } from "./clock-offset.js";
import { HandOver } from "./handover.js";
import { newReplicaCircuit, type ReplicaCircuit } from "./replica-circuit.js";
import { RegistryUpkeep } from "./registry.js";
import { Telemetry } from "./telemetry.js";
import { Resync } from "./resync.js";
import type { CircuitInfo } from "./inspect.js";
import { Limiter } from "./limiter.js";
import { Operators, RegistryListing } from "./operators.js";
import { Outage, redisLocation } from "./outage.js";
import { coreToken, expectedFailure, merged, withRates } from "./outcomes.js";
import { isOwnToken, ownCircuit, ownFailure, ownSuccess, releaseOwn } from "./own.js";
import { Probes } from "./probes.js";
import { ReplicaUpdates, setOwn, setReplica } from "./replica-updates.js";
import { ScriptCaller, type ScriptCall } from "./script-call.js";
import { RedisTransport } from "./transport.js";
import { randomBase64url } from "./runtime.js";
import { countClosedSuccess, flushedCounts, flushTrip, windowCounts } from "./window-flush.js";

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
  /** Every script this storage sends, and its reply learned. */
  readonly #scripts: ScriptCaller;
  /** The reports of Redis's outages and recoveries. */
  readonly #outage: Outage;
  /** The registry's listing of the circuits this process holds. */
  readonly #listing: RegistryListing;
  /** The operators' actions and reads. */
  readonly #operators: Operators;
  /** What changes the replicas: replies, messages, holds, the decisions made while Redis is away. */
  readonly #updates: ReplicaUpdates;
  /** The probes asked of Redis, and those of the circuit this process keeps for itself. */
  readonly #probes: Probes;

  /** `url` or options; nothing connects before `initialize()` (or the first registration). */
  constructor(options?: string | RedisStorageOptions) {
    super();
    const settings = toRedisSettings(options);
    const keys = redisKeys(settings.prefix);
    const id = this.#id;
    this.#settings = settings;
    this.#keys = keys;
    const transport = new RedisTransport(settings, {
      message: (message, channel) =>
        channel === keys.telemetry.watch ? this.#telemetry.heard(message) : this.#updates.heard(message),
      down: (error) => this.#down(error),
      up: () => void this.#up(),
      resubscribed: (channels) => {
        if (channels.includes(keys.telemetry.watch)) this.#checkWatchers();
        void this.#resync.queue(this.#updates.circuitsOf(channels));
      },
      // A subscription Redis refused (an ACL without the channel): the circuit's changes made by
      // other processes are then seen only at the periodic re-read.
      refused: (channel, error) => {
        const name = keys.nameOf(channel);
        if (name !== undefined) this.#emit(name, "storage_error", { name, storage: "redis", error });
      },
    });
    this.#transport = transport;
    // What the parts of the storage are given of it.
    const clock = (): number => this.#clock();
    const offset = (): number => this.#offset;
    const redisNow = (): number => this.#clock() + this.#offset;
    const available = (): boolean => transport.available;
    const circuits = (): IterableIterator<ReplicaCircuit> => this.circuits.values();
    const held = (name: string): ReplicaCircuit | undefined => this.circuits.get(name);
    const emit: Emit = (...args) => this.#emit(...args);
    const unusable = (name: string, error: unknown): void => {
      if (!this.#closed) this.#emit(name, "storage_error", { name, storage: "redis", error });
    };
    const { flushInterval, callerHorizon, processName, resyncBatch, resyncInterval, keyTtlMs } = settings;
    const send = (circuit: ReplicaCircuit): Promise<void> => this.#flush(circuit);
    const handOver = new HandOver({ flushInterval, callerHorizon, processName, clock, circuits, send });
    const updates = new ReplicaUpdates({ keys, policy: settings.onStorageError, id, handOver, clock, held, emit });
    const scripts = new ScriptCaller({
      transport,
      keys,
      keyTtlMs,
      id,
      handOver,
      clock,
      offset,
      sampled: (sample) => {
        this.#offset = this.#offsets.add(sample);
      },
      created: (now, name) => this.#listing.list(now, name),
      unanswered: (name) => this.#listing.unsure(name),
      learn: (circuit, reply, learning) => updates.learn(circuit, reply, learning),
      unusable,
    });
    this.#handOver = handOver;
    this.#updates = updates;
    this.#scripts = scripts;
    this.#probes = new Probes({ scripts, updates, handOver, available, offset, sink: this.#sink });
    this.#outage = new Outage({ settings, emit });
    this.#listing = new RegistryListing({ registry: keys.registry, transport, refused: unusable });
    const client = (): RedisClient => transport.client as RedisClient;
    this.#operators = new Operators({ keys, initialize: () => this.initialize(), client, scripts, held, clock });
    const read = (circuit: ReplicaCircuit): Promise<void> => this.#reread(circuit);
    const size = (): number => this.circuits.size;
    this.#resync = new Resync({ batch: resyncBatch, interval: resyncInterval, circuits, size, read, available });
    const run = <T>(command: (client: RedisClient) => Promise<T>): Promise<T> => transport.run(command);
    this.#telemetry = new Telemetry({
      keys,
      processName,
      now: redisNow,
      run,
      publishCommand: () => transport.publishCommand,
      openForItself: (name) => {
        const own = this.circuits.get(name)?.own;
        return own !== undefined && own !== null && own.snapshot.state !== "closed";
      },
    });
    const batch = Math.max(resyncBatch, 100);
    this.#registry =
      keyTtlMs === 0 ? null : new RegistryUpkeep({ keys, keyTtlMs, batch, now: redisNow, run, available });
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
    return url === undefined && client !== undefined ? undefined : redisLocation(this.#settings);
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
      messagesReceived: this.#updates.messages,
      scriptsRun: this.#scripts.runs,
    };
  }

  /**
   * Forgets `name` in this process: its replica goes, and so does its channel's subscription.
   * The shared state stays (its keys expire after `keyTtl`).
   */
  override forget(name: string): void {
    if (this.circuits.get(name) === undefined) return;
    super.forget(name);
    this.#listing.forget(name);
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
    checkKeyTtl(this.#settings.keyTtlMs, config);
    const existing = this.circuits.get(name);
    if (existing !== undefined) {
      const registering = existing.registering;
      if (sync || registering === undefined) return { circuit: existing, created: false };
      return registering.then(() => ({ circuit: existing, created: false }));
    }
    const circuit = newReplicaCircuit(name, config);
    followQuorum(circuit, config, this.#handOver);
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

  async #registerShared(circuit: ReplicaCircuit, now: number): Promise<boolean> {
    await this.initialize();
    // Subscribed before it reads, so that no change falls between the read and the first message.
    await this.#transport.subscribe(this.#keys.channel(circuit.name));
    // A burst of registrations (10,000 circuits at start-up) reads a few at a time: sent all at
    // once, the last ones would wait behind the others past commandTimeout, an outage for nothing.
    const reply = await this.#reads.run(() => this.#scripts.run("read", circuit, { now }));
    if (reply === undefined) {
      // Registered while Redis cannot be reached: the outage policy decides until it is back.
      if (this.#settings.onStorageError === "fail-closed") this.#updates.hold(circuit, this.#clock() + this.#offset);
      return true;
    }
    if (!reply.created) this.#listing.list(reply.now, circuit.name);
    return reply.created;
  }

  /** Admission of a call on a circuit whose view is not closed. */
  admit(c: CircuitRecord, now: number, sync: boolean): MaybePromise<Admission> {
    const circuit = c as ReplicaCircuit;
    const { mode } = circuit.replica;
    if (mode === "held") return busyRejection(circuit.replica.view, circuit.config);
    const own = circuit.own;
    if (own !== null && own.snapshot.state !== "closed") {
      const mine = this.#probes.admitOwn(circuit, own, now);
      if (mine !== undefined) return mine;
    }
    const redisNow = now + this.#offset;
    // An outage's local decisions go on until the resync after it has reached this circuit.
    if (!this.#transport.available || mode === "diverged") return this.#updates.admit(circuit, redisNow);
    const granted = sync ? this.#probes.granted(circuit, redisNow) : undefined;
    if (granted !== undefined) return granted;
    // The view answers what it can: while the ttl runs, or while every probe slot it knows of is
    // leased, the call is rejected without a round trip. Only a possible probe asks Redis.
    const local = admit(circuit.replica.view, circuit.config, redisNow);
    if (local.verdict !== "probe") return local;
    return this.#probes.ask(circuit, now, sync);
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
      if (window !== undefined && window !== null) {
        countClosedSuccess(window, own, (clock.coarse ?? clock)() + this.#offset);
        this.#handOver.queue(circuit);
      }
      return null;
    }
    const now = clock();
    const redisNow = now + this.#offset;
    let mine: Transition | null = null;
    if (own !== null && this.#countsOwn()) {
      const [next, transition] = ownSuccess(own, circuit.config, token, redisNow, slow);
      setOwn(circuit, next);
      if (isOwnToken(token)) return this.#probes.ownSettled(circuit, own, transition, now, "success");
      mine = transition;
    }
    const decide = (s: CircuitSnapshot) => recordSuccess(s, token, redisNow);
    const use = tokenUse(circuit.replica, token);
    if (use.kind === "stale") return mine;
    if (use.kind === "local" || !this.#transport.available) {
      return merged(this.#updates.decide(circuit, token, decide), mine);
    }
    const shared = use.kind === "shared" ? use.token : null;
    const counts = windowCounts(circuit, redisNow, slow ? "slow" : "success");
    const sent = this.#scripts.run("success", circuit, {
      token: shared,
      now,
      counts,
      argument: slow ? "1" : "",
      calls: true,
    });
    return sent.then((reply) => {
      if (reply === undefined) return merged(this.#updates.decide(circuit, token, decide), mine);
      const success = recordSuccess(reply.before.snapshot, coreToken(reply.before, shared), reply.now);
      return merged(this.#updates.check(circuit, reply, slow ? withRates(success, reply) : success), mine);
    });
  }

  /** Whether this process's own circuits count outcomes now: not while an outage policy other than `local` rules. */
  #countsOwn(): boolean {
    return this.#transport.available || this.#settings.onStorageError === "local";
  }

  /**
   * Hands over what a queued circuit gathered: its window's counts, and with a quorum this
   * process's presence (and whether it is open for itself). One script, publishing only a trip.
   * Unsaid while Redis is away: the recovery says the presence again (`#up`).
   */
  async #flush(circuit: ReplicaCircuit): Promise<void> {
    if (!this.#transport.available) return;
    const presence = circuit.own !== null;
    const counts = flushedCounts(circuit);
    if (counts === "" && !presence) return;
    // Hand-overs of many circuits at once (a first call of each at start-up) go a few at a time,
    // as registrations do: sent all at once, the last ones would wait past commandTimeout.
    const reply = await this.#reads.run(() =>
      this.#scripts.run("flush", circuit, { now: this.#clock(), counts, calls: true }),
    );
    if (reply === undefined) {
      // With a quorum, Redis did not hear that this process calls: said again at its next call, or,
      // when Redis went away meanwhile, as soon as it answers again (`#up`).
      circuit.announced = !presence || !this.#transport.available;
      return;
    }
    emitTransition(this.#sink, circuit.name, this.#updates.check(circuit, reply, flushTrip(reply)));
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
    const own = circuit.own;
    let mine: Transition | null = null;
    let tentative = false;
    if (own !== null && this.#countsOwn()) {
      const [next, transition] = ownFailure(own, circuit.config, token, redisNow, minOpenMs);
      setOwn(circuit, next);
      if (isOwnToken(token)) return this.#probes.ownSettled(circuit, own, transition, now, "failure", minOpenMs);
      mine = transition;
      tentative = own.snapshot.state === "closed" && next.snapshot.state !== "closed";
    }
    const use = tokenUse(circuit.replica, token);
    if (use.kind === "stale") return mine;
    if (use.kind === "local" || !this.#transport.available) {
      // With a quorum, the fleet's circuit is never tripped on this process's word: its own did it.
      if (own !== null && circuit.replica.view.state === "closed") return mine;
      return this.#updates.failure(circuit, token, redisNow, minOpenMs);
    }
    const decide = (s: CircuitSnapshot) => recordFailure(s, circuit.config, token, redisNow, undefined, minOpenMs);
    // What this failure does to the view, if Redis cannot be told after all. (With a quorum, the
    // circuit this process keeps for itself already showed it.)
    const anticipates = sync && own === null;
    const anticipated = anticipates ? decide(circuit.replica.view) : null;
    if (anticipates) setReplica(circuit, anticipateFailure(circuit.replica, circuit.config, redisNow));
    const shared = use.kind === "shared" ? use.token : null;
    const counts = windowCounts(circuit, redisNow, "failure");
    circuit.pendingFailures += 1;
    const argument = minOpenMs > 0 ? String(minOpenMs) : "";
    const call: ScriptCall = { token: shared, now, counts, argument, calls: true, tentative };
    const sent = this.#scripts.run("failure", circuit, call).finally(() => {
      circuit.pendingFailures -= 1;
    });
    return sent.then((reply) => {
      if (reply === undefined) {
        if (own !== null && circuit.replica.view.state === "closed") return mine;
        if (anticipated === null || !circuit.replica.anticipated) return this.#updates.decide(circuit, token, decide);
        // The view already shows it: it becomes the local decision.
        setReplica(circuit, decideLocally(circuit.replica, { snapshot: circuit.replica.view, events: [] }));
        return anticipated;
      }
      const expected = expectedFailure(reply, shared, minOpenMs);
      if (tentative && reply.before.snapshot.state === "closed" && reply.after.snapshot.state === "opened") {
        // This failure opened the fleet's circuit: it speaks for this process, which is not open
        // for itself as well (the script dropped that opening too).
        setOwn(circuit, ownCircuit(circuit.config));
        circuit.openSaid = false;
        mine = null;
      }
      return merged(this.#updates.check(circuit, reply, expected), mine);
    });
  }

  /** An operator's action, fleet-wide and atomic: every process holding the circuit hears it. */
  async control(c: CircuitRecord, action: ControlAction, now: number): Promise<Transition | null> {
    const circuit = c as ReplicaCircuit;
    await circuit.registering;
    const reply = await this.#scripts.run("control", circuit, { now, argument: action, rethrow: true });
    if (reply === undefined)
      throw new Error(`Redis is unavailable: cannot ${action} circuit ${circuit.name} fleet-wide`);
    return this.#updates.check(circuit, reply, control(reply.before.snapshot, action, reply.now));
  }

  /** Replaces the circuit's config fleet-wide; every process holding it adopts the new one. */
  async configure(c: CircuitRecord, config: CircuitConfig): Promise<void> {
    const circuit = c as ReplicaCircuit;
    await circuit.registering;
    const reply = await this.#scripts.run("configure", circuit, { config: encodeConfig(config), rethrow: true });
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
  controlExisting(name: string, action: ControlAction): Promise<boolean> {
    return this.#operators.controlExisting(name, action);
  }

  /**
   * Replaces the config of circuit `name` fleet-wide, held by this process or not, only if Redis
   * holds the circuit (see `controlExisting`): `false` when it does not.
   */
  configureExisting(name: string, config: CircuitConfig): Promise<boolean> {
    return this.#operators.configureExisting(name, config);
  }

  /**
   * Frees the probe slot of a cancelled call at once, in this process and then fleet-wide (its
   * lease would expire anyway).
   */
  async release(c: CircuitRecord, token: number, now: number): Promise<void> {
    const circuit = c as ReplicaCircuit;
    const own = circuit.own;
    if (isOwnToken(token)) {
      if (own !== null) setOwn(circuit, releaseOwn(own, token, now + this.#offset));
      return;
    }
    const use = tokenUse(circuit.replica, token);
    if (use.kind === "stale") return;
    setReplica(circuit, releaseLocally(circuit.replica, token, now + this.#offset));
    if (use.kind !== "shared") return;
    const released = this.#scripts.run("release", circuit, { token: use.token, now }).then(() => undefined);
    circuit.releasing = released;
    await released;
    if (circuit.releasing === released) circuit.releasing = undefined;
  }

  /**
   * Every circuit registered in Redis under this prefix, from the registry (a sorted set, no
   * SCAN), sorted; read only (a name whose keys expired stays listed until `pruneRegistry()`).
   */
  listCircuits(): Promise<string[]> {
    return this.#operators.listCircuits();
  }

  /**
   * Drops from the registry the names whose keys are gone (expired by `keyTtl`, or deleted): the
   * maintenance write that listing never does (`purgatory prune`). A circuit that a process still
   * holds is listed again by the next script that writes its key. Resolves with the names dropped.
   */
  pruneRegistry(): Promise<string[]> {
    return this.#operators.pruneRegistry();
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
  inspect(names?: readonly string[]): Promise<CircuitInfo[]> {
    return this.#operators.inspect(names);
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

  /** Redis failed: reported once per outage (`outage.ts`); with `fail-closed`, every circuit is held. */
  #down(error: unknown): void {
    if (this.#closed) return;
    this.#outage.down(error);
    if (this.#settings.onStorageError === "fail-closed") {
      for (const circuit of this.circuits.values()) this.#updates.hold(circuit, this.#clock() + this.#offset);
    }
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
    if (!this.#transport.available) return;
    // After the re-reads, which wrote every missing key anew: the listings lost are sent again.
    this.#listing.retry(this.#clock() + this.#offset);
    this.#outage.recovered();
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

  /**
   * Re-reads a circuit and adopts what Redis holds (`Resync`). A trip decided locally during an
   * outage is pushed only as "open it if the shared state has not moved since" (`reopen`), never
   * replayed.
   */
  async #reread(circuit: ReplicaCircuit): Promise<void> {
    const trip = localTrip(circuit.replica);
    await (trip === null
      ? this.#scripts.run("read", circuit, {})
      : this.#scripts.run("reopen", circuit, { token: trip.token, argument: String(trip.tripAt) }));
  }
}
