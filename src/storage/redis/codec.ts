/**
 * Decoding what Redis answers: script replies and pub/sub messages, checked field by field so
 * that foreign or corrupt data becomes a clear error, never a wrong state.
 * @module
 */
import type { CircuitConfig, CircuitSnapshot, CircuitStateName } from "../../core/circuit.js";

/** A circuit's shared state and the version that orders it. */
export interface VersionedSnapshot {
  readonly snapshot: CircuitSnapshot;
  readonly version: number;
}

/** A script's answer: Redis time, the stored config, and the state before and after. */
export interface ScriptReply {
  readonly now: number;
  readonly config: CircuitConfig;
  readonly before: VersionedSnapshot;
  readonly after: VersionedSnapshot;
}

/** A state change published by some process. */
export interface StateMessage extends VersionedSnapshot {
  readonly name: string;
  readonly source: string;
}

/** Data under our keys that we cannot read. */
export class CorruptStateError extends Error {
  /** Stable error code. */
  readonly code = "PURGATORY_CORRUPT_STATE";
}
Object.defineProperty(CorruptStateError.prototype, "name", { value: "CorruptStateError" });

function number(text: unknown, what: string): number {
  const value = typeof text === "string" && text !== "" ? Number(text) : Number.NaN;
  if (!Number.isFinite(value)) throw new CorruptStateError(`${what} is not a number: ${String(text)}`);
  return value;
}

function state(text: unknown): CircuitStateName {
  if (text === "closed" || text === "opened" || text === "half-opened") return text;
  throw new CorruptStateError(`unknown circuit state ${String(text)}`);
}

/** Builds a snapshot from the six stored fields: state, generation, failures, openedAt, leases, version. */
export function toSnapshot(fields: readonly unknown[]): VersionedSnapshot {
  const [st, g, f, o, l, v] = fields;
  const generation = number(g, "generation");
  const failureCount = number(f, "failure count");
  const version = number(v, "version");
  const s = state(st);
  if (s === "closed") return { snapshot: { state: s, generation, failureCount }, version };
  const openedAt = number(o, "openedAt");
  if (s === "opened") return { snapshot: { state: s, generation, failureCount, openedAt }, version };
  const leases = typeof l === "string" && l !== "" ? l.split(",").map((x) => number(x, "probe lease")) : [];
  return { snapshot: { state: s, generation, failureCount, openedAt, probeLeases: leases }, version };
}

/** Decodes a script reply (16 strings, see scripts/prologue.lua). */
export function parseReply(raw: unknown): ScriptReply {
  if (!Array.isArray(raw) || raw.length !== 16) throw new CorruptStateError("unexpected script reply");
  return {
    now: number(raw[0], "time"),
    config: {
      threshold: number(raw[1], "threshold"),
      ttl: number(raw[2], "ttl") / 1000,
      halfOpenMaxCalls: number(raw[3], "halfOpenMaxCalls"),
    },
    before: toSnapshot(raw.slice(4, 10)),
    after: toSnapshot(raw.slice(10, 16)),
  };
}

/** Decodes a pub/sub message: `generation|state|failures|openedAt|leases|version|source|name`. */
export function parseMessage(message: string): StateMessage {
  const parts = message.split("|");
  if (parts.length < 8) throw new CorruptStateError(`unexpected message ${message.slice(0, 80)}`);
  const [g, st, f, o, l, v, source] = parts;
  const { snapshot, version } = toSnapshot([st, g, f, o, l, v]);
  return { snapshot, version, source: source ?? "", name: parts.slice(7).join("|") };
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
  if (a.state === "closed" || b.state === "closed") return true;
  if (!near(a.openedAt, b.openedAt)) return false;
  if (a.state === "opened" || b.state === "opened") return true;
  const [la, lb] = [a.probeLeases, b.probeLeases];
  return la.length === lb.length && la.every((x, i) => near(x, lb[i] ?? Number.NaN));
}
