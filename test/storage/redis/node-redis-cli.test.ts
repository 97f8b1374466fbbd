/**
 * The `purgatory` executable in a project that has node-redis (the `redis` package) and not
 * ioredis: it reads and changes the fleet's circuits through node-redis, on a single server and
 * on a Redis Cluster (found from one node's URL), and ends by itself.
 */
import { mkdir, mkdtemp, copyFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type CircuitInfo } from "../../../src/index.js";
import { buildCli, runCli, type BuiltCli } from "../../support/cli.js";
import { REDIS_URL, uniquePrefix } from "../../support/redis-helpers.js";

const MODULES = fileURLToPath(new URL("../../../node_modules/", import.meta.url));

let cli: BuiltCli;
/** A folder with the executable and a node_modules of `redis` alone (no ioredis to be found). */
let alone = "";
let copy = "";

beforeAll(async () => {
  cli = await buildCli();
  alone = await mkdtemp(join(tmpdir(), "purgatory-node-redis-"));
  copy = join(alone, "cli.js");
  await copyFile(cli.path, copy);
  await mkdir(join(alone, "node_modules"));
  await symlink(join(MODULES, "redis"), join(alone, "node_modules", "redis"));
  await symlink(join(MODULES, "@redis"), join(alone, "node_modules", "@redis"));
});

afterAll(async () => {
  await cli?.remove();
  if (alone !== "") await rm(alone, { recursive: true, force: true });
});

/** Registers `names` under `prefix` through a storage of this process (ioredis's), and trips the first. */
async function seed(storage: RedisStorage, names: readonly string[]): Promise<void> {
  const factory = new AsyncCircuitBreakerFactory({ storage, defaultThreshold: 1 });
  for (const name of names) await factory.getBreaker(name);
  await factory.run(names[0] as string, () => Promise.reject(new Error("down"))).catch(() => undefined);
  await factory.close();
}

describe("purgatory with node-redis and without ioredis", () => {
  it("is in a folder where ioredis cannot be found", async () => {
    const { code, stderr } = await runCli(copy, ["circuits", "--redis", REDIS_URL, "--prefix", "none"], {
      cwd: alone,
      env: { NODE_PATH: "" },
    });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    await expect(import(join(alone, "node_modules", "ioredis", "package.json"))).rejects.toThrow();
  });

  it("lists, isolates and resets a single server's circuits", async () => {
    const prefix = uniquePrefix("test-cli-node-redis");
    await seed(new RedisStorage({ url: REDIS_URL, prefix }), ["alpha", "beta"]);
    const run = (...args: string[]) =>
      runCli(copy, [...args, "--redis", REDIS_URL, "--prefix", prefix], { cwd: alone });

    const listed = await run("circuits", "--json");
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
    const circuits = JSON.parse(listed.stdout) as CircuitInfo[];
    expect(circuits.map((c) => [c.name, c.state])).toEqual([
      ["alpha", "opened"],
      ["beta", "closed"],
    ]);

    expect((await run("isolate", "beta")).code).toBe(0);
    const shown = await run("show", "beta", "--json");
    expect((JSON.parse(shown.stdout) as CircuitInfo).state).toBe("isolated");
    expect((await run("reset", "beta")).code).toBe(0);
    expect((JSON.parse((await run("show", "beta", "--json")).stdout) as CircuitInfo).state).toBe("closed");
  });

  it("lists a Redis Cluster's circuits from one node's URL", async () => {
    const [node] = inject("redisClusterNodes");
    const url = `redis://${node?.host ?? "127.0.0.1"}:${node?.port ?? 0}`;
    const prefix = uniquePrefix("test-cli-node-redis-cluster");
    const { Cluster } = await import("ioredis");
    const cluster = new Cluster(inject("redisClusterNodes"));
    try {
      const names = Array.from({ length: 12 }, (_, i) => `circuit-${i}`);
      await seed(new RedisStorage({ client: cluster, prefix }), names);
      const listed = await runCli(copy, ["circuits", "--redis", url, "--prefix", prefix, "--json"], { cwd: alone });
      expect(listed.stderr).toBe("");
      expect(listed.code).toBe(0);
      const circuits = JSON.parse(listed.stdout) as CircuitInfo[];
      expect(circuits.map((c) => c.name)).toEqual([...names].sort());
      expect(circuits.find((c) => c.name === "circuit-0")?.state).toBe("opened");
    } finally {
      await cluster.quit();
    }
  });
});
