/**
 * The Redis section of `npm run bench`: Redis commands per guarded call (INFO commandstats), also
 * on a circuit with a `failureRate` window (successes counted locally, flushed by a timer; a failure
 * one round trip carrying the unflushed counts), success-path throughput with RedisStorage vs
 * InMemoryStorage, and how fast a trip made in one process reaches another (p50 / p99 over many
 * trips).
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
  readonly window: WindowCounts;
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

/** A circuit with a `failureRate` window over Redis. */
interface WindowCounts {
  /** Per success, over `successCalls` successes in a loop shorter than one flush interval. */
  readonly success: CommandCounts;
  readonly successCalls: number;
  /** How long that loop took, ms (less than `flushIntervalMs`, or the flush may be in it). */
  readonly successLoopMs: number;
  /** What the flush timer sent after that loop: one flush of one dirty circuit. */
  readonly flush: CommandCounts;
  /** Successes without pause (batches, yielding to timers) for `steadyMs`: per flush interval. */
  readonly steady: CommandCounts & { readonly calls: number; readonly steadyMs: number };
  /** Per failure, after `WINDOW_FILL` successes counted locally (the first failure hands them over). */
  readonly failure: CommandCounts;
  readonly flushIntervalMs: number;
}

/** The rate window of the window rows; these calls never trip it. */
const FAILURE_RATE = { rate: 0.5, minimumCalls: 20, window: 60 } as const;
/** RedisStorage's default `flushInterval`, 0.25 s, passed explicitly. */
const FLUSH_INTERVAL_MS = 250;
/** Successes on the window circuit before its failures are counted. */
const WINDOW_FILL = 10_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

/** Commands per call of `calls` calls in a row, read at once after the loop; and the loop's time. */
async function countsInLoop(
  admin: Redis,
  calls: number,
  call: () => Promise<unknown>,
): Promise<CommandCounts & { ms: number }> {
  const before = await commandCounts(admin);
  const start = performance.now();
  for (let i = 0; i < calls; i++) await call();
  const ms = performance.now() - start;
  const after = await commandCounts(admin);
  return {
    roundTrips: (after.roundTrips - before.roundTrips) / calls,
    commands: (after.commands - before.commands) / calls,
    ms,
  };
}

/** Commands sent while nothing is called for `ms` (what timers send). */
async function countsWhileIdle(admin: Redis, ms: number): Promise<CommandCounts> {
  const before = await commandCounts(admin);
  await sleep(ms);
  const after = await commandCounts(admin);
  return { roundTrips: after.roundTrips - before.roundTrips, commands: after.commands - before.commands };
}

/**
 * Successes without pause for `ms`, in batches of 100 that yield to timers in between (a busy
 * process): commands per flush interval, and how many calls were made.
 */
async function countsUnderTraffic(
  admin: Redis,
  ms: number,
  call: () => Promise<unknown>,
): Promise<WindowCounts["steady"]> {
  const before = await commandCounts(admin);
  const start = performance.now();
  let calls = 0;
  while (performance.now() - start < ms) {
    for (let i = 0; i < 100; i++) await call();
    calls += 100;
    await new Promise((r) => setImmediate(r));
  }
  const steadyMs = performance.now() - start;
  const after = await commandCounts(admin);
  const intervals = steadyMs / FLUSH_INTERVAL_MS;
  return {
    roundTrips: (after.roundTrips - before.roundTrips) / intervals,
    commands: (after.commands - before.commands) / intervals,
    calls,
    steadyMs,
  };
}

