/**
 * The commands that read or change circuits: `circuits`, `show`, `isolate`, `disable`, `reset`,
 * `configure`, `prune`. Each works through a connected `Fleet` and writes a table (coloured on a
 * terminal) or, with `--json`, JSON. (`circuits --watch` is `watch.ts`.)
 * @module
 */
import type { CircuitConfig, CircuitStateName } from "../core/circuit.js";
import type { ControlAction } from "../core/machine.js";
import type { ConfigChanges, QuorumOption } from "../options/policies.js";
import type { CircuitInfo, QuorumInfo } from "../storage/redis/inspect.js";
import type { ConfigureChanges, Invocation } from "./args.js";
import { quoted, type CircuitChange, type Fleet } from "../fleet/fleet.js";
import {
  byProcessName,
  duration,
  elapsed,
  iso,
  knownProcesses,
  openedAgo,
  openLocallyNote,
  policies,
  probeIn,
  processLabel,
  quorumPolicy,
  quorumShort,
  retryIn,
  shortList,
  windowCounts,
} from "../fleet/format.js";
import { safe, STATE_ORDER, STATE_STYLE, table, type Paint } from "./table.js";

/** What a command writes to, and how. */
export interface CommandOutput {
  /** Writes a line (a newline is added). */
  readonly print: (text: string) => void;
  readonly paint: Paint;
  /** The current time, epoch ms (for "12s ago"). */
  readonly now: () => number;
}

type FleetInvocation = Exclude<Invocation, { command: "help" } | { command: "version" } | { command: "dashboard" }>;

/** Runs a command against the fleet and writes its output. */
export async function runCommand(invocation: FleetInvocation, fleet: Fleet, out: CommandOutput): Promise<void> {
  switch (invocation.command) {
    case "circuits": {
      const circuits = await fleet.circuits();
      if (invocation.json) return out.print(JSON.stringify(circuits, null, 2));
      return printCircuits(circuits, fleet, out);
    }
    case "show": {
      const circuit = await fleet.get(invocation.name);
      if (invocation.json) return out.print(JSON.stringify(circuit, null, 2));
      return printCircuit(circuit, out);
    }
    case "isolate":
    case "disable":
    case "reset": {
      const change = await fleet.control(invocation.name, invocation.command);
      if (invocation.json)
        return out.print(JSON.stringify({ action: invocation.command, circuit: change.after }, null, 2));
      return out.print(describeControl(invocation.command, change, out.paint));
    }
    case "configure": {
      const change = await fleet.configure(invocation.name, (config) => configChanges(invocation.changes, config));
      if (invocation.json) return out.print(JSON.stringify({ action: "configure", circuit: change.after }, null, 2));
      return out.print(describeConfigure(change, out.paint));
    }
    case "prune": {
      const pruned = await fleet.prune();
      if (invocation.json) return out.print(JSON.stringify({ pruned }, null, 2));
      return out.print(describePrune(pruned, fleet));
    }
  }
}

function describePrune(pruned: readonly string[], fleet: Fleet): string {
  const where = `under prefix ${safe(quoted(fleet.prefix))} at ${fleet.url}`;
  if (pruned.length === 0) return `nothing to prune ${where}: every name listed has its circuit`;
  const names = pruned.map((name) => safe(quoted(name)));
  return `pruned ${pruned.length} name${pruned.length === 1 ? "" : "s"} whose keys are gone ${where}: ${shortList(names, 200)}`;
}

export const state = (name: CircuitStateName, paint: Paint): string => paint(STATE_STYLE[name], name);

/** The state, and with processes open for themselves, `closed · 1 of 12 processes open locally`. */
function stateCell(c: CircuitInfo, paint: Paint): string {
  const note = c.quorum === null ? null : openLocallyNote(c.quorum);
  return note === null ? state(c.state, paint) : `${state(c.state, paint)} ${paint("dim", "·")} ${paint("red", note)}`;
}

/** The `circuits` table, with a closing line of counts per state. */
function printCircuits(circuits: readonly CircuitInfo[], fleet: Fleet, out: CommandOutput): void {
  out.print(circuitsTable(circuits, fleet, out.paint, out.now()));
}

/**
 * The `circuits` table at `now` (Redis time, epoch ms), with a closing line of counts per state;
 * a line that says so when there is none.
 */
export function circuitsTable(
  circuits: readonly CircuitInfo[],
  fleet: Pick<Fleet, "prefix" | "url">,
  paint: Paint,
  now: number,
): string {
  const where = `under prefix "${safe(fleet.prefix)}" at ${fleet.url}`;
  if (circuits.length === 0) return `no circuits ${where}`;
  const out = { paint };
  const rows = circuits.map((c) => [
    safe(c.name),
    stateCell(c, out.paint),
    `${c.failureCount}/${c.config.threshold}`,
    duration(c.config.ttl),
    c.window === null ? "-" : `${c.window.calls}/${c.window.failures}/${c.window.slow}`,
    openedAgo(c, now) ?? "-",
    retryIn(c, now) ?? "-",
    c.quorum === null ? "-" : String(c.quorum.activeCallers.length),
    [...policies(c.config), ...(c.quorum === null ? [] : [`quorum ${quorumPolicy(c.config.quorum)}`])].join("; ") ||
      "-",
  ]);
  const header = [
    "CIRCUIT",
    "STATE",
    "FAILURES",
    "TTL",
    "WINDOW (calls/failed/slow)",
    "OPENED",
    "RETRY",
    "CALLERS",
    "POLICIES",
  ];
  const summary = STATE_ORDER.flatMap((s) => {
    const n = circuits.filter((c) => c.state === s).length;
    return n === 0 ? [] : [`${n} ${state(s, out.paint)}`];
  }).join(", ");
  return `${table(header, rows, out.paint)}\n${out.paint("dim", `${circuits.length} circuit${circuits.length === 1 ? "" : "s"} ${where}: `)}${summary}`;
}

