/**
 * RedisStorage over Redis Sentinel, with real processes: one master, one replica and
 * three sentinels (test/support/redis-sentinel.ts), and three worker processes whose storages get
 * an ioredis Sentinel client (`new Redis({ sentinels, name })`, passed as `client`).
 *
 * - A forced failover (`SENTINEL FAILOVER`): the sentinels promote the replica at once, but the
 *   former master stays a master, and keeps the workers' connections, until the sentinels turn it
 *   into a replica some 10 s later (killing its clients). What the workers wrote there meanwhile
 *   is lost: a circuit created there (a lost key), a trip and a close (a shared state that went
 *   back to an older version of the same incarnation).
 * - A SIGKILL of the master, with the replica's link cut just before (so that the last writes are
 *   not replicated, as asynchronous replication may lose them): the sentinels elect the replica.
 * - After each: every process can trip, probe and close every circuit, trips are heard by pub/sub
 *   (the subscriber connections, `duplicate()`s of the client, followed the master), and every
 *   replica agrees with what Redis holds (`storage.inspect`).
 * - A circuit a process first registers during the failover's outage and trips locally is pushed
 *   to Redis when it is back (the protocol's recovery rule), through a real failover, and without
 *   Sentinel (a proxy cut) as a smaller reproduction (both failed before the rule covered it).
 * - ioredis's `failoverDetector`: the connections move at once on a forced failover.
 *
 * - Writes the failover lost on a circuit that survived (the same incarnation, an older version): a
 *   lost trip, a lost close. Every replica follows Redis again (the key that went back in time is
 *   made anew, closed), and a lost close does not leave a circuit that cannot trip.
 * - With `failoverDetector`, a process ends by itself after `close()`: the storage disconnects its
 *   subscriber (a `duplicate()` of the client) after its `quit()`, which leaves ioredis's
 *   connections to the sentinels open (ioredis #1362).
 *
 * `SENTINEL_TEST_LOG=1` prints the replicas' internal states at each step.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStorage, type CircuitInfo } from "../../../src/index.js";
import {
  eventOf,
  eventsSince,
  everyone,
  markEvents,
  transitions,
  useFleet,
  waitStates,
  type EventMark,
} from "../../support/fleet-harness.js";
import { startWorker, type Worker } from "../../support/redis-fleet.js";
import { sleep, uniquePrefix, waitFor } from "../../support/redis-helpers.js";
import { startRedisSentinel, type RedisSentinel } from "../../support/redis-sentinel.js";
import { freePort, type RedisServer } from "../../support/redis-server.js";

const LOG = process.env.SENTINEL_TEST_LOG === "1";
const log = (...args: unknown[]): void => {
  if (LOG) console.log("[sentinel]", ...args);
};

const THRESHOLD = 3;
/** The ioredis `connectionName` of the processes with a `failoverDetector`, to find their connections in CLIENT LIST. */
const DETECTOR_NAME = "purgatory-detector";
/** Seconds a circuit stays opened. */
const TTL = 0.6;
/** Fast detection and recovery; no periodic re-read, so that only pub/sub (or a reconnection's re-read) carries news. */
const STORAGE = { threshold: THRESHOLD, ttl: TTL, commandTimeout: 0.5, healthCheckInterval: 0.05, resyncInterval: 60 };

/** Whether `worker` printed `eventType` since `mark`. */
const printedSince = (mark: EventMark, worker: Worker, eventType: string): boolean =>
  worker.events.slice(mark.get(worker) ?? 0).some((e) => e.eventType === eventType);

/** Waits until `worker` printed `eventType` since `mark`. */
const eventSince = (mark: EventMark, worker: Worker, eventType: string, timeoutMs = 20_000) =>
  waitFor(`${eventType} from worker ${worker.pid}`, () => printedSince(mark, worker, eventType), timeoutMs);

/** The replicas of `name` in `workers`, one compact line each (for the log and failure messages). */
async function replicas(workers: readonly Worker[], name: string): Promise<string[]> {
  const replies = await everyone(workers, { op: "replica", name });
  return replies.map((r) => {
    if (r.held !== true) return "not held";
    const shared = r.shared as { incarnation: string; version: number; state: string; generation: number } | null;
    const view = r.view as { state: string; generation: number };
    const since = r.since as { generation: number } | null;
    return (
      `${r.mode as string}${r.available === true ? "" : " (unavailable)"} view=${view.state}/g${view.generation}` +
      ` shared=${shared === null ? "none" : `${shared.state}/g${shared.generation}/v${shared.version}/${shared.incarnation}`}` +
      ` since=${since === null ? "null" : `g${since.generation}`}`
    );
  });
}

