/**
 * The fleet's fault tests (several storages through kills, restarts and lost keys)
 * again, with node-redis (the `redis` package) making every connection the storages make from a
 * URL (`PURGATORY_REDIS_CLIENT=redis`, inherited by the worker processes started): the same
 * guarantees whichever client. Clients the tests pass themselves stay ioredis's.
 */
process.env.PURGATORY_REDIS_CLIENT = "redis";
await import("./fleet-faults.test.js");

export {};
