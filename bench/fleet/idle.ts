/**
 * Fleet member "idle": holds circuits of its own (none of the failing ones) and makes no call.
 * Reports what the storm elsewhere cost it: messages received and CPU over the window.
 * @module
 */
import {
  joinFleet,
  memberConfig,
  parentLines,
  getReady,
  sayResult,
  startWindow,
  type StorageProblem,
  type WindowFigures,
} from "./member.js";

/** What an idle member reports. */
export interface IdleResult {
  readonly window: WindowFigures;
  readonly subscriptions: number;
  readonly problems: readonly StorageProblem[];
}

const parent = parentLines();
const member = await joinFleet(memberConfig());
await getReady(member);
await parent.heard("start");
const endWindow = startWindow(member);
await parent.heard("stop");
const window = endWindow();
const result: IdleResult = { window, subscriptions: member.storage.subscriptions, problems: member.problems };
sayResult(result);
parent.done();
await member.close();
