/**
 * Fleet member "watcher": holds the same circuits as the storm member and makes no call. Records
 * when each remote `opened` reaches it (wall clock, with the `openedAt` that identifies the trip),
 * for the propagation figures, and what the window cost it.
 * @module
 */
import {
  epochMs,
  joinFleet,
  memberConfig,
  parentLines,
  getReady,
  sayResult,
  startWindow,
  type StorageProblem,
  type WindowFigures,
} from "./member.js";

/** A remote `opened` as the watcher heard it. */
export interface HeardTrip {
  readonly name: string;
  readonly openedAt: number;
  /** Wall clock (ms, `performance.timeOrigin + performance.now()`) when the hook ran. */
  readonly at: number;
}

/** What the watcher reports. */
export interface WatcherResult {
  readonly window: WindowFigures;
  readonly heard: readonly HeardTrip[];
  readonly subscriptions: number;
  readonly problems: readonly StorageProblem[];
}

const parent = parentLines();
const member = await joinFleet(memberConfig());
const heard: HeardTrip[] = [];
member.factory.addListener((name, eventType, event) => {
  if (eventType === "state_changed" && event.remote === true && event.state === "opened" && event.openedAt !== null) {
    heard.push({ name, openedAt: event.openedAt, at: epochMs() });
  }
});
await getReady(member);
await parent.heard("start");
const endWindow = startWindow(member);
await parent.heard("stop");
const window = endWindow();
const result: WatcherResult = { window, heard, subscriptions: member.storage.subscriptions, problems: member.problems };
sayResult(result);
parent.done();
await member.close();
