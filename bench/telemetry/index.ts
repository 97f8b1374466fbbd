/**
 * The telemetry section of `npm run bench` (`npm run bench -- telemetry`): what the fleet's
 * telemetry (docs/telemetry.md) costs, with real OS processes on a throw-away standalone
 * redis-server, then on a throw-away 3-master Redis Cluster (the processes and the watchers get an
 * ioredis `Cluster` as their client).
 *
 * The fleet: P "traffic" processes (default 8) of C circuits each (default 1,000), each calling its
 * circuits round-robin at a steady R calls a second in all (default 1,000: every circuit once a
 * second), F % of them failing every call (default 5 %; they never open, so after their first
 * failure they publish nothing); and one "idle-watch" process holding C circuits, making no call.
 * Watchers: `purgatory dashboard` with a page connected (its event stream; dashboard.ts), and one
 * process running a `TrafficWatch` (what `purgatory top` runs through `Fleet.watchTraffic()`;
 * watcher.ts). A dashboard that does not announce a traffic watch with a page connected (one
 * without it) is replaced by a second `TrafficWatch` process standing in for it, and the report
 * says so; `BENCH_TELEMETRY_DASHBOARD=stand-in` always takes the stand-in. The real dashboard
 * runs only while watched: its circuit feed has commands of its own (`ZCARD` and `ZRANGEBYSCORE`
 * of the registry every second, `HMGET` sweeps), counted in that window; its `ZRANGEBYSCORE` are
 * told apart by their `ZCARD` (one each).
 *
 * Three windows of S seconds (default 10), side by side: nobody watching; both watchers watching
 * (after they settled); nobody watching again (once every process says it stopped). In each:
 * `INFO commandstats` and `INFO cpu` of every server (diffs), each process's `process.cpuUsage()`
 * and counters. Then, while watched, a subscriber of the reports' channel counts their bytes.
 *
 * Environment: BENCH_TELEMETRY_PROCESSES (P), BENCH_TELEMETRY_CIRCUITS (C), BENCH_TELEMETRY_RATE (R),
 * BENCH_TELEMETRY_FAILING (F, percent), BENCH_TELEMETRY_SECONDS (S), BENCH_TELEMETRY_DASHBOARD
 * (`auto`, the default, or `stand-in`).
 *
 * Targets: no telemetry command with nobody watching; while watching, P reports plus 0.5
 * announcement per watcher a second; Redis CPU due to the telemetry under 5 % of a core; an
 * idle-watch process under 1 % of a core while watched.
 * @module
 */
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { DEPLOYMENTS, startDeployment, type DeploymentKind, type Target } from "../fleet/deployment.js";
import { deadline } from "../fleet/members.js";
import { table, verdict, type Report, type Section } from "../report.js";
import { startDashboardProcess, type DashboardProcess, type Page, type PageCounts } from "./dashboard.js";
import type { MemberConfig, MemberReady, MemberSample } from "./member.js";
import { spawnProcess, type SectionProcess } from "./processes.js";
import type { WatcherConfig, WatcherSample } from "./watcher.js";

/** The size of the fleet and of the windows. */
export interface TelemetrySettings {
  readonly processes: number;
  readonly circuits: number;
  /** Calls a second of each traffic process. */
  readonly rate: number;
  /** Circuits of each traffic process that fail every call. */
  readonly failing: number;
  readonly failingPercent: number;
  /** Seconds of each window. */
  readonly seconds: number;
  readonly watchers: number;
  /** `auto`: the real dashboard if it watches the traffic, else a stand-in; `stand-in`: always the stand-in. */
  readonly dashboard: "auto" | "stand-in";
}

/** The commands of the telemetry, as `INFO commandstats` names them. */
const TELEMETRY = ["eval", "zrangebyscore", "spublish", "publish"] as const;
/** What the announcements' and leaving's scripts run inside (also counted by commandstats). */
const INSIDE_SCRIPTS = ["zremrangebyscore", "zadd", "pexpire", "zrem"] as const;

const REDIS_CPU_TARGET = 5;
const IDLE_WATCH_CPU_TARGET = 1;
/** The tolerance on the watched command rate (reports and announcements fall on whole seconds). */
const WATCHED_TOLERANCE = 0.2;
/**
 * After the last process is ready, before the first window: a process calling 1,000 times a
 * second uses more CPU for its first 30 s or so (its registration's garbage, the JIT), which would
 * read as a difference between the windows.
 */
const SETTLE_MS = 25_000;
/** After the watchers are up, before the watched window: every process reporting, warmed up. */
const WATCH_SETTLE_MS = 5000;
/** How long the reports' bytes are counted. */
const PROBE_MS = 4000;
/** Processes registering at once (the fleet's start is not what is measured). */
const REGISTERING_AT_ONCE = 2;