/** The rows of a circuit with a `failureRate` window; `factory` has no other window circuit. */
async function windowCounts(admin: Redis, factory: AsyncCircuitBreakerFactory): Promise<WindowCounts> {
  const value = async () => 1;
  const fail = () => Promise.reject(new Error("failure"));
  const successes = await factory.getBreaker("window-success", { failureRate: FAILURE_RATE });
  await sleep(2 * FLUSH_INTERVAL_MS); // nothing pending from the registration
  const successCalls = 10_000;
  const { ms: successLoopMs, ...success } = await countsInLoop(admin, successCalls, () => successes.run(value));
  const flush = await countsWhileIdle(admin, 2 * FLUSH_INTERVAL_MS);
  const steady = await countsUnderTraffic(admin, 2_500, () => successes.run(value));
  await sleep(2 * FLUSH_INTERVAL_MS); // the last flush, before the failures are counted

  const failures = await factory.getBreaker("window-failure", { failureRate: FAILURE_RATE });
  for (let i = 0; i < WINDOW_FILL; i++) await failures.run(value);
  const failure = await countsPerCall(admin, 1_000, () => failures.run(fail));
  if (successes.state !== "closed" || failures.state !== "closed") throw new Error("a window circuit opened");
  return { success, successCalls, successLoopMs, flush, steady, failure, flushIntervalMs: FLUSH_INTERVAL_MS };
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
  const child = spawn(
    process.execPath,
    ["--import", "tsx", new URL("./listener.ts", import.meta.url).pathname, url, prefix, String(trips)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
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
  if (latencies.length < trips)
    console.log(`  warning: ${trips - latencies.length} trips were not seen by the other process`);
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
      storage: new RedisStorage({
        url: server.url,
        prefix,
        resyncInterval: 3600,
        flushInterval: FLUSH_INTERVAL_MS / 1000,
      }),
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
    const window = await windowCounts(admin, redisFactory);
    const successNsRedis = await nsPerCall(() => redisBreaker.run(value), 50_000);
    const successNsMemory = await nsPerCall(() => memoryBreaker.run(value), 50_000);
    await redisFactory.close();

    const trips = 150;
    const latencies = await propagation(server.url, `${prefix}-trips`, trips);
    const result: RedisBenchResult = {
      dedicatedServer: server.dedicated,
      success,
      failure,
      window,
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
  out.print(
    `Redis storage (${r.dedicatedServer ? "a dedicated redis-server on loopback" : "the REDIS_URL server"}), purgatory from src/`,
  );
  out.print();
  out.print(`| measure | value |`);
  out.print(`|:--|--:|`);
  out.print(
    `| closed success: round trips per call (commands) | ${r.success.roundTrips.toFixed(4)} (${r.success.commands.toFixed(4)}) |`,
  );
  out.print(
    `| failure: round trips per call (commands incl. inside the script) | ${r.failure.roundTrips.toFixed(4)} (${r.failure.commands.toFixed(2)}) |`,
  );
  const w = r.window;
  out.print(
    `| failureRate window, closed success: round trips per call (commands), ${w.successCalls.toLocaleString("en-US")} calls in ${w.successLoopMs.toFixed(1)} ms | ` +
      `${w.success.roundTrips.toFixed(4)} (${w.success.commands.toFixed(4)}) |`,
  );
  out.print(
    `| failureRate window, the flush after them: round trips (commands incl. inside the script) | ${w.flush.roundTrips} (${w.flush.commands}) |`,
  );
  out.print(
    `| failureRate window, successes without pause for ${(w.steady.steadyMs / 1000).toFixed(1)} s (${w.steady.calls.toLocaleString("en-US")} calls): ` +
      `round trips (commands) per ${w.flushIntervalMs} ms flush interval | ${w.steady.roundTrips.toFixed(2)} (${w.steady.commands.toFixed(2)}) |`,
  );
  out.print(
    `| failureRate window, failure after ${WINDOW_FILL.toLocaleString("en-US")} unflushed successes: round trips per call (commands) | ` +
      `${w.failure.roundTrips.toFixed(4)} (${w.failure.commands.toFixed(2)}) |`,
  );
  out.print(
    `| success path ns/call: RedisStorage / InMemoryStorage | ${r.successNsRedis.toFixed(0)} / ${r.successNsMemory.toFixed(0)} |`,
  );
  out.print(
    `| trip propagation to another process, ${r.trips} trips: p50 / p99 | ${r.propagationP50Ms.toFixed(2)} ms / ${r.propagationP99Ms.toFixed(2)} ms |`,
  );
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
    id: "redis.window-success-commands",
    label: "Redis commands per closed success call, with a failureRate window",
    goal: "0",
    measured: `${w.success.commands.toFixed(4)} (loop of ${w.successLoopMs.toFixed(0)} ms < ${w.flushIntervalMs} ms flush interval)`,
    pass: w.success.commands < 0.001 && w.successLoopMs < w.flushIntervalMs,
  });
  out.target({
    id: "redis.window-flush-per-interval",
    label: "window flushes under traffic: round trips per flush interval, one circuit",
    goal: "<= 1",
    measured: `${w.steady.roundTrips.toFixed(2)} (${w.steady.commands.toFixed(2)} commands)`,
    pass: w.steady.roundTrips <= 1,
  });
  out.target({
    id: "redis.window-failure-round-trips",
    label: "Redis round trips per failure, with a failureRate window",
    goal: "1",
    measured: w.failure.roundTrips.toFixed(4),
    pass: w.failure.roundTrips <= 1.001,
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
