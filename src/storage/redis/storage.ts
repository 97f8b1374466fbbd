/**
 * `RedisStorage`: one circuit state for a whole fleet. Each process keeps a replica of the
 * circuits it uses; the closed success path reads only the replica; every change is one Lua
 * script that applies the state machine atomically in Redis with Redis time; pub/sub and a
 * bounded periodic re-read keep replicas fresh; an outage degrades to the replica.
 * @module
 */
import { randomUUID } from "node:crypto";
import type { CircuitConfig, CircuitSnapshot, Transition } from "../../core/circuit.js";
import { CLOSED_SNAPSHOT } from "../../core/circuit.js";
import { admit, recordFailure, recordSuccess, ttlMs, type Admission } from "../../core/machine.js";
import { emitTransition, type CircuitHookArgs, type EventSink } from "../../events.js";
import { LocalCircuitsStorage } from "../local-circuits.js";
import type { CircuitRecord, CircuitStorage, MaybePromise, Registration } from "../storage.js";
import { CorruptStateError, isReplyError, parseMessage, parseReply, sameSnapshot, type ScriptReply } from "./codec.js";
import { redisKeys, type RedisKeys } from "./keys.js";
import {
  makeClient,
  toRedisSettings,
  type RedisClient,
  type RedisSettings,
  type RedisStorageOptions,
} from "./options.js";
import { runScript, withTimeout, type ScriptName } from "./scripts.js";

/** A circuit's replica in this process. */
interface ReplicaCircuit extends CircuitRecord {
  /** Version of the shared state the snapshot reflects (0: none seen yet). */
  version: number;
  /** Probe requests this process has in flight (at most halfOpenMaxCalls: no stampede). */
  asking: number;
  /** Failures sent to Redis and not yet answered: a success meanwhile must reach Redis too. */
  pendingFailures: number;
  /** A probe Redis granted to a synchronous breaker's earlier call, for its next call. */
  grant: number | null;
  /** Changed locally while Redis was unavailable; `sharedGeneration` is what Redis had then. */
  unsynced: boolean;
  sharedGeneration: number;
}

