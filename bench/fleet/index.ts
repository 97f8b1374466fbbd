/**
 * The fleet section of `npm run bench` (`npm run bench -- fleet`): P real OS processes x C
 * circuits on a throw-away standalone redis-server, then on a throw-away 3-master Redis Cluster
 * (an ioredis `Cluster` passed as `client`), through one code path.
 *
 * Roles (`bench/fleet/<role>.ts`): one "storm" process fails calls on 1 % of its circuits as fast as
 * it can for a window (threshold 3, ttl 0.2 s: they keep tripping, half-opening and reopening); one
 * "watcher" holds the same circuits and hears every transition; the other P - 2 are "idle": each
 * holds C circuits of its own, none failing, and makes no call. Before the fleet starts, a
 * "startup" process alone measures the start-up time of C circuits and their replica heap.
 *
 * Environment: BENCH_FLEET_PROCESSES (default 16), BENCH_FLEET_CIRCUITS (default 10,000),
 * BENCH_FLEET_SECONDS (the storm window, default 5).
 *
 * The quorum scenarios (one sick process, the dependency down) are a section of their own on the
 * same machinery, `quorum-section.ts` with the role `quorum.ts`, which `-- fleet` also runs.
 * @module
 */
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { runChild } from "../child.js";
import { median, percentile, table, verdict, type Report, type Section } from "../report.js";
import { DEPLOYMENTS, startDeployment, type DeploymentKind } from "./deployment.js";
import type { IdleResult } from "./idle.js";
import { FLEET_CHUNK, type MemberConfig, type ReadyFigures, type StorageProblem } from "./member.js";
import { deadline, spawnMember, type MemberProcess } from "./members.js";
import type { StartupResult } from "./startup.js";
import type { StormResult } from "./storm.js";
import type { WatcherResult } from "./watcher.js";

/** The size of the fleet and of the storm. */
export interface FleetSettings {
  readonly processes: number;
  readonly circuits: number;
  readonly seconds: number;
  /** Circuits the storm fails: 1 % of C (at least 1). */
  readonly failing: number;
  readonly threshold: number;
  readonly ttl: number;
  /** Fresh processes that measure start-up and heap, one after another. */
  readonly startupRuns: number;
}

/** Everything measured on one deployment. */
export interface FleetDeploymentResult {
  readonly deployment: DeploymentKind;
  readonly redisServers: number;
  readonly loadAverage: { readonly beforeWindow: string; readonly afterWindow: string };
  readonly startup: {
    readonly medianMs: number;
    readonly runsMs: readonly number[];
    /** Per run: the time until `storage_recovered` when the registration burst caused an outage, else null. */
    readonly recoveredMs: readonly (number | null)[];
    /** Runs whose registration made the storage report `storage_unavailable`. */
    readonly runsWithOutage: number;
    readonly heapBytesPerCircuit: number;
  };
  readonly subscriptionsPerProcess: { readonly min: number; readonly max: number };
  readonly idle: {
    readonly processes: number;
    readonly messagesMax: number;
    readonly messagesMean: number;
    readonly cpuPercentMax: number;
    readonly cpuPercentMean: number;
    /** Scripts an idle process ran in the window (its background re-reads), mean. */
    readonly scriptsPerSecondMean: number;
    /** Main-thread gc pauses per idle process in the window, max. */
    readonly gcMsMax: number;
    /** Each idle process's CPU, % of one core. */
    readonly cpuPercent: readonly number[];
  };
  readonly watcher: {
    readonly messages: number;
    readonly messagesPerSecond: number;
    readonly cpuPercent: number;
    readonly gcMs: number;
  };
  readonly storm: {
    readonly seconds: number;
    readonly failures: number;
    readonly failuresPerSecond: number;
    readonly trips: number;
    readonly rejections: number;
    readonly cpuPercent: number;
    readonly gcMs: number;
  };
  readonly redisCpuPercent: number;
  readonly propagation: {
    readonly trips: number;
    readonly matched: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
  };
  /** `storage_unavailable` / `storage_error` events of every process (up to 20 each), by phase. */
  readonly storageProblems: readonly StorageProblem[];
}

