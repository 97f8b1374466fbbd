/**
 * What both factories share: defaults, hooks, the storage, registration (under `maxCircuits`)
 * and forgetting, the idle sweep, and the pools of `purgatory/fetch`.
 *
 * Past 400 lines because registration, forgetting and the bounds on circuits decide together over
 * the same private state (the shared breakers, the `maxCircuits` sweep, the pools): the data
 * structures of the bounds live apart (`circuit-limits.ts`), the decisions here.
 * @module
 */
import { AsyncCircuitBreaker } from "../breaker/async.js";
import { type BreakerContext } from "../breaker/base.js";
import { SyncCircuitBreaker } from "../breaker/sync.js";
import { CallListeners, type CallListener } from "../calls.js";
import { circuitConfig, type CircuitConfig, type CircuitScope, type CircuitStateName } from "../core/circuit.js";
import { isForgettable } from "../core/machine.js";
import { CircuitLimit, CircuitPool, FREED, type PoolEntry } from "./limits.js";
import { Deadlines } from "../timing/deadlines.js";
import { TrafficRecorder } from "./traffic-recorder.js";
import { CircuitLimitError, FactoryClosedError, InvalidOptionError, StorageUnavailableError } from "../errors.js";
import {
  disposer,
  Hooks,
  type CircuitHook,
  type CircuitHookArgs,
  type ForgetReason,
  type ListenerDisposer,
} from "../events.js";
import { NO_EXCLUDE } from "../exclude.js";
import { checkName, secondsToMs } from "../options/checks.js";
import {
  toBreakerSettings,
  toFactorySettings,
  toInitializeSettings,
  type BreakerSettings,
  type CallRules,
  type FactorySettings,
} from "../options/settings.js";
import type { FactoryOptions, InitializeOptions } from "../options/types.js";
import { applyChanges, checkConfigCoherence, type ConfigChanges } from "../options/policies.js";
import { saveCircuits, type SavedCircuits } from "../storage/saved.js";
import {
  isPromise,
  type CircuitRecord,
  type CircuitStorage,
  type MaybePromise,
  type Registration,
} from "../storage/storage.js";

/** What both factories share: defaults, hooks, the storage, registration and forgetting. */
export abstract class CircuitBreakerFactoryBase<B extends AsyncCircuitBreaker | SyncCircuitBreaker> {
  /** @internal */ protected readonly settings: FactorySettings;
  /** @internal */ protected readonly context: BreakerContext;
  /** @internal Breakers with no rules of their own (the factory's), one per circuit. */
  protected readonly breakers = new Map<string, B>();
  /**
   * @internal The rules of calls that give none: no `exclude` of their own, the factory's
   * `isFailure` and `defaultTimeout`, no fallback.
   */
  protected readonly baseRules: CallRules;
  readonly #deadlines = new Deadlines();
  readonly #hooks = new Hooks();
  readonly #calls = new CallListeners();
  readonly #sync: boolean;
  #lastSweep: number;
  #closing: Promise<void> | undefined;
  readonly #unsubscribe: (() => void) | undefined;
  readonly #detachTraffic: (() => void) | undefined;
  /** `maxCircuits`: the circuits this factory holds, swept like a clock; `null` without a bound. */
  readonly #limit: CircuitLimit | null;
  /** Why the storage last became unavailable (its `storage_unavailable` event), until it recovers. */
  #outage: unknown;

  /** @internal */
  protected constructor(options: FactoryOptions | undefined, sync: boolean) {
    this.settings = toFactorySettings(options, sync);
    this.#sync = sync;
    for (const hook of this.settings.listeners) this.#hooks.add(hook);
    const { storage, clock, exclude } = this.settings;
    this.context = {
      storage,
      clock,
      exclude,
      hooks: this.#hooks,
      calls: this.#calls,
      reattach: (name, config) => this.#register(name, config, (r) => r.circuit),
      deadlines: this.#deadlines,
    };
    const timeout = this.settings.timeout;
    this.baseRules = {
      exclude: NO_EXCLUDE,
      isFailure: this.settings.isFailure,
      timeoutMs: timeout === null ? null : secondsToMs(timeout),
      fallback: null,
      retryAfter: null,
    };
    this.#lastSweep = clock();
    const { maxCircuits, idleTtl } = this.settings;
    this.#limit = maxCircuits === null ? null : new CircuitLimit(maxCircuits, idleTtl !== null, storage);
    this.#unsubscribe = storage.subscribe?.((...args) => this.#fromStorage(args), clock);
    // A storage that shows the fleet's traffic: calls are counted while somebody watches.
    this.#detachTraffic = storage.attachTraffic?.(new TrafficRecorder((listener) => this.addCallListener(listener)));
  }

