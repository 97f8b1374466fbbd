/**
 * The circuits of a process as a JSON document, for a serverless hand-over: `factory.toJSON()`
 * writes it from any storage (through `names()` and `get()`), `new InMemoryStorage({ restore })`
 * reads it back. `config` and `snapshot` are carried as the core defines them, whole, so fields
 * added to them later flow through; the reader checks what it relies on and keeps the rest.
 * @module
 */
import type { CircuitConfig, CircuitSnapshot, CircuitStateName } from "../core/circuit.js";
import { describeValue, InvalidOptionError, quote } from "../errors.js";
import { BOUNDS, checkName, checkPositiveInteger, checkTtl } from "../options/checks.js";
import { checkBackoff, checkFailureRate, checkQuorum, checkSlowCall } from "../options/policies.js";
import type { CircuitStorage } from "./storage.js";

/** The version of the document `toJSON()` writes; a reader refuses a newer one. */
export const SAVED_CIRCUITS_VERSION = 1;

/** One circuit of a `SavedCircuits` document. */
export interface SavedCircuit {
  /** The circuit's name. */
  readonly name: string;
  /** Its configuration, as the first registration fixed it. */
  readonly config: CircuitConfig;
  /** Its state: times are epoch ms, so an opened circuit stays opened until `openedAt + ttl`. */
  readonly snapshot: CircuitSnapshot;
}

/**
 * What `factory.toJSON()` returns: plain data that `JSON.stringify` keeps whole, and that
 * `new InMemoryStorage({ restore })` starts from.
 *
 * @example
 * ```ts
 * const saved: SavedCircuits = JSON.parse(await readFile("circuits.json", "utf8"));
 * const storage = new InMemoryStorage({ restore: saved });
 * ```
 */
export interface SavedCircuits {
  /** The document's layout version (`1`). */
  readonly version: typeof SAVED_CIRCUITS_VERSION;
  /** The circuits the storage held in the process, in no particular order. */
  readonly circuits: readonly SavedCircuit[];
}

/** Reads the circuits `storage` holds in this process into a `SavedCircuits` document. */
export function saveCircuits(storage: CircuitStorage): SavedCircuits {
  const circuits: SavedCircuit[] = [];
  for (const name of [...storage.names()]) {
    const circuit = storage.get(name);
    if (circuit === undefined) continue;
    // Copies: the document must not alias the storage's (immutable, but shared) state.
    circuits.push({ name, config: structuredClone(circuit.config), snapshot: structuredClone(circuit.snapshot) });
  }
  return { version: SAVED_CIRCUITS_VERSION, circuits };
}

type Fields = Readonly<Record<string, unknown>>;

function checkFields(value: unknown, option: string, expected: string): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(option, value, expected);
  }
  return value as Fields;
}

function checkCount(value: unknown, option: string): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(option, value, "an integer >= 0");
  }
}

function checkTime(value: unknown, option: string): void {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new InvalidOptionError(option, value, "a time in epoch ms (a finite number)");
  }
}

function checkLeases(value: unknown, option: string): void {
  if (!Array.isArray(value)) throw new InvalidOptionError(option, value, "an array of probe leases");
  value.forEach((lease: unknown, i) => {
    const fields = checkFields(lease, `${option}[${i}]`, "a probe lease { token, expiresAt }");
    checkCount(fields.token, `${option}[${i}].token`);
    checkTime(fields.expiresAt, `${option}[${i}].expiresAt`);
  });
}

/**
 * What each state needs besides `generation` and `failureCount`. Keyed by every state name, so a
 * new state does not compile until it says what it needs here.
 */
const STATE_FIELDS: { readonly [S in CircuitStateName]: (snapshot: Fields, option: string) => void } = {
  closed: () => undefined,
  opened: (s, option) => {
    checkTime(s.openedAt, `${option}.openedAt`);
    checkTime(s.retryAt, `${option}.retryAt`);
    checkCount(s.openings, `${option}.openings`);
  },
  "half-opened": (s, option) => {
    checkTime(s.openedAt, `${option}.openedAt`);
    checkCount(s.openings, `${option}.openings`);
    checkLeases(s.probeLeases, `${option}.probeLeases`);
  },
  isolated: (s, option) => checkTime(s.since, `${option}.since`),
  disabled: () => undefined,
};

