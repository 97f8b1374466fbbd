/**
 * The quorum section of `npm run bench` (`npm run bench -- quorum`, which also runs the fleet's
 * quorum scenarios, `bench/fleet/quorum-section.ts`): on a throw-away redis-server,
 * - the closed success path of a circuit with `quorum: 2`, in memory and over RedisStorage, side by
 *   side with the same circuits without a quorum and a bare `await fn()` (`success.ts`), and the
 *   Redis commands it costs per call (0: a process says it calls a circuit per circuit and per
 *   time, never per call);
 * - what saying so costs: scripts per process per circuit per minute at the default 60 s
 *   `callerHorizon`, measured over several 2 s horizons, and with a `failureRate` window
 *   (`reporting.ts`).
 * @module
 */
import { Redis } from "ioredis";
import { loadPurgatory, SOURCE } from "../purgatory.js";
import { ns, ratio, table, verdict, type Report, type Section } from "../report.js";
import { startBenchRedis } from "../redis/server.js";
import { measureReporting, perMinuteAtDefaultHorizon, type ReportingResult } from "./reporting.js";
import { DEFAULT_HORIZON_MS, measureQuorumSuccess, QUORUM, type QuorumSuccessResult } from "./success.js";

/** docs/design.md: the closed success path within 1.8x a bare call, quorum or not. */
const SUCCESS_VS_BARE = 1.8;
/** The bound: a process tells Redis it calls a circuit at most 4 times per horizon. */
const REPORTS_PER_MINUTE = 4;

const int = (n: number): string => Math.round(n).toLocaleString("en-US");
/** `flush 1, read 1`, or `nothing`. */
const sentText = (sent: Readonly<Record<string, number>>): string =>
  Object.entries(sent)
    .map(([name, count]) => `${name} ${count}`)
    .join(", ") || "nothing";

