/**
 * The storages the behaviour suite runs against. Each kind makes a fresh storage per test and
 * says how time passes for it: the memory kind injects a clock that `advance` moves instantly; a
 * kind over a real server (Redis) leaves `clock` unset and sleeps for real in `advance`, so the
 * behaviour tests use small ttls (0.05 s) and advance by a little more (60 ms).
 *
 * To run the whole behaviour suite over a new storage, append one kind to `storageKinds`.
 */
import { Cluster, Redis } from "ioredis";
import { Redis as Redis6 } from "ioredis6";
import { createClient, createCluster } from "redis";
import { inject } from "vitest";
import { InMemoryStorage, RedisStorage, type CircuitStorage } from "../../src/index.js";
import { deleteKeys, REDIS_URL, sleep, uniquePrefix } from "./redis-helpers.js";

/** One storage made for one test. */
export interface StorageHarness {
  /** The storage to give to the factories of the test. */
  readonly storage: CircuitStorage;
  /** The clock to give to the factories (epoch ms); unset means real time (`Date.now`). */
  readonly clock?: () => number;
  /** Lets `ms` milliseconds pass for the storage and the clock. */
  advance(ms: number): Promise<void>;
  /** Releases what `create` made (connections, keys). */
  cleanup(): Promise<void>;
}

/** A storage the behaviour suite runs against. */
export interface StorageKind {
  readonly name: string;
  /**
   * Whether the suite also runs `SyncCircuitBreakerFactory` over this storage; default `true`.
   * The sync scenarios read a circuit's state right after a call, so a storage that records
   * synchronous outcomes in the background (Redis) sets `false`.
   */
  readonly syncFactory?: boolean;
  /**
   * Whether circuit state is shared beyond this process (Redis). Then `forget(name)` drops only
   * this process's replica: the shared state stays and is found again on the next registration.
   */
  readonly sharedState?: boolean;
  /** A fresh storage for one test. `cleanup` must also work after a factory closed the storage. */
  create(): Promise<StorageHarness>;
}

/** Circuits in this process's memory; time is a number moved by `advance`, never slept. */
export const memoryKind: StorageKind = {
  name: "memory",
  async create() {
    let now = Date.UTC(2030, 0, 1);
    const storage = new InMemoryStorage();
    return {
      storage,
      clock: () => now,
      advance: async (ms) => {
        now += ms;
      },
      cleanup: () => storage.close(),
    };
  },
};

/**
 * Makes every behaviour test over Redis a differential test of the Lua scripts against the
 * TypeScript core: the storage reports a `storage_error` whenever a script leaves a state the core
 * did not predict (or anything else goes wrong), and the returned check fails the test then.
 */
function failOnStorageErrors(storage: RedisStorage): () => void {
  const errors: unknown[] = [];
  storage.subscribe((...args) => {
    if (args[1] === "storage_error" || args[1] === "storage_unavailable") errors.push(args[2]);
  });
  return () => {
    if (errors.length > 0) throw new Error(`the Redis storage reported ${errors.length} error(s)`, { cause: errors });
  };
}

/**
 * The behaviour suite specifies what a healthy storage does, so its Redis storages wait up to 2 s
 * for an answer instead of the default 0.25 s: on a loaded machine (the whole suite in parallel)
 * a slow answer would otherwise count as an outage, and outcomes decided locally during an outage
 * are, by design, not the shared counts these tests check. Outages have their own tests.
 */
const BEHAVIOUR_COMMAND_TIMEOUT = 2;

/** A harness over a Redis storage: real time, keys under `prefix` deleted afterwards. */
function redisHarness(
  storage: RedisStorage,
  admin: Redis | Cluster,
  prefix: string,
  release: () => Promise<void>,
): StorageHarness {
  const checked = failOnStorageErrors(storage);
  return {
    storage,
    advance: sleep,
    cleanup: async () => {
      await storage.close();
      checked();
      await deleteKeys(admin, prefix);
      await release();
    },
  };
}

/**
 * Circuits in a real Redis, under a prefix of their own; time is real (Redis TIME), so `advance`
 * sleeps. Two factories of one test share the storage, as two processes share Redis.
 */
export const redisKind: StorageKind = {
  name: "redis",
  syncFactory: false,
  sharedState: true,
  async create() {
    const prefix = uniquePrefix();
    const admin = new Redis(REDIS_URL);
    return redisHarness(
      new RedisStorage({ url: REDIS_URL, prefix, commandTimeout: BEHAVIOUR_COMMAND_TIMEOUT }),
      admin,
      prefix,
      async () => admin.disconnect(),
    );
  },
};

