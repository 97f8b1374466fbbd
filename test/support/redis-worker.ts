/**
 * A child process of the Redis tests: one "process of the fleet", with its own factory and
 * RedisStorage. Run as `node --import tsx test/support/redis-worker.ts '<json WorkerConfig>'`.
 *
 * - mode `serve`: prints `{"type":"ready"}`, then answers JSON commands read from stdin, one per
 *   line (`{"id":1,"op":"fail",...}`), with `{"type":"reply","id":1,...}` lines. Every hook call
 *   is printed as `{"type":"event",...}`, a held call that starts as `{"type":"running",...}`.
 *   `{"op":"exit"}` closes the factory; the process then ends by itself. With `factory: "sync"`
 *   the calls go through a `SyncCircuitBreakerFactory` and run synchronously.
 * - mode `lifecycle`: makes async and sync factories, runs calls (successes, a trip, rejections),
 *   closes them and does nothing else: the process must exit by itself.
 */
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Cluster, Redis } from "ioredis";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  SyncCircuitBreakerFactory,
  type CircuitHookArgs,
  type ConfigChanges,
  type QuorumOption,
  type RunOptions,
  type StorageErrorPolicy,
} from "../../src/index.js";

/** The worker's argument. */
export interface WorkerConfig {
  readonly mode: "serve" | "lifecycle";
  readonly url: string;
  /** A Redis Cluster's seed nodes: the storage then gets an ioredis `Cluster` (and `url` is unused). */
  readonly cluster?: readonly { readonly host: string; readonly port: number }[];
  /**
   * Redis Sentinel: the storage gets the client `new Redis({ sentinels, name, ...options })` of
   * ioredis (and `url` is unused by the storage), closed at shutdown. `options` are any other
   * ioredis options (JSON), e.g. `{ failoverDetector: true }` or `{ enableOfflineQueue: false }`.
   */
  readonly sentinel?: {
    readonly sentinels: readonly { readonly host: string; readonly port: number }[];
    readonly name: string;
    readonly options?: Readonly<Record<string, unknown>>;
  };
  readonly prefix: string;
  /** Which factory `serve` makes (default `"async"`); a sync worker runs its calls synchronously. */
  readonly factory?: "async" | "sync";
  readonly threshold?: number;
  readonly ttl?: number;
  readonly halfOpenMaxCalls?: number;
  readonly commandTimeout?: number;
  readonly onStorageError?: StorageErrorPolicy;
  readonly keyTtl?: number;
  readonly resyncInterval?: number;
  readonly healthCheckInterval?: number;
  /** Milliseconds added to `Date.now()` by the factory's `clock`. */
  readonly clockOffsetMs?: number;
  /** Adds a `storage.subscribe()` function that throws on every call. */
  readonly throwingSubscriber?: boolean;
  /** The factory's `defaultFailureRate`. */
  readonly failureRate?: { readonly rate: number; readonly minimumCalls: number; readonly window: number };
  /** The factory's `defaultQuorum`. */
  readonly quorum?: QuorumOption;
  /** The factory's `defaultTimeout` (seconds). */
  readonly timeout?: number;
  /** The storage's `processName`, `flushInterval` and `callerHorizon`. */
  readonly processName?: string;
  readonly flushInterval?: number;
  readonly callerHorizon?: number;
}

/** The circuit options an `http` command may register its circuit with (JSON: no functions). */
export type HttpCircuitOptions = Pick<
  RunOptions,
  "threshold" | "ttl" | "quorum" | "failureRate" | "timeout" | "backoff" | "halfOpenMaxCalls"
>;

/** What a guarded call of a `run` or `hold` command does. */
export type CallOutcome = "succeed" | "fail";

