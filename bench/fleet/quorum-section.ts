/**
 * The fleet-quorum section of `npm run bench` (run by `npm run bench -- fleet-quorum`, `-- quorum`
 * or `-- fleet`): P real OS processes (BENCH_FLEET_PROCESSES, default 16; role
 * `bench/fleet/quorum.ts`) share two circuits with `quorum: 2` (threshold 5, ttl 1 s) on a
 * throw-away standalone redis-server, then on a throw-away 3-master Redis Cluster:
 * - one sick process: its calls all fail for a few seconds while the others' succeed. The others'
 *   rejections (0), whether the fleet's circuit stayed closed and the sick process opened for
 *   itself;
 * - the dependency down: every call fails from one instant on. The calls that reached the
 *   dependency, fleet-wide, before each process knew the fleet had opened (the bound: quorum x
 *   threshold, plus the calls in flight, `lanes` per process), and the time until every process
 *   rejects.
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { table, verdict, type Report, type Section } from "../report.js";
import { DEPLOYMENTS, startDeployment, type DeploymentKind } from "./deployment.js";
import { spawnFleet } from "./index.js";
import { epochMs, type StorageProblem } from "./member.js";
import { deadline, type MemberProcess } from "./members.js";
import type { InspectedCircuit, QuorumMemberConfig, QuorumMemberResult, QuorumPlan } from "./quorum.js";

/** The scenarios' settings. */
export interface FleetQuorumSettings {
  readonly processes: number;
  readonly quorum: number;
  readonly threshold: number;
  readonly ttl: number;
  /** Sequential loops per circuit in each process: the calls one process may have in flight. */
  readonly lanes: number;
  /** Pause after each call, ms. */
  readonly paceMs: number;
  /** A success's latency, ms (a failure throws at once). */
  readonly dependencyMs: number;
  /** Healthy calls before each scenario, ms (every process becomes an active caller). */
  readonly warmMs: number;
  readonly sickMs: number;
  readonly downMs: number;
}

/** The one sick process scenario, as measured. */
export interface SickFigures {
  readonly othersCalls: number;
  readonly othersRejections: number;
  /** `opened` of scope fleet heard by any process. */
  readonly fleetOpenings: number;
  readonly sickFailures: number;
  readonly sickRejections: { readonly process: number; readonly fleet: number };
  /** From `sickAt` to the sick process's first rejection, ms; and its scope. */
  readonly sickFirstRejectionMs: number | null;
  readonly sickFirstRejectionScope: string | null;
  readonly sickOwnOpenings: number;
  readonly sickScopeAtEnd: string;
  readonly inspected: InspectedCircuit | null;
  readonly stayedClosed: boolean;
  readonly sickOpenedForItself: boolean;
}

/** The dependency down scenario, as measured. */
export interface DownFigures {
  /** Calls that reached the dead dependency before their process knew the fleet was open, summed. */
  readonly reachedBeforeKnown: number;
  /** Calls that reached it before the fleet's `openedAt` (Redis time), summed. */
  readonly reachedBeforeOpenedAt: number;
  /** Every call that reached it in the phase (probes after the opening included). */
  readonly reachedInPhase: number;
  readonly bound: number;
  /** Processes that opened for themselves before they knew the fleet had. */
  readonly openedForThemselvesFirst: number;
  /** From `downAt` until the first / the last process knew the fleet was open, ms. */
  readonly firstKnewMs: number | null;
  readonly allKnewMs: number | null;
  /** From `downAt` until every process had rejected a call (any scope / scope fleet), ms. */
  readonly allRejectedMs: number | null;
  readonly allFleetRejectedMs: number | null;
  /** Processes that rejected a call of scope fleet in the phase. */
  readonly processesFleetRejecting: number;
  readonly inspected: InspectedCircuit | null;
}

export interface FleetQuorumResult {
  readonly deployment: DeploymentKind;
  readonly redisServers: number;
  readonly sick: SickFigures;
  readonly down: DownFigures;
  readonly storageProblems: readonly StorageProblem[];
  readonly seconds: number;
}

/** After the last member is ready, before the timeline starts: their start-up work settles. */
const SETTLE_MS = 2000;
/** The plan reaches every member before `startAt`. */
const PLAN_LEAD_MS = 300;

