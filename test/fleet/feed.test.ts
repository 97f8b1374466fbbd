/**
 * The watch that the dashboard and `purgatory circuits --watch` share (`Fleet.watch`, a
 * `CircuitFeed`), against a throw-away redis-server of its own (so that `INFO commandstats` counts
 * only what it sends): a change that publishes is read at once, a new name is found in the
 * registry, what changes without a message (a failure count from 1 to 2, a write behind the
 * scripts' back: a lost message) is caught by the sweep, a name scored anew in the registry is
 * read again, idle costs a few commands a second whatever the number of circuits, and an outage
 * is said in plain words.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type CircuitInfo } from "../../src/index.js";
import { Fleet, type FleetFeed } from "../../src/fleet/fleet.js";
import type { FeedStatus } from "../../src/storage/redis/watch.js";
import { redisTime, waitFor } from "../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";

let server: RedisServer;
let admin: Redis;
let holder: AsyncCircuitBreakerFactory;
let fleet: Fleet;
const prefix = "feed";
const fail = (): Promise<never> => Promise.reject(new Error("down"));

/** A watch that keeps what it heard. */
async function watch(options: Parameters<Fleet["watch"]>[1] = {}) {
  const seen = new Map<string, CircuitInfo>();
  const reads: { circuits: CircuitInfo[]; gone: string[]; at: number }[] = [];
  const statuses: FeedStatus[] = [];
  const feed: FleetFeed = await fleet.watch(
    {
      read(circuits, gone) {
        reads.push({ circuits: [...circuits], gone: [...gone], at: Date.now() });
        for (const c of circuits) seen.set(c.name, c);
        for (const name of gone) seen.delete(name);
      },
      status: (status) => statuses.push(status),
    },
    options,
  );
  return { feed, seen, reads, statuses };
}

/** Commands the server ran so far (its own INFO left out). */
async function commands(): Promise<number> {
  const info = await admin.info("commandstats");
  let total = 0;
  for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    if (name !== "info") total += Number(calls);
  return total;
}

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  admin.on("error", () => undefined);
  holder = new AsyncCircuitBreakerFactory({
    storage: new RedisStorage({ url: server.url, prefix, resyncInterval: 3600 }),
    defaultThreshold: 3,
  });
  await holder.initialize();
  await Promise.all(Array.from({ length: 300 }, (_, i) => holder.getBreaker(`idle-${i}`)));
  fleet = await Fleet.connect({ url: server.url, prefix });
}, 60_000);

afterAll(async () => {
  await holder?.close();
  await fleet?.close();
  admin?.disconnect();
  await server?.stop();
});

