/**
 * The fleet's telemetry (docs/telemetry.md) with real OS processes (test/support/telemetry-worker.ts),
 * each with its RedisStorage named `web-<n>`, calling known circuits at known rates, and a
 * `TrafficWatch` in the test process: on a throw-away redis-server (whose `INFO commandstats`
 * counts nothing but this test's commands) and on the run's 3-master Cluster (shared with other
 * test files: there, the processes' own count of their reports says whether they reported).
 *
 * - Nobody watching: the processes call, and not one telemetry command reaches Redis.
 * - A watcher: each process reports what it did, per circuit, second by second (totals exactly,
 *   each second within a boundary's slack), its failures and rejections, its latency, and whether
 *   it is open for itself on a circuit (a quorum not met fleet-wide); one report a second.
 * - The watcher leaves: the processes stop reporting, and send nothing again.
 */
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { redisKeys } from "../../../src/storage/redis/keys.js";
import { toRedisSettings, type RedisClient } from "../../../src/storage/redis/options.js";
import { TrafficWatch } from "../../../src/storage/redis/traffic-watch.js";
import { commandCalls, commandDelta, deleteKeys, sleep, uniquePrefix, waitFor } from "../../support/redis-helpers.js";
import {
  compareSeconds,
  callsOn,
  ReportLog,
  startTelemetryWorker,
  type TelemetryWorker,
} from "../../support/telemetry-fleet.js";
import type { CallRecord, Lane, WorkerStats } from "../../support/telemetry-worker.js";
import { useThrowawayRedis } from "../../support/throwaway-redis.js";

/** The commands of the telemetry: a report or an announcement (EVAL), the watchers' set read, the publications. */
const TELEMETRY_COMMANDS = ["eval", "zrangebyscore", "spublish", "publish"] as const;
/** A circuit that three failures open for the process alone, unless a second process fails too. */
const QUORUM = { threshold: 3, ttl: 30, quorum: 2 } as const;
/** How long each call of the slow circuit runs (ms). */
const SLOW_MS = 30;
/** Seconds of the watched traffic. */
const WATCHED_SECONDS = 3;

/** Each process's lanes while watched: shared and own circuits, failing, slow, and a quorum case. */
const WATCHED_LANES: readonly (readonly Lane[])[] = [
  [
    { name: "orders", perSecond: 20, outcome: "succeed" },
    { name: "own-0", perSecond: 5, outcome: "fail" },
    { name: "slow", perSecond: 4, outcome: "slow", ms: SLOW_MS },
    { name: "quorum-api", perSecond: 10, outcome: "fail", options: QUORUM },
  ],
  [
    { name: "orders", perSecond: 10, outcome: "succeed" },
    { name: "own-1", perSecond: 5, outcome: "fail" },
    { name: "quorum-api", perSecond: 10, outcome: "succeed", options: QUORUM },
  ],
  [
    { name: "orders", perSecond: 5, outcome: "succeed" },
    { name: "own-2", perSecond: 5, outcome: "fail" },
  ],
];

/** The same circuits unwatched, every one succeeding but the failing `own-<n>` (so nobody opens for itself yet). */
const unwatchedLanes = (n: number): Lane[] =>
  (WATCHED_LANES[n] ?? []).map((lane) => (lane.name === "quorum-api" ? { ...lane, outcome: "succeed" } : lane));

/** Where the processes run, and how the test counts the telemetry's commands there (if it can). */
interface Deployment {
  readonly where: { readonly url: string } | { readonly cluster: readonly { host: string; port: number }[] };
  /** A command client for the watcher, and the settings of its subscriber connections. */
  watcherClient(prefix: string): { client: RedisClient; settings: ReturnType<typeof toRedisSettings>; close(): void };
  /** Calls by command since the server started, when the server serves nobody else (`undefined` otherwise). */
  commands?(): Promise<Record<string, number>>;
  /** Deletes the keys of `prefix` where they outlive the describe. */
  cleanup?(prefix: string): Promise<void>;
}

interface Fleet {
  readonly prefix: string;
  readonly workers: readonly TelemetryWorker[];
  readonly deployment: Deployment;
}

/** Starts 3 worker processes on `deployment()` before the describe's tests; kills them after. */
function useTelemetryFleet(deployment: () => Deployment): () => Fleet {
  let fleet: Fleet | undefined;
  const prefix = uniquePrefix("test-telemetry-processes");
  beforeAll(async () => {
    const d = deployment();
    // Spawned together: each takes a second or more of CPU to start.
    const workers = await Promise.all(
      WATCHED_LANES.map((_, n) =>
        startTelemetryWorker({ ...d.where, prefix, processName: `web-${n}`, flushInterval: 0.05 }),
      ),
    );
    fleet = { prefix, workers, deployment: d };
  }, 60_000);
  afterAll(async () => {
    await Promise.all(
      (fleet?.workers ?? []).map(async (w) => {
        await w.send({ op: "exit" }).catch(() => undefined);
        const ended = await Promise.race([w.process.exited.then(() => true), sleep(5000).then(() => false)]);
        if (!ended) w.kill();
      }),
    );
    await fleet?.deployment.cleanup?.(prefix);
  }, 30_000);
  return () => {
    if (fleet === undefined) throw new Error("the fleet starts in beforeAll");
    return fleet;
  };
}

