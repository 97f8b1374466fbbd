/**
 * Small helpers of the Redis integration tests: the Redis at `REDIS_URL`, unique key prefixes,
 * deleting a test's keys, and polling until something becomes true.
 */
import { randomUUID } from "node:crypto";
import { Cluster, Redis } from "ioredis";
import type { CircuitHookArgs } from "../../src/index.js";

/** The Redis the tests share (`REDIS_URL`, default `redis://127.0.0.1:6379`). */
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A key prefix no other test uses. */
export function uniquePrefix(label = "test"): string {
  return `${label}-${randomUUID()}`;
}

/** A plain client for looking at (or tampering with) what the storage wrote. */
export function inspector(url = REDIS_URL): Redis {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

/** Deletes every key under `prefix:` (SCAN, then DEL), on each master of a cluster. */
export async function deleteKeys(client: Redis | Cluster, prefix: string): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes("master") : [client];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) await node.del(key);
    } while (cursor !== "0");
  }
}

/** Waits `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value, which it returns; throws `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 3000,
  everyMs = 5,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Redis's clock (TIME) in epoch ms. */
export async function redisTime(client: Redis | Cluster): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Calls of each command since the server started (calls + failed + rejected), from INFO commandstats. */
export async function commandCalls(client: Redis): Promise<Record<string, number>> {
  const text = await client.info("commandstats");
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):(.*)$/gm)) {
    const fields: Record<string, string | undefined> = Object.fromEntries(
      (match[2] ?? "").split(",").map((kv) => kv.split("=") as [string, string]),
    );
    counts[match[1] as string] =
      Number(fields.calls ?? 0) + Number(fields.failed_calls ?? 0) + Number(fields.rejected_calls ?? 0);
  }
  return counts;
}

/** What changed between two `commandCalls`, without the INFO calls themselves. */
export function commandDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [command, calls] of Object.entries(after)) {
    const d = calls - (before[command] ?? 0);
    if (d !== 0 && command !== "info") out[command] = d;
  }
  return out;
}

/** Script and function calls (EVAL, EVALSHA, FCALL and their read-only forms) since the server started. */
export async function scriptCalls(client: Redis): Promise<number> {
  const counts = await commandCalls(client);
  return ["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"].reduce(
    (sum, c) => sum + (counts[c] ?? 0),
    0,
  );
}

/** Every hook call of a factory, kept for assertions. */
export class HookRecorder {
  readonly calls: CircuitHookArgs[] = [];
  readonly hook = (...args: CircuitHookArgs): void => {
    this.calls.push(args);
  };

  /** The calls of one event type (and circuit, if given). */
  of(eventType: CircuitHookArgs[1], circuit?: string): CircuitHookArgs[] {
    return this.calls.filter(([name, type]) => type === eventType && (circuit === undefined || name === circuit));
  }

  /** `state_changed` events of `circuit` as `"opened"` / `"opened (remote)"`. */
  states(circuit: string): string[] {
    return this.calls.flatMap(([name, type, event]) =>
      name === circuit && type === "state_changed" ? [`${event.state}${event.remote === true ? " (remote)" : ""}`] : [],
    );
  }
}
