/**
 * Quorum with real OS processes (docs/fleet-protocol.md, "Quorum"): worker processes
 * (test/support/redis-worker.ts), each with a RedisStorage of its own named `web-<n>`, make real
 * HTTP calls to a local `node:http` server, directly or through a TCP proxy that stands for one
 * process's broken network path (refusing or blackholing its connections) or for the dependency
 * going down (accepting and resetting every connection). A process whose own calls fail opens for
 * itself alone; the fleet opens only on failures from the effective quorum of distinct processes.
 * On the Redis at REDIS_URL and on the run's 3-master Cluster. The same rules with several
 * storages in one process are in `quorum.test.ts`.
 */
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RedisStorage, type CircuitInfo } from "../../../src/index.js";
import { waitStates } from "../../support/fleet-harness.js";
import { startHttpServer, type HttpServer } from "../../support/http-server.js";
import { startWorker, type Worker, type WorkerEvent } from "../../support/redis-fleet.js";
import { REDIS_URL, deleteKeys, inspector, uniquePrefix, waitFor } from "../../support/redis-helpers.js";
import type { HttpCircuitOptions, WorkerConfig } from "../../support/redis-worker.js";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy.js";

/** Seconds between a worker's hand-overs: it counts as an active caller this long after its first call. */
const FLUSH = 0.05;
/** What a loaded 2-core machine may take to start, report and read (over 3 s seen under a load of 12): a bound on waiting for a precondition, not a timing under test. */
const LOADED_MS = 15_000;
const THRESHOLD = 3;
const QUORUM = 2;
/** The sick process's own ttl: it probes for itself this long after it opened. */
const TTL = 0.5;
/** The timeout of the calls through a blackholing proxy (they fail as `CallTimeoutError`). */
const TIMEOUT = 0.25;

/** A worker's answer to an `http` command. */
interface HttpReply {
  readonly ran: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly rejectedFleet: number;
  readonly rejectedProcess: number;
  readonly errors: Record<string, number>;
  readonly state: string;
  readonly scope: string;
}

/** The processes of one describe, the storage the test reads Redis with, and the healthy dependency. */
interface Fleet {
  readonly workers: Worker[];
  readonly server: HttpServer;
  /** Proxies made by the tests, closed after the describe. */
  readonly proxies: TcpProxy[];
  inspect(name: string): Promise<CircuitInfo>;
}

/**
 * Starts `count` worker processes named `web-0`... on the Redis at REDIS_URL, or on the run's
 * Cluster (`cluster: true`), before the describe's tests; stops everything and deletes the keys after.
 */
function useFleet(count: number, options: { cluster?: boolean } = {}): () => Fleet {
  const prefix = uniquePrefix("test-quorum-processes");
  let fleet: Fleet | undefined;
  let storage: RedisStorage | undefined;
  let client: Cluster | undefined;
  beforeAll(async () => {
    const nodes = options.cluster === true ? inject("redisClusterNodes") : undefined;
    const where: Omit<WorkerConfig, "mode" | "prefix"> =
      nodes === undefined ? { url: REDIS_URL } : { url: "", cluster: nodes };
    client = nodes === undefined ? undefined : new Cluster(nodes, { redisOptions: { commandTimeout: 1000 } });
    storage = new RedisStorage({ ...(client === undefined ? { url: REDIS_URL } : { client }), prefix });
    const server = await startHttpServer();
    // Spawned together: each takes a second or more of CPU to start.
    const workers = await Promise.all(
      Array.from({ length: count }, (_, n) =>
        startWorker({ ...where, prefix, processName: `web-${n}`, flushInterval: FLUSH }, 40_000),
      ),
    );
    fleet = {
      workers,
      server,
      proxies: [],
      async inspect(name) {
        const [info] = await (storage as RedisStorage).inspect([name]);
        if (info === undefined) throw new Error(`no circuit ${name} in Redis`);
        return info;
      },
    };
  }, 60_000);
  afterAll(async () => {
    for (const worker of fleet?.workers ?? []) worker.kill();
    await Promise.all((fleet?.proxies ?? []).map((p) => p.close()));
    await fleet?.server.close();
    await storage?.close();
    if (client !== undefined) {
      await deleteKeys(client, prefix);
      await client.quit();
    } else {
      const redis = inspector();
      await deleteKeys(redis, prefix);
      await redis.quit();
    }
  });
  return () => {
    if (fleet === undefined) throw new Error("the fleet starts in beforeAll");
    return fleet;
  };
}

