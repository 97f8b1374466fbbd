/**
 * The bounds on how many circuits a factory holds: `CircuitLimit`, the clock sweep behind the
 * factory's `maxCircuits`, and `CircuitPool`, the bounded pools `purgatory/fetch` takes its hosts'
 * circuits from. Plain data structures over the storage's records; the factory decides what to
 * forget with them.
 * @module
 */
import type { RunOptions } from "../options/types.js";
import type { CircuitRecord, CircuitStorage } from "../storage/storage.js";

/** What `CircuitLimit.victim` answers when it found a place already free (a circuit forgotten elsewhere). */
export const FREED = Symbol("freed");

/**
 * The circuits a factory with `maxCircuits` holds, in the order a clock hand visits them (a
 * second-chance sweep, an approximate LRU): a circuit used since the hand last passed (its record's
 * `used`, which each call sets anyway) is spared once and its flag cleared; one that stayed unused
 * may go. The hand moves only when a new circuit needs room, a few steps per registration on
 * average: no work per call, no timer.
 */
export class CircuitLimit {
  /** The bound. */
  readonly max: number;
  /** Places taken by registrations still under way. */
  #reserved = 0;
  readonly #records = new Map<string, CircuitRecord>();
  /** The clock hand: a live iterator over `#records` (it sees later insertions and skips deletions). */
  #hand: Iterator<[string, CircuitRecord]> | undefined;
  /** Names whose `used` flag the hand cleared since the last idle sweep (with `idleTtl` only). */
  #seen: Set<string> | null;

  constructor(max: number, idle: boolean, storage: CircuitStorage) {
    this.max = max;
    this.#seen = idle ? new Set() : null;
    // Circuits the storage starts with (InMemoryStorage's `restore`) count too.
    for (const name of storage.names()) {
      const record = storage.get(name);
      if (record !== undefined) this.#records.set(name, record);
    }
  }

  /** Places taken, and reserved by registrations under way. */
  get size(): number {
    return this.#records.size + this.#reserved;
  }

  /** Reserves a place for a registration under way. */
  reserve(): void {
    this.#reserved += 1;
  }

  /** A registration that reserved a place failed. */
  release(): void {
    this.#reserved -= 1;
  }

  /** Holds `record` (registered, or met again); `placed` when its registration reserved a place. */
  hold(record: CircuitRecord, placed: boolean): void {
    if (placed) this.#reserved -= 1;
    this.#records.set(record.name, record);
  }

  /** Drops `name` (forgotten). */
  drop(name: string): void {
    this.#records.delete(name);
  }

  /** Drops everything (the factory closed). */
  clear(): void {
    this.#records.clear();
    this.#hand = undefined;
  }

  /** The names whose use the hand consumed since the last call; starts a new set. */
  takeSeen(): ReadonlySet<string> | undefined {
    const seen = this.#seen;
    if (seen === null || seen.size === 0) return undefined;
    this.#seen = new Set();
    return seen;
  }

  /**
   * Moves the hand to the next circuit that may go: closed, with no call since the hand last
   * passed, preferably with no failure count (forgetting one that counts failures would restart
   * its count, in memory). `FREED` when it met a circuit forgotten elsewhere (a place is free),
   * `undefined` when none may go (every circuit is opened, half-opened, isolated, disabled or in
   * use). At most two turns: the first may only clear flags.
   */
  victim(): string | typeof FREED | undefined {
    const records = this.#records;
    let counting: string | undefined;
    for (let steps = 2 * records.size; steps > 0; steps -= 1) {
      let next = this.#hand?.next();
      if (next === undefined || next.done === true) {
        this.#hand = records.entries();
        next = this.#hand.next();
        if (next.done === true) return undefined;
      }
      const [name, record] = next.value;
      if (record.forgotten) {
        records.delete(name);
        return FREED;
      }
      if (record.used) {
        record.used = false;
        this.#seen?.add(name);
        continue;
      }
      const { snapshot } = record;
      if (snapshot.state !== "closed") continue;
      if (snapshot.failureCount === 0) return name;
      counting ??= name;
    }
    return counting;
  }
}

/**
 * @internal What `AsyncCircuitBreakerFactory.pool()` returns: `run` as the factory's, over a bounded
 * pool of its circuits, and how many circuits the pool holds.
 */
export interface PooledRunner {
  run<T, Y extends readonly unknown[] = readonly unknown[], F = never>(
    name: string,
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: RunOptions<Awaited<T>, Y, F>,
  ): Promise<Awaited<T> | Awaited<F>>;
  /** The circuits the pool holds. */
  readonly size: number;
}

/** A circuit's place in a `CircuitPool`. */
export interface PoolEntry {
  /** When a call last entered (factory clock, epoch ms). */
  lastUse: number;
  /** Calls of the pool on the circuit that have not settled. */
  inFlight: number;
}

/**
 * @internal A bounded subset of a factory's circuits, for names chosen by others (the hosts of
 * `purgatory/fetch`): at most `max` circuits, each forgotten once unused for `idleTtlMs`. Every call
 * through the pool moves its circuit to the end of `entries` (an exact LRU: the pool's calls are
 * HTTP requests, which dwarf a `Map` update) and counts itself in flight until it settles, so a
 * circuit with a request in flight is never forgotten. The factory's own circuits and other pools
 * are never forgotten to make room in a pool: hostile names compete only with each other.
 */
export class CircuitPool {
  /** The circuits of the pool, least recently used first. */
  readonly entries = new Map<string, PoolEntry>();
  lastSweep: number;

  constructor(
    readonly max: number | null,
    readonly idleTtlMs: number | null,
    now: number,
  ) {
    this.lastSweep = now;
  }

  /**
   * The least recently used circuit of the pool that may go for room: closed, no call in flight,
   * preferably with no failure count. `FREED` when a place was free (a circuit forgotten
   * elsewhere), `undefined` when none may go.
   */
  victim(storage: CircuitStorage): string | typeof FREED | undefined {
    let counting: string | undefined;
    for (const [name, entry] of this.entries) {
      if (entry.inFlight > 0) continue;
      const circuit = storage.get(name);
      if (circuit === undefined) {
        this.entries.delete(name);
        return FREED;
      }
      const { snapshot } = circuit;
      if (snapshot.state !== "closed") continue;
      if (snapshot.failureCount === 0) return name;
      counting ??= name;
    }
    return counting;
  }
}
