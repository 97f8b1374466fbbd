/**
 * A child process of the telemetry tests (test/storage/redis/telemetry-processes.test.ts): one
 * process of the fleet, with its own factory and RedisStorage, that calls circuits at a steady
 * rate when told to and says exactly what it did, call by call. Run as
 * `node --import tsx test/support/telemetry-worker.ts '<json TelemetryWorkerConfig>'` (see
 * `startTelemetryWorker` in telemetry-fleet.ts).
 *
 * It prints `{"type":"ready"}` once its storage is initialized, then answers JSON commands read
 * from stdin, one a line (`{"id":1,"op":"steady",...}`), with `{"type":"reply","id":1,...}` lines.
 * It closes its factory and ends when stdin closes (its parent is gone) or on `{"op":"exit"}`.
 */
import { createInterface } from "node:readline";
import { Cluster } from "ioredis";
import {
  AsyncCircuitBreakerFactory,
  isCircuitOpenError,
  RedisStorage,
  type RedisStorageStats,
  type RunOptions,
} from "../../src/index.js";

/** The worker's one argument. */
export interface TelemetryWorkerConfig {
  /** A Redis URL, or a Cluster's seed nodes (the storage then gets an ioredis `Cluster`). */
  readonly url?: string;
  readonly cluster?: readonly { readonly host: string; readonly port: number }[];
  readonly prefix: string;
  /** The storage's `processName`: how the reports name this process. */
  readonly processName: string;
  /** The storage's `flushInterval` (seconds): how soon a quorum circuit's caller is known. */
  readonly flushInterval?: number;
}

/** How each call of a lane ends: at once with a value, by throwing, or with a value after `Lane.ms`. */
export type LaneOutcome = "succeed" | "fail" | "slow";

/** Calls on one circuit at a steady rate. */
export interface Lane {
  readonly name: string;
  readonly perSecond: number;
  readonly outcome: LaneOutcome;
  /** How long each call of a `slow` lane runs (ms). */
  readonly ms?: number;
  /** The circuit's options (first registration wins). */
  readonly options?: Pick<RunOptions, "threshold" | "ttl" | "quorum">;
}

/** How a call ended as the caller saw it: its value, a `CircuitOpenError`, or another error. */
export type CallResult = "success" | "failure" | "rejected";

/** One call: its circuit, how it ended, and when it ended (epoch ms, this machine's clock). */
export type CallRecord = readonly [name: string, result: CallResult, at: number];

/** A command; every reply repeats its `id`. */
export type TelemetryWorkerCommand =
  /**
   * Each lane calls its circuit `perSecond` times a second for `seconds` (call k at `k /
   * perSecond` s from the start, the lanes in parallel); answers `{ calls: CallRecord[] }` once
   * every call has ended.
   */
  | { readonly id: number; readonly op: "steady"; readonly lanes: readonly Lane[]; readonly seconds: number }
  /** Answers `{ stats, watched }`: the storage's `stats()` and `trafficWatched`. */
  | { readonly id: number; readonly op: "stats" }
  /** Answers `{ activeCallers }`: the processes Redis counts as active callers of quorum circuit `name`. */
  | { readonly id: number; readonly op: "callers"; readonly name: string }
  | { readonly id: number; readonly op: "exit" };

/** The reply to `stats`. */
export interface WorkerStats {
  readonly stats: RedisStorageStats;
  readonly watched: boolean;
}

const config = JSON.parse(process.argv[2] ?? "{}") as TelemetryWorkerConfig;
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const cluster =
  config.cluster === undefined
    ? undefined
    : new Cluster([...config.cluster], { redisOptions: { commandTimeout: 2000 } });
const storage = new RedisStorage({
  ...(cluster === undefined ? { url: config.url ?? "redis://127.0.0.1:6379" } : { client: cluster }),
  prefix: config.prefix,
  processName: config.processName,
  commandTimeout: 2,
  // No background re-read: a quorum circuit's read script runs a ZRANGEBYSCORE of its own (its
  // local openings), which INFO commandstats would count with the telemetry's.
  resyncInterval: 60,
  ...(config.flushInterval === undefined ? {} : { flushInterval: config.flushInterval }),
});
const factory = new AsyncCircuitBreakerFactory({ storage, defaultThreshold: 1_000_000, defaultTtl: 30 });

const succeed = async (): Promise<string> => "ok";
const fail = async (): Promise<never> => {
  throw new Error("down");
};
const guarded = (spec: Lane): (() => Promise<string>) => {
  if (spec.outcome === "succeed") return succeed;
  if (spec.outcome === "fail") return fail;
  const ms = spec.ms ?? 0;
  return async () => {
    await sleep(ms);
    return "ok";
  };
};

/** One lane's calls, one at a time on its schedule; each call's record goes to `calls`. */
async function lane(spec: Lane, seconds: number, startedAt: number, calls: CallRecord[]): Promise<void> {
  const total = Math.round(spec.perSecond * seconds);
  const fn = guarded(spec);
  for (let k = 0; k < total; k++) {
    const due = startedAt + (k * 1000) / spec.perSecond;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    let result: CallResult;
    try {
      await factory.run(spec.name, fn, spec.options);
      result = "success";
    } catch (error) {
      result = isCircuitOpenError(error) ? "rejected" : "failure";
    }
    calls.push([spec.name, result, Date.now()]);
  }
}

async function handle(command: TelemetryWorkerCommand): Promise<object> {
  switch (command.op) {
    case "steady": {
      const calls: CallRecord[] = [];
      const startedAt = Date.now();
      await Promise.all(command.lanes.map((spec) => lane(spec, command.seconds, startedAt, calls)));
      return { calls };
    }
    case "stats":
      return { stats: storage.stats(), watched: storage.trafficWatched } satisfies WorkerStats;
    case "callers": {
      const [info] = await storage.inspect([command.name]);
      return { activeCallers: info?.quorum?.activeCallers ?? [] };
    }
    case "exit":
      return {};
  }
}

let closing: Promise<void> | undefined;
const close = (): Promise<void> =>
  (closing ??= (async () => {
    await factory.close();
    await cluster?.quit().catch(() => cluster.disconnect());
  })());

await factory.initialize();
const lines = createInterface({ input: process.stdin });
lines.on("line", (text) => {
  if (text.trim() === "") return;
  const command = JSON.parse(text) as TelemetryWorkerCommand;
  handle(command).then(
    (reply) => {
      print({ type: "reply", id: command.id, ok: true, ...reply });
      if (command.op === "exit") {
        lines.close();
        void close();
      }
    },
    (error: unknown) => print({ type: "reply", id: command.id, ok: false, error: String(error) }),
  );
});
lines.on("close", () => void close());
print({ type: "ready", pid: process.pid });
