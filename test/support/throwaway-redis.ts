/**
 * One throw-away redis-server for the tests of a file: started before them, stopped after, with a
 * plain client to look at (or tamper with) what the storages wrote, and every unhandled rejection
 * seen meanwhile (a test expects the list empty).
 *
 * @example
 * ```ts
 * const redis = useThrowawayRedis();
 * it("...", async () => {
 *   const storage = new RedisStorage({ url: redis.server.url });
 *   await redis.admin.flushall();
 * });
 * ```
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { startRedisCluster, type RedisClusterHandle } from "./redis-cluster.js";
import { startRedisServer, type RedisServer } from "./redis-server.js";

/** What `useThrowawayRedis` gives a test file. */
export interface ThrowawayRedis {
  readonly server: RedisServer;
  readonly admin: Redis;
  /** Unhandled rejections since the server started. */
  readonly unhandled: unknown[];
}

/** Call at the top of a test file. */
export function useThrowawayRedis(): ThrowawayRedis {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    admin.on("error", () => undefined);
    process.on("unhandledRejection", onUnhandled);
  });
  afterAll(async () => {
    process.off("unhandledRejection", onUnhandled);
    admin?.disconnect();
    await server?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the throw-away redis-server is started in beforeAll");
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get admin() {
      return started(admin);
    },
    unhandled,
  };
}

/**
 * One throw-away 3-master Redis Cluster for the tests of a file (or of a `describe`): started
 * before them, stopped after. Call at the top of the file or of the `describe`; the getter
 * answers once it runs.
 */
export function useThrowawayCluster(): () => RedisClusterHandle {
  let cluster: RedisClusterHandle | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (cluster === undefined) throw new Error("the throw-away Cluster is started in beforeAll");
    return cluster;
  };
}
