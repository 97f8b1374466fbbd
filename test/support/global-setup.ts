/**
 * Vitest global set-up. First, whether the Redis at `REDIS_URL` answers: without one, the run
 * stops at once with one line saying so, instead of every Redis test failing slowly amid ioredis's
 * reconnection errors. Then one 3-master Redis Cluster (redis-server processes on loopback ports,
 * in temporary folders) for the whole run, so the behaviour suite runs on it too. Its seed nodes
 * reach the tests through `inject("redisClusterNodes")`.
 */
import net from "node:net";
import tls from "node:tls";
import type { TestProject } from "vitest/node";
import { startRedisCluster, type RedisClusterHandle } from "./redis-cluster.js";
import { REDIS_URL } from "./redis-helpers.js";

declare module "vitest" {
  export interface ProvidedContext {
    redisClusterNodes: { host: string; port: number }[];
  }
}

let cluster: RedisClusterHandle | undefined;

/** Whether something that speaks Redis answers a PING at `url` (any reply, NOAUTH included). */
export function redisAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      resolve(false);
      return;
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1";
    const port = Number(parsed.port || 6379);
    const socket =
      parsed.protocol === "rediss:" ? tls.connect({ host, port, rejectUnauthorized: false }) : net.connect(port, host);
    const done = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once(parsed.protocol === "rediss:" ? "secureConnect" : "connect", () => socket.write("PING\r\n"));
    socket.once("data", (chunk: Buffer) => done(chunk[0] === 0x2b /* + */ || chunk[0] === 0x2d /* - */));
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

export async function setup(project: TestProject): Promise<void> {
  if (!(await redisAnswers(REDIS_URL))) {
    // One line, and out: a thrown error here makes vitest also say "No test files found".
    process.stderr.write(`Redis does not answer at ${REDIS_URL}: start one (see README "Try it") or set REDIS_URL\n`);
    process.exit(1);
  }
  cluster = await startRedisCluster();
  project.provide(
    "redisClusterNodes",
    cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
  );
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}