/** `calls` HTTP calls of `worker` to `url` through circuit `name`, `everyMs` apart. */
async function http(
  worker: Worker,
  name: string,
  url: string,
  circuit: HttpCircuitOptions,
  calls: number,
  everyMs = 0,
): Promise<HttpReply> {
  const reply = await worker.send({ op: "http", name, url, calls, everyMs, circuit });
  if (!reply.ok) throw new Error(`worker ${worker.pid}: ${String(reply.error)}`);
  return reply as unknown as HttpReply;
}

/** A proxy to the fleet's server in `mode`, closed after the describe. */
async function proxy(fleet: Fleet, mode: Parameters<typeof startTcpProxy>[1]): Promise<TcpProxy> {
  const made = await startTcpProxy(fleet.server.port, mode);
  fleet.proxies.push(made);
  return made;
}

/** Every one of `workers` calls `name` once, successfully; then Redis counts them all as active callers. */
async function allCall(fleet: Fleet, workers: readonly Worker[], name: string, circuit: HttpCircuitOptions) {
  const replies = await Promise.all(workers.map((w) => http(w, name, fleet.server.url, circuit, 1)));
  expect(replies.map((r) => r.succeeded)).toEqual(workers.map(() => 1));
  // Within one flush interval of their first call, and the inspecting read takes its own time.
  return waitFor(
    `${workers.length} active callers of ${name}`,
    async () => {
      const info = await fleet.inspect(name);
      return info.quorum?.activeCallers.length === workers.length ? info : undefined;
    },
    FLUSH * 1000 + LOADED_MS,
  );
}

/** The `state_changed` and `recovered` events a worker printed for `name`, as `"opened process"`... */
const transitions = (worker: Worker, name: string): string[] =>
  worker.events
    .filter((e: WorkerEvent) => e.circuit === name && (e.eventType === "state_changed" || e.eventType === "recovered"))
    .map((e) => `${e.eventType === "recovered" ? "recovered" : (e.event.state ?? "")} ${e.event.scope ?? "?"}`);

