/**
 * A watcher of the telemetry section (`bench/telemetry/index.ts`): a `TrafficWatch` with its
 * defaults, what `purgatory top` runs through `Fleet.watchTraffic()` (and the dashboard's stand-in,
 * as long as the dashboard does not start one). Made directly on a client of its own (an ioredis
 * `Cluster` for a Cluster), not through `Fleet.watchTraffic()`: on a standalone server that one
 * fails unless a circuit feed (`Fleet.watch`) connected the client it shares first, and a feed
 * would add its own commands to the windows measured.
 *
 * Protocol (lines): `READY <json>` once the watch started (subscribed, announced), then `SAMPLE
 * <json>` for each `sample` line on stdin (`WatcherSample`); on `exit` it closes the watch (it
 * leaves the watchers' set, saying so) and the fleet, and ends by itself. It exits at once if
 * stdin closes.
 * @module
 */
import { PerformanceObserver } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Cluster, Redis } from "ioredis";
import { redisKeys } from "../../src/storage/redis/keys.js";
import { toRedisSettings, type RedisClient } from "../../src/storage/redis/options.js";
import { TrafficWatch } from "../../src/storage/redis/traffic-watch.js";
import type { Target } from "../fleet/deployment.js";

/** The JSON argument of the script. */
export interface WatcherConfig {
  readonly target: Target;
  readonly prefix: string;
}

/** A watcher's counters since it started. */
export interface WatcherSample {
  readonly at: number;
  readonly cpuUs: number;
  readonly gcMs: number;
  /** `TrafficWatch.stats()`. */
  readonly reports: number;
  readonly announcements: number;
  readonly late: number;
  /** Its latest snapshot: the processes that reported in it, and the fleet's calls per second. */
  readonly processes: number;
  readonly callsPerSecond: number;
  readonly circuits: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as WatcherConfig;
const { target, prefix } = config;
// As the CLI makes them (src/cli/connection.ts): a Cluster seeded with one node, auto-pipelining.
const client: Redis | Cluster =
  target.kind === "standalone"
    ? new Redis(target.url, { maxRetriesPerRequest: 1 })
    : new Cluster([target.nodes[0] as { host: string; port: number }], { enableAutoPipelining: true });
const settings = toRedisSettings(
  target.kind === "standalone" ? { url: target.url, prefix } : { client: client as unknown as RedisClient, prefix },
);
const watch = new TrafficWatch(client, settings, redisKeys(prefix));
await watch.start();

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ["gc"] });

const sample = (): WatcherSample => {
  const cpu = process.cpuUsage();
  const stats = watch.stats();
  const snapshot = watch.snapshot();
  return {
    at: performance.timeOrigin + performance.now(),
    cpuUs: cpu.user + cpu.system,
    gcMs,
    reports: stats.reports,
    announcements: stats.announcements,
    late: stats.late,
    processes: snapshot.processes,
    callsPerSecond: snapshot.totals.calls,
    circuits: snapshot.circuits.length,
  };
};

const lines = createInterface({ input: process.stdin });
const orphaned = (): never => process.exit(2);
lines.on("close", orphaned);
lines.on("line", (line) => {
  const word = line.trim();
  if (word === "sample") process.stdout.write(`SAMPLE ${JSON.stringify(sample())}\n`);
  if (word === "exit") {
    lines.off("close", orphaned);
    lines.close();
    process.stdin.destroy();
    void watch.close().then(() => client.quit());
  }
});
process.stdout.write(`READY ${JSON.stringify({ pid: process.pid, id: watch.id })}\n`);
