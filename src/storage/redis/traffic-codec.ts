/**
 * The messages of the fleet's telemetry (see docs/telemetry.md): a watcher's announcement, and a
 * process's report of one interval, JSON on the telemetry channels. Decoding checks every field:
 * a message from another version, or anything else on the channel, decodes to `undefined`.
 * @module
 */
import { LATENCY_BUCKETS, OUTCOMES, type TrafficSample } from "../../core/traffic.js";

/** The version of the messages; a message of another version is ignored. */
export const TRAFFIC_VERSION = 1;

/** A watcher's announcement: it watches until `until` (Redis time, epoch ms). */
export interface Announcement {
  /** The watcher's id. */
  readonly watcher: string;
  /** Until when it watches (Redis time, epoch ms); it renews before. */
  readonly until: number;
}

/** One circuit of a report. */
export interface ReportedCircuit {
  readonly name: string;
  readonly sample: TrafficSample;
  /** Whether the process is open for itself on this circuit (a `quorum` not met fleet-wide). */
  readonly openForItself: boolean;
}

/** A process's report of one interval. */
export interface TrafficReport {
  /** The process (`processName` of its storage). */
  readonly process: string;
  /** When the interval ended (Redis time, epoch ms, a whole second). */
  readonly end: number;
  /** How long the interval lasted (ms). */
  readonly intervalMs: number;
  /** The circuits that counted calls in the interval, or that the process is open for itself on. */
  readonly circuits: readonly ReportedCircuit[];
}

/** The JSON of an announcement. */
export function encodeAnnouncement(a: Announcement): string {
  return JSON.stringify({ v: TRAFFIC_VERSION, w: a.watcher, u: a.until });
}

/** An announcement from its JSON, or `undefined`. */
export function decodeAnnouncement(message: string): Announcement | undefined {
  const o = parse(message);
  if (o === undefined || typeof o.w !== "string" || !isTime(o.u)) return undefined;
  return { watcher: o.w, until: o.u };
}

/** The JSON of a report: circuits as `[name, outcomes, latency, openForItself (0|1)]`. */
export function encodeReport(r: TrafficReport): string {
  return JSON.stringify({
    v: TRAFFIC_VERSION,
    p: r.process,
    t: r.end,
    i: r.intervalMs,
    c: r.circuits.map((c) => [c.name, c.sample.outcomes, c.sample.latency, c.openForItself ? 1 : 0]),
  });
}

/** A report from its JSON, or `undefined`. */
export function decodeReport(message: string): TrafficReport | undefined {
  const o = parse(message);
  if (o === undefined || typeof o.p !== "string" || !isTime(o.t) || !isCount(o.i) || o.i === 0) return undefined;
  if (!Array.isArray(o.c)) return undefined;
  const circuits: ReportedCircuit[] = [];
  for (const entry of o.c as unknown[]) {
    const circuit = decodeCircuit(entry);
    if (circuit === undefined) return undefined;
    circuits.push(circuit);
  }
  return { process: o.p, end: o.t, intervalMs: o.i, circuits };
}

function decodeCircuit(entry: unknown): ReportedCircuit | undefined {
  if (!Array.isArray(entry) || entry.length !== 4) return undefined;
  const [name, outcomes, latency, open] = entry as unknown[];
  if (typeof name !== "string" || name === "") return undefined;
  if (!Array.isArray(outcomes) || outcomes.length !== OUTCOMES.length || !outcomes.every(isCount)) return undefined;
  if (!Array.isArray(latency)) return undefined;
  const buckets: [number, number][] = [];
  for (const pair of latency as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) return undefined;
    const [bucket, n] = pair as unknown[];
    if (!isCount(bucket) || bucket >= LATENCY_BUCKETS || !isCount(n)) return undefined;
    buckets.push([bucket, n]);
  }
  if (open !== 0 && open !== 1) return undefined;
  return { name, sample: { outcomes: outcomes, latency: buckets }, openForItself: open === 1 };
}

function parse(message: string): Record<string, unknown> | undefined {
  if (!message.startsWith("{")) return undefined;
  let o: unknown;
  try {
    o = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null || (o as { v?: unknown }).v !== TRAFFIC_VERSION) return undefined;
  return o as Record<string, unknown>;
}

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
const isTime = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0;
