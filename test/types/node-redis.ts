/**
 * Type-level checks of `RedisStorage`'s `client` option against node-redis (the `redis` package,
 * v5): a client (`createClient`, RESP2 and RESP3, with the package's modules) and a cluster
 * (`createCluster`) are accepted as they are, beside ioredis's (test/types/ioredis.ts); anything
 * else is not. Compiled by `npm run typecheck` (strict), never run.
 */
import { createClient, createCluster, type RedisClientType, type RedisClusterType } from "redis";
import {
  RedisStorage,
  type NodeRedisClient,
  type NodeRedisCluster,
  type RedisStorageOptions,
} from "../../src/index.js";

const client = createClient({ url: "redis://127.0.0.1:6379" });
const resp3 = createClient({ url: "redis://127.0.0.1:6379", RESP: 3 });
const cluster = createCluster({ rootNodes: [{ url: "redis://127.0.0.1:7000" }] });

export const storages = [
  new RedisStorage({ client }),
  new RedisStorage({ client: resp3, prefix: "myapp" }),
  new RedisStorage({ client: cluster, commandTimeout: 0.5 }),
];

// The types a consumer writes by hand are accepted too.
export const typed = (c: RedisClientType, k: RedisClusterType): RedisStorageOptions[] => [{ client: c }, { client: k }];

// The adapter's own types, for a consumer who passes one around.
export const asClient: NodeRedisClient = client;
export const asCluster: NodeRedisCluster = cluster;

// @ts-expect-error: a node-redis client is a client, not a URL with it
export const both = new RedisStorage({ url: "redis://127.0.0.1:6379", client: 42 });
