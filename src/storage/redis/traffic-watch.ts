/**
 * A watcher's side of the fleet's telemetry (docs/telemetry.md), for the dashboard and
 * `purgatory top`: it announces itself, so that every process of the prefix reports its traffic
 * once a second, gathers the reports by interval and by circuit, and tells its owner what the
 * fleet carried, second by second.
 *
 * - **Announcing**: every `announceEveryMs` (2 s) one script adds the watcher to the watchers'
 *   sorted set until `watchForMs` (6 s) from now, refreshes the set's expiry, publishes the
 *   announcement on the watch channel and answers Redis's time (the clock intervals are read on).
 *   On `close()` the watcher leaves the set; the processes stop by themselves once its last
 *   announcement ran out.
 * - **Gathering**: reports arrive on the reports channel (subscribed like the circuits' channels:
 *   sharded on Redis 7, on the master of its slot in a Cluster). A process reports the interval
 *   that ended at each whole second of Redis's time; an interval is complete `graceMs` after its
 *   end, then folded into each circuit's history, and the owner hears of it.
 * - **Cost**: 0.5 command a second per watcher, plus one message a second per reporting process.
 * @module
 */
import {
  callsOf,
  errorRateOf,
  mergeSamples,
  OUTCOME_INDEX,
  percentileOf,
  type TrafficSample,
} from "../../core/traffic.js";
import type { RedisKeys } from "./keys.js";
import type { RedisClient, RedisSettings } from "./options.js";
import { Subscriptions } from "./subscriptions.js";
import { decodeReport, TRAFFIC_VERSION, type ReportedCircuit } from "./traffic-codec.js";
import { randomHex } from "./runtime.js";

/** One second of a circuit's traffic, fleet-wide. */
export interface TrafficPoint {
  /** When the interval ended (Redis time, epoch ms). */
  readonly t: number;
  /** Calls per second, every outcome. */
  readonly calls: number;
  /** Failures and timeouts per second. */
  readonly errors: number;
  /** Calls rejected by the circuit per second. */
  readonly rejected: number;
  /** Failures and timeouts among the calls that ran, 0 to 1. */
  readonly errorRate: number;
  /** Latency percentiles of the calls timed (ms, upper bound of their bucket), `null` with none. */
  readonly p50: number | null;
  readonly p99: number | null;
}

/** One process's share of a circuit's traffic in the latest interval it reported. */
export interface ProcessTraffic extends TrafficPoint {
  /** The process (`processName` of its storage, `host:pid` by default). */
  readonly process: string;
  /** Whether it is open for itself on this circuit (a `quorum` not met fleet-wide). */
  readonly openForItself: boolean;
}

/** A circuit's traffic: the latest complete second, the processes behind it, and its history. */
export interface CircuitTraffic extends TrafficPoint {
  readonly name: string;
  /** The processes that reported calls of it in the latest interval, busiest first. */
  readonly processes: readonly ProcessTraffic[];
  /** One point per second, oldest first, up to `historySeconds`; seconds without calls count 0. */
  readonly history: readonly TrafficPoint[];
}

/** The fleet's traffic as a watcher saw it at the end of an interval. */
export interface TrafficSnapshot {
  /** The end of the latest complete interval (Redis time, epoch ms); 0 before the first. */
  readonly t: number;
  /** Processes that reported in that interval. */
  readonly processes: number;
  /** The whole fleet's calls, errors and rejections per second, and its error rate. */
  readonly totals: Pick<TrafficPoint, "calls" | "errors" | "rejected" | "errorRate">;
  /** Every circuit with calls in the history kept, busiest first. */
  readonly circuits: readonly CircuitTraffic[];
}

/** Options of a `TrafficWatch`. */
export interface TrafficWatchOptions {
  /** Seconds of history kept per circuit. Default 300. */
  readonly historySeconds?: number;
  /** Milliseconds between two announcements. Default 2000. */
  readonly announceEveryMs?: number;
  /** Milliseconds an announcement lasts. Default 6000. */
  readonly watchForMs?: number;
  /** Milliseconds after its end an interval is complete. Default 1500. */
  readonly graceMs?: number;
}

/** What a watch did so far, for tests and benchmarks. */
export interface TrafficWatchStats {
  readonly reports: number;
  readonly announcements: number;
  /** Reports that arrived after their interval was complete (not counted). */
  readonly late: number;
}

/**
 * Announces watcher `ARGV[4]` for `ARGV[1]` ms from now (Redis's time) in the watchers' set
 * `KEYS[1]` (which expires `ARGV[2]` ms from now), drops the watchers whose time ran out,
 * publishes the announcement (`traffic-codec`'s, version `ARGV[5]`) on the watch channel `KEYS[2]`
 * with `ARGV[3]` (SPUBLISH or PUBLISH), and answers Redis's time.
 */
