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
  circuits: `Usage: purgatory circuits [--watch] [--redis URL] [--prefix P] [--json]

Lists every circuit of the prefix as Redis holds it: state, consecutive failures against the
threshold, ttl, the rate window's counts, the policies, when it opened and when a probe may run.
For a circuit with a quorum: CALLERS, the processes that called it lately, and after the state
how many of them are open for themselves ("closed · 1 of 12 processes open locally").
With --json: an array of circuits ({ name, state, failureCount, openedAt, retryAt, probes, config,
window, updatedAt, incarnation, createdAt, generation, quorum }; quorum is null without one, else
{ activeCallers: [names], openLocally: [{ process, retryAt }], effective: processes needed now };
times in epoch ms, durations in seconds; generation 0: it never left closed).

With --watch it then follows the fleet until Ctrl-C: a line per change (on a terminal, the table
redrawn), learnt from the circuits' channels at a few Redis commands a second, whatever the number
of circuits. With --json: one JSON object a line ({"type":"snapshot",...}, then "circuit",
"removed" and "redis" objects).

Options:
  --watch           follow the changes until Ctrl-C
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
  prune: `Usage: purgatory prune [--redis URL] [--prefix P] [--json]

Drops from the registry of the prefix the names whose keys are gone (expired by keyTtl, or
deleted): listing never does it, so that a circuit a process still holds is never hidden. A
circuit that a process still uses is listed again by its next write. With --json:
{ "pruned": [names] }.

Options:
${CONNECTION}
${JSON_OPTION}
${HELP_OPTION}

${EXIT_CODES}
`,
  dashboard: `Usage: purgatory dashboard [--redis URL] [--prefix P] [--port 8080] [--host 127.0.0.1]
                          [--allow-control] [--token T] [--allow-host NAME]

Serves a live web page of every circuit of the fleet: state, failures against the threshold,
window counts, config, time since opened, and a timeline of the transitions it saw. It learns
changes from the circuits' channels (a few Redis commands a second, whatever the number of
circuits) and pushes them to the page (server-sent events). Ctrl-C stops it.

Bound beyond this machine (--host 0.0.0.0, an address of the host), it needs a token for the
page, the event stream and every action: --token, else $PURGATORY_DASHBOARD_TOKEN, else one it
makes and prints once at start. Open the URL it prints (…/?token=…) once: the page keeps it in a
cookie. Scripts send "Authorization: Bearer <token>". The Host header must name the bound
address, this machine's names and addresses, or a name given with --allow-host.

Options:
${CONNECTION}
  --port N          port to listen on (default 8080; 0: any free port)
  --host H          address to listen on (default 127.0.0.1: this machine only)
  --allow-control   show isolate / disable / reset buttons (POST endpoints refuse otherwise)
  --token T         the token to require (at least 16 characters; default: made at start
                    when bound beyond loopback)
  --allow-host NAME another name the page is opened by (a proxy's, a DNS name); repeatable
${HELP_OPTION}

${EXIT_CODES}
`,
  top: `Usage: purgatory top [--sort calls|errors|rejected|p99|name] [--limit N] [--redis URL] [--prefix P]
                    [--json]

Shows the busiest circuits of the fleet, live, refreshed every second: CIRCUIT, CALLS/S, ERR %
(failures and timeouts among the calls that ran), REJ/S (calls the circuit rejected), P50 and P99
(latency, at most 19 % above the true value), STATE (as Redis holds it) and PROCS (the processes
calling it; "2, 1 open": one of them is open for itself, a quorum not met fleet-wide). Above them,
the fleet's calls/s, error rate and rejections/s, the processes reporting, and whether Redis
answers. While top runs, every process of the prefix reports its traffic once a second (one
message each; nothing while nobody watches): a process appears within a second or two.

On a terminal the screen is redrawn in place (and at each resize); on a narrow one the least
important columns go first and long names are cut with "…". Keys:
  c  sort by calls/s          e  by error rate           r  by rejections/s
  p  by p99 latency           n  by name                 q  or Ctrl-C: quit
Not on a terminal (piped, redirected): one table a second, every circuit and every column, names
in full, until Ctrl-C (SIGINT) or SIGTERM. NO_COLOR turns colours off, FORCE_COLOR on.

With --json: one snapshot, then exit. It waits for the first whole second every process reported
(a few seconds at most; nobody reporting: "circuits" is empty) and prints { t (end of that
second, Redis time, epoch ms; 0 if nobody reported), prefix, sort, processes, totals: { calls,
errors, rejected, errorRate }, circuits: [{ name, state (null if Redis holds none), calls, errors,
rejected, errorRate, p50, p99, processes: [{ process, calls, errors, rejected, errorRate, p50, p99,
openForItself }] }] }: rates a second, error rates 0 to 1, latencies in ms (null: none timed).

Options:
  --sort KEY        calls (default), errors (the error rate), rejected, p99 or name
  --limit N         show at most N circuits (default: as many as fit; not on a terminal, all)
${CONNECTION}
${JSON_OPTION}
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
  prune                   drop the registry's names whose keys are gone (maintenance)
  dashboard               serve a live web page of the fleet (--allow-control for buttons)
  top                     the busiest circuits, live: calls/s, errors, latency, state
  help [COMMAND]          this help, or a command's

  circuits --watch follows the changes until Ctrl-C. purgatory --version prints the version.

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