describe("RedisStorage over Redis Sentinel: live processes through a forced failover and a SIGKILL of the master", () => {
  const prefix = uniquePrefix("test-sentinel");
  let sentinel: RedisSentinel;
  let workers: Worker[] = [];
  let a: Worker;
  let b: Worker;
  /** Two more processes whose Sentinel clients have ioredis's `failoverDetector` (the last test). */
  let detectors: Worker[] = [];
  let windowNewIncarnation = "";
  /** The test's own storage over a Sentinel client, for `inspect` (it holds no circuit). */
  let inspector: RedisStorage;
  let inspectorClient: Redis;
  const keys = new RedisStorage({ prefix }).keys;

  const sentinelClient = () => {
    const client = new Redis({ sentinels: [...sentinel.sentinels], name: sentinel.name });
    client.on("error", () => undefined);
    return client;
  };
  const inspect = async (name: string): Promise<CircuitInfo | undefined> => (await inspector.inspect([name]))[0];
  const hget = (server: RedisServer, name: string, field: string) =>
    sentinel.admin(server).hget(keys.circuit(name), field);

  /** Each worker's state of `name`, once they all equal Redis's (at most `timeoutMs`). */
  async function agreeWithRedis(name: string, timeoutMs = 3000): Promise<{ redis: string; workers: unknown[] }> {
    const redis = (await inspect(name))?.state ?? "missing";
    const states = await waitStates(workers, name, redis, timeoutMs);
    log(name, "redis:", redis, "workers:", states, await replicas(workers, name));
    return { redis, workers: states };
  }

  /**
   * Every worker trips a circuit of its own (threshold failures), every other worker hears it by
   * pub/sub as a remote `state_changed`, then the tripping worker probes after the ttl and closes
   * it, and every worker follows.
   */
  async function everyoneTripsProbesCloses(label: string): Promise<void> {
    const names = workers.map((_, i) => `${label}-${i}`);
    await Promise.all(names.map((name) => everyone(workers, { op: "register", name })));
    const mark = markEvents(workers);
    const tripped = await Promise.all(
      workers.map((w, i) => w.send({ op: "run", name: names[i] as string, calls: THRESHOLD, outcome: "fail" })),
    );
    expect(tripped.map((r) => [r.failed, r.state])).toEqual(workers.map(() => [THRESHOLD, "opened"]));
    for (const name of names) {
      // Within 2 s, with no periodic re-read: by pub/sub.
      expect(await waitStates(workers, name, "opened", 2000)).toEqual(workers.map(() => "opened"));
      expect(transitions(eventsSince(mark, name)).sort()).toEqual(["opened", "opened (remote)", "opened (remote)"]);
      expect((await inspect(name))?.state).toBe("opened");
    }
    await sleep(TTL * 1000 + 100);
    const probed = await Promise.all(
      workers.map((w, i) => w.send({ op: "run", name: names[i] as string, calls: 1, outcome: "succeed" })),
    );
    expect(probed.map((r) => [r.succeeded, r.state])).toEqual(workers.map(() => [1, "closed"]));
    for (const name of names) {
      expect(await waitStates(workers, name, "closed", 2000)).toEqual(workers.map(() => "closed"));
      expect((await inspect(name))?.state).toBe("closed");
    }
  }

  /** How many connections of the master are subscribed to `name`'s channel (sharded pub/sub, Redis 7). */
  async function subscribersOn(server: RedisServer, name: string): Promise<number> {
    const reply = (await sentinel.admin(server).call("PUBSUB", "SHARDNUMSUB", keys.channel(name))) as [string, number];
    return Number(reply[1]);
  }

  beforeAll(async () => {
    const started = Date.now();
    sentinel = await startRedisSentinel();
    const config = {
      ...STORAGE,
      url: "redis://127.0.0.1:1", // unused: the storage gets the Sentinel client
      sentinel: { sentinels: sentinel.sentinels, name: sentinel.name },
      prefix,
    };
    const detector = {
      ...config,
      sentinel: { ...config.sentinel, options: { failoverDetector: true, connectionName: DETECTOR_NAME } },
    };
    const started3 = await Promise.all([
      ...[config, config, config].map((c) => startWorker(c)),
      ...[detector, detector].map((c) => startWorker(c)),
    ]);
    workers = started3.slice(0, 3);
    detectors = started3.slice(3);
    [a, b] = workers as [Worker, Worker, Worker];
    inspectorClient = sentinelClient();
    inspector = new RedisStorage({ client: inspectorClient, prefix });
    await inspector.initialize();
    log("set-up ready in", Date.now() - started, "ms; master", (await sentinel.master()).port);
  }, 60_000);

  afterAll(async () => {
    // The last tests end the processes; any left (a failed test) is killed.
    for (const worker of [...workers, ...detectors]) worker.kill();
    await inspector?.close();
    inspectorClient?.disconnect();
    await sentinel?.stop();
  }, 30_000);

  it("before any failover: circuits trip, are heard by every process, probe and close", async () => {
    await everyoneTripsProbesCloses("before");
  });

  it("forced failover (SENTINEL FAILOVER): the processes write on the former master until the sentinels demote it; a circuit created there only (a lost key) starts closed again in every process", async () => {
    const started = Date.now();
    // Before: "window-trip" closed, "window-close" opened, both replicated to the replica.
    await everyone(workers, { op: "register", name: "window-trip" });
    await everyone(workers, { op: "register", name: "window-close" });
    await a.send({ op: "run", name: "window-close", calls: THRESHOLD, outcome: "fail" });
    expect(await waitStates(workers, "window-close", "opened")).toEqual(["opened", "opened", "opened"]);
    const replica = sentinel.other(await sentinel.master());
    await waitFor("the replica to have both", async () => (await hget(replica, "window-close", "st")) === "opened");

    const mark = markEvents(workers);
    const { from, to } = await sentinel.failover();
    log("SENTINEL FAILOVER:", from.port, "->", to.port, "in", Date.now() - started, "ms");

    // The former master is still a master, and the processes still talk to it: a trip, a close
    // and a new circuit, all heard by the others (they share its pub/sub), none on the new master.
    await a.send({ op: "run", name: "window-trip", calls: THRESHOLD, outcome: "fail" });
    await sleep(TTL * 1000 + 100);
    expect((await a.send({ op: "run", name: "window-close", calls: 1, outcome: "succeed" })).state).toBe("closed");
    await a.send({ op: "register", name: "window-new" });
    windowNewIncarnation = ((await a.send({ op: "replica", name: "window-new" })).shared as { incarnation: string })
      .incarnation;
    await everyone(workers, { op: "register", name: "window-new" });
    expect(await waitStates(workers, "window-trip", "opened")).toEqual(["opened", "opened", "opened"]);
    expect(await waitStates(workers, "window-close", "closed")).toEqual(["closed", "closed", "closed"]);
    expect([await hget(from, "window-trip", "st"), await hget(to, "window-trip", "st")]).toEqual(["opened", "closed"]);
    expect([await hget(from, "window-close", "st"), await hget(to, "window-close", "st")]).toEqual([
      "closed",
      "opened",
    ]);
    expect(await sentinel.admin(to).exists(keys.circuit("window-new"))).toBe(0);
    log("split brain: the processes wrote on the former master", from.port, "only");

    // The sentinels turn the former master into a replica and kill its clients: every process
    // reconnects (through the sentinels) to the new master, which never saw those writes.
    for (const worker of workers) await eventSince(mark, worker, "storage_recovered", 30_000);
    log("every process reconnected to the new master", Date.now() - started, "ms after the failover began");
    expect(workers.map((w) => printedSince(mark, w, "storage_unavailable"))).toEqual([true, true, true]);
    expect(await sentinel.admin(from).role()).toEqual(expect.arrayContaining(["slave", to.port]));

    // A lost key: the new master never had "window-new"; the re-read made a new incarnation, closed.
    const fresh = await inspect("window-new");
    expect(fresh?.state).toBe("closed");
    expect(fresh?.incarnation).not.toBe(windowNewIncarnation);
    expect((await agreeWithRedis("window-new")).workers).toEqual(["closed", "closed", "closed"]);
  }, 45_000);

  it("a trip the forced failover lost (Redis went back to an older version of the same incarnation): every replica follows Redis, closed, and calls run", async () => {
    const seen = await agreeWithRedis("window-trip");
    expect(seen.redis).toBe("closed");
    expect(seen.workers, "each replica as Redis holds it").toEqual(["closed", "closed", "closed"]);
    const calls = await everyone(workers, { op: "run", name: "window-trip", calls: 2, outcome: "succeed" });
    log(
      "window-trip after 2 successes each:",
      calls.map((r) => r.state),
      await replicas(workers, "window-trip"),
    );
    expect(calls.map((r) => r.succeeded)).toEqual([2, 2, 2]);
    expect(calls.map((r) => r.state)).toEqual(["closed", "closed", "closed"]);
  });

  it("a close the forced failover lost: the key that went back in time is made anew (closed), and the processes' failures trip it again", async () => {
    const seen = await agreeWithRedis("window-close");
    // The recovery's re-read carried the version each process had seen: Redis's older one was
    // replaced by a new incarnation, closed, which every replica adopted.
    expect(seen.redis).toBe("closed");
    expect(seen.workers).toEqual(["closed", "closed", "closed"]);
    const failed = await everyone(workers, { op: "run", name: "window-close", calls: THRESHOLD, outcome: "fail" });
    log(
      "window-close after",
      THRESHOLD,
      "failures each:",
      failed.map((r) => [r.failed, r.rejected, r.state]),
    );
    expect((await inspect("window-close"))?.state).toBe("opened");
    expect(await waitStates(workers, "window-close", "opened")).toEqual(["opened", "opened", "opened"]);
  });

  it("after the forced failover: every process trips, probes and closes; trips are heard by pub/sub on the new master", async () => {
    const master = await sentinel.master();
    await everyoneTripsProbesCloses("after-forced");
    // Each process's subscriber connection (a duplicate of its Sentinel client) is on the new master.
    expect(await subscribersOn(master, "after-forced-0")).toBe(workers.length);
  }, 30_000);

  it("SIGKILL of the master with writes not replicated: a circuit created after the replica fell behind (a lost key) starts closed again; nothing is stuck; pub/sub follows", async () => {
    await sentinel.waitSettled();
    const started = Date.now();
    await everyone(workers, { op: "register", name: "hard-trip" });
    const master = await sentinel.master();
    const replica = sentinel.other(master);
    await waitFor("the replica to have hard-trip", async () => (await hget(replica, "hard-trip", "st")) === "closed");
    // Asynchronous replication: the replica stops following (its link cut, as a slow network would
    // leave it behind), the processes write on, and the master dies before it caught up.
    await sentinel.admin(replica).call("REPLICAOF", "127.0.0.1", String(await freePort()));
    await a.send({ op: "run", name: "hard-trip", calls: THRESHOLD, outcome: "fail" });
    await everyone(workers, { op: "register", name: "hard-new" });
    const lostIncarnation = ((await a.send({ op: "replica", name: "hard-new" })).shared as { incarnation: string })
      .incarnation;
    expect(await waitStates(workers, "hard-trip", "opened")).toEqual(["opened", "opened", "opened"]);
    expect([await hget(master, "hard-trip", "st"), await hget(replica, "hard-trip", "st")]).toEqual([
      "opened",
      "closed",
    ]);
    expect(await sentinel.admin(replica).exists(keys.circuit("hard-new"))).toBe(0);

    const mark = markEvents(workers);
    const { from, to } = await sentinel.killMaster();
    log("SIGKILL of", from.port, "; the sentinels elected", to.port, "in", Date.now() - started, "ms");
    for (const worker of workers) await eventSince(mark, worker, "storage_recovered", 30_000);
    log("every process reconnected to the new master", Date.now() - started, "ms after the kill");

    const fresh = await inspect("hard-new");
    expect(fresh?.state).toBe("closed");
    expect(fresh?.incarnation).not.toBe(lostIncarnation);
    expect((await agreeWithRedis("hard-new")).workers).toEqual(["closed", "closed", "closed"]);

    await everyoneTripsProbesCloses("after-kill");
    expect(await subscribersOn(to, "after-kill-0")).toBe(workers.length);
    await sentinel.restartAsReplica(from);
  }, 45_000);

  it("a trip the SIGKILL failover lost: every replica follows Redis, closed", async () => {
    const seen = await agreeWithRedis("hard-trip");
    expect(seen.redis).toBe("closed");
    expect(seen.workers, "each replica as Redis holds it").toEqual(["closed", "closed", "closed"]);
  });

  it("a circuit first registered during the failover's outage and tripped locally reaches Redis and every process when Redis is back", async () => {
    await sentinel.waitSettled();
    // "outage-held" is held by the others (Redis has it, closed, replicated); "outage-fresh" by nobody yet.
    await everyone(workers.slice(1), { op: "register", name: "outage-held" });
    const replica = sentinel.other(await sentinel.master());
    await waitFor(
      "the replica to have outage-held",
      async () => (await hget(replica, "outage-held", "st")) === "closed",
    );
    const mark = markEvents(workers);
    const killing = sentinel.killMaster();
    await eventSince(mark, a, "storage_unavailable", 10_000);
    for (const name of ["outage-held", "outage-fresh"]) {
      const local = await a.send({ op: "run", name, calls: THRESHOLD, outcome: "fail" });
      expect(local.state).toBe("opened");
      log(name, "tripped during the outage:", await replicas([a], name));
    }
    const { from, to } = await killing;
    log("SIGKILL of", from.port, "; the sentinels elected", to.port);
    // Every process, not only A: B registers below, and would register under its outage policy
    // (closed, for itself) if its own connection had not come back yet.
    for (const worker of workers) await eventSince(mark, worker, "storage_recovered", 30_000);
    await sleep(200);

    const held = await inspect("outage-held");
    const fresh = await inspect("outage-fresh");
    log("after the recovery: outage-held", held?.state, await replicas(workers, "outage-held"));
    log("after the recovery: outage-fresh", fresh?.state, await replicas([a], "outage-fresh"));
    const bRegistersFresh = (await b.send({ op: "register", name: "outage-fresh" })).state;
    expect({
      redisHeld: held?.state,
      processesHeld: await waitStates(workers, "outage-held", "opened", 2000),
      redisFresh: fresh?.state,
      aFresh: (await a.send({ op: "state", name: "outage-fresh" })).state,
      bRegistersFresh,
    }).toEqual({
      redisHeld: "opened",
      processesHeld: ["opened", "opened", "opened"],
      redisFresh: "opened",
      aFresh: "opened",
      bRegistersFresh: "opened",
    });
    // One opening fleet-wide (A's, decided during the outage); the others heard it as remote.
    expect(transitions(eventsSince(mark, "outage-held")).filter((t) => t === "opened")).toEqual(["opened"]);
    for (const other of workers.slice(1)) {
      const heard = transitions(eventsSince(new Map([[other, mark.get(other) ?? 0]]), "outage-held"));
      expect(heard).toEqual(["opened (remote)"]);
    }
    await sentinel.restartAsReplica(from);
  }, 30_000);

  it("with ioredis's failoverDetector, a forced failover moves every connection (commands and subscriber) to the new master at once: no split brain", async () => {
    await sentinel.waitSettled();
    const [d1, d2] = detectors as [Worker, Worker];
    await everyone(detectors, { op: "register", name: "detector-trip" });
    const mark = markEvents(detectors);
    const named = async (server: RedisServer) =>
      ((await sentinel.admin(server).call("CLIENT", "LIST")) as string)
        .split("\n")
        .filter((line) => line.includes(`name=${DETECTOR_NAME} `)).length;
    const where = async ({ from, to }: { from: RedisServer; to: RedisServer }) =>
      `${await named(to)} on the new master, ${await named(from)} on the former`;
    // Two connections per process (its commands, its subscriber), all on the new master, before
    // the sentinels demote the former one (some 10 s; 5 s were not enough once at load 10).
    const moved = async (failover: { from: RedisServer; to: RedisServer }): Promise<boolean> => {
      const ok = await waitFor(
        "the connections to move",
        async () => (await named(failover.to)) === 4 && (await named(failover.from)) === 0,
        8000,
        50,
      ).catch(() => false);
      if (!ok) log("failoverDetector: after 8 s,", await where(failover));
      return ok;
    };
    let started = Date.now();
    let { from, to } = await sentinel.failover();
    // Now and then (2 of some 30 full runs) the connections had not moved after 8 s, most likely
    // because after the first announcement ioredis asks one sentinel where the master is, and one
    // that has not switched yet names the former master, which is still one until its demotion.
    // Such a failover is forced once more: the detector must move them at once in one of two.
    if (!(await moved({ from, to }))) {
      await sentinel.waitSettled();
      started = Date.now();
      ({ from, to } = await sentinel.failover());
      if (!(await moved({ from, to })))
        throw new Error(`twice, the connections did not move: ${await where({ from, to })}`);
    }
    for (const worker of detectors) await eventSince(mark, worker, "storage_recovered", 5000);
    log("failoverDetector: connections on the new master", Date.now() - started, "ms after SENTINEL FAILOVER");
    expect((await sentinel.admin(from).role())[0]).toBe("master"); // not demoted yet

    const tripped = await d1.send({ op: "run", name: "detector-trip", calls: THRESHOLD, outcome: "fail" });
    expect(tripped.state).toBe("opened");
    expect(await hget(to, "detector-trip", "st")).toBe("opened");
    expect(await waitStates([d2], "detector-trip", "opened", 2000)).toEqual(["opened"]);
    expect(transitions(eventsSince(mark, "detector-trip")).sort()).toEqual(["opened", "opened (remote)"]);
    expect(await subscribersOn(to, "detector-trip")).toBe(2);
  }, 60_000);

  /** Asks `worker` to close its factory and Sentinel client; its exit code, or `null` if it had to be killed after 5 s. */
  const exitCode = async (worker: Worker): Promise<number | null> => {
    const timer = setTimeout(() => worker.kill(), 5000);
    await worker.send({ op: "exit" }).catch(() => undefined);
    const code = await worker.exited;
    clearTimeout(timer);
    return code;
  };

  it("every process ends by itself after close() (its factory, then its Sentinel client's disconnect())", async () => {
    expect(await Promise.all(workers.map(exitCode))).toEqual([0, 0, 0]);
  }, 15_000);

  it("with ioredis's failoverDetector, every process ends by itself after close() (the subscriber is disconnected after its quit, which leaves the detector's sentinel connections open: ioredis #1362)", async () => {
    expect(await Promise.all(detectors.map(exitCode))).toEqual([0, 0]);
  }, 15_000);
});