const stats = (workers: readonly TelemetryWorker[]): Promise<WorkerStats[]> =>
  Promise.all(workers.map((w) => w.send<WorkerStats>({ op: "stats" })));

/** Every worker runs its lanes for `seconds`; resolves with each one's calls. */
const steady = (
  workers: readonly TelemetryWorker[],
  lanes: (n: number) => readonly Lane[],
  seconds: number,
): Promise<CallRecord[][]> =>
  Promise.all(
    workers.map(
      async (w, n) => (await w.send<{ calls: CallRecord[] }>({ op: "steady", lanes: lanes(n), seconds })).calls,
    ),
  );

/** The telemetry's commands among `delta` (INFO commandstats, after minus before). */
const telemetryOf = (delta: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(delta).filter(([c]) => (TELEMETRY_COMMANDS as readonly string[]).includes(c)));

/**
 * The processes call for `seconds` with nobody watching: no report, no telemetry command (where
 * the test can count commands), while the failures did reach Redis (EVALSHA: the count works).
 */
async function callUnwatched(fleet: Fleet, seconds: number): Promise<void> {
  const { workers, deployment } = fleet;
  const before = await deployment.commands?.();
  const reportsBefore = (await stats(workers)).map((s) => s.stats.trafficReports);
  const did = await steady(workers, unwatchedLanes, seconds);
  expect(did.map((calls) => calls.length)).toEqual(
    WATCHED_LANES.map((lanes) => lanes.reduce((sum, l) => sum + l.perSecond * seconds, 0)),
  );
  // A last report would go out just after the second: wait for it, were there one.
  await sleep(1100 - (Date.now() % 1000));
  const after = await stats(workers);
  expect(after.map((s) => s.watched)).toEqual(workers.map(() => false));
  expect(after.map((s) => s.stats.trafficReports)).toEqual(reportsBefore);
  if (before !== undefined && deployment.commands !== undefined) {
    const delta = commandDelta(before, await deployment.commands());
    expect(telemetryOf(delta)).toEqual({});
    expect(delta.evalsha ?? 0).toBeGreaterThanOrEqual(WATCHED_LANES.length * 5 * seconds);
  }
}

