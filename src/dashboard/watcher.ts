/**
 * The dashboard's eyes: reads every circuit of the fleet (`RedisStorage.inspect`, which writes
 * nothing and holds no circuit) every `intervalMs`, one read at a time, and tells its listeners
 * only what changed. A trip made by any process of the fleet is seen at the next read.
 * @module
 */
import type { CircuitInfo } from "../storage/redis/inspect.js";
import { observe, type Observation, type ObservedCircuit, type ObservedTransition } from "./history.js";

/** Whether the last read of Redis worked, and why not. */
export interface RedisStatus {
  readonly available: boolean;
  readonly error: string | null;
}

/** A change the watcher saw. */
export type FleetUpdate =
  | { readonly type: "circuit"; readonly circuit: ObservedCircuit; readonly added: readonly ObservedTransition[] }
  | { readonly type: "removed"; readonly name: string }
  | { readonly type: "redis"; readonly status: RedisStatus };

/** Options of `FleetWatcher`. */
export interface WatcherOptions {
  /** Milliseconds between the end of a read and the next. Default 250. */
  readonly intervalMs?: number;
}

/**
 * Polls the fleet and keeps what it saw.
 *
 * @example
 * ```ts
 * const watcher = new FleetWatcher(() => storage.inspect());
 * watcher.subscribe((update) => console.log(update));
 * await watcher.start();
 * await watcher.stop();
 * ```
 */
export class FleetWatcher {
  readonly #read: () => Promise<readonly CircuitInfo[]>;
  readonly #intervalMs: number;
  readonly #listeners = new Set<(update: FleetUpdate) => void>();
  #seen: Observation = new Map();
  #status: RedisStatus = { available: true, error: null };
  /** The reads, one after the other. */
  #tail: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(read: () => Promise<readonly CircuitInfo[]>, options: WatcherOptions = {}) {
    this.#read = read;
    this.#intervalMs = options.intervalMs ?? 250;
  }

  /** Every circuit seen, sorted by name. */
  get circuits(): ObservedCircuit[] {
    return [...this.#seen.values()].sort((a, b) =>
      a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0,
    );
  }

  /** Whether the last read worked. */
  get status(): RedisStatus {
    return this.#status;
  }

  /** Calls `listener` with each change from now on; returns the function that stops it. */
  subscribe(listener: (update: FleetUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Makes the first read, then reads every `intervalMs`. */
  async start(): Promise<void> {
    await this.refresh();
    this.#schedule();
  }

  /** Reads now (after the reads already asked for): e.g. right after an operator's change. */
  refresh(): Promise<void> {
    this.#tail = this.#tail.then(() => this.#readOnce());
    return this.#tail;
  }

  /** Stops reading; resolves once the read in flight, if any, is over. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
    await this.#tail;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.refresh().then(() => this.#schedule());
    }, this.#intervalMs);
  }

  async #readOnce(): Promise<void> {
    if (this.#stopped) return;
    let circuits: readonly CircuitInfo[];
    try {
      circuits = await this.#read();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (this.#status.available) this.#setStatus({ available: false, error: message.split("\n")[0] ?? message });
      return;
    }
    if (this.#stopped) return;
    if (!this.#status.available) this.#setStatus({ available: true, error: null });
    const { next, changes } = observe(this.#seen, circuits);
    this.#seen = next;
    for (const { circuit, added } of changes.changed) this.#emit({ type: "circuit", circuit, added });
    for (const name of changes.removed) this.#emit({ type: "removed", name });
  }

  #setStatus(status: RedisStatus): void {
    this.#status = status;
    this.#emit({ type: "redis", status });
  }

  #emit(update: FleetUpdate): void {
    for (const listener of this.#listeners) {
      try {
        listener(update);
      } catch {
        // A listener's failure (a client gone mid-write) must not stop the others or the polling.
      }
    }
  }
}
