/**
 * Quorum: how many distinct processes a fleet-wide opening needs (see `QuorumPolicy`). Pure
 * functions, mirrored by the Lua scripts (`quorumNeed` in `scripts/prologue.lua`).
 * @module
 */
import type { CircuitConfig, QuorumPolicy } from "./circuit.js";
import { windowOf } from "./window.js";

/**
 * The most processes a quorum may ask for, and the most callers, reporters and processes open for
 * themselves a shared storage keeps per circuit: a fleet larger than this counts as this large.
 */
export const MAX_QUORUM_PROCESSES = 1000;

/**
 * Whether `config` asks for more than one process: a quorum of more than one process, or a
 * fraction of the active callers. Without it a circuit behaves as it always did (any process's
 * failures open it), and costs no command more.
 */
export function hasQuorum(config: CircuitConfig): boolean {
  const quorum = config.quorum;
  return quorum !== undefined && (quorum.processes > 1 || quorum.fraction !== undefined);
}

/**
 * The processes a fleet-wide opening needs when `activeCallers` processes call the circuit:
 * `max(processes, ceil(fraction * activeCallers))`, never more than the active callers and never
 * less than one. So a lone process (a fleet of one) trips the circuit as without a quorum. The
 * product is rounded to the millionth before `ceil`, so that `0.3 * 10` gives 3, not 4. (For its
 * first seconds, while its callers are not all known yet, a new incarnation of a shared circuit
 * counts at least `processes` callers: see docs/fleet-protocol.md, "Quorum".)
 *
 * @example
 * ```ts
 * effectiveQuorum({ processes: 2, fraction: 0.3 }, 10); // 3
 * effectiveQuorum({ processes: 3 }, 1);                 // 1
 * ```
 */
export function effectiveQuorum(quorum: QuorumPolicy | undefined, activeCallers: number): number {
  if (quorum === undefined) return 1;
  const share = quorum.fraction === undefined ? 0 : Math.ceil(Math.round(quorum.fraction * activeCallers * 1e6) / 1e6);
  return Math.max(1, Math.min(Math.max(quorum.processes, share), activeCallers));
}

/**
 * How long (ms) a process counts as an active caller of a circuit after it said so: the longer of
 * `horizonMs` (the storage's `callerHorizon`) and the circuit's rate window, so that every process
 * whose calls are in the window counts.
 */
export function callerHorizonMs(config: CircuitConfig, horizonMs: number): number {
  const of = windowOf(config);
  return of === null ? horizonMs : Math.max(horizonMs, of.windowMs);
}
