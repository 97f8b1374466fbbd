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
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 3000, everyMs = 5): Promise<NonNullable<T>> {
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
