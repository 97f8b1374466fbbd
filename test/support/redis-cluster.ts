/**
 * A throw-away Redis Cluster for tests: `masters` redis-server processes (default 3) with
 * `--cluster-enabled yes`, each on free loopback ports (client and bus) in its own temporary
 * folder, joined by `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`.
 *
 * @example
 * ```ts
 * const cluster = await startRedisCluster();
 * const client = new Cluster(cluster.nodes);
 * const storage = new RedisStorage({ client, prefix: "test" });
 * // ...
 * await client.quit();
 * await cluster.stop();
 * ```
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort, startRedisServer, type RedisServer } from "./redis-server.js";

const run = promisify(execFile);

/** A running cluster. */
export interface RedisClusterHandle {
  /** Seed nodes for `new Cluster(nodes)`. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** The server processes. */
  readonly servers: readonly RedisServer[];
  /**
   * Kills the master on `port` and starts it again with its cluster config but no data (a
   * restart of a server that keeps nothing on disk), then waits until the Cluster is ok again.
   */
  restartMaster(port: number): Promise<void>;
  /** Kills every node and removes their folders. */
  stop(): Promise<void>;
}

/** Options of `startRedisCluster`. */
export interface RedisClusterOptions {
  /** Number of masters (>= 3, as redis-cli requires). Default 3. */
  readonly masters?: number;
  /** Milliseconds to wait for `cluster_state:ok` on every node. Default 20 000. */
  readonly timeout?: number;
}

async function clusterInfo(port: number): Promise<Record<string, string>> {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const text = (await client.call("CLUSTER", "INFO")) as string;
    return Object.fromEntries(
      text
        .split(/\r?\n/)
        .filter((line) => line.includes(":"))
        .map((line) => line.split(":", 2) as [string, string]),
    );
  } finally {
    client.disconnect();
  }
}

/** Waits until every node reports `cluster_state:ok`, every slot served and every node known. */
async function waitForClusterOk(servers: readonly RedisServer[], timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  for (const server of servers) {
    for (;;) {
      const info = await clusterInfo(server.port).catch((): Record<string, string> => ({}));
      if (
        info.cluster_state === "ok" &&
        info.cluster_slots_ok === "16384" &&
        info.cluster_known_nodes === String(servers.length)
      ) {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`cluster node ${server.port} not ready: ${JSON.stringify(info)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Starts a cluster and waits until every node reports `cluster_state:ok` with all slots served. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const timeout = options.timeout ?? 20_000;
  const servers: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(
        await startRedisServer({
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",
            String(await freePort()),
            "--cluster-node-timeout",
            "5000",
          ],
        }),
      );
    }
    const addresses = servers.map((server) => `${server.host}:${server.port}`);
    await run("redis-cli", ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"], {
      timeout,
    });
    await waitForClusterOk(servers, timeout);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes: servers.map((server) => ({ host: server.host, port: server.port })),
    servers,
    async restartMaster(port) {
      const server = servers.find((s) => s.port === port);
      if (server === undefined) throw new Error(`no master on port ${port}`);
      await server.restart();
      await waitForClusterOk(servers, timeout);
    },
    stop,
  };
}

/** Runs `use` with a short-lived plain client of the node on `port`. */
export async function withNode<T>(port: number, use: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
  node.on("error", () => undefined);
  try {
    return await use(node);
  } finally {
    node.disconnect();
  }
}

/** The port of the master that serves `slot`. */
export async function slotOwner(cluster: RedisClusterHandle, slot: number): Promise<number> {
  const ranges = (await withNode(cluster.nodes[0]?.port as number, (n) => n.call("CLUSTER", "SLOTS"))) as [
    number,
    number,
    [string, number],
  ][];
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (range === undefined) throw new Error(`no master serves slot ${slot}`);
  return Number(range[2][1]);
}

/**
 * Moves `slot` (and its keys) to the master on `toPort`, the way `redis-cli --cluster reshard`
 * does: IMPORTING / MIGRATING, MIGRATE of every key, then SETSLOT NODE on every master.
 */
export async function migrateSlot(cluster: RedisClusterHandle, slot: number, toPort: number): Promise<void> {
  const fromPort = await slotOwner(cluster, slot);
  if (fromPort === toPort) return;
  const idOf = (port: number) => withNode(port, async (n) => (await n.call("CLUSTER", "MYID")) as string);
  const [fromId, toId] = [await idOf(fromPort), await idOf(toPort)];
  await withNode(toPort, (n) => n.call("CLUSTER", "SETSLOT", slot, "IMPORTING", fromId));
  await withNode(fromPort, async (n) => {
    await n.call("CLUSTER", "SETSLOT", slot, "MIGRATING", toId);
    for (;;) {
      const keys = (await n.call("CLUSTER", "GETKEYSINSLOT", slot, 100)) as string[];
      if (keys.length === 0) break;
      await n.call("MIGRATE", "127.0.0.1", toPort, "", 0, 5000, "KEYS", ...keys);
    }
  });
  for (const port of [
    toPort,
    fromPort,
    ...cluster.nodes.map((n) => n.port).filter((p) => p !== toPort && p !== fromPort),
  ]) {
    await withNode(port, (n) => n.call("CLUSTER", "SETSLOT", slot, "NODE", toId));
  }
}

/** Moves `slot` (and its keys) from its master to another one; resolves with both ports. */
export async function moveSlot(cluster: RedisClusterHandle, slot: number): Promise<{ from: number; to: number }> {
  const from = await slotOwner(cluster, slot);
  const to = cluster.nodes.map((n) => n.port).find((port) => port !== from) as number;
  await migrateSlot(cluster, slot, to);
  return { from, to };
}
