/**
 * Decoding what Redis answers (script replies and pub/sub messages) and encoding a circuit's
 * config for the scripts, checked field by field so that foreign or corrupt data becomes a clear
 * error, never a wrong state.
 * @module
 */
import type { CircuitConfig, CircuitSnapshot, CircuitStateName, ProbeLease } from "../../core/circuit.js";
import { ttlMs } from "../../core/machine.js";
import { hasQuorum } from "../../core/quorum.js";
import type { CallCounts } from "../../core/window.js";

/** A circuit's shared state: its incarnation, config, snapshot (in Redis generations) and version. */
export interface SharedState {
  /** Made when the key was created; another one means the key was lost and made again. */
  readonly incarnation: string;
  /** The circuit's config, as stored with it (fleet-wide). */
  readonly config: CircuitConfig;
  readonly snapshot: CircuitSnapshot;
  /** Orders the states of one incarnation (Redis time in µs of the write). */
  readonly version: number;
}

/**
 * What a script counted for a quorum (see `core/quorum`): the active callers, the distinct
 * processes backing a trip (reporters of the streak or window, and processes open for
 * themselves), the effective quorum, and whether the reporters met it.
 */
export interface QuorumCount {
  readonly callers: number;
  readonly reporters: number;
  readonly need: number;
  readonly met: boolean;
}

/** A script's answer: Redis time, the window's totals, and the state before and after. */
export interface ScriptReply {
  readonly now: number;
  /** Whether this script found no key and wrote a new incarnation. */
  readonly created: boolean;
  /** The live window's totals after the script, when the circuit has a rate rule. */
  readonly counts: CallCounts | null;
  readonly before: SharedState;
  readonly after: SharedState;
  /** With a quorum: what the script counted (as it decided a trip, or as it stands); else `null`. */
  readonly quorum: QuorumCount | null;
}

/** A state change published by some process. */
export interface StateMessage extends SharedState {
  readonly name: string;
  /** The instance id of the process whose script wrote it. */
  readonly source: string;
}

/** Data under our keys that we cannot read. */
export class CorruptStateError extends Error {
  /** Stable error code. */
  readonly code = "PURGATORY_CORRUPT_STATE";
}
Object.defineProperty(CorruptStateError.prototype, "name", { value: "CorruptStateError" });

function number(text: unknown, what: string): number {
  const value = typeof text === "string" && text !== "" ? Number(text) : typeof text === "number" ? text : Number.NaN;
  if (!Number.isFinite(value)) throw new CorruptStateError(`${what} is not a number: ${String(text)}`);
  return value;
}

const STATES: readonly CircuitStateName[] = ["closed", "opened", "half-opened", "isolated", "disabled"];

function state(text: unknown): CircuitStateName {
  const found = STATES.find((s) => s === text);
  if (found === undefined) throw new CorruptStateError(`unknown circuit state ${String(text)}`);
  return found;
}

function leases(text: unknown): ProbeLease[] {
  if (typeof text !== "string" || text === "") return [];
  return text.split(",").map((pair) => {
    const [token, expiresAt] = pair.split(":");
    return { token: number(token, "probe token"), expiresAt: number(expiresAt, "probe lease") };
  });
}

/** Milliseconds rounded to the microsecond, as `ttlMs` rounds them. */
const ms = (seconds: number): number => Math.round(seconds * 1e6) / 1e3;

/**
 * The config as the scripts read it: `{"th","ttl","hm","fr":{"r","m","w"},"sc":{"d","r"},"bo":{"m","x","j"},"q":{"p","f"}}`,
 * times in ms; a quorum of one process (the default) is left out. The same config always gives the
 * same text (the scripts compare it).
 */