/** The settings, from the environment (BENCH_FLEET_PROCESSES). */
export function fleetQuorumSettings(): FleetQuorumSettings {
  const raw = process.env.BENCH_FLEET_PROCESSES;
  const processes = raw === undefined || raw === "" ? 16 : Math.floor(Number(raw));
  if (!Number.isFinite(processes) || processes < 3)
    throw new Error(`BENCH_FLEET_PROCESSES must be at least 3 for the quorum scenarios, not ${String(raw)}`);
  return {
    processes,
    quorum: 2,
    threshold: 5,
    ttl: 1,
    lanes: 2,
    paceMs: 5,
    dependencyMs: 2,
    warmMs: 1000,
    sickMs: 4000,
    downMs: 3000,
  };
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
/** The largest value, or null if any is null (someone never got there). */
const latest = (values: readonly (number | null)[]): number | null =>
  values.some((v) => v === null) ? null : Math.max(...(values as number[]));

function sickFigures(results: readonly QuorumMemberResult[], plan: QuorumPlan): SickFigures {
  const [sick, ...others] = results as [QuorumMemberResult, ...QuorumMemberResult[]];
  const inspected = results.find((r) => r.sick.inspected !== null)?.sick.inspected ?? null;
  const fleetOpenings = sum(results.map((r) => r.sick.fleetOpenings));
  const s = sick.sick;
  const stayedClosed = fleetOpenings === 0 && inspected?.state === "closed";
  const sickOpenedForItself =
    s.rejections.process > 0 &&
    s.rejections.fleet === 0 &&
    s.firstRejection?.scope === "process" &&
    (inspected?.openLocally.includes(sick.processName) ?? false);
  return {
    othersCalls: sum(others.map((r) => r.sick.successes + r.sick.failures)),
    othersRejections: sum(others.map((r) => r.sick.rejections.process + r.sick.rejections.fleet)),
    fleetOpenings,
    sickFailures: s.failures,
    sickRejections: s.rejections,
    sickFirstRejectionMs: s.firstRejection === null ? null : s.firstRejection.at - plan.sickAt,
    sickFirstRejectionScope: s.firstRejection?.scope ?? null,
    sickOwnOpenings: s.ownOpenings,
    sickScopeAtEnd: s.scopeAtEnd,
    inspected,
    stayedClosed,
    sickOpenedForItself,
  };
}

function downFigures(
  results: readonly QuorumMemberResult[],
  plan: QuorumPlan,
  settings: FleetQuorumSettings,
): DownFigures {
  const downs = results.map((r) => r.down);
  const openedAts = downs.map((d) => d.fleetOpenedAt).filter((v): v is number => v !== null);
  const openedAt = openedAts.length === 0 ? null : Math.min(...openedAts);
  const known = downs.map((d) => (d.fleetKnownAt === null ? null : d.fleetKnownAt - plan.downAt));
  const knownValues = known.filter((v): v is number => v !== null);
  const since = (at: number | null): number | null => (at === null ? null : at - plan.downAt);
  return {
    reachedBeforeKnown: sum(downs.map((d) => d.reachedBeforeKnown)),
    reachedBeforeOpenedAt:
      openedAt === null ? Number.NaN : sum(downs.map((d) => d.reachedAt.filter((at) => at <= openedAt).length)),
    reachedInPhase: sum(downs.map((d) => d.reached)),
    bound: settings.quorum * settings.threshold + settings.processes * settings.lanes,
    openedForThemselvesFirst: downs.filter(
      (d) => d.ownOpenedAt !== null && (d.fleetKnownAt === null || d.ownOpenedAt <= d.fleetKnownAt),
    ).length,
    firstKnewMs: knownValues.length === 0 ? null : Math.min(...knownValues),
    allKnewMs: latest(known),
    allRejectedMs: latest(downs.map((d) => since(d.firstRejectionAt))),
    allFleetRejectedMs: latest(downs.map((d) => since(d.firstFleetRejectionAt))),
    processesFleetRejecting: downs.filter((d) => d.firstFleetRejectionAt !== null).length,
    inspected: downs.find((d) => d.inspected !== null)?.inspected ?? null,
  };
}

/** Runs both scenarios on a fresh deployment of `kind`, and stops every process it started. */
async function measure(kind: DeploymentKind, settings: FleetQuorumSettings, out: Report): Promise<FleetQuorumResult> {
  const started = performance.now();
  out.progress(`fleet-quorum ${kind}: starting the deployment`);
  const deployment = await startDeployment(kind);
  const members: MemberProcess<unknown>[] = [];
  try {
    const configs = Array.from({ length: settings.processes }, (_, index): QuorumMemberConfig => ({
      role: "quorum",
      target: deployment.target,
      prefix: `fleet-quorum-${kind}`,
      names: "quorum",
      circuits: 2,
      threshold: settings.threshold,
      ttl: settings.ttl,
      quorum: settings.quorum,
      processName: index === 0 ? "q0-sick" : `q${index}`,
      index,
      sick: index === 0,
      inspects: index === 1,
      lanes: settings.lanes,
      paceMs: settings.paceMs,
      dependencyMs: settings.dependencyMs,
    }));
    out.progress(`fleet-quorum ${kind}: ${settings.processes} processes registering`);
    await spawnFleet(configs, members, 120_000);
    await sleep(SETTLE_MS);

    const startAt = epochMs() + PLAN_LEAD_MS;
    const sickAt = startAt + settings.warmMs;
    const sickUntil = sickAt + settings.sickMs;
    const downAt = sickUntil + settings.warmMs;
    const plan: QuorumPlan = { startAt, sickAt, sickUntil, downAt, endAt: downAt + settings.downMs };
    out.progress(
      `fleet-quorum ${kind}: one sick process for ${settings.sickMs / 1000} s, then the dependency down for ${settings.downMs / 1000} s`,
    );
    for (const member of members) member.send(`plan ${JSON.stringify(plan)}`);
    const results = (await deadline(
      Promise.all(members.map((m) => m.result)),
      plan.endAt - epochMs() + 60_000,
      `fleet-quorum ${kind}: results`,
    )) as QuorumMemberResult[];
    await deadline(Promise.all(members.map((m) => m.exited)), 15_000, `fleet-quorum ${kind}: members ending`).catch(
      () => undefined,
    );
    results.sort((a, b) => a.index - b.index);
    return {
      deployment: kind,
      redisServers: deployment.servers,
      sick: sickFigures(results, plan),
      down: downFigures(results, plan, settings),
      storageProblems: results.flatMap((r) => r.problems),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const member of members) member.kill();
    await deployment.stop();
  }
}

const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const msOrNever = (n: number | null): string => (n === null ? "never" : `${n.toFixed(1)} ms`);
const inspectedText = (i: InspectedCircuit | null): string =>
  i === null
    ? "not read"
    : `${i.state}, ${i.activeCallers} active callers, effective quorum ${i.effective ?? "-"}, open locally: ${i.openLocally.join(", ") || "none"}`;

function printDeployment(r: FleetQuorumResult, s: FleetQuorumSettings, out: Report): void {
  const where = r.deployment === "standalone" ? "standalone" : `${r.redisServers}-master Cluster`;
  const k = r.sick;
  const d = r.down;
  const rejectionsPass = k.othersRejections === 0;
  const closedPass = k.stayedClosed && k.sickOpenedForItself;
  const reachedPass = d.reachedBeforeKnown <= d.bound;
  const allRejectPass = d.processesFleetRejecting === s.processes;
  out.print(
    `Fleet quorum on a throw-away ${r.deployment === "standalone" ? "standalone redis-server" : `${r.redisServers}-master Redis Cluster (no replicas)`}: ${s.processes} processes share circuits with quorum ${s.quorum}, threshold ${s.threshold}, ttl ${s.ttl} s;`,
  );
  out.print(
    `each calls in ${s.lanes} lanes per circuit, ${s.paceMs} ms between calls (a success takes ${s.dependencyMs} ms, a failure throws at once); ${r.seconds.toFixed(0)} s in all.`,
  );
  out.print();
  out.print(
    table(
      ["measure", "measured", "target", "result"],
      [
        [
          `one sick process for ${s.sickMs / 1000} s: rejections of the ${s.processes - 1} others (their calls)`,
          `${int(k.othersRejections)} (${int(k.othersCalls)} calls)`,
          "0",
          verdict(rejectionsPass),
        ],
        [
          "... fleet `opened` heard by any process / the circuit in Redis at the end (`inspect`)",
          `${k.fleetOpenings} / ${inspectedText(k.inspected)}`,
          "0 / closed",
          verdict(k.stayedClosed),
        ],
        [
          "... the sick process: failures, rejections (process / fleet), openings for itself",
          `${int(k.sickFailures)}, ${int(k.sickRejections.process)} / ${int(k.sickRejections.fleet)}, ${k.sickOwnOpenings}`,
          "opens for itself",
          verdict(k.sickOpenedForItself),
        ],
        [
          "... the sick process: first rejection after its calls began to fail (scope); its scope at the end",
          `${msOrNever(k.sickFirstRejectionMs)} (${k.sickFirstRejectionScope ?? "-"}); ${k.sickScopeAtEnd}`,
          "",
          "",
        ],
        [
          `dependency down: calls that reached it before their process knew the fleet had opened, fleet-wide`,
          int(d.reachedBeforeKnown),
          `<= ${d.bound} (${s.quorum} x ${s.threshold} + ${s.processes} x ${s.lanes} in flight)`,
          verdict(reachedPass),
        ],
        [
          "... of which before the fleet's openedAt (Redis time); all calls that reached it in the phase",
          `${Number.isNaN(d.reachedBeforeOpenedAt) ? "-" : int(d.reachedBeforeOpenedAt)}; ${int(d.reachedInPhase)} (probes after the opening included)`,
          "",
          "",
        ],
        [
          "... processes that opened for themselves before they knew the fleet had",
          `${d.openedForThemselvesFirst} of ${s.processes}`,
          "",
          "",
        ],
        [
          "... first / every process knew the fleet was open, after the dependency went down",
          `${msOrNever(d.firstKnewMs)} / ${msOrNever(d.allKnewMs)}`,
          "",
          "",
        ],
        [
          `... every process rejects: any scope / scope fleet (up to ${s.paceMs} ms of pause included)`,
          `${msOrNever(d.allRejectedMs)} / ${msOrNever(d.allFleetRejectedMs)}`,
          `all ${s.processes}, fleet`,
          verdict(allRejectPass),
        ],
        ["... the circuit in Redis at the end (`inspect`)", inspectedText(d.inspected), "", ""],
        [
          "storage events (storage_unavailable / storage_error)",
          r.storageProblems.length === 0
            ? "none"
            : `${r.storageProblems.length} (first: ${r.storageProblems[0]?.error ?? ""})`,
          "none",
          "",
        ],
      ],
      "lrll",
    ),
  );
  const label = (what: string): string => `fleet quorum (${where}): ${what}`;
  out.target({
    id: `fleet-quorum.sick.rejections.${r.deployment}`,
    label: label(`one sick process of ${s.processes}: the others' rejections`),
    goal: "0",
    measured: `${int(k.othersRejections)} in ${int(k.othersCalls)} calls`,
    pass: rejectionsPass,
  });
  out.target({
    id: `fleet-quorum.sick.scope.${r.deployment}`,
    label: label("one sick process: the fleet stays closed, the sick one opens for itself"),
    goal: "closed; process scope",
    measured: `${k.inspected?.state ?? "?"} (${k.fleetOpenings} fleet openings heard); sick: ${int(k.sickRejections.process)} process / ${int(k.sickRejections.fleet)} fleet rejections`,
    pass: closedPass,
  });
  out.target({
    id: `fleet-quorum.down.reached.${r.deployment}`,
    label: label("dependency down: calls that reached it before the fleet opened, fleet-wide"),
    goal: `<= ${d.bound}`,
    measured: `${int(d.reachedBeforeKnown)} (${Number.isNaN(d.reachedBeforeOpenedAt) ? "-" : int(d.reachedBeforeOpenedAt)} before openedAt)`,
    pass: reachedPass,
  });
  out.target({
    id: `fleet-quorum.down.all-reject.${r.deployment}`,
    label: label("dependency down: every process rejects for the fleet"),
    goal: `all ${s.processes}`,
    measured: `${d.processesFleetRejecting} of ${s.processes}, the last after ${msOrNever(d.allFleetRejectedMs)}`,
    pass: allRejectPass,
  });
  if (r.storageProblems.length > 0) {
    out.problems.push(
      `fleet-quorum ${r.deployment}: ${r.storageProblems.length} storage events, the figures are not those of a healthy fleet (first: ${r.storageProblems[0]?.error ?? ""})`,
    );
  }
}

/** The fleet-quorum section of `npm run bench`. */
export const fleetQuorumSection: Section = {
  name: "fleet-quorum",
  aliases: ["quorum", "fleet"],
  async run(out: Report): Promise<void> {
    const settings = fleetQuorumSettings();
    const results: FleetQuorumResult[] = [];
    for (const kind of DEPLOYMENTS) {
      try {
        const result = await measure(kind, settings, out);
        results.push(result);
        printDeployment(result, settings, out);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        out.problems.push(`fleet-quorum ${kind} failed: ${message}`);
        out.print(`!! fleet-quorum ${kind} failed: ${message}`);
      }
      out.print();
    }
    out.print(
      "Calls reached before the fleet opened: each process counts its calls that reached the dead dependency until it knew the fleet",
    );
    out.print(
      "was open (its first fleet `opened` event or fleet rejection). Up to quorum x threshold failures may be needed (the first",
    );
    out.print(
      "reporters may each open for themselves first), plus the calls already in flight in every process. The sick process's",
    );
    out.print("failures count in the fleet's streak too; it is one reporter, never the quorum.");
    out.sections["fleet-quorum"] = { settings, deployments: results };
  },
};