  /** An event a storage reports (a remote transition, its health): to the hooks, noting an outage's cause. */
  #fromStorage(args: CircuitHookArgs): void {
    if (args[1] === "storage_unavailable") this.#outage = args[2].error;
    else if (args[1] === "storage_recovered") this.#outage = undefined;
    this.#hooks.emit(...args);
  }

  /** @internal Makes a breaker over `circuit`, judging its calls by `rules`. */
  protected abstract makeBreaker(circuit: CircuitRecord, rules: CallRules): B;

  /** The defaults new circuits get: `{ threshold, ttl, halfOpenMaxCalls }`. */
  get defaults(): CircuitConfig {
    return this.settings.config;
  }

  /**
   * Changes the config of circuit `name`: `threshold`, `ttl`, `halfOpenMaxCalls`, and the
   * policies (`failureRate`, `slowCall`, `backoff`; `null` removes one). Fleet-wide and atomic
   * over Redis: every process holding the circuit adopts it. A circuit this process does not hold
   * yet is registered first. An opening in progress keeps its retry time.
   *
   * @example
   * ```ts
   * await circuitbreaker.reconfigure("api.example.com", { threshold: 10, ttl: 60 });
   * ```
   */
  async reconfigure(name: string, changes: ConfigChanges): Promise<void> {
    checkName(name);
    if (this.#closing !== undefined) throw new FactoryClosedError(name);
    const { storage, config } = this.settings;
    if (storage.configure === undefined)
      throw new TypeError("The storage cannot reconfigure circuits (it has no configure method)");
    const known = storage.get(name);
    const circuit =
      known !== undefined && !known.forgotten ? known : await this.#register(name, config, (r) => r.circuit);
    await storage.configure(circuit, applyChanges(circuit.config, changes));
  }

  /**
   * Connects the storage; a no-op in memory. Rejects with `FactoryClosedError` after `close()`.
   *
   * A storage that cannot reach its server (`RedisStorage` with Redis down) still resolves: it
   * works degraded on this process's local state and reconnects by itself. With
   * `{ requireStorage: true }` it rejects instead, with `StorageUnavailableError` naming the
   * storage (its URL, password masked) and the cause: for an application that would rather not
   * start than start without the shared state. The storage keeps trying to reconnect after that
   * rejection; call `initialize({ requireStorage: true })` again to check again, or `close()`.
   * Bad options reject with `InvalidOptionError`.
   *
   * @example
   * ```ts
   * const circuitbreaker = new AsyncCircuitBreakerFactory({ storage: new RedisStorage(process.env.REDIS_URL) });
   * await circuitbreaker.initialize({ requireStorage: true }); // StorageUnavailableError when Redis is down
   * ```
   */
  initialize(options?: InitializeOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new FactoryClosedError());
    let requireStorage: boolean;
    try {
      ({ requireStorage } = toInitializeSettings(options));
    } catch (error) {
      return Promise.reject(error);
    }
    const { storage } = this.settings;
    const started = storage.initialize();
    if (!requireStorage) return started;
    return started.then(() => {
      if (storage.available === false) throw new StorageUnavailableError(storageLabel(storage), this.#outage);
    });
  }

  /**
   * `maxCircuits`: the most circuits this factory holds in this process; `null` without a bound.
   *
   * @example
   * ```ts
   * new AsyncCircuitBreakerFactory({ maxCircuits: 10_000 }).maxCircuits; // 10000
   * ```
   */
  get maxCircuits(): number | null {
    return this.settings.maxCircuits;
  }

  /**
   * Closes the storage (its connections, subscriptions and timers) and clears the timer of call
   * timeouts (calls still running then no longer time out). From then on every call that uses a
   * circuit, new or known, fails with `FactoryClosedError`: `getBreaker`, `run`, decorated
   * functions and the breakers handed out before, and so does `initialize()`. Calling `close()`
   * again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  #close(): Promise<void> {
    this.#unsubscribe?.();
    this.#detachTraffic?.();
    this.#deadlines.close();
    this.breakers.clear();
    this.#limit?.clear();
    // Breakers handed out hold their circuit's record: marked forgotten, it sends their next call
    // to registration, which fails with FactoryClosedError. The closed-circuit fast path stays a
    // single check.
    const { storage } = this.settings;
    for (const name of [...storage.names()]) {
      const circuit = storage.get(name);
      if (circuit !== undefined) circuit.forgotten = true;
    }
    return storage.close();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Adds a monitoring hook, called as `hook(circuitName, eventType, event)` for every event.
   * Returns a function that removes this registration again (also a `Disposable`, for `using`);
   * `removeListener(hook)` works too.
   *
   * @example
   * ```ts
   * const stop = factory.addListener((name, type, event) => console.log(name, type, event));
   * stop();
   * ```
   */
  addListener(hook: CircuitHook): ListenerDisposer {
    if (typeof hook !== "function") throw new InvalidOptionError("hook", hook, "a function");
    this.#hooks.add(hook);
    return disposer(() => this.#hooks.remove(hook));
  }

  /**
   * Adds a call listener, called as `listener(circuitName, outcome, durationMs)` once per guarded
   * call of this factory (see `CallListener`): what metrics count and time. Returns a function
   * that removes this registration again (also a `Disposable`); `removeCallListener` works too.
   * While one listens, calls are timed (two clock readings per call).
   *
   * @example
   * ```ts
   * const stop = circuitbreaker.addCallListener((name, outcome, ms) => console.log(name, outcome, ms));
   * ```
   */
  addCallListener(listener: CallListener): ListenerDisposer {
    if (typeof listener !== "function") throw new InvalidOptionError("listener", listener, "a function");
    this.#calls.add(listener);
    return disposer(() => this.#calls.remove(listener));
  }

  /** Removes a listener added by `addCallListener`; throws `InvalidOptionError` if it is not listening. */
  removeCallListener(listener: CallListener): void {
    if (!this.#calls.remove(listener)) {
      throw new InvalidOptionError("listener", listener, "a call listener that was added with addCallListener");
    }
  }

  /** Removes a hook added by `addListener`; throws `InvalidOptionError` if it is not listening. */
  removeListener(hook: CircuitHook): void {
    if (!this.#hooks.remove(hook)) {
      throw new InvalidOptionError("hook", hook, "a hook that was added with addListener");
    }
  }

  /** Names of the circuits this factory's storage knows in this process. */
  circuitNames(): string[] {
    return [...this.settings.storage.names()];
  }

  /**
   * The state of each circuit this factory's storage holds in this process, read from its local
   * record at the time of the call: with a shared storage (Redis), this process's replica, which
   * transitions made by other processes update too. A cheap read for metrics (what
   * `purgatory/prometheus` and `purgatory/otel` read at each scrape), copying no config or
   * snapshot, unlike `toJSON()`. Time is compared lazily: an opened circuit whose `ttl` is over
   * reads `"opened"` until a call moves it to `"half-opened"`. A process open for itself (a
   * circuit with a `quorum`) reads the state it keeps for itself: `circuitScopes()` says which.
   *
   * @example
   * ```ts
   * for (const [name, state] of circuitbreaker.circuitStates()) console.log(name, state);
   * ```
   */
  circuitStates(): Map<string, CircuitStateName> {
    const { storage } = this.settings;
    const states = new Map<string, CircuitStateName>();
    for (const name of storage.names()) {
      const circuit = storage.get(name);
      if (circuit !== undefined) states.set(name, circuit.snapshot.state);
    }
    return states;
  }

  /**
   * Whose state each circuit's entry of `circuitStates()` is (its breakers' `scope`), read like it
   * from the local records at the time of the call: `"process"` while this process is open for
   * itself (a circuit with a `quorum` whose failures in this process alone met its trip rule: its
   * calls are rejected here while the fleet's circuit stays closed), `"fleet"` otherwise (the
   * circuit's own state, shared by every process with a shared storage). As cheap as
   * `circuitStates()`, for the metrics that read both at each scrape (the `scope` label of
   * `purgatory_circuit_state`); read one right after the other (no `await` between), both have
   * the same names.
   *
   * @example
   * ```ts
   * const scopes = circuitbreaker.circuitScopes();
   * for (const [name, state] of circuitbreaker.circuitStates()) {
   *   console.log(name, state, scopes.get(name) === "process" ? "(this process only)" : "");
   * }
   * ```
   */
  circuitScopes(): Map<string, CircuitScope> {
    const { storage } = this.settings;
    const scopes = new Map<string, CircuitScope>();
    for (const name of storage.names()) {
      const circuit = storage.get(name);
      if (circuit !== undefined) scopes.set(name, circuit.scope ?? "fleet");
    }
    return scopes;
  }

  /**
   * The circuits this factory's storage holds in this process, as plain data for
   * `JSON.stringify`: `{ version: 1, circuits: [{ name, config, snapshot }] }`, times in epoch ms.
   * `new InMemoryStorage({ restore })` starts from it: a serverless function saves its circuits
   * at the end of an invocation and the next instance picks them up. With a shared storage
   * (Redis) it holds this process's replicas, for inspection; the shared state is already shared.
   *
   * @example
   * ```ts
   * const saved = JSON.stringify(circuitbreaker.toJSON()); // also what JSON.stringify(circuitbreaker) gives
   * const next = new AsyncCircuitBreakerFactory({ storage: new InMemoryStorage({ restore: JSON.parse(saved) }) });
   * ```
   */
  toJSON(): SavedCircuits {
    return saveCircuits(this.settings.storage);
  }

  /**
   * Forgets a circuit in this process: the next call that names it registers it again, and
   * breakers already handed out keep working and register it again on their next call. In memory
   * that drops its state; with a shared storage (Redis) only this process's replica goes, and the
   * shared state stays (its keys expire after the storage's `keyTtl`). Emits `circuit_forgotten`
   * with `reason: "forget"` when this process held the circuit.
   *
   * @example
   * ```ts
   * await circuitbreaker.forget("api.example.com");
   * ```
   */
  forget(name: string): MaybePromise<void> {
    checkName(name);
    if (this.settings.storage.get(name) === undefined) {
      this.breakers.delete(name);
      return this.settings.storage.forget(name);
    }
    return this.forgetCircuit(name, "forget");
  }

  /**
   * @internal Forgets circuit `name` in this process for `reason`: its shared breaker, its place under
   * `maxCircuits`, its record in the storage; then emits `circuit_forgotten`. (A pool finds out
   * lazily: an entry whose circuit is gone is a free place.)
   */
  protected forgetCircuit(name: string, reason: ForgetReason): MaybePromise<void> {
    this.breakers.delete(name);
    this.#limit?.drop(name);
    const forgotten = this.settings.storage.forget(name);
    this.#hooks.emit(name, "circuit_forgotten", { name, reason });
    return forgotten;
  }

  /** @internal Forgets `name` without waiting for the storage: a failure of its `forget` is reported, never thrown. */
  protected forgetNow(name: string, reason: ForgetReason): void {
    try {
      const forgotten = this.forgetCircuit(name, reason);
      if (isPromise(forgotten)) forgotten.catch((error: unknown) => this.#storageError(name, error));
    } catch (error) {
      this.#storageError(name, error);
    }
  }

  #storageError(name: string, error: unknown): void {
    this.#hooks.emit(name, "storage_error", { name, storage: storageLabel(this.settings.storage), error });
  }

  /**
   * @internal The breaker `getBreaker` hands out: the circuit's shared one when `settings` has no
   * rules of its own, else a new breaker over the same circuit with them.
   */
  protected breakerFor(name: string, settings: BreakerSettings): MaybePromise<B> {
    const rules = this.rulesFor(settings);
    if (rules === null) return this.sharedBreaker(name, settings);
    return this.#register(name, this.#configFor(settings), (r) => this.makeBreaker(r.circuit, rules));
  }

  /**
   * @internal The circuit's shared breaker (the factory's rules), one per name, registering the
   * circuit if new. `run` and decorated functions go through it, passing their own rules per call
   * instead of making a breaker per call.
   */
  protected sharedBreaker(name: string, settings: BreakerSettings): MaybePromise<B> {
    const cached = this.breakers.get(name);
    if (cached !== undefined) return cached;
    return this.#register(name, this.#configFor(settings), (registration) => {
      const breaker = this.makeBreaker(registration.circuit, this.baseRules);
      this.breakers.set(name, breaker);
      return breaker;
    });
  }

  /** @internal The rules of calls made with `settings`, or `null` when they are the factory's. */
  protected rulesFor(settings: BreakerSettings): CallRules | null {
    const { exclude, isFailure, timeout, fallback, retryAfter } = settings;
    if (
      exclude.length === 0 &&
      isFailure === null &&
      timeout === undefined &&
      fallback === null &&
      retryAfter === null
    ) {
      return null;
    }
    const base = this.baseRules;
    return {
      exclude,
      isFailure: isFailure ?? base.isFailure,
      timeoutMs: timeout === undefined ? base.timeoutMs : secondsToMs(timeout),
      fallback,
      retryAfter,
    };
  }

  /**
   * @internal Validates the arguments of `getBreaker` or `decorate`, or with `run: true` of
   * `factory.run` (which also takes a caller's `signal`).
   */
  protected checkArgs(name: unknown, options: unknown, run = false): [string, BreakerSettings] {
    return [checkName(name), toBreakerSettings(options, this.#sync, run)];
  }

  /**
   * The config a breaker's options give with the factory's defaults; a backoff whose `maxTtl` is
   * below the ttl is refused, naming the options where each came from (`defaultTtl`, `backoff`).
   */
  #configFor(settings: BreakerSettings): CircuitConfig {
    const defaults = this.settings.config;
    const own = settings.config;
    if (Object.keys(own).length === 0) return defaults;
    const config = circuitConfig({ ...defaults, ...own });
    if (own.ttl === undefined && own.backoff === undefined) return config;
    return checkConfigCoherence(config, {
      ttl: own.ttl === undefined ? "defaultTtl" : "ttl",
      backoff: own.backoff === undefined ? "defaultBackoff" : "backoff",
    });
  }

  #register<T>(name: string, config: CircuitConfig, then: (r: Registration) => T): MaybePromise<T> {
    if (this.#closing !== undefined) throw new FactoryClosedError(name);
    const { storage, clock } = this.settings;
    const now = clock();
    this.#sweepIdle(now);
    const limit = this.#limit;
    // A new name takes a place under maxCircuits, made (or refused) before the storage sees it.
    const placed = limit !== null && storage.get(name) === undefined && this.#makeRoom(limit, name);
    let registration: MaybePromise<Registration>;
    try {
      registration = storage.register(name, config, now, this.#sync);
    } catch (error) {
      if (placed) limit.release();
      throw error;
    }
    const done = (r: Registration): T => {
      limit?.hold(r.circuit, placed);
      if (r.created) {
        const { threshold, ttl } = r.circuit.config;
        this.#hooks.emit(name, "circuit_breaker_created", { name, threshold, ttl });
      }
      return then(r);
    };
    if (!isPromise(registration)) return done(registration);
    return registration.then(done, (error: unknown) => {
      if (placed) limit.release();
      throw error;
    });
  }

  /**
   * Frees places under `limit` until a new circuit fits, forgetting the least recently used closed,
   * idle circuits; then takes the place for `name`. Throws `CircuitLimitError` when none can go.
   */
  #makeRoom(limit: CircuitLimit, name: string): true {
    while (limit.size >= limit.max) {
      const victim = limit.victim();
      if (victim === undefined) throw new CircuitLimitError(name, limit.max);
      if (victim !== FREED) this.forgetNow(victim, "limit");
    }
    limit.reserve();
    return true;
  }

  /** Forgets circuits unused since the previous sweep, at most once per `idleTtl`. */
  #sweepIdle(now: number): void {
    const { idleTtl, storage } = this.settings;
    if (idleTtl === null || now - this.#lastSweep < idleTtl * 1000) return;
    this.#lastSweep = now;
    // Uses the maxCircuits sweep consumed since the last idle sweep count as uses.
    const seen = this.#limit?.takeSeen();
    for (const name of [...storage.names()]) {
      const circuit = storage.get(name);
      if (circuit === undefined) continue;
      if (circuit.used || seen?.has(name) === true || !isForgettable(circuit.snapshot, circuit.config, now)) {
        circuit.used = false;
      } else {
        this.forgetNow(name, "idle");
      }
    }
  }

  /**
   * @internal A bounded pool of this factory's circuits (see `CircuitPool`), for circuits named by
   * others: `purgatory/fetch` makes one per `circuitFetch`.
   */
  protected makePool(maxCircuits: number | null, idleTtl: number | null): CircuitPool {
    // Not kept by the factory: a pool lives as long as its user (a circuitFetch) does.
    return new CircuitPool(maxCircuits, idleTtl === null ? null : secondsToMs(idleTtl), this.settings.clock());
  }

  /**
   * @internal Takes circuit `name` into `pool` at `now` before a call, or refreshes its place there:
   * the entry the call holds until it settles. Throws `CircuitLimitError` when the pool is full of
   * circuits that cannot go.
   */
  protected enterPool(pool: CircuitPool, name: string, now: number): PoolEntry {
    const { entries } = pool;
    const known = entries.get(name);
    if (known !== undefined) {
      entries.delete(name);
      entries.set(name, known);
      known.lastUse = now;
      known.inFlight += 1;
      return known;
    }
    this.#sweepPool(pool, now);
    const { max } = pool;
    if (max !== null) {
      while (entries.size >= max) {
        const victim = pool.victim(this.settings.storage);
        if (victim === undefined) throw new CircuitLimitError(name, max);
        if (victim !== FREED) this.forgetNow(victim, "limit");
      }
    }
    const entry: PoolEntry = { lastUse: now, inFlight: 1 };
    entries.set(name, entry);
    return entry;
  }

  /** @internal A call that held `entry` of `pool` for circuit `name` settled. */
  protected leavePool(pool: CircuitPool, name: string, entry: PoolEntry): void {
    entry.inFlight -= 1;
    // A call refused before its circuit registered (closed factory, maxCircuits) leaves no circuit.
    if (entry.inFlight === 0 && this.settings.storage.get(name) === undefined && pool.entries.get(name) === entry) {
      pool.entries.delete(name);
    }
  }

  /** The pool's idle circuits go: those unused for its `idleTtl` (checked at most once a second). */
  #sweepPool(pool: CircuitPool, now: number): void {
    const { idleTtlMs } = pool;
    if (idleTtlMs === null || now - pool.lastSweep < Math.min(idleTtlMs, 1000)) return;
    pool.lastSweep = now;
    const { storage } = this.settings;
    for (const [name, entry] of pool.entries) {
      if (now - entry.lastUse < idleTtlMs) break; // least recently used first: the rest are newer
      if (entry.inFlight > 0) continue;
      const circuit = storage.get(name);
      if (circuit === undefined) pool.entries.delete(name);
      else if (isForgettable(circuit.snapshot, circuit.config, now)) this.forgetNow(name, "idle");
    }
  }
}

/** The name of a storage in messages: its `location` (any password masked), else its class. */
export function storageLabel(storage: CircuitStorage): string {
  const { location } = storage;
  if (typeof location !== "string" || location === "") {
    const type = (storage as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof type === "string" && type !== "" ? type : "storage";
  }
  try {
    const url = new URL(location);
    if (url.password === "") return location;
    url.password = "***";
    return url.href;
  } catch {
    return location;
  }
}