type Emit = (...args: CircuitHookArgs) => void;

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
  readonly #id = randomUUID();
  readonly #emitters = new Set<Emit>();
  /** The subscribers, as a sink for `emitTransition`. */
  readonly #sink: EventSink = { emit: (...args) => this.#emit(...args) };
  #client: RedisClient | undefined;
  #subscriber: RedisClient | undefined;
  #starting: Promise<void> | undefined;
  #available = false;
  #outageReported = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #subscribed = false;
  #checking: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #offset = 0;
  #resyncCursor: IterableIterator<ReplicaCircuit> | undefined;

  /** `url` or options; nothing connects before `initialize()` (or the first registration). */
  constructor(options?: string | RedisStorageOptions) {
    super();
    this.#settings = toRedisSettings(options);
    this.#keys = redisKeys(this.#settings.prefix);
  }

  /** The key layout in use (see the README's "Key layout"). */
  get keys(): RedisKeys {
    return this.#keys;
  }

  /** Whether Redis answers now; `false` while degraded to the local replicas. */
  get available(): boolean {
    return this.#available;
  }

  /**
   * Connects the command client and the pub/sub subscriber. Resolves even when Redis is down:
   * the storage then starts degraded, reports `storage_unavailable`, and reconnects by itself.
   * Rejects only for set-up errors (ioredis missing).
   */
  initialize(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const client = this.#settings.client ?? (await makeClient(this.#settings));
    this.#client = client;
    client.on("error", () => undefined);
    client.on("close", () => {
      if (this.#available) this.#unavailable(new Error("the connection to Redis closed"));
    });
    const subscriber = client.duplicate();
    this.#subscriber = subscriber;
    subscriber.on("error", () => undefined);
    subscriber.on("message", (channel, message) => {
      if (channel === this.#keys.channel && typeof message === "string") this.#onMessage(message);
    });
    // A reconnection may have missed messages: re-read everything once it is back.
    subscriber.on("ready", () => void this.#healthCheck());
    try {
      if (this.#settings.client === undefined) await client.connect();
      if (subscriber.status === "wait") await subscriber.connect();
      await subscriber.subscribe(this.#keys.channel);
      this.#subscribed = true;
      this.#available = true;
    } catch (error) {
      this.#unavailable(error);
    }
    this.#schedule();
  }

  /** Ends the timer, the subscriber and the client it made; a client you passed stays open. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#starting?.catch(() => undefined);
    const quit = async (c: RedisClient | undefined) => {
      if (c === undefined) return;
      try {
        await withTimeout(c.quit(), this.#settings.commandTimeout);
      } catch {
        c.disconnect();
      }
    };
    await quit(this.#subscriber);
    if (this.#settings.client === undefined) await quit(this.#client);
  }

  /** Adds a function the storage calls with remote transitions and outage reports. */
  subscribe(emit: Emit): () => void {
    this.#emitters.add(emit);
    return () => this.#emitters.delete(emit);
  }

  /** First registration wins fleet-wide; a synchronous caller gets the replica at once. */
  register(name: string, config: CircuitConfig, now: number, sync: boolean): MaybePromise<Registration> {
    const existing = this.circuits.get(name);
    if (existing !== undefined) return { circuit: existing, created: false };
    const circuit: ReplicaCircuit = {
      name, config, snapshot: CLOSED_SNAPSHOT, used: true, forgotten: false,
      version: 0, asking: 0, pendingFailures: 0, grant: null, unsynced: false, sharedGeneration: 0,
    };
    this.circuits.add(circuit);
    if (this.#outageReported) this.#closeForOutage(circuit);
    const registered = this.#registerShared(circuit, now);
    if (!sync) return registered.then((created) => ({ circuit, created }));
    registered.catch((error: unknown) => this.#emit(name, "storage_error", { name, storage: "redis", error }));
    return { circuit, created: true };
  }

  async #registerShared(circuit: ReplicaCircuit, now: number): Promise<boolean> {
    await this.initialize();
    const reply = await this.#run("register", circuit, -1, now);
    if (reply === undefined) {
      // Registered while Redis is unavailable: the circuit lives on its replica until Redis is back.
      circuit.unsynced = true;
      this.#closeForOutage(circuit);
      return true;
    }
    // An existing circuit may be opened already: the replica starts from the shared state.
    if (reply.after.version > circuit.version) this.#replace(circuit, reply.after.snapshot, reply.after.version, true);
    void this.#client?.zadd(this.#keys.registry, reply.now, circuit.name).catch(() => undefined);
    return reply.before.version === 0;
  }

  /** Admission of a call on a circuit whose replica is not closed. */
  admit(c: CircuitRecord, now: number, sync: boolean): MaybePromise<Admission> {
    const circuit = c as ReplicaCircuit;
    if (!this.#available) return this.#admitDegraded(circuit, now);
    // The replica answers what it can: while the ttl runs, or while every probe slot it knows of
    // is leased, the call is rejected without a round trip. Only a possible probe asks Redis.
    const local = admit(circuit.snapshot, circuit.config, now + this.#offset);
    if (local.verdict !== "probe") return local;
    if (sync) return this.#admitSync(circuit, now);
    if (circuit.asking >= circuit.config.halfOpenMaxCalls) return this.#busy(circuit);
    circuit.asking += 1;
    return this.#askProbe(circuit, now).finally(() => {
      circuit.asking -= 1;
    });
  }

  async #askProbe(circuit: ReplicaCircuit, now: number): Promise<Admission> {
    const reply = await this.#run("admit", circuit, -1, now);
    if (reply === undefined) return this.#admitDegraded(circuit, now);
    const admission = admit(reply.before.snapshot, reply.config, reply.now);
    this.#check(circuit, admission.transition?.snapshot ?? reply.before.snapshot, reply);
    return admission;
  }

  /** A synchronous caller cannot wait: its call asks Redis in the background and is rejected;
   * a probe Redis grants is kept for this process's next call. */
  #admitSync(circuit: ReplicaCircuit, now: number): Admission {
    const grant = circuit.grant;
    if (grant !== null && grant === circuit.snapshot.generation) {
      circuit.grant = null;
      return { verdict: "probe", generation: grant, transition: null };
    }
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

  /** Rejects a call while this process already asks Redis for every probe slot. */
  #busy(circuit: ReplicaCircuit): Admission {
    const snapshot = circuit.snapshot;
    const openedAt = snapshot.state === "closed" ? 0 : snapshot.openedAt;
    return { verdict: "reject", openedAt, retryAfterMs: ttlMs(circuit.config), transition: null };
  }

  #admitDegraded(circuit: ReplicaCircuit, now: number): Admission {
    const policy = this.#settings.onStorageError;
    const snapshot = circuit.snapshot;
    if (policy === "fail-open") return { verdict: "run", generation: snapshot.generation, transition: null };
    if (policy === "fail-closed") return this.#busy(circuit);
    const admission = admit(snapshot, circuit.config, now + this.#offset);
    this.#local(circuit, admission.transition);
    return admission;
  }

  /** A success: nothing to do (and no I/O) for a closed circuit with no failures. */
  recordSuccess(c: CircuitRecord, generation: number): MaybePromise<Transition | null> {
    const circuit = c as ReplicaCircuit;
    const local = recordSuccess(circuit.snapshot, generation);
    if (local === null && circuit.pendingFailures === 0) return null;
    if (!this.#available) return this.#degraded(circuit, local);
    return this.#run("success", circuit, generation, undefined).then((reply) =>
      reply === undefined ? this.#degraded(circuit, recordSuccess(circuit.snapshot, generation)) : this.#adopt(circuit, reply, recordSuccess(reply.before.snapshot, generation)),
    );
  }

  /** A failure: one round trip; the script that made a transition is the one told so. */
  recordFailure(c: CircuitRecord, generation: number, now: number): MaybePromise<Transition | null> {
    const circuit = c as ReplicaCircuit;
    if (circuit.snapshot.generation !== generation) return null;
    if (!this.#available) {
      return this.#degraded(circuit, recordFailure(circuit.snapshot, circuit.config, generation, now + this.#offset));
    }
    circuit.pendingFailures += 1;
    const sent = this.#run("failure", circuit, generation, now).finally(() => {
      circuit.pendingFailures -= 1;
    });
    return sent.then((reply) => {
      if (reply === undefined) {
        return this.#degraded(circuit, recordFailure(circuit.snapshot, circuit.config, generation, now + this.#offset));
      }
      return this.#adopt(circuit, reply, recordFailure(reply.before.snapshot, reply.config, generation, reply.now));
    });
  }




  /**
   * Every circuit registered in Redis under this prefix, from the registry (a sorted set, no
   * SCAN). Names whose keys expired (`keyTtl`) are dropped from the registry on the way.
   */
  async listCircuits(): Promise<string[]> {
    await this.initialize();
    const client = this.#client as RedisClient;
    const names = await client.zrange(this.#keys.registry, 0, -1);
    const exists = await Promise.all(names.map((name) => client.exists(this.#keys.circuit(name))));
    const gone = names.filter((_, i) => exists[i] === 0);
    if (gone.length > 0) await client.zrem(this.#keys.registry, ...gone);
    return names.filter((_, i) => exists[i] !== 0).sort();
  }

  // --- script calls and replica updates ------------------------------------------------------

  /** Runs a script; `undefined` when Redis is unavailable or the data is unusable (reported). */
  async #run(script: ScriptName, circuit: ReplicaCircuit, generation: number, now: number | undefined): Promise<ScriptReply | undefined> {
    const client = this.#client;
    if (client === undefined || !this.#available) return undefined;
    const { threshold, halfOpenMaxCalls } = circuit.config;
    try {
      const sent = runScript(client, script, this.#keys.circuit(circuit.name), [
        this.#keys.channel, this.#settings.keyTtlMs, threshold, ttlMs(circuit.config), halfOpenMaxCalls,
        generation, this.#id, circuit.name,
      ]);
      // A client we made has ioredis's commandTimeout; one you pass gets ours.
      const raw = await (this.#settings.client === undefined ? sent : withTimeout(sent, this.#settings.commandTimeout));
      const reply = parseReply(raw);
      if (now !== undefined) this.#offset = reply.now - now;
      if (script === "register") circuit.config = reply.config;
      return reply;
    } catch (error) {
      if (this.#closed) return undefined;
      if (isReplyError(error)) {
        this.#emit(circuit.name, "storage_error", { name: circuit.name, storage: "redis", error });
      } else {
        this.#unavailable(error);
      }
      return undefined;
    }
  }

  /** Takes the state a script left, and returns the transition the core derived for it. */
  #adopt(circuit: ReplicaCircuit, reply: ScriptReply, transition: Transition | null): Transition | null {
    this.#check(circuit, transition?.snapshot ?? reply.before.snapshot, reply);
    return transition;
  }

  /** Stores the script's state; reports a script that disagrees with the core (a bug). */
  #check(circuit: ReplicaCircuit, expected: CircuitSnapshot, reply: ScriptReply): void {
    if (reply.after.version > circuit.version) {
      // What the script found was made by other processes: a transition this replica learns
      // here (before its pub/sub message) reaches the hooks as remote, once.
      if (reply.before.version > circuit.version) {
        this.#replace(circuit, reply.before.snapshot, reply.before.version, true);
      }
      circuit.snapshot = reply.after.snapshot;
      circuit.version = reply.after.version;
    }
    if (!sameSnapshot(expected, reply.after.snapshot)) {
      const error = new CorruptStateError(
        `script and state machine disagree: ${JSON.stringify(reply.after.snapshot)} vs ${JSON.stringify(expected)}`,
      );
      this.#emit(circuit.name, "storage_error", { name: circuit.name, storage: "redis", error });
    }
  }

  /** Applies a transition decided locally while Redis is unavailable. */
  #degraded(circuit: ReplicaCircuit, transition: Transition | null): Transition | null {
    if (this.#settings.onStorageError === "fail-open") return null;
    this.#local(circuit, transition);
    return transition;
  }

  #local(circuit: ReplicaCircuit, transition: Transition | null): void {
    if (transition === null) return;
    if (!circuit.unsynced) {
      circuit.unsynced = true;
      circuit.sharedGeneration = circuit.snapshot.generation;
    }
    circuit.snapshot = transition.snapshot;
  }

  #onMessage(message: string): void {
    let parsed;
    try {
      parsed = parseMessage(message);
    } catch (error) {
      this.#emit("*", "storage_error", { name: "*", storage: "redis", error });
      return;
    }
    const circuit = this.circuits.get(parsed.name);
    if (circuit === undefined || parsed.version <= circuit.version || circuit.unsynced) return;
    this.#replace(circuit, parsed.snapshot, parsed.version, parsed.source !== this.#id);
  }

  /** Replaces a replica's state learned from Redis; a remote state change reaches the hooks. */
  #replace(circuit: ReplicaCircuit, snapshot: CircuitSnapshot, version: number, remote: boolean): void {
    const before = circuit.snapshot;
    circuit.snapshot = snapshot;
    circuit.version = version;
    if (remote && before.state !== snapshot.state) {
      const openedAt = snapshot.state === "opened" ? snapshot.openedAt : null;
      this.#emit(circuit.name, "state_changed", { name: circuit.name, state: snapshot.state, openedAt, remote: true });
    }
  }

  #emit(...args: CircuitHookArgs): void {
    for (const emit of this.#emitters) emit(...args);
  }

  // --- availability, resync and reconciliation -----------------------------------------------

  #unavailable(error: unknown): void {
    if (this.#closed) return;
    this.#available = false;
    if (!this.#outageReported) {
      this.#outageReported = true;
      this.#emit("*", "storage_unavailable", { name: "*", storage: "redis", error });
    }
    for (const circuit of this.circuits.values()) this.#closeForOutage(circuit);
    this.#schedule();
  }

  /**
   * With `onStorageError: "fail-closed"`, a circuit behaves as opened while Redis is unavailable
   * (reported to hooks as a remote `state_changed`); the resync on recovery restores the real state.
   */
  #closeForOutage(circuit: ReplicaCircuit): void {
    if (this.#settings.onStorageError !== "fail-closed" || circuit.snapshot.state !== "closed") return;
    const { generation, failureCount } = circuit.snapshot;
    const openedAt = Date.now() + this.#offset;
    // Version 0: whatever Redis says once it is back replaces this state.
    this.#replace(circuit, { state: "opened", generation, failureCount, openedAt }, 0, true);
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    const { resyncInterval, healthCheckInterval } = this.#settings;
    const delay = this.#available ? resyncInterval * (0.5 + Math.random()) : healthCheckInterval;
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref?.();
  }

  async #tick(): Promise<void> {
    if (this.#available) await this.#resync(this.#nextBatch());
    else await this.#healthCheck();
    this.#schedule();
  }

  #nextBatch(): ReplicaCircuit[] {
    const batch: ReplicaCircuit[] = [];
    for (let wrapped = false; batch.length < this.#settings.resyncBatch; ) {
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

  /** Re-reads circuits; pushes trips made during an outage if Redis's generation has not moved. */
  async #resync(circuits: readonly ReplicaCircuit[]): Promise<void> {
    await Promise.all(
      circuits.map(async (circuit) => {
        if (!circuit.unsynced) {
          const reply = await this.#run("read", circuit, -1, undefined);
          if (reply !== undefined && reply.after.version > circuit.version) {
            this.#replace(circuit, reply.after.snapshot, reply.after.version, true);
          }
          return;
        }
        const trippedHere = circuit.snapshot.state === "opened";
        const script = trippedHere ? "reopen" : "read";
        const reply = await this.#run(script, circuit, circuit.sharedGeneration, undefined);
        if (reply === undefined) return;
        circuit.unsynced = false;
        this.#replace(circuit, reply.after.snapshot, reply.after.version, true);
      }),
    );
  }

  /** Connects and subscribes the subscriber if that never succeeded (Redis down at start). */
  async #subscribe(): Promise<boolean> {
    const subscriber = this.#subscriber;
    if (subscriber === undefined) return false;
    if (subscriber.status === "wait") await withTimeout(subscriber.connect(), this.#settings.commandTimeout * 4);
    if (subscriber.status !== "ready") return false;
    if (!this.#subscribed) {
      await withTimeout(subscriber.subscribe(this.#keys.channel), this.#settings.commandTimeout);
      this.#subscribed = true;
    }
    return true;
  }

  /** One health check at a time (the timer and the subscriber's "ready" both start one). */
  #healthCheck(): Promise<void> {
    this.#checking ??= this.#checkHealth().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #checkHealth(): Promise<void> {
    const client = this.#client;
    if (this.#closed || this.#available || client === undefined || !this.#outageReported) return;
    try {
      await withTimeout(client.ping(), this.#settings.commandTimeout);
      if (!(await this.#subscribe())) return;
    } catch {
      return;
    }
    this.#available = true;
    await this.#resync([...this.circuits.values()]);
    if (!this.#available) return;
    this.#outageReported = false;
    this.#emit("*", "storage_recovered", { name: "*", storage: "redis" });
  }
}