function telemetryTests(fleet: () => Fleet): void {
  let watch: TrafficWatch | undefined;
  let closeClient: (() => void) | undefined;
  afterAll(async () => {
    await watch?.close();
    closeClient?.();
  });

  it("sends no telemetry command while nobody watches, whatever the processes call", async () => {
    const { workers } = fleet();
    // Each circuit called once first: a circuit's first failure publishes its failure count (not telemetry).
    await steady(workers, unwatchedLanes, 0.2);
    // The quorum circuit counts both of its callers before anybody fails on it.
    await waitFor(
      "web-0 and web-1 as active callers of quorum-api",
      async () => {
        const { activeCallers } = await (workers[0] as TelemetryWorker).send<{ activeCallers: string[] }>({
          op: "callers",
          name: "quorum-api",
        });
        return activeCallers.length === 2;
      },
      5000,
      50,
    );
    await callUnwatched(fleet(), 2);
  });

  it("while a TrafficWatch watches, each process reports what it did on each circuit, second by second", async () => {
    const { workers, prefix } = fleet();
    const made = fleet().deployment.watcherClient(prefix);
    closeClient = () => made.close();
    watch = new TrafficWatch(made.client, made.settings, redisKeys(prefix));
    const log = new ReportLog();
    watch.onUpdate(log.listener);
    await watch.start();
    await waitFor(
      "every process to hear the watcher",
      async () => (await stats(workers)).every((s) => s.watched),
      3000,
      20,
    );
    const reportsBefore = (await stats(workers)).map((s) => s.stats.trafficReports);
    // The first report of a process covers from when it heard the watcher to the next second: the
    // calls start after it, so that every second they fall in is a whole one.
    await sleep(1000 - (Date.now() % 1000) + 250);
    const startedAt = Date.now();
    const did = await steady(workers, (n) => WATCHED_LANES[n] ?? [], WATCHED_SECONDS);
    const lastCall = Math.max(...did.flat().map(([, , at]) => at));
    // The second of the last call, folded (1.5 s of grace after its end).
    const lastSecond = Math.ceil(lastCall / 1000) * 1000;
    await waitFor("the last second folded", () => (watch?.snapshot().t ?? 0) >= lastSecond, 5000, 20);
    const elapsed = (Date.now() - startedAt) / 1000;

    expect(watch.stats().late).toBe(0);
    expect(log.missed()).toEqual([]);
    for (const [n, worker] of workers.entries()) {
      const calls = did[n] ?? [];
      for (const lane of WATCHED_LANES[n] ?? []) {
        const mine = callsOn(calls, lane.name);
        expect(mine.length, `${worker.name} ${lane.name}`).toBe(lane.perSecond * WATCHED_SECONDS);
        expect(compareSeconds(mine, log.of(worker.name, lane.name)), `${worker.name} ${lane.name}`).toEqual([]);
      }
    }
    // Nobody reports a circuit it did not call.
    expect(log.of("web-2", "quorum-api")).toEqual([]);
    expect(log.of("web-1", "own-0")).toEqual([]);
    expect([...log.seconds.keys()].sort()).toEqual(["web-0", "web-1", "web-2"]);

    // Failures: every call of own-<n> failed, and was reported so.
    for (const [n, worker] of workers.entries()) {
      const own = log.of(worker.name, `own-${n}`);
      expect(own.length).toBeGreaterThanOrEqual(WATCHED_SECONDS);
      for (const second of own) expect(second.errors).toBe(second.calls);
    }
    // The quorum case: web-0 failed 3 times, then rejected on its own (open for itself); web-1,
    // calling the same circuit, was never rejected, never open for itself.
    const web0 = callsOn(did[0] ?? [], "quorum-api");
    expect(web0.filter(([, r]) => r === "failure")).toHaveLength(QUORUM.threshold);
    expect(web0.filter(([, r]) => r === "rejected")).toHaveLength(web0.length - QUORUM.threshold);
    const web0Seconds = log.of("web-0", "quorum-api");
    expect(web0Seconds.at(-1)?.openForItself).toBe(true);
    expect(web0Seconds.filter((s) => s.openForItself).length).toBeGreaterThanOrEqual(WATCHED_SECONDS - 1);
    const web1Seconds = log.of("web-1", "quorum-api");
    expect(web1Seconds.every((s) => !s.openForItself && s.errors === 0 && s.rejected === 0)).toBe(true);
    // Latency: the slow calls ran SLOW_MS and more; their p50 is the upper bound of their bucket.
    for (const second of log.of("web-0", "slow")) {
      expect(second.p50).toBeGreaterThanOrEqual(SLOW_MS);
      expect(second.p50).toBeLessThan(SLOW_MS * 4);
    }
    // The fleet's figure of a circuit is the sum of its processes', every second.
    for (const snapshot of log.snapshots) {
      const orders = snapshot.circuits.find((c) => c.name === "orders");
      if (orders === undefined || orders.t !== snapshot.t) continue;
      expect(orders.calls).toBeCloseTo(
        orders.processes.reduce((sum, p) => sum + p.calls, 0),
        6,
      );
    }
    // One report a second per process, at most.
    const reports = (await stats(workers)).map((s, n) => s.stats.trafficReports - (reportsBefore[n] ?? 0));
    for (const r of reports) {
      expect(r).toBeGreaterThanOrEqual(WATCHED_SECONDS);
      expect(r).toBeLessThanOrEqual(Math.ceil(elapsed) + 1);
    }
  });

  it("when the watcher leaves, the processes stop reporting, and call on without a telemetry command", async () => {
    const { workers } = fleet();
    if (watch === undefined) throw new Error("the previous test starts the watcher");
    await watch.close();
    // It says it leaves: the processes stop at their next second, not when its announcement runs out.
    await waitFor(
      "every process to stop reporting",
      async () => (await stats(workers)).every((s) => !s.watched),
      2500,
      20,
    );
    await callUnwatched(fleet(), 2);
  });
}

describe("telemetry of worker processes, on a throw-away redis-server", () => {
  const redis = useThrowawayRedis();
  const fleet = useTelemetryFleet(() => ({
    where: { url: redis.server.url },
    watcherClient(prefix) {
      const client = new Redis(redis.server.url, { lazyConnect: true });
      return {
        client,
        settings: toRedisSettings({ url: redis.server.url, prefix }),
        close: () => client.disconnect(),
      };
    },
    commands: () => commandCalls(redis.admin),
  }));
  telemetryTests(fleet);
});

describe("telemetry of worker processes, on the run's 3-master Redis Cluster", () => {
  const fleet = useTelemetryFleet(() => {
    const nodes = inject("redisClusterNodes");
    return {
      where: { cluster: nodes },
      watcherClient(prefix) {
        const client = new Cluster(nodes, { redisOptions: { commandTimeout: 2000 } });
        return {
          client,
          settings: toRedisSettings({ client, prefix }),
          close: () => client.disconnect(),
        };
      },
      async cleanup(prefix) {
        const client = new Cluster(nodes);
        await deleteKeys(client, prefix);
        await client.quit();
      },
    };
  });
  telemetryTests(fleet);
});
