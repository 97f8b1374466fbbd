/**
 * Decoding what Redis answers: script replies and pub/sub messages, checked field by field so
 * that foreign or corrupt data becomes a clear error, never a wrong state.
 * @module
 */
import type { CircuitConfig, CircuitSnapshot, CircuitStateName, ProbeLease } from "../../core/circuit.js";

/** A circuit's shared state: its incarnation, its snapshot (in Redis generations) and its version. */
export interface SharedState {
  /** Made when the key was created; another one means the key was lost and made again. */
  readonly incarnation: string;
  readonly snapshot: CircuitSnapshot;
  /** Orders the states of one incarnation (Redis time in µs of the write). */
  readonly version: number;
}

/** A script's answer: Redis time, the stored config, and the state before and after. */
export interface ScriptReply {
  readonly now: number;
  readonly config: CircuitConfig;
  /** Whether this script found no key and wrote a new incarnation. */
  readonly created: boolean;
  readonly before: SharedState;
  readonly after: SharedState;
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
  const value = typeof text === "string" && text !== "" ? Number(text) : Number.NaN;
  if (!Number.isFinite(value)) throw new CorruptStateError(`${what} is not a number: ${String(text)}`);
  return value;
}

function state(text: unknown): CircuitStateName {
  if (text === "closed" || text === "opened" || text === "half-opened") return text;
  throw new CorruptStateError(`unknown circuit state ${String(text)}`);
}

function leases(text: unknown): ProbeLease[] {
  if (typeof text !== "string" || text === "") return [];
  return text.split(",").map((pair) => {
    const [token, expiresAt] = pair.split(":");
    return { token: number(token, "probe token"), expiresAt: number(expiresAt, "probe lease") };
  });
}

/**
 * Builds a shared state from the seven stored fields: incarnation, state, generation, failures,
 * openedAt, leases, version.
 */
export function toSharedState(fields: readonly unknown[]): SharedState {
  const [i, st, g, f, o, l, v] = fields;
  if (typeof i !== "string" || i === "") throw new CorruptStateError(`no incarnation: ${String(i)}`);
  const generation = number(g, "generation");
  const failureCount = number(f, "failure count");
  const version = number(v, "version");
  const s = state(st);
  const shared = (snapshot: CircuitSnapshot): SharedState => ({ incarnation: i, snapshot, version });
  if (s === "closed") return shared({ state: s, generation, failureCount });
  const openedAt = number(o, "openedAt");
  if (s === "opened") return shared({ state: s, generation, failureCount, openedAt });
  return shared({ state: s, generation, failureCount, openedAt, probeLeases: leases(l) });
}

/** Decodes a script reply (19 strings, see scripts/prologue.lua). */
export function parseReply(raw: unknown): ScriptReply {
  if (!Array.isArray(raw) || raw.length !== 19) throw new CorruptStateError("unexpected script reply");
  return {
    now: number(raw[0], "time"),
    config: {
      threshold: number(raw[1], "threshold"),
      ttl: number(raw[2], "ttl") / 1000,
      halfOpenMaxCalls: number(raw[3], "halfOpenMaxCalls"),
    },
    created: raw[4] === "1",
    before: toSharedState(raw.slice(5, 12)),
    after: toSharedState(raw.slice(12, 19)),
  };
}

/** Decodes a message: `incarnation|generation|state|failures|openedAt|leases|version|source|name`. */
export function parseMessage(message: string): StateMessage {
  const parts = message.split("|");
  if (parts.length < 9) throw new CorruptStateError(`unexpected message ${message.slice(0, 80)}`);
  const [i, g, st, f, o, l, v, source] = parts;
  return { ...toSharedState([i, st, g, f, o, l, v]), source: source ?? "", name: parts.slice(8).join("|") };
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
  return la.length === lb.length && la.every((x, i) => x.token === lb[i]?.token && near(x.expiresAt, lb[i].expiresAt));
}
