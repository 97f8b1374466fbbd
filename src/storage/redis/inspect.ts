/**
 * The operators' reads: what Redis holds for the circuits of a prefix, read with plain commands
 * (no script, nothing registered). `RedisStorage.listCircuits` and `inspect` are these, for the
 * CLI and the dashboard.
 * @module
 */
import type { CircuitConfig, CircuitStateName } from "../../core/circuit.js";
import { ttlMs } from "../../core/machine.js";
import { effectiveQuorum, hasQuorum } from "../../core/quorum.js";
import { windowOf, type CallCounts } from "../../core/window.js";
import { decodeConfig, toSharedState, type SharedState } from "./codec.js";
import type { RedisKeys } from "./keys.js";
import type { RedisClient } from "./options.js";

/** The hash fields `inspect` reads (scripts/prologue.lua documents them). */
const INSPECTED = ["fmt", "i", "c", "st", "g", "f", "o", "r", "n", "s", "l", "w", "v"] as const;

/** A process open for itself, as operators see it. */
export interface LocalOpening {
  /** Its `processName` (default `"<hostname>:<pid>"`). */
  readonly process: string;
  /** When it may probe for itself again (epoch ms, Redis time); it stays listed for one ttl more. */
  readonly retryAt: number;
}

/** The fleet behind a circuit with a quorum, as operators see it. */
export interface QuorumInfo {
  /** The processes that called it within their caller horizon, by name (at most 1,000). */
  readonly activeCallers: readonly string[];
  /** The processes open for themselves (their failures alone met the trip rule), soonest first. */
  readonly openLocally: readonly LocalOpening[];
  /** The processes a fleet-wide opening needs now (`effectiveQuorum` of the active callers). */
  readonly effective: number;
}

/** What Redis holds for one circuit, as `RedisStorage.inspect` answers it. */
export interface CircuitInfo {
  /** The circuit's name. */
  readonly name: string;
  /** Its state as Redis holds it: the fleet's (a process open for itself shows in `quorum`). */
  readonly state: CircuitStateName;
  /** Consecutive failures counted fleet-wide. */
  readonly failureCount: number;
  /** When it opened (epoch ms, Redis time) while opened or half-opened; `null` otherwise. */
  readonly openedAt: number | null;
  /** When a probe may run (epoch ms) while opened; `null` otherwise. */
  readonly retryAt: number | null;
  /** Probes holding a lease now (half-opened). */
  readonly probes: number;
  /** Its config, as the fleet shares it (durations in seconds). */
  readonly config: CircuitConfig;
  /** The fleet's counts in the rate window (what the processes handed over), if it has one. */
  readonly window: CallCounts | null;
  /** When Redis last wrote it (epoch ms). */
  readonly updatedAt: number;
  /**
   * The id of this copy of its keys, made (Redis time + the creating process's id) when they were
   * created: a new one after Redis lost them.
   */
  readonly incarnation: string;
  /**
   * When this incarnation was created (epoch ms, Redis time): the circuit's first registration, or
   * its re-creation after Redis lost it (a restart without persistence, `FLUSHALL`, `keyTtl`);
   * `null` when its incarnation id does not tell.
   */
  readonly createdAt: number | null;
  /**
   * Transitions and probes since it was created: `0` for a circuit that never left `closed` (never
   * opened, isolated or disabled).
   */
  readonly generation: number;
  /** With a `quorum` in its config: its active callers and the processes open for themselves. */
  readonly quorum: QuorumInfo | null;
}

/**
 * Every circuit registered under `keys`' prefix, from the registry (a sorted set, no SCAN), sorted.
 * Read only: a name whose keys expired stays listed until `pruneRegistry` (and `inspectCircuits`
 * leaves it out, as it reads nothing for it).
 */
export async function listCircuits(client: RedisClient, keys: RedisKeys): Promise<string[]> {
  return (await client.zrange(keys.registry, 0, -1)).sort();
}

/** Drops from the registry the names whose keys are gone; resolves with them. */
export async function pruneRegistry(client: RedisClient, keys: RedisKeys): Promise<string[]> {
  const names = await client.zrange(keys.registry, 0, -1);
  const exists = await Promise.all(names.map((name) => client.exists(keys.circuit(name))));
  const gone = names.filter((_, i) => exists[i] === 0);
  if (gone.length > 0) await client.zrem(keys.registry, ...gone);
  return gone.sort();
}

/** What Redis holds for circuits `names` (a missing one is left out), read at once in one pipeline. */
export async function inspectCircuits(
  client: RedisClient,
  keys: RedisKeys,
  names: readonly string[],
): Promise<CircuitInfo[]> {
  return (await readCircuits(client, keys, names)).circuits;
}

