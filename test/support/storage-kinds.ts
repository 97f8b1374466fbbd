/**
 * The storages the behaviour suite runs against. Each kind makes a fresh storage per test and
 * says how time passes for it: the memory kind injects a clock that `advance` moves instantly; a
 * kind over a real server (Redis) leaves `clock` unset and sleeps for real in `advance`, so the
 * behaviour tests use small ttls (0.05 s) and advance by a little more (60 ms).
 *
 * To run the whole behaviour suite over a new storage, append one kind to `storageKinds`.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { InMemoryStorage, RedisStorage, type CircuitStorage } from "../../src/index.js";

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

/** The Redis the tests use: REDIS_URL, by default the one on 127.0.0.1:6379. */
export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Deletes every key under `prefix` (tests only: SCAN is fine here). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== "0");
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
    const prefix = `test-${randomUUID()}`;
    const storage = new RedisStorage({ url: redisUrl, prefix });
    return {
      storage,
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      cleanup: async () => {
        await storage.close();
        const admin = new Redis(redisUrl);
        await deleteKeys(admin, prefix);
        admin.disconnect();
      },
    };
  },
};

/** Every kind the behaviour suite runs against. */
export const storageKinds: readonly StorageKind[] = [memoryKind, redisKind];