/** A command of mode `serve`. */
export type WorkerCommand =
  | { readonly id: number; readonly op: "register"; readonly name: string }
  /** Registers every one of `names` at once; answers `{ registered }`. */
  | { readonly id: number; readonly op: "registerMany"; readonly names: readonly string[] }
  /** Answers the storage's `stats()`. */
  | { readonly id: number; readonly op: "stats" }
  /** `calls` failing calls, `concurrency` at a time (the same as `run` with outcome `"fail"`). */
  | {
      readonly id: number;
      readonly op: "fail";
      readonly name: string;
      readonly calls: number;
      readonly concurrency: number;
    }
  /**
   * `calls` calls of `factory.run(name, fn)` that succeed or fail, `concurrency` at a time (async;
   * each lane's first call starts in the same tick), or in one synchronous loop (sync).
   * Answers `{ ran, succeeded, failed, rejected, errorOpenedAt }` (of the last CircuitOpenError) and
   * the breaker's `{ state, failureCount, openedAt }`.
   */
  | {
      readonly id: number;
      readonly op: "run";
      readonly name: string;
      readonly calls: number;
      readonly concurrency?: number;
      readonly outcome: CallOutcome;
    }
  /**
   * Tries a call every `everyMs` (default 20) until one is admitted, for at most `timeoutMs`
   * (default: one try). The admitted call prints `{"type":"running","releaseFile":...}`, then waits
   * (synchronously in a sync worker) until the file `releaseFile` exists, and succeeds or fails as
   * the file says (`succeed` / `fail`). Answers once the call settled: `{ admitted, attempts, settled }`.
   */
  | {
      readonly id: number;
      readonly op: "hold";
      readonly name: string;
      readonly releaseFile: string;
      readonly timeoutMs?: number;
      readonly everyMs?: number;
    }
  /**
   * For `durationMs`, calls that each run as a probe of `probeMs`; a probe INCRs `counterKey`
   * (tracking the highest value seen), waits, DECRs it and fails (or succeeds, `succeed: true`).
   */
  | {
      readonly id: number;
      readonly op: "probe";
      readonly name: string;
      readonly durationMs: number;
      readonly probeMs: number;
      readonly counterKey: string;
      readonly succeed?: boolean;
    }
  /**
   * `calls` guarded calls `factory.run(name, (signal) => fetch(url, { signal }), circuit)`, one
   * at a time, `everyMs` apart (default 0); a network error or a non-2xx status is a failure.
   * Answers `{ ran, succeeded, failed, rejectedFleet, rejectedProcess, errors }` (`ran`: calls that
   * reached `fetch`; rejections counted by `CircuitOpenError.scope`; `errors`: the failures by
   * error name, e.g. `CallTimeoutError`) and the breaker's `{ state, scope }` after the last call.
   */
  | {
      readonly id: number;
      readonly op: "http";
      readonly name: string;
      readonly url: string;
      readonly calls: number;
      readonly everyMs?: number;
      readonly circuit?: HttpCircuitOptions;
    }
  | { readonly id: number; readonly op: "state"; readonly name: string }
  /**
   * The storage's replica of `name` (internal fields, for diagnosis): `{ available, mode, since,
   * shared: { incarnation, version, state, generation, failureCount } | null, view: { state,
   * generation, failureCount } }`, `{ held: false }` if the process does not hold it.
   */
  | { readonly id: number; readonly op: "replica"; readonly name: string }
  /** An operator's action on the circuit (`breaker.isolate()`, `disable()`, `reset()`). */
  | {
      readonly id: number;
      readonly op: "control";
      readonly name: string;
      readonly action: "isolate" | "disable" | "reset";
    }
  /** `factory.reconfigure(name, changes)`. */
  | { readonly id: number; readonly op: "reconfigure"; readonly name: string; readonly changes: ConfigChanges }
  /** Waits until the replica of `name` is in `state`, at most `timeoutMs`. */
  | {
      readonly id: number;
      readonly op: "waitState";
      readonly name: string;
      readonly state: string;
      readonly timeoutMs: number;
    }
  | { readonly id: number; readonly op: "exit" };

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Blocks the whole process (a synchronous guarded call that takes time). */
const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

function hook(...[circuit, eventType, event]: CircuitHookArgs): void {
  const plain = "error" in event ? { ...event, error: String(event.error) } : event;
  print({ type: "event", pid: process.pid, circuit, eventType, event: plain });
}

const optional = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/** The Cluster client made for `config.cluster`, closed at shutdown (the storage leaves it open). */
let clusterClient: Cluster | undefined;
/** The Sentinel client made for `config.sentinel`, closed at shutdown (the storage leaves it open). */
let sentinelClient: Redis | undefined;
let madeStorage: RedisStorage | undefined;

function sentinelRedis(sentinel: NonNullable<WorkerConfig["sentinel"]>): Redis {
  const client = new Redis({ ...sentinel.options, sentinels: [...sentinel.sentinels], name: sentinel.name });
  // ioredis reports every refused connection to a sentinel or a master during a failover.
  client.on("error", () => undefined);
  return client;
}

