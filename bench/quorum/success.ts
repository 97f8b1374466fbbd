/**
 * The closed success path of a circuit with a `quorum`, side by side with the same circuit without
 * one and a bare `await fn()`: in memory (where a quorum is always met by the one process) and
 * over RedisStorage (where the process tells Redis it calls the circuit, per circuit and per time,
 * never per call). Timed by mitata in interleaved rounds as the latency section does (median over
 * rounds of mitata's p50); then the Redis commands of N closed successes counted twice, by the
 * storage (`stats().scriptsRun`) and by the server (`INFO commandstats`), and again over the
 * millions of calls of the timing runs.
 * @module
 */
import { bench, run } from "mitata";
import type { Redis } from "ioredis";
import type { PurgatoryModule } from "../purgatory.js";
import { median } from "../report.js";
import { countsSince, nextTurn, serverCounts, sleep, watchScripts, type ServerCounts } from "./commands.js";

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
/** A threshold no call of this file reaches. */
const NEVER = 1_000_000_000;
/** The quorum of the quorum rows. */
export const QUORUM = 2;
/** RedisStorage's default `flushInterval` (0.25 s), in ms: a presence report is at most this late. */
const FLUSH_INTERVAL_MS = 250;
/** RedisStorage's default `callerHorizon` (60 s), in ms: presence is renewed at most every quarter of it. */
export const DEFAULT_HORIZON_MS = 60_000;
/** Closed successes counted per circuit, in batches that yield to timers between them (a busy process). */
export const COUNTED_CALLS = 200_000;
const BATCH = 1_000;

const VALUE = 42;
const succeed = async (): Promise<number> => VALUE;

type Factory = InstanceType<PurgatoryModule["AsyncCircuitBreakerFactory"]>;
type Breaker = Awaited<ReturnType<Factory["getBreaker"]>>;
type Storage = InstanceType<PurgatoryModule["RedisStorage"]>;

export type StorageKind = "bare" | "memory" | "redis";

/** One row of the timing table. */
export interface SuccessFigure {
  /** `bare`, `memory`, `memory.quorum`, `redis`, `redis.quorum`. */
  readonly id: string;
  readonly storage: StorageKind;
  readonly quorum: boolean;
  /** What runs per iteration. */
  readonly call: string;
  /** Median over rounds of mitata's per-round p50, ns/op. */
  readonly medianNs: number;
  readonly roundsNs: readonly number[];
  /** (max - min) / median of `roundsNs`. */
  readonly spread: number;
  readonly vsBare: number | null;
  /** A quorum row over the same storage without a quorum: ns/op more, and the ratio. */
  readonly overPlainNs: number | null;
  readonly vsPlain: number | null;
}

/** The Redis traffic of `calls` closed successes in a row on one circuit. */
export interface CountedLoop {
  readonly calls: number;
  /** The loop's time, ms. */
  readonly loopMs: number;
  /** The loop plus two flush intervals after it (anything the loop queued is sent by then), ms. */
  readonly windowMs: number;
  /** `stats().scriptsRun` of the circuit's storage over the window. */
  readonly scripts: number;
  /** `INFO commandstats` over the window. */
  readonly server: ServerCounts;
  /**
   * Presence reports the window may hold: one per quarter of the caller horizon begun in it (a
   * circuit with a quorum), none without a quorum.
   */
  readonly allowedReports: number;
  readonly pass: boolean;
}

/** The Redis traffic over the whole timing run of the Redis rows. */
export interface TimedRunCount {
  /** Iterations mitata timed on the Redis circuit with a quorum (its warm-up calls left out). */
  readonly quorumCalls: number;
  /** Iterations mitata timed on the Redis circuit without a quorum. */
  readonly plainCalls: number;
  /** Scripts each storage sent over the run. */
  readonly quorumScripts: number;
  readonly plainScripts: number;
  /** `INFO commandstats` over the run (both storages). */
  readonly server: ServerCounts;
  /** What MONITOR saw the clients send over the run: scripts by name (`flush`: a presence report). */
  readonly sent: Readonly<Record<string, number>>;
  /** `storage_unavailable` events over the run (a reply held past `commandTimeout` by a busy event loop). */
  readonly outages: number;
  readonly ms: number;
  /** Presence reports in `ms`: one per quarter of the default horizon begun. */
  readonly allowedReports: number;
  /** At most one script per million calls: per time, not per call. */
  readonly pass: boolean;
}