export function encodeConfig(config: CircuitConfig): string {
  const { failureRate, slowCall, backoff, quorum } = config;
  return JSON.stringify({
    th: config.threshold,
    ttl: ttlMs(config),
    hm: config.halfOpenMaxCalls,
    ...(failureRate === undefined
      ? {}
      : { fr: { r: failureRate.rate, m: failureRate.minimumCalls, w: ms(failureRate.window) } }),
    ...(slowCall === undefined ? {} : { sc: { d: ms(slowCall.duration), r: slowCall.rate } }),
    ...(backoff === undefined ? {} : { bo: { m: backoff.multiplier, x: ms(backoff.maxTtl), j: backoff.jitter } }),
    ...(quorum === undefined || !hasQuorum(config)
      ? {}
      : { q: { p: quorum.processes, ...(quorum.fraction === undefined ? {} : { f: quorum.fraction }) } }),
  });
}

type Json = Record<string, unknown>;
const object = (value: unknown, what: string): Json => {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new CorruptStateError(`${what} is not an object`);
  return value as Json;
};

/** The configs decoded last, by text: replies and messages carry the same few texts again and again. */
const decoded = new Map<string, CircuitConfig>();

/** Decodes `encodeConfig`'s text. */
export function decodeConfig(text: unknown): CircuitConfig {
  const known = typeof text === "string" ? decoded.get(text) : undefined;
  if (known !== undefined) return known;
  const config = parseConfig(text);
  if (decoded.size >= 64) decoded.delete(decoded.keys().next().value as string);
  decoded.set(text as string, config);
  return config;
}

function parseConfig(text: unknown): CircuitConfig {
  let json: Json;
  try {
    json = object(JSON.parse(String(text)), "config");
  } catch (error) {
    throw error instanceof CorruptStateError
      ? error
      : new CorruptStateError(`unreadable config ${String(text).slice(0, 80)}`);
  }
  const config: { -readonly [K in keyof CircuitConfig]: CircuitConfig[K] } = {
    threshold: number(json.th, "threshold"),
    ttl: number(json.ttl, "ttl") / 1000,
    halfOpenMaxCalls: number(json.hm, "halfOpenMaxCalls"),
  };
  if (json.fr !== undefined) {
    const fr = object(json.fr, "failureRate");
    config.failureRate = {
      rate: number(fr.r, "failureRate.rate"),
      minimumCalls: number(fr.m, "failureRate.minimumCalls"),
      window: number(fr.w, "failureRate.window") / 1000,
    };
  }
  if (json.sc !== undefined) {
    const sc = object(json.sc, "slowCall");
    config.slowCall = { duration: number(sc.d, "slowCall.duration") / 1000, rate: number(sc.r, "slowCall.rate") };
  }
  if (json.bo !== undefined) {
    const bo = object(json.bo, "backoff");
    config.backoff = {
      multiplier: number(bo.m, "backoff.multiplier"),
      maxTtl: number(bo.x, "backoff.maxTtl") / 1000,
      jitter: number(bo.j, "backoff.jitter"),
    };
  }
  if (json.q !== undefined) {
    const q = object(json.q, "quorum");
    config.quorum =
      q.f === undefined
        ? { processes: number(q.p, "quorum.processes") }
        : { processes: number(q.p, "quorum.processes"), fraction: number(q.f, "quorum.fraction") };
  }
  return config;
}

/**
 * Builds a shared state from a config and the ten stored fields: incarnation, state, generation,
 * failures, openedAt, retryAt, openings, isolated since, leases, version.
 */
export function toSharedState(config: CircuitConfig, fields: readonly unknown[]): SharedState {
  const [i, st, g, f, o, r, n, s, l, v] = fields;
  if (typeof i !== "string" || i === "") throw new CorruptStateError(`no incarnation: ${String(i)}`);
  const generation = number(g, "generation");
  const failureCount = number(f, "failure count");
  const version = number(v, "version");
  const shared = (snapshot: CircuitSnapshot): SharedState => ({ incarnation: i, config, snapshot, version });
  switch (state(st)) {
    case "closed":
      return shared({ state: "closed", generation, failureCount });
    case "disabled":
      return shared({ state: "disabled", generation, failureCount });
    case "isolated":
      return shared({ state: "isolated", generation, failureCount, since: number(s, "isolated since") });
    case "opened":
      return shared({
        state: "opened",
        generation,
        failureCount,
        openedAt: number(o, "openedAt"),
        retryAt: number(r, "retryAt"),
        openings: number(n, "openings"),
      });
    case "half-opened":
      return shared({
        state: "half-opened",
        generation,
        failureCount,
        openedAt: number(o, "openedAt"),
        openings: number(n, "openings"),
        probeLeases: leases(l),
      });
  }
}