const ANNOUNCE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], untilMs, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call(ARGV[3], KEYS[2], '{"v":' .. ARGV[5] .. ',"w":"' .. ARGV[4] .. '","u":' .. untilMs .. '}')
return now`;

/**
 * Watcher `ARGV[2]` leaves the watchers' set `KEYS[1]` and says so on the watch channel `KEYS[2]`
 * (an announcement until 0, with `ARGV[1]`: SPUBLISH or PUBLISH, version `ARGV[3]`).
 */
const LEAVE = `redis.call('ZREM', KEYS[1], ARGV[2])
redis.call(ARGV[1], KEYS[2], '{"v":' .. ARGV[3] .. ',"w":"' .. ARGV[2] .. '","u":0}')
return 1`;

/** One circuit's history and latest processes. */
interface Track {
  readonly points: TrafficPoint[];
  processes: readonly ProcessTraffic[];
}

const EMPTY: TrafficSample = { outcomes: [0, 0, 0, 0, 0, 0], latency: [] };

/** The point of `sample` over `intervalMs`. */
function pointOf(t: number, sample: TrafficSample, intervalMs: number): TrafficPoint {
  const perSecond = 1000 / intervalMs;
  const o = sample.outcomes;
  return {
    t,
    calls: callsOf(sample) * perSecond,
    errors: ((o[OUTCOME_INDEX.failure] ?? 0) + (o[OUTCOME_INDEX.timeout] ?? 0)) * perSecond,
    rejected: (o[OUTCOME_INDEX.rejected] ?? 0) * perSecond,
    errorRate: errorRateOf(sample),
    p50: percentileOf(sample, 0.5),
    p99: percentileOf(sample, 0.99),
  };
}

/** A watcher of the fleet's traffic under one prefix. */
export class TrafficWatch {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #subscriptions: Subscriptions;
  readonly #historySeconds: number;
  readonly #announceEveryMs: number;
  readonly #watchForMs: number;
  readonly #graceMs: number;
  readonly #id = `watch-${randomHex(6)}`;
  /** Reports by interval end, not complete yet: process -> its circuits. */
  readonly #pending = new Map<number, Map<string, { intervalMs: number; circuits: readonly ReportedCircuit[] }>>();
  readonly #tracks = new Map<string, Track>();
  readonly #listeners = new Set<(snapshot: TrafficSnapshot) => void>();
  /** Redis's time minus this machine's (ms), measured by each announcement. */
  #offset = 0;
  #last: TrafficSnapshot = {
    t: 0,
    processes: 0,
    totals: { calls: 0, errors: 0, rejected: 0, errorRate: 0 },
    circuits: [],
  };
  /** The end of the latest interval folded. */
  #folded = 0;
  #announceTimer: ReturnType<typeof setInterval> | undefined;
  #foldTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #reports = 0;
  #announcements = 0;
  #late = 0;

  constructor(client: RedisClient, settings: RedisSettings, keys: RedisKeys, options: TrafficWatchOptions = {}) {
    this.#client = client;
    this.#keys = keys;
    this.#historySeconds = options.historySeconds ?? 300;
    this.#announceEveryMs = options.announceEveryMs ?? 2000;
    this.#watchForMs = options.watchForMs ?? 6000;
    this.#graceMs = options.graceMs ?? 1500;
    this.#subscriptions = new Subscriptions(settings, {
      message: (message) => this.#report(message),
      resubscribed: () => undefined,
      lost: () => undefined,
      refused: () => undefined,
    });
  }

  /** This watcher's id in the watchers' set. */
  get id(): string {
    return this.#id;
  }

  /** The latest snapshot. */
  snapshot(): TrafficSnapshot {
    return this.#last;
  }

  /** What it did so far. */
  stats(): TrafficWatchStats {
    return { reports: this.#reports, announcements: this.#announcements, late: this.#late };
  }

  /** Calls `listener` with each new snapshot (once a second while reports arrive); returns what stops it. */
  onUpdate(listener: (snapshot: TrafficSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Subscribes the reports channel, announces the watcher, and starts the timers. Rejects when
   * Redis cannot be reached at first; later failures are retried at the next announcement.
   */
  async start(): Promise<void> {
    await this.#subscriptions.connect(this.#client);
    await this.#subscriptions.add(this.#keys.telemetry.reports);
    await this.#announce();
    this.#announceTimer = setInterval(() => void this.#announce().catch(() => undefined), this.#announceEveryMs);
    this.#foldTimer = setInterval(() => this.#fold(), 250);
    this.#announceTimer.unref?.();
    this.#foldTimer.unref?.();
  }

  /** Stops watching: leaves the watchers' set and closes its subscriber connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#announceTimer);
    clearInterval(this.#foldTimer);
    const { watchers, watch } = this.#keys.telemetry;
    const publish = this.#subscriptions.sharded ? "SPUBLISH" : "PUBLISH";
    await this.#client.eval(LEAVE, 2, watchers, watch, publish, this.#id, TRAFFIC_VERSION).catch(() => undefined);
    await this.#subscriptions.close();
  }

  async #announce(): Promise<void> {
    if (this.#closed) return;
    const { watchers, watch } = this.#keys.telemetry;
    const publish = this.#subscriptions.sharded ? "SPUBLISH" : "PUBLISH";
    const sent = Date.now();
    const now = await this.#client.eval(
      ANNOUNCE,
      2,
      watchers,
      watch,
      this.#watchForMs,
      this.#watchForMs * 2,
      publish,
      this.#id,
      TRAFFIC_VERSION,
    );
    const received = Date.now();
    if (typeof now === "number") this.#offset = now - (sent + received) / 2;
    this.#announcements += 1;
  }

  #report(message: string): void {
    const report = decodeReport(message);
    if (report === undefined) return;
    this.#reports += 1;
    if (report.end <= this.#folded) {
      this.#late += 1;
      return;
    }
    let interval = this.#pending.get(report.end);
    if (interval === undefined) {
      interval = new Map();
      this.#pending.set(report.end, interval);
    }
    interval.set(report.process, { intervalMs: report.intervalMs, circuits: report.circuits });
  }

  /** Folds the intervals complete by now into the circuits' histories. */
  #fold(): void {
    const now = Date.now() + this.#offset;
    const ends = [...this.#pending.keys()].filter((end) => end + this.#graceMs <= now).sort((a, b) => a - b);
    for (const end of ends) {
      const interval = this.#pending.get(end);
      this.#pending.delete(end);
      if (interval !== undefined) this.#foldInterval(end, interval);
    }
    // A second nobody reported in (the fleet went quiet): every circuit's history goes on at 0.
    const complete = Math.floor((now - this.#graceMs) / 1000) * 1000;
    const quiet = this.#folded !== 0 && complete > this.#folded;
    if (quiet) this.#foldInterval(complete, new Map());
    if (ends.length > 0 || quiet) this.#publish();
  }

  #foldInterval(
    end: number,
    interval: Map<string, { intervalMs: number; circuits: readonly ReportedCircuit[] }>,
  ): void {
    const byCircuit = new Map<string, { samples: TrafficSample[]; processes: ProcessTraffic[] }>();
    for (const [process, { intervalMs, circuits }] of interval) {
      for (const { name, sample, openForItself } of circuits) {
        let entry = byCircuit.get(name);
        if (entry === undefined) {
          entry = { samples: [], processes: [] };
          byCircuit.set(name, entry);
        }
        // Rates per second over the process's own interval; the fleet's is their sum.
        const perSecond: TrafficSample = intervalMs === 1000 ? sample : scaled(sample, 1000 / intervalMs);
        entry.samples.push(perSecond);
        entry.processes.push({ ...pointOf(end, sample, intervalMs), process, openForItself });
      }
    }
    // Seconds missed since the previous fold count 0 for every circuit tracked.
    const first = this.#folded === 0 ? end : this.#folded + 1000;
    for (const [name, track] of this.#tracks) {
      for (let t = first; t < end; t += 1000) track.points.push(pointOf(t, EMPTY, 1000));
      if (!byCircuit.has(name)) {
        track.points.push(pointOf(end, EMPTY, 1000));
        track.processes = [];
      }
    }
    for (const [name, { samples, processes }] of byCircuit) {
      let track = this.#tracks.get(name);
      if (track === undefined) {
        track = { points: [], processes: [] };
        this.#tracks.set(name, track);
      }
      track.points.push(pointOf(end, mergeSamples(samples), 1000));
      track.processes = processes.sort((a, b) => b.calls - a.calls);
    }
    const oldest = end - (this.#historySeconds - 1) * 1000;
    for (const [name, track] of this.#tracks) {
      const drop = track.points.findIndex((p) => p.t >= oldest);
      if (drop > 0) track.points.splice(0, drop);
      if (track.points.every((p) => p.calls === 0)) this.#tracks.delete(name);
    }
    this.#folded = Math.max(this.#folded, end);
    this.#processes = interval.size;
    this.#fleet = pointOf(end, mergeSamples([...byCircuit.values()].flatMap((c) => c.samples)), 1000);
  }

  /** Processes that reported in the latest interval folded. */
  #processes = 0;
  /** The whole fleet in the latest interval folded. */
  #fleet: TrafficPoint = pointOf(0, EMPTY, 1000);

  #publish(): void {
    const circuits: CircuitTraffic[] = [];
    for (const [name, track] of this.#tracks) {
      const latest = track.points[track.points.length - 1];
      if (latest !== undefined)
        circuits.push({ ...latest, name, processes: track.processes, history: track.points.slice() });
    }
    circuits.sort((a, b) => b.calls - a.calls || a.name.localeCompare(b.name));
    const { calls, errors, rejected, errorRate } = this.#fleet;
    this.#last = {
      t: this.#folded,
      processes: this.#processes,
      totals: { calls, errors, rejected, errorRate },
      circuits,
    };
    for (const listener of this.#listeners) listener(this.#last);
  }
}

/** `sample` with every count multiplied by `factor` (a rate per second from another interval). */
function scaled(sample: TrafficSample, factor: number): TrafficSample {
  return {
    outcomes: sample.outcomes.map((n) => n * factor),
    latency: sample.latency.map(([bucket, n]) => [bucket, n * factor] as const),
  };
}
