/**
 * A bound on the tasks in flight: a burst of registrations (10,000 circuits at start-up) reads a
 * few at a time, instead of sending every read at once and letting the last ones wait past the
 * command timeout.
 * @module
 */

/** Runs at most `limit` tasks at once; the others wait their turn (no timeout while they wait). */
export class Limiter {
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  /** At most `limit` tasks run at once. */
  constructor(readonly limit: number) {}

  /** Runs `task` once fewer than `limit` run. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#running += 1;
    try {
      return await task();
    } finally {
      this.#running -= 1;
      this.#waiting.shift()?.();
    }
  }
}
