/**
 * Vitest global set-up: one 3-master Redis Cluster (redis-server processes on loopback ports,
 * in temporary folders) for the whole run, so the behaviour suite runs on it too. Its seed
 * nodes reach the tests through `inject("redisClusterNodes")`.
 */
import type { TestProject } from "vitest/node";
import { startRedisCluster, type RedisClusterHandle } from "./redis-cluster.js";

declare module "vitest" {
  export interface ProvidedContext {
    redisClusterNodes: { host: string; port: number }[];
  }
}

let cluster: RedisClusterHandle | undefined;

export async function setup(project: TestProject): Promise<void> {
  cluster = await startRedisCluster();
  project.provide("redisClusterNodes", cluster.nodes.map((n) => ({ host: n.host, port: n.port })));
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}
