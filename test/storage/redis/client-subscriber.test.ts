/**
 * A client you pass (`RedisStorage({ client })`) gets a subscriber connection made from it
 * (`client.duplicate()`, a second `Cluster` for classic pub/sub on a Cluster), which connects by
 * itself. A circuit registered right after `initialize()` must be subscribed all the same, and hear
 * the other processes' changes.
 *
 * Without an offline queue on the client (`enableOfflineQueue: false`, as docs/redis.md's Cluster
 * example has it) a command sent while the copy still connects is refused: the subscriber waits
 * for it to be ready (and a single server's copy subscribes every channel when it is), where it
 * used to count the connection as subscribed and drop the circuit's subscription (found with TLS,
 * where it always happened).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { afterEach, describe, expect, inject, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type PubSubMode, type RedisClient } from "../../../src/index.js";
import { HookRecorder, sleep, uniquePrefix } from "../../support/redis-helpers.js";
import { useThrowawayRedis } from "../../support/throwaway-redis.js";

const redis = useThrowawayRedis();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A writer (its own connections) trips `name`; a reader over `client`, registered right after its
 * `initialize()`, must hear it. Resolves with the reader's breaker state half a second later.
 */
async function readerHearsTrip(client: RedisClient, writerClient: RedisClient, pubsub: PubSubMode): Promise<string> {
  const prefix = uniquePrefix("passed-client");
  const writer = new AsyncCircuitBreakerFactory({
    storage: new RedisStorage({ client: writerClient, prefix, pubsub, processName: "writer" }),
  });
  cleanups.push(() => writer.close());
  await writer.initialize();
  const tripping = await writer.getBreaker("payments", { threshold: 1 });
  await sleep(300); // the writer's own subscriber is ready: only the reader's is in question

  const hooks = new HookRecorder();
  const reader = new AsyncCircuitBreakerFactory({
    storage: new RedisStorage({ client, prefix, pubsub, processName: "reader" }),
    listeners: [hooks.hook],
  });
  cleanups.push(() => reader.close());
  await reader.initialize();
  const breaker = await reader.getBreaker("payments");
  await tripping.run(() => Promise.reject(new Error("down"))).catch(() => undefined);
  await sleep(500);
  return breaker.state;
}

function redisClient(options: RedisOptions): Redis {
  const client = new Redis(redis.server.port, redis.server.host, options);
  cleanups.push(() => client.disconnect());
  return client;
}

function clusterClient(options: ClusterOptions): Cluster {
  const client = new Cluster(inject("redisClusterNodes"), options);
  cleanups.push(() => client.disconnect());
  return client;
}

describe("a circuit registered right after initialize() over a client you pass", () => {
  it.each(["auto", "classic"] as const)(
    "hears other processes (Redis, offline queue on, pubsub %s)",
    async (pubsub) => {
      const state = await readerHearsTrip(redisClient({}), redisClient({}), pubsub);
      expect(state).toBe("opened");
    },
  );

  it("hears other processes (Redis, enableOfflineQueue: false)", async () => {
    const state = await readerHearsTrip(
      redisClient({ enableOfflineQueue: false }),
      redisClient({ enableOfflineQueue: false }),
      "auto",
    );
    expect(state).toBe("opened");
  });

  it("hears other processes (Cluster, enableOfflineQueue: false, classic pub/sub)", async () => {
    const state = await readerHearsTrip(
      clusterClient({ enableOfflineQueue: false }),
      clusterClient({ enableOfflineQueue: false }),
      "classic",
    );
    expect(state).toBe("opened");
  });
});