const positive = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a number > 0, not ${raw}`);
  return value;
};

/** The settings from the environment. */
export function telemetrySettings(): TelemetrySettings {
  const circuits = Math.floor(positive("BENCH_TELEMETRY_CIRCUITS", 1000));
  const failingPercent = Math.min(100, positive("BENCH_TELEMETRY_FAILING", 5));
  return {
    processes: Math.floor(positive("BENCH_TELEMETRY_PROCESSES", 8)),
    circuits,
    rate: positive("BENCH_TELEMETRY_RATE", 1000),
    failing: Math.round((circuits * failingPercent) / 100),
    failingPercent,
    seconds: positive("BENCH_TELEMETRY_SECONDS", 10),
    watchers: 2,
    dashboard: process.env.BENCH_TELEMETRY_DASHBOARD === "stand-in" ? "stand-in" : "auto",
  };
}

/** One server's counters: commands by name since it started (its `INFO` left out), CPU seconds. */
interface ServerCounters {
  readonly commands: Map<string, number>;
  readonly cpuSeconds: number;
}

/** Plain clients of every server of a deployment (the masters of a Cluster), for `INFO`. */
class Servers {
  readonly #clients: Redis[];

  constructor(target: Target) {
    const addresses =
      target.kind === "standalone"
        ? [{ host: new URL(target.url).hostname, port: Number(new URL(target.url).port) }]
        : target.nodes;
    this.#clients = addresses.map(({ host, port }) => {
      const client = new Redis({ host, port, maxRetriesPerRequest: 1 });
      client.on("error", () => undefined);
      return client;
    });
  }

  get count(): number {
    return this.#clients.length;
  }

  /** Every server's counters, summed. */
  async counters(): Promise<ServerCounters> {
    const each = await Promise.all(
      this.#clients.map(async (client) => {
        const [commandstats, cpu] = await Promise.all([client.info("commandstats"), client.info("cpu")]);
        return { commandstats, cpu };
      }),
    );
    const commands = new Map<string, number>();
    let cpuSeconds = 0;
    for (const { commandstats, cpu } of each) {
      for (const [, name = "", calls = "0"] of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (name !== "info") commands.set(name, (commands.get(name) ?? 0) + Number(calls));
      }
      const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(cpu)?.[1] ?? NaN);
      cpuSeconds += field("used_cpu_sys") + field("used_cpu_user");
    }
    return { commands, cpuSeconds };
  }

  /** The client of the server that holds `key` (the master of its slot in a Cluster). */
  async ownerOf(key: string): Promise<Redis> {
    const first = this.#clients[0] as Redis;
    if (this.#clients.length === 1) return first;
    const slot = Number(await first.call("CLUSTER", "KEYSLOT", key));
    const ranges = (await first.call("CLUSTER", "SLOTS")) as [number, number, [string, number]][];
    const port = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
    return this.#clients.find((c) => c.options.port === Number(port)) ?? first;
  }

  /**
   * Subscribes to `channel` (sharded on Redis 7, on the master of its slot in a Cluster) for `ms`,
   * and hands each message to `heard`.
   */
  async listen(channel: string, ms: number, heard: (message: Buffer) => void): Promise<void> {
    const owner = await this.ownerOf(channel);
    const version = Number(/^redis_version:(\d+)/m.exec(await owner.info("server"))?.[1] ?? 0);
    const subscriber = owner.duplicate();
    subscriber.on("error", () => undefined);
    try {
      if (version >= 7) {
        subscriber.on("smessageBuffer", (_channel: Buffer, message: Buffer) => heard(message));
        await subscriber.ssubscribe(channel);
      } else {
        subscriber.on("messageBuffer", (_channel: Buffer, message: Buffer) => heard(message));
        await subscriber.subscribe(channel);
      }
      await sleep(ms);
    } finally {
      subscriber.disconnect();
    }
  }

  close(): void {
    for (const client of this.#clients) client.disconnect();
  }
}

/** A process's figures over one window. */
export interface MemberWindow {
  readonly process: string;
  readonly role: MemberConfig["role"];
  readonly cpuPercent: number;
  readonly gcMs: number;
  readonly callsPerSecond: number;
  readonly failuresPerSecond: number;
  readonly reportsPerSecond: number;
  /** Scripts it ran a second (its failures, re-reads). */
  readonly scriptsPerSecond: number;
  /** Whether it said it was watched at the window's end. */
  readonly watched: boolean;
  readonly unexpected: number;
  /** `storage_unavailable` / `storage_error` events in the window. */
  readonly storageProblems: number;
}

/** A watcher's figures over one window. */
export interface WatcherWindow {
  readonly label: string;
  readonly cpuPercent: number;
  readonly gcMs: number;
  readonly reportsPerSecond: number;
  readonly announcementsPerSecond: number;
  readonly late: number;
  /** In its latest snapshot at the window's end. */
  readonly processes: number;
  readonly fleetCallsPerSecond: number;
}

/** The dashboard's figures over one window (its CPU from /proc; what its page received). */
export interface DashboardWindow {
  readonly cpuPercent: number;
  readonly pageBytesPerSecond: number;
  /** `traffic` events a second, and their bytes a second. */
  readonly trafficEventsPerSecond: number;
  readonly trafficBytesPerSecond: number;
}

/** What one window measured. */
export interface WindowResult {
  readonly label: string;
  readonly seconds: number;
  /** Commands a second by name, every server summed (commands run inside scripts included). */
  readonly commandsPerSecond: Readonly<Record<string, number>>;
  /**
   * The same as counts, for the telemetry's commands (`zrangebyscore` without the dashboard feed's:
   * one per `ZCARD`).
   */
  readonly telemetryCommands: Readonly<Record<string, number>>;
  readonly allCommandsPerSecond: number;
  readonly redisCpuPercent: number;
  readonly members: readonly MemberWindow[];
  readonly watchers: readonly WatcherWindow[];
  /** The real dashboard, when it ran in the window. */
  readonly dashboard: DashboardWindow | null;
}

/** The bytes of the reports, counted by a subscriber of their channel. */
export interface BytesResult {
  readonly seconds: number;
  readonly reportsPerSecond: number;
  readonly bytesPerSecond: number;
  readonly bytesPerReport: number;
  readonly circuitsPerReport: number;
  /** By process: bytes a second. */
  readonly byProcess: Readonly<Record<string, number>>;
}

/** Everything measured on one deployment. */
export interface TelemetryDeploymentResult {
  readonly deployment: DeploymentKind;
  readonly redisServers: number;
  readonly loadAverage: { readonly before: string; readonly after: string };
  readonly windows: { readonly unwatched: WindowResult; readonly watched: WindowResult; readonly after: WindowResult };
  /** Which dashboard watched: the real one with a page connected, or a stand-in (and why). */
  readonly dashboard: { readonly kind: "real" | "stand-in"; readonly why: string | null };
  readonly bytes: BytesResult;
  /** From the watchers' `exit` to every process saying it stopped reporting (ms). */
  readonly stoppedAfterMs: number;
  readonly storageProblems: number;
  readonly firstProblem: string | null;
}

type Member = SectionProcess<MemberReady, MemberSample> & { readonly config: MemberConfig };
type Watcher = SectionProcess<{ pid: number; id: string }, WatcherSample>;

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const perSecond = (n: number, seconds: number): number => n / seconds;
const cpuPercent = (a: { cpuUs: number; at: number }, b: { cpuUs: number; at: number }): number =>
  ((b.cpuUs - a.cpuUs) / 1000 / (b.at - a.at)) * 100;

/** The real dashboard and its page, while they run. */
interface RealDashboard {
  readonly process: DashboardProcess;
  readonly page: Page;
}

/** Measures one window of `seconds`: servers and processes sampled at its start and end. */
async function measureWindow(
  label: string,
  seconds: number,
  servers: Servers,
  members: readonly Member[],
  watchers: readonly Watcher[],
  dashboard?: RealDashboard,
): Promise<WindowResult> {
  const samples = () =>
    Promise.all([Promise.all(members.map((m) => m.sample())), Promise.all(watchers.map((w) => w.sample()))]);
  const dashboardAt = (): { cpu: number; at: number; page: PageCounts } | null =>
    dashboard === undefined
      ? null
      : { cpu: dashboard.process.cpuSeconds(), at: performance.now(), page: dashboard.page.counts() };
  const [m0, w0] = await samples();
  const d0 = dashboardAt();
  const r0 = await servers.counters();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const r1 = await servers.counters();
  const wall = (performance.now() - t0) / 1000;
  const d1 = dashboardAt();
  const [m1, w1] = await samples();
  const commandsPerSecond: Record<string, number> = {};
  const telemetryCommands: Record<string, number> = {};
  let all = 0;
  for (const [name, calls] of r1.commands) {
    const delta = calls - (r0.commands.get(name) ?? 0);
    all += delta;
    if (delta !== 0) commandsPerSecond[name] = delta / wall;
    if ((TELEMETRY as readonly string[]).includes(name) || (INSIDE_SCRIPTS as readonly string[]).includes(name))
      telemetryCommands[name] = delta;
  }
  // The dashboard's circuit feed looks at the registry with one ZCARD and one ZRANGEBYSCORE (and
  // relists it with a ZRANGEBYSCORE every 30 s): not the telemetry's.
  const zcard = (r1.commands.get("zcard") ?? 0) - (r0.commands.get("zcard") ?? 0);
  if (telemetryCommands.zrangebyscore !== undefined)
    telemetryCommands.zrangebyscore = Math.max(0, telemetryCommands.zrangebyscore - zcard);
  return {
    label,
    seconds: wall,
    commandsPerSecond,
    telemetryCommands,
    allCommandsPerSecond: all / wall,
    redisCpuPercent: ((r1.cpuSeconds - r0.cpuSeconds) / wall) * 100,
    members: members.map((m, i): MemberWindow => {
      const a = m0[i] as MemberSample;
      const b = m1[i] as MemberSample;
      const s = (b.at - a.at) / 1000;
      return {
        process: m.config.processName,
        role: m.config.role,
        cpuPercent: cpuPercent(a, b),
        gcMs: b.gcMs - a.gcMs,
        callsPerSecond: perSecond(b.calls - a.calls, s),
        failuresPerSecond: perSecond(b.failures - a.failures, s),
        reportsPerSecond: perSecond(b.reports - a.reports, s),
        scriptsPerSecond: perSecond(b.scripts - a.scripts, s),
        watched: b.watched,
        unexpected: b.unexpected - a.unexpected,
        storageProblems: b.storageProblems - a.storageProblems,
      };
    }),
    watchers: watchers.map((w, i): WatcherWindow => {
      const a = w0[i] as WatcherSample;
      const b = w1[i] as WatcherSample;
      const s = (b.at - a.at) / 1000;
      return {
        label: w.label,
        cpuPercent: cpuPercent(a, b),
        gcMs: b.gcMs - a.gcMs,
        reportsPerSecond: perSecond(b.reports - a.reports, s),
        announcementsPerSecond: perSecond(b.announcements - a.announcements, s),
        late: b.late - a.late,
        processes: b.processes,
        fleetCallsPerSecond: b.callsPerSecond,
      };
    }),
    dashboard:
      d0 === null || d1 === null
        ? null
        : ((s: number): DashboardWindow => ({
            cpuPercent: ((d1.cpu - d0.cpu) / s) * 100,
            pageBytesPerSecond: (d1.page.bytes - d0.page.bytes) / s,
            trafficEventsPerSecond: ((d1.page.events.traffic ?? 0) - (d0.page.events.traffic ?? 0)) / s,
            trafficBytesPerSecond: ((d1.page.bytesByEvent.traffic ?? 0) - (d0.page.bytesByEvent.traffic ?? 0)) / s,
          }))((d1.at - d0.at) / 1000),
  };
}

/** Counts the reports on their channel for `ms`: how many, their bytes, by process. */
async function measureBytes(servers: Servers, prefix: string, ms: number): Promise<BytesResult> {
  let reports = 0;
  let bytes = 0;
  let circuits = 0;
  const byProcess: Record<string, number> = {};
  const started = performance.now();
  await servers.listen(`${prefix}:{telemetry}:reports`, ms, (message) => {
    reports += 1;
    bytes += message.length;
    const report = JSON.parse(message.toString("utf8")) as { p?: unknown; c?: unknown };
    if (Array.isArray(report.c)) circuits += report.c.length;
    const p = String(report.p);
    byProcess[p] = (byProcess[p] ?? 0) + message.length;
  });
  const seconds = (performance.now() - started) / 1000;
  for (const p of Object.keys(byProcess)) byProcess[p] = (byProcess[p] ?? 0) / seconds;
  return {
    seconds,
    reportsPerSecond: reports / seconds,
    bytesPerSecond: bytes / seconds,
    bytesPerReport: reports === 0 ? 0 : bytes / reports,
    circuitsPerReport: reports === 0 ? 0 : circuits / reports,
    byProcess,
  };
}

/** Spawns the members, `REGISTERING_AT_ONCE` at a time, each added to `spawned` at once. */
async function spawnMembers(configs: readonly MemberConfig[], spawned: Member[], readyMs: number): Promise<void> {
  let next = 0;
  const slot = async (): Promise<void> => {
    for (let i = next++; i < configs.length; i = next++) {
      const config = configs[i] as MemberConfig;
      const member = Object.assign(spawnProcess<MemberReady, MemberSample>("member", config.processName, config), {
        config,
      });
      spawned.push(member);
      await deadline(member.ready, readyMs, `telemetry: ${config.processName} registering`);
    }
  };
  await Promise.all(Array.from({ length: REGISTERING_AT_ONCE }, slot));
  spawned.sort((a, b) => configs.indexOf(a.config) - configs.indexOf(b.config));
}

/** Runs the whole measurement on a fresh deployment of `kind`, and stops every process it started. */
async function measure(
  kind: DeploymentKind,
  settings: TelemetrySettings,
  out: Report,
): Promise<TelemetryDeploymentResult> {
  out.progress(`telemetry ${kind}: starting the deployment`);
  const deployment = await startDeployment(kind);
  const servers = new Servers(deployment.target);
  const members: Member[] = [];
  const watchers: Watcher[] = [];
  let dashboard: RealDashboard | undefined;
  const prefix = `telemetry-${kind}`;
  try {
    const base = { target: deployment.target, prefix, circuits: settings.circuits } as const;
    const configs: MemberConfig[] = [
      ...Array.from({ length: settings.processes }, (_, k): MemberConfig => ({
        ...base,
        role: "traffic",
        processName: `traffic-${k}`,
        rate: settings.rate,
        failing: settings.failing,
      })),
      { ...base, role: "idle-watch", processName: "idle-watch", rate: 0, failing: 0 },
    ];
    out.progress(
      `telemetry ${kind}: ${configs.length} processes x ${settings.circuits.toLocaleString("en-US")} circuits registering`,
    );
    await spawnMembers(configs, members, 120_000);
    await sleep(SETTLE_MS);
    const loadBefore = load();

    out.progress(`telemetry ${kind}: ${settings.seconds} s, nobody watching`);
    const unwatched = await measureWindow("nobody watching", settings.seconds, servers, members, []);

    out.progress(`telemetry ${kind}: ${settings.watchers} watchers starting`);
    const watcherConfig: WatcherConfig = { target: deployment.target, prefix };
    const top: Watcher = spawnProcess("watcher", "top", watcherConfig);
    watchers.push(top);
    let why: string | null = settings.dashboard === "stand-in" ? "BENCH_TELEMETRY_DASHBOARD=stand-in" : null;
    if (why === null) {
      try {
        const started = await startDashboardProcess(deployment.target, prefix);
        dashboard = { process: started, page: await started.page() };
      } catch (error) {
        why = `purgatory dashboard did not start: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
      }
    }
    const topId = (await deadline(top.ready, 60_000, `telemetry ${kind}: top starting`)).id;
    await sleep(WATCH_SETTLE_MS);
    if (dashboard !== undefined) {
      const key = `${prefix}:{telemetry}:watchers`;
      const ids = await (await servers.ownerOf(key)).zrange(key, 0, -1);
      if (!ids.some((id) => id !== topId)) {
        why = "purgatory dashboard, a page connected, announced no traffic watch";
        await dashboard.page.close();
        await dashboard.process.stop();
        dashboard = undefined;
      }
    }
    if (dashboard === undefined) {
      const standIn: Watcher = spawnProcess("watcher", "dashboard (stand-in)", watcherConfig);
      watchers.unshift(standIn);
      await deadline(standIn.ready, 60_000, `telemetry ${kind}: the dashboard's stand-in starting`);
      await sleep(WATCH_SETTLE_MS);
    }
    out.progress(
      `telemetry ${kind}: ${settings.seconds} s, watched (${dashboard === undefined ? `the dashboard's stand-in: ${why ?? "?"}` : "purgatory dashboard, a page connected"})`,
    );
    const watched = await measureWindow("watching", settings.seconds, servers, members, watchers, dashboard);
    out.progress(`telemetry ${kind}: counting the reports' bytes for ${PROBE_MS / 1000} s`);
    const bytes = await measureBytes(servers, prefix, PROBE_MS);

    out.progress(`telemetry ${kind}: the watchers leave`);
    const left = performance.now();
    for (const watcher of watchers) watcher.exit();
    const leaving = dashboard;
    const dashboardGone =
      leaving === undefined ? Promise.resolve() : leaving.page.close().then(() => leaving.process.stop());
    let stoppedAfterMs = Number.NaN;
    while (performance.now() - left < 15_000) {
      const samples = await Promise.all(members.map((m) => m.sample()));
      if (samples.every((s) => !s.watched)) {
        stoppedAfterMs = performance.now() - left;
        break;
      }
      await sleep(50);
    }
    await deadline(
      Promise.all([...watchers.map((w) => w.exited), dashboardGone]),
      15_000,
      `telemetry ${kind}: watchers ending`,
    ).catch(() => undefined);
    dashboard = undefined;
    await sleep(1000);
    out.progress(`telemetry ${kind}: ${settings.seconds} s, nobody watching again`);
    const after = await measureWindow("after the watchers left", settings.seconds, servers, members, []);
    const last = await Promise.all(members.map((m) => m.sample()));
    const loadAfter = load();
    for (const member of members) member.exit();
    await deadline(Promise.all(members.map((m) => m.exited)), 15_000, `telemetry ${kind}: processes ending`).catch(
      () => undefined,
    );
    return {
      deployment: kind,
      redisServers: servers.count,
      loadAverage: { before: loadBefore, after: loadAfter },
      windows: { unwatched, watched, after },
      dashboard: { kind: why === null ? "real" : "stand-in", why },
      bytes,
      stoppedAfterMs,
      storageProblems: last.reduce((sum, s) => sum + s.storageProblems, 0),
      firstProblem: last.find((s) => s.firstProblem !== null)?.firstProblem ?? null,
    };
  } finally {
    for (const p of [...members, ...watchers]) p.kill();
    await dashboard?.page.close();
    await dashboard?.process.stop();
    servers.close();
    await deployment.stop();
  }
}

