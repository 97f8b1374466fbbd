/**
 * `RedisStorage`: one circuit state for a whole fleet. Each process keeps a replica of the
 * circuits it uses (`replica.ts`); the closed success path reads only the replica; every change is
 * one Lua script that applies the state machine atomically in Redis with Redis time and fences
 * stale tokens; pub/sub and a bounded periodic re-read keep replicas fresh; an outage degrades to
 * the replica. The protocol is docs/fleet-protocol.md.
 * @module
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../../coarse-clock.js";
import type { CircuitConfig, CircuitSnapshot, Transition } from "../../core/circuit.js";
import { CLOSED_SNAPSHOT } from "../../core/circuit.js";
import {
  admit,
  checkRates,
  control,
  recordFailure,
  recordSuccess,
  ttlMs,
  type Admission,
  type ControlAction,
} from "../../core/machine.js";
import { count, countsOf, createWindow, drain, windowFor } from "../../core/window.js";
import { emitTransition, type CircuitHookArgs, type EventSink } from "../../events.js";
import { LocalCircuitsStorage } from "../local-circuits.js";
import type { CircuitRecord, CircuitStorage, MaybePromise, Registration } from "../storage.js";
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
  PENDING_REPLICA,
  releaseLocally,
  STALE_TOKEN,
  tokenUse,
  viewChanged,
  type Replica,
  type SharedToken,
  type Source,
} from "./replica.js";
import { ClockOffset } from "./clock-offset.js";
import { inspectCircuits, listCircuits, type CircuitInfo } from "./inspect.js";
import { Limiter } from "./limiter.js";
import { coreToken, encodeBuckets, withRates } from "./outcomes.js";
import type { ScriptName } from "./scripts.js";
import { RedisConfigurationError, RedisTransport } from "./transport.js";

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

/** A circuit's record in this process: the replica and the calls in flight on it. */
interface ReplicaCircuit extends CircuitRecord {
  /** The replica; `snapshot` is always its view. */
  replica: Replica;
  /** The registration round trip while it is in flight: asynchronous callers wait for it. */
  registering: Promise<void> | undefined;
  /** Probe requests this process has in flight (at most halfOpenMaxCalls: no stampede). */
  asking: number;
  /** Failures sent to Redis and not yet answered: a success meanwhile must reach Redis too. */
  pendingFailures: number;
  /** A probe Redis granted to a synchronous breaker's earlier call, for its next call. */
  grant: number | null;
  /** Whether its rate window holds counts not handed to Redis yet (it is in the flush list). */
  dirty: boolean;
  /** `encodeConfig(config)`, kept while the config is the same object. */
  encoded: { readonly config: CircuitConfig; readonly json: string } | null;
  /** A cancelled probe's release on its way to Redis: the next probe request waits for it. */
  releasing: Promise<void> | undefined;
}

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
  readonly #id = randomBytes(6).toString("base64url");
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
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resyncCursor: IterableIterator<ReplicaCircuit> | undefined;
  #messages = 0;
  #scripts = 0;
  /** Circuits whose rate windows hold counts to hand over, and the timer that will. */
  #dirty: ReplicaCircuit[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** Circuits to re-read, and the re-read under way (one at a time). */
  readonly #stale = new Set<ReplicaCircuit>();
  #resyncing: Promise<void> | undefined;
  /** Registration reads in flight at most. */
  readonly #reads = new Limiter(128);
  /** Names to add to the registry, in one ZADD per turn of the event loop. */
  #listing: [number, string][] = [];

  /** `url` or options; nothing connects before `initialize()` (or the first registration). */
  constructor(options?: string | RedisStorageOptions) {
    super();
    this.#settings = toRedisSettings(options);
    this.#keys = redisKeys(this.#settings.prefix);
    this.#transport = new RedisTransport(this.#settings, {
      message: (message) => this.#onMessage(message),
      down: (error) => this.#down(error),
      up: () => void this.#up(),
      resubscribed: (channels) => void this.#resync(this.#circuitsOf(channels)),
    });
  }

  /** The key layout in use (see the README's "Key layout"). */
  get keys(): RedisKeys {
    return this.#keys;
  }

  /** Whether Redis answers now; `false` while degraded to the local replicas. */
  get available(): boolean {
    return this.#transport.available;
  }

  /** How many circuit channels this process is subscribed to: one per circuit it holds. */
  get subscriptions(): number {
    return this.#transport.subscriptions;
  }

  /**
   * Counters of this process's traffic with Redis, for monitoring and benchmarks: the circuits
   * it holds, the channels it is subscribed to, the messages it received, the scripts it ran.
   */
  stats(): RedisStorageStats {
    return {
      circuits: this.circuits.size,
      subscriptions: this.#transport.subscriptions,
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
    this.#starting ??= this.#transport.start().then(() => this.#schedule());
    return this.#starting;
  }

  /** Ends the timers, the subscriber and the client it made; a client you passed stays open. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#flushTimer);
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
    const existing = this.circuits.get(name);
    if (existing !== undefined) {
      const registering = existing.registering;
      if (sync || registering === undefined) return { circuit: existing, created: false };
      return registering.then(() => ({ circuit: existing, created: false }));
    }
    const circuit: ReplicaCircuit = {
      name,
      config,
      snapshot: CLOSED_SNAPSHOT,
      used: true,
      forgotten: false,
      window: createWindow(config),
      replica: PENDING_REPLICA,
      registering: undefined,
      asking: 0,
      pendingFailures: 0,
      grant: null,
      dirty: false,
      encoded: null,
      releasing: undefined,
    };
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
    const reply = await this.#reads.run(() => this.#script("read", circuit, null, now));
    if (reply === undefined) {
      // Registered while Redis cannot be reached: the outage policy decides until it is back.
      if (this.#settings.onStorageError === "fail-closed") this.#hold(circuit);
      return true;
    }
    this.#list(reply.now, circuit.name);
    return reply.created;
  }

  /** Adds a name to the registry: the names registered in one turn go in one ZADD. */
  #list(score: number, name: string): void {
    if (this.#listing.length === 0) {
      queueMicrotask(() => {
        const entries = this.#listing.splice(0);
        void this.#transport.zadd(this.#keys.registry, entries).catch(() => undefined);
      });
    }
    this.#listing.push([score, name]);
  }

  /** Admission of a call on a circuit whose view is not closed. */
  admit(c: CircuitRecord, now: number, sync: boolean): MaybePromise<Admission> {
    const circuit = c as ReplicaCircuit;
    const { mode } = circuit.replica;
    if (mode === "held") return this.#busy(circuit);
    // An outage's local decisions go on until the resync after it has reached this circuit.
    if (!this.#transport.available || mode === "diverged") return this.#admitDegraded(circuit, now);
    const redisNow = now + this.#offset;
    const granted = sync ? this.#takeGrant(circuit, redisNow) : undefined;
    if (granted !== undefined) return granted;
    // The view answers what it can: while the ttl runs, or while every probe slot it knows of is
    // leased, the call is rejected without a round trip. Only a possible probe asks Redis.
    const local = admit(circuit.snapshot, circuit.config, redisNow);
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
    const reply = await this.#script("admit", circuit, null, now);
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

  /** The probe granted in the background, if its lease is still live on the view. */
  #takeGrant(circuit: ReplicaCircuit, redisNow: number): Admission | undefined {
    const grant = circuit.grant;
    if (grant === null) return undefined;
    circuit.grant = null;
    const view = circuit.snapshot;
    const live =
      view.state === "half-opened" && view.probeLeases.some((l) => l.token === grant && l.expiresAt > redisNow);
    return live ? { verdict: "probe", generation: grant, transition: null } : undefined;
  }

  /** Rejects a call: this process already asks Redis for every probe slot, or fail-closed holds it. */
  #busy(circuit: ReplicaCircuit): Admission {
    const snapshot = circuit.snapshot;
    const openedAt =
      snapshot.state === "opened" || snapshot.state === "half-opened"
        ? snapshot.openedAt
        : snapshot.state === "isolated"
          ? snapshot.since
          : 0;
    return { verdict: "reject", openedAt, retryAfterMs: ttlMs(circuit.config), transition: null };
  }

  #admitDegraded(circuit: ReplicaCircuit, now: number): Admission {
    const policy = this.#settings.onStorageError;
    if (policy === "fail-open") return { verdict: "run", generation: STALE_TOKEN, transition: null };
    if (policy === "fail-closed") return this.#busy(circuit);
    const admission = admit(circuit.snapshot, circuit.config, now + this.#offset);
    if (admission.transition !== null) this.#set(circuit, decideLocally(circuit.replica, admission.transition));
    return admission;
  }

  /**
   * A success: no I/O for a closed circuit with no failures (a rate window counts it, to be handed
   * over at the next flush); otherwise one round trip. A slow success is a round trip too, which
   * carries the window's counts: like a failure, it may be the call that reaches a trip rate.
   */
  recordSuccess(c: CircuitRecord, token: number, clock: Clock, slow = false): MaybePromise<Transition | null> {
    const circuit = c as ReplicaCircuit;
    const view = circuit.snapshot;
    if (view.state === "closed" && view.failureCount === 0 && circuit.pendingFailures === 0 && !slow) {
      const window = circuit.window;
      if (window !== undefined && window !== null) this.#countSuccess(circuit, window, clock, slow);
      return null;
    }
    const now = clock();
    const redisNow = now + this.#offset;
    const decide = (s: CircuitSnapshot) => recordSuccess(s, token, redisNow);
    const use = tokenUse(circuit.replica, token);
    if (use.kind === "stale") return null;
    if (use.kind === "local" || !this.#transport.available) return this.#degraded(circuit, token, decide);
    const shared = use.kind === "shared" ? use.token : null;
    const counts = this.#handOver(circuit, redisNow, slow ? "slow" : "success");
    return this.#script("success", circuit, shared, now, counts, slow ? "1" : "").then((reply) => {
      if (reply === undefined) return this.#degraded(circuit, token, decide);
      const success = recordSuccess(reply.before.snapshot, coreToken(reply.before, shared), reply.now);
      return this.#check(circuit, reply, slow ? withRates(success, reply) : success);
    });
  }

  /** Counts a success of a closed circuit in its window (dated by the coarse clock unless slow). */
  #countSuccess(
    circuit: ReplicaCircuit,
    window: NonNullable<CircuitRecord["window"]>,
    clock: Clock,
    slow: boolean,
  ): void {
    const now = (slow ? clock() : (clock.coarse ?? clock)()) + this.#offset;
    count(window, now, slow ? "slow" : "success");
    if (circuit.dirty) return;
    circuit.dirty = true;
    this.#dirty.push(circuit);
    if (this.#flushTimer === undefined && !this.#closed) {
      this.#flushTimer = setTimeout(() => void this.#flush(), this.#settings.flushInterval);
      this.#flushTimer.unref?.();
    }
  }

  /**
   * The counts of a closed circuit's window to hand to Redis with a script, this call counted
   * (`'start:calls:failures:slow,...'`; `''` without a window or once the circuit is not closed).
   */
  #handOver(circuit: ReplicaCircuit, redisNow: number, outcome: "success" | "failure" | "slow"): string {
    const window = circuit.window;
    if (window === undefined || window === null || circuit.snapshot.state !== "closed") return "";
    count(window, redisNow, outcome);
    return encodeBuckets(drain(window));
  }

  /** Hands the dirty windows' counts to Redis (one script each, publishing only a trip). */
  async #flush(): Promise<void> {
    this.#flushTimer = undefined;
    const dirty = this.#dirty;
    this.#dirty = [];
    await Promise.all(
      dirty.map(async (circuit) => {
        circuit.dirty = false;
        const window = circuit.window;
        if (window === undefined || window === null || circuit.forgotten) return;
        if (!this.#transport.available || circuit.replica.mode !== "synced" || circuit.snapshot.state !== "closed")
          return;
        const counts = encodeBuckets(drain(window));
        if (counts === "") return;
        const reply = await this.#script("flush", circuit, null, undefined, counts);
        if (reply === undefined) return;
        const trip =
          reply.counts === null
            ? null
            : checkRates(reply.before.snapshot, reply.before.config, reply.counts, reply.now);
        emitTransition(this.#sink, circuit.name, this.#check(circuit, reply, trip));
      }),
    );
  }

  /**
   * A failure: one round trip, which also hands over the window's counts; the script that made a
   * transition is the one told so. A synchronous caller's failure shows on the view at once
   * (`anticipateFailure`).
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
    const use = tokenUse(circuit.replica, token);
    if (use.kind === "stale") return null;
    if (use.kind === "local" || !this.#transport.available) {
      const local = window === undefined || window === null ? undefined : window;
      if (local !== undefined && circuit.snapshot.state === "closed") count(local, redisNow, "failure");
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
    // What this failure does to the view, if Redis cannot be told after all.
    const anticipated = sync ? decide(circuit.snapshot) : null;
    if (sync) this.#set(circuit, anticipateFailure(circuit.replica, circuit.config, redisNow));
    const shared = use.kind === "shared" ? use.token : null;
    const counts = this.#handOver(circuit, redisNow, "failure");
    circuit.pendingFailures += 1;
    const sent = this.#script("failure", circuit, shared, now, counts, minOpenMs > 0 ? String(minOpenMs) : "").finally(
      () => {
        circuit.pendingFailures -= 1;
      },
    );
    return sent.then((reply) => {
      if (reply === undefined) {
        if (anticipated === null || !circuit.replica.anticipated) return this.#degraded(circuit, token, decide);
        // The view already shows it: it becomes the local decision.
        this.#set(circuit, decideLocally(circuit.replica, { snapshot: circuit.snapshot, events: [] }));
        return anticipated;
      }
      const counted = reply.counts ?? undefined;
      const expected = recordFailure(
        reply.before.snapshot,
        reply.before.config,
        coreToken(reply.before, shared),
        reply.now,
        counted,
        minOpenMs,
      );
      return this.#check(circuit, reply, expected);
    });
  }

  /** An operator's action, fleet-wide and atomic: every process holding the circuit hears it. */
  async control(c: CircuitRecord, action: ControlAction, now: number): Promise<Transition | null> {
    const circuit = c as ReplicaCircuit;
    await circuit.registering;
    const reply = await this.#script("control", circuit, null, now, "", action);
    if (reply === undefined)
      throw new Error(`Redis is unavailable: cannot ${action} circuit ${circuit.name} fleet-wide`);
    return this.#check(circuit, reply, control(reply.before.snapshot, action, reply.now));
  }

  /** Replaces the circuit's config fleet-wide; every process holding it adopts the new one. */
  async configure(c: CircuitRecord, config: CircuitConfig): Promise<void> {
    const circuit = c as ReplicaCircuit;
    await circuit.registering;
    const reply = await this.#script("configure", circuit, null, undefined, "", "", encodeConfig(config));
    if (reply === undefined)
      throw new Error(`Redis is unavailable: cannot reconfigure circuit ${circuit.name} fleet-wide`);
  }

  /**
   * Frees the probe slot of a cancelled call at once, in this process and then fleet-wide (its
   * lease would expire anyway).
   */
  async release(c: CircuitRecord, token: number, now: number): Promise<void> {
    const circuit = c as ReplicaCircuit;
    const use = tokenUse(circuit.replica, token);
    if (use.kind === "stale") return;
    this.#set(circuit, releaseLocally(circuit.replica, token, now + this.#offset));
    if (use.kind !== "shared") return;
    const released = this.#script("release", circuit, use.token, now).then(() => undefined);
    circuit.releasing = released;
    await released;
    if (circuit.releasing === released) circuit.releasing = undefined;
  }

  /**
   * Every circuit registered in Redis under this prefix, from the registry (a sorted set, no
   * SCAN). Names whose keys expired (`keyTtl`) are dropped from the registry on the way.
   */
  async listCircuits(): Promise<string[]> {
    await this.initialize();
    return listCircuits(this.#transport.client as RedisClient, this.#keys);
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
   * Runs a script with the caller's token (`null`: a placeholder or none), the window counts it
   * hands over, and its own argument; `undefined` when Redis is unavailable or its data is
   * unusable (reported as `storage_error`). The replica learns the reply here, before the caller
   * sees it: every reply is learned the same number of microtasks after it arrives, so in the order
   * Redis ran the scripts. (Learned by each caller, a re-read's reply could be learned before the
   * reply of a call that ran before it, and this process's own trip be reported as remote.)
   */
  async #script(
    script: ScriptName,
    circuit: ReplicaCircuit,
    token: SharedToken | null,
    now: number | undefined,
    counts = "",
    argument = "",
    config = this.#encoded(circuit),
  ): Promise<ScriptReply | undefined> {
    if (!this.#transport.available) return undefined;
    this.#scripts += 1;
    try {
      const raw = await this.#transport.script(script, this.#keys.circuit(circuit.name), [
        this.#keys.channel(circuit.name),
        this.#settings.keyTtlMs,
        config,
        token?.incarnation ?? "",
        token?.generation ?? -1,
        this.#id,
        circuit.name,
        this.#transport.publishCommand,
        counts,
        argument,
      ]);
      const reply = parseReply(raw);
      if (now !== undefined) this.#offset = this.#offsets.add(reply.now - now);
      this.#learn(circuit, reply, LEARNING[script]);
      return reply;
    } catch (error) {
      if (!this.#closed && isReplyError(error)) {
        this.#emit(circuit.name, "storage_error", { name: circuit.name, storage: "redis", error });
      }
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
    const transition = decide(circuit.snapshot);
    if (transition !== null) this.#set(circuit, decideLocally(replica, transition));
    return transition;
  }

  /** The shared config wins (the first registration, or a reconfigure, fixed it fleet-wide). */
  #takeConfig(circuit: ReplicaCircuit, config: CircuitConfig): void {
    if (circuit.encoded !== null && circuit.encoded.json === encodeConfig(config)) return;
    circuit.config = config;
    circuit.encoded = null;
    circuit.window = windowFor(config, circuit.window);
  }

  #set(circuit: ReplicaCircuit, replica: Replica): void {
    circuit.replica = replica;
    circuit.snapshot = replica.view;
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
    const { name, snapshot } = circuit;
    const openedAt = snapshot.state === "opened" ? snapshot.openedAt : null;
    this.#emit(name, "state_changed", { name, state: snapshot.state, openedAt, remote: true });
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
    await this.#resync([...this.circuits.values()]);
    if (!this.#transport.available || !this.#outageReported) return;
    this.#outageReported = false;
    this.#refusalReported = false;
    this.#emit("*", "storage_recovered", { name: "*", storage: "redis" });
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    const delay = this.#settings.resyncInterval * (0.5 + Math.random());
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref?.();
  }

  async #tick(): Promise<void> {
    try {
      if (this.#transport.available) await this.#resync(this.#nextBatch());
    } finally {
      this.#schedule();
    }
  }

  #nextBatch(): ReplicaCircuit[] {
    const batch: ReplicaCircuit[] = [];
    for (let wrapped = false; batch.length < this.#settings.resyncBatch;) {
      this.#resyncCursor ??= this.circuits.values();
      const next = this.#resyncCursor.next();
      if (!next.done) {
        batch.push(next.value);
        continue;
      }
      this.#resyncCursor = undefined;
      if (wrapped || this.circuits.size === 0) break;
      wrapped = true;
    }
    return [...new Set(batch)];
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
   * Re-reads circuits and adopts what Redis holds; resolves once they (and any queued meanwhile)
   * are read. One re-read runs at a time, `resyncBatch` circuits at once: a burst of reasons to
   * re-read (every master of a Cluster reconnecting, a reshard moving slot after slot) queues
   * each circuit once, not a re-read per reason. A trip decided locally during an outage is
   * pushed only as "open it if the shared state has not moved since" (`reopen`), never replayed.
   */
  #resync(circuits: readonly ReplicaCircuit[]): Promise<void> {
    // A circuit whose registration is in flight is read by it (and must be created by it).
    for (const circuit of circuits) if (circuit.registering === undefined) this.#stale.add(circuit);
    this.#resyncing ??= this.#readStale().finally(() => {
      this.#resyncing = undefined;
    });
    return this.#resyncing;
  }

  async #readStale(): Promise<void> {
    const size = this.#settings.resyncBatch;
    while (this.#stale.size > 0 && !this.#closed) {
      const batch: ReplicaCircuit[] = [];
      for (const circuit of this.#stale) {
        this.#stale.delete(circuit);
        batch.push(circuit);
        if (batch.length === size) break;
      }
      await Promise.all(
        batch.map(async (circuit) => {
          const { replica } = circuit;
          const push = replica.mode === "diverged" && replica.since !== null && replica.view.state === "opened";
          await (push
            ? this.#script("reopen", circuit, replica.since, undefined)
            : this.#script("read", circuit, null, undefined));
        }),
      );
    }
  }
}