/** Sends one call every 20 ms until one is admitted (not rejected); its reply, and when it came. */
async function untilAdmitted(
  worker: Worker,
  name: string,
  url: string,
  circuit: HttpCircuitOptions,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await http(worker, name, url, circuit, 1);
    if (reply.ran === 1) return { reply, repliedAt: Date.now() };
    expect(reply.rejectedProcess).toBe(1);
    if (Date.now() > deadline) throw new Error(`no call of ${name} admitted within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Five processes call a healthy server; one reaches it through a proxy that refuses (or
 * blackholes) its connections. It opens for itself after `threshold` failures of its own, probes
 * for itself after its ttl, and closes once its path heals; the fleet never opens and the four
 * others are never rejected.
 */
async function oneSickProcess(fleet: Fleet, variant: "refuse" | "blackhole"): Promise<void> {
  const name = `payments-api-${variant}`;
  const circuit: HttpCircuitOptions = {
    threshold: THRESHOLD,
    ttl: TTL,
    quorum: QUORUM,
    ...(variant === "blackhole" ? { timeout: TIMEOUT } : {}),
  };
  const path = await proxy(fleet, variant);
  const [sick, ...healthy] = fleet.workers.slice(0, 5) as [Worker, ...Worker[]];
  const direct = fleet.server.url;
  await allCall(fleet, healthy, name, circuit);
  /** The four healthy processes keep calling meanwhile: `calls` each, 10 ms apart. */
  const healthyCalls = (calls: number) => Promise.all(healthy.map((w) => http(w, name, direct, circuit, calls, 10)));
  const failureKind = variant === "refuse" ? "TypeError" : "CallTimeoutError";

  // Its own path is broken: `threshold` failures, then it rejects for itself, at once.
  const busy = healthyCalls(10);
  const startedAt = Date.now();
  const first = await http(sick, name, path.url, circuit, THRESHOLD + 3);
  expect(first).toMatchObject({
    ran: THRESHOLD,
    failed: THRESHOLD,
    succeeded: 0,
    rejectedProcess: 3,
    rejectedFleet: 0,
    errors: { [failureKind]: THRESHOLD },
    state: "opened",
    scope: "process",
  });
  const info = await waitFor(
    `${name} open for web-0 in Redis`,
    async () => {
      const seen = await fleet.inspect(name);
      return seen.quorum?.openLocally.length === 1 ? seen : undefined;
    },
    LOADED_MS,
  );
  expect(info.state).toBe("closed");
  expect(info.quorum?.openLocally.map((o) => o.process)).toEqual(["web-0"]);
  expect([...(info.quorum?.activeCallers ?? [])].sort()).toEqual(["web-0", "web-1", "web-2", "web-3", "web-4"]);
  expect(info.quorum?.effective).toBe(QUORUM);
  for (const reply of await busy)
    expect(reply).toMatchObject({ succeeded: 10, failed: 0, rejectedFleet: 0, rejectedProcess: 0 });

  // After its ttl it probes for itself; the path is still broken, so it opens for itself again.
  const firstProbe = untilAdmitted(sick, name, path.url, circuit, TTL * 1000 + 3000);
  const busyDuringProbe = healthyCalls(10);
  const probe = await firstProbe;
  // Not before its ttl: from the first failing call's start to the probe's end, at least one ttl went by.
  expect(probe.repliedAt - startedAt).toBeGreaterThanOrEqual(TTL * 1000);
  expect(probe.reply).toMatchObject({ ran: 1, failed: 1, state: "opened", scope: "process" });
  expect((await fleet.inspect(name)).state).toBe("closed");
  for (const reply of await busyDuringProbe)
    expect(reply).toMatchObject({ succeeded: 10, rejectedFleet: 0, rejectedProcess: 0 });

  // Its path heals: its next probe succeeds and it closes.
  await path.set("forward");
  const healed = await untilAdmitted(sick, name, path.url, circuit, TTL * 1000 * 4 + 3000);
  expect(healed.reply).toMatchObject({ ran: 1, succeeded: 1, failed: 0, state: "closed" });
  await waitFor(
    `Redis forgets ${name}'s local opening`,
    async () => {
      const seen = await fleet.inspect(name);
      return seen.quorum?.openLocally.length === 0;
    },
    LOADED_MS,
  );
  expect((await fleet.inspect(name)).state).toBe("closed");
  expect(await http(sick, name, path.url, circuit, 5)).toMatchObject({
    succeeded: 5,
    rejectedFleet: 0,
    rejectedProcess: 0,
  });

  // Every transition was its own; the others saw none, the fleet's circuit never moved. (They may
  // see a fleet `recovered`: their successes reset the fleet's count of the sick one's failures.)
  expect(transitions(sick, name)).toEqual([
    "opened process",
    "half-opened process",
    "opened process",
    "half-opened process",
    "recovered process",
    "closed process",
  ]);
  for (const worker of healthy) {
    expect(transitions(worker, name).filter((t) => !t.startsWith("recovered"))).toEqual([]);
  }
}

/**
 * The dependency goes down for all five processes (its port accepts and resets every
 * connection). The fleet opens once two processes have failed, and the others then reject
 * without reaching it: one by one, `threshold + 1` calls reach it; all at once, at most
 * `quorum x threshold` plus one in flight per process.
 */
