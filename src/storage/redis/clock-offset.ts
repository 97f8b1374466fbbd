/**
 * Redis time minus this process's clock, estimated from script replies. Each reply gives a sample:
 * the Redis time at which the script ran minus the local time at which it was sent. A sample
 * exceeds the true offset by however long the script waited to run (a busy event loop, the
 * network, Redis's queue), never less, so the smallest recent sample is the closest estimate; the
 * last one alone may be off by a loaded machine's delay (tens of milliseconds), which would date a
 * rate window's counts that much late. Only the last `SAMPLES` count, so that a local clock that
 * steps back is followed after that many replies.
 * @module
 */

/** How many recent samples the estimate is the minimum of. */
export const SAMPLES = 16;

/** The estimate and its recent samples. */
export class ClockOffset {
  readonly #samples: number[] = [];
  #next = 0;
  #value = 0;

  /** The estimate, ms (0 before the first sample). */
  get value(): number {
    return this.#value;
  }

  /** Takes the sample of one reply (`redisTime - sentAt`, ms) and returns the new estimate. */
  add(sample: number): number {
    if (this.#samples.length < SAMPLES) {
      this.#samples.push(sample);
    } else {
      this.#samples[this.#next] = sample;
      this.#next = (this.#next + 1) % SAMPLES;
    }
    let value = sample;
    for (const s of this.#samples) if (s < value) value = s;
    this.#value = value;
    return value;
  }
}