function checkConfig(value: unknown, option: string): CircuitConfig {
  const config = checkFields(value, option, "a circuit config { threshold, ttl, halfOpenMaxCalls }");
  checkPositiveInteger(config.threshold, `${option}.threshold`, BOUNDS.maxThreshold);
  checkTtl(config.ttl, `${option}.ttl`);
  checkPositiveInteger(config.halfOpenMaxCalls, `${option}.halfOpenMaxCalls`, BOUNDS.maxHalfOpenCalls);
  if (config.failureRate !== undefined) checkFailureRate(config.failureRate, `${option}.failureRate`);
  if (config.slowCall !== undefined) checkSlowCall(config.slowCall, `${option}.slowCall`);
  if (config.backoff !== undefined) checkBackoff(config.backoff, `${option}.backoff`);
  if (config.quorum !== undefined) checkQuorum(config.quorum, `${option}.quorum`);
  return structuredClone(config) as unknown as CircuitConfig;
}

function checkSnapshot(value: unknown, option: string): CircuitSnapshot {
  const snapshot = checkFields(value, option, "a circuit snapshot { state, generation, failureCount, ... }");
  const state = snapshot.state;
  const states = Object.keys(STATE_FIELDS);
  if (typeof state !== "string" || !Object.hasOwn(STATE_FIELDS, state)) {
    throw new InvalidOptionError(`${option}.state`, state, `one of ${states.map((s) => `"${s}"`).join(", ")}`);
  }
  checkCount(snapshot.generation, `${option}.generation`);
  checkCount(snapshot.failureCount, `${option}.failureCount`);
  STATE_FIELDS[state as CircuitStateName](snapshot, option);
  const restored = structuredClone(snapshot) as Record<string, unknown>;
  // A probe lease belongs to a call of the process that saved the document: its outcome can never
  // reach this storage, so its slot is free at once rather than held until the lease expires.
  if (state === "half-opened") restored.probeLeases = [];
  return restored as unknown as CircuitSnapshot;
}

/**
 * Checks a `SavedCircuits` document given as option `option` (`restore`), leniently: the fields
 * the state machine relies on must be there and valid, fields it does not know are kept. Throws an
 * `InvalidOptionError` naming the first bad field, e.g. `restore.circuits[2].config.ttl`, and for
 * a document of a newer version. Returns the circuits to start with; probe leases are dropped.
 */
export function checkSavedCircuits(value: unknown, option: string): SavedCircuit[] {
  const document = checkFields(value, option, "a document made by factory.toJSON() ({ version, circuits })");
  const version = document.version;
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) {
    throw new InvalidOptionError(`${option}.version`, version, `a document version (${SAVED_CIRCUITS_VERSION})`);
  }
  if (version > SAVED_CIRCUITS_VERSION) {
    const field = `${option}.version`;
    throw new InvalidOptionError(
      field,
      version,
      `version ${SAVED_CIRCUITS_VERSION}`,
      `Invalid option ${quote(field)}: this purgatory reads documents of version ${SAVED_CIRCUITS_VERSION}, ` +
        `got ${describeValue(version)}, written by a newer purgatory (upgrade the reader)`,
    );
  }
  const circuits = document.circuits;
  if (!Array.isArray(circuits)) {
    throw new InvalidOptionError(`${option}.circuits`, circuits, "an array of { name, config, snapshot }");
  }
  const seen = new Set<string>();
  return circuits.map((entry: unknown, i) => {
    const where = `${option}.circuits[${i}]`;
    const circuit = checkFields(entry, where, "a saved circuit { name, config, snapshot }");
    const name = checkName(circuit.name, `${where}.name`);
    if (seen.has(name)) throw new InvalidOptionError(`${where}.name`, name, "a name not saved twice");
    seen.add(name);
    return {
      name,
      config: checkConfig(circuit.config, `${where}.config`),
      snapshot: checkSnapshot(circuit.snapshot, `${where}.snapshot`),
    };
  });
}
