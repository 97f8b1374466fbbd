/**
 * The test side of test/support/telemetry-worker.ts: starts a worker as a real OS process (node +
 * tsx), sends it commands and reads its replies; and reads a `TrafficWatch`'s snapshots back into
 * what each process reported, second by second, to compare with what each process did.
 */
import type { TrafficSnapshot } from "../../src/storage/redis/traffic-watch.js";
import { spawnLines, type LineProcess, type WorkerLine } from "./redis-fleet.js";
import type { CallRecord, TelemetryWorkerCommand, TelemetryWorkerConfig } from "./telemetry-worker.js";

const WORKER = new URL("./telemetry-worker.ts", import.meta.url).pathname;

type Command = TelemetryWorkerCommand extends infer C ? (C extends { id: number } ? Omit<C, "id"> : never) : never;

/** A worker process. */
export interface TelemetryWorker {
  readonly name: string;
  readonly process: LineProcess;
  /** Sends a command; resolves with its reply, rejects if the worker answers an error or ends first. */
  send<T extends object = WorkerLine>(command: Command, timeoutMs?: number): Promise<T>;
  /** SIGKILL, unless it has ended. */
  kill(): void;
}

/** Starts a worker and waits for its `ready` line. */
export async function startTelemetryWorker(config: TelemetryWorkerConfig): Promise<TelemetryWorker> {
  const spawned = spawnLines(["--import", "tsx", WORKER, JSON.stringify(config)], { stdin: true });
  const { child } = spawned;
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  try {
    await spawned.waitForLine((l) => l.type === "ready", 30_000);
  } catch (error) {
    kill();
    throw error;
  }
  let sequence = 0;
  return {
    name: config.processName,
    process: spawned,
    async send<T extends object>(command: Command, timeoutMs = 30_000): Promise<T> {
      const id = ++sequence;
      const reply = spawned.waitForLine((l) => l.type === "reply" && l.id === id, timeoutMs);
      child.stdin?.write(`${JSON.stringify({ ...command, id })}\n`);
      const line = await reply;
      if (line.ok !== true) throw new Error(`${config.processName}: ${String(line.error)}`);
      return line as unknown as T;
    },
    kill,
  };
}

/** What one process reported for one circuit over one second, as the watcher folded it. */
export interface ReportedSecond {
  /** The end of the second (Redis time, epoch ms). */
  readonly t: number;
  readonly calls: number;
  readonly errors: number;
  readonly rejected: number;
  readonly p50: number | null;
  readonly openForItself: boolean;
}

/**
 * Collects every snapshot of a watch, and files each circuit's processes of its latest second by
 * process and circuit: `seconds.get("web-0")?.get("orders")` is what web-0 reported for
 * "orders", second by second. `missed` lists the seconds folded without a snapshot of their own
 * (two folded at once: their processes' shares were not seen).
 */
export class ReportLog {
  readonly snapshots: TrafficSnapshot[] = [];
  readonly seconds = new Map<string, Map<string, ReportedSecond[]>>();

  /** The listener to give `TrafficWatch.onUpdate`. */
  readonly listener = (snapshot: TrafficSnapshot): void => {
    this.snapshots.push(snapshot);
    for (const circuit of snapshot.circuits) {
      if (circuit.t !== snapshot.t) continue;
      for (const p of circuit.processes) {
        let byCircuit = this.seconds.get(p.process);
        if (byCircuit === undefined) this.seconds.set(p.process, (byCircuit = new Map<string, ReportedSecond[]>()));
        let list = byCircuit.get(circuit.name);
        if (list === undefined) byCircuit.set(circuit.name, (list = []));
        list.push({
          t: snapshot.t,
          calls: p.calls,
          errors: p.errors,
          rejected: p.rejected,
          p50: p.p50,
          openForItself: p.openForItself,
        });
      }
    }
  };

  /** What `process` reported for `circuit`, second by second (empty when nothing). */
  of(process: string, circuit: string): readonly ReportedSecond[] {
    return this.seconds.get(process)?.get(circuit) ?? [];
  }

  /** Seconds with calls in some circuit's history that no snapshot was published for. */
  missed(): number[] {
    const published = new Set(this.snapshots.map((s) => s.t));
    const withCalls = new Set<number>();
    for (const snapshot of this.snapshots)
      for (const circuit of snapshot.circuits)
        for (const point of circuit.history) if (point.calls > 0) withCalls.add(point.t);
    return [...withCalls].filter((t) => !published.has(t)).sort((a, b) => a - b);
  }
}

/** The calls of `records` on circuit `name`, by how they ended. */
export function callsOn(records: readonly CallRecord[], name: string): CallRecord[] {
  return records.filter(([n]) => n === name);
}

/**
 * Checks that what a process reported for a circuit, second by second, is what it did: the totals
 * (calls, failures, rejections) exactly, and by second within the slack of a second's boundary.
 * A process counts a call when it ends and reports, just after each whole second of Redis's
 * clock, what it counted until then: a call that ended within `beforeMs` before a boundary (the
 * process's estimate of Redis's clock is off by a few ms, more on a loaded machine) or `afterMs`
 * after it (the report is sent 5 ms after the second, later when the process is busy) may be in
 * either second; every other call must be in its own. Returns the problems found, in words (none: `[]`).
 */
export function compareSeconds(
  did: readonly CallRecord[],
  reported: readonly ReportedSecond[],
  slack: { readonly beforeMs: number; readonly afterMs: number } = { beforeMs: 100, afterMs: 300 },
): string[] {
  const problems: string[] = [];
  const count = (results: readonly string[]) => did.filter(([, r]) => results.includes(r)).length;
  const sum = (f: (s: ReportedSecond) => number) => Math.round(reported.reduce((a, s) => a + f(s), 0));
  const totals = {
    calls: [count(["success", "failure", "rejected"]), sum((s) => s.calls)],
    failures: [count(["failure"]), sum((s) => s.errors)],
    rejected: [count(["rejected"]), sum((s) => s.rejected)],
  } as const;
  for (const [what, [expected, seen]] of Object.entries(totals)) {
    if (expected !== seen) problems.push(`${what}: did ${expected}, reported ${seen}`);
  }
  // Cumulatively, at each reported second's end: at least the calls that ended well before it,
  // at most those that ended by just after it.
  const sorted = [...reported].sort((a, b) => a.t - b.t);
  let sumSoFar = 0;
  for (const second of sorted) {
    sumSoFar += Math.round(second.calls);
    const surely = did.filter(([, , at]) => at < second.t - slack.beforeMs).length;
    const possibly = did.filter(([, , at]) => at < second.t + slack.afterMs).length;
    if (sumSoFar < surely || sumSoFar > possibly)
      problems.push(`by ${new Date(second.t).toISOString()}: reported ${sumSoFar} calls, did ${surely} to ${possibly}`);
  }
  return problems;
}
