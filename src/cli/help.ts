/**
 * The help of `purgatory` and of each of its commands (`--help`).
 * @module
 */
import type { CommandName } from "./args.js";

const CONNECTION = `  --redis URL       Redis of the fleet (default: $REDIS_URL, else redis://127.0.0.1:6379)
  --prefix P        key prefix of the fleet's RedisStorage (default: purgatory)`;
const JSON_OPTION = "  --json            machine-readable output (JSON) instead of a table";
const HELP_OPTION = "  -h, --help        this help";
const EXIT_CODES = `Exit codes: 0 done, 1 bad argument (or no such circuit), 2 Redis cannot be reached.`;

const controlHelp = (
  action: string,
  what: string,
): string => `Usage: purgatory ${action} NAME [--redis URL] [--prefix P] [--json]

${what}
Fleet-wide: every process holding the circuit sees it at once. NAME must exist.

Options:
${CONNECTION}
${JSON_OPTION}
${HELP_OPTION}

${EXIT_CODES}
`;

const TOPICS: Readonly<Record<CommandName, string>> = {
  circuits: `Usage: purgatory circuits [--redis URL] [--prefix P] [--json]

Lists every circuit of the prefix as Redis holds it: state, consecutive failures against the
threshold, ttl, the rate window's counts, the policies, when it opened and when a probe may run.
For a circuit with a quorum: CALLERS, the processes that called it lately, and after the state
how many of them are open for themselves ("closed · 1 of 12 processes open locally").
With --json: an array of circuits ({ name, state, failureCount, openedAt, retryAt, probes, config,
window, updatedAt, incarnation, quorum }; quorum is null without one, else { activeCallers: [names],
openLocally: [{ process, retryAt }], effective: processes needed now }; times in epoch ms, durations
in seconds).

Options:
${CONNECTION}
${JSON_OPTION}
${HELP_OPTION}

${EXIT_CODES}
`,
  show: `Usage: purgatory show NAME [--redis URL] [--prefix P] [--json]

Shows one circuit: state, counts, config and policies, times. With a quorum, also the processes a
fleet-wide opening needs now, the active callers, and the processes open for themselves (a name
"host:pid" shown as "host (pid N)") with when each may probe again. With --json: the circuit's
object.

Options:
${CONNECTION}
${JSON_OPTION}
${HELP_OPTION}

${EXIT_CODES}
`,
  isolate: controlHelp(
    "isolate",
    "Isolates circuit NAME (forced open): every call is rejected with CircuitOpenError until a reset.",
  ),
  disable: controlHelp(
    "disable",
    "Disables circuit NAME: every call runs, failures are counted, nothing trips it until a reset.",
  ),
  reset: controlHelp("reset", "Resets circuit NAME: closed, counts cleared (ends an isolation or a disabling)."),
  configure: `Usage: purgatory configure NAME [--threshold N] [--ttl SECONDS] [--half-open-max-calls N]
                          [--quorum N] [--quorum-fraction F] [--redis URL] [--prefix P] [--json]

Changes circuit NAME's config, fleet-wide and atomically (reconfigure). At least one of:
  --threshold N              consecutive failures that open it (integer >= 1)
  --ttl SECONDS              how long it stays opened before a probe (fractions allowed)
  --half-open-max-calls N    probes at once while half-opened (integer >= 1)
  --quorum N                 distinct processes whose failures open it fleet-wide (1 to 1000);
                             fewer open it for themselves only. Keeps the fraction.
  --quorum-fraction F        also at least this fraction of the active callers (0 to 1, 0.25: a
                             quarter; 0 removes it). Keeps the processes.
  (--quorum 1 --quorum-fraction 0: no quorum, any process's failures open it fleet-wide.)

Options:
${CONNECTION}
${JSON_OPTION}
${HELP_OPTION}

${EXIT_CODES}
`,
  dashboard: `Usage: purgatory dashboard [--redis URL] [--prefix P] [--port 8080] [--host 127.0.0.1] [--allow-control]

Serves a live web page of every circuit of the fleet: state, failures against the threshold,
window counts, config, time since opened, and a timeline of the transitions it saw. It reads
Redis every 250 ms and pushes changes to the page (server-sent events). Ctrl-C stops it.

Options:
${CONNECTION}
  --port N          port to listen on (default 8080; 0: any free port)
  --host H          address to listen on (default 127.0.0.1: this machine only)
  --allow-control   show isolate / disable / reset buttons (POST endpoints refuse otherwise)
${HELP_OPTION}

${EXIT_CODES}
`,
};

const OVERVIEW = `Usage: purgatory <command> [NAME] [options]

Looks at and steers the circuits a fleet shares through Redis (RedisStorage).

Commands:
  circuits                list every circuit with state, counts and config
  show NAME               one circuit in detail
  isolate NAME            force it open: reject every call until a reset
  disable NAME            let every call run, never trip, until a reset
  reset NAME              close it and clear its counts
  configure NAME ...      change --threshold, --ttl, --half-open-max-calls, --quorum, fleet-wide
  dashboard               serve a live web page of the fleet (--allow-control for buttons)
  help [COMMAND]          this help, or a command's

Common options:
${CONNECTION}
${JSON_OPTION}
${HELP_OPTION}

purgatory <command> --help tells more. Needs the ioredis package next to purgatory.
${EXIT_CODES}
`;

/** The help of `topic`, or of the tool. */
export function helpText(topic: CommandName | null): string {
  return topic === null ? OVERVIEW : TOPICS[topic];
}