const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const rate = (n: number | undefined): string => {
  const v = n ?? 0;
  return v === 0 ? "0" : v < 100 ? v.toFixed(2) : int(v);
};
const pct = (n: number): string => `${n.toFixed(2)} %`;
const signed = (n: number): string => `${n < 0 ? "-" : "+"}${pct(Math.abs(n))}`;
const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const max = (values: readonly number[]): number => Math.max(...values);
const bytesOf = (n: number): string =>
  n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${int(n)} B`;

/** Telemetry commands counted in a window (the scripts' inner commands included), in all. */
const telemetryCount = (w: WindowResult): number => Object.values(w.telemetryCommands).reduce((a, b) => a + b, 0);

/** Prints one deployment's tables and adds its targets. */
function printDeployment(r: TelemetryDeploymentResult, s: TelemetrySettings, out: Report): void {
  const where = r.deployment === "standalone" ? "standalone" : `${r.redisServers}-master Cluster`;
  const { unwatched, watched, after } = r.windows;
  const windows = [unwatched, watched, after];
  const traffic = (w: WindowResult) => w.members.filter((m) => m.role === "traffic");
  const idle = (w: WindowResult) => w.members.find((m) => m.role === "idle-watch") as MemberWindow;
  const expectedEval = s.processes + 0.5 * s.watchers;
  const evalWatched = watched.commandsPerSecond.eval ?? 0;
  const publishWatched = (watched.commandsPerSecond.spublish ?? 0) + (watched.commandsPerSecond.publish ?? 0);
  const zrangeWatched = (watched.telemetryCommands.zrangebyscore ?? 0) / watched.seconds;
  const within = (v: number) => Math.abs(v - expectedEval) <= expectedEval * WATCHED_TOLERANCE;
  const idleCommandsPass = telemetryCount(unwatched) === 0 && telemetryCount(after) === 0;
  const watchedCommandsPass = within(evalWatched) && within(publishWatched) && zrangeWatched === 0;
  // Against the mean of the windows before and after: what drifts along the run (a process
  // settling after its start, the machine's load) cancels out, to first order.
  const redisCpuAdded = watched.redisCpuPercent - (unwatched.redisCpuPercent + after.redisCpuPercent) / 2;
  const redisCpuPass = redisCpuAdded < REDIS_CPU_TARGET;
  const idleWatchCpu = idle(watched).cpuPercent;
  const idleWatchPass = idleWatchCpu < IDLE_WATCH_CPU_TARGET;
  const row = (label: string, cell: (w: WindowResult) => string, target = "", result = ""): string[] => [
    label,
    ...windows.map(cell),
    target,
    result,
  ];
  const cpuOf = (w: WindowResult) =>
    `${pct(mean(traffic(w).map((m) => m.cpuPercent)))} / ${pct(max(traffic(w).map((m) => m.cpuPercent)))}`;
  const others = (w: WindowResult) =>
    INSIDE_SCRIPTS.map((c) => `${c.toUpperCase()} ${rate(w.commandsPerSecond[c])}`).join(", ");
  out.print(
    `Telemetry on a throw-away ${r.deployment === "standalone" ? "standalone redis-server" : `${r.redisServers}-master Redis Cluster (no replicas)`}: ${s.processes} traffic processes x ${int(s.circuits)} circuits, each`,
  );
  out.print(
    `${int(s.rate)} calls/s round-robin (${s.failingPercent} % of its circuits fail every call), 1 idle-watch process (${int(s.circuits)} circuits, no call);`,
  );
  out.print(
    r.dashboard.kind === "real"
      ? `${s.watchers} watchers: purgatory dashboard with a page connected (its event stream), and "top" (a TrafficWatch process, as \`purgatory top\` runs it).`
      : `${s.watchers} watchers: "top" (a TrafficWatch process, as \`purgatory top\` runs it) and another standing in for the dashboard (${r.dashboard.why ?? "?"}).`,
  );
  out.print(`Windows of ${s.seconds} s; load average ${r.loadAverage.before} before, ${r.loadAverage.after} after.`);
  out.print();
  out.print(
    table(
      ["measure", "nobody watching", "watching", "after the watchers left", "target", "result"],
      [
        row(
          "EVAL /s (reports, announcements)",
          (w) => rate(w.commandsPerSecond.eval),
          `0 / ~${expectedEval.toFixed(1)} / 0`,
          verdict(idleCommandsPass && within(evalWatched)),
        ),
        row(
          "SPUBLISH + PUBLISH /s (inside the scripts)",
          (w) => rate((w.commandsPerSecond.spublish ?? 0) + (w.commandsPerSecond.publish ?? 0)),
          `0 / ~${expectedEval.toFixed(1)} / 0`,
          verdict(idleCommandsPass && within(publishWatched)),
        ),
        row(
          "ZRANGEBYSCORE /s (the watchers' set; not the feed's)",
          (w) => rate((w.telemetryCommands.zrangebyscore ?? 0) / w.seconds),
          "0 / 0 / 0",
          verdict(idleCommandsPass && zrangeWatched === 0),
        ),
        row("inside the announcements' scripts /s", others),
        row(
          "telemetry commands in the window, in all",
          (w) => int(telemetryCount(w)),
          "0 / - / 0",
          verdict(idleCommandsPass),
        ),
        row("EVALSHA /s (the fleet's own: failures, re-reads)", (w) => rate(w.commandsPerSecond.evalsha)),
        row("all commands /s (those inside scripts included)", (w) => rate(w.allCommandsPerSecond)),
        row(
          `Redis CPU, % of a core (${r.redisServers} server${r.redisServers === 1 ? "" : "s"})`,
          (w) => pct(w.redisCpuPercent),
          `+ < ${REDIS_CPU_TARGET} % watching`,
          verdict(redisCpuPass),
        ),
        row("calls /s, all traffic processes", (w) => int(traffic(w).reduce((a, m) => a + m.callsPerSecond, 0))),
        row("reports /s per traffic process (mean)", (w) => rate(mean(traffic(w).map((m) => m.reportsPerSecond)))),
        row("CPU per traffic process, mean / max", cpuOf),
        row(
          "CPU of the idle-watch process",
          (w) => pct(idle(w).cpuPercent),
          `< ${IDLE_WATCH_CPU_TARGET} % watching`,
          verdict(idleWatchPass),
        ),
        row("reports /s from the idle-watch process", (w) => rate(idle(w).reportsPerSecond)),
        row(`CPU of the watchers (${r.dashboard.kind === "real" ? "dashboard" : "dashboard's stand-in"} / top)`, (w) =>
          w.watchers.length === 0
            ? "-"
            : [...(w.dashboard === null ? [] : [w.dashboard.cpuPercent]), ...w.watchers.map((x) => x.cpuPercent)]
                .map(pct)
                .join(" / "),
        ),
        row(`reports /s received (late) by ${r.dashboard.kind === "real" ? "top" : "the stand-in / top"}`, (w) =>
          w.watchers.length === 0 ? "-" : w.watchers.map((x) => `${rate(x.reportsPerSecond)} (${x.late})`).join(" / "),
        ),
        row(`announcements /s by ${r.dashboard.kind === "real" ? "top" : "the stand-in / top"}`, (w) =>
          w.watchers.length === 0 ? "-" : w.watchers.map((x) => rate(x.announcementsPerSecond)).join(" / "),
        ),
        ...(r.dashboard.kind === "real"
          ? [
              row("the dashboard's page: traffic events /s, their bytes /s (all events)", (w) =>
                w.dashboard === null
                  ? "-"
                  : `${rate(w.dashboard.trafficEventsPerSecond)}, ${bytesOf(w.dashboard.trafficBytesPerSecond)} (${bytesOf(w.dashboard.pageBytesPerSecond)})`,
              ),
            ]
          : []),
      ],
      "lrrrll",
    ),
  );
  out.print();
  const b = r.bytes;
  out.print(
    `Reports on their channel (a subscriber, ${b.seconds.toFixed(1)} s while watched): ${rate(b.reportsPerSecond)} reports/s, ${bytesOf(b.bytesPerSecond)}/s ` +
      `(${bytesOf(b.bytesPerReport)} a report, ${b.circuitsPerReport.toFixed(0)} circuits in it: ${(b.bytesPerReport / Math.max(1, b.circuitsPerReport)).toFixed(1)} B a circuit); ` +
      `each is delivered to ${s.watchers} watchers. Processes stopped reporting ${Number.isNaN(r.stoppedAfterMs) ? "never (within 15 s)" : `${int(r.stoppedAfterMs)} ms`} after the watchers were told to leave.`,
  );
  out.print();
  out.print(
    table(
      [
        "process",
        "calls/s",
        "CPU nobody watching",
        "CPU watching",
        "CPU after",
        "added",
        "reports/s watching",
        "report bytes/s",
      ],
      watched.members.map((m, i) => {
        const before = unwatched.members[i] as MemberWindow;
        const later = after.members[i] as MemberWindow;
        return [
          m.process,
          int(m.callsPerSecond),
          pct(before.cpuPercent),
          pct(m.cpuPercent),
          pct(later.cpuPercent),
          signed(m.cpuPercent - (before.cpuPercent + later.cpuPercent) / 2),
          rate(m.reportsPerSecond),
          bytesOf(b.byProcess[m.process] ?? 0),
        ];
      }),
    ),
  );
  const label = (what: string): string => `telemetry (${where}): ${what}`;
  out.target({
    id: `telemetry.unwatched-commands.${r.deployment}`,
    label: label("telemetry commands with nobody watching (before the watchers, after they left)"),
    goal: "0",
    measured: `${int(telemetryCount(unwatched))} before, ${int(telemetryCount(after))} after (${s.seconds} s each)`,
    pass: idleCommandsPass,
  });
  out.target({
    id: `telemetry.watched-commands.${r.deployment}`,
    label: label(`commands while ${s.watchers} watch: ${s.processes} reports + 0.5 announcement per watcher a second`),
    goal: `EVAL and SPUBLISH ${expectedEval.toFixed(1)}/s (±${WATCHED_TOLERANCE * 100} %), ZRANGEBYSCORE 0`,
    measured: `EVAL ${rate(evalWatched)}/s, SPUBLISH ${rate(publishWatched)}/s, ZRANGEBYSCORE ${rate(zrangeWatched)}/s`,
    pass: watchedCommandsPass,
  });
  out.target({
    id: `telemetry.redis-cpu.${r.deployment}`,
    label: label("Redis CPU added by watching (watching - mean of nobody watching before and after)"),
    goal: `< ${REDIS_CPU_TARGET} % of a core`,
    measured: `${signed(redisCpuAdded)} (${pct(watched.redisCpuPercent)} watching${r.dashboard.kind === "real" ? ", the dashboard's feed included" : ""}; ${pct(unwatched.redisCpuPercent)} before, ${pct(after.redisCpuPercent)} after)`,
    pass: redisCpuPass,
  });
  out.target({
    id: `telemetry.idle-watch-cpu.${r.deployment}`,
    label: label(`CPU of a process holding ${int(s.circuits)} circuits, no call, while watched`),
    goal: `< ${IDLE_WATCH_CPU_TARGET} % of a core`,
    measured: `${pct(idleWatchCpu)} (${pct(idle(unwatched).cpuPercent)} with nobody watching)`,
    pass: idleWatchPass,
  });
  const notWatched = watched.members.filter((m) => !m.watched).map((m) => m.process);
  if (notWatched.length > 0)
    out.problems.push(`telemetry ${r.deployment}: not watched in the watched window: ${notWatched.join(", ")}`);
  const unexpected = windows.flatMap((w) => w.members).reduce((a, m) => a + m.unexpected, 0);
  if (unexpected > 0) out.problems.push(`telemetry ${r.deployment}: ${unexpected} calls ended otherwise than intended`);
  const inWindows = windows.flatMap((w) => w.members).reduce((a, m) => a + m.storageProblems, 0);
  if (inWindows > 0)
    out.problems.push(
      `telemetry ${r.deployment}: ${inWindows} storage events during the windows, the figures are not those of a healthy fleet (first event of the run: ${r.firstProblem ?? "?"})`,
    );
  else if (r.storageProblems > 0)
    out.print(
      `(${r.storageProblems} storage events while the processes registered or the watchers started, none in the windows; first: ${r.firstProblem ?? "?"})`,
    );
}

