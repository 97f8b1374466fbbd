/**
 * A client you pass (`new RedisStorage({ client })`) is yours and outlives the storages that use
 * it: a storage that closes leaves on it none of the listeners it added, so that an app making and
 * closing storages on one long-lived client (a storage per tenant, per test, per request scope)
 * does not leak them, nor trip Node's MaxListenersExceededWarning.
 */
import { Cluster, Redis } from "ioredis";
import { Redis as Redis6 } from "ioredis6";
import { createClient, createCluster } from "redis";
import { afterEach, describe, expect, inject, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type RedisStorageOptions } from "../../../src/index.js";
import { deleteKeys, REDIS_URL, uniquePrefix } from "../../support/redis-helpers.js";

/**
 * Every event a storage could listen to on a client (the names ioredis's Redis and Cluster emit,
 * then node-redis's client and cluster).
 */
const EVENTS = [
  "connect",
  "disconnect",
  "sharded-channel-moved",
  "node-error",
  "error",
  "close",
  "end",
  "ready",
  "connect",
  "reconnecting",
  "wait",
  "select",
  "refresh",
  "+node",
  "-node",
  "node error",
  "message",
  "smessage",
  "pmessage",
  "moved",
];

/**
 * The part of a client these tests look at (ioredis 5's and 6's `Redis`, a `Cluster`, node-redis's
 * client and cluster through `nodeRedis`).
 */
interface Listened {
  eventNames(): (string | symbol)[];
  listenerCount(event: string): number;
  listeners(event: string): unknown[];
  on(event: string, listener: () => void): unknown;
  ping(): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** What a node-redis client or cluster has of `Listened` (its `close` and `destroy` end it). */
interface NodeRedisListened {
  eventNames(): (string | symbol)[];
  listenerCount(event: string): number;
  listeners(event: string): unknown[];
  on(event: string, listener: () => void): unknown;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  sendCommand(...args: never[]): Promise<unknown>;
}

/**
 * A node-redis client or cluster as the tests see it: the object itself (passed as `client`, its
 * listeners counted), pinged and closed the node-redis way, its keys deleted through ioredis.
 */
function nodeRedis(make: () => NodeRedisListened, ping: (client: NodeRedisListened) => Promise<unknown>) {
  return (): Listened & { readonly connected: Promise<unknown> } => {
    const client = make();
    client.on("error", () => undefined);
    const connected = client.connect();
    return Object.assign(client, {
      connected,
      ping: async () => {
        await connected;
        return ping(client);
      },
      quit: () => client.close(),
      disconnect: () => client.destroy(),
    });
  };
}

/** The number of listeners of each event on `client`, every event it has listeners for included. */
function listenerCounts(client: Listened): Record<string, number> {
  const events = new Set([...EVENTS, ...client.eventNames().map(String)]);
  return Object.fromEntries([...events].sort().map((event) => [event, client.listenerCount(event)]));
}

const cluster = () => new Cluster(inject("redisClusterNodes"), { redisOptions: { commandTimeout: 1000 } });

const nodeRedisCluster = nodeRedis(
  () =>
    createCluster({
      rootNodes: inject("redisClusterNodes").map((node) => ({ socket: node })),
    }),
  (client) =>
    (client as unknown as { sendCommand(key: undefined, ro: boolean, args: string[]): Promise<unknown> }).sendCommand(
      undefined,
      true,
      ["PING"],
    ),
);

const kinds: readonly {
  name: string;
  connect: () => Listened;
  /** The keys' cleaner, when `connect`'s client is not an ioredis one. */
  admin?: () => Redis | Cluster;
  options?: Omit<RedisStorageOptions, "client">;
}[] = [
  { name: "an ioredis 5 Redis", connect: () => new Redis(REDIS_URL, { commandTimeout: 1000 }) },
  {
    name: "an ioredis 6 Redis",
    connect: () => new Redis6(REDIS_URL, { commandTimeout: 1000 }),
  },
  { name: "an ioredis 5 Cluster, sharded pub/sub (a subscriber per master)", connect: cluster },
  { name: "an ioredis 5 Cluster, classic pub/sub", connect: cluster, options: { pubsub: "classic" } },
  {
    name: "a node-redis client",
    connect: nodeRedis(
      () => createClient({ url: REDIS_URL }),
      (client) => (client as unknown as { sendCommand(args: string[]): Promise<unknown> }).sendCommand(["PING"]),
    ),
    admin: () => new Redis(REDIS_URL),
  },
  {
    name: "a node-redis cluster, sharded pub/sub (a subscriber per master)",
    connect: nodeRedisCluster,
    admin: cluster,
  },
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.each(kinds)("RedisStorage on a client you pass: $name", ({ connect, admin, options }) => {
  it("leaves the client's listener counts as it found them, after 50 storages made, used and closed on it", async () => {
    const client = connect();
    const prefix = uniquePrefix("test-hygiene");
    cleanups.push(async () => {
      const cleaner = admin?.() ?? (client as Redis | Cluster);
      await deleteKeys(cleaner, prefix);
      if (cleaner !== client) await cleaner.quit();
      await client.quit().catch(() => client.disconnect());
    });
    await client.ping();
    // The app's own listener, which the storages must leave in place.
    const own = (): void => undefined;
    client.on("error", own);
    const before = listenerCounts(client);

    for (let i = 0; i < 50; i++) {
      const storage = new RedisStorage({ ...options, client: client as Redis, prefix });
      const factory = new AsyncCircuitBreakerFactory({ storage, defaultThreshold: 1 });
      await factory.initialize();
      expect(storage.available).toBe(true);
      // A circuit registered (its channel subscribed), a call, a trip: the storage is used.
      expect(await factory.run(`circuit-${i}`, () => Promise.resolve(i))).toBe(i);
      await factory.run(`circuit-${i}`, () => Promise.reject(new Error("down"))).catch(() => undefined);
      expect((await factory.getBreaker(`circuit-${i}`)).state).toBe("opened");
      if (i === 0) {
        // While open, the storage does listen to the client (what the counts below must undo).
        expect(client.listenerCount("error")).toBeGreaterThan(before.error ?? 0);
      }
      await factory.close();
    }

    expect(listenerCounts(client)).toEqual(before);
    expect(client.listeners("error")).toContain(own);
    // The client is still the app's, connected and working.
    expect(await client.ping()).toBe("PONG");
  });

  it("leaves no listener either when closed before it was initialized, or while it initializes", async () => {
    const client = connect();
    cleanups.push(async () => {
      await client.quit().catch(() => client.disconnect());
    });
    await client.ping();
    const before = listenerCounts(client);

    await new RedisStorage({ ...options, client: client as Redis, prefix: uniquePrefix("test-hygiene") }).close();
    const starting = new RedisStorage({ ...options, client: client as Redis, prefix: uniquePrefix("test-hygiene") });
    const initialized = starting.initialize();
    await starting.close();
    await initialized;

    expect(listenerCounts(client)).toEqual(before);
  });
});
