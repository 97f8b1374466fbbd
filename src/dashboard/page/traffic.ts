/**
 * The page's own record of the fleet's traffic: the latest second of each circuit, and one point
 * a second of each circuit and of the fleet over the last `HISTORY_SECONDS`, filled from the
 * server's `traffic-history` when the page connects, then from each `traffic` event (a circuit
 * missing from one had no call that second). Plain data (no DOM), tested without a browser.
 * @module
 */
import {
  decodeCircuits,
  latencyOf,
  type LatestCircuit,
  type WireFrame,
  type WireHistory,
  type WireSeries,
} from "../traffic-wire.js";

/** Seconds of history kept (and drawn). */
export const HISTORY_SECONDS = 300;

/** One value a second, oldest first, the last at the store's `t`. */
export interface Series {
  readonly calls: number[];
  readonly errors: number[];
  readonly rejected: number[];
  /** 0 to 1. */
  readonly errorRate: number[];
  /** ms, `null` in a second without a timed call. */
  readonly p50: (number | null)[];
  readonly p99: (number | null)[];
}

/** The fleet's latest second. */
export interface Totals {
  readonly calls: number;
  readonly errors: number;
  readonly rejected: number;
  readonly errorRate: number;
  /** Processes reporting. */
  readonly processes: number;
}

const ZERO: Totals = { calls: 0, errors: 0, rejected: 0, errorRate: 0, processes: 0 };

const emptySeries = (): Series => ({ calls: [], errors: [], rejected: [], errorRate: [], p50: [], p99: [] });

/** Adds one point to `series` (and drops the oldest past `HISTORY_SECONDS`). */
function push(series: Series, point: Omit<LatestCircuit, "name" | "processCount" | "processes">): void {
  series.calls.push(point.calls);
  series.errors.push(point.errors);
  series.rejected.push(point.rejected);
  series.errorRate.push(point.errorRate);
  series.p50.push(point.p50);
  series.p99.push(point.p99);
  if (series.calls.length > HISTORY_SECONDS) {
    for (const values of Object.values(series) as unknown[][]) values.splice(0, values.length - HISTORY_SECONDS);
  }
}

const QUIET = { calls: 0, errors: 0, rejected: 0, errorRate: 0, p50: null, p99: null } as const;

/** A series from the wire (its values decoded). */
function seriesFrom(wire: WireSeries): Series {
  const [calls, errors, rejected, mille, p50, p99] = wire;
  const series: Series = {
    calls: calls.slice(-HISTORY_SECONDS),
    errors: errors.slice(-HISTORY_SECONDS),
    rejected: rejected.slice(-HISTORY_SECONDS),
    errorRate: mille.slice(-HISTORY_SECONDS).map((m) => m / 1000),
    p50: p50.slice(-HISTORY_SECONDS).map(latencyOf),
    p99: p99.slice(-HISTORY_SECONDS).map(latencyOf),
  };
  // The fleet's series has no latencies: as many `null`s as points.
  while (series.p50.length < series.calls.length) series.p50.unshift(null);
  while (series.p99.length < series.calls.length) series.p99.unshift(null);
  return series;
}

/** Whether a series had no call in any second it holds. */
const silent = (series: Series): boolean => series.calls.every((n) => n === 0);

/** What the page knows of the fleet's traffic. */
export class TrafficStore {
  /** The end of the latest second (Redis time, epoch ms); 0 before the first. */
  t = 0;
  /** The fleet's latest second. */
  totals: Totals = ZERO;
  /** Circuits with calls in the latest second left out by the server (past its bound). */
  cut = 0;
  /** The fleet's totals, one a second (latencies `null`). */
  fleet: Series = emptySeries();
  /** Processes reporting, one a second, as `fleet`. */
  processes: number[] = [];
  /** The latest second of each circuit that carried calls in it. */
  readonly latest = new Map<string, LatestCircuit>();
  /** Each circuit with calls in the history kept. */
  readonly series = new Map<string, Series>();

