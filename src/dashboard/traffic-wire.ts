/**
 * The fleet's traffic on its way from the dashboard's server to its page: the compact JSON of the
 * `traffic` event (the latest second, once a second, serialised once for every stream) and of the
 * `traffic-history` event (the histories the server holds, once, when a page connects), and their
 * decoding on the page. Plain data and pure functions (no DOM, no Node), shared by both sides.
 *
 * Compact because a page receives it every second:
 * - only the circuits that carried calls in the latest second (or that a process is open for
 *   itself on); a circuit left out had none, and the page counts 0 for it;
 * - at most `maxCircuits` of them (those with errors or rejections first, then the busiest), the
 *   number left out said in `cut`; at most `maxProcesses` processes each (the busiest, and always
 *   the one with the highest error rate), the processes' names once per event in a table;
 * - rates rounded (one decimal under 100 a second, whole numbers above), error rates in per mille,
 *   latencies as the index of their bucket (`core/traffic.ts`: the watcher's percentiles are the
 *   upper bounds of those buckets, so nothing is lost), `-1` for none; a process's trailing zeros
 *   (no error, no rejection, not open for itself) left out.
 * @module
 */
import { bucketOf, upperBoundOf } from "../core/traffic.js";
import type { CircuitTraffic, TrafficPoint, TrafficSnapshot } from "../storage/redis/traffic-watch.js";

/**
 * `[process (index in the event's table), calls/s, p99 bucket or -1, error ‰, rejected/s, open for
 * itself 0|1]`, its trailing zeros left out: a healthy process is `[0, 40, 31]`.
 */
export type WireProcess = [number, number, number, number?, number?, (0 | 1)?];

/**
 * `[name, calls/s, errors/s, rejected/s, error ‰, p50 bucket or -1, p99 bucket or -1, processes
 * reporting it, the busiest processes (and the worst)]`
 */
export type WireCircuit = [string, number, number, number, number, number, number, number, WireProcess[]];

/** The `traffic` event: the latest complete second of the fleet. */
export interface WireFrame {
  /** Redis's time when sent (epoch ms), as every event carries it. */
  readonly now: number;
  /** The end of the second (Redis time, epoch ms). */
  readonly t: number;
  /** Processes that reported in that second. */
  readonly n: number;
  /** The fleet: `[calls/s, errors/s, rejected/s, error ‰]`. */
  readonly tot: [number, number, number, number];
  /** The processes' names, referred to by index in `c`. */
  readonly p: string[];
  readonly c: WireCircuit[];
  /** Circuits with calls in that second left out (past `maxCircuits`). */
  readonly cut: number;
}

/**
 * A series, one value a second, the last at the history's `t`: `[calls/s[], errors/s[],
 * rejected/s[], error ‰[], p50 bucket[], p99 bucket[]]` (the fleet's has no latencies: `[]`).
 */
export type WireSeries = [number[], number[], number[], number[], number[], number[]];

/** The `traffic-history` event: what the server kept, for a page that connects. */
export interface WireHistory {
  readonly now: number;
  /** The end of the last second of every series (Redis time, epoch ms). */
  readonly t: number;
  /** The fleet's totals, and the processes reporting, one a second: `[series, processes[]]`. */
  readonly tot: [WireSeries, number[]];
  /** Each circuit with calls in the history kept (at most `maxCircuits`, the busiest). */
  readonly c: [string, WireSeries][];
}

/** The bounds of an event. */
export interface WireLimits {
  /** Circuits at most in a `traffic` or `traffic-history` event. Default 1000. */
  readonly maxCircuits?: number;
  /** Processes at most per circuit in a `traffic` event. Default 8. */
  readonly maxProcesses?: number;
}

export const DEFAULT_MAX_CIRCUITS = 1000;
export const DEFAULT_MAX_PROCESSES = 8;

/** A rate as sent: one decimal under 100 a second, a whole number above. */
export const roundRate = (perSecond: number): number =>
  perSecond >= 100 ? Math.round(perSecond) : Math.round(perSecond * 10) / 10;

/** An error rate (0 to 1) in per mille. */
export const perMille = (rate: number): number => Math.round(rate * 1000);

/** A latency (ms, the upper bound of its bucket) as its bucket's index, `-1` for none. */
export const bucketIndex = (ms: number | null): number => (ms === null ? -1 : bucketOf(ms));

/** A bucket's index as its latency (ms, the bucket's upper bound), `null` for `-1`. */
export const latencyOf = (bucket: number): number | null => (bucket < 0 ? null : upperBoundOf(bucket));

/** Whether a circuit's latest second is worth sending: calls, or a process open for itself. */
const active = (c: CircuitTraffic): boolean => c.calls > 0 || c.processes.some((p) => p.openForItself);

/** Circuits with errors or rejections first, then the busiest. */
const byConcern = (a: CircuitTraffic, b: CircuitTraffic): number =>
  Number(b.errors + b.rejected > 0) - Number(a.errors + a.rejected > 0) || b.calls - a.calls;

/**
 * The data of the `traffic` event for `snapshot` (serialise it once for every stream).
 *
 * @example
 * ```ts
 * const frame = `event: traffic\ndata: ${JSON.stringify(encodeFrame(snapshot, now))}\n\n`;
 * ```
 */
