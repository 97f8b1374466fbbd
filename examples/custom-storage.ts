/**
 * A custom storage: circuit state kept in a key-value store (here a `Map` of JSON strings, the
 * stand-in for a file, a SQL table or a cache), written with nothing but the `CircuitStorage`
 * interface and the pure state machine functions that `purgatory/storage` exports. Because the state is
 * saved, a second factory (think: the process after a restart) finds the circuit still opened.
 *
 *   npx tsx examples/custom-storage.ts
 */
import { AsyncCircuitBreakerFactory, CircuitOpenError } from "../src/index.js";
// In an application: `from "purgatory/storage"`, the entry point for storage authors.
import {
  CLOSED_SNAPSHOT,
  admit,
  recordFailure,
  recordSuccess,
  type Admission,
  type CircuitConfig,
  type CircuitRecord,
  type CircuitSnapshot,
  type CircuitStorage,
  type Registration,
  type Transition,
} from "../src/storage/authoring.js";

interface Saved {
  config: CircuitConfig;
  snapshot: CircuitSnapshot;
}

class KeyValueStorage implements CircuitStorage {
  /** This process's records, read by the breakers on every call. */
  readonly #records = new Map<string, CircuitRecord>();

  constructor(private readonly store: Map<string, string>) {}

  initialize(): Promise<void> {
    return Promise.resolve(); // connect to the store here
  }

  close(): Promise<void> {
    for (const record of this.#records.values()) record.forgotten = true;
    this.#records.clear();
    return Promise.resolve();
  }

  register(name: string, config: CircuitConfig): Registration {
    const known = this.#records.get(name);
    if (known !== undefined) return { circuit: known, created: false };
    const raw = this.store.get(name);
    const saved: Saved = raw === undefined ? { config, snapshot: CLOSED_SNAPSHOT } : (JSON.parse(raw) as Saved);
    // First registration wins: a circuit found in the store keeps its saved config.
    const circuit: CircuitRecord = {
      name,
      config: saved.config,
      snapshot: saved.snapshot,
      used: true,
      forgotten: false,
    };
    this.#records.set(name, circuit);
    if (raw === undefined) this.#save(circuit);
    return { circuit, created: raw === undefined };
  }

  admit(circuit: CircuitRecord, now: number): Admission {
    const admission = admit(circuit.snapshot, circuit.config, now);
    if (admission.transition !== null) this.#apply(circuit, admission.transition);
    return admission;
  }

  recordSuccess(circuit: CircuitRecord, generation: number, clock: () => number): Transition | null {
    return this.#apply(circuit, recordSuccess(circuit.snapshot, generation, clock()));
  }

  recordFailure(circuit: CircuitRecord, generation: number, now: number): Transition | null {
    return this.#apply(circuit, recordFailure(circuit.snapshot, circuit.config, generation, now));
  }

  forget(name: string): void {
    const circuit = this.#records.get(name);
    if (circuit !== undefined) circuit.forgotten = true;
    this.#records.delete(name);
    this.store.delete(name);
  }

  get(name: string): CircuitRecord | undefined {
    return this.#records.get(name);
  }

  names(): IterableIterator<string> {
    return this.#records.keys();
  }

  #apply(circuit: CircuitRecord, transition: Transition | null): Transition | null {
    if (transition === null) return null;
    circuit.snapshot = transition.snapshot;
    this.#save(circuit);
    return transition;
  }

  #save(circuit: CircuitRecord): void {
    const saved: Saved = { config: circuit.config, snapshot: circuit.snapshot };
    this.store.set(circuit.name, JSON.stringify(saved));
  }
}

const store = new Map<string, string>(); // survives the "restart" below

const before = new AsyncCircuitBreakerFactory({
  defaultThreshold: 2,
  defaultTtl: 60,
  storage: new KeyValueStorage(store),
});
for (let i = 0; i < 2; i++) {
  await before.run("reports-db", () => Promise.reject(new Error("too many connections"))).catch(() => undefined);
}
console.log("before restart:", (await before.getBreaker("reports-db")).state);
console.log("stored:", store.get("reports-db"));
await before.close();

// A new factory over the same store: the circuit is still opened, with its saved config.
const after = new AsyncCircuitBreakerFactory({ defaultThreshold: 9, storage: new KeyValueStorage(store) });
const breaker = await after.getBreaker("reports-db");
console.log(`after restart: ${breaker.state}, threshold=${breaker.threshold}`);
const error = await breaker.run(() => "query").catch((e: unknown) => e);
console.log("call after restart:", error instanceof CircuitOpenError ? "rejected fast" : error);
await after.close();