describe("Fleet.watch", () => {
  it("reads every circuit once, then costs a few commands a second while nothing changes", async () => {
    const { feed, seen } = await watch();
    try {
      expect(seen.size).toBe(300);
      await new Promise((r) => setTimeout(r, 1500));
      const before = await commands();
      const started = Date.now();
      await new Promise((r) => setTimeout(r, 4000));
      const sent = (await commands()) - before;
      // The registry (2/s) and the sweep (10/s), whatever the number of circuits.
      expect(sent / ((Date.now() - started) / 1000)).toBeLessThanOrEqual(15);
    } finally {
      await feed.close();
    }
  }, 20_000);

  it("a change that publishes (a trip) is read at once; a new circuit is found in the registry", async () => {
    const { feed, seen } = await watch();
    try {
      const breaker = await holder.getBreaker("idle-7");
      const started = Date.now();
      for (let i = 0; i < 3; i++) await breaker.run(fail).catch(() => undefined);
      await waitFor("idle-7 opened", () => seen.get("idle-7")?.state === "opened", 2000);
      expect(Date.now() - started).toBeLessThan(500);
      await holder.getBreaker("brand-new");
      await waitFor("brand-new", () => seen.has("brand-new"), 2500);
      await breaker.reset();
    } finally {
      await feed.close();
    }
  });

  it("a count from 1 to 2 (no message) is caught by the sweep, which reads circuits with counts first", async () => {
    // 20 commands a second: a round over all 300 circuits would take 16 s.
    const { feed, seen } = await watch({ sweepCommandsPerSecond: 20 });
    try {
      const breaker = await holder.getBreaker("idle-250");
      // 0 -> 1 is published (the next success anywhere must reset it); 1 -> 2 is not.
      await breaker.run(fail).catch(() => undefined);
      await waitFor("1 failure", () => seen.get("idle-250")?.failureCount === 1, 2000);
      await breaker.run(fail).catch(() => undefined);
      await waitFor("2 failures", () => seen.get("idle-250")?.failureCount === 2, 3000);
      await breaker.reset();
    } finally {
      await feed.close();
    }
  }, 20_000);

  it("a message lost (a write behind the scripts' back) is caught by the round over every circuit", async () => {
    // 400 commands a second: a round over all 300 circuits within a second.
    const { feed, seen } = await watch({ sweepCommandsPerSecond: 400 });
    try {
      await admin.hset(`${prefix}:circuit:{idle-200}`, "f", "2");
      await waitFor("idle-200's count", () => seen.get("idle-200")?.failureCount === 2, 3000);
      await admin.hset(`${prefix}:circuit:{idle-200}`, "f", "0");
    } finally {
      await feed.close();
    }
  }, 20_000);

  it("a name scored anew in the registry (its key written again, its message missed) is read again", async () => {
    // No sweep (a budget of 1 command a second is all the read's TIME): only the registry can tell.
    const { feed, seen } = await watch({ sweepCommandsPerSecond: 1 });
    try {
      expect(seen.get("idle-100")?.failureCount).toBe(0);
      await admin.hset(`${prefix}:circuit:{idle-100}`, "f", "2");
      await admin.zadd(`${prefix}:circuits`, await redisTime(admin), "idle-100");
      await waitFor("idle-100's count", () => seen.get("idle-100")?.failureCount === 2, 3000);
      await admin.hset(`${prefix}:circuit:{idle-100}`, "f", "0");
    } finally {
      await feed.close();
    }
  }, 20_000);

  it("a key gone is gone; the registry dropping it too", async () => {
    const { feed, seen } = await watch({ sweepCommandsPerSecond: 400 });
    try {
      await holder.forget("idle-299");
      await admin.del(`${prefix}:circuit:{idle-299}`);
      await waitFor("idle-299 gone", () => !seen.has("idle-299"), 5000);
      await fleet.prune();
      await new Promise((r) => setTimeout(r, 1200));
      expect(seen.has("idle-299")).toBe(false);
    } finally {
      await feed.close();
    }
  }, 20_000);

  it("Redis down: said in plain words; back: every circuit read again", async () => {
    const { feed, seen, statuses, reads } = await watch();
    try {
      await server.kill();
      await waitFor("down", () => statuses.some((s) => !s.available), 5000);
      expect(statuses.find((s) => !s.available)?.error).toMatch(/^(connection refused|the connection is down)$/);
      const readsBefore = reads.length;
      await server.restart();
      await waitFor("up", () => statuses.at(-1)?.available === true, 5000);
      // The holder writes its circuits anew (its recovery re-reads all 300); the watch lists them
      // again. (10 s were not enough once, at load 9.)
      await waitFor("the circuits again", () => reads.length > readsBefore && seen.size >= 300, 25_000).catch(
        async (error: unknown) => {
          const listed = await admin.zcard(`${prefix}:circuits`).catch(() => "?");
          const stored = (await admin.keys(`${prefix}:circuit:*`).catch(() => [])).length;
          throw new Error(
            `${String(error)}: ${seen.size} circuits seen, ${reads.length - readsBefore} reads since; ` +
              `Redis lists ${listed} and holds ${stored}`,
          );
        },
      );
    } finally {
      await feed.close();
    }
  }, 45_000);
});
