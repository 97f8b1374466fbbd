/**
 * The watching-cost section of `npm run bench` (`npm run bench -- watch`): what following a fleet
 * costs its Redis, and how soon a change shows. On a throw-away redis-server, C circuits (default
 * 10,000, `BENCH_WATCH_CIRCUITS`) are registered, then their holder closes: nothing changes.
 *
 * - **Idle cost.** The dashboard (`purgatory dashboard`) and `purgatory circuits --watch`, each in
 *   a child process of its own (the sources through tsx), one after the other: the commands Redis
 *   ran in a window (`BENCH_WATCH_SECONDS`, default 20) after they settled, by `INFO
 *   commandstats` (its own `INFO` left out), per second and by command. Beside them, the previous
 *   dashboard's way, measured the same: every circuit read every 250 ms (`inspect()`).
 * - **A change to the output.** Both watchers running, a process trips circuits one at a time
 *   (`BENCH_WATCH_TRIPS`, default 100, 50 to 250 ms apart, threshold 1): the time from sending the
 *   failing call to the `circuit` event on the dashboard's event stream (`GET /events`) and to the
 *   `circuit` line of `circuits --watch --json`, p50 / p99 / max.
 *
 * Targets (docs/design.md, Targets): idle, at most 20 commands/s; a change shown within 1 s, p99.
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { Fleet } from "../../src/fleet/fleet.js";
import { loadPurgatory, SOURCE } from "../purgatory.js";
import { percentile, table, verdict, type Report, type Section } from "../report.js";
import { startBenchRedis } from "../redis/server.js";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const CLI = join(ROOT, "src/cli/bin.ts");

const IDLE_TARGET = 20;
const CHANGE_P99_TARGET_MS = 1000;
/** After a watcher is up (its first read of every circuit done), before the idle window. */
const SETTLE_MS = 3000;
/** The previous dashboard's read interval, and how long its cost is measured. */
const POLL_MS = 250;
const POLL_WINDOW_MS = 5000;

const positive = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`${name} must be a number > 0, not ${raw}`);
  return value;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const perSecond = (n: number): string => (n < 100 ? n.toFixed(1) : int(n));

/** Commands the server ran so far, by name (its own `INFO` left out). */
async function commandCounts(admin: Redis): Promise<Map<string, number>> {
  const info = await admin.info("commandstats");
  const counts = new Map<string, number>();
  for (const [, name = "", calls = "0"] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (name !== "info") counts.set(name, Number(calls));
  }
  return counts;
}

/** Commands per second over `ms`, in all and by command. */
async function commandsOver(admin: Redis, ms: number): Promise<CommandRate> {
  const before = await commandCounts(admin);
  const started = performance.now();
  await sleep(ms);
  const after = await commandCounts(admin);
  const seconds = (performance.now() - started) / 1000;
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [name, calls] of after) {
    const delta = calls - (before.get(name) ?? 0);
    if (delta === 0) continue;
    byCommand[name] = delta / seconds;
    total += delta;
  }
  return { perSecond: total / seconds, byCommand, seconds };
}

interface CommandRate {
  readonly perSecond: number;
  readonly byCommand: Readonly<Record<string, number>>;
  readonly seconds: number;
}

/** A child process printing lines, each handed to the listeners. */
interface Watcher {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  onLine(listener: (line: string) => void): void;
  stop(): Promise<void>;
}

/** Spawns `purgatory <args>` from the sources; ready at its first line that `isReady`. */
function startWatcher(args: readonly string[], isReady: (line: string) => boolean): Watcher {
  const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const listeners: ((line: string) => void)[] = [];
  let buffered = "";
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      for (const listener of listeners) listener(line);
    }
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    listeners.push((line) => {
      if (isReady(line)) resolve();
    });
    void exited.then(() => reject(new Error(`purgatory ${args[0]} exited: ${stderr}`)));
  });
  return {
    child,
    ready,
    onLine: (listener) => listeners.push(listener),
    async stop() {
      child.kill("SIGTERM");
      const killed = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killed);
    },
  };
}

/** What the section measured. */
export interface WatchResult {
  readonly circuits: number;
  readonly idle: {
    readonly dashboard: CommandRate;
    readonly cliWatch: CommandRate;
    readonly polling: CommandRate;
  };
  readonly change: {
    readonly trips: number;
    readonly dashboard: LatencyFigures;
    readonly cliWatch: LatencyFigures;
  };
}

