import type { CircuitConfig, Transition } from "../core/circuit.js";
import { CLOSED_SNAPSHOT } from "../core/circuit.js";
import { admit, recordFailure, recordSuccess, releaseProbe, type Admission } from "../core/machine.js";
import { InvalidOptionError } from "../errors.js";
import { checkKeys } from "../options.js";
import { LocalCircuitsStorage } from "./local-circuits.js";
import { checkSavedCircuits, type SavedCircuits } from "./saved.js";
import type { CircuitRecord, CircuitStorage, Registration } from "./storage.js";

/**
 * Options of `new InMemoryStorage(options?)`.
 *
 * @example
 * ```ts
 * const storage = new InMemoryStorage({ restore: JSON.parse(savedJson) });
 * ```
 */
export interface InMemoryStorageOptions {
  /**
   * Circuits to start with: a document made by `factory.toJSON()` (also after a trip through
   * `JSON.stringify` and `JSON.parse`). Their configs, states, counts and `openedAt` are kept, so
   * an opened circuit keeps rejecting until its ttl has elapsed; probe leases are not (the calls
   * that held them belong to the process that saved the document). A malformed document, or one
   * of a newer version, throws an `InvalidOptionError` naming the bad field.
   */
  readonly restore?: SavedCircuits;
}

const MEMORY_KEYS: Record<keyof InMemoryStorageOptions, true> = { restore: true };

/**
 * The default storage: circuits live in this process's memory, in one `Map`. Every operation is
 * synchronous, so each is atomic on Node's single thread. No timer, no I/O. It may start from the
 * circuits another process saved with `factory.toJSON()` (`restore`), for a serverless hand-over.
 *
 * @example
 * ```ts
 * const factory = new AsyncCircuitBreakerFactory({ storage: new InMemoryStorage() });
 * // in the next instance of a serverless function:
 * const next = new AsyncCircuitBreakerFactory({ storage: new InMemoryStorage({ restore: saved }) });
 * ```
 */
export class InMemoryStorage extends LocalCircuitsStorage<CircuitRecord> implements CircuitStorage {
  /** Validates `options` at once; see `InMemoryStorageOptions`. */
  constructor(options?: InMemoryStorageOptions) {
    super();
    if (options === undefined) return;
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      throw new InvalidOptionError("options", options, "an options object");
    }
    checkKeys(options, MEMORY_KEYS);
    if (options.restore === undefined) return;
    for (const { name, config, snapshot } of checkSavedCircuits(options.restore, "restore")) {
      this.circuits.add({ name, config, snapshot, used: true, forgotten: false });
    }
  }

  /** Nothing to connect. */
  initialize(): Promise<void> {
    return Promise.resolve();
  }

  /** Forgets every circuit. */
  close(): Promise<void> {
    for (const name of [...this.circuits.names()]) this.forget(name);
    return Promise.resolve();
  }

  /** Registers `name` unless it exists; first registration wins. */
  register(name: string, config: CircuitConfig): Registration {
    const existing = this.circuits.get(name);
    if (existing !== undefined) return { circuit: existing, created: false };
    const circuit: CircuitRecord = {
      name,
      config,
      snapshot: CLOSED_SNAPSHOT,
      used: true,
      forgotten: false,
    };
    this.circuits.add(circuit);
    return { circuit, created: true };
  }

  /** Applies `core/machine.admit` to the circuit. */
  admit(circuit: CircuitRecord, now: number): Admission {
    const admission = admit(circuit.snapshot, circuit.config, now);
    if (admission.transition !== null) circuit.snapshot = admission.transition.snapshot;
    return admission;
  }

  /** Applies `core/machine.recordSuccess` to the circuit. */
  recordSuccess(circuit: CircuitRecord, generation: number, clock: () => number): Transition | null {
    const snapshot = circuit.snapshot;
    // Only a probe's success depends on time (its lease); a closed circuit's success never does.
    const now = snapshot.state === "closed" ? 0 : clock();
    return store(circuit, recordSuccess(snapshot, generation, now));
  }

  /** Applies `core/machine.recordFailure` to the circuit. */
  recordFailure(circuit: CircuitRecord, generation: number, now: number): Transition | null {
    return store(circuit, recordFailure(circuit.snapshot, circuit.config, generation, now));
  }

  /** Applies `core/machine.releaseProbe`: a cancelled probe's slot is free at once. */
  release(circuit: CircuitRecord, generation: number, now: number): void {
    store(circuit, releaseProbe(circuit.snapshot, generation, now));
  }
}

function store(circuit: CircuitRecord, transition: Transition | null): Transition | null {
  if (transition !== null) circuit.snapshot = transition.snapshot;
  return transition;
}
