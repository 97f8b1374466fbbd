/**
 * `RedisStorage` on a real Redis 6.0 server: Debian 11's, unpacked by `test/support/redis6.sh`
 * (Debian 12 ships Redis 7.0). Skipped when that server is not there: run
 * `bash test/support/redis6.sh` first (it needs Debian's mirror), or point REDIS6_SERVER at a
 * Redis 6 `redis-server`. A fleet of two picks classic pub/sub by itself and shares its circuits,
 * as a user restricted to the documented Redis 6.0 ACL rule, and over a 3-master Redis 6 Cluster.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Cluster, Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  type CircuitHookArgs,
  type RedisStorageOptions,
} from "../../../src/index.js";
import { aclDenials, documentedAclRule } from "../../support/redis-acl.js";
import { commandCalls, HookRecorder, sleep, uniquePrefix, waitFor } from "../../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../../support/redis-server.js";

const UNPACKED = fileURLToPath(new URL("../../../.tmp/redis6/bin/redis-server", import.meta.url));
const GIVEN = process.env.REDIS6_SERVER;
const REDIS6 = GIVEN !== undefined && GIVEN !== "" ? GIVEN : existsSync(UNPACKED) ? UNPACKED : undefined;
const PASSWORD = "redis6-Secret";

let server: RedisServer;
let admin: Redis;
const made: AsyncCircuitBreakerFactory[] = [];

interface Member {
  readonly factory: AsyncCircuitBreakerFactory;
  readonly storage: RedisStorage;
  readonly hooks: HookRecorder;
}

/** A 3-master Redis 6 Cluster (its redis-cli, beside its redis-server, joins the nodes). */
async function startRedis6Cluster(command: string): Promise<RedisServer[]> {
  const args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"];
  const nodes = await Promise.all([0, 1, 2].map(() => startRedisServer({ command, args })));
  try {
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await promisify(execFile)(join(dirname(command), "redis-cli"), [
      ...["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"],
    ]);
    const probe = new Redis(nodes[0]?.port ?? 0, "127.0.0.1");
    try {
      await waitFor(
        "cluster_state:ok",
        async () => String(await probe.call("CLUSTER", "INFO")).includes("cluster_state:ok"),
        10_000,
        50,
      );
    } finally {
      probe.disconnect();
    }
    return nodes;
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw error;
  }
}

async function member(options: RedisStorageOptions): Promise<Member> {
  const hooks = new HookRecorder();
  const storage = new RedisStorage({ commandTimeout: 2, flushInterval: 0.02, ...options });
  const factory = new AsyncCircuitBreakerFactory({ storage, listeners: [hooks.hook] });
  made.push(factory);
  await factory.initialize();
  return { factory, storage, hooks };
}

function storageEvents(m: Member): string[] {
  return m.hooks.calls.flatMap(([name, type, event]: CircuitHookArgs) => {
    if (type !== "storage_error" && type !== "storage_unavailable") return [];
    const error = (event as { error?: unknown }).error;
    return [`${type} ${name}: ${error instanceof Error ? error.message : String(error)}`];
  });
}

const fail = (): Promise<never> => Promise.reject(new Error("dependency down"));
const ok = async (): Promise<string> => "ok";

