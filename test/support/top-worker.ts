/**
 * A process of the fleet that makes known calls at known rates, for the tests of `purgatory top`.
 * Run as `node --import tsx test/support/top-worker.ts '<json TopWorkerConfig>'`: it makes a
 * factory with a RedisStorage (`processName` as given), prints `{"type":"ready"}`, then calls
 * each circuit of the config `perSecond` times a second (paced on the clock: the average rate is
 * exact whatever the timers' lateness) until its stdin ends or it gets SIGTERM, and then prints
 * `{"type":"done","made":{...}}`: the calls it made per circuit, by outcome.
 */
import { AsyncCircuitBreakerFactory, CircuitOpenError, RedisStorage, type RunOptions } from "../../src/index.js";

/** One circuit the worker calls. */
export interface TopWorkerCircuit {
  readonly name: string;
  /** Calls a second. */
  readonly perSecond: number;
  /** Whether each call succeeds or fails (throws). */
  readonly outcome: "succeed" | "fail";
  /** How long each call runs (ms). Default 0. */
  readonly latencyMs?: number;
  /** The circuit's options at its registration (threshold, ttl, quorum). */
  readonly options?: Pick<RunOptions, "threshold" | "ttl" | "quorum">;
}

/** The worker's argument. */
export interface TopWorkerConfig {
  readonly url: string;
  readonly prefix: string;
  readonly processName: string;
  readonly circuits: readonly TopWorkerCircuit[];
}

/** What the worker made, per circuit. */
export interface TopWorkerTally {
  succeeded: number;
  failed: number;
  rejected: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as TopWorkerConfig;
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const factory = new AsyncCircuitBreakerFactory({
  storage: new RedisStorage({ url: config.url, prefix: config.prefix, processName: config.processName }),
});
await factory.initialize();
// Tells the test when a circuit has opened (its own rejections follow), so it waits for that, not for time.
factory.addListener((name, eventType, event) => {
  if (eventType === "state_changed" && (event as { state?: string }).state === "opened")
    print({ type: "opened", name });
});
for (const circuit of config.circuits) await factory.getBreaker(circuit.name, circuit.options);

const made = new Map<string, TopWorkerTally>(
  config.circuits.map((c) => [c.name, { succeeded: 0, failed: 0, rejected: 0 }]),
);
const call = async (circuit: TopWorkerCircuit): Promise<void> => {
  const tally = made.get(circuit.name) as TopWorkerTally;
  try {
    await factory.run(
      circuit.name,
      async () => {
        if ((circuit.latencyMs ?? 0) > 0) await sleep(circuit.latencyMs ?? 0);
        if (circuit.outcome === "fail") throw new Error("boom");
        return "ok";
      },
      circuit.options,
    );
    tally.succeeded += 1;
  } catch (error) {
    if (error instanceof CircuitOpenError) tally.rejected += 1;
    else tally.failed += 1;
  }
};

const started = Date.now();
const due = new Map<string, number>(config.circuits.map((c) => [c.name, 0]));
const pending = new Set<Promise<void>>();
const tick = setInterval(() => {
  const elapsed = Date.now() - started;
  for (const circuit of config.circuits) {
    const wanted = Math.floor((elapsed * circuit.perSecond) / 1000);
    for (let n = due.get(circuit.name) ?? 0; n < wanted; n++) {
      const p = call(circuit).finally(() => pending.delete(p));
      pending.add(p);
    }
    due.set(circuit.name, Math.max(due.get(circuit.name) ?? 0, wanted));
  }
}, 10);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  clearInterval(tick);
  await Promise.all(pending);
  print({ type: "done", made: Object.fromEntries(made) });
  await factory.close();
  process.stdin.destroy();
};
process.stdin.on("end", () => void stop());
process.stdin.on("close", () => void stop());
process.stdin.resume();
process.once("SIGTERM", () => void stop());
print({ type: "ready", pid: process.pid });