/** The same on the 3-master Redis Cluster of the global set-up, through an ioredis `Cluster`. */
export const redisClusterKind: StorageKind = {
  name: "redis-cluster",
  syncFactory: false,
  sharedState: true,
  async create() {
    const prefix = uniquePrefix("test-cluster");
    const client = new Cluster(inject("redisClusterNodes"), { redisOptions: { commandTimeout: 1000 } });
    return redisHarness(
      new RedisStorage({ client, prefix, commandTimeout: BEHAVIOUR_COMMAND_TIMEOUT }),
      client,
      prefix,
      async () => {
        await client.quit().catch(() => client.disconnect());
      },
    );
  },
};

/**
 * The same on the single Redis, through a client made by ioredis 6 (the `ioredis6` alias of the
 * dev dependencies) and passed as `client`, while the other Redis kinds use ioredis 5: the peer
 * range is `^5 || ^6`.
 */
export const redisIoredis6Kind: StorageKind = {
  name: "redis-ioredis6",
  syncFactory: false,
  sharedState: true,
  async create() {
    const prefix = uniquePrefix("test-ioredis6");
    const client = new Redis6(REDIS_URL, { commandTimeout: 1000 });
    const admin = new Redis(REDIS_URL);
    return redisHarness(
      new RedisStorage({ client, prefix, commandTimeout: BEHAVIOUR_COMMAND_TIMEOUT }),
      admin,
      prefix,
      async () => {
        admin.disconnect();
        await client.quit().catch(() => client.disconnect());
      },
    );
  },
};

/**
 * The same on the single Redis, through a node-redis client (`createClient` of the `redis`
 * package) passed as `client`: the storage speaks to it through its adapter.
 */
export const redisNodeRedisKind: StorageKind = {
  name: "redis-node-redis",
  syncFactory: false,
  sharedState: true,
  async create() {
    const prefix = uniquePrefix("test-node-redis");
    const client = createClient({ url: REDIS_URL });
    client.on("error", () => undefined);
    await client.connect();
    const admin = new Redis(REDIS_URL);
    return redisHarness(
      new RedisStorage({ client, prefix, commandTimeout: BEHAVIOUR_COMMAND_TIMEOUT }),
      admin,
      prefix,
      async () => {
        admin.disconnect();
        await client.close().catch(() => client.destroy());
      },
    );
  },
};

/** The same on the 3-master Redis Cluster, through a node-redis cluster (`createCluster`). */
export const redisClusterNodeRedisKind: StorageKind = {
  name: "redis-cluster-node-redis",
  syncFactory: false,
  sharedState: true,
  async create() {
    const prefix = uniquePrefix("test-cluster-node-redis");
    const nodes = inject("redisClusterNodes");
    const client = createCluster({ rootNodes: nodes.map((node) => ({ socket: node })) });
    client.on("error", () => undefined);
    await client.connect();
    const admin = new Cluster(nodes);
    return redisHarness(
      new RedisStorage({ client, prefix, commandTimeout: BEHAVIOUR_COMMAND_TIMEOUT }),
      admin,
      prefix,
      async () => {
        await admin.quit().catch(() => admin.disconnect());
        await client.close().catch(() => client.destroy());
      },
    );
  },
};

/** Every kind the behaviour suite runs against. */
const ALL_KINDS: readonly StorageKind[] = [
  memoryKind,
  redisKind,
  redisClusterKind,
  redisIoredis6Kind,
  redisNodeRedisKind,
  redisClusterNodeRedisKind,
];

/**
 * The kinds the suite runs against: every kind, or those `PURGATORY_TEST_STORAGES` names
 * (`memory` for `npm run test:unit`, which needs no Redis).
 */
export const storageKinds: readonly StorageKind[] = (() => {
  const wanted = process.env.PURGATORY_TEST_STORAGES?.split(",").map((name) => name.trim());
  return wanted === undefined ? ALL_KINDS : ALL_KINDS.filter((kind) => wanted.includes(kind.name));
})();

/**
 * Whether this run has Redis (`npm test`), or runs the suite in memory only (`npm run test:unit`):
 * the few tests that need a real Redis beside a storage kind skip without it.
 */
export const withRedis: boolean = storageKinds.some((kind) => kind.name !== "memory");
