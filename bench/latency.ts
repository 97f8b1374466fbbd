/**
 * Latency section: every scenario of `scenarios.ts` measured by mitata in one process, in
 * interleaved rounds (all scenarios of round 1, then of round 2, ...) so that a slow patch of the
 * machine hits every scenario alike. A scenario's figure is the median over rounds of mitata's
 * per-round median (p50) ns/op; ratios are taken between those figures.
 * @module
 */
import { cpus } from "node:os";
import { bench, run } from "mitata";
import { median, ns, ratio, table, verdict, type Report, type Section } from "./report.js";
import { loadPurgatory, SOURCE } from "./purgatory.js";
import { makeScenarios, type Path, type Scenario } from "./scenarios.js";

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));

/** Which bare call a path is compared with. */
const BARE_OF: Record<Path, string> = {
  success: "bare.success",
  failure: "bare.failure",
  open: "bare.failure",
  "sync-success": "bare.sync-success",
};

/** docs/design.md, "Performance targets", as ratios of this run. */
const LIMITS = {
  successVsBare: 1.8,
  /** the same limit with a `failureRate` window configured: counting a success must not cost it */
  successWindowVsBare: 1.8,
  failureVsBare: 1.2,
  /** open rejection at least 2x faster than cockatiel's: purgatory / cockatiel <= 0.5 */
  openVsCockatiel: 0.5,
  /**
   * The fleet's telemetry, watched: what its counting adds to a success over a call listener that
   * does nothing (ns), so that a watched call costs at most what a call listener costs plus this.
   */
  telemetryCountingNs: 15,
} as const;

/** The rule rows, the plain row each is compared with, and the rule in words. */
const RULE_ROWS: readonly (readonly [string, string, string])[] = [
  ["purgatory.success-window", "purgatory.success", "failureRate window"],
  ["purgatory.success-slow-call", "purgatory.success", "slowCall"],
  ["purgatory.success-listener", "purgatory.success", "call listener"],
  ["purgatory.success-noop-listener", "purgatory.success", "no-op call listener"],
  ["purgatory.success-telemetry", "purgatory.success", "telemetry counting (watched)"],
  ["purgatory.sync-success-window", "purgatory.sync-success", "sync, failureRate window"],
];

export interface LatencyFigure {
  readonly id: string;
  readonly library: string;
  readonly path: Path;
  readonly call: string;
  /** Median over rounds of the per-round p50, ns/op. */
  readonly medianNs: number;
  /** Per-round p50, ns/op. */
  readonly roundsNs: readonly number[];
  /** (max - min) / median of `roundsNs`. */
  readonly spread: number;
  readonly vsBare: number | null;
  /** ns/op over the bare call's. */
  readonly overBareNs: number | null;
  readonly vsCockatiel: number | null;
  readonly vsOpossum: number | null;
}

