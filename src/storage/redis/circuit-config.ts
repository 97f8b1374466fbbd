/**
 * A circuit's config in a `RedisStorage`: checked against the storage's `keyTtl` at registration
 * (`checkKeyTtl`), encoded once for the scripts (`encodedConfig`), and the fleet's taken over the
 * one this process registered with (`takeConfig`: the first registration, or a reconfigure, fixed
 * it fleet-wide), with what follows from it: the rate window, and with a quorum the circuit the
 * process keeps for itself (`followQuorum`). Functions over the circuit's record, with no I/O and
 * no clock; the renewals of this process's presence they start are the hand-overs' (given).
 * @module
 */
import type { CircuitConfig } from "../../core/circuit.js";
import { hasQuorum } from "../../core/quorum.js";
import { windowFor } from "../../core/window.js";
import { InvalidOptionError } from "../../errors.js";
import { encodeConfig } from "./codec.js";
import { ownCircuit, reconfigured } from "./own.js";
import { show, type ReplicaCircuit } from "./replica-circuit.js";

/** What a quorum's arrival asks of the hand-overs (`HandOver`). */
export interface QuorumHandOver {
  /** Redis may not know that this process calls the circuit: said at the next call. */
  renounce(circuit: ReplicaCircuit): void;
  /** Starts the renewals of this process's presence (one timer for every circuit). */
  watchRenewals(): void;
}

/**
 * Refuses a circuit whose longest opening (its ttl, or its backoff's `maxTtl`) outlasts the
 * storage's `keyTtl` (ms; 0: the keys never expire): the key of an opened circuit that no process
 * re-reads would expire, and the fleet make it anew, closed, before its time. Throws an
 * `InvalidOptionError` naming both.
 */
export function checkKeyTtl(keyTtlMs: number, config: CircuitConfig): void {
  if (keyTtlMs === 0) return;
  const longest = Math.max(config.ttl, config.backoff?.maxTtl ?? 0);
  if (keyTtlMs >= longest * 1000) return;
  const option = config.backoff !== undefined && config.backoff.maxTtl > config.ttl ? "backoff.maxTtl" : "ttl";
  throw new InvalidOptionError(
    "keyTtl",
    keyTtlMs / 1000,
    `at least the circuit's longest opening (${option} ${longest} s)`,
    `Invalid option "keyTtl": the key of an opened circuit would expire before it may close, ` +
      `${keyTtlMs / 1000} s is below the circuit's ${option} (${longest} s)`,
  );
}

/** The circuit's config as the scripts read it (`encodeConfig`), kept on the record until the config changes. */
export function encodedConfig(circuit: ReplicaCircuit): string {
  const cached = circuit.encoded;
  if (cached !== null && cached.config === circuit.config) return cached.json;
  const json = encodeConfig(circuit.config);
  circuit.encoded = { config: circuit.config, json };
  return json;
}

/**
 * Takes the fleet's config (what a script or a message said) when it differs from the circuit's:
 * the rate window follows it (its counts kept while it still fits), and so does the quorum
 * (`followQuorum`).
 */
export function takeConfig(circuit: ReplicaCircuit, config: CircuitConfig, handOver: QuorumHandOver): void {
  if (circuit.encoded !== null && circuit.encoded.json === encodeConfig(config)) return;
  circuit.config = config;
  circuit.encoded = null;
  circuit.window = windowFor(config, circuit.window);
  followQuorum(circuit, config, handOver);
}

/**
 * Gives a circuit whose config has a quorum the circuit this process keeps for itself (reconfigured
 * when it has one), and starts the renewals of this process's presence; takes it from one whose
 * config has none any more (the breakers then read the fleet's circuit, and there is nothing to
 * tell Redis of this process).
 */
export function followQuorum(circuit: ReplicaCircuit, config: CircuitConfig, handOver: QuorumHandOver): void {
  if (!hasQuorum(config)) {
    if (circuit.own === null) return;
    circuit.own = null;
    circuit.announced = true;
    circuit.openSaid = false;
    show(circuit);
    return;
  }
  if (circuit.own === null) {
    circuit.own = ownCircuit(config);
    handOver.renounce(circuit);
  } else {
    circuit.own = reconfigured(circuit.own, config);
  }
  handOver.watchRenewals();
}
