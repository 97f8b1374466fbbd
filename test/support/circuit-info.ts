/**
 * The circuits the operator tools' tests show, as `inspect()` reads them: a closed circuit with a
 * plain config, and what a test changes over it.
 */
import type { CircuitInfo } from "../../src/index.js";

/** A closed circuit named `name`, never opened, with `changes` over it. */
export function closedInfo(name: string, changes: Partial<CircuitInfo> = {}): CircuitInfo {
  return {
    name,
    state: "closed",
    failureCount: 0,
    openedAt: null,
    retryAt: null,
    probes: 0,
    config: { threshold: 3, ttl: 30, halfOpenMaxCalls: 1 },
    window: null,
    updatedAt: 1,
    incarnation: "1-a",
    createdAt: 1,
    generation: 0,
    quorum: null,
    ...changes,
  };
}
