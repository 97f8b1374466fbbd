/**
 * The Redis section of `npm run bench`: Redis commands per guarded call (INFO commandstats),
 * success-path throughput with RedisStorage vs InMemoryStorage, and how fast a trip made in one
 * process reaches another (p50 / p99 over many trips).
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { AsyncCircuitBreakerFactory, InMemoryStorage, RedisStorage } from "../../src/index.js";
import { percentile, type Report, type Section } from "../report.js";
import { startBenchRedis } from "./server.js";

export interface RedisBenchResult {
  readonly dedicatedServer: boolean;
  readonly success: CommandCounts;
  readonly failure: CommandCounts;
  readonly successNsRedis: number;
  readonly successNsMemory: number;
  readonly throughputRatio: number;
  readonly propagationP50Ms: number;
  readonly propagationP99Ms: number;
  readonly trips: number;
}

/**
 * Commands run by scripts are counted by Redis too; round trips are the commands a client sent.
 * Every `redis.call` of src/storage/redis/scripts/*.lua: a script publishes with SPUBLISH on Redis 7+
 * (PUBLISH before), and DEL clears a key before a new incarnation is written.
 */
const INSIDE_SCRIPTS = new Set(["time", "type", "hmget", "hset", "del", "publish", "spublish", "pexpire", "info"]);

interface CommandCounts {
  readonly roundTrips: number;
  readonly commands: number;
}

async function commandCounts(admin: Redis): Promise<CommandCounts> {
  const info = await admin.info("commandstats");
  let roundTrips = 0;
  let commands = 0;
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const [, name = "", calls = "0"] = match;
    if (name === "info") continue;
    commands += Number(calls);
    if (!INSIDE_SCRIPTS.has(name)) roundTrips += Number(calls);
  }
  return { roundTrips, commands };
}

async function countsPerCall(admin: Redis, calls: number, call: () => Promise<unknown>): Promise<CommandCounts> {
  const before = await commandCounts(admin);
  for (let i = 0; i < calls; i++) await call().catch(() => undefined);
  await new Promise((r) => setTimeout(r, 20));
  const after = await commandCounts(admin);
  return {
    roundTrips: (after.roundTrips - before.roundTrips) / calls,
    commands: (after.commands - before.commands) / calls,
  };
}

async function nsPerCall(run: () => Promise<unknown>, calls: number): Promise<number> {
  for (let i = 0; i < calls / 10; i++) await run();
  const samples: number[] = [];
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await run();
    samples.push(Number(process.hrtime.bigint() - start) / calls);
  }
  return samples.sort((a, b) => a - b)[3] as number;
}

async function propagation(url: string, prefix: string, trips: number): Promise<number[]> {
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./listener.ts", import.meta.url).pathname, url, prefix, String(trips)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const received = new Map<string, number>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  lines.on("line", (line) => {
    if (line === "ready") return ready();
    const [name, at] = line.split(" ");
    if (name !== undefined && at !== undefined) received.set(name, Number(at));
  });
  await isReady;
  const factory = new AsyncCircuitBreakerFactory({
    defaultThreshold: 1,
    defaultTtl: 600,
    storage: new RedisStorage({ url, prefix }),
  });
  await factory.initialize();
  const sentAt = new Map<string, number>();
  for (let i = 0; i < trips; i++) {
    const name = `trip-${i}`;
    await factory.getBreaker(name);
    sentAt.set(name, performance.timeOrigin + performance.now());
    await factory.run(name, () => Promise.reject(new Error("trip"))).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 200));
  child.stdin.end();
  await new Promise((r) => child.once("exit", r));
  await factory.close();
  const latencies = [...sentAt].flatMap(([name, at]) => {
    const got = received.get(name);
    return got === undefined ? [] : [got - at];
  });
  if (latencies.length < trips) console.log(`  warning: ${trips - latencies.length} trips were not seen by the other process`);
  return latencies.sort((a, b) => a - b);
}

