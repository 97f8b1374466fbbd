/**
 * The whole of storage.test.ts again, with node-redis (the `redis` package) making every
 * connection the storages make from a URL (`PURGATORY_REDIS_CLIENT=redis`, inherited by the
 * worker processes it starts): options, registration across processes, the commands per call
 * counted with INFO commandstats (0 per closed success, 1 round trip per failure), remote events,
 * expiry, foreign data, listing and closing. Clients the tests pass themselves stay ioredis's.
 */
process.env.PURGATORY_REDIS_CLIENT = "redis";
await import("./storage.test.js");

export {};

const { describe, expect, it } = await import("vitest");
const { loadClientLibrary } = await import("../../../src/storage/redis/client/detect.js");
const { makeClient, toRedisSettings } = await import("../../../src/storage/redis/options.js");
const { NodeRedisClientAdapter } = await import("../../../src/storage/redis/client/node-redis.js");

describe("the connections of these storages", () => {
  it("are node-redis clients behind the adapter", async () => {
    expect((await loadClientLibrary()).kind).toBe("node-redis");
    const client = await makeClient(toRedisSettings({ url: "redis://127.0.0.1:6379" }));
    expect(client).toBeInstanceOf(NodeRedisClientAdapter);
  });
});
