/**
 * Fleet member "quorum": one of P processes sharing two circuits with a `quorum` (the factory's
 * `defaultQuorum`), `<names>-0` for the "one sick process" scenario and `<names>-1` for the
 * "dependency down" one. Each process calls a dependency of its own (in process: a success takes
 * `dependencyMs`, a failure throws at once, like a refused connection) in `lanes` sequential loops
 * per circuit, pausing `paceMs` after each call (a server taking requests), on a timeline the
 * parent sends as one line, `plan <json>` (epoch ms, `epochMs()`, the same clock in every process
 * of the machine):
 * - `startAt` to `sickUntil`: every process calls circuit 0; from `sickAt` on, the sick process's
 *   calls all fail, the others' all succeed.
 * - `sickUntil` to `endAt`: every process calls circuit 1; from `downAt` on, every call fails.
 *
 * It counts what reached its dependency, its rejections by scope, and when it learned that the
 * fleet opened (a `state_changed` to `opened` of scope `fleet`, or a rejection of that scope).
 * The member with `inspects` reads each circuit with `storage.inspect()` at the end of its phase,
 * as an operator would.
 * @module
 */
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import {
  epochMs,
  getReady,
  joinFleet,
  memberConfig,
  sayResult,
  type MemberConfig,
  type StorageProblem,
} from "./member.js";

/** The quorum member's config: a member's, and its part in the scenarios. */
export interface QuorumMemberConfig extends MemberConfig {
  readonly index: number;
  /** Whether its calls of circuit 0 fail from `sickAt` on. */
  readonly sick: boolean;
  /** Whether it reads each circuit with `storage.inspect()` at the end of its phase. */
  readonly inspects: boolean;
  readonly lanes: number;
  readonly paceMs: number;
  readonly dependencyMs: number;
}

/** The timeline, epoch ms (`epochMs()`). */
export interface QuorumPlan {
  readonly startAt: number;
  readonly sickAt: number;
  readonly sickUntil: number;
  readonly downAt: number;
  readonly endAt: number;
}

/** A circuit as `storage.inspect()` showed it. */
export interface InspectedCircuit {
  readonly state: string;
  readonly failureCount: number;
  readonly activeCallers: number;
  readonly effective: number | null;
  readonly openLocally: readonly string[];
}

export interface Rejections {
  readonly process: number;
  readonly fleet: number;
}

/** Circuit 0, the sick process scenario. */
export interface SickPhase {
  /** Calls that reached the dependency, and how they ended. */
  readonly successes: number;
  readonly failures: number;
  readonly rejections: Rejections;
  /** The first rejection after `sickAt`: epoch ms and scope. */
  readonly firstRejection: { readonly at: number; readonly scope: string } | null;
  /** `opened` transitions of scope `process` this process made (opening for itself, reopening after its own probe). */
  readonly ownOpenings: number;
  /** `opened` transitions of scope `fleet` it heard or made: the fleet opened. */
  readonly fleetOpenings: number;
  /** `breaker.state` and `breaker.scope` at `sickUntil`. */
  readonly stateAtEnd: string;
  readonly scopeAtEnd: string;
  readonly inspected: InspectedCircuit | null;
}

/** Circuit 1, the dependency down scenario. */
export interface DownPhase {
  /** Successes before `downAt`. */
  readonly successes: number;
  /** Calls that reached the dependency from `downAt` on (all failed). */
  readonly reached: number;
  /** ... of which before this process knew that the fleet had opened. */
  readonly reachedBeforeKnown: number;
  /** `Date.now()` of each call that reached the dependency from `downAt` on (the first 1,000). */
  readonly reachedAt: readonly number[];
  /** The fleet's `openedAt` (Redis time, epoch ms) of its first opening after `downAt`, as this process learned it. */
  readonly fleetOpenedAt: number | null;
  /** When this process first knew the fleet was open (epoch ms, `epochMs()`), and how. */
  readonly fleetKnownAt: number | null;
  readonly fleetKnownBy: "event" | "rejection" | null;
  /** When it opened for itself first (epoch ms), if it did. */
  readonly ownOpenedAt: number | null;
  /** Its first rejection after `downAt` (any scope) and its first of scope `fleet` (epoch ms). */
  readonly firstRejectionAt: number | null;
  readonly firstRejectionScope: string | null;
  readonly firstFleetRejectionAt: number | null;
  readonly rejections: Rejections;
  readonly inspected: InspectedCircuit | null;
}

export interface QuorumMemberResult {
  readonly index: number;
  readonly processName: string;
  readonly sick: SickPhase;
  readonly down: DownPhase;
  readonly problems: readonly StorageProblem[];
}

const config = memberConfig() as QuorumMemberConfig;
const lines = createInterface({ input: process.stdin });
const orphaned = (): never => process.exit(2);
lines.on("close", orphaned);
const planned = new Promise<QuorumPlan>((resolve) => {
  lines.on("line", (line) => {
    if (line.startsWith("plan ")) resolve(JSON.parse(line.slice("plan ".length)) as QuorumPlan);
  });
});

