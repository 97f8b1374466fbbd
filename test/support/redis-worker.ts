/**
 * A child process of the Redis tests: one "process of the fleet", with its own factory and
 * RedisStorage. Run as `node --import tsx test/support/redis-worker.ts '<json WorkerConfig>'`.
 *
 * - mode `serve`: prints `{"type":"ready"}`, then answers JSON commands read from stdin, one per
 *   line (`{"id":1,"op":"fail",...}`), with `{"type":"reply","id":1,...}` lines. Every hook call
 *   is printed as `{"type":"event",...}`. `{"op":"exit"}` closes the factory; the process then
 *   ends by itself.
 * - mode `lifecycle`: makes async and sync factories, runs calls (successes, a trip, rejections),
 *   closes them and does nothing else: the process must exit by itself.
 */
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  SyncCircuitBreakerFactory,
  type CircuitHookArgs,
} from "../../src/index.js";

/** The worker's argument. */
export interface WorkerConfig {
  readonly mode: "serve" | "lifecycle";
  readonly url: string;
  readonly prefix: string;
  readonly threshold?: number;
  readonly ttl?: number;
  readonly halfOpenMaxCalls?: number;
  readonly commandTimeout?: number;
}

/** A command of mode `serve`. */
export type WorkerCommand =
  | { readonly id: number; readonly op: "register"; readonly name: string }
  /** `calls` failing calls, `concurrency` at a time. */
  | { readonly id: number; readonly op: "fail"; readonly name: string; readonly calls: number; readonly concurrency: number }
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
  | { readonly id: number; readonly op: "state"; readonly name: string }
  /** Waits until the replica of `name` is in `state`, at most `timeoutMs`. */
  | { readonly id: number; readonly op: "waitState"; readonly name: string; readonly state: string; readonly timeoutMs: number }
  | { readonly id: number; readonly op: "exit" };

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function hook(...[circuit, eventType, event]: CircuitHookArgs): void {
  const plain = "error" in event ? { ...event, error: String(event.error) } : event;
  print({ type: "event", pid: process.pid, circuit, eventType, event: plain });
}

function storage(): RedisStorage {
  return new RedisStorage({
    url: config.url,
    prefix: config.prefix,
    ...(config.commandTimeout === undefined ? {} : { commandTimeout: config.commandTimeout }),
  });
}

function factoryOptions() {
  return {
    storage: storage(),
    listeners: [hook],
    ...(config.threshold === undefined ? {} : { defaultThreshold: config.threshold }),
    ...(config.ttl === undefined ? {} : { defaultTtl: config.ttl }),
    ...(config.halfOpenMaxCalls === undefined ? {} : { halfOpenMaxCalls: config.halfOpenMaxCalls }),
  };
}

async function serve(): Promise<void> {
  const factory = new AsyncCircuitBreakerFactory(factoryOptions());
  await factory.initialize();
  const redis = new Redis(config.url, { maxRetriesPerRequest: 1 });
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
    await redis.quit();
    done();
  };
  lines.on("close", () => void shutdown());

  const handle = async (command: WorkerCommand): Promise<object> => {
    switch (command.op) {
      case "register": {
        const breaker = await factory.getBreaker(command.name);
        return { state: breaker.state };
      }
      case "fail": {
        const breaker = await factory.getBreaker(command.name);
        let failed = 0;
        let rejected = 0;
        let left = command.calls;
        const lane = async () => {
          while (left > 0) {
            left -= 1;
            try {
              await breaker.run(() => Promise.reject(new Error("boom")));
            } catch (error) {
              if (error instanceof CircuitOpenError) rejected += 1;
              else failed += 1;
            }
          }
        };
        await Promise.all(Array.from({ length: command.concurrency }, lane));
        return { failed, rejected, state: breaker.state };
      }
      case "probe": {
        const breaker = await factory.getBreaker(command.name);
        let probes = 0;
        let rejected = 0;
        let maxConcurrent = 0;
        const end = Date.now() + command.durationMs;
        while (Date.now() < end) {
          try {
            await breaker.run(async () => {
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
        return { probes, rejected, maxConcurrent, state: breaker.state };
      }
      case "state": {
        const breaker = await factory.getBreaker(command.name);
        return { state: breaker.state, failureCount: breaker.failureCount, openedAt: breaker.openedAt };
      }
      case "waitState": {
        const breaker = await factory.getBreaker(command.name);
        const start = Date.now();
        while (breaker.state !== command.state && Date.now() - start < command.timeoutMs) await sleep(2);
        return { state: breaker.state, waitedMs: Date.now() - start };
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
      (error: unknown) => print({ type: "reply", id: command.id, pid: process.pid, ok: false, error: String(error), stack: (error as Error).stack }),
    );
  });
  print({ type: "ready", pid: process.pid });
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
