/**
 * The fault tests (a server killed, frozen, cut off by a proxy, silent; the outage policies)
 * again, with node-redis (the `redis` package) making every connection the storages make from a
 * URL (`PURGATORY_REDIS_CLIENT=redis`, inherited by the worker processes started): the same
 * guarantees whichever client. Clients the tests pass themselves stay ioredis's.
 */
process.env.PURGATORY_REDIS_CLIENT = "redis";
await import("./faults.test.js");

export {};