  /**
   * The server's histories, at a (re)connection: they replace the page's, unless the server has
   * none yet (it just started watching), or older ones than the page's.
   */
  applyHistory(history: WireHistory): void {
    if (history.t === 0 || history.t < this.t) return;
    this.t = history.t;
    this.series.clear();
    this.latest.clear();
    for (const [name, wire] of history.c) {
      const series = seriesFrom(wire);
      if (!silent(series)) this.series.set(name, series);
    }
    const [fleet, processes] = history.tot;
    this.fleet = seriesFrom(fleet);
    this.processes = processes.slice(-HISTORY_SECONDS);
    const last = this.fleet.calls.length - 1;
    this.totals =
      last < 0
        ? ZERO
        : {
            calls: this.fleet.calls[last] ?? 0,
            errors: this.fleet.errors[last] ?? 0,
            rejected: this.fleet.rejected[last] ?? 0,
            errorRate: this.fleet.errorRate[last] ?? 0,
            processes: this.processes[last] ?? 0,
          };
    // The latest second of each circuit, from its history (without its processes: the next
    // event brings them, within a second).
    for (const [name, series] of this.series) {
      const i = series.calls.length - 1;
      const calls = series.calls[i] ?? 0;
      if (calls === 0) continue;
      this.latest.set(name, {
        name,
        calls,
        errors: series.errors[i] ?? 0,
        rejected: series.rejected[i] ?? 0,
        errorRate: series.errorRate[i] ?? 0,
        p50: series.p50[i] ?? null,
        p99: series.p99[i] ?? null,
        processCount: 0,
        processes: [],
      });
    }
  }

  /** A `traffic` event: one more second (a repeated or older one changes nothing). */
  applyFrame(frame: WireFrame): void {
    if (frame.t <= this.t) return;
    // Seconds missed (the page was away) count 0, as on the server.
    const missed = this.t === 0 ? 0 : Math.min(HISTORY_SECONDS, Math.round((frame.t - this.t) / 1000) - 1);
    this.t = frame.t;
    const circuits = decodeCircuits(frame);
    this.latest.clear();
    for (const c of circuits) this.latest.set(c.name, c);
    for (const [name, series] of this.series) {
      for (let i = 0; i < missed; i++) push(series, QUIET);
      push(series, this.latest.get(name) ?? QUIET);
      if (silent(series)) this.series.delete(name);
    }
    for (const c of circuits) {
      if (this.series.has(c.name)) continue;
      const series = emptySeries();
      push(series, c);
      this.series.set(c.name, series);
    }
    const [calls, errors, rejected, mille] = frame.tot;
    this.totals = { calls, errors, rejected, errorRate: mille / 1000, processes: frame.n };
    for (let i = 0; i < missed; i++) {
      push(this.fleet, QUIET);
      this.processes.push(0);
    }
    push(this.fleet, { ...this.totals, p50: null, p99: null });
    this.processes.push(frame.n);
    if (this.processes.length > HISTORY_SECONDS) this.processes.splice(0, this.processes.length - HISTORY_SECONDS);
    this.cut = frame.cut;
  }

  /**
   * A circuit's calls a second and error rate over its last `seconds` (for sorting: steadier
   * than one second): the error rate is its errors over the calls that were not rejected.
   */
  recent(name: string, seconds = 10): { readonly calls: number; readonly errorRate: number; readonly errors: number } {
    const series = this.series.get(name);
    if (series === undefined) return { calls: 0, errorRate: 0, errors: 0 };
    let calls = 0;
    let errors = 0;
    let rejected = 0;
    const from = Math.max(0, series.calls.length - seconds);
    for (let i = from; i < series.calls.length; i++) {
      calls += series.calls[i] ?? 0;
      errors += series.errors[i] ?? 0;
      rejected += series.rejected[i] ?? 0;
    }
    const ran = calls - rejected;
    return { calls: calls / seconds, errors: errors / seconds, errorRate: ran > 0 ? Math.min(1, errors / ran) : 0 };
  }
}