export const latencySection: Section = {
  name: "latency",
  async run(report: Report): Promise<void> {
    const set = await makeScenarios(await loadPurgatory());
    await set.verify();

    for (let round = 0; round < ROUNDS; round++) {
      for (const scenario of set.scenarios) bench(`${scenario.id}#${round}`, scenario.fn);
    }
    report.progress(`latency: ${set.scenarios.length} scenarios x ${ROUNDS} rounds (mitata, ~0.7 s each)`);
    const started = performance.now();
    const result = await run({ format: "quiet", colors: false, throw: true });
    report.progress(`latency: measured in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    set.checkStates(); // the circuits were in the intended state throughout
    await set.verify();
    await set.dispose();

    const perRound = new Map<string, number[]>();
    for (const trial of result.benchmarks) {
      for (const r of trial.runs) {
        if (r.error !== undefined || r.stats === undefined) throw new Error(`${r.name}: ${String(r.error)}`);
        const id = r.name.slice(0, r.name.lastIndexOf("#"));
        perRound.set(id, [...(perRound.get(id) ?? []), r.stats.p50]);
      }
    }
    const medianOf = (id: string): number => median(perRound.get(id) ?? [NaN]);
    // Peers only for purgatory's plain rows: the peers' breakers have no rule of the rule rows.
    const peer = (s: Scenario, library: string): number | null =>
      s.id === `purgatory.${s.path}` && s.path !== "sync-success"
        ? medianOf(s.id) / medianOf(`${library}.${s.path}`)
        : null;
    const figures: LatencyFigure[] = set.scenarios.map((s) => {
      const rounds = perRound.get(s.id) ?? [];
      const m = medianOf(s.id);
      return {
        id: s.id,
        library: s.library,
        path: s.path,
        call: s.label,
        medianNs: m,
        roundsNs: rounds,
        spread: (Math.max(...rounds) - Math.min(...rounds)) / m,
        vsBare: s.library === "bare" ? null : m / medianOf(BARE_OF[s.path]),
        overBareNs: s.library === "bare" ? null : m - medianOf(BARE_OF[s.path]),
        vsCockatiel: peer(s, "cockatiel"),
        vsOpossum: peer(s, "opossum"),
      };
    });
    const byId = new Map(figures.map((f) => [f.id, f]));
    const fig = (id: string): LatencyFigure => byId.get(id) as LatencyFigure;

    // targets
    const success = fig("purgatory.success");
    const failure = fig("purgatory.failure");
    const open = fig("purgatory.open");
    const rowTargets = new Map<string, { goal: string; pass: boolean }>();
    const successPass = report.target({
      id: "latency.success-vs-bare",
      label: "closed success path vs bare `await fn()`",
      goal: `<= ${ratio(LIMITS.successVsBare)}`,
      measured: ratio(success.vsBare ?? NaN),
      pass: (success.vsBare ?? Infinity) <= LIMITS.successVsBare,
    }).pass;
    const aheadPass = report.target({
      id: "latency.success-vs-peers",
      label: "closed success path ahead of cockatiel and opossum",
      goal: "< 1.00x each",
      measured: `${ratio(success.vsCockatiel ?? NaN)} cockatiel, ${ratio(success.vsOpossum ?? NaN)} opossum`,
      pass: (success.vsCockatiel ?? Infinity) < 1 && (success.vsOpossum ?? Infinity) < 1,
    }).pass;
    rowTargets.set(success.id, {
      goal: `<= ${ratio(LIMITS.successVsBare)} bare, < 1x peers`,
      pass: successPass && aheadPass,
    });
    const failurePass = report.target({
      id: "latency.failure-vs-bare",
      label: "closed failure path vs bare failing call",
      goal: `<= ${ratio(LIMITS.failureVsBare)}`,
      measured: ratio(failure.vsBare ?? NaN),
      pass: (failure.vsBare ?? Infinity) <= LIMITS.failureVsBare,
    }).pass;
    rowTargets.set(failure.id, { goal: `<= ${ratio(LIMITS.failureVsBare)} bare`, pass: failurePass });
    const windowed = fig("purgatory.success-window");
    const windowPass = report.target({
      id: "latency.success-window-vs-bare",
      label: "closed success path with a failureRate window vs bare `await fn()`",
      goal: `<= ${ratio(LIMITS.successWindowVsBare)}`,
      measured: ratio(windowed.vsBare ?? NaN),
      pass: (windowed.vsBare ?? Infinity) <= LIMITS.successWindowVsBare,
    }).pass;
    rowTargets.set(windowed.id, { goal: `<= ${ratio(LIMITS.successWindowVsBare)} bare`, pass: windowPass });
    const speedup = 1 / (open.vsCockatiel ?? NaN);
    const openPass = report.target({
      id: "latency.open-vs-cockatiel",
      label: "open rejection, times faster than cockatiel's",
      goal: ">= 2.00x faster",
      measured: `${ratio(speedup)} faster`,
      pass: (open.vsCockatiel ?? Infinity) <= LIMITS.openVsCockatiel,
    }).pass;
    rowTargets.set(open.id, { goal: `<= ${ratio(LIMITS.openVsCockatiel)} cockatiel`, pass: openPass });
    // The telemetry, watched (b), against the plain path (a) and a no-op call listener (c).
    const noopListener = fig("purgatory.success-noop-listener");
    const counting = fig("purgatory.success-telemetry");
    const telemetry = {
      /** b - c: the counting itself. */
      countingNs: counting.medianNs - noopListener.medianNs,
      /** c - a: what a call listener costs (timing the call, calling the listener). */
      listenerNs: noopListener.medianNs - success.medianNs,
      /** b - a: a watched call over an unwatched one. */
      watchedNs: counting.medianNs - success.medianNs,
    };
    const signedNs = (v: number): string => `${v < 0 ? "-" : "+"}${ns(Math.abs(v))} ns`;
    const countingPass = report.target({
      id: "latency.telemetry-counting",
      label: "closed success path, watched: telemetry counting over a no-op call listener (b - c)",
      goal: `<= +${LIMITS.telemetryCountingNs} ns`,
      measured: `${signedNs(telemetry.countingNs)} (${ns(counting.medianNs)} vs ${ns(noopListener.medianNs)} ns/op)`,
      pass: telemetry.countingNs <= LIMITS.telemetryCountingNs,
    }).pass;
    const watchedPass = report.target({
      id: "latency.telemetry-watched",
      label: "closed success path, watched, over the plain path (b - a)",
      goal: `<= a call listener's (c - a) + ${LIMITS.telemetryCountingNs} ns = ${signedNs(telemetry.listenerNs + LIMITS.telemetryCountingNs)}`,
      measured: `${signedNs(telemetry.watchedNs)} (${ns(counting.medianNs)} vs ${ns(success.medianNs)} ns/op)`,
      pass: telemetry.watchedNs <= telemetry.listenerNs + LIMITS.telemetryCountingNs,
    }).pass;
    rowTargets.set(counting.id, {
      goal: `<= no-op listener + ${LIMITS.telemetryCountingNs} ns`,
      pass: countingPass && watchedPass,
    });

    const cell = (v: number | null): string => (v === null ? "" : ratio(v));
    report.print(
      `Latency: median ns/op (mitata p50, median of ${ROUNDS} interleaved rounds); ` +
        `ratios = this row's time / the other's time (< 1 is faster)`,
    );
    report.print(
      `cpu: ${result.context.cpu.name ?? "?"} (${cpus().length} cores), node ${process.version}, purgatory from ${SOURCE}`,
    );
    report.print();
    report.print(
      table(
        [
          "path",
          "library",
          "call",
          "ns/op",
          "spread",
          "vs bare",
          "+ns vs bare",
          "vs cockatiel",
          "vs opossum",
          "target",
          "result",
        ],
        figures.map((f) => {
          const t = rowTargets.get(f.id);
          return [
            f.path,
            f.library,
            f.call,
            ns(f.medianNs),
            `${(f.spread * 100).toFixed(0)}%`,
            cell(f.vsBare),
            f.overBareNs === null ? "" : `${f.overBareNs < 0 ? "-" : "+"}${ns(Math.abs(f.overBareNs))}`,
            cell(f.vsCockatiel),
            cell(f.vsOpossum),
            t?.goal ?? "",
            t === undefined ? "" : verdict(t.pass),
          ];
        }),
        "lllrrrrrrll",
      ),
    );
    report.print();
    report.print("spread: (slowest - fastest round) / median. Failure and open rows compare with the bare failing");
    report.print("call. The bare sync call inlines to almost nothing, so for sync read the +ns column, not the ratio.");
    report.print(
      "cockatiel: ConsecutiveBreaker. opossum: timeout false, rollingPercentilesEnabled false (its fastest).",
    );
    // What each rule adds to a success, over the same call on a plain circuit.
    const ruleCosts = RULE_ROWS.map(([id, plainId, rule]) => {
      const overPlainNs = fig(id).medianNs - fig(plainId).medianNs;
      return { id, rule, overPlainNs, vsPlain: fig(id).medianNs / fig(plainId).medianNs };
    });
    report.print(
      `Rules on the success path, over a plain circuit: ${ruleCosts
        .map((r) => `${r.rule} ${r.overPlainNs < 0 ? "-" : "+"}${ns(Math.abs(r.overPlainNs))} ns (${ratio(r.vsPlain)})`)
        .join("; ")}.`,
    );
    report.print("slowCall and call listeners time each call (two performance.now(), one GuardedCall per call):");
    report.print("informative rows, no target; the window rows read no clock (coarse clock) and keep the 1.8x target.");
    report.print(
      `Telemetry, watched (the factory's recorder added as a call listener, as RedisStorage does while somebody watches): ` +
        `${signedNs(telemetry.watchedNs)} over the plain path = ${signedNs(telemetry.listenerNs)} for a no-op call listener ` +
        `+ ${signedNs(telemetry.countingNs)} for the counting (target <= +${LIMITS.telemetryCountingNs} ns); measured in one run, ` +
        "both telemetry targets are this one inequality. Nobody watching, the recorder is no listener: the plain row.",
    );
    report.sections.latency = {
      rounds: ROUNDS,
      statistic: "median over rounds of mitata p50, ns/op",
      figures,
      ruleCosts,
      telemetry,
    };
  },
};
