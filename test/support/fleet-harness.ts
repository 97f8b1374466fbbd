/**
 * Set-up of the fleet fault tests: per test, a fresh key prefix, throw-away redis-servers, proxies,
 * worker processes (test/support/redis-worker.ts) with fast timeouts, and admin clients, all torn
 * down after the test; plus the moves these tests share (holding a call, reading events).
 *
 * @example
 * ```ts
 * const fleet = useFleet();
 * it("...", async () => {
 *   const server = await fleet.server();
 *   const [a, b] = await fleet.workers(2, { url: server.url, threshold: 3 });
 *   const probe = fleet.hold(a, "circuit", { timeoutMs: 5000 });
 *   await probe.running;
 *   await probe.release("succeed");
 * });
 * ```
 */
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, beforeEach } from "vitest";
import { RedisStorage } from "../../src/index.js";
import { startWorker, type Worker, type WorkerEvent, type WorkerReply } from "./redis-fleet.js";
import { uniquePrefix, waitFor } from "./redis-helpers.js";
import { startProxy, type RedisProxy } from "./redis-proxy.js";
import { startRedisServer, type RedisServer, type RedisServerOptions } from "./redis-server.js";
import type { CallOutcome, WorkerConfig } from "./redis-worker.js";

/** A worker's config in these tests: the prefix is the test's. */
export type FleetWorkerConfig = Omit<WorkerConfig, "mode" | "prefix">;

/** Fast detection and recovery; no periodic re-read unless a test asks for one. */
const FAST = { commandTimeout: 0.5, healthCheckInterval: 0.05, resyncInterval: 60 } as const;

/** A call a worker holds until the test releases it. */
export interface HeldCall {
  /** Resolves once the call runs; rejects if no call was admitted within the hold's `timeoutMs`. */
  readonly running: Promise<void>;
  /** Lets the call succeed or fail, and resolves with the worker's answer once it settled. */
  release(outcome: CallOutcome): Promise<WorkerReply>;
}

/** One test's fleet. */
export interface Fleet {
  /** This test's key prefix. */
  readonly prefix: string;
  /** A throw-away redis-server (killed, restarted, flushed at will), stopped after the test. */
  server(options?: RedisServerOptions): Promise<RedisServer>;
  /** A proxy to `port`, for cutting one worker's network. */
  proxy(port: number): Promise<RedisProxy>;
  /** A plain client, for looking at (or deleting) keys. */
  admin(url: string): Redis;
  worker(config: FleetWorkerConfig): Promise<Worker>;
  workers(count: number, config: FleetWorkerConfig): Promise<Worker[]>;
  /** The hash of circuit `name` under this test's prefix. */
  key(name: string): string;
  /** Starts a call of `worker` on `name` that runs until released (see the worker's `hold`). */
  hold(worker: Worker, name: string, options?: { timeoutMs?: number; everyMs?: number }): HeldCall;
}

/** Registers the hooks that make and clean up each test's fleet; call it at the top of a file. */
export function useFleet(): Fleet {
  let prefix = "";
  let holdDir: string | undefined;
  let holds = 0;
  const cleanups: (() => unknown)[] = [];
  const later = <T>(made: T, cleanup: (made: T) => unknown): T => {
    cleanups.push(() => cleanup(made));
    return made;
  };

  beforeEach(() => {
    prefix = uniquePrefix("test-fleet");
    holds = 0;
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    if (holdDir !== undefined) await rm(holdDir, { recursive: true, force: true });
    holdDir = undefined;
  });

  const worker = async (config: FleetWorkerConfig) =>
    later(await startWorker({ ...FAST, ...config, prefix }), (w) => w.kill());

  return {
    get prefix() {
      return prefix;
    },
    server: async (options) => later(await startRedisServer(options), (s) => s.stop()),
    proxy: async (port) => later(await startProxy(port), (p) => p.close()),
    admin(url) {
      const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
      client.on("error", () => undefined);
      return later(client, (c) => c.disconnect());
    },
    worker,
    workers: (count, config) => Promise.all(Array.from({ length: count }, () => worker(config))),
    key: (name) => new RedisStorage({ prefix }).keys.circuit(name),
    hold(target, name, options = {}) {
      const file = (async () => {
        holdDir ??= await mkdtemp(join(tmpdir(), "purgatory-hold-"));
        return join(holdDir, `hold-${++holds}`);
      })();
      const reply = file.then((releaseFile) => target.send({ op: "hold", name, releaseFile, ...options }));
      const running = file.then(async (releaseFile) => {
        const started = target.waitForLine((l) => l.type === "running" && l.releaseFile === releaseFile, 30_000);
        const refused = reply.then((r) => {
          if (r.admitted !== true)
            throw new Error(
              `no call admitted on ${name} (${String(r.attempts)} tries within ${options.timeoutMs ?? 0} ms)`,
            );
          return undefined;
        });
        await Promise.race([started, refused]);
      });
      return {
        running,
        async release(outcome) {
          // Written whole, then renamed: the worker polls the file and must never read it half-written.
          const path = await file;
          await writeFile(`${path}.part`, outcome);
          await rename(`${path}.part`, path);
          return reply;
        },
      };
    },
  };
}

/** Sends one command to every worker at once. */
export const everyone = (workers: readonly Worker[], command: Parameters<Worker["send"]>[0]): Promise<WorkerReply[]> =>
  Promise.all(workers.map((w) => w.send(command)));

/** Waits (at most `timeoutMs`) until each worker's replica of `name` is in `state`; the states they ended in. */
export const waitStates = async (
  workers: readonly Worker[],
  name: string,
  state: string,
  timeoutMs = 5000,
): Promise<unknown[]> => (await everyone(workers, { op: "waitState", name, state, timeoutMs })).map((r) => r.state);

/** How many events each worker printed so far: the start of `eventsSince`. */
export type EventMark = ReadonlyMap<Worker, number>;
export const markEvents = (workers: readonly Worker[]): EventMark => new Map(workers.map((w) => [w, w.events.length]));

/** The events of `circuit` the workers of `mark` printed since it. */
export const eventsSince = (mark: EventMark, circuit: string): WorkerEvent[] =>
  [...mark].flatMap(([w, from]) => w.events.slice(from).filter((e) => e.circuit === circuit));

/** `state_changed` events as `"opened"` / `"opened (remote)"`. */
export const transitions = (events: readonly WorkerEvent[]): string[] =>
  events.flatMap((e) =>
    e.eventType === "state_changed" ? [`${e.event.state}${e.event.remote === true ? " (remote)" : ""}`] : [],
  );

/** Waits until `worker` printed an event of `eventType`; resolves with it. */
export const eventOf = (worker: Worker, eventType: string, timeoutMs = 10_000): Promise<WorkerEvent> =>
  waitFor(
    `${eventType} from worker ${worker.pid}`,
    () => worker.events.find((e) => e.eventType === eventType),
    timeoutMs,
  );
