/**
 * The model-based fleet test (real Redis driven through faults, replicas checked against a model)
 * again, with node-redis (the `redis` package) making every connection the storages make from a
 * URL (`PURGATORY_REDIS_CLIENT=redis`, inherited by the worker processes started): the same
 * guarantees whichever client. Clients the tests pass themselves stay ioredis's.
 */
process.env.PURGATORY_REDIS_CLIENT = "redis";
await import("./fleet.model.test.js");

export {};