interface LatencyFigures {
  readonly seen: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

function latencyFigures(latencies: readonly number[]): LatencyFigures {
  const sorted = [...latencies].sort((a, b) => a - b);
  const seen = sorted.filter(Number.isFinite).length;
  return {
    seen,
    p50Ms: sorted.length === 0 ? Number.NaN : percentile(sorted, 50),
    p99Ms: sorted.length === 0 ? Number.NaN : percentile(sorted, 99),
    maxMs: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
  };
}

async function measure(out: Report): Promise<WatchResult> {
  const circuits = Math.floor(positive("BENCH_WATCH_CIRCUITS", 10_000));
  const windowMs = positive("BENCH_WATCH_SECONDS", 20) * 1000;
  const trips = Math.floor(positive("BENCH_WATCH_TRIPS", 100));
  const redis = await startBenchRedis();
  if (!redis.dedicated) throw new Error("the watch section needs redis-server (a dedicated one: INFO counts all)");
  const prefix = "bench-watch";
  const admin = new Redis(redis.url);
  const { AsyncCircuitBreakerFactory, RedisStorage } = await loadPurgatory();
  const running: Watcher[] = [];
  try {
    out.progress(`watch: registering ${int(circuits)} circuits`);
    const filler = new AsyncCircuitBreakerFactory({
      storage: new RedisStorage({ url: redis.url, prefix }),
      defaultThreshold: 1,
      defaultTtl: 3600,
    });
    const names = Array.from({ length: circuits }, (_, i) => `service-${String(i).padStart(5, "0")}.example.com`);
    for (let i = 0; i < names.length; i += 1000) {
      await Promise.all(names.slice(i, i + 1000).map((name) => filler.getBreaker(name)));
    }
    await filler.close();
    const connection = ["--redis", redis.url, "--prefix", prefix];

    out.progress(`watch: the dashboard alone, ${windowMs / 1000} s idle`);
    const dashboard = startWatcher(["dashboard", ...connection, "--port", "0"], (l) =>
      l.startsWith("purgatory dashboard: http"),
    );
    running.push(dashboard);
    let dashboardUrl = "";
    dashboard.onLine((line) => (dashboardUrl ||= /(http:\/\/\S+)/.exec(line)?.[1] ?? ""));
    await dashboard.ready;
    await sleep(SETTLE_MS);
    const dashboardIdle = await commandsOver(admin, windowMs);

    out.progress(`watch: circuits --watch alone, ${windowMs / 1000} s idle`);
    // The dashboard keeps running for the latency phase, but not during this window.
    dashboard.child.kill("SIGSTOP");
    const cliWatch = startWatcher(["circuits", "--watch", "--json", ...connection], (l) => l.includes('"snapshot"'));
    running.push(cliWatch);
    await cliWatch.ready;
    await sleep(SETTLE_MS);
    const cliIdle = await commandsOver(admin, windowMs);
    cliWatch.child.kill("SIGSTOP");

    out.progress(`watch: the previous dashboard's way, every circuit read every ${POLL_MS} ms`);
    const fleet = await Fleet.connect({ url: redis.url, prefix });
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await fleet.circuits();
        await sleep(POLL_MS);
      }
    })();
    await sleep(POLL_MS * 2);
    const pollingIdle = await commandsOver(admin, POLL_WINDOW_MS);
    polling = false;
    await poller;
    await fleet.close();

    out.progress(`watch: ${trips} trips, one at a time, to both watchers' output`);
    dashboard.child.kill("SIGCONT");
    cliWatch.child.kill("SIGCONT");
    await sleep(SETTLE_MS);
    const seenBy = { dashboard: new Map<string, number>(), cliWatch: new Map<string, number>() };
    cliWatch.onLine((line) => {
      if (!line.includes('"type":"circuit"')) return;
      const { circuit } = JSON.parse(line) as { circuit: { name: string; state: string } };
      if (circuit.state === "opened" && !seenBy.cliWatch.has(circuit.name))
        seenBy.cliWatch.set(circuit.name, Date.now());
    });
    const abort = new AbortController();
    const stream = await fetch(`${dashboardUrl}events`, { signal: abort.signal });
    const reading = (async () => {
      const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let text = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          text += decoder.decode(value, { stream: true });
          let end: number;
          while ((end = text.indexOf("\n\n")) >= 0) {
            const frame = text.slice(0, end);
            text = text.slice(end + 2);
            if (!frame.startsWith("event: circuit\n")) continue;
            const data = JSON.parse(frame.slice(frame.indexOf("data: ") + 6)) as {
              circuit: { info: { name: string; state: string } };
            };
            const { name, state } = data.circuit.info;
            if (state === "opened" && !seenBy.dashboard.has(name)) seenBy.dashboard.set(name, Date.now());
          }
        }
      } catch {
        // aborted
      }
    })();
    const tripper = new AsyncCircuitBreakerFactory({ storage: new RedisStorage({ url: redis.url, prefix }) });
    await tripper.initialize();
    const sent = new Map<string, number>();
    const step = Math.max(1, Math.floor(circuits / trips));
    for (let k = 0; k < trips; k++) {
      const name = names[(k * step) % names.length] as string;
      const breaker = await tripper.getBreaker(name);
      await sleep(50 + Math.random() * 200);
      sent.set(name, Date.now());
      await breaker.run(() => Promise.reject(new Error("down"))).catch(() => undefined);
    }
    await sleep(1500);
    abort.abort();
    await reading;
    await tripper.close();
    const latencies = (seen: Map<string, number>) =>
      [...sent].map(([name, at]) => (seen.get(name) ?? Number.POSITIVE_INFINITY) - at);
    return {
      circuits,
      idle: { dashboard: dashboardIdle, cliWatch: cliIdle, polling: pollingIdle },
      change: {
        trips: sent.size,
        dashboard: latencyFigures(latencies(seenBy.dashboard)),
        cliWatch: latencyFigures(latencies(seenBy.cliWatch)),
      },
    };
  } finally {
    for (const watcher of running) {
      watcher.child.kill("SIGCONT");
      await watcher.stop();
    }
    admin.disconnect();
    await redis.stop();
  }
}

