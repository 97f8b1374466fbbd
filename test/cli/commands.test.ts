/**
 * The `purgatory` commands that read and steer circuits, run as a user runs them: the built
 * executable in a child process, against a throw-away redis-server that a factory of this test
 * process fills (and holds circuits of, so it also sees the CLI's changes as a member of the
 * fleet would).
 */
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type CircuitInfo } from "../../src/index.js";
import { buildCli, runCli, type BuiltCli, type CliOutcome } from "../support/cli.js";
import { spawnLines, type LineProcess } from "../support/redis-fleet.js";
import { HookRecorder, uniquePrefix, waitFor } from "../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { useThrowawayCluster } from "../support/throwaway-redis.js";

let cli: BuiltCli;
let server: RedisServer;
let storage: RedisStorage;
let factory: AsyncCircuitBreakerFactory;
const hooks = new HookRecorder();
const prefix = uniquePrefix("cli");

/** Runs `purgatory <args> --redis <server> --prefix <prefix>`. */
const purgatory = (...args: string[]): Promise<CliOutcome> =>
  runCli(cli.path, [...args, "--redis", server.url, "--prefix", prefix]);

const fail = (): Promise<never> => Promise.reject(new Error("down"));

/** What Redis holds for `name` now. */
async function inRedis(name: string): Promise<CircuitInfo> {
  const [info] = await storage.inspect([name]);
  if (info === undefined) throw new Error(`no circuit ${name}`);
  return info;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[/;

beforeAll(async () => {
  [cli, server] = await Promise.all([buildCli(), startRedisServer()]);
  storage = new RedisStorage({ url: server.url, prefix });
  factory = new AsyncCircuitBreakerFactory({ storage, defaultThreshold: 3, defaultTtl: 30, listeners: [hooks.hook] });
  await factory.initialize();
  const payments = await factory.getBreaker("payments", { backoff: { multiplier: 2, maxTtl: 300, jitter: 0 } });
  for (let i = 0; i < 3; i++) await payments.run(fail).catch(() => undefined);
  const search = await factory.getBreaker("search", {
    threshold: 5,
    failureRate: { rate: 0.5, minimumCalls: 20, window: 60 },
  });
  for (let i = 0; i < 2; i++) await search.run(fail).catch(() => undefined);
  await factory.getBreaker("inventory");
  await factory.getBreaker("ledger");
  await factory.getBreaker("evil\u001b[2Jname");
}, 60_000);

afterAll(async () => {
  await factory?.close();
  await server?.stop();
  await cli?.remove();
});

describe("purgatory circuits", () => {
  it("lists every circuit of the prefix with state, failures against the threshold, ttl, window and policies", async () => {
    const { code, stdout, stderr } = await purgatory("circuits");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^CIRCUIT\s+STATE\s+FAILURES\s+TTL\s+WINDOW \(calls\/failed\/slow\)\s+OPENED\s+RETRY\s+CALLERS\s+POLICIES$/,
    );
    expect(stdout).toMatch(/^payments\s+opened\s+3\/3\s+30s\s+-\s+\d+(ms|s) ago\s+in \d+s\s+-\s+backoff x2 up to 5m$/m);
    expect(stdout).toMatch(
      /^search\s+closed\s+2\/5\s+30s\s+2\/2\/0\s+-\s+-\s+-\s+failure rate >= 50% of >= 20 calls in 60s$/m,
    );
    expect(stdout).toMatch(/^inventory\s+closed\s+0\/3\s+30s\s+-\s+-\s+-\s+-\s+-$/m);
    expect(lines.at(-1)).toMatch(
      new RegExp(`^5 circuits under prefix "${prefix}" at ${server.url}: 1 opened, 4 closed$`),
    );
  });

  it("writes no colour when stdout is not a terminal, colours with FORCE_COLOR, and none under NO_COLOR", async () => {
    expect((await purgatory("circuits")).stdout).not.toMatch(ANSI);
    const forced = await runCli(cli.path, ["circuits", "--redis", server.url, "--prefix", prefix], {
      env: { FORCE_COLOR: "1" },
    });
    expect(forced.stdout).toContain("\u001b[31mopened\u001b[39m");
    const both = await runCli(cli.path, ["circuits", "--redis", server.url, "--prefix", prefix], {
      env: { FORCE_COLOR: "1", NO_COLOR: "1" },
    });
    expect(both.stdout).not.toMatch(/\x1b\[3/); // eslint-disable-line no-control-regex
  });

  it("escapes control characters of a circuit name instead of writing them to the terminal", async () => {
    const { stdout } = await purgatory("circuits");
    expect(stdout).toContain("evil\\u001b[2Jname");
    expect(stdout).not.toContain("\u001b[2J");
  });

  it("--json: an array of circuits as RedisStorage.inspect describes them", async () => {
    const { code, stdout } = await purgatory("circuits", "--json");
    expect(code).toBe(0);
    const circuits = JSON.parse(stdout) as CircuitInfo[];
    expect(circuits.map((c) => c.name)).toEqual(["evil\u001b[2Jname", "inventory", "ledger", "payments", "search"]);
    const payments = circuits.find((c) => c.name === "payments");
    expect(payments).toEqual({
      name: "payments",
      state: "opened",
      failureCount: 3,
      openedAt: expect.any(Number) as number,
      retryAt: expect.any(Number) as number,
      probes: 0,
      config: { threshold: 3, ttl: 30, halfOpenMaxCalls: 1, backoff: { multiplier: 2, maxTtl: 300, jitter: 0 } },
      window: null,
      updatedAt: expect.any(Number) as number,
      incarnation: expect.any(String) as string,
      createdAt: expect.any(Number) as number,
      generation: 1,
      quorum: null,
    });
    expect((payments?.retryAt ?? 0) - (payments?.openedAt ?? 0)).toBe(30_000);
    // Made by Redis's clock when the circuit was registered: before it opened.
    expect(payments?.createdAt).toBeLessThanOrEqual(payments?.openedAt ?? 0);
    expect(circuits.find((c) => c.name === "inventory")?.generation).toBe(0);
    expect(circuits.find((c) => c.name === "search")?.window).toEqual({ calls: 2, failures: 2, slow: 0 });
  });

  it("says so when the prefix holds no circuit", async () => {
    const { code, stdout } = await runCli(cli.path, [
      "circuits",
      "--redis",
      server.url,
      "--prefix",
      uniquePrefix("empty"),
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^no circuits under prefix "empty-[^"]+" at redis:\/\/127\.0\.0\.1:\d+\n$/);
    const json = await runCli(cli.path, [
      "circuits",
      "--json",
      "--redis",
      server.url,
      "--prefix",
      uniquePrefix("empty"),
    ]);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it("takes the Redis URL from REDIS_URL when --redis is not given", async () => {
    const { code, stdout } = await runCli(cli.path, ["circuits", "--prefix", prefix, "--json"], {
      env: { REDIS_URL: server.url },
    });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toHaveLength(5);
  });
});

describe("purgatory show NAME", () => {
  it("shows one circuit field by field", async () => {
    const { code, stdout } = await purgatory("show", "payments");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^circuit\s+payments$/m);
    expect(stdout).toMatch(/^state\s+opened$/m);
    expect(stdout).toMatch(/^failures\s+3 consecutive, threshold 3$/m);
    expect(stdout).toMatch(/^probes\s+0 running, at most 1 at once$/m);
    expect(stdout).toMatch(/^opened at\s+\d{4}-\d\d-\d\dT[\d:.]+Z \(\d+(ms|s) ago\)$/m);
    expect(stdout).toMatch(/^retry at\s+\d{4}-\d\d-\d\dT[\d:.]+Z \(in \d+s\)$/m);
    expect(stdout).toMatch(/^incarnation\s+\S+$/m);
  });

  it("--json: the circuit's object", async () => {
    const { stdout } = await purgatory("show", "search", "--json");
    const shown = JSON.parse(stdout) as CircuitInfo;
    expect(shown).toEqual(await inRedis("search"));
  });

  it("refuses a circuit that does not exist, with exit code 1", async () => {
    const { code, stdout, stderr } = await purgatory("show", "nope");
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe(
      `purgatory: no circuit named "nope" under prefix "${prefix}" (purgatory circuits lists them)\n`,
    );
  });
});

describe("purgatory isolate / disable / reset NAME", () => {
  it("isolate: Redis holds it isolated, and a process of the fleet hears of it", async () => {
    const { code, stdout } = await purgatory("isolate", "inventory");
    expect(code).toBe(0);
    expect(stdout).toBe('"inventory": closed -> isolated (every call is rejected until a reset)\n');
    expect((await inRedis("inventory")).state).toBe("isolated");
    await waitFor("the remote isolation", () => hooks.states("inventory").includes("isolated (remote)"));
    const breaker = await factory.getBreaker("inventory");
    await expect(breaker.run(async () => 1)).rejects.toMatchObject({ name: "CircuitOpenError", isolated: true });
  });

  it("disable: every call runs and nothing trips it", async () => {
    const { code, stdout } = await purgatory("disable", "ledger", "--json");
    expect(code).toBe(0);
    const answer = JSON.parse(stdout) as { action: string; circuit: CircuitInfo };
    expect(answer.action).toBe("disable");
    expect(answer.circuit).toMatchObject({ name: "ledger", state: "disabled" });
    await waitFor("the remote disabling", () => hooks.states("ledger").includes("disabled (remote)"));
    const breaker = await factory.getBreaker("ledger");
    for (let i = 0; i < 5; i++) await breaker.run(fail).catch(() => undefined);
    expect(await inRedis("ledger")).toMatchObject({ state: "disabled", failureCount: 5 });
  });

  it("reset: closed with counts cleared, ending an opening", async () => {
    const { code, stdout } = await purgatory("reset", "payments");
    expect(code).toBe(0);
    expect(stdout).toBe('"payments": opened -> closed (closed, counts cleared)\n');
    expect(await inRedis("payments")).toMatchObject({ state: "closed", failureCount: 0, openedAt: null });
    await waitFor("the remote reset", () => hooks.states("payments").includes("closed (remote)"));
  });

  it("refuses a circuit that does not exist rather than creating it", async () => {
    const { code, stderr } = await purgatory("isolate", "typo");
    expect(code).toBe(1);
    expect(stderr).toContain('no circuit named "typo"');
    expect(await storage.inspect(["typo"])).toEqual([]);
  });
});

describe("purgatory configure NAME", () => {
  it("changes threshold, ttl and half-open max calls fleet-wide", async () => {
    const { code, stdout } = await purgatory(
      "configure",
      "search",
      "--threshold",
      "10",
      "--ttl",
      "60",
      "--half-open-max-calls",
      "2",
    );
    expect(code).toBe(0);
    expect(stdout).toBe('"search": threshold 5 -> 10, ttl 30s -> 60s, half-open max calls 1 -> 2 (state closed)\n');
    expect((await inRedis("search")).config).toEqual({
      threshold: 10,
      ttl: 60,
      halfOpenMaxCalls: 2,
      failureRate: { rate: 0.5, minimumCalls: 20, window: 60 },
    });
    // The process that holds the circuit adopts the new config.
    await waitFor(
      "the new threshold in this process",
      async () => (await factory.getBreaker("search")).threshold === 10,
    );
  });

  it("--json: the circuit after the change; a fractional ttl is taken", async () => {
    const { code, stdout } = await purgatory("configure", "search", "--ttl", "0.5", "--json");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      action: "configure",
      circuit: { name: "search", config: { threshold: 10, ttl: 0.5 } },
    });
  });

  it("refuses values out of bounds, naming the option and the value", async () => {
    const zero = await purgatory("configure", "search", "--threshold", "0");
    expect(zero.code).toBe(1);
    expect(zero.stderr).toBe(
      'purgatory: invalid --threshold "0": expected an integer from 1 to Number.MAX_SAFE_INTEGER\n',
    );
    const long = await purgatory("configure", "search", "--ttl", "30000");
    expect(long.code).toBe(1);
    expect(long.stderr).toMatch(/^purgatory: invalid --ttl "30000": expected a number of seconds from 0\.001 to 3600/);
    expect((await inRedis("search")).config.threshold).toBe(10);
  });
});

describe("a circuit with a quorum: its active callers and the processes open for themselves", () => {
  const quorumPrefix = uniquePrefix("cli-quorum");
  /** A process named as an operator named it, with a terminal escape in it: shown escaped. */
  const BATCH = "batch-eu\u001b[2J";
  /** Eleven processes named by default (`host:pid`), web-7 being pid 4242, and the batch process. */
  const NAMES = [...Array.from({ length: 11 }, (_, i) => `web-${i + 1}:${4236 + i}`), BATCH];
  const processes = new Map<string, AsyncCircuitBreakerFactory>();
  let reader: RedisStorage;

  /** Runs `purgatory <args>` against this fleet's prefix. */
  const inFleet = (...args: string[]): Promise<CliOutcome> =>
    runCli(cli.path, [...args, "--redis", server.url, "--prefix", quorumPrefix]);
  const held = async (name: string): Promise<CircuitInfo> => {
    const [info] = await reader.inspect([name]);
    if (info === undefined) throw new Error(`no circuit ${name}`);
    return info;
  };
  const failTwice = async (processName: string, circuit: string): Promise<void> => {
    const breaker = await processes.get(processName)?.getBreaker(circuit);
    for (let i = 0; i < 2; i++) await breaker?.run(fail).catch(() => undefined);
  };

  beforeAll(async () => {
    reader = new RedisStorage({ url: server.url, prefix: quorumPrefix });
    // Twelve processes of a fleet, each with its own RedisStorage and name, call both circuits
    // once successfully: Redis counts each as an active caller.
    for (const processName of NAMES) {
      const storage = new RedisStorage({ url: server.url, prefix: quorumPrefix, processName, flushInterval: 0.02 });
      const factory = new AsyncCircuitBreakerFactory({ storage });
      processes.set(processName, factory);
      await factory.initialize();
      const payments = await factory.getBreaker("payments-api", { threshold: 2, ttl: 30, quorum: 2 });
      const search = await factory.getBreaker("search-api", {
        threshold: 2,
        ttl: 30,
        quorum: { processes: 2, fraction: 0.25 },
      });
      await payments.run(async () => "ok");
      await search.run(async () => "ok");
    }
    await waitFor("twelve active callers of each circuit", async () =>
      (await reader.inspect()).every((c) => c.quorum?.activeCallers.length === 12),
    );
    // web-7 fails twice on payments-api, the batch process on search-api: each opens for itself alone.
    await failTwice("web-7:4242", "payments-api");
    await failTwice(BATCH, "search-api");
    await waitFor("a process open for itself on each circuit", async () =>
      (await reader.inspect()).every((c) => c.quorum?.openLocally.length === 1),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...processes.values()].map((factory) => factory.close()));
  });

  it("circuits: the active callers in CALLERS, the processes open locally after the state, the quorum in POLICIES", async () => {
    const { code, stdout, stderr } = await inFleet("circuits");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^CIRCUIT\s+STATE\s+FAILURES\s+TTL\s+WINDOW \(calls\/failed\/slow\)\s+OPENED\s+RETRY\s+CALLERS\s+POLICIES$/,
    );
    expect(stdout).toMatch(
      /^payments-api\s+closed · 1 of 12 processes open locally\s+\d\/2\s+30s\s+-\s+-\s+-\s+12\s+quorum 2 processes$/m,
    );
    expect(stdout).toMatch(
      /^search-api\s+closed · 1 of 12 processes open locally\s+\d\/2\s+30s\s+-\s+-\s+-\s+12\s+quorum 2 processes \(or 25% of active callers\)$/m,
    );
    expect(lines.at(-1)).toMatch(/^2 circuits under prefix "[^"]+" at redis:\/\/127\.0\.0\.1:\d+: 2 closed$/);
  });

  it("show: the quorum needed now, the active callers (shortened) and who is open locally until when", async () => {
    const payments = await inFleet("show", "payments-api");
    expect(payments.code).toBe(0);
    expect(payments.stdout).toMatch(/^state\s+closed$/m);
    expect(payments.stdout).toMatch(/^quorum\s+2 processes: 2 needed now$/m);
    expect(payments.stdout).toMatch(
      /^callers\s+12 active: batch-eu\\u001b\[2J, web-1:4236, web-2:4237, web-3:4238 and 8 more$/m,
    );
    expect(payments.stdout).toMatch(/^open locally\s+1 of 12 processes: web-7 \(pid 4242\), probe in \d+s$/m);
    expect(payments.stdout).not.toContain("\u001b[2J");

    const search = await inFleet("show", "search-api");
    // 25 % of 12 active callers is 3, more than the 2 processes.
    expect(search.stdout).toMatch(/^quorum\s+2 processes \(or 25% of active callers\): 3 needed now$/m);
    // A name not of the form host:pid is shown as it is (escaped).
    expect(search.stdout).toMatch(/^open locally\s+1 of 12 processes: batch-eu\\u001b\[2J, probe in \d+s$/m);
  });

  it("show: no quorum lines for a circuit without a quorum", async () => {
    const { stdout } = await purgatory("show", "inventory");
    expect(stdout).not.toMatch(/^(quorum|callers|open locally)\s/m);
  });

  it("--json: quorum { activeCallers, openLocally: [{ process, retryAt }], effective }, null without one", async () => {
    const listed = JSON.parse((await inFleet("circuits", "--json")).stdout) as CircuitInfo[];
    const payments = listed.find((c) => c.name === "payments-api");
    expect(payments?.quorum).toEqual({
      activeCallers: expect.arrayContaining(NAMES) as string[],
      openLocally: [{ process: "web-7:4242", retryAt: expect.any(Number) as number }],
      effective: 2,
    });
    expect(payments?.quorum?.activeCallers).toHaveLength(12);
    expect(listed.find((c) => c.name === "search-api")?.quorum).toMatchObject({
      openLocally: [{ process: BATCH }],
      effective: 3,
    });
    const shown = JSON.parse((await inFleet("show", "payments-api", "--json")).stdout) as CircuitInfo;
    expect(shown.quorum).toEqual(payments?.quorum);
    expect((JSON.parse((await purgatory("show", "inventory", "--json")).stdout) as CircuitInfo).quorum).toBeNull();
  });

  it("configure --quorum N: sets the processes fleet-wide and keeps the fraction", async () => {
    const payments = await inFleet("configure", "payments-api", "--quorum", "3");
    expect(payments.stderr).toBe("");
    expect(payments.code).toBe(0);
    expect(payments.stdout).toBe('"payments-api": quorum 2 -> 3 (state closed)\n');
    expect((await held("payments-api")).config.quorum).toEqual({ processes: 3 });

    const search = await inFleet("configure", "search-api", "--quorum", "4");
    expect(search.stdout).toBe(
      '"search-api": quorum 2 or 25% of active callers -> 4 or 25% of active callers (state closed)\n',
    );
    expect((await held("search-api")).config.quorum).toEqual({ processes: 4, fraction: 0.25 });
  });

  it("configure --quorum-fraction F: sets the fraction and keeps the processes; 0 removes it", async () => {
    const half = await inFleet("configure", "payments-api", "--quorum-fraction", "0.5", "--json");
    expect(half.code).toBe(0);
    expect(JSON.parse(half.stdout)).toMatchObject({
      action: "configure",
      circuit: { name: "payments-api", config: { quorum: { processes: 3, fraction: 0.5 } }, quorum: { effective: 6 } },
    });
    const none = await inFleet("configure", "payments-api", "--quorum-fraction", "0");
    expect(none.stdout).toBe('"payments-api": quorum 3 or 50% of active callers -> 3 (state closed)\n');
    expect((await held("payments-api")).config.quorum).toEqual({ processes: 3 });
  });

  it("configure --quorum 1 --quorum-fraction 0: no quorum any more, any process opens it fleet-wide", async () => {
    const { code, stdout } = await inFleet("configure", "search-api", "--quorum", "1", "--quorum-fraction", "0");
    expect(code).toBe(0);
    expect(stdout).toBe('"search-api": quorum 4 or 25% of active callers -> 1 (state closed)\n');
    const search = await held("search-api");
    expect(search.config.quorum).toBeUndefined();
    expect(search.quorum).toBeNull();
  });

  it.each([
    ["--quorum", "0", "expected a number of processes, an integer from 1 to 1000"],
    ["--quorum", "1.5", "expected a number of processes, an integer from 1 to 1000"],
    ["--quorum", "1001", "expected a number of processes, an integer from 1 to 1000"],
    ["--quorum", "two", "expected a number"],
    ["--quorum-fraction", "2", "expected a fraction of the active callers from 0 to 1 (0.25: a quarter; 0: none)"],
    ["--quorum-fraction", "half", "expected a number"],
  ])("configure %s %s: refused with exit code 1, naming the flag and the value", async (flag, value, expected) => {
    const { code, stdout, stderr } = await inFleet("configure", "payments-api", flag, value);
    expect(stderr).toBe(`purgatory: invalid ${flag} ${JSON.stringify(value)}: ${expected}\n`);
    expect(stdout).toBe("");
    expect(code).toBe(1);
    expect((await held("payments-api")).config.quorum).toEqual({ processes: 3 });
  });
});

describe("the commands given a node of a Redis Cluster", () => {
  const redisCluster = useThrowawayCluster();

  it("read and steer the circuits of every master of the Cluster", async () => {
    const nodes = redisCluster().nodes;
    const client = new Cluster([...nodes]);
    const clusterPrefix = uniquePrefix("cli-cluster");
    const held = new AsyncCircuitBreakerFactory({
      storage: new RedisStorage({ client, prefix: clusterPrefix }),
      defaultThreshold: 1,
    });
    try {
      // Circuits whose keys live on every master: any one node answers MOVED for two thirds of them.
      const names = Array.from({ length: 12 }, (_, i) => `host-${i}.example.com`);
      const breakers = await Promise.all(names.map((name) => held.getBreaker(name)));
      await breakers[0]?.run(fail).catch(() => undefined);
      const node = `redis://${nodes[0]?.host ?? ""}:${String(nodes[0]?.port)}`;
      const cluster = (...args: string[]) => runCli(cli.path, [...args, "--redis", node, "--prefix", clusterPrefix]);

      const listed = await cluster("circuits", "--json");
      expect(listed.stderr).toBe("");
      expect(listed.code).toBe(0);
      const infos = JSON.parse(listed.stdout) as CircuitInfo[];
      expect(infos.map((info) => info.name)).toEqual([...names].sort());
      expect(infos.find((info) => info.name === names[0])?.state).toBe("opened");

      for (const name of names.slice(1, 4)) {
        const isolated = await cluster("isolate", name);
        expect(isolated.code).toBe(0);
        await waitFor(
          `${name} isolated in the process that holds it`,
          () => held.circuitStates().get(name) === "isolated",
        );
      }
    } finally {
      await held.close();
      await client.quit();
    }
  });

  it("circuits --watch follows the circuits of every master: a trip on each shows within 1 s", async () => {
    const nodes = redisCluster().nodes;
    const client = new Cluster([...nodes]);
    const clusterPrefix = uniquePrefix("cli-cluster-watch");
    const held = new AsyncCircuitBreakerFactory({
      storage: new RedisStorage({ client, prefix: clusterPrefix }),
      defaultThreshold: 1,
    });
    const names = Array.from({ length: 12 }, (_, i) => `watched-${i}.example.com`);
    const node = `redis://${nodes[0]?.host ?? ""}:${String(nodes[0]?.port)}`;
    let watch: LineProcess | undefined;
    try {
      const breakers = await Promise.all(names.map((name) => held.getBreaker(name)));
      watch = spawnLines([cli.path, "circuits", "--watch", "--json", "--redis", node, "--prefix", clusterPrefix]);
      const snapshot = await watch.waitForLine((l) => l.type === "snapshot", 15_000);
      expect((snapshot.circuits as CircuitInfo[]).map((c) => c.name)).toEqual([...names].sort());
      for (const [i, breaker] of breakers.entries()) {
        const started = Date.now();
        await breaker.run(fail).catch(() => undefined);
        await watch.waitForLine((l) => {
          const circuit = l.circuit as CircuitInfo | undefined;
          return (
            l.type === "circuit" && circuit !== undefined && circuit.name === names[i] && circuit.state === "opened"
          );
        }, 5000);
        expect(Date.now() - started).toBeLessThan(1000);
      }
      watch.child.kill("SIGINT");
      expect(await watch.exited).toBe(0);
    } finally {
      watch?.child.kill("SIGKILL");
      await held.close();
      await client.quit();
    }
  });
});