async function deadDependency(fleet: Fleet): Promise<void> {
  const workers = fleet.workers.slice(0, 5) as [Worker, Worker, ...Worker[]];
  const [a, b, ...others] = workers;
  const dependency = await proxy(fleet, "forward");
  const circuit: HttpCircuitOptions = { threshold: THRESHOLD, ttl: 30, quorum: QUORUM };
  const { url } = dependency;

  // One by one: a fails alone (open for itself), b's first failure meets the quorum.
  const name = "orders-api";
  for (const w of workers) expect(await http(w, name, url, circuit, 1)).toMatchObject({ succeeded: 1 });
  await waitFor(
    "5 active callers",
    async () => (await fleet.inspect(name)).quorum?.activeCallers.length === 5,
    LOADED_MS,
  );
  await dependency.set("reset");
  expect(await http(a, name, url, circuit, THRESHOLD + 2)).toMatchObject({
    ran: THRESHOLD,
    failed: THRESHOLD,
    rejectedProcess: 2,
    rejectedFleet: 0,
    scope: "process",
  });
  expect((await fleet.inspect(name)).state).toBe("closed");
  expect(await http(b, name, url, circuit, 3)).toMatchObject({
    ran: 1,
    failed: 1,
    rejectedFleet: 2,
    rejectedProcess: 0,
    state: "opened",
    scope: "fleet",
  });
  expect((await fleet.inspect(name)).state).toBe("opened");
  expect(await waitStates(others, name, "opened")).toEqual(others.map(() => "opened"));
  for (const w of others) {
    expect(await http(w, name, url, circuit, 3)).toMatchObject({ ran: 0, rejectedFleet: 3, rejectedProcess: 0 });
  }
  const oneByOne = dependency.accepted.reset;
  expect(oneByOne).toBe(THRESHOLD + 1);

  // All at once: every process calls every 5 ms; the calls that reach the dead dependency are
  // bounded by quorum x threshold, plus one call in flight per process.
  const stampede = "inventory-api";
  await dependency.set("forward");
  for (const w of workers) expect(await http(w, stampede, url, circuit, 1)).toMatchObject({ succeeded: 1 });
  await waitFor(
    "5 active callers",
    async () => (await fleet.inspect(stampede)).quorum?.activeCallers.length === 5,
    LOADED_MS,
  );
  await dependency.set("reset");
  const replies = await Promise.all(workers.map((w) => http(w, stampede, url, circuit, 20, 5)));
  const allAtOnce = dependency.accepted.reset - oneByOne;
  const ran = replies.reduce((sum, r) => sum + r.ran, 0);
  expect(allAtOnce).toBe(ran);
  expect(ran).toBeGreaterThanOrEqual(THRESHOLD);
  expect(ran).toBeLessThanOrEqual(QUORUM * THRESHOLD + workers.length);
  expect((await fleet.inspect(stampede)).state).toBe("opened");
  expect(replies.reduce((sum, r) => sum + r.succeeded, 0)).toBe(0);
  expect(replies.reduce((sum, r) => sum + r.rejectedFleet, 0)).toBeGreaterThan(0);
  expect(await waitStates(workers, stampede, "opened")).toEqual(workers.map(() => "opened"));
}

