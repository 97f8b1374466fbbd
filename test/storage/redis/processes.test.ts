/**
 * A fleet of real OS processes (child processes running test/support/redis-worker.ts) hammering
 * one circuit in one Redis at once.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage } from "../../../src/index.js";
import { startWorker, type Worker, type WorkerEvent, type WorkerReply } from "../../support/redis-fleet.js";
import { REDIS_URL, deleteKeys, inspector, uniquePrefix, waitFor } from "../../support/redis-helpers.js";

const WORKERS = 8;
const prefix = uniquePrefix("test-fleet");
let workers: Worker[] = [];
let redis: Redis;
let parent: AsyncCircuitBreakerFactory;

/** Sends one command to every worker at once. */
const everyone = (command: Parameters<Worker["send"]>[0]): Promise<WorkerReply[]> =>
  Promise.all(workers.map((worker) => worker.send(command)));

const eventsOf = (circuit: string, eventType: string): WorkerEvent[] =>
  workers.flatMap((worker) => worker.events.filter((e) => e.circuit === circuit && e.eventType === eventType));

const key = (name: string) => new RedisStorage({ prefix }).keys.circuit(name);

beforeAll(async () => {
  redis = inspector();
  // The parent registers each circuit first, so its config (threshold, ttl, probes) wins fleet-wide.
  parent = new AsyncCircuitBreakerFactory({
    storage: new RedisStorage({ url: REDIS_URL, prefix }),
    halfOpenMaxCalls: 2,
  });
  await parent.initialize();
  const started = await Promise.allSettled(
    Array.from({ length: WORKERS }, () => startWorker({ url: REDIS_URL, prefix, threshold: 5, ttl: 60 })),
  );
  workers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}, 60_000);

afterAll(async () => {
  let codes: (number | null)[] | undefined;
  try {
    codes = await Promise.all(
      workers.map(async (worker) => {
        const timer = setTimeout(() => worker.kill(), 5000);
        await worker.send({ op: "exit" }).catch(() => undefined);
        const code = await worker.exited;
        clearTimeout(timer);
        return code;
      }),
    );
  } finally {
    await parent?.close();
    await deleteKeys(redis, prefix);
    await redis?.quit();
  }
  // Each worker closed its factory and then ended by itself (not killed after 5 s).
  expect(codes).toEqual(workers.map(() => 0));
}, 30_000);

describe(`${WORKERS} processes on one circuit`, () => {
  it("count every failure exactly once", async () => {
    const name = "exact-count";
    await parent.getBreaker(name, { threshold: 1_000_000, ttl: 60 });
    await everyone({ op: "register", name });
    const replies = await everyone({ op: "fail", name, calls: 40, concurrency: 4 });
    expect(replies.map((r) => [r.failed, r.rejected])).toEqual(workers.map(() => [40, 0]));
    expect(await redis.hget(key(name), "f")).toBe(String(WORKERS * 40));
    // Each atomic increment answered a distinct count: 1..320, each exactly once.
    const counts = eventsOf(name, "failed").map((e) => (e.event as { failureCount: number }).failureCount);
    expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: WORKERS * 40 }, (_, i) => i + 1));
  });

  it("trip once: one non-remote opened fleet-wide, seen by every process", async () => {
    const name = "one-trip";
    const threshold = 20;
    await parent.getBreaker(name, { threshold, ttl: 60 });
    await everyone({ op: "register", name });
    const replies = await everyone({ op: "fail", name, calls: 10, concurrency: 3 });
    const failed = replies.reduce((sum, r) => sum + (r.failed as number), 0);
    expect(failed).toBeGreaterThanOrEqual(threshold);

    const opened = eventsOf(name, "state_changed").filter((e) => e.event.state === "opened");
    const local = opened.filter((e) => e.event.remote !== true);
    expect(local).toHaveLength(1);
    // Only failures counted before the trip are reported: exactly 1..threshold.
    const counts = eventsOf(name, "failed").map((e) => (e.event as { failureCount: number }).failureCount);
    expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: threshold }, (_, i) => i + 1));
    expect(await redis.hmget(key(name), "st", "f", "g")).toEqual(["opened", String(threshold), "1"]);

    // Every process knows: its replica is opened, and its hooks heard of it exactly once.
    const states = await everyone({ op: "waitState", name, state: "opened", timeoutMs: 3000 });
    expect(states.map((s) => s.state)).toEqual(workers.map(() => "opened"));
    const openedAt = local[0]?.event.openedAt ?? 0;
    for (const worker of workers) {
      const mine = worker.events.filter((e) => e.circuit === name && e.eventType === "state_changed");
      expect(mine.map((e) => e.event.state)).toEqual(["opened"]);
      expect(mine[0]?.event.openedAt).toBe(openedAt);
    }
    const after = await everyone({ op: "fail", name, calls: 3, concurrency: 1 });
    expect(after.map((r) => [r.failed, r.rejected])).toEqual(workers.map(() => [0, 3]));
  });

  it("never run more than halfOpenMaxCalls probes at once, fleet-wide", async () => {
    const name = "probes";
    const counterKey = `${prefix}:running-probes`;
    const breaker = await parent.getBreaker(name, { threshold: 1, ttl: 0.15 });
    expect(breaker.state).toBe("closed");
    await everyone({ op: "register", name });
    await breaker.run(() => Promise.reject(new Error("trip"))).catch(() => undefined);
    expect(breaker.state).toBe("opened");
    await everyone({ op: "waitState", name, state: "opened", timeoutMs: 3000 });

    const replies = await everyone({ op: "probe", name, durationMs: 1200, probeMs: 60, counterKey });
    const probes = replies.reduce((sum, r) => sum + (r.probes as number), 0);
    const maxConcurrent = Math.max(...replies.map((r) => r.maxConcurrent as number));
    expect(maxConcurrent).toBeLessThanOrEqual(2);
    expect(maxConcurrent).toBeGreaterThanOrEqual(1);
    // Several half-open rounds happened (each failed probe re-opened the circuit).
    expect(probes).toBeGreaterThanOrEqual(3);
    expect(await redis.get(counterKey)).toBe("0");
    const halfOpened = eventsOf(name, "state_changed").filter(
      (e) => e.event.state === "half-opened" && e.event.remote !== true,
    );
    expect(halfOpened.length).toBeGreaterThanOrEqual(2);
    expect(halfOpened.length).toBeLessThanOrEqual(probes);
    await waitFor("the parent to follow", () => breaker.state !== "closed");
  });
});