const IDLE_MAX_CPU_PERCENT = 1;
const PROPAGATION_P99_MS = 20;
const STARTUP_MAX_MS = 1000;
/**
 * After the last member is ready, before the window: a process that has just registered 10,000
 * circuits keeps working for several seconds (gc of the registration's garbage, V8's memory
 * reducer, JIT), which is its start-up, not what the storm costs it.
 */
const SETTLE_MS = 8000;
/** After the storm ends: the last trips' messages reach the watcher before it stops listening. */
const GRACE_MS = 250;
/** Fleet members registering at once (one per core): the fleet's own start is not what is measured. */
const REGISTERING_AT_ONCE = 2;

const positiveInteger = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a number > 0, not ${raw}`);
  return value;
};

/** The settings from the environment. */
export function fleetSettings(): FleetSettings {
  const processes = Math.floor(positiveInteger("BENCH_FLEET_PROCESSES", 16));
  const circuits = Math.floor(positiveInteger("BENCH_FLEET_CIRCUITS", 10_000));
  if (processes < 3) throw new Error("BENCH_FLEET_PROCESSES must be at least 3 (storm, watcher, an idle process)");
  return {
    processes,
    circuits,
    seconds: positiveInteger("BENCH_FLEET_SECONDS", 5),
    failing: Math.max(1, Math.round(circuits / 100)),
    threshold: 3,
    ttl: 0.2,
    startupRuns: 3,
  };
}

const load1 = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/** Trip propagation: each storm trip matched to the watcher's remote `opened` of the same circuit and openedAt. */
function propagation(storm: StormResult, watcher: WatcherResult): FleetDeploymentResult["propagation"] {
  const heardAt = new Map(watcher.heard.map((h) => [`${h.name}|${h.openedAt}`, h.at]));
  // A trip the watcher never heard counts as slower than every heard one.
  const latencies = storm.trips.map(
    (t) => (heardAt.get(`${t.name}|${t.openedAt}`) ?? Number.POSITIVE_INFINITY) - t.failedAt,
  );
  latencies.sort((a, b) => a - b);
  const matched = latencies.filter(Number.isFinite).length;
  const empty = latencies.length === 0;
  return {
    trips: storm.trips.length,
    matched,
    p50Ms: empty ? Number.NaN : percentile(latencies, 50),
    p99Ms: empty ? Number.NaN : percentile(latencies, 99),
    maxMs: empty ? Number.NaN : (latencies[latencies.length - 1] as number),
  };
}

/**
 * Spawns a member per config, `REGISTERING_AT_ONCE` at a time (the next once one is ready), each
 * added to `members` as soon as it is spawned (so that the caller can kill them all whatever
 * happens), and resolves with their `READY` figures, `members` then in the order of `configs`.
 * Once a member fails to get ready within `readyMs`, no other is spawned.
 */
export async function spawnFleet(
  configs: readonly MemberConfig[],
  members: MemberProcess<unknown>[],
  readyMs: number,
): Promise<ReadyFigures[]> {
  const spawned = new Array<MemberProcess<unknown>>(configs.length);
  const ready = new Array<ReadyFigures>(configs.length);
  let next = 0;
  let failed = false;
  const slot = async (): Promise<void> => {
    for (let i = next++; i < configs.length && !failed; i = next++) {
      const config = configs[i] as MemberConfig;
      const member = spawnMember<unknown>(config);
      spawned[i] = member;
      members.push(member);
      try {
        ready[i] = await deadline(member.ready, readyMs, `fleet member ${config.role} ${config.names}: registration`);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: REGISTERING_AT_ONCE }, slot));
  members.splice(0, members.length, ...spawned);
  return ready;
}

/** Runs the whole measurement on a fresh deployment of `kind`, and stops every process it started. */
async function measure(kind: DeploymentKind, settings: FleetSettings, out: Report): Promise<FleetDeploymentResult> {
  out.progress(`fleet ${kind}: starting the deployment`);
  const deployment = await startDeployment(kind);
  const members: MemberProcess<unknown>[] = [];
  try {
    const base = {
      target: deployment.target,
      prefix: `fleet-${kind}`,
      circuits: settings.circuits,
      threshold: settings.threshold,
      ttl: settings.ttl,
    } as const;

    const startups: StartupResult[] = [];
    for (let run = 0; run < settings.startupRuns; run++) {
      out.progress(
        `fleet ${kind}: start-up of ${settings.circuits.toLocaleString("en-US")} circuits, run ${run + 1} of ${settings.startupRuns}`,
      );
      const config: MemberConfig = { ...base, role: "startup", names: `startup${run}` };
      startups.push((await runChild<StartupResult>("fleet/startup.ts", [JSON.stringify(config)], 120_000)).result);
    }

    out.progress(
      `fleet ${kind}: ${settings.processes} processes x ${settings.circuits.toLocaleString("en-US")} circuits registering, ${REGISTERING_AT_ONCE} at a time`,
    );
    const configs: MemberConfig[] = [
      { ...base, role: "storm", names: "shared", failing: settings.failing, seconds: settings.seconds },
      { ...base, role: "watcher", names: "shared" },
      ...Array.from({ length: settings.processes - 2 }, (_, k): MemberConfig => ({
        ...base,
        role: "idle",
        names: `idle${k}`,
      })),
    ];
    const ready = await spawnFleet(configs, members, 120_000);
    const [storm, watcher, ...idles] = members as [
      MemberProcess<StormResult>,
      MemberProcess<WatcherResult>,
      ...MemberProcess<IdleResult>[],
    ];
    const listeners = [watcher, ...idles];
    await sleep(SETTLE_MS);

    out.progress(`fleet ${kind}: storm window of ${settings.seconds} s`);
    const loadBefore = load1();
    const redisCpu0 = await deployment.cpuSeconds();
    const wall0 = performance.now();
    for (const member of listeners) member.send("start");
    storm.send("start");
    const stormResult = await deadline(storm.result, settings.seconds * 1000 + 60_000, `fleet ${kind}: storm`);
    await sleep(GRACE_MS);
    for (const member of listeners) member.send("stop");
    const [watcherResult, ...idleResults] = (await deadline(
      Promise.all(listeners.map((m) => m.result)),
      60_000,
      `fleet ${kind}: results`,
    )) as [WatcherResult, ...IdleResult[]];
    const redisCpuPercent =
      (((await deployment.cpuSeconds()) - redisCpu0) / ((performance.now() - wall0) / 1000)) * 100;
    const loadAfter = load1();
    // Each member closes its factory and ends by itself; the finally block kills any that does not.
    await deadline(Promise.all(members.map((m) => m.exited)), 15_000, `fleet ${kind}: members ending`).catch(
      () => undefined,
    );

    const idleMessages = idleResults.map((r) => r.window.messages);
    const idleCpu = idleResults.map((r) => r.window.cpuPercent);
    const subscriptions = [...ready.map((r) => r.subscriptions), ...startups.map((s) => s.subscriptions)];
    const stormSeconds = stormResult.window.wallMs / 1000;
    const startupMs = startups.map((s) => s.startupMs);
    const outage = (problems: readonly StorageProblem[]): boolean =>
      problems.some((p) => p.event === "storage_unavailable");
    return {
      deployment: kind,
      redisServers: deployment.servers,
      loadAverage: { beforeWindow: loadBefore, afterWindow: loadAfter },
      startup: {
        medianMs: median(startupMs),
        runsMs: startupMs,
        recoveredMs: startups.map((s) => s.recoveredMs),
        runsWithOutage: startups.filter((s) => outage(s.problems)).length,
        heapBytesPerCircuit: median(startups.map((s) => s.heapBytesPerCircuit)),
      },
      subscriptionsPerProcess: { min: Math.min(...subscriptions), max: Math.max(...subscriptions) },
      idle: {
        processes: idleResults.length,
        messagesMax: Math.max(...idleMessages),
        messagesMean: mean(idleMessages),
        cpuPercentMax: Math.max(...idleCpu),
        cpuPercentMean: mean(idleCpu),
        scriptsPerSecondMean: mean(idleResults.map((r) => r.window.scripts / (r.window.wallMs / 1000))),
        gcMsMax: Math.max(...idleResults.map((r) => r.window.gcMs)),
        cpuPercent: idleCpu,
      },
      watcher: {
        messages: watcherResult.window.messages,
        messagesPerSecond: watcherResult.window.messages / (watcherResult.window.wallMs / 1000),
        cpuPercent: watcherResult.window.cpuPercent,
        gcMs: watcherResult.window.gcMs,
      },
      storm: {
        seconds: stormSeconds,
        failures: stormResult.failures,
        failuresPerSecond: stormResult.failures / stormSeconds,
        trips: stormResult.trips.length,
        rejections: stormResult.rejections,
        cpuPercent: stormResult.window.cpuPercent,
        gcMs: stormResult.window.gcMs,
      },
      redisCpuPercent,
      propagation: propagation(stormResult, watcherResult),
      storageProblems: [...startups, stormResult, watcherResult, ...idleResults].flatMap((r) => r.problems),
    };
  } finally {
    for (const member of members) member.kill();
    await deployment.stop();
  }
}

const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const ms = (n: number): string =>
  Number.isFinite(n) ? `${n.toFixed(2)} ms` : Number.isNaN(n) ? "none" : "never heard";
const pct = (n: number): string => `${n.toFixed(2)} %`;

/** "3 storage_unavailable (first: storm, Command timed out)", or "none". */
function describeProblems(problems: readonly StorageProblem[]): string {
  const first = problems[0];
  if (first === undefined) return "none";
  const kinds = [...new Set(problems.map((p) => p.event))].join(" / ");
  return `${problems.length} ${kinds} (first: ${first.role}, ${first.error})`;
}

/** Prints one deployment's table and adds its targets; the figures go to results.json. */
function printDeployment(r: FleetDeploymentResult, s: FleetSettings, out: Report): void {
  const where = r.deployment === "standalone" ? "standalone" : `${r.redisServers}-master Cluster`;
  const idleMessagesPass = r.idle.messagesMax === 0;
  const idleCpuPass = r.idle.cpuPercentMax < IDLE_MAX_CPU_PERCENT;
  const p = r.propagation;
  const propagationPass = p.trips > 0 && p.p99Ms < PROPAGATION_P99_MS;
  const startupPass = r.startup.medianMs < STARTUP_MAX_MS;
  // A start-up whose burst took Redis for unavailable registered circuits on placeholders and raised an alert.
  const startupHealthyPass = r.startup.runsWithOutage === 0;
  const c = int(s.circuits);
  const runs = r.startup.runsMs.length;
  const startupRuns = `${r.startup.runsMs.map((m) => m.toFixed(0)).join(", ")} ms`;
  const recovered = r.startup.recoveredMs.map((m) => (m === null ? "-" : m.toFixed(0))).join(", ");
  const phase = (name: StorageProblem["phase"]) => r.storageProblems.filter((x) => x.phase === name);
  const startupProblems = phase("registration").filter((x) => x.role === "startup");
  const fleetRegistration = phase("registration").filter((x) => x.role !== "startup");
  const windowProblems = [...phase("window"), ...phase("after")];
  out.print(
    `Fleet on a throw-away ${r.deployment === "standalone" ? "standalone redis-server" : `${r.redisServers}-master Redis Cluster (no replicas)`}: ${s.processes} processes x ${c} circuits;`,
  );
  out.print(
    `storm on ${int(s.failing)} circuits for ${s.seconds} s (threshold ${s.threshold}, ttl ${s.ttl} s); load average ${r.loadAverage.beforeWindow} before the window, ${r.loadAverage.afterWindow} after.`,
  );
  out.print();
  out.print(
    table(
      ["measure", "measured", "target", "result"],
      [
        [
          "subscriptions per process (min / max)",
          `${int(r.subscriptionsPerProcess.min)} / ${int(r.subscriptionsPerProcess.max)}`,
          `${c} (C)`,
          "",
        ],
        [
          `replica heap per circuit, one process (${c} circuits, names excluded)`,
          `${int(r.startup.heapBytesPerCircuit)} B`,
          "",
          "",
        ],
        [
          `start-up of ${c} circuits, one process (median of ${runs}: ${startupRuns})`,
          `${r.startup.medianMs.toFixed(0)} ms`,
          `< ${STARTUP_MAX_MS} ms`,
          verdict(startupPass),
        ],
        [
          `start-up runs whose burst made the storage unavailable (ms to storage_recovered: ${recovered})`,
          `${r.startup.runsWithOutage} of ${runs}`,
          "0",
          verdict(startupHealthyPass),
        ],
        [
          "storm: failures/s (calls that reached the guarded function)",
          `${int(r.storm.failuresPerSecond)} (${int(r.storm.failures)} in ${r.storm.seconds.toFixed(2)} s)`,
          "",
          "",
        ],
        ["storm: trips made (non-remote opened)", int(r.storm.trips), "", ""],
        [
          `messages received per idle process (${r.idle.processes}), max / mean`,
          `${int(r.idle.messagesMax)} / ${r.idle.messagesMean.toFixed(1)}`,
          "0",
          verdict(idleMessagesPass),
        ],
        [
          "messages received by the watcher",
          `${int(r.watcher.messages)} (${int(r.watcher.messagesPerSecond)}/s)`,
          "",
          "",
        ],
        [
          "CPU per idle process, % of one core, max / mean",
          `${pct(r.idle.cpuPercentMax)} / ${pct(r.idle.cpuPercentMean)}`,
          `< ${IDLE_MAX_CPU_PERCENT} %`,
          verdict(idleCpuPass),
        ],
        [
          "scripts run per idle process (its background re-reads), mean",
          `${r.idle.scriptsPerSecondMean.toFixed(0)}/s`,
          "",
          "",
        ],
        ["gc pauses per idle process in the window, max", `${r.idle.gcMsMax.toFixed(1)} ms`, "", ""],
        [
          "CPU of the watcher / the storm, % of one core (gc pauses)",
          `${pct(r.watcher.cpuPercent)} / ${pct(r.storm.cpuPercent)} (${r.watcher.gcMs.toFixed(1)} / ${r.storm.gcMs.toFixed(1)} ms)`,
          "",
          "",
        ],
        [
          `Redis CPU (INFO cpu, sum over ${r.redisServers} server${r.redisServers === 1 ? "" : "s"}), % of one core`,
          pct(r.redisCpuPercent),
          "",
          "",
        ],
        [
          `trip propagation storm -> watcher, p50 / p99 (max), ${int(p.matched)} of ${int(p.trips)} trips heard`,
          `${ms(p.p50Ms)} / ${ms(p.p99Ms)} (${ms(p.maxMs)})`,
          `p99 < ${PROPAGATION_P99_MS} ms`,
          verdict(propagationPass),
        ],
        ["storage events: start-up runs", describeProblems(startupProblems), "", ""],
        [
          "storage events: fleet registering (recovered before the window)",
          describeProblems(fleetRegistration),
          "",
          "",
        ],
        ["storage events: during and after the window", describeProblems(windowProblems), "none", ""],
      ],
      "lrll",
    ),
  );
  const label = (what: string): string => `fleet (${where}): ${what}`;
  out.target({
    id: `fleet.idle.messages.${r.deployment}`,
    label: label("messages per idle process during the storm"),
    goal: "0",
    measured: `max ${int(r.idle.messagesMax)} (${r.idle.processes} processes)`,
    pass: idleMessagesPass,
  });
  out.target({
    id: `fleet.idle.cpu.${r.deployment}`,
    label: label("CPU per idle process during the storm"),
    goal: `< ${IDLE_MAX_CPU_PERCENT} % of a core`,
    measured: `max ${pct(r.idle.cpuPercentMax)} (mean ${pct(r.idle.cpuPercentMean)})`,
    pass: idleCpuPass,
  });
  out.target({
    id: `fleet.propagation.p99.${r.deployment}`,
    label: label("trip propagation, p99"),
    goal: `< ${PROPAGATION_P99_MS} ms`,
    measured: `${ms(p.p99Ms)} (p50 ${ms(p.p50Ms)}; ${int(p.matched)} of ${int(p.trips)} trips heard)`,
    pass: propagationPass,
  });
  out.target({
    id: `fleet.startup.${r.deployment}`,
    label: label(`start-up of ${c} circuits in one process`),
    goal: `< ${STARTUP_MAX_MS} ms`,
    measured: `${r.startup.medianMs.toFixed(0)} ms (median; runs ${startupRuns}; storage_unavailable in ${r.startup.runsWithOutage} of ${runs} runs)`,
    pass: startupPass,
  });
  out.target({
    id: `fleet.startup.available.${r.deployment}`,
    label: label(`start-up of ${c} circuits keeps the storage available`),
    goal: "no storage_unavailable",
    measured: `storage_unavailable in ${r.startup.runsWithOutage} of ${runs} runs${startupProblems[0] === undefined ? "" : ` (${startupProblems[0].error})`}`,
    pass: startupHealthyPass,
  });
  if (windowProblems.length > 0) {
    out.problems.push(
      `fleet ${r.deployment}: storage events during the window, the figures are not those of a healthy fleet: ${describeProblems(windowProblems)}`,
    );
  }
}

/** The fleet section of `npm run bench`. */
export const fleetSection: Section = {
  name: "fleet",
  async run(out: Report): Promise<void> {
    const settings = fleetSettings();
    const started = performance.now();
    const results: FleetDeploymentResult[] = [];
    for (const kind of DEPLOYMENTS) {
      try {
        const result = await measure(kind, settings, out);
        results.push(result);
        printDeployment(result, settings, out);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        out.problems.push(`fleet ${kind} failed: ${message}`);
        out.print(`!! fleet ${kind} failed: ${message}`);
      }
      out.print();
    }
    const seconds = (performance.now() - started) / 1000;
    out.print(
      `Fleet section: ${seconds.toFixed(0)} s. Each idle process holds ${int(settings.circuits)} circuits of its own and makes no call; its CPU`,
    );
    out.print(
      `includes its own background re-reads (default resyncInterval 5 s x resyncBatch 100). The window starts ${SETTLE_MS / 1000} s after`,
    );
    out.print(
      `the last process is ready; the fleet registers ${REGISTERING_AT_ONCE} processes at a time, ${FLEET_CHUNK} circuits at a time (not measured).`,
    );
    out.print(
      `The storm's lanes trip in step (same ttl), in bursts of ${int(settings.failing)} trips every ~${settings.ttl * 1000} ms: one burst is more than 1 % of the trips,`,
    );
    out.print("so a single stalled burst (a gc pause, a process the OS did not schedule in time) sets the p99.");
    out.sections.fleet = { settings, seconds: Number(seconds.toFixed(1)), deployments: results };
  },
};
