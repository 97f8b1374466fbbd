/**
 * The eyes of the dashboard and of `purgatory circuits --watch`: follows every circuit of the fleet
 * through a `CircuitFeed` (`Fleet.watch`: the circuits' channels, the registry, and a slow sweep
 * within a small budget of commands, never a read of every circuit on a timer), keeps what it saw
 * (`history.ts`) and tells its listeners only what changed.
 * @module
 */
import type { CircuitInfo } from "../storage/redis/inspect.js";
import type { FeedListener, FeedOptions, FeedStatus } from "../storage/redis/watch.js";
import {
  observeSome,
  type Observation,
  type ObservationChanges,
  type ObservedCircuit,
  type ObservedTransition,
} from "./history.js";

/** Whether Redis answers, why not in plain words, and since when (epoch ms of this machine). */
export interface RedisStatus {
  readonly available: boolean;
  readonly error: string | null;
  /** When it stopped answering (`null` while it answers). */
  readonly since: number | null;
}

/** A change the watcher saw. */
export type FleetUpdate =
  | { readonly type: "circuit"; readonly circuit: ObservedCircuit; readonly added: readonly ObservedTransition[] }
  | { readonly type: "removed"; readonly name: string }
  | { readonly type: "redis"; readonly status: RedisStatus };

/** A started watch: what `Fleet.watch` gives. */
export interface WatchHandle {
  refresh(names: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** Starts a watch that reports to `listener` (`(listener, options) => fleet.watch(listener, options)`). */
export type StartWatch = (listener: FeedListener, options: FeedOptions) => Promise<WatchHandle>;

/**
 * Follows the fleet and keeps what it saw.
 *
 * @example
 * ```ts
 * const watcher = new FleetWatcher((listener, options) => fleet.watch(listener, options));
 * watcher.subscribe((update) => console.log(update));
 * await watcher.start();
 * await watcher.stop();
 * ```
 */
export class FleetWatcher {
  readonly #start: StartWatch;
  readonly #options: FeedOptions;
  readonly #listeners = new Set<(update: FleetUpdate) => void>();
  #seen: Observation = new Map();
  #status: RedisStatus = { available: true, error: null, since: null };
  /** Redis's clock minus this machine's, ms, from the latest read. */
  #offset = 0;
  #handle: WatchHandle | undefined;
  #stopped = false;

  constructor(start: StartWatch, options: FeedOptions = {}) {
    this.#start = start;
    this.#options = options;
  }

  /** Every circuit seen, sorted by name. */
  get circuits(): ObservedCircuit[] {
    return [...this.#seen.values()].sort((a, b) =>
      a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0,
    );
  }

  /** Whether Redis answers. */
  get status(): RedisStatus {
    return this.#status;
  }

  /** Redis's time now (epoch ms), as this machine's clock and the latest read tell it. */
  now(): number {
    return Math.round(Date.now() + this.#offset);
  }

  /** Calls `listener` with each change from now on; returns the function that stops it. */
  subscribe(listener: (update: FleetUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reads every circuit once, then follows them. */
  async start(): Promise<void> {
    this.#handle = await this.#start(
      {
        read: (circuits, gone, offset) => this.#read(circuits, gone, offset),
        status: (status) => this.#setStatus(status),
      },
      this.#options,
    );
    if (this.#stopped) await this.#handle.close();
  }

  /** Reads `names` now: right after an operator's change. */
  async refresh(names: readonly string[]): Promise<void> {
    await this.#handle?.refresh(names);
  }

  /** Stops following the fleet. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#listeners.clear();
    await this.#handle?.close();
  }

  #read(circuits: readonly CircuitInfo[], gone: readonly string[], offset: number | null): void {
    if (this.#stopped) return;
    if (offset !== null) this.#offset = offset;
    const { next, changes } = observeSome(this.#seen, circuits, gone);
    this.#seen = next;
    this.#tell(changes);
  }

  #tell(changes: ObservationChanges): void {
    for (const { circuit, added } of changes.changed) this.#emit({ type: "circuit", circuit, added });
    for (const name of changes.removed) this.#emit({ type: "removed", name });
  }

  #setStatus(status: FeedStatus): void {
    if (this.#stopped) return;
    const since = status.available ? null : (this.#status.since ?? Date.now());
    this.#status = { available: status.available, error: status.error, since };
    this.#emit({ type: "redis", status: this.#status });
  }

  #emit(update: FleetUpdate): void {
    for (const listener of this.#listeners) {
      try {
        listener(update);
      } catch {
        // A listener's failure (a client gone mid-write) must not stop the others or the watch.
      }
    }
  }
}