export function encodeFrame(snapshot: TrafficSnapshot, now: number, limits: WireLimits = {}): WireFrame {
  const maxCircuits = limits.maxCircuits ?? DEFAULT_MAX_CIRCUITS;
  const maxProcesses = Math.max(1, limits.maxProcesses ?? DEFAULT_MAX_PROCESSES);
  const busy = snapshot.circuits.filter(active);
  const sent = busy.length > maxCircuits ? [...busy].sort(byConcern).slice(0, maxCircuits) : busy;
  const names: string[] = [];
  const indexOf = new Map<string, number>();
  const processIndex = (name: string): number => {
    let index = indexOf.get(name);
    if (index === undefined) {
      index = names.length;
      names.push(name);
      indexOf.set(name, index);
    }
    return index;
  };
  const circuits = sent.map((c): WireCircuit => {
    // The busiest, and the one with the highest error rate (the one to see) even if it is quiet.
    let kept = c.processes.slice(0, maxProcesses);
    const worst = c.processes.reduce<(typeof c.processes)[number] | undefined>(
      (w, p) => (w === undefined || p.errorRate > w.errorRate ? p : w),
      undefined,
    );
    if (worst !== undefined && worst.errorRate > 0 && !kept.includes(worst))
      kept = [...kept.slice(0, maxProcesses - 1), worst];
    for (const p of c.processes) if (p.openForItself && !kept.includes(p) && kept.length < maxProcesses) kept.push(p);
    return [
      c.name,
      roundRate(c.calls),
      roundRate(c.errors),
      roundRate(c.rejected),
      perMille(c.errorRate),
      bucketIndex(c.p50),
      bucketIndex(c.p99),
      c.processes.length,
      kept.map((p): WireProcess => {
        const wire: WireProcess = [
          processIndex(p.process),
          roundRate(p.calls),
          bucketIndex(p.p99),
          perMille(p.errorRate),
          roundRate(p.rejected),
          p.openForItself ? 1 : 0,
        ];
        while (wire.length > 3 && wire[wire.length - 1] === 0) wire.pop();
        return wire;
      }),
    ];
  });
  const { calls, errors, rejected, errorRate } = snapshot.totals;
  return {
    now,
    t: snapshot.t,
    n: snapshot.processes,
    tot: [roundRate(calls), roundRate(errors), roundRate(rejected), perMille(errorRate)],
    p: names,
    c: circuits,
    cut: busy.length - sent.length,
  };
}

/** One second of the fleet's totals, as the server keeps them for the pages that connect. */
export interface TotalsPoint {
  readonly t: number;
  readonly calls: number;
  readonly errors: number;
  readonly rejected: number;
  readonly errorRate: number;
  readonly processes: number;
}

/** The series of `points` (the latencies left empty without `latency`). */
function seriesOf(points: readonly Omit<TrafficPoint, "t">[], latency: boolean): WireSeries {
  return [
    points.map((p) => roundRate(p.calls)),
    points.map((p) => roundRate(p.errors)),
    points.map((p) => roundRate(p.rejected)),
    points.map((p) => perMille(p.errorRate)),
    latency ? points.map((p) => bucketIndex(p.p50)) : [],
    latency ? points.map((p) => bucketIndex(p.p99)) : [],
  ];
}

/**
 * The data of the `traffic-history` event: every circuit's history that `snapshot` holds (at most
 * `maxCircuits`, the busiest), and the fleet's `totals` (oldest first), each ending at `snapshot.t`.
 */
export function encodeHistory(
  snapshot: TrafficSnapshot,
  totals: readonly TotalsPoint[],
  now: number,
  limits: WireLimits = {},
): WireHistory {
  const maxCircuits = limits.maxCircuits ?? DEFAULT_MAX_CIRCUITS;
  const kept = totals.filter((p) => p.t <= snapshot.t);
  return {
    now,
    t: snapshot.t,
    tot: [
      seriesOf(
        kept.map((p) => ({ ...p, p50: null, p99: null })),
        false,
      ),
      kept.map((p) => p.processes),
    ],
    c: snapshot.circuits.slice(0, maxCircuits).map((c) => [c.name, seriesOf(c.history, true)]),
  };
}

/** One process's share of a circuit's latest second, on the page. */
export interface LatestProcess {
  readonly process: string;
  readonly calls: number;
  readonly rejected: number;
  /** 0 to 1. */
  readonly errorRate: number;
  /** ms, `null` when no call was timed. */
  readonly p99: number | null;
  readonly openForItself: boolean;
}

/** A circuit's latest second, on the page. */
export interface LatestCircuit {
  readonly name: string;
  readonly calls: number;
  readonly errors: number;
  readonly rejected: number;
  readonly errorRate: number;
  readonly p50: number | null;
  readonly p99: number | null;
  /** Processes that reported it (`processes` holds the busiest few, and the worst). */
  readonly processCount: number;
  readonly processes: readonly LatestProcess[];
}

/** The circuits of a `traffic` event, as the page reads them. */
export function decodeCircuits(frame: WireFrame): LatestCircuit[] {
  return frame.c.map(([name, calls, errors, rejected, errorMille, p50, p99, processCount, processes]) => ({
    name,
    calls,
    errors,
    rejected,
    errorRate: errorMille / 1000,
    p50: latencyOf(p50),
    p99: latencyOf(p99),
    processCount,
    processes: processes.map(([index, pCalls, pP99, pMille = 0, pRejected = 0, open = 0]) => ({
      process: frame.p[index] ?? `#${index}`,
      calls: pCalls,
      rejected: pRejected,
      errorRate: pMille / 1000,
      p99: latencyOf(pP99),
      openForItself: open === 1,
    })),
  }));
}
