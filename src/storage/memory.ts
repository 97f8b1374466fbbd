import type { Clock } from "../coarse-clock.js";
import type { CircuitConfig, Transition } from "../core/circuit.js";
import { CLOSED_SNAPSHOT } from "../core/circuit.js";
import { admit, checkRates, control, recordFailure, recordSuccess, type Admission, type ControlAction } from "../core/machine.js";
import { clear, count, countsOf, createWindow, windowOf } from "../core/window.js";
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
    if (window !== undefined && window !== null && snapshot.state === "closed") {
      const now = slow ? clock() : (clock.coarse ?? clock)();
      count(window, now, slow ? "slow" : "success");
      if (slow) return store(circuit, slowSuccess(circuit, generation, now));
    }
    // Only a probe's success depends on time (its lease); a closed circuit's success never does.
    const now = snapshot.state === "closed" ? 0 : clock();
    return store(circuit, recordSuccess(snapshot, generation, now));
  }

  /** Applies `core/machine.recordFailure` to the circuit, with the counts of its rate window. */
  recordFailure(circuit: CircuitRecord, generation: number, now: number, _sync = false, minOpenMs = 0): Transition | null {
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
    const before = windowOf(circuit.config);
    const after = windowOf(config);
    circuit.config = config;
    if (before?.windowMs !== after?.windowMs) circuit.window = createWindow(config);
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
