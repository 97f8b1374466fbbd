import type { CircuitRecord } from "./storage.js";

/**
 * The circuits a storage keeps in this process, by name: all of them in memory, the replicas of
 * the circuits this process uses for a remote storage. Forgetting marks the record so that a
 * breaker still holding it registers the name again.
 */
export class LocalCircuits<R extends CircuitRecord> {
  readonly #byName = new Map<string, R>();

  /** The record of `name`, if known. */
  get(name: string): R | undefined {
    return this.#byName.get(name);
  }

  /** Keeps `circuit` under its name. */
  add(circuit: R): R {
    this.#byName.set(circuit.name, circuit);
    return circuit;
  }

  /** Drops `name` and marks its record `forgotten`. */
  forget(name: string): void {
    const circuit = this.#byName.get(name);
    if (circuit === undefined) return;
    circuit.forgotten = true;
    this.#byName.delete(name);
  }

  /** The known names. */
  names(): IterableIterator<string> {
    return this.#byName.keys();
  }

  /** The known records. */
  values(): IterableIterator<R> {
    return this.#byName.values();
  }

  /** How many records are kept. */
  get size(): number {
    return this.#byName.size;
  }
}

/**
 * What every storage does the same way with the circuits it keeps in this process: look one up,
 * list them, forget one. `InMemoryStorage` and `RedisStorage` extend it.
 */
export abstract class LocalCircuitsStorage<R extends CircuitRecord> {
  /** @internal The circuits this process keeps. */
  protected readonly circuits = new LocalCircuits<R>();

  /** Forgets `name` in this process; a breaker still holding its record registers it again. */
  forget(name: string): void {
    this.circuits.forget(name);
  }

  /** The record of `name`, if this process keeps it. */
  get(name: string): CircuitRecord | undefined {
    return this.circuits.get(name);
  }

  /** The names of the circuits this process keeps. */
  names(): IterableIterator<string> {
    return this.circuits.names();
  }
}