function printSuccess(r: QuorumSuccessResult, out: Report): void {
  const fig = (id: string) => r.figures.find((f) => f.id === id);
  const memoryQuorum = fig("memory.quorum");
  const redisQuorum = fig("redis.quorum");
  const memoryPass = (memoryQuorum?.vsBare ?? Infinity) <= SUCCESS_VS_BARE;
  const redisPass = (redisQuorum?.vsBare ?? Infinity) <= SUCCESS_VS_BARE;
  const { redis, redisQuorum: counted } = r.counted;
  const t = r.timed;
  const commandsPass = counted.pass && redis.pass && t.pass;

  out.print(
    `Quorum, closed success path: median ns/op (mitata p50, median of ${r.rounds} interleaved rounds), purgatory from ${SOURCE};`,
  );
  out.print("RedisStorage on a dedicated redis-server on loopback, each Redis circuit in a storage of its own.");
  out.print();
  const goal = `<= ${ratio(SUCCESS_VS_BARE)} bare`;
  out.print(
    table(
      ["call", "ns/op", "spread", "vs bare", "+ns vs no quorum", "target", "result"],
      r.figures.map((f) => {
        const target = f.id === "memory.quorum" ? memoryPass : f.id === "redis.quorum" ? redisPass : null;
        return [
          f.call,
          ns(f.medianNs),
          `${(f.spread * 100).toFixed(0)}%`,
          f.vsBare === null ? "" : ratio(f.vsBare),
          f.overPlainNs === null
            ? ""
            : `${f.overPlainNs < 0 ? "-" : "+"}${ns(Math.abs(f.overPlainNs))} (${ratio(f.vsPlain ?? Number.NaN)})`,
          target === null ? "" : goal,
          target === null ? "" : verdict(target),
        ];
      }),
      "lrrrrll",
    ),
  );
  out.print();
  const loop = (c: typeof counted): string =>
    `${c.scripts} scripts, ${c.server.commands} commands (${(c.server.commands / c.calls).toFixed(4)} per call) in ${int(c.calls)} calls, ${c.loopMs.toFixed(0)} ms`;
  out.print(
    table(
      ["Redis traffic of closed successes", "measured", "allowed", "result"],
      [
        [
          `no quorum: ${int(redis.calls)} calls in a row (+ two flush intervals)`,
          loop(redis),
          "0",
          verdict(redis.pass),
        ],
        [
          `quorum ${QUORUM}: ${int(counted.calls)} calls in a row (+ two flush intervals)`,
          loop(counted),
          `${counted.allowedReports} presence report (1 per ${DEFAULT_HORIZON_MS / 4000} s)`,
          verdict(counted.pass),
        ],
        [
          `both: the timing runs (${int(t.quorumCalls)} / ${int(t.plainCalls)} timed calls with / without quorum, ${(t.ms / 1000).toFixed(1)} s)`,
          `${t.quorumScripts} / ${t.plainScripts} scripts (${(t.quorumScripts / Math.max(1, t.quorumCalls)).toExponential(1)} per call); sent: ${sentText(t.sent)}; storage_unavailable: ${t.outages}`,
          `<= 1 per million calls (${t.allowedReports} presence reports in time)`,
          verdict(t.pass),
        ],
        [
          "Redis's active callers of the quorum circuit afterwards (`storage.inspect`)",
          r.activeCallers.join(", ") || "none",
          "bench-quorum",
          verdict(r.activeCallers.includes("bench-quorum")),
        ],
      ],
      "lrll",
    ),
  );
  out.print();
  out.print(
    "Scripts: the storage's stats().scriptsRun; commands: the server's INFO commandstats (inside scripts included).",
  );
  out.print(
    `A circuit with a quorum tells Redis that the process calls it within one flush interval of its first call, then at most once per quarter of callerHorizon (${DEFAULT_HORIZON_MS / 1000} s by default): per time, not per call.`,
  );

  out.target({
    id: "quorum.success-memory-vs-bare",
    label: `closed success path, quorum ${QUORUM}, memory, vs bare \`await fn()\``,
    goal: `<= ${ratio(SUCCESS_VS_BARE)}`,
    measured: `${ratio(memoryQuorum?.vsBare ?? Number.NaN)} (no quorum: ${ratio(fig("memory")?.vsBare ?? Number.NaN)})`,
    pass: memoryPass,
  });
  out.target({
    id: "quorum.success-redis-vs-bare",
    label: `closed success path, quorum ${QUORUM}, RedisStorage, vs bare \`await fn()\``,
    goal: `<= ${ratio(SUCCESS_VS_BARE)}`,
    measured: `${ratio(redisQuorum?.vsBare ?? Number.NaN)} (no quorum: ${ratio(fig("redis")?.vsBare ?? Number.NaN)})`,
    pass: redisPass,
  });
  out.target({
    id: "quorum.success-redis-commands",
    label: `Redis commands per closed success call, quorum ${QUORUM}`,
    goal: "0 (presence reports per time only)",
    measured: `${(counted.server.commands / counted.calls).toFixed(4)} (${counted.scripts} scripts in ${int(counted.calls)} calls; ${t.quorumScripts} in ${int(t.quorumCalls)} timed calls)`,
    pass: commandsPass,
  });
}

