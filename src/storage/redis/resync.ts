/**
 * The re-reads of what Redis holds for a storage's circuits: one re-read runs at a time, `batch`
 * circuits at once, and a circuit queued for it twice is read once, so that a burst of reasons
 * (every master of a Cluster reconnecting, a reshard moving slot after slot, an outage's end)
 * does not multiply them. Besides, a background round re-reads `batch` circuits every `interval`
 * (jittered +-50 %): the safety net for a message lost without a reconnection. One timer.
 * @module
 */

/** What the re-reads need from their storage. */
export interface ResyncOptions<C> {
  /** Circuits re-read at once, and per background tick. */
  readonly batch: number;
  /** Milliseconds between two background ticks (before jitter). */
  readonly interval: number;
  /** The circuits the storage holds, for the background round. */
  readonly circuits: () => IterableIterator<C> & { readonly size?: number };
  /** How many circuits the storage holds. */
  readonly size: () => number;
  /** Re-reads one circuit (its reply learned by the storage); never rejects. */
  readonly read: (circuit: C) => Promise<unknown>;
  /** Whether Redis answers now: the background round skips a tick while it does not. */
  readonly available: () => boolean;
}

/** A storage's re-reads. */
export class Resync<C extends { readonly registering: Promise<void> | undefined }> {
  readonly #options: ResyncOptions<C>;
  readonly #stale = new Set<C>();
  #running: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #cursor: IterableIterator<C> | undefined;
  /** Circuits left in the round `#cursor` walks. */
  #left = 0;
  #closed = false;

  /** Nothing runs before `start()` or a `queue()`. */
  constructor(options: ResyncOptions<C>) {
    this.#options = options;
  }

  /** Starts the background round. */
  start(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    const delay = this.#options.interval * (0.5 + Math.random());
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref?.();
  }

  /** Stops the background round and every re-read not begun yet. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  /**
   * Queues `circuits` for a re-read; resolves once they (and any queued meanwhile) are read. A
   * circuit whose registration is in flight is read by it (and must be created by it): skipped.
   */
  queue(circuits: Iterable<C>): Promise<void> {
    for (const circuit of circuits) if (circuit.registering === undefined) this.#stale.add(circuit);
    this.#running ??= this.#readStale().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #tick(): Promise<void> {
    try {
      if (this.#options.available()) await this.queue(this.#nextBatch());
    } finally {
      this.start();
    }
  }

  /**
   * The next `batch` circuits of the round, wrapping around once. A round is as many circuits as
   * were held when it began, taken from the start of the (insertion-ordered) live iteration: the
   * circuits held then, less those forgotten since. Circuits added meanwhile wait for the next
   * round (they were just read by their registration); an iteration to the end instead never
   * came back to the oldest circuits while new ones arrived faster than it read, and their keys
   * expired under keyTtl.
   */
  #nextBatch(): C[] {
    const batch: C[] = [];
    for (let wrapped = false; batch.length < this.#options.batch;) {
      if (this.#cursor === undefined) {
        this.#cursor = this.#options.circuits();
        this.#left = this.#options.size();
      }
      const next = this.#left > 0 ? this.#cursor.next() : undefined;
      if (next !== undefined && next.done !== true) {
        this.#left -= 1;
        batch.push(next.value);
        continue;
      }
      this.#cursor = undefined;
      if (wrapped || this.#options.size() === 0) break;
      wrapped = true;
    }
    return [...new Set(batch)];
  }

  async #readStale(): Promise<void> {
    const size = this.#options.batch;
    while (this.#stale.size > 0 && !this.#closed) {
      const batch: C[] = [];
      for (const circuit of this.#stale) {
        this.#stale.delete(circuit);
        batch.push(circuit);
        if (batch.length === size) break;
      }
      await Promise.all(batch.map((circuit) => this.#options.read(circuit)));
    }
  }
}
