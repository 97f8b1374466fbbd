/**
 * A process of the fleet for the dashboard's traffic tests: its own factory and RedisStorage
 * (named `processName`), making calls at known, steady rates until it is told to stop. Run as
 * `node --import tsx test/dashboard/traffic-worker.ts '<json TrafficWorkerConfig>'`.
 *
 * - The calls of each circuit are paced on the clock, not on a timer's good will: every `tickMs`
 *   the worker makes the calls due since it started (`perSecond` x elapsed time, minus those made),
 *   so any second holds `perSecond` calls, give or take one tick's worth.
 * - Prints `{"type":"ready"}`, then `{"type":"watched","watched":true|false}` whenever its storage
 *   starts or stops reporting its traffic (somebody watches, or nobody does any more).
 * - A line `{"op":"exit"}` on stdin (or stdin closing) stops the calls, closes the factory and
 *   prints `{"type":"done","calls":{...}}` (calls made per circuit, by outcome); the process then
 *   ends by itself.
 */
import { createInterface } from "node:readline";
import { AsyncCircuitBreakerFactory, CircuitOpenError, RedisStorage, type QuorumOption } from "../../src/index.js";

/** The calls of one circuit. */
export interface PacedCircuit {
  readonly name: string;
  readonly perSecond: number;
  /** Every call succeeds, or every call fails. */
  readonly outcome: "succeed" | "fail";
  /** How long each call runs (ms, a timer). Default 0. */
  readonly latencyMs?: number;
  /** The circuit's options (every process of a test gives the same). */
  readonly threshold?: number;
  readonly ttl?: number;
  readonly quorum?: QuorumOption;
}

/** The worker's argument. */
export interface TrafficWorkerConfig {
  readonly url: string;
  readonly prefix: string;
  readonly processName: string;
  readonly circuits: readonly PacedCircuit[];
  /** Milliseconds between two rounds of calls. Default 100. */
  readonly tickMs?: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as TrafficWorkerConfig;
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const storage = new RedisStorage({ url: config.url, prefix: config.prefix, processName: config.processName });
const factory = new AsyncCircuitBreakerFactory({ storage });
await factory.initialize();
// Registered before any call, so that the dashboard lists them at once.
for (const c of config.circuits) {
  await factory.getBreaker(c.name, {
    ...(c.threshold === undefined ? {} : { threshold: c.threshold }),
    ...(c.ttl === undefined ? {} : { ttl: c.ttl }),
    ...(c.quorum === undefined ? {} : { quorum: c.quorum }),
  });
}

const made = new Map(config.circuits.map((c) => [c.name, { succeeded: 0, failed: 0, rejected: 0 }]));
const due = new Map(config.circuits.map((c) => [c.name, 0]));
const call = async (c: PacedCircuit): Promise<void> => {
  const tally = made.get(c.name);
  if (tally === undefined) return;
  try {
    await factory.run(c.name, async () => {
      if ((c.latencyMs ?? 0) > 0) await sleep(c.latencyMs ?? 0);
      if (c.outcome === "fail") throw new Error("down");
      return "ok";
    });
    tally.succeeded += 1;
  } catch (error) {
    if (error instanceof CircuitOpenError) tally.rejected += 1;
    else tally.failed += 1;
  }
};

let watched = storage.trafficWatched;
const start = performance.now();
const timer = setInterval(() => {
  const elapsed = (performance.now() - start) / 1000;
  for (const c of config.circuits) {
    const done = due.get(c.name) ?? 0;
    const owed = Math.floor(elapsed * c.perSecond) - done;
    due.set(c.name, done + owed);
    for (let i = 0; i < owed; i++) void call(c);
  }
  if (storage.trafficWatched !== watched) {
    watched = storage.trafficWatched;
    print({ type: "watched", watched });
  }
}, config.tickMs ?? 100);
print({ type: "ready", pid: process.pid });

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  await sleep(50);
  await factory.close();
  print({ type: "done", calls: Object.fromEntries(made) });
  lines.close();
};
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.includes('"exit"')) void stop();
});
lines.on("close", () => void stop());