describe("worker processes with a quorum, on one Redis", () => {
  const fleet = useFleet(10);

  it("keeps a process whose own path refuses connections open for itself alone, and closes it once its path heals", async () => {
    await oneSickProcess(fleet(), "refuse");
  });

  it("keeps a process whose own path blackholes its calls (they time out) open for itself alone, and closes it once its path heals", async () => {
    await oneSickProcess(fleet(), "blackhole");
  });

  it("opens the fleet once two processes failed when the dependency is down for all, and the others reject without reaching it", async () => {
    await deadDependency(fleet());
  });

  it("trips a circuit with quorum 3 that one process calls alone exactly as one without a quorum", async () => {
    const { workers } = fleet();
    const lone = workers[5] as Worker;
    const down = await proxy(fleet(), "refuse");
    const withQuorum = await http(lone, "lone-quorum", down.url, { threshold: THRESHOLD, ttl: 30, quorum: 3 }, 5);
    const without = await http(lone, "lone-plain", down.url, { threshold: THRESHOLD, ttl: 30 }, 5);
    const expected = {
      ran: THRESHOLD,
      failed: THRESHOLD,
      succeeded: 0,
      rejectedFleet: 2,
      rejectedProcess: 0,
      state: "opened",
      scope: "fleet",
    };
    expect(withQuorum).toMatchObject(expected);
    expect(without).toMatchObject(expected);
    const info = await fleet().inspect("lone-quorum");
    expect(info.state).toBe("opened");
    expect(info.quorum).toMatchObject({ activeCallers: ["web-5"], openLocally: [], effective: 1 });
    expect((await fleet().inspect("lone-plain")).state).toBe("opened");
  });

  it("needs ceil(0.3 x 10) = 3 of 10 active callers with { processes: 2, fraction: 0.3 }: 2 failing processes do not open the fleet, a 3rd does", async () => {
    const { workers } = fleet();
    const name = "search-api";
    const circuit: HttpCircuitOptions = { threshold: 2, ttl: 30, quorum: { processes: 2, fraction: 0.3 } };
    const info = await allCall(fleet(), workers, name, circuit);
    expect(info.quorum?.effective).toBe(3);
    const down = await proxy(fleet(), "refuse");
    const [first, second, third, ...rest] = workers as [Worker, Worker, Worker, ...Worker[]];
    for (const w of [first, second]) {
      expect(await http(w, name, down.url, circuit, 3)).toMatchObject({
        ran: 2,
        rejectedProcess: 1,
        state: "opened",
        scope: "process",
      });
    }
    const twoFailed = await fleet().inspect(name);
    expect(twoFailed.state).toBe("closed");
    expect(twoFailed.quorum?.openLocally.map((o) => o.process).sort()).toEqual(["web-0", "web-1"]);
    // The healthy ones keep calling (and hand their successes over), never rejected.
    const healthy = await Promise.all([third, ...rest].map((w) => http(w, name, fleet().server.url, circuit, 3, 10)));
    for (const reply of healthy) expect(reply).toMatchObject({ succeeded: 3, rejectedFleet: 0, rejectedProcess: 0 });
    expect((await fleet().inspect(name)).state).toBe("closed");

    const opening = await http(third, name, down.url, circuit, 3);
    expect(opening).toMatchObject({ state: "opened", scope: "fleet", rejectedProcess: 0 });
    expect(opening.ran).toBeLessThanOrEqual(2);
    expect(opening.rejectedFleet).toBe(3 - opening.ran);
    expect((await fleet().inspect(name)).state).toBe("opened");
    expect(await waitStates(rest, name, "opened")).toEqual(rest.map(() => "opened"));
    for (const w of rest) {
      expect(await http(w, name, fleet().server.url, circuit, 1)).toMatchObject({ ran: 0, rejectedFleet: 1 });
    }
  });

  it("opens by a failure rate for one process alone, and for the fleet once a second process's failures are in the window", async () => {
    const workers = fleet().workers.slice(0, 5) as [Worker, Worker, ...Worker[]];
    const [a, b, ...others] = workers;
    const name = "rates-api";
    const circuit: HttpCircuitOptions = {
      threshold: 1000,
      ttl: 30,
      quorum: QUORUM,
      failureRate: { rate: 0.5, minimumCalls: 4, window: 10 },
    };
    await allCall(fleet(), [b, ...others], name, circuit);
    const down = await proxy(fleet(), "refuse");
    // a's own window: 4 failures of 4 calls: open for a alone.
    expect(await http(a, name, down.url, circuit, 6)).toMatchObject({
      ran: 4,
      failed: 4,
      rejectedProcess: 2,
      rejectedFleet: 0,
      state: "opened",
      scope: "process",
    });
    // The fleet's window (4 successes, a's 4 failures) meets the rate, but on one process's word: still closed.
    const handedOver = await waitFor("a's failures in the fleet's window", async () => {
      const info = await fleet().inspect(name);
      return (info.window?.failures ?? 0) >= 4 ? info : undefined;
    });
    expect(handedOver.window).toMatchObject({ calls: 8, failures: 4 });
    expect(handedOver.quorum?.activeCallers).toHaveLength(5);
    expect(handedOver.state).toBe("closed");
    for (const w of others) {
      expect(await http(w, name, fleet().server.url, circuit, 1)).toMatchObject({ succeeded: 1, rejectedProcess: 0 });
    }
    expect((await fleet().inspect(name)).state).toBe("closed");

    // b's failures (7 of 14 calls in the window now) come from a second process: the fleet opens.
    const second = await http(b, name, down.url, circuit, 6);
    expect(second.ran).toBeLessThanOrEqual(3);
    expect(second.succeeded).toBe(0);
    const opened = await waitFor("the fleet opens", async () => {
      const info = await fleet().inspect(name);
      return info.state === "opened" ? info : undefined;
    });
    expect(opened.window?.failures).toBeLessThanOrEqual(7);
    expect(await waitStates(others, name, "opened")).toEqual(others.map(() => "opened"));
    for (const w of others) {
      expect(await http(w, name, fleet().server.url, circuit, 1)).toMatchObject({ ran: 0, rejectedFleet: 1 });
    }
  });
});

describe("worker processes with a quorum, on a 3-master Redis Cluster", () => {
  const fleet = useFleet(5, { cluster: true });

  it("keeps a process whose own path refuses connections open for itself alone, and closes it once its path heals", async () => {
    await oneSickProcess(fleet(), "refuse");
  });

  it("opens the fleet once two processes failed when the dependency is down for all, and the others reject without reaching it", async () => {
    await deadDependency(fleet());
  });
});