/** `hmget 9.0, time 1.0, ...`, the busiest first. */
function byCommandText(rate: CommandRate): string {
  return Object.entries(rate.byCommand)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${perSecond(n)}`)
    .join(", ");
}

function print(r: WatchResult, out: Report): void {
  out.print(
    `Watching ${int(r.circuits)} circuits of which none changes: commands/s Redis ran (INFO commandstats, its own INFO left out),`,
  );
  out.print(
    `dedicated redis-server on loopback; the watchers are child processes running src/ through tsx (purgatory ${SOURCE}).`,
  );
  out.print();
  const idlePass = (rate: CommandRate) => rate.perSecond <= IDLE_TARGET;
  out.print(
    table(
      ["watcher", "commands/s", "by command", "target", "result"],
      [
        [
          "purgatory dashboard",
          perSecond(r.idle.dashboard.perSecond),
          byCommandText(r.idle.dashboard),
          `<= ${IDLE_TARGET}`,
          verdict(idlePass(r.idle.dashboard)),
        ],
        [
          "purgatory circuits --watch",
          perSecond(r.idle.cliWatch.perSecond),
          byCommandText(r.idle.cliWatch),
          `<= ${IDLE_TARGET}`,
          verdict(idlePass(r.idle.cliWatch)),
        ],
        [
          `before: every circuit read every ${POLL_MS} ms`,
          perSecond(r.idle.polling.perSecond),
          byCommandText(r.idle.polling),
          "",
          "",
        ],
      ],
      "lrlrr",
    ),
  );
  out.print();
  out.print(`A trip to the watcher's output (${r.change.trips} trips one at a time, from sending the failing call):`);
  out.print();
  const changePass = (f: LatencyFigures) => f.seen === r.change.trips && f.p99Ms <= CHANGE_P99_TARGET_MS;
  const ms = (n: number) => (Number.isFinite(n) ? `${Math.round(n)} ms` : "never");
  out.print(
    table(
      ["output", "seen", "p50", "p99", "max", "target", "result"],
      [
        ["dashboard event stream", r.change.dashboard, "dashboard"],
        ["circuits --watch --json", r.change.cliWatch, "circuits --watch"],
      ].map(([label, f]) => {
        const figures = f as LatencyFigures;
        return [
          label as string,
          `${figures.seen}/${r.change.trips}`,
          ms(figures.p50Ms),
          ms(figures.p99Ms),
          ms(figures.maxMs),
          `p99 <= ${CHANGE_P99_TARGET_MS} ms`,
          verdict(changePass(figures)),
        ];
      }),
      "lrrrrlr",
    ),
  );
  const worstIdle = Math.max(r.idle.dashboard.perSecond, r.idle.cliWatch.perSecond);
  out.target({
    id: "watch.idle-commands",
    label: `watching ${int(r.circuits)} idle circuits (dashboard, circuits --watch): Redis commands/s`,
    goal: `<= ${IDLE_TARGET}/s`,
    measured: `${perSecond(worstIdle)}/s (before: ${int(r.idle.polling.perSecond)}/s)`,
    pass: idlePass(r.idle.dashboard) && idlePass(r.idle.cliWatch),
  });
  const worstP99 = Math.max(r.change.dashboard.p99Ms, r.change.cliWatch.p99Ms);
  out.target({
    id: "watch.change-p99",
    label: "a trip to the dashboard's event stream and circuits --watch, p99",
    goal: `<= ${CHANGE_P99_TARGET_MS} ms`,
    measured: ms(worstP99),
    pass: changePass(r.change.dashboard) && changePass(r.change.cliWatch),
  });
}

export const watchSection: Section = {
  name: "watch",
  async run(out) {
    const result = await measure(out);
    out.sections.watch = result;
    print(result, out);
  },
};