/** `show NAME`: one field a line. */
function printCircuit(c: CircuitInfo, out: CommandOutput): void {
  const now = out.now();
  const { config } = c;
  const fields: [string, string | null][] = [
    ["circuit", safe(c.name)],
    ["state", state(c.state, out.paint)],
    ["failures", `${c.failureCount} consecutive, threshold ${config.threshold}`],
    ["ttl", duration(config.ttl)],
    ["probes", `${c.probes} running, at most ${config.halfOpenMaxCalls} at once`],
    ["policies", policies(config).join("; ") || "none"],
    ...quorumFields(c.quorum, config, now),
    ["window", windowCounts(c)],
    ["opened at", c.openedAt === null ? null : `${iso(c.openedAt)} (${openedAgo(c, now)})`],
    ["retry at", c.retryAt === null ? null : `${iso(c.retryAt)} (${retryIn(c, now)})`],
    ["updated at", `${iso(c.updatedAt)} (${elapsed(now - c.updatedAt)} ago)`],
    ["incarnation", safe(c.incarnation)],
  ];
  const shown = fields.filter((f): f is [string, string] => f[1] !== null);
  const width = Math.max(...shown.map(([label]) => label.length));
  for (const [label, value] of shown) out.print(`${out.paint("bold", label.padEnd(width))}  ${value}`);
}

/** The `quorum`, `callers` and `open locally` lines of `show`, for a circuit with a quorum. */
function quorumFields(quorum: QuorumInfo | null, config: CircuitConfig, now: number): [string, string][] {
  if (quorum === null) return [];
  const callers = quorum.activeCallers.length;
  const names = [...quorum.activeCallers].sort(byProcessName).map(safe);
  const open = quorum.openLocally.map((p) => `${safe(processLabel(p.process))}, ${probeIn(p.retryAt, now)}`);
  const known = knownProcesses(quorum);
  return [
    ["quorum", `${quorumPolicy(config.quorum)}: ${quorum.effective} needed now`],
    ["callers", callers === 0 ? "none active" : `${callers} active: ${shortList(names)}`],
    [
      "open locally",
      open.length === 0
        ? "no process"
        : `${open.length} of ${known} process${known === 1 ? "" : "es"}: ${shortList(open, 80, "; ")}`,
    ],
  ];
}

/**
 * What `configure`'s flags change in `config`: `--quorum` sets the processes and keeps the
 * fraction, `--quorum-fraction` sets the fraction (0 removes it) and keeps the processes; a quorum
 * of one process without a fraction is no quorum.
 */
export function configChanges(changes: ConfigureChanges, config: CircuitConfig): ConfigChanges {
  const { quorum, quorumFraction, ...rest } = changes;
  if (quorum === undefined && quorumFraction === undefined) return rest;
  const processes = quorum ?? config.quorum?.processes ?? 1;
  const fraction = quorumFraction === undefined ? config.quorum?.fraction : quorumFraction || undefined;
  const next: QuorumOption | null =
    fraction === undefined ? (processes === 1 ? null : processes) : { processes, fraction };
  return { ...rest, quorum: next };
}

const CONTROL_DONE: Readonly<Record<ControlAction, string>> = {
  isolate: "every call is rejected until a reset",
  disable: "every call runs and nothing trips it until a reset",
  reset: "closed, counts cleared",
};

function describeControl(action: ControlAction, { before, after }: CircuitChange, paint: Paint): string {
  return `${safe(quoted(after.name))}: ${state(before.state, paint)} -> ${state(after.state, paint)} (${CONTROL_DONE[action]})`;
}

function describeConfigure({ before, after }: CircuitChange, paint: Paint): string {
  const b = before.config;
  const a = after.config;
  const changes = [
    b.threshold === a.threshold ? null : `threshold ${b.threshold} -> ${a.threshold}`,
    b.ttl === a.ttl ? null : `ttl ${duration(b.ttl)} -> ${duration(a.ttl)}`,
    b.halfOpenMaxCalls === a.halfOpenMaxCalls
      ? null
      : `half-open max calls ${b.halfOpenMaxCalls} -> ${a.halfOpenMaxCalls}`,
    quorumShort(b.quorum) === quorumShort(a.quorum)
      ? null
      : `quorum ${quorumShort(b.quorum)} -> ${quorumShort(a.quorum)}`,
  ].filter((c) => c !== null);
  const what = changes.length === 0 ? "unchanged" : changes.join(", ");
  return `${safe(quoted(after.name))}: ${what} (state ${state(after.state, paint)})`;
}
