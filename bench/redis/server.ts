/**
 * A throw-away redis-server for the benchmark, so that INFO commandstats counts only our
 * commands (the same launcher as the tests'). Falls back to REDIS_URL when no redis-server
 * binary is installed.
 */
import { spawnSync } from "node:child_process";
import { startRedisServer } from "../../test/support/redis-server.js";

export interface BenchRedis {
  readonly url: string;
  readonly dedicated: boolean;
  stop(): Promise<void>;
}

export async function startBenchRedis(): Promise<BenchRedis> {
  if (spawnSync("redis-server", ["--version"]).status !== 0) {
    const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
    return { url, dedicated: false, stop: async () => undefined };
  }
  const server = await startRedisServer();
  return { url: server.url, dedicated: true, stop: () => server.stop() };
}