/** Measures the Redis storage. */
export async function runRedisBench(): Promise<RedisBenchResult> {
  const server = await startBenchRedis();
  const admin = new Redis(server.url);
  const prefix = `bench-${process.pid}`;
  try {
    const redisFactory = new AsyncCircuitBreakerFactory({
      defaultThreshold: 1e9,
      storage: new RedisStorage({ url: server.url, prefix, resyncInterval: 3600 }),
    });
    await redisFactory.initialize();
    const memoryFactory = new AsyncCircuitBreakerFactory({ defaultThreshold: 1e9, storage: new InMemoryStorage() });
    const redisBreaker = await redisFactory.getBreaker("success");
    const failing = await redisFactory.getBreaker("failure");
    const memoryBreaker = await memoryFactory.getBreaker("success");
    const value = async () => 1;
    const fail = () => Promise.reject(new Error("failure"));

    const calls = 10_000;
    const success = await countsPerCall(admin, calls, () => redisBreaker.run(value));
    const failure = await countsPerCall(admin, 1_000, () => failing.run(fail));
    const successNsRedis = await nsPerCall(() => redisBreaker.run(value), 50_000);
    const successNsMemory = await nsPerCall(() => memoryBreaker.run(value), 50_000);
    await redisFactory.close();

    const trips = 150;
    const latencies = await propagation(server.url, `${prefix}-trips`, trips);
    const result: RedisBenchResult = {
      dedicatedServer: server.dedicated,
      success,
      failure,
      successNsRedis,
      successNsMemory,
      throughputRatio: successNsMemory / successNsRedis,
      propagationP50Ms: percentile(latencies, 50),
      propagationP99Ms: percentile(latencies, 99),
      trips: latencies.length,
    };
    return result;
  } finally {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
    await server.stop();
  }
}

function report(r: RedisBenchResult, out: Report): void {
  out.print(`Redis storage (${r.dedicatedServer ? "a dedicated redis-server on loopback" : "the REDIS_URL server"}), purgatory from src/`);
  out.print();
  out.print(`| measure | value |`);
  out.print(`|:--|--:|`);
  out.print(`| closed success: round trips per call (commands) | ${r.success.roundTrips.toFixed(4)} (${r.success.commands.toFixed(4)}) |`);
  out.print(`| failure: round trips per call (commands incl. inside the script) | ${r.failure.roundTrips.toFixed(4)} (${r.failure.commands.toFixed(2)}) |`);
  out.print(`| success path ns/call: RedisStorage / InMemoryStorage | ${r.successNsRedis.toFixed(0)} / ${r.successNsMemory.toFixed(0)} |`);
  out.print(`| trip propagation to another process, ${r.trips} trips: p50 / p99 | ${r.propagationP50Ms.toFixed(2)} ms / ${r.propagationP99Ms.toFixed(2)} ms |`);
  out.target({
    id: "redis.success-commands",
    label: "Redis commands per closed success call",
    goal: "0",
    measured: r.success.commands.toFixed(4),
    pass: r.success.commands < 0.001,
  });
  out.target({
    id: "redis.failure-round-trips",
    label: "Redis round trips per failure",
    goal: "1",
    measured: r.failure.roundTrips.toFixed(4),
    pass: r.failure.roundTrips <= 1.001,
  });
  out.target({
    id: "redis.throughput",
    label: "success throughput, RedisStorage vs InMemoryStorage",
    goal: ">= 0.80x",
    measured: `${r.throughputRatio.toFixed(2)}x`,
    pass: r.throughputRatio >= 0.8,
  });
  out.target({
    id: "redis.propagation-p99",
    label: "trip propagation between processes, p99",
    goal: "< 20 ms",
    measured: `${r.propagationP99Ms.toFixed(2)} ms (p50 ${r.propagationP50Ms.toFixed(2)} ms)`,
    pass: r.propagationP99Ms < 20,
  });
  out.sections.redis = r;
}

/** The Redis section of `npm run bench`. */
export const redisSection: Section = {
  name: "redis",
  run: async (out) => report(await runRedisBench(), out),
};
