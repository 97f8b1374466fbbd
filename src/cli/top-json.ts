/**
 * `purgatory top --json`: one snapshot of the fleet's traffic as a JSON object, the circuits in the
 * order the user picked (the same order as the live view's), rates rounded to thousandths.
 * @module
 */
import type { CircuitStateName } from "../core/circuit.js";
import type { TrafficSnapshot } from "../storage/redis/traffic-watch.js";
import type { TopSort } from "./args.js";
import { sortCircuits } from "./top-view.js";

/** A number rounded to thousandths (rates a second over intervals that are not exactly 1 s). */
const round = (n: number): number => Math.round(n * 1000) / 1000;
const roundOrNull = (n: number | null): number | null => (n === null ? null : round(n));

/** `top --json`: what it prints. */
export interface TopJson {
  /** The end of the second shown (Redis time, epoch ms); 0 when nobody reported. */
  readonly t: number;
  readonly prefix: string;
  readonly sort: TopSort;
  /** Processes that reported in that second. */
  readonly processes: number;
  readonly totals: {
    readonly calls: number;
    readonly errors: number;
    readonly rejected: number;
    readonly errorRate: number;
  };
  readonly circuits: readonly TopJsonCircuit[];
}

/** A circuit in `top --json`: rates a second, latencies in ms (`null`: no call timed). */
export interface TopJsonCircuit {
  readonly name: string;
  /** As Redis holds it; `null` when Redis holds no such circuit. */
  readonly state: CircuitStateName | null;
  readonly calls: number;
  readonly errors: number;
  readonly rejected: number;
  readonly errorRate: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly processes: readonly {
    readonly process: string;
    readonly calls: number;
    readonly errors: number;
    readonly rejected: number;
    readonly errorRate: number;
    readonly p50: number | null;
    readonly p99: number | null;
    readonly openForItself: boolean;
  }[];
}

/** The object `top --json` prints: the snapshot's circuits in the order of `sort`, at most `limit`. */
export function topJson(
  snapshot: TrafficSnapshot,
  states: ReadonlyMap<string, CircuitStateName>,
  sort: TopSort,
  limit: number | null,
  prefix: string,
): TopJson {
  const sorted = sortCircuits(snapshot.circuits, sort);
  const { calls, errors, rejected, errorRate } = snapshot.totals;
  return {
    t: snapshot.t,
    prefix,
    sort,
    processes: snapshot.processes,
    totals: { calls: round(calls), errors: round(errors), rejected: round(rejected), errorRate: round(errorRate) },
    circuits: sorted.slice(0, limit ?? sorted.length).map((c) => ({
      name: c.name,
      state: states.get(c.name) ?? null,
      calls: round(c.calls),
      errors: round(c.errors),
      rejected: round(c.rejected),
      errorRate: round(c.errorRate),
      p50: roundOrNull(c.p50),
      p99: roundOrNull(c.p99),
      processes: c.processes.map((p) => ({
        process: p.process,
        calls: round(p.calls),
        errors: round(p.errors),
        rejected: round(p.rejected),
        errorRate: round(p.errorRate),
        p50: roundOrNull(p.p50),
        p99: roundOrNull(p.p99),
        openForItself: p.openForItself,
      })),
    })),
  };
}