const member = await joinFleet(config);
const { CircuitOpenError } = member.purgatory;
const [sickName, downName] = member.names as [string, string];
await getReady(member);
const plan = await planned;

// --- what this process sees ---
const sick = {
  successes: 0,
  failures: 0,
  rejections: { process: 0, fleet: 0 },
  firstRejection: null as SickPhase["firstRejection"],
  ownOpenings: 0,
  fleetOpenings: 0,
};
const down = {
  successes: 0,
  reached: 0,
  reachedBeforeKnown: 0,
  reachedAt: [] as number[],
  fleetOpenedAt: null as number | null,
  fleetKnownAt: null as number | null,
  fleetKnownBy: null as DownPhase["fleetKnownBy"],
  ownOpenedAt: null as number | null,
  firstRejectionAt: null as number | null,
  firstRejectionScope: null as string | null,
  firstFleetRejectionAt: null as number | null,
  rejections: { process: 0, fleet: 0 },
};
const fleetKnown = (by: "event" | "rejection", openedAt: number | null): void => {
  if (down.fleetKnownAt !== null) return;
  down.fleetKnownAt = epochMs();
  down.fleetKnownBy = by;
  down.fleetOpenedAt ??= openedAt;
};
member.factory.addListener((name, eventType, event) => {
  if (eventType !== "state_changed" || event.state !== "opened") return;
  if (name === sickName) {
    if (event.scope === "fleet") sick.fleetOpenings += 1;
    else if (event.remote !== true) sick.ownOpenings += 1;
  } else if (name === downName && epochMs() >= plan.downAt) {
    if (event.scope === "fleet") fleetKnown("event", event.openedAt);
    else down.ownOpenedAt ??= epochMs();
  }
});

const sickError = new Error("this process cannot reach the dependency");
const downError = new Error("the dependency is down");

async function sickDependency(): Promise<number> {
  if (config.sick && epochMs() >= plan.sickAt) {
    sick.failures += 1;
    throw sickError;
  }
  await sleep(config.dependencyMs);
  sick.successes += 1;
  return 1;
}

async function downDependency(): Promise<number> {
  if (epochMs() >= plan.downAt) {
    down.reached += 1;
    if (down.fleetKnownAt === null) down.reachedBeforeKnown += 1;
    if (down.reachedAt.length < 1000) down.reachedAt.push(Date.now());
    throw downError;
  }
  await sleep(config.dependencyMs);
  down.successes += 1;
  return 1;
}

/** One lane: calls `name` until `until`, pausing `paceMs` after each call; `rejected` counts rejections. */
async function lane(
  name: string,
  dependency: () => Promise<number>,
  until: number,
  rejected: (error: InstanceType<typeof CircuitOpenError>) => void,
): Promise<void> {
  const breaker = await member.factory.getBreaker(name);
  while (epochMs() < until) {
    try {
      await breaker.run(dependency);
    } catch (error) {
      if (error instanceof CircuitOpenError) rejected(error);
    }
    await sleep(config.paceMs);
  }
}

const lanes = (name: string, dependency: () => Promise<number>, until: number, rejected: Parameters<typeof lane>[3]) =>
  Promise.all(Array.from({ length: config.lanes }, () => lane(name, dependency, until, rejected)));

async function inspect(name: string): Promise<InspectedCircuit | null> {
  if (!config.inspects) return null;
  const [info] = await member.storage.inspect([name]);
  if (info === undefined) return null;
  return {
    state: info.state,
    failureCount: info.failureCount,
    activeCallers: info.quorum?.activeCallers.length ?? 0,
    effective: info.quorum?.effective ?? null,
    openLocally: info.quorum?.openLocally.map((o) => o.process) ?? [],
  };
}

await sleep(Math.max(0, plan.startAt - epochMs()));
await lanes(sickName, sickDependency, plan.sickUntil, (error) => {
  sick.rejections[error.scope] += 1;
  sick.firstRejection ??= { at: epochMs(), scope: error.scope };
});
const sickBreaker = await member.factory.getBreaker(sickName);
const sickPhase: SickPhase = {
  ...sick,
  stateAtEnd: sickBreaker.state,
  scopeAtEnd: sickBreaker.scope,
  inspected: await inspect(sickName),
};

await lanes(downName, downDependency, plan.endAt, (error) => {
  const at = epochMs();
  if (at < plan.downAt) return;
  down.rejections[error.scope] += 1;
  if (down.firstRejectionAt === null) {
    down.firstRejectionAt = at;
    down.firstRejectionScope = error.scope;
  }
  if (error.scope === "fleet") {
    down.firstFleetRejectionAt ??= at;
    fleetKnown("rejection", error.openedAt);
  }
});
const downPhase: DownPhase = { ...down, inspected: await inspect(downName) };

const result: QuorumMemberResult = {
  index: config.index,
  processName: config.processName ?? "",
  sick: sickPhase,
  down: downPhase,
  problems: member.problems,
};
sayResult(result);
lines.off("close", orphaned);
lines.close();
process.stdin.destroy();
await member.close();
