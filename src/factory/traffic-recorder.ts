/**
 * The factory's recorder of calls for the fleet's telemetry: while a storage says somebody
 * watches (`CircuitStorage.attachTraffic`), a call listener counts each circuit's calls by outcome
 * and latency (`core/traffic`); nobody watching, it is removed, and calls cost what they cost
 * without it.
 * @module
 */
import type { CallListener } from "../calls.js";
import {
  countCall,
  newCallCounts,
  OUTCOME_INDEX,
  takeSample,
  type CallCounts,
  type CircuitSample,
} from "../core/traffic.js";
import type { ListenerDisposer } from "../events.js";
import type { TrafficSource } from "../storage/storage.js";

/** Counts the calls of one factory while somebody watches. */
export class TrafficRecorder implements TrafficSource {
  readonly #listen: (listener: CallListener) => ListenerDisposer;
  readonly #counts = new Map<string, CallCounts>();
  #stop: ListenerDisposer | undefined;

  /** `listen` adds a call listener to the factory. */
  constructor(listen: (listener: CallListener) => ListenerDisposer) {
    this.#listen = listen;
  }

  readonly #count: CallListener = (name, outcome, durationMs) => {
    let counts = this.#counts.get(name);
    if (counts === undefined) {
      counts = newCallCounts();
      this.#counts.set(name, counts);
    }
    countCall(counts, OUTCOME_INDEX[outcome], durationMs);
  };

  /** See `TrafficSource.watched`. */
  watched(watching: boolean): void {
    if (watching && this.#stop === undefined) this.#stop = this.#listen(this.#count);
    else if (!watching && this.#stop !== undefined) {
      this.#stop();
      this.#stop = undefined;
      this.#counts.clear();
    }
  }

  /** See `TrafficSource.take`: a circuit with no call in the interval is dropped until its next call. */
  take(): readonly CircuitSample[] {
    const samples: CircuitSample[] = [];
    for (const [name, counts] of this.#counts) {
      const sample = takeSample(counts);
      if (sample === undefined) this.#counts.delete(name);
      else samples.push({ name, sample });
    }
    return samples;
  }
}
