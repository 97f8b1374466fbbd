/**
 * The operator's commands added for incidents, run as a user runs them (the built executable in a
 * child process) against a throw-away redis-server: `purgatory prune` (the maintenance write that
 * listing never does), `purgatory circuits --watch` (changes as they happen, one line each), and
 * what the CLI says when Redis goes away in the middle of an action (the circuit's name quoted,
 * the reason in plain words).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type CircuitInfo } from "../../src/index.js";
import { Fleet } from "../../src/fleet/fleet.js";
import { buildCli, runCli, type BuiltCli, type CliOutcome } from "../support/cli.js";
import { spawnLines, type LineProcess, type WorkerLine } from "../support/redis-fleet.js";
import { uniquePrefix, waitFor } from "../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";

let cli: BuiltCli;
let server: RedisServer;
let admin: Redis;
let factory: AsyncCircuitBreakerFactory;
const prefix = uniquePrefix("operator");

const purgatory = (...args: string[]): Promise<CliOutcome> =>
  runCli(cli.path, [...args, "--redis", server.url, "--prefix", prefix]);

const fail = (): Promise<never> => Promise.reject(new Error("down"));

beforeAll(async () => {
  [cli, server] = await Promise.all([buildCli(), startRedisServer()]);
  admin = new Redis(server.url);
  factory = new AsyncCircuitBreakerFactory({
    // No background re-read during these tests (it would write a lost key anew, racing the prune
    // test): only the calls the tests make write.
    storage: new RedisStorage({ url: server.url, prefix, resyncInterval: 3600 }),
    defaultThreshold: 2,
    defaultTtl: 30,
  });
  await factory.initialize();
  await Promise.all(["alpha", "beta", "ghost one", "ghost-two"].map((name) => factory.getBreaker(name)));
}, 60_000);

afterAll(async () => {
  await factory?.close();
  admin?.disconnect();
  await server?.stop();
  await cli?.remove();
});

describe("purgatory prune", () => {
  it("drops only the names whose keys are gone; listing never does", async () => {
    // Their keys expire (keyTtl) or are deleted; the registry still lists them.
    await factory.forget("ghost one");
    await factory.forget("ghost-two");
    await admin.del(`${prefix}:circuit:{ghost one}`, `${prefix}:circuit:{ghost-two}`);
    const listed = JSON.parse((await purgatory("circuits", "--json")).stdout) as CircuitInfo[];
    expect(listed.map((c) => c.name)).toEqual(["alpha", "beta"]);
    // Listing wrote nothing: the registry still has all four.
    expect(await admin.zcard(`${prefix}:circuits`)).toBe(4);

    const pruned = await purgatory("prune");
    expect(pruned.stderr).toBe("");
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toBe(
      `pruned 2 names whose keys are gone under prefix "${prefix}" at ${server.url}: "ghost one", "ghost-two"\n`,
    );
    expect((await admin.zrange(`${prefix}:circuits`, 0, -1)).sort()).toEqual(["alpha", "beta"]);

    const again = await purgatory("prune", "--json");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ pruned: [] });
    expect((await purgatory("prune")).stdout).toBe(
      `nothing to prune under prefix "${prefix}" at ${server.url}: every name listed has its circuit\n`,
    );
  });

  it("a circuit a process still holds is listed again by its next write after a prune", async () => {
    await admin.del(`${prefix}:circuit:{beta}`);
    expect(JSON.parse((await purgatory("prune", "--json")).stdout)).toEqual({ pruned: ["beta"] });
    expect(await admin.zscore(`${prefix}:circuits`, "beta")).toBeNull();
    // The process holding beta fails a call: the script writes the lost key anew and lists it.
    await (await factory.getBreaker("beta")).run(fail).catch(() => undefined);
    await waitFor("beta listed again", async () => (await admin.zscore(`${prefix}:circuits`, "beta")) !== null);
    const listed = JSON.parse((await purgatory("circuits", "--json")).stdout) as CircuitInfo[];
    expect(listed.map((c) => c.name)).toEqual(["alpha", "beta"]);
  });
});

describe("purgatory circuits --watch", () => {
  const alpha = () => factory.getBreaker("alpha");

  /** Starts `purgatory circuits --watch` (with `flags`) and waits for its first line. */
  async function watch(...flags: string[]): Promise<LineProcess> {
    const child = spawnLines([cli.path, "circuits", "--watch", "--redis", server.url, "--prefix", prefix, ...flags]);
    await child.waitForLine(() => true, 15_000);
    return child;
  }

  it("--json: a snapshot, then each change as it happens (a trip within 1 s), until SIGINT (exit 0)", async () => {
    const child = await watch("--json");
    try {
      const [snapshot] = child.lines as (WorkerLine & { circuits: CircuitInfo[] })[];
      expect(snapshot?.type).toBe("snapshot");
      expect(snapshot?.circuits.map((c) => c.name)).toEqual(expect.arrayContaining(["alpha", "beta"]));
      const breaker = await alpha();
      await breaker.run(fail).catch(() => undefined);
      await breaker.run(fail).catch(() => undefined);
      const tripped = Date.now();
      const line = await child.waitForLine((l) => {
        const circuit = l.circuit as CircuitInfo | undefined;
        return l.type === "circuit" && circuit?.name === "alpha" && circuit.state === "opened";
      }, 5000);
      expect(Date.now() - tripped).toBeLessThan(1000);
      expect(line.transitions).toEqual([{ at: expect.any(Number) as number, from: "closed", to: "opened" }]);
      child.child.kill("SIGINT");
      expect(await child.exited).toBe(0);
    } finally {
      child.child.kill("SIGKILL");
      await alpha().then((b) => b.reset());
    }
  });

  it("piped: the table, then a line per change, circuit names quoted", async () => {
    const child = await watch();
    try {
      await child.waitForLine((l) => String(l.text).startsWith("watching the circuits under prefix"));
      expect(child.lines.map((l) => String(l.text)).join("\n")).toMatch(/^CIRCUIT\s+STATE/);
      await factory.getBreaker("new circuit");
      const line = await child.waitForLine((l) => String(l.text).includes('"new circuit"'), 5000);
      expect(line.text).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z "new circuit": seen closed \(failures 0\/2\)$/);
      await (await alpha()).isolate();
      const isolated = await child.waitForLine((l) => String(l.text).includes('"alpha": closed -> isolated'), 5000);
      expect(isolated.text).toMatch(/"alpha": closed -> isolated \(failures 0\/2\)$/);
      child.child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
    } finally {
      child.child.kill("SIGKILL");
      await (await alpha()).reset();
    }
  });
});

describe("an action while Redis goes away", () => {
  it("says which action on which circuit (quoted) could not be done, and why in plain words", async () => {
    const spare = await startRedisServer();
    const fleet = await Fleet.connect({ url: spare.url, prefix: "spare" });
    try {
      await spare.kill();
      const error = await fleet.control("pay ments", "isolate").catch((e: unknown) => e);
      expect(error).toMatchObject({
        exitCode: 2,
        message: expect.stringMatching(
          new RegExp(`^cannot isolate "pay ments": Redis stopped answering at ${spare.url} \\([a-z ]+\\)$`),
        ) as string,
      });
      expect((error as Error).message).not.toMatch(/Connection is closed|enableOfflineQueue|Stream isn't/);
    } finally {
      await fleet.close();
      await spare.stop();
    }
  });
});
