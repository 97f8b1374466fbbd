/**
 * A clock for dating the successes a rate window counts without a clock read per call (`Date.now()`
 * costs as much as a bare guarded call): it reads the real clock on a shared, unref'd timer every
 * `RESOLUTION_MS`, which runs only while calls use it and stops after a quiet tick. One timer per
 * process, none per circuit or call.
 * @module
 */

/** How stale the coarse time may be, ms: the error on the time a success is counted at. */
export const RESOLUTION_MS = 100;

/** A function that returns the time, with an optional cheaper, coarser reading of it. */
export type Clock = (() => number) & {
  /** A cheaper reading, stale by at most 0.1 s: good enough to date a success in a rate window. */
  readonly coarse?: () => number;
};

let value = 0;
let used = false;
let timer: ReturnType<typeof setInterval> | undefined;

function tick(): void {
  if (!used) {
    clearInterval(timer);
    timer = undefined;
    return;
  }
  used = false;
  value = Date.now();
}

/** `Date.now()` to within `RESOLUTION_MS`. */
export function coarseNow(): number {
  used = true;
  if (timer === undefined) {
    value = Date.now();
    timer = setInterval(tick, RESOLUTION_MS);
    timer.unref?.();
  }
  return value;
}

/**
 * The factory's clock as storages receive it: the default clock (`Date.now`) gets a coarse
 * reading; an injected clock (tests, simulations) is read exactly, every time.
 */
export function withCoarse(clock: () => number, isDefault: boolean): Clock {
  return isDefault ? Object.assign(clock, { coarse: coarseNow }) : clock;
}
