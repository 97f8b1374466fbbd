/**
 * Fleet member "storm": holds the watcher's circuits and, for `seconds`, fails calls on the first
 * `failing` of them as fast as it can, one lane (a sequential loop) per circuit, so that they keep
 * tripping, half-opening and reopening. An opened circuit's lane sleeps until a probe may run.
 * Records every trip it makes (a non-remote `opened`) with the time the failing call that made it
 * rejected in the guarded function.
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
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

/** A trip the storm made. */
export interface MadeTrip {
  readonly name: string;
  readonly openedAt: number;
  /** Wall clock (ms) just before the guarded function of the tripping call rejected. */
  readonly failedAt: number;
}

/** What the storm reports. */
export interface StormResult {
  readonly window: WindowFigures;
  /** Calls that reached the guarded function (and failed). */
  readonly failures: number;
  /** Calls rejected by an opened circuit without running. */
  readonly rejections: number;
  readonly trips: readonly MadeTrip[];
  readonly subscriptions: number;
  readonly problems: readonly StorageProblem[];
}

const parent = parentLines();
const config = memberConfig();
const member = await joinFleet(config);
const { CircuitOpenError } = member.purgatory;
/** The last time each circuit's guarded function rejected: one lane per circuit, so it is the tripping call's. */
const failedAt = new Map<string, number>();
const trips: MadeTrip[] = [];
member.factory.addListener((name, eventType, event) => {
  if (eventType === "state_changed" && event.remote !== true && event.state === "opened" && event.openedAt !== null) {
    trips.push({ name, openedAt: event.openedAt, failedAt: failedAt.get(name) ?? Number.NaN });
  }
});
await getReady(member);
await parent.heard("start");

const endWindow = startWindow(member);
const deadline = performance.now() + (config.seconds ?? 5) * 1000;
let failures = 0;
let rejections = 0;
const storm = new Error("storm");

async function lane(name: string): Promise<void> {
  const fail = async (): Promise<never> => {
    failures += 1;
    failedAt.set(name, epochMs());
    throw storm;
  };
  while (performance.now() < deadline) {
    try {
      await member.factory.run(name, fail);
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        rejections += 1;
        await sleep(Math.max(1, Math.ceil(error.retryAfterMs)));
      }
    }
  }
}

await Promise.all(member.names.slice(0, config.failing ?? 0).map(lane));
const window = endWindow();
const result: StormResult = {
  window,
  failures,
  rejections,
  trips,
  subscriptions: member.storage.subscriptions,
  problems: member.problems,
};
sayResult(result);
parent.done();
await member.close();