function counts(text: unknown): CallCounts | null {
  if (typeof text !== "string" || text === "") return null;
  const [calls, failures, slow] = text.split(":");
  return {
    calls: number(calls, "window calls"),
    failures: number(failures, "window failures"),
    slow: number(slow, "window slow calls"),
  };
}

function quorumCount(text: unknown): QuorumCount | null {
  if (typeof text !== "string" || text === "") return null;
  const [callers, reporters, need, met] = text.split(":");
  return {
    callers: number(callers, "quorum callers"),
    reporters: number(reporters, "quorum reporters"),
    need: number(need, "quorum need"),
    met: met === "1",
  };
}

/** Decodes a script reply (26 strings, see scripts/prologue.lua). */
export function parseReply(raw: unknown): ScriptReply {
  if (!Array.isArray(raw) || raw.length !== 26) throw new CorruptStateError("unexpected script reply");
  const config = decodeConfig(raw[2]);
  return {
    now: number(raw[0], "time"),
    created: raw[1] === "1",
    counts: counts(raw[4]),
    before: toSharedState(raw[3] === "" ? config : decodeConfig(raw[3]), raw.slice(5, 15)),
    after: toSharedState(config, raw.slice(15, 25)),
    quorum: quorumCount(raw[25]),
  };
}

/**
 * Decodes a message: `config|incarnation|state|generation|failures|openedAt|retryAt|openings|since|leases|version|source|name`.
 */
export function parseMessage(message: string): StateMessage {
  const parts = message.split("|");
  if (parts.length < 13) throw new CorruptStateError(`unexpected message ${message.slice(0, 80)}`);
  const [cfg, i, st, g, f, o, r, n, s, l, v, source] = parts;
  return {
    ...toSharedState(decodeConfig(cfg), [i, st, g, f, o, r, n, s, l, v]),
    source: source ?? "",
    name: parts.slice(12).join("|"),
  };
}

/** The `source` field of a message (the writer's instance id), read without decoding the rest. */
export function messageSource(message: string): string {
  let start = 0;
  // The source is the 12th field: the config before it holds no `|`, the name after it may.
  for (let field = 0; field < 11; field++) {
    start = message.indexOf("|", start) + 1;
    if (start === 0) return "";
  }
  const end = message.indexOf("|", start);
  return end === -1 ? "" : message.slice(start, end);
}

/** Whether a command failed because of what Redis holds or answered, not because it is away. */
export const isReplyError = (error: unknown): boolean =>
  error instanceof CorruptStateError ||
  (error instanceof Error &&
    (error.name === "ReplyError" || /^(PURGATORY_CORRUPT|WRONGTYPE|ERR )/.test(error.message)));

/**
 * Whether a script left the state the core predicted. Times may differ by the float rounding of
 * ttl (seconds in JavaScript, milliseconds in Lua), so they compare within 1 ms.
 */
export function sameSnapshot(a: CircuitSnapshot, b: CircuitSnapshot): boolean {
  const near = (x: number, y: number) => Math.abs(x - y) < 1;
  if (a.state !== b.state || a.generation !== b.generation || a.failureCount !== b.failureCount) return false;
  switch (a.state) {
    case "closed":
    case "disabled":
      return true;
    case "isolated":
      return b.state === "isolated" && near(a.since, b.since);
    case "opened":
      return (
        b.state === "opened" && near(a.openedAt, b.openedAt) && near(a.retryAt, b.retryAt) && a.openings === b.openings
      );
    case "half-opened":
      return (
        b.state === "half-opened" &&
        near(a.openedAt, b.openedAt) &&
        a.openings === b.openings &&
        a.probeLeases.length === b.probeLeases.length &&
        a.probeLeases.every(
          (x, i) => x.token === b.probeLeases[i]?.token && near(x.expiresAt, b.probeLeases[i].expiresAt),
        )
      );
  }
}