function storage(): RedisStorage {
  const where =
    config.sentinel !== undefined
      ? { client: (sentinelClient = sentinelRedis(config.sentinel)) }
      : config.cluster === undefined
        ? { url: config.url }
        : { client: (clusterClient = new Cluster([...config.cluster], { redisOptions: { commandTimeout: 1000 } })) };
  const made = new RedisStorage({
    ...where,
    prefix: config.prefix,
    ...optional("commandTimeout", config.commandTimeout),
    ...optional("onStorageError", config.onStorageError),
    ...optional("keyTtl", config.keyTtl),
    ...optional("resyncInterval", config.resyncInterval),
    ...optional("healthCheckInterval", config.healthCheckInterval),
    ...optional("processName", config.processName),
    ...optional("flushInterval", config.flushInterval),
    ...optional("callerHorizon", config.callerHorizon),
  });
  madeStorage = made;
  if (config.throwingSubscriber === true) {
    made.subscribe(() => {
      throw new Error("a subscriber that throws");
    });
  }
  return made;
}

function factoryOptions() {
  const offset = config.clockOffsetMs;
  return {
    storage: storage(),
    listeners: [hook],
    ...optional("defaultThreshold", config.threshold),
    ...optional("defaultTtl", config.ttl),
    ...optional("halfOpenMaxCalls", config.halfOpenMaxCalls),
    ...optional("defaultFailureRate", config.failureRate),
    ...optional("defaultQuorum", config.quorum),
    ...optional("defaultTimeout", config.timeout),
    ...(offset === undefined ? {} : { clock: () => Date.now() + offset }),
  };
}

/** How one guarded call ended. */
type Outcome =
  { readonly kind: "value" } | { readonly kind: "error" } | { readonly kind: "open"; readonly openedAt: number };

const judge = (error: unknown): Outcome =>
  error instanceof CircuitOpenError ? { kind: "open", openedAt: error.openedAt } : { kind: "error" };

/** The factory of this worker, async or sync, behind one way to make a call. */
function makeGuard() {
  if (config.factory === "sync") {
    const factory = new SyncCircuitBreakerFactory(factoryOptions());
    /** Runs the call now, synchronously: a sync factory never waits. */
    const attempt = (name: string, fn: () => unknown): Outcome => {
      try {
        factory.run(name, fn);
        return { kind: "value" };
      } catch (error) {
        return judge(error);
      }
    };
    return { factory, sync: true as const, attempt, async: undefined };
  }
  const factory = new AsyncCircuitBreakerFactory(factoryOptions());
  const attempt = (name: string, fn: () => unknown): Promise<Outcome> =>
    factory.run(name, fn).then(() => ({ kind: "value" }) as const, judge);
  return { factory, sync: false as const, attempt, async: factory };
}

/** Waits until `file` exists and says what the held call does; a sync worker blocks meanwhile. */
function released(file: string, sync: boolean): CallOutcome | Promise<CallOutcome> {
  const read = () => {
    const text = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
    return text === "" ? undefined : (text as CallOutcome);
  };
  const deadline = Date.now() + 20_000;
  if (sync) {
    for (let outcome = read(); ; outcome = read()) {
      if (outcome !== undefined) return outcome;
      if (Date.now() > deadline) return "fail";
      sleepSync(5);
    }
  }
  return (async () => {
    for (let outcome = read(); ; outcome = read()) {
      if (outcome !== undefined) return outcome;
      if (Date.now() > deadline) return "fail";
      await sleep(5);
    }
  })();
}

const settle = (outcome: CallOutcome): string => {
  if (outcome === "fail") throw new Error("the held call failed");
  return "released";
};

