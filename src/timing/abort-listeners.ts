/**
 * One `abort` listener per caller's signal, however many calls follow it at once. A caller often
 * passes one long-lived signal (a server's shutdown signal) to every call: a listener per call in
 * flight made Node warn (`MaxListenersExceededWarning`) past ten calls at once, and Node scans a
 * signal's listeners on each one added. Here the signal gets one listener, which calls the
 * followers in the order they came.
 * @module
 */

/** The followers of each signal that has some, or had. */
const followersOf = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `listener` once when `signal` aborts, unless `unfollowAbort` came first. */
export function followAbort(signal: AbortSignal, listener: () => void): void {
  let followers = followersOf.get(signal);
  if (followers === undefined) {
    const created = new Set<() => void>();
    followers = created;
    followersOf.set(signal, created);
    signal.addEventListener(
      "abort",
      () => {
        followersOf.delete(signal);
        const called = [...created];
        created.clear();
        for (const follower of called) follower();
      },
      { once: true },
    );
  }
  followers.add(listener);
}

/** `listener` no longer follows `signal`. */
export function unfollowAbort(signal: AbortSignal, listener: () => void): void {
  followersOf.get(signal)?.delete(listener);
}