/** The telemetry section of `npm run bench`. */
export const telemetrySection: Section = {
  name: "telemetry",
  async run(out: Report): Promise<void> {
    const settings = telemetrySettings();
    const started = performance.now();
    const results: TelemetryDeploymentResult[] = [];
    for (const kind of DEPLOYMENTS) {
      try {
        const result = await measure(kind, settings, out);
        results.push(result);
        printDeployment(result, settings, out);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        out.problems.push(`telemetry ${kind} failed: ${message}`);
        out.print(`!! telemetry ${kind} failed: ${message}`);
      }
      out.print();
    }
    const seconds = (performance.now() - started) / 1000;
    out.print(
      `Telemetry section: ${seconds.toFixed(0)} s. The real dashboard runs in the watched window only; its circuit feed's own commands (ZCARD +`,
    );
    out.print(
      "ZRANGEBYSCORE of the registry 1/s, HMGET sweeps, TIME) and CPU are then counted there (its ZRANGEBYSCORE left out of the telemetry's).",
    );
    out.print(
      "Commands run inside scripts count in INFO commandstats: a report is one EVAL + one SPUBLISH, an announcement one EVAL + SPUBLISH,",
    );
    out.print(
      "ZREMRANGEBYSCORE, ZADD, PEXPIRE. The failing circuits' EVALSHA (one per failure) is the fleet's own traffic, in every window.",
    );
    out.sections.telemetry = { settings, seconds: Number(seconds.toFixed(1)), deployments: results };
  },
};