describe("without Sentinel: a circuit first registered during a network cut and tripped locally", () => {
  const fleet = useFleet();

  it("reaches Redis and the other processes when the network is back", async () => {
    const server = await fleet.server();
    const proxy = await fleet.proxy(server.port);
    const admin = fleet.admin(server.url);
    const config = { threshold: THRESHOLD, ttl: 30 };
    const [cutOff, other] = await Promise.all([
      fleet.worker({ ...config, url: proxy.url }),
      fleet.worker({ ...config, url: server.url }),
    ]);
    // "held" is in Redis (closed) and held by the other process; "fresh" is nowhere yet.
    await other.send({ op: "register", name: "held" });

    proxy.cut();
    await eventOf(cutOff, "storage_unavailable");
    for (const name of ["held", "fresh"]) {
      const local = await cutOff.send({ op: "run", name, calls: THRESHOLD, outcome: "fail" });
      expect(local.state).toBe("opened");
      log(name, "tripped during the cut:", await replicas([cutOff], name));
    }
    proxy.restore();
    await eventOf(cutOff, "storage_recovered");
    await sleep(200);
    log("after the recovery: held", await admin.hget(fleet.key("held"), "st"), await replicas([cutOff, other], "held"));
    log("after the recovery: fresh", await admin.hget(fleet.key("fresh"), "st"), await replicas([cutOff], "fresh"));

    const seen = async (w: Worker, name: string): Promise<unknown> => (await w.send({ op: "state", name })).state;
    expect({
      redisHeld: await admin.hget(fleet.key("held"), "st"),
      cutOffHeld: await seen(cutOff, "held"),
      otherHeld: (await waitStates([other], "held", "opened", 2000))[0],
      redisFresh: await admin.hget(fleet.key("fresh"), "st"),
      cutOffFresh: await seen(cutOff, "fresh"),
      otherRegistersFresh: await seen(other, "fresh"),
    }).toEqual({
      redisHeld: "opened",
      cutOffHeld: "opened",
      otherHeld: "opened",
      redisFresh: "opened",
      cutOffFresh: "opened",
      otherRegistersFresh: "opened",
    });
  });
});
