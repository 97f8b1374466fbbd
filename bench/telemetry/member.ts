/**
 * A process of the telemetry section's fleet (`bench/telemetry/index.ts`): one RedisStorage and
 * factory on the deployment it is given (a URL, or an ioredis `Cluster` passed as `client`), with
 * its own circuits. A "traffic" process calls its circuits at a steady total rate from the moment
 * it is ready until it exits (round-robin, every circuit in turn; `failing` of them, spread evenly,
 * fail every call and never open); an "idle-watch" process (rate 0) holds its circuits and makes no call.
 *
 * Protocol (lines): it prints `READY <json>` once registered, then answers each `sample` line read
 * on stdin with `SAMPLE <json>` (its counters so far: `MemberSample`), and on `exit` stops
 * calling, closes its factory and ends by itself. It exits at once if stdin closes.
 * @module
 */
import { PerformanceObserver } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Cluster } from "ioredis";
import { loadPurgatory } from "../purgatory.js";
import type { Target } from "../fleet/deployment.js";

/** The JSON argument of the script. */
export interface MemberConfig {
  readonly role: "traffic" | "idle-watch";
  readonly target: Target;
  readonly prefix: string;
  /** The storage's `processName`: how its reports name it. */
  readonly processName: string;
  readonly circuits: number;
  /** Calls per second, all circuits together (0: no call). */
  readonly rate: number;
  /** How many of its circuits fail every call. */
  readonly failing: number;
}

/** A member's counters since it started: the parent subtracts two samples. */
export interface MemberSample {
  /** `performance.timeOrigin + performance.now()`, ms. */
  readonly at: number;
  /** `process.cpuUsage()`, user + system, µs. */
  readonly cpuUs: number;
  /** Main-thread gc pauses, ms. */
  readonly gcMs: number;
  readonly calls: number;
  readonly failures: number;
  /** Calls that ended otherwise than as intended (a rejection, a success of a failing circuit). */
  readonly unexpected: number;
  /** `storage.stats().trafficReports`. */
  readonly reports: number;
  /** `storage.stats().scriptsRun`. */
  readonly scripts: number;
  /** `storage.trafficWatched`. */
  readonly watched: boolean;
  /** `storage_unavailable` / `storage_error` events so far. */
  readonly storageProblems: number;
  readonly firstProblem: string | null;
}

/** What a member reports once registered. */
export interface MemberReady {
  readonly pid: number;
  readonly circuits: number;
  readonly subscriptions: number;
}

/** Between two rounds of calls (ms): a round makes the calls due since the start. */
const TICK_MS = 10;
/** Circuits registered at once. */
const CHUNK = 500;
/** A threshold no failing circuit reaches: it fails every call and stays closed. */
const NEVER = 1_000_000_000;

const config = JSON.parse(process.argv[2] ?? "{}") as MemberConfig;
const purgatory = await loadPurgatory();
const { target } = config;
let cluster: Cluster | undefined;
const where =
  target.kind === "standalone"
    ? { url: target.url }
    : { client: (cluster = new Cluster([...target.nodes], { redisOptions: { commandTimeout: 1000 } })) };
const storage = new purgatory.RedisStorage({ ...where, prefix: config.prefix, processName: config.processName });
const factory = new purgatory.AsyncCircuitBreakerFactory({ storage, defaultThreshold: NEVER, defaultTtl: 3600 });
let storageProblems = 0;
let firstProblem: string | null = null;
factory.addListener((_name, eventType, event) => {
  if (eventType !== "storage_unavailable" && eventType !== "storage_error") return;
  storageProblems += 1;
  firstProblem ??= `${eventType}: ${event.error instanceof Error ? event.error.message : String(event.error)}`;
});
await factory.initialize();

const names = Array.from({ length: config.circuits }, (_, i) => `${config.processName}-${i}`);
const breakers: Awaited<ReturnType<typeof factory.getBreaker>>[] = [];
for (let i = 0; i < names.length; i += CHUNK) {
  breakers.push(...(await Promise.all(names.slice(i, i + CHUNK).map((name) => factory.getBreaker(name)))));
}

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ["gc"] });

let calls = 0;
let failures = 0;
let unexpected = 0;
const succeed = async (): Promise<number> => 42;
const fail = async (): Promise<never> => {
  throw new Error("down");
};
const failed = (): void => {
  failures += 1;
};
const wrong = (): void => {
  unexpected += 1;
};

/** Which circuits fail: `failing` of them, spread evenly over the round-robin. */
const fails = new Array<boolean>(breakers.length).fill(false);
for (let k = 0; k < Math.min(config.failing, breakers.length); k++)
  fails[Math.floor((k * breakers.length) / config.failing)] = true;

/** Round-robin over the circuits: the next one to call. */
let next = 0;
const startedAt = performance.now();
let made = 0;
const timer =
  config.rate > 0
    ? setInterval(() => {
        const due = Math.floor(((performance.now() - startedAt) / 1000) * config.rate);
        for (; made < due; made++) {
          const i = next;
          next = next + 1 === breakers.length ? 0 : next + 1;
          const breaker = breakers[i] as (typeof breakers)[number];
          calls += 1;
          if (fails[i] === true) breaker.run(fail).then(wrong, failed);
          else breaker.run(succeed).then(undefined, wrong);
        }
      }, TICK_MS)
    : undefined;

const sample = (): MemberSample => {
  const cpu = process.cpuUsage();
  const stats = storage.stats();
  return {
    at: performance.timeOrigin + performance.now(),
    cpuUs: cpu.user + cpu.system,
    gcMs,
    calls,
    failures,
    unexpected,
    reports: stats.trafficReports,
    scripts: stats.scriptsRun,
    watched: storage.trafficWatched,
    storageProblems,
    firstProblem,
  };
};

const lines = createInterface({ input: process.stdin });
const orphaned = (): never => process.exit(2);
lines.on("close", orphaned);
lines.on("line", (line) => {
  const word = line.trim();
  if (word === "sample") process.stdout.write(`SAMPLE ${JSON.stringify(sample())}\n`);
  if (word === "exit") {
    clearInterval(timer);
    lines.off("close", orphaned);
    lines.close();
    process.stdin.destroy();
    void factory.close().then(() => cluster?.quit().catch(() => cluster?.disconnect()));
  }
});
const ready: MemberReady = {
  pid: process.pid,
  circuits: storage.stats().circuits,
  subscriptions: storage.subscriptions,
};
process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
