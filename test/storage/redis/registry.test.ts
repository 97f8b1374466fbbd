/**
 * The registry's upkeep, against a real Redis: with `keyTtl`, the names of circuits whose keys
 * expired leave the registry (names chosen by others would grow it for ever), the names of
 * circuits still held stay, and a name registered again while it was being looked at stays.
 */
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage } from "../../../src/index.js";
import { redisKeys, type RedisKeys } from "../../../src/storage/redis/keys.js";
import type { RedisClient } from "../../../src/storage/redis/options.js";
import { RegistryUpkeep } from "../../../src/storage/redis/registry.js";
import { deleteKeys, HookRecorder, inspector, REDIS_URL, uniquePrefix, waitFor } from "../../support/redis-helpers.js";
import { startProxy, type RedisProxy } from "../../support/redis-proxy.js";

let redis: Redis;
let prefix: string;
let keys: RedisKeys;
beforeEach(() => {
  redis = inspector();
  prefix = uniquePrefix("test-registry");
  keys = redisKeys(prefix);
});
afterEach(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

/** An upkeep over `redis` with a keyTtl of `keyTtlMs`, each command passed through `around`. */
function upkeep(keyTtlMs: number, around: (command: string) => Promise<void> = () => Promise.resolve()) {
  return new RegistryUpkeep({
    keys,
    keyTtlMs,
    batch: 2,
    now: () => Date.now(),
    run: async <T>(command: (client: RedisClient) => Promise<T>): Promise<T> =>
      command(
        new Proxy(redis, {
          get(target, property, receiver) {
            const value: unknown = Reflect.get(target, property, receiver);
            if (typeof value !== "function") return value;
            return async (...args: unknown[]) => {
              await around(String(property));
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            };
          },
        }),
      ),
    available: () => true,
  });
}

describe("the registry's upkeep", () => {
  it("drops the names whose circuit key is gone and scores the others anew", async () => {
    const old = Date.now() - 60_000;
    await redis.zadd(keys.registry, old, "held", old, "gone-1", old, "gone-2", old, "gone-3", Date.now(), "fresh");
    await redis.hset(keys.circuit("held"), "s", "closed");
    const removed = await upkeep(10_000).prune();
    expect(removed).toBe(3);
    expect(await redis.zrange(keys.registry, 0, -1)).toEqual(expect.arrayContaining(["held", "fresh"]));
    expect(await redis.zcard(keys.registry)).toBe(2);
    expect(Number(await redis.zscore(keys.registry, "held"))).toBeGreaterThan(Date.now() - 10_000);
  });

  it("leaves the names scored within keyTtl, whose keys may not be written yet", async () => {
    await redis.zadd(keys.registry, Date.now() - 1_000, "recent");
    expect(await upkeep(10_000).prune()).toBe(0);
    expect(await redis.zrange(keys.registry, 0, -1)).toEqual(["recent"]);
  });

  it("keeps a name registered again between its check and its removal", async () => {
    const old = Date.now() - 60_000;
    await redis.zadd(keys.registry, old, "comes-back");
    // Another process registers the circuit just after our EXISTS: it creates the key and scores the name.
    const prune = upkeep(10_000, async (command) => {
      if (command !== "eval") return;
      await redis.hset(keys.circuit("comes-back"), "s", "closed");
      await redis.zadd(keys.registry, Date.now(), "comes-back");
    });
    expect(await prune.prune()).toBe(0);
    expect(await redis.zrange(keys.registry, 0, -1)).toEqual(["comes-back"]);
  });

  it("runs by itself in a RedisStorage with keyTtl, every keyTtl: forgotten circuits leave the registry", async () => {
    const storage = new RedisStorage({ url: REDIS_URL, prefix, keyTtl: 0.2, resyncInterval: 0.05 });
    const factory = new AsyncCircuitBreakerFactory({ storage, defaultTtl: 0.1 });
    try {
      await factory.initialize();
      for (const name of ["kept", "dropped"]) await factory.run(name, () => "ok");
      await waitFor("both names listed", async () => ((await redis.zcard(keys.registry)) === 2 ? true : undefined));
      await factory.forget("dropped");
      // Held, "kept" has its key written again by the background re-read (and is listed again); "dropped"'s expires.
      await waitFor(
        "the forgotten circuit's name to leave the registry",
        async () => {
          const names = await redis.zrange(keys.registry, 0, -1);
          return names.join() === "kept" ? names : undefined;
        },
        10_000,
      );
      expect(await redis.exists(keys.circuit("dropped"))).toBe(0);
    } finally {
      await factory.close();
    }
  });
});

describe("the registry's listing", () => {
  let proxy: RedisProxy;
  let factory: AsyncCircuitBreakerFactory;
  let recorder: HookRecorder;
  beforeEach(async () => {
    proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379));
    recorder = new HookRecorder();
    const storage = new RedisStorage({ url: proxy.url, prefix });
    factory = new AsyncCircuitBreakerFactory({ storage, listeners: [recorder.hook] });
    await factory.initialize();
  });
  afterEach(async () => {
    await factory.close();
    await proxy.close();
  });

  // Every later read of such a circuit finds its key (nothing to create, so nothing to list): unless
  // the listing is sent again, operators never see the circuit. Both happen when Redis restarts
  // empty under load: the re-reads write every key anew, and a command timeout cuts one.
  it("lists a circuit whose listing was lost with the connection, once Redis answers again", async () => {
    proxy.dropOn("zadd");
    await factory.getBreaker("listed-late");
    expect(await redis.exists(keys.circuit("listed-late"))).toBe(1);
    await waitFor("the circuit listed", async () => (await redis.zscore(keys.registry, "listed-late")) !== null, 5000);
    expect(recorder.of("storage_unavailable")).toHaveLength(1);
  });

  it("does not list a circuit forgotten after its listing was lost", async () => {
    proxy.dropOn("zadd");
    await factory.getBreaker("forgotten");
    await waitFor("the outage", () => recorder.of("storage_unavailable").length === 1, 5000);
    await factory.forget("forgotten");
    await waitFor("the recovery", () => recorder.of("storage_recovered").length === 1, 5000);
    // A circuit registered after the recovery is listed after anything the recovery listed.
    await factory.getBreaker("registered-after");
    await waitFor(
      "the later circuit listed",
      async () => (await redis.zscore(keys.registry, "registered-after")) !== null,
    );
    expect(await redis.zscore(keys.registry, "forgotten")).toBeNull();
  });

  it("lists a circuit whose key was written by a script whose answer was lost", async () => {
    proxy.dropReplyTo("evalsha|eval");
    await factory.getBreaker("unanswered");
    await waitFor("the key written", async () => (await redis.exists(keys.circuit("unanswered"))) === 1, 5000);
    await waitFor("the circuit listed", async () => (await redis.zscore(keys.registry, "unanswered")) !== null, 5000);
    expect(recorder.of("storage_unavailable")).toHaveLength(1);
  });
});
