/**
 * Fleet member "startup", alone on the deployment and run to completion with `--expose-gc`: the
 * start-up time of its circuits on a fresh factory (`initialize()` done before the clock starts,
 * then `await Promise.all(names.map((n) => factory.getBreaker(n)))`), and the heap its replicas
 * take per circuit (after a full gc, minus the heap before them; the names are made beforehand, so
 * the figure excludes the name strings).
 *
 * If the registration burst made the storage report `storage_unavailable` (a script reply later
 * than `commandTimeout`), the circuits it could not read start on a placeholder and are read again
 * when Redis answers: `recoveredMs` is the time until `storage_recovered`, and the heap is
 * measured after it.
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { fullGc } from "../gc.js";
import { joinFleet, memberConfig, sayResult, type StorageProblem } from "./member.js";

/** What the startup member reports. */
export interface StartupResult {
  readonly circuits: number;
  readonly startupMs: number;
  /** From the same start to `storage_recovered`, when the registration caused an outage; else null. */
  readonly recoveredMs: number | null;
  readonly heapBytesPerCircuit: number;
  readonly subscriptions: number;
  readonly problems: readonly StorageProblem[];
}

const member = await joinFleet(memberConfig());
fullGc();
const heap0 = process.memoryUsage().heapUsed;
const t0 = performance.now();
await Promise.all(member.names.map((name) => member.factory.getBreaker(name)));
const startupMs = performance.now() - t0;
const outage = member.problems.some((p) => p.event === "storage_unavailable");
await member.healthy();
const recoveredMs = outage ? performance.now() - t0 : null;
// The registry writes (ZADD) each registration sends without waiting come back meanwhile.
await sleep(300);
fullGc();
const heap1 = process.memoryUsage().heapUsed;
const result: StartupResult = {
  circuits: member.names.length,
  startupMs,
  recoveredMs,
  heapBytesPerCircuit: (heap1 - heap0) / member.names.length,
  subscriptions: member.storage.subscriptions,
  problems: member.problems,
};
sayResult(result);
await member.close();
