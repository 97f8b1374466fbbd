/**
 * `npm run bench`: purgatory against a bare call, cockatiel and opossum, in one process for the
 * latencies and in fresh child processes for the failure cost over a full rate window, memory and
 * timers. Prints tables and the targets of
 * docs/design.md, "Performance targets" (PASS/MISS), and writes the figures to `bench/results.json`.
 *
 * A report, not a test: the exit code is 0 even when a target is missed (1 only if a section
 * could not run). `npm run bench -- latency window memory` runs only the sections named (or aliased:
 * `npm run bench -- quorum` runs the `quorum` and `fleet-quorum` sections, `-- fleet` both fleet ones).
 * Environment: BENCH_ROUNDS (latency rounds, default 5), BENCH_SOURCE=src (measure src/ through
 * tsx instead of the tsup build), BENCH_FLEET_PROCESSES / BENCH_FLEET_CIRCUITS / BENCH_FLEET_SECONDS
 * (the fleet section's size, default 16 x 10,000 for 5 s; the fleet-quorum section uses
 * BENCH_FLEET_PROCESSES too).
 *
 * To add a section: write a module exporting a `Section`, import it here and append it to
 * `SECTIONS` (the Redis ones are `bench/redis/index.ts`, `bench/quorum/index.ts`,
 * `bench/fleet/index.ts`, `bench/fleet/quorum-section.ts` and `bench/watch/index.ts`, the cost of
 * watching the fleet: BENCH_WATCH_CIRCUITS, BENCH_WATCH_SECONDS, BENCH_WATCH_TRIPS; and
 * `bench/telemetry/index.ts`, the cost of the fleet's telemetry: BENCH_TELEMETRY_PROCESSES,
 * BENCH_TELEMETRY_CIRCUITS, BENCH_TELEMETRY_RATE, BENCH_TELEMETRY_FAILING, BENCH_TELEMETRY_SECONDS).
 * @module
 */
import "./gc.js"; // first: gc() must exist before mitata loads
import { writeFileSync } from "node:fs";
import { arch, cpus, loadavg, platform } from "node:os";
import { latencySection } from "./latency.js";
import { memorySection } from "./memory.js";
import { fleetSection } from "./fleet/index.js";
import { fleetQuorumSection } from "./fleet/quorum-section.js";
import { buildPurgatory, SOURCE } from "./purgatory.js";
import { Report, table, verdict, type Section } from "./report.js";
import { quorumSection } from "./quorum/index.js";
import { redisSection } from "./redis/index.js";
import { telemetrySection } from "./telemetry/index.js";
import { timersSection } from "./timers.js";
import { watchSection } from "./watch/index.js";
import { windowSection } from "./window.js";

const SECTIONS: readonly Section[] = [
  latencySection,
  windowSection,
  memorySection,
  timersSection,
  redisSection,
  quorumSection,
  fleetSection,
  fleetQuorumSection,
  watchSection,
  telemetrySection,
];

const RESULTS = new URL("./results.json", import.meta.url);

async function main(): Promise<number> {
  const started = performance.now();
  const only = process.argv.slice(2);
  const selected = (s: Section): boolean => only.includes(s.name) || (s.aliases ?? []).some((a) => only.includes(a));
  const sections = only.length === 0 ? SECTIONS : SECTIONS.filter(selected);
  const report = new Report();

  report.progress(SOURCE === "build" ? "building src/ with tsup into bench/.build/" : "measuring src/ through tsx");
  await buildPurgatory();
  const load = (): string =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
  const loadAtStart = load();
  report.print(
    `purgatory bench: node ${process.version}, ${platform()} ${arch()}, ${cpus()[0]?.model ?? "?"} x ${cpus().length}, load average ${loadAtStart}`,
  );
  report.print();

  for (const section of sections) {
    report.progress(`section ${section.name}`);
    try {
      await section.run(report);
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      report.problems.push(`section ${section.name} failed: ${message}`);
      report.print(`!! section ${section.name} failed: ${message}`);
    }
    report.print();
  }

  report.print("Targets (docs/design.md, Performance targets), this run:");
  report.print();
  report.print(
    table(
      ["target", "goal", "measured", "result"],
      report.targets.map((t) => [t.label, t.goal, t.measured, verdict(t.pass)]),
      "lllr",
    ),
  );
  const misses = report.targets.filter((t) => !t.pass);
  report.print();
  if (misses.length === 0) report.print(`All ${report.targets.length} targets met.`);
  for (const miss of misses) report.print(`MISS: ${miss.label}: ${miss.measured} (goal ${miss.goal})`);
  for (const problem of report.problems) report.print(`PROBLEM: ${problem.split("\n")[0] ?? problem}`);

  const seconds = (performance.now() - started) / 1000;
  const results = {
    generatedAt: new Date().toISOString(),
    environment: {
      node: process.version,
      platform: platform(),
      arch: arch(),
      cpu: cpus()[0]?.model ?? null,
      cores: cpus().length,
      loadAverageAtStart: loadAtStart,
      purgatorySource: SOURCE,
    },
    sectionsRun: sections.map((s) => s.name),
    seconds: Number(seconds.toFixed(1)),
    targets: report.targets,
    misses: misses.map((m) => m.id),
    problems: report.problems,
    sections: report.sections,
  };
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
  report.print(
    `Wrote bench/results.json; ${seconds.toFixed(0)} s in all; load average ${load()} (other processes skew figures).`,
  );
  return report.problems.length === 0 ? 0 : 1;
}

process.exitCode = await main();
