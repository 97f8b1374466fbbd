/**
 * The fleet's telemetry against a real Redis: processes report their traffic only while somebody
 * watches (not one command otherwise), one report a second for all their circuits, and a watcher
 * gathers them by circuit and by process.
 */
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage } from "../../../src/index.js";
import { redisKeys, type RedisKeys } from "../../../src/storage/redis/keys.js";
import { toRedisSettings } from "../../../src/storage/redis/options.js";
import { TrafficWatch, type TrafficSnapshot } from "../../../src/storage/redis/traffic-watch.js";
import { deleteKeys, inspector, REDIS_URL, sleep, uniquePrefix, waitFor } from "../../support/redis-helpers.js";

let redis: Redis;
let prefix: string;
let keys: RedisKeys;
const closers: (() => Promise<unknown>)[] = [];
beforeEach(() => {
  redis = inspector();
  prefix = uniquePrefix("test-telemetry");
  keys = redisKeys(prefix);
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

async function processNamed(processName: string) {
  const storage = new RedisStorage({ url: REDIS_URL, prefix, processName });
  const factory = new AsyncCircuitBreakerFactory({ storage });
  closers.push(() => factory.close());
  await factory.initialize();
  return { storage, factory };
}

async function watcher(): Promise<TrafficWatch> {
  const client = new Redis(REDIS_URL, { lazyConnect: true });
  const watch = new TrafficWatch(client, toRedisSettings({ url: REDIS_URL, prefix }), keys, { graceMs: 300 });
  closers.push(async () => {
    await watch.close();
    client.disconnect();
  });
  await watch.start();
  return watch;
}

describe("the fleet's telemetry", () => {
  it("sends nothing while nobody watches", async () => {
    const { storage, factory } = await processNamed("web-1");
    for (let i = 0; i < 100; i++) await factory.run("api", () => i);
    await sleep(1200);
    expect(storage.trafficWatched).toBe(false);
    expect(storage.stats().trafficReports).toBe(0);
  });

  it("reports each process's calls once a second while a watcher watches; the watcher sums them", async () => {
    const a = await processNamed("web-1");
    const b = await processNamed("web-2");
    const watch = await watcher();
    await waitFor("both processes to hear the watcher", () => a.storage.trafficWatched && b.storage.trafficWatched);
    const snapshots: TrafficSnapshot[] = [];
    watch.onUpdate((s) => snapshots.push(s));
    // A few seconds of traffic: web-1 succeeds on "api", web-2 fails on it.
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      await a.factory.run("api", () => "ok");
      await b.factory.run("api", () => Promise.reject(new Error("down")), { threshold: 1_000_000 }).catch(() => null);
      await sleep(5);
    }
    const seen = await waitFor("a snapshot with both processes on api", () =>
      snapshots.find((s) => s.circuits.find((c) => c.name === "api")?.processes.length === 2),
    );
    const api = seen.circuits.find((c) => c.name === "api");
    expect(api?.calls).toBeGreaterThan(10);
    expect(api?.errorRate).toBeGreaterThan(0.3);
    expect(api?.errorRate).toBeLessThan(0.7);
    const byProcess = new Map(api?.processes.map((p) => [p.process, p]));
    expect(byProcess.get("web-1")?.errorRate).toBe(0);
    expect(byProcess.get("web-2")?.errorRate).toBe(1);
    expect(api?.p99).not.toBeNull();
    // One report a second per process at most.
    expect(a.storage.stats().trafficReports).toBeLessThanOrEqual(5);
  });

  it("stops reporting once the watcher leaves", async () => {
    const { storage, factory } = await processNamed("web-1");
    const watch = await watcher();
    await waitFor("the process to hear the watcher", () => storage.trafficWatched);
    await watch.close();
    // It says it leaves: the process stops at the next second, not when the announcement runs out.
    await waitFor("the process to stop", () => !storage.trafficWatched, 2500, 20);
    const reports = storage.stats().trafficReports;
    for (let i = 0; i < 20; i++) await factory.run("api", () => i);
    await sleep(1200);
    expect(storage.stats().trafficReports).toBe(reports);
  });

  it("a process that starts while a watcher watches learns of it from the watchers' set", async () => {
    await watcher();
    const { storage } = await processNamed("late");
    await waitFor("the late process to know it is watched", () => storage.trafficWatched, 1000);
  });
});
