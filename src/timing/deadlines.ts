/**
 * The call timeouts of one factory, on one timer: a binary min-heap of deadlines and a single
 * `setTimeout` armed for the earliest, so 10,000 calls in flight cost one timer, not 10,000
 * (docs/design.md, "Performance targets": no timer per call). A call that settles first is only
 * marked; the heap drops it when it reaches the top, or all at once when most entries are such.
 * @module
 */

/** A call with a deadline, as the scheduler sees it. */
export interface Deadline {
  /** When it is due, on `performance.now()`'s time line (ms). Set by `Deadlines.add`. */
  dueAt: number;
  /** Whether the scheduler holds it, not yet expired nor deleted. Set by the scheduler only. */
  queued: boolean;
  /** Called once, by the timer, when `dueAt` has passed while it was still queued. */
  expire(): void;
}

/** Below this many entries the heap is never compacted: dropping a few settled calls is not worth a pass. */
const COMPACT_MIN = 64;

/**
 * Deadlines of calls, one timer for all. The timer is `unref`'d (pending timeouts never keep a
 * process alive), cleared as soon as no deadline is pending, and on `close()`.
 *
 * @example
 * ```ts
 * const deadlines = new Deadlines();
 * const call = { dueAt: 0, queued: false, expire: () => console.log("timed out") };
 * deadlines.add(call, 2_000);
 * deadlines.delete(call); // settled in time: nothing happens
 * ```
 */
export class Deadlines {
  #heap: Deadline[] = [];
  #pending = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The `dueAt` the timer was armed for. */
  #armedFor = Number.POSITIVE_INFINITY;
  #closed = false;
  readonly #fire = (): void => this.#expireDue();

  /** How many deadlines are pending (added, neither expired nor deleted). */
  get size(): number {
    return this.#pending;
  }

  /** How many entries the heap holds: the pending ones, and settled ones not dropped yet. */
  get held(): number {
    return this.#heap.length;
  }

  /** Whether the timer is armed; there is never more than one. */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** Queues `entry` to expire in `ms` milliseconds. Once closed, does nothing. */
  add(entry: Deadline, ms: number): void {
    if (this.#closed) return;
    entry.dueAt = performance.now() + ms;
    entry.queued = true;
    this.#pending += 1;
    const heap = this.#heap;
    heap.push(entry);
    siftUp(heap, heap.length - 1);
    if (entry.dueAt < this.#armedFor) this.#arm(entry.dueAt);
  }

  /** Forgets `entry`, a call that settled in time: it will not expire. */
  delete(entry: Deadline): void {
    if (!entry.queued) return;
    entry.queued = false;
    this.#pending -= 1;
    if (this.#pending === 0) {
      this.#disarm();
      this.#heap = [];
    } else if (this.#heap.length >= COMPACT_MIN && this.#pending * 2 < this.#heap.length) {
      // Mostly settled entries: drop them in one pass (amortised O(1) per deletion).
      this.#heap = this.#heap.filter((e) => e.queued);
      heapify(this.#heap);
    }
  }

  /** Clears the timer and forgets every deadline: the calls still running will not time out. */
  close(): void {
    this.#closed = true;
    this.#disarm();
    for (const entry of this.#heap) entry.queued = false;
    this.#heap = [];
    this.#pending = 0;
  }

  #arm(dueAt: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedFor = dueAt;
    const timer = setTimeout(this.#fire, Math.max(0, dueAt - performance.now()));
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  #expireDue(): void {
    // The timer fired for `armedFor`: that deadline is due even if the clock reads a hair less
    // (timers may fire early by a fraction of a millisecond, or the clock may not be faked).
    const now = Math.max(performance.now(), this.#armedFor);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const heap = this.#heap;
    const due: Deadline[] = [];
    while (heap.length > 0) {
      const top = heap[0] as Deadline;
      if (top.queued && top.dueAt > now) break;
      pop(heap);
      if (!top.queued) continue;
      top.queued = false;
      this.#pending -= 1;
      due.push(top);
    }
    if (this.#pending === 0) this.#heap = [];
    else this.#arm((heap[0] as Deadline).dueAt);
    // Last: an expiry runs other code (abort listeners, hooks), which may add or delete deadlines.
    for (const entry of due) {
      try {
        entry.expire();
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

function siftUp(heap: Deadline[], index: number): void {
  const entry = heap[index] as Deadline;
  while (index > 0) {
    const parent = (index - 1) >> 1;
    const above = heap[parent] as Deadline;
    if (above.dueAt <= entry.dueAt) break;
    heap[index] = above;
    index = parent;
  }
  heap[index] = entry;
}

function siftDown(heap: Deadline[], index: number): void {
  const length = heap.length;
  const entry = heap[index] as Deadline;
  for (;;) {
    let child = 2 * index + 1;
    if (child >= length) break;
    const right = child + 1;
    if (right < length && (heap[right] as Deadline).dueAt < (heap[child] as Deadline).dueAt) child = right;
    const below = heap[child] as Deadline;
    if (entry.dueAt <= below.dueAt) break;
    heap[index] = below;
    index = child;
  }
  heap[index] = entry;
}

/** Removes the earliest entry. */
function pop(heap: Deadline[]): void {
  const last = heap.pop() as Deadline;
  if (heap.length === 0) return;
  heap[0] = last;
  siftDown(heap, 0);
}

function heapify(heap: Deadline[]): void {
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i);
}
