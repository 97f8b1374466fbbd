import type { Clock } from "../timing/coarse-clock.js";
import type { CircuitConfig, Transition } from "../core/circuit.js";
import { CLOSED_SNAPSHOT } from "../core/circuit.js";
import {
  admit,
  checkRates,
  control,
  recordFailure,
  recordSuccess,
  releaseProbe,
  type Admission,
  type ControlAction,
} from "../core/machine.js";
import { clear, count, countsOf, countSuccess, createWindow, windowFor } from "../core/window.js";
import { InvalidOptionError } from "../errors.js";
import { checkKeys } from "../options/checks.js";
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
      this.circuits.add({ name, config, snapshot, used: true, forgotten: false, window: createWindow(config) });
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
      window: createWindow(config),
    };
    this.circuits.add(circuit);
    return { circuit, created: true };
  }

  /** Applies `core/machine.admit` to the circuit. */
  admit(circuit: CircuitRecord, now: number): Admission {
    const admission = admit(circuit.snapshot, circuit.config, now);
    if (admission.transition !== null) store(circuit, admission.transition);
    return admission;
  }

  /** Applies `core/machine.recordSuccess` to the circuit, and counts the call in its rate window. */
  recordSuccess(circuit: CircuitRecord, generation: number, clock: Clock, slow = false): Transition | null {
    const { snapshot, window } = circuit;
    if (snapshot.state === "closed") {
      if (window !== undefined && window !== null) {
        if (slow) {
          const now = clock();
          count(window, now, "slow");
          return store(circuit, slowSuccess(circuit, generation, now));
        }
        countSuccess(window, (clock.coarse ?? clock)());
      }
      // The hot path: a success with no failure to reset changes nothing.
      if (snapshot.failureCount === 0) return null;
    }
    // Only a probe's success depends on time (its lease); a closed circuit's success never does.
    const now = snapshot.state === "closed" ? 0 : clock();
    return store(circuit, recordSuccess(snapshot, generation, now));
  }

  /** Applies `core/machine.recordFailure` to the circuit, with the counts of its rate window. */
  recordFailure(
    circuit: CircuitRecord,
    generation: number,
    now: number,
    _sync = false,
    minOpenMs = 0,
  ): Transition | null {
    const { snapshot, window } = circuit;
    if (window === undefined || window === null || snapshot.state !== "closed") {
      return store(circuit, recordFailure(snapshot, circuit.config, generation, now, undefined, minOpenMs));
    }
    count(window, now, "failure");
    return store(circuit, recordFailure(snapshot, circuit.config, generation, now, countsOf(window, now), minOpenMs));
  }

  /** Applies an operator's action (`core/machine.control`). */
  control(circuit: CircuitRecord, action: ControlAction, now: number): Transition | null {
    return store(circuit, control(circuit.snapshot, action, now));
  }

  /** Replaces the circuit's config; a new rate window starts when the window changed. */
  configure(circuit: CircuitRecord, config: CircuitConfig): void {
    circuit.config = config;
    circuit.window = windowFor(config, circuit.window);
  }

  /** Applies `core/machine.releaseProbe`: a cancelled probe's slot is free at once. */
  release(circuit: CircuitRecord, generation: number, now: number): void {
    store(circuit, releaseProbe(circuit.snapshot, generation, now));
  }
}

/** A slow success: it resets the failure count like any success, and may trip by the slow-call rate. */
function slowSuccess(circuit: CircuitRecord, generation: number, now: number): Transition | null {
  const reset = recordSuccess(circuit.snapshot, generation, now);
  const snapshot = reset?.snapshot ?? circuit.snapshot;
  const trip = circuit.window ? checkRates(snapshot, circuit.config, countsOf(circuit.window, now), now) : null;
  if (trip === null) return reset;
  return { snapshot: trip.snapshot, events: [...(reset?.events ?? []), ...trip.events] };
}

/** Stores a transition; a change of state starts the rate window afresh. */
function store(circuit: CircuitRecord, transition: Transition | null): Transition | null {
  if (transition === null) return null;
  if (transition.snapshot.state !== circuit.snapshot.state && circuit.window) clear(circuit.window);
  circuit.snapshot = transition.snapshot;
  return transition;
}
