import type { CircuitConfig, Transition } from "../core/circuit.js";
import { CLOSED_SNAPSHOT } from "../core/circuit.js";
import { admit, recordFailure, recordSuccess, releaseProbe, type Admission } from "../core/machine.js";
import { LocalCircuitsStorage } from "./local-circuits.js";
import type { CircuitRecord, CircuitStorage, Registration } from "./storage.js";

/**
 * The default storage: circuits live in this process's memory, in one `Map`. Every operation is
 * synchronous, so each is atomic on Node's single thread. No timer, no I/O.
 *
 * @example
 * ```ts
 * const factory = new AsyncCircuitBreakerFactory({ storage: new InMemoryStorage() });
 * ```
 */
export class InMemoryStorage extends LocalCircuitsStorage<CircuitRecord> implements CircuitStorage {

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