function printReporting(r: ReportingResult, out: Report): void {
  const p = r.presence;
  const w = r.window;
  const perMinute = perMinuteAtDefaultHorizon(p.scriptsPerCircuitPerHorizon);
  const commandsPerMinute = perMinuteAtDefaultHorizon(p.commandsPerCircuitPerHorizon);
  const presencePass = perMinute <= REPORTS_PER_MINUTE && p.stillListed === p.circuits;
  const windowPass = w.extraPerCircuitPerMinute <= REPORTS_PER_MINUTE && w.stillListed === w.circuits;
  out.print(
    `Quorum, reporting cost: one process calls ${p.circuits} circuits with quorum ${QUORUM} without pause (no failure), callerHorizon ${p.horizonS} s,`,
  );
  out.print(
    `flushInterval 0.25 s; scaled by horizon: a count per ${p.horizonS} s horizon is the count per minute at the default 60 s horizon.`,
  );
  out.print();
  out.print(
    table(
      ["measure", "measured", "target", "result"],
      [
        [
          `first reports: scripts within two flush intervals of the first calls (${p.circuits} circuits)`,
          String(p.firstScripts),
          `${p.circuits} (one per circuit)`,
          "",
        ],
        [
          `steady, ${p.seconds.toFixed(1)} s (${(p.seconds / p.horizonS).toFixed(1)} horizons, ${int(p.calls)} calls): scripts (commands incl. inside them)`,
          `${p.scripts} (${p.server.commands})`,
          "",
          "",
        ],
        [
          "scripts per process per circuit per horizon = per minute at the default 60 s horizon",
          perMinute.toFixed(2),
          `<= ${REPORTS_PER_MINUTE}`,
          verdict(perMinute <= REPORTS_PER_MINUTE),
        ],
        [
          "Redis commands (inside the scripts included) per process per circuit per minute, 60 s horizon",
          commandsPerMinute.toFixed(1),
          "",
          "",
        ],
        [
          "circuits whose active callers still list the process at the end",
          `${p.stillListed} of ${p.circuits}`,
          `${p.circuits}`,
          verdict(p.stillListed === p.circuits),
        ],
        [
          `failureRate window (${w.circuits} circuits, window ${p.horizonS} s), ${w.seconds.toFixed(1)} s: scripts per circuit per minute, quorum / no quorum`,
          `${w.quorumPerCircuitPerMinute.toFixed(1)} / ${w.plainPerCircuitPerMinute.toFixed(1)} (${int(w.callsQuorum)} / ${int(w.callsPlain)} calls)`,
          "the flushes",
          "",
        ],
        [
          "... what the quorum adds there (the flushes carry the presence), per circuit per minute",
          w.extraPerCircuitPerMinute.toFixed(1),
          `<= ${REPORTS_PER_MINUTE}`,
          verdict(windowPass),
        ],
      ],
      "lrll",
    ),
  );
  out.target({
    id: "quorum.reporting-per-minute",
    label: "presence reports of a calling process, per circuit per minute (default 60 s horizon)",
    goal: `<= ${REPORTS_PER_MINUTE}`,
    measured: `${perMinute.toFixed(2)} (${p.scripts} scripts, ${p.circuits} circuits, ${p.seconds.toFixed(1)} s at a ${p.horizonS} s horizon)`,
    pass: presencePass,
  });
  out.target({
    id: "quorum.reporting-window-extra",
    label: "scripts a quorum adds to a circuit with a failureRate window, per circuit per minute",
    goal: `<= ${REPORTS_PER_MINUTE}`,
    measured: `${w.extraPerCircuitPerMinute.toFixed(1)} (${w.quorumPerCircuitPerMinute.toFixed(1)} vs ${w.plainPerCircuitPerMinute.toFixed(1)} flushes)`,
    pass: windowPass,
  });
}

/** The quorum section of `npm run bench`. */
export const quorumSection: Section = {
  name: "quorum",
  async run(out: Report): Promise<void> {
    const purgatory = await loadPurgatory();
    const server = await startBenchRedis();
    const admin = new Redis(server.url);
    const prefix = `bench-quorum-${process.pid}`;
    try {
      out.progress("quorum: closed success path (mitata) and Redis commands per call");
      const success = await measureQuorumSuccess(purgatory, admin, server.url, `${prefix}-success`);
      printSuccess(success, out);
      out.print();
      out.progress("quorum: reporting cost (about 12 s)");
      const reporting = await measureReporting(purgatory, admin, server.url, `${prefix}-reporting`);
      printReporting(reporting, out);
      out.sections.quorum = { dedicatedServer: server.dedicated, success, reporting };
    } finally {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      admin.disconnect();
      await server.stop();
    }
  },
};
