/**
 * The Redis deployments the fleet section runs on, started and stopped by the parent: a
 * throw-away standalone redis-server, or a throw-away 3-master Redis Cluster. Both answer the same
 * questions (where to connect, how much CPU Redis used), so the section has one code path.
 * @module
 */
import { Redis } from "ioredis";
import { startRedisCluster } from "../../test/support/redis-cluster.js";
import { startRedisServer } from "../../test/support/redis-server.js";

/** The deployments, in the order the section runs them. */
export const DEPLOYMENTS = ["standalone", "cluster"] as const;

/** A deployment's name. */
export type DeploymentKind = (typeof DEPLOYMENTS)[number];

/** What a fleet process needs to connect: a URL, or a Cluster's seed nodes. */
export type Target =
  | { readonly kind: "standalone"; readonly url: string }
  | { readonly kind: "cluster"; readonly nodes: readonly { readonly host: string; readonly port: number }[] };

/** A running deployment. */
export interface Deployment {
  readonly kind: DeploymentKind;
  /** What the fleet processes connect to. */
  readonly target: Target;
  /** How many redis-server processes serve it (the masters of a Cluster). */
  readonly servers: number;
  /** CPU seconds (user + sys, `INFO cpu`) used so far by every server, summed. */
  cpuSeconds(): Promise<number>;
  /** Kills every server and removes its folder. */
  stop(): Promise<void>;
}

/** Reads `used_cpu_sys` + `used_cpu_user` of the server on `port`. */
async function serverCpuSeconds(port: number): Promise<number> {
  const client = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const info = await client.info("cpu");
    const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? Number.NaN);
    return field("used_cpu_sys") + field("used_cpu_user");
  } finally {
    client.disconnect();
  }
}

/**
 * Starts a throw-away deployment of `kind`: one redis-server, or a Cluster of three masters (no
 * replicas), each server on a free loopback port without persistence.
 */
export async function startDeployment(kind: DeploymentKind): Promise<Deployment> {
  const servers =
    kind === "standalone" ? [await startRedisServer()] : (await startRedisCluster({ masters: 3 })).servers;
  const target: Target =
    kind === "standalone"
      ? { kind, url: (servers[0] as { url: string }).url }
      : { kind, nodes: servers.map((s) => ({ host: s.host, port: s.port })) };
  return {
    kind,
    target,
    servers: servers.length,
    cpuSeconds: async () =>
      (await Promise.all(servers.map((s) => serverCpuSeconds(s.port)))).reduce((a, b) => a + b, 0),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