describe.skipIf(REDIS6 === undefined)("on Redis 6.0 (run test/support/redis6.sh to have one)", () => {
  beforeAll(async () => {
    server = await startRedisServer({ command: REDIS6 as string });
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
    expect(await admin.info("server")).toMatch(/^redis_version:6\./m);
  });

  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  afterEach(async () => {
    await Promise.all(made.splice(0).map((f) => f.close()));
  });

  it("a fleet of two, as a user with the documented Redis 6.0 rule, shares its circuits over classic pub/sub", async () => {
    const prefix = uniquePrefix("redis6");
    await admin.call(
      "ACL",
      "SETUSER",
      "purgatory",
      "reset",
      ...documentedAclRule("redis6", { prefix, password: PASSWORD }),
    );
    await admin.call("ACL", "LOG", "RESET");
    const url = `redis://purgatory:${PASSWORD}@127.0.0.1:${server.port}`;
    const before = await commandCalls(admin);
    const a = await member({ url, prefix, processName: "a" });
    const b = await member({ url, prefix, processName: "b" });

    const payA = await a.factory.getBreaker("payments", { threshold: 2, ttl: 0.3 });
    const payB = await b.factory.getBreaker("payments");
    for (let i = 0; i < 2; i++) await payA.run(fail).catch(() => undefined);
    await waitFor("B hears A's trip", () => b.hooks.states("payments").includes("opened (remote)"));
    await expect(payB.run(ok)).rejects.toBeInstanceOf(CircuitOpenError);
    await sleep(350);
    await expect(payA.run(ok)).resolves.toBe("ok");
    await waitFor("B hears the probe's close", () => payB.state === "closed");
    await payB.isolate();
    await waitFor("A hears B's isolation", () => payA.state === "isolated");
    expect(await a.storage.controlExisting("payments", "reset")).toBe(true);
    await waitFor("B hears the reset", () => payB.state === "closed");

    const qA = await a.factory.getBreaker("quorum", { threshold: 2, quorum: 2 });
    const qB = await b.factory.getBreaker("quorum", { threshold: 2, quorum: 2 });
    await qA.run(ok);
    await qB.run(ok);
    await waitFor("both are active callers", async () => {
      const [info] = await a.storage.inspect(["quorum"]);
      return info?.quorum?.activeCallers.length === 2;
    });
    for (let i = 0; i < 2; i++) await qA.run(fail).catch(() => undefined);
    await expect(qA.run(ok)).rejects.toMatchObject({ scope: "process" });
    for (let i = 0; i < 2; i++) await qB.run(fail).catch(() => undefined);
    await waitFor("the fleet opens", () => a.hooks.states("quorum").includes("opened (remote)"));

    expect([...storageEvents(a), ...storageEvents(b)]).toEqual([]);
    const calls = await commandCalls(admin);
    const sent = (command: string) => (calls[command] ?? 0) - (before[command] ?? 0);
    expect(sent("publish")).toBeGreaterThan(0);
    expect(sent("subscribe")).toBeGreaterThan(0);
    await Promise.all(made.splice(0).map((f) => f.close()));
    expect(await aclDenials(admin)).toEqual([]);
  });

  it("a fleet of two over a 3-master Redis 6 Cluster hears trips on every master (classic pub/sub)", async () => {
    const nodes = await startRedis6Cluster(REDIS6 as string);
    const clients: Cluster[] = [];
    try {
      const prefix = uniquePrefix("redis6-cluster");
      const seeds = nodes.map((n) => ({ host: n.host, port: n.port }));
      const fleet: Member[] = [];
      for (const processName of ["a", "b"]) {
        const client = new Cluster(seeds);
        clients.push(client);
        fleet.push(await member({ client, prefix, processName }));
      }
      const [a, b] = fleet as [Member, Member];
      for (const circuit of ["alpha", "bravo", "charlie", "delta"]) {
        const breakerA = await a.factory.getBreaker(circuit, { threshold: 2 });
        await b.factory.getBreaker(circuit);
        for (let i = 0; i < 2; i++) await breakerA.run(fail).catch(() => undefined);
        await waitFor(`B hears A's trip of ${circuit}`, () => b.hooks.states(circuit).includes("opened (remote)"));
      }
      expect([...storageEvents(a), ...storageEvents(b)]).toEqual([]);
      // The circuits' keys are spread over the masters, and every master published.
      const published = await Promise.all(
        nodes.map(async (n) => {
          const node = new Redis(n.port, n.host);
          try {
            return (await commandCalls(node)).publish ?? 0;
          } finally {
            node.disconnect();
          }
        }),
      );
      expect(published.filter((count) => count > 0).length).toBeGreaterThan(1);
    } finally {
      await Promise.all(made.splice(0).map((f) => f.close()));
      for (const client of clients) client.disconnect();
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });

  it("an operator's action on a circuit Redis does not hold answers false", async () => {
    const m = await member({ url: server.url, prefix: uniquePrefix("redis6-missing") });
    // Today it rejects ("Redis is unavailable: cannot isolate circuit no-such-circuit fleet-wide"),
    // after a storage_error "... attempt to concatenate local 'err' (a table value)".
    await expect(m.storage.controlExisting("no-such-circuit", "isolate")).resolves.toBe(false);
  });

  it("foreign data under a circuit's key is reported in words (PURGATORY_CORRUPT)", async () => {
    const prefix = uniquePrefix("redis6-corrupt");
    const m = await member({ url: server.url, prefix });
    await admin.set(m.storage.keys.circuit("foreign"), "not a hash");
    const breaker = await m.factory.getBreaker("foreign");
    await expect(breaker.run(ok)).resolves.toBe("ok");
    await waitFor("a storage_error", () => storageEvents(m).length > 0);
    expect(storageEvents(m).join("\n")).toMatch(/PURGATORY_CORRUPT|WRONGTYPE/);
  });
});