async function serve(): Promise<void> {
  const guard = makeGuard();
  const { factory } = guard;
  await factory.initialize();
  const redis = new Redis(config.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on("error", () => undefined);
  const lines = createInterface({ input: process.stdin });
  let closing: Promise<void> | undefined;
  // Also when the parent goes away (stdin ends): close everything so that the process ends.
  const shutdown = async (): Promise<void> => {
    if (closing !== undefined) return closing;
    let done: () => void = () => undefined;
    closing = new Promise((resolve) => (done = resolve));
    lines.close();
    process.stdin.destroy();
    await factory.close();
    redis.disconnect();
    await clusterClient?.quit().catch(() => clusterClient?.disconnect());
    sentinelClient?.disconnect();
    done();
  };
  lines.on("close", () => void shutdown());

  const breaker = async (name: string) => {
    const b = await factory.getBreaker(name);
    return { state: b.state, failureCount: b.failureCount, openedAt: b.openedAt, threshold: b.threshold, ttl: b.ttl };
  };

  const runCalls = async (name: string, calls: number, concurrency: number, outcome: CallOutcome) => {
    const tally = { ran: 0, succeeded: 0, failed: 0, rejected: 0, errorOpenedAt: null as number | null };
    const fn = () => {
      tally.ran += 1;
      if (outcome === "succeed") return "ok";
      const error = new Error("boom");
      if (guard.sync) throw error;
      return Promise.reject(error);
    };
    const count = (o: Outcome) => {
      if (o.kind === "value") tally.succeeded += 1;
      else if (o.kind === "error") tally.failed += 1;
      else {
        tally.rejected += 1;
        tally.errorOpenedAt = o.openedAt;
      }
    };
    if (guard.sync) {
      for (let i = 0; i < calls; i++) count(guard.attempt(name, fn));
    } else {
      let left = calls;
      const lane = async () => {
        while (left > 0) {
          left -= 1;
          count(await guard.attempt(name, fn));
        }
      };
      await Promise.all(Array.from({ length: concurrency }, lane));
    }
    return { ...tally, ...(await breaker(name)) };
  };

  const hold = async (name: string, releaseFile: string, timeoutMs: number, everyMs: number) => {
    const deadline = Date.now() + timeoutMs;
    const fn = () => {
      print({ type: "running", releaseFile });
      const outcome = released(releaseFile, guard.sync);
      return typeof outcome === "string" ? settle(outcome) : outcome.then(settle);
    };
    for (let attempts = 1; ; attempts++) {
      const outcome = await guard.attempt(name, fn);
      if (outcome.kind !== "open")
        return { admitted: true, attempts, settled: outcome.kind === "value" ? "resolved" : "rejected" };
      if (Date.now() >= deadline) return { admitted: false, attempts, settled: "open" };
      await sleep(everyMs);
    }
  };

  const httpCalls = async (command: Extract<WorkerCommand, { op: "http" }>) => {
    if (guard.async === undefined) throw new Error("http needs an async worker");
    const factory = guard.async;
    const tally = { ran: 0, succeeded: 0, failed: 0, rejectedFleet: 0, rejectedProcess: 0 };
    const errors: Record<string, number> = {};
    const fetchOk = async (signal: AbortSignal) => {
      tally.ran += 1;
      const res = await fetch(command.url, { signal });
      await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return res.status;
    };
    for (let i = 0; i < command.calls; i++) {
      if (i > 0 && (command.everyMs ?? 0) > 0) await sleep(command.everyMs ?? 0);
      try {
        await factory.run(command.name, fetchOk, command.circuit);
        tally.succeeded += 1;
      } catch (error) {
        if (error instanceof CircuitOpenError) {
          if (error.scope === "process") tally.rejectedProcess += 1;
          else tally.rejectedFleet += 1;
        } else {
          tally.failed += 1;
          const kind = error instanceof Error ? error.name : typeof error;
          errors[kind] = (errors[kind] ?? 0) + 1;
        }
      }
    }
    const b = await factory.getBreaker(command.name);
    return { ...tally, errors, state: b.state, scope: b.scope };
  };

  const handle = async (command: WorkerCommand): Promise<object> => {
    switch (command.op) {
      case "register":
        return breaker(command.name);
      case "registerMany":
        await Promise.all(command.names.map(async (name) => factory.getBreaker(name)));
        return { registered: command.names.length };
      case "stats":
        return madeStorage?.stats() ?? {};
      case "fail":
        return runCalls(command.name, command.calls, command.concurrency, "fail");
      case "run":
        return runCalls(command.name, command.calls, command.concurrency ?? 1, command.outcome);
      case "hold":
        return hold(command.name, command.releaseFile, command.timeoutMs ?? 0, command.everyMs ?? 20);
      case "probe": {
        if (guard.async === undefined) throw new Error("probe needs an async worker");
        const probing = await guard.async.getBreaker(command.name);
        if (redis.status === "wait") await redis.connect();
        let probes = 0;
        let rejected = 0;
        let maxConcurrent = 0;
        const end = Date.now() + command.durationMs;
        while (Date.now() < end) {
          try {
            await probing.run(async () => {
              probes += 1;
              const running = await redis.incr(command.counterKey);
              maxConcurrent = Math.max(maxConcurrent, running);
              await sleep(command.probeMs);
              await redis.decr(command.counterKey);
              if (command.succeed !== true) throw new Error("probe failed");
            });
          } catch (error) {
            if (error instanceof CircuitOpenError) {
              rejected += 1;
              await sleep(3);
            }
          }
        }
        return { probes, rejected, maxConcurrent, state: probing.state };
      }
      case "http":
        return httpCalls(command);
      case "state":
        return breaker(command.name);
      case "replica":
        return replicaOf(command.name);
      case "control": {
        const b = await factory.getBreaker(command.name);
        await b[command.action]();
        return breaker(command.name);
      }
      case "reconfigure":
        await factory.reconfigure(command.name, command.changes);
        return breaker(command.name);
      case "waitState": {
        const start = Date.now();
        let seen = await breaker(command.name);
        while (seen.state !== command.state && Date.now() - start < command.timeoutMs) {
          await sleep(2);
          seen = await breaker(command.name);
        }
        return { ...seen, waitedMs: Date.now() - start };
      }
      case "exit": {
        await shutdown();
        return {};
      }
    }
  };

  lines.on("line", (line) => {
    const command = JSON.parse(line) as WorkerCommand;
    handle(command).then(
      (result) => print({ type: "reply", id: command.id, pid: process.pid, ok: true, ...result }),
      (error: unknown) =>
        print({
          type: "reply",
          id: command.id,
          pid: process.pid,
          ok: false,
          error: String(error),
          stack: (error as Error).stack,
        }),
    );
  });
  print({ type: "ready", pid: process.pid });
}

/** The internal replica of `name` in this process's storage (`RedisStorage.get` gives the record). */
interface ReplicaRecord {
  readonly replica: {
    readonly mode: string;
    readonly since: { readonly incarnation: string; readonly generation: number } | null;
    readonly shared: {
      readonly incarnation: string;
      readonly version: number;
      readonly snapshot: { readonly state: string; readonly generation: number; readonly failureCount: number };
    } | null;
    readonly view: { readonly state: string; readonly generation: number; readonly failureCount: number };
  };
}

function replicaOf(name: string): object {
  const record = madeStorage?.get(name) as ReplicaRecord | undefined;
  if (record === undefined) return { held: false };
  const { mode, since, shared, view } = record.replica;
  return {
    held: true,
    available: madeStorage?.available,
    mode,
    since,
    shared:
      shared === null
        ? null
        : {
            incarnation: shared.incarnation,
            version: shared.version,
            state: shared.snapshot.state,
            generation: shared.snapshot.generation,
            failureCount: shared.snapshot.failureCount,
          },
    view: { state: view.state, generation: view.generation, failureCount: view.failureCount },
  };
}

async function lifecycle(): Promise<void> {
  const factory = new AsyncCircuitBreakerFactory({ ...factoryOptions(), defaultThreshold: 2 });
  await factory.initialize();
  const name = `lifecycle-${process.pid}`;
  const outcomes: string[] = [];
  const record = (p: Promise<unknown>) =>
    p.then(
      (v) => outcomes.push(`ok ${String(v)}`),
      (e: unknown) => outcomes.push(e instanceof CircuitOpenError ? "open" : `error ${(e as Error).message}`),
    );
  await record(factory.run(name, () => 1));
  await record(factory.run(name, () => Promise.reject(new Error("a"))));
  await record(factory.run(name, () => Promise.reject(new Error("b"))));
  await record(factory.run(name, () => 2));
  await factory.close();

  const sync = new SyncCircuitBreakerFactory({ ...factoryOptions(), defaultThreshold: 1 });
  await sync.initialize();
  const breaker = sync.getBreaker(`${name}-sync`);
  try {
    outcomes.push(`ok ${breaker.run(() => 3)}`);
    breaker.run(() => {
      throw new Error("c");
    });
  } catch (error) {
    outcomes.push(`error ${(error as Error).message}`);
  }
  await sleep(20);
  await sync.close();
  print({ type: "done", outcomes });
}

if (config.mode === "lifecycle") await lifecycle();
else await serve();