export interface QuorumSuccessResult {
  readonly rounds: number;
  readonly figures: readonly SuccessFigure[];
  readonly counted: { readonly redis: CountedLoop; readonly redisQuorum: CountedLoop };
  readonly timed: TimedRunCount;
  /** `storage.inspect()` of the Redis circuit with a quorum after the run: Redis knows its caller. */
  readonly activeCallers: readonly string[];
}

/** Presence reports a circuit with a quorum may send in `ms`: one per quarter of the horizon begun. */
const reportsIn = (ms: number): number => Math.ceil(ms / (DEFAULT_HORIZON_MS / 4));

async function countedLoop(
  admin: Redis,
  storage: Storage,
  breaker: Breaker,
  allowedIn: (ms: number) => number,
): Promise<CountedLoop> {
  const scripts0 = storage.stats().scriptsRun;
  const server0 = await serverCounts(admin);
  const start = performance.now();
  for (let done = 0; done < COUNTED_CALLS; done += BATCH) {
    for (let i = 0; i < BATCH; i++) await breaker.run(succeed);
    await nextTurn();
  }
  const loopMs = performance.now() - start;
  await sleep(2 * FLUSH_INTERVAL_MS);
  const windowMs = performance.now() - start;
  const server = countsSince(server0, await serverCounts(admin));
  const scripts = storage.stats().scriptsRun - scripts0;
  const allowedReports = allowedIn(windowMs);
  return {
    calls: COUNTED_CALLS,
    loopMs,
    windowMs,
    scripts,
    server,
    allowedReports,
    // Any command at all is a script this storage sent, each one a presence report in time.
    pass:
      scripts <= allowedReports && server.scripts <= allowedReports && (server.scripts > 0 || server.commands === 0),
  };
}