/** A read of some circuits: what Redis holds for them, and Redis's time (epoch ms) when it was read. */
export interface CircuitsRead {
  readonly now: number;
  /** Redis's clock minus this machine's (ms), as the read's `TIME` measured it (within half its round trip). */
  readonly offset: number;
  readonly circuits: CircuitInfo[];
}

/**
 * What Redis holds for circuits `names` (a missing one is left out) and Redis's time: one `TIME`,
 * one `HMGET` per circuit and two `ZRANGEBYSCORE` per circuit with a quorum, sent at once (one
 * pipeline with auto-pipelining).
 */
export async function readCircuits(
  client: RedisClient,
  keys: RedisKeys,
  names: readonly string[],
): Promise<CircuitsRead> {
  const sent = Date.now();
  const [seconds, micros] = await client.time();
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const offset = now - (sent + Date.now()) / 2;
  if (names.length === 0) return { now, offset, circuits: [] };
  const rows = await Promise.all(names.map((name) => client.hmget(keys.circuit(name), ...INSPECTED)));
  const found = rows.flatMap((row, i) => {
    const [fmt, incarnation, config, ...fields] = row;
    if (fmt !== "3") return [];
    const [st, g, f, o, r, n, sn, l, w, v] = fields;
    const shared = toSharedState(decodeConfig(config), [incarnation, st, g, f, o, r, n, sn, l, v]);
    return [{ name: names[i] as string, shared, buckets: w ?? "" }];
  });
  const quorums = await Promise.all(
    found.map(({ name, shared }) =>
      hasQuorum(shared.config) ? quorumOf(client, keys, name, shared, now) : Promise.resolve(null),
    ),
  );
  return {
    now,
    offset,
    circuits: found.map(({ name, shared, buckets }, i) => infoOf(name, shared, buckets, now, quorums[i] ?? null)),
  };
}

/** The commands `readCircuits` sends for circuits like `circuits`, besides its one `TIME`. */
export const readCost = (circuit: Pick<CircuitInfo, "quorum">): number => (circuit.quorum === null ? 1 : 3);

/** When an incarnation was made (its id starts with Redis's `TIME` as seconds and 6 digits of µs). */
function createdAtOf(incarnation: string): number | null {
  const match = /^(\d+)(\d{6})-/.exec(incarnation);
  return match === null ? null : Number(match[1]) * 1000 + Math.floor(Number(match[2]) / 1000);
}

/** The active callers and processes open for themselves of a circuit with a quorum, at `now`. */
async function quorumOf(
  client: RedisClient,
  keys: RedisKeys,
  name: string,
  shared: SharedState,
  now: number,
): Promise<QuorumInfo> {
  const [, callersKey, , localKey] = keys.scriptKeys(name);
  const [callers, local] = await Promise.all([
    client.zrangebyscore(callersKey, `(${now}`, "+inf", "WITHSCORES"),
    client.zrangebyscore(localKey, `(${now}`, "+inf", "WITHSCORES"),
  ]);
  const activeCallers = callers.filter((_, i) => i % 2 === 0).sort();
  const openLocally: LocalOpening[] = [];
  for (let i = 0; i + 1 < local.length; i += 2) {
    openLocally.push({ process: local[i] as string, retryAt: Number(local[i + 1]) - ttlMs(shared.config) });
  }
  return { activeCallers, openLocally, effective: effectiveQuorum(shared.config.quorum, activeCallers.length) };
}

function infoOf(
  name: string,
  shared: SharedState,
  buckets: string,
  now: number,
  quorum: QuorumInfo | null,
): CircuitInfo {
  const s = shared.snapshot;
  const of = windowOf(shared.config);
  let window: CallCounts | null = null;
  if (of !== null) {
    const width = of.windowMs / 10;
    const oldest = Math.floor(now / width) * width - 9 * width;
    const counts = { calls: 0, failures: 0, slow: 0 };
    for (const bucket of buckets.split(",").filter((b) => b !== "")) {
      const [start, calls, failures, slow] = bucket.split(":").map(Number) as [number, number, number, number];
      if (start < oldest) continue;
      counts.calls += calls;
      counts.failures += failures;
      counts.slow += slow;
    }
    window = counts;
  }
  return {
    name,
    state: s.state,
    failureCount: s.failureCount,
    openedAt: s.state === "opened" || s.state === "half-opened" ? s.openedAt : null,
    retryAt: s.state === "opened" ? s.retryAt : null,
    probes: s.state === "half-opened" ? s.probeLeases.filter((lease) => lease.expiresAt > now).length : 0,
    config: shared.config,
    window,
    updatedAt: Math.floor(shared.version / 1000),
    incarnation: shared.incarnation,
    createdAt: createdAtOf(shared.incarnation),
    generation: s.generation,
    quorum,
  };
}