/** Runs the measurement on the server at `url` (`admin` counts its commands), keys under `prefix`. */
export async function measureQuorumSuccess(
  purgatory: PurgatoryModule,
  admin: Redis,
  url: string,
  prefix: string,
): Promise<QuorumSuccessResult> {
  const { AsyncCircuitBreakerFactory, RedisStorage } = purgatory;
  const factories: Factory[] = [];
  try {
    const memory = new AsyncCircuitBreakerFactory({ defaultThreshold: NEVER, defaultTtl: 3600 });
    factories.push(memory);
    // One storage per Redis circuit, so that each one's scripts are its own. No background
    // re-reads in the measured windows (resyncInterval 1 hour), as in the redis section.
    const redisStorage = (processName: string): Storage =>
      new RedisStorage({ url, prefix, processName, resyncInterval: 3600 });
    const plainStorage = redisStorage("bench-plain");
    const quorumStorage = redisStorage("bench-quorum");
    const redisPlain = new AsyncCircuitBreakerFactory({
      defaultThreshold: NEVER,
      defaultTtl: 3600,
      storage: plainStorage,
    });
    const redisQuorum = new AsyncCircuitBreakerFactory({
      defaultThreshold: NEVER,
      defaultTtl: 3600,
      storage: quorumStorage,
    });
    factories.push(redisPlain, redisQuorum);
    await Promise.all([redisPlain.initialize(), redisQuorum.initialize()]);
    let outages = 0;
    for (const factory of [redisPlain, redisQuorum]) {
      factory.addListener((...[, eventType]) => {
        if (eventType === "storage_unavailable") outages += 1;
      });
    }

    const breakers = {
      memory: await memory.getBreaker("success"),
      memoryQuorum: await memory.getBreaker("success-quorum", { quorum: QUORUM }),
      redis: await redisPlain.getBreaker("success"),
      redisQuorum: await redisQuorum.getBreaker("success-quorum", { quorum: QUORUM }),
    };
    const all = Object.values(breakers);
    // First calls: the quorum circuit's first call queues its first presence report, sent within
    // one flush interval; the counted windows start after it.
    for (const breaker of all) for (let i = 0; i < BATCH; i++) await breaker.run(succeed);
    await sleep(2 * FLUSH_INTERVAL_MS);
    const checkClosed = (): void => {
      for (const breaker of all) {
        if (breaker.state !== "closed" || breaker.scope !== "fleet")
          throw new Error(`${breaker.name}: ${breaker.state} (${breaker.scope}), expected closed (fleet)`);
      }
    };
    checkClosed();

    const counted = {
      redis: await countedLoop(admin, plainStorage, breakers.redis, () => 0),
      redisQuorum: await countedLoop(admin, quorumStorage, breakers.redisQuorum, reportsIn),
    };

    const rows: readonly (readonly [string, StorageKind, boolean, string, () => unknown])[] = [
      ["bare", "bare", false, "await fn()", () => succeed()],
      ["memory", "memory", false, "breaker.run(fn), memory", () => breakers.memory.run(succeed)],
      [
        "memory.quorum",
        "memory",
        true,
        `breaker.run(fn), memory, quorum ${QUORUM}`,
        () => breakers.memoryQuorum.run(succeed),
      ],
      ["redis", "redis", false, "breaker.run(fn), RedisStorage", () => breakers.redis.run(succeed)],
      [
        "redis.quorum",
        "redis",
        true,
        `breaker.run(fn), RedisStorage, quorum ${QUORUM}`,
        () => breakers.redisQuorum.run(succeed),
      ],
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [id, , , , fn] of rows) bench(`${id}#${round}`, fn);
    }
    const plainScripts0 = plainStorage.stats().scriptsRun;
    const quorumScripts0 = quorumStorage.stats().scriptsRun;
    const server0 = await serverCounts(admin);
    const outages0 = outages;
    const watch = await watchScripts(url);
    const started = performance.now();
    const result = await run({ format: "quiet", colors: false, throw: true });
    const ms = performance.now() - started;
    await sleep(2 * FLUSH_INTERVAL_MS);
    const sent = await watch.stop();
    const server1 = await serverCounts(admin);
    checkClosed();

    const perRound = new Map<string, number[]>();
    const ticks = new Map<string, number>();
    for (const trial of result.benchmarks) {
      for (const r of trial.runs) {
        if (r.error !== undefined || r.stats === undefined) throw new Error(`${r.name}: ${String(r.error)}`);
        const id = r.name.slice(0, r.name.lastIndexOf("#"));
        perRound.set(id, [...(perRound.get(id) ?? []), r.stats.p50]);
        ticks.set(id, (ticks.get(id) ?? 0) + r.stats.ticks);
      }
    }
    const medianOf = (id: string): number => median(perRound.get(id) ?? [Number.NaN]);
    const bare = medianOf("bare");
    const figures: SuccessFigure[] = rows.map(([id, storage, quorum, call]) => {
      const rounds = perRound.get(id) ?? [];
      const m = medianOf(id);
      const plain = quorum ? medianOf(storage) : Number.NaN;
      return {
        id,
        storage,
        quorum,
        call,
        medianNs: m,
        roundsNs: rounds,
        spread: (Math.max(...rounds) - Math.min(...rounds)) / m,
        vsBare: id === "bare" ? null : m / bare,
        overPlainNs: quorum ? m - plain : null,
        vsPlain: quorum ? m / plain : null,
      };
    });
    const runCounts = countsSince(server0, server1);
    const quorumScripts = quorumStorage.stats().scriptsRun - quorumScripts0;
    const plainScripts = plainStorage.stats().scriptsRun - plainScripts0;
    const allowedReports = reportsIn(ms + 2 * FLUSH_INTERVAL_MS);
    const quorumCalls = ticks.get("redis.quorum") ?? 0;
    const plainCalls = ticks.get("redis") ?? 0;
    const timed: TimedRunCount = {
      quorumCalls,
      plainCalls,
      quorumScripts,
      plainScripts,
      server: runCounts,
      sent,
      outages: outages - outages0,
      ms,
      allowedReports,
      pass: quorumScripts * 1e6 <= quorumCalls && plainScripts * 1e6 <= plainCalls,
    };
    const [info] = await quorumStorage.inspect([breakers.redisQuorum.name]);
    return {
      rounds: ROUNDS,
      figures,
      counted,
      timed,
      activeCallers: info?.quorum?.activeCallers ?? [],
    };
  } finally {
    await Promise.all(factories.map((f) => f.close()));
  }
}
