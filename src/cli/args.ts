/**
 * The command line of `purgatory`: which commands exist, which options each takes, and parsing
 * them with `node:util`'s `parseArgs` into a checked `Invocation`. Every mistake becomes a
 * `UsageError` whose one-line message names the option and the value.
 * @module
 */
import { parseArgs } from "node:util";
import type { ControlAction } from "../core/machine.js";
import { MAX_QUORUM_PROCESSES } from "../core/quorum.js";
import { CliError, EXIT } from "../fleet/errors.js";

/** The commands of `purgatory`. */
export type CommandName =
  "circuits" | "show" | "isolate" | "disable" | "reset" | "configure" | "prune" | "dashboard" | "top";

/** What `purgatory top` sorts the circuits by (`--sort`, and its keys while it runs). */
export type TopSort = "calls" | "errors" | "rejected" | "p99" | "name";

/** The sort keys of `top`, in the order its help lists them. */
export const TOP_SORTS: readonly TopSort[] = ["calls", "errors", "rejected", "p99", "name"];

/** A mistake on the command line: exit code 1, with a one-line message. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = "UsageError";
  }
}

/** The options every command that talks to Redis takes. */
export interface ConnectionArgs {
  /** `--redis`, else `REDIS_URL`, else `redis://127.0.0.1:6379`. */
  readonly redis: string;
  /** `--prefix`, default `"purgatory"`. */
  readonly prefix: string;
}

/** A parsed, checked command line. */
export type Invocation =
  | { readonly command: "help"; readonly topic: CommandName | null }
  | { readonly command: "version" }
  | (ConnectionArgs & { readonly command: "circuits"; readonly json: boolean; readonly watch: boolean })
  | (ConnectionArgs & { readonly command: "prune"; readonly json: boolean })
  | (ConnectionArgs & { readonly command: "show"; readonly name: string; readonly json: boolean })
  | (ConnectionArgs & { readonly command: ControlAction; readonly name: string; readonly json: boolean })
  | (ConnectionArgs & {
      readonly command: "configure";
      readonly name: string;
      readonly json: boolean;
      readonly changes: ConfigureChanges;
    })
  | (ConnectionArgs & {
      readonly command: "dashboard";
      readonly port: number;
      readonly host: string;
      readonly allowControl: boolean;
      /** `--token`, else `PURGATORY_DASHBOARD_TOKEN`, else `null` (one is made when the bind needs it). */
      readonly token: string | null;
      /** `--allow-host`: more names the page may be opened by (the `Host` header), besides the bound one. */
      readonly allowHosts: readonly string[];
    })
  | (ConnectionArgs & {
      readonly command: "top";
      readonly json: boolean;
      readonly sort: TopSort;
      /** `--limit`: the most circuits shown; `null`: as many as fit (all when not on a terminal). */
      readonly limit: number | null;
    });

/** What `configure` changes (at least one). */
export interface ConfigureChanges {
  readonly threshold?: number;
  readonly ttl?: number;
  readonly halfOpenMaxCalls?: number;
  /** `--quorum`: the processes a fleet-wide opening needs (an integer from 1 to 1,000). */
  readonly quorum?: number;
  /** `--quorum-fraction`: also this fraction of the active callers (0 to 1; 0 removes it). */
  readonly quorumFraction?: number;
}

/** A parsed option's value (a `multiple` option's is a list). */
type OptionValue = string | boolean | (string | boolean)[] | undefined;

type OptionSpec = { readonly type: "string" | "boolean"; readonly short?: string; readonly multiple?: boolean };

const CONNECTION = { redis: { type: "string" }, prefix: { type: "string" } } as const satisfies Record<
  string,
  OptionSpec
>;
const JSON_OUTPUT = { json: { type: "boolean" } } as const satisfies Record<string, OptionSpec>;

/** Each command's options (besides `--help`) and whether it takes a circuit NAME. */
export const COMMANDS: Readonly<
  Record<CommandName, { readonly name: boolean; readonly options: Readonly<Record<string, OptionSpec>> }>
> = {
  circuits: { name: false, options: { ...CONNECTION, ...JSON_OUTPUT, watch: { type: "boolean" } } },
  show: { name: true, options: { ...CONNECTION, ...JSON_OUTPUT } },
  isolate: { name: true, options: { ...CONNECTION, ...JSON_OUTPUT } },
  disable: { name: true, options: { ...CONNECTION, ...JSON_OUTPUT } },
  reset: { name: true, options: { ...CONNECTION, ...JSON_OUTPUT } },
  configure: {
    name: true,
    options: {
      ...CONNECTION,
      ...JSON_OUTPUT,
      threshold: { type: "string" },
      ttl: { type: "string" },
      "half-open-max-calls": { type: "string" },
      quorum: { type: "string" },
      "quorum-fraction": { type: "string" },
    },
  },
  prune: { name: false, options: { ...CONNECTION, ...JSON_OUTPUT } },
  dashboard: {
    name: false,
    options: {
      ...CONNECTION,
      port: { type: "string" },
      host: { type: "string" },
      "allow-control": { type: "boolean" },
      token: { type: "string" },
      "allow-host": { type: "string", multiple: true },
    },
  },
  top: { name: false, options: { ...CONNECTION, ...JSON_OUTPUT, sort: { type: "string" }, limit: { type: "string" } } },
};

const isCommand = (word: string): word is CommandName => Object.hasOwn(COMMANDS, word);

/** The default Redis URL: `REDIS_URL`, else the local server. */
export const defaultRedisUrl = (env: NodeJS.ProcessEnv): string => env.REDIS_URL || "redis://127.0.0.1:6379";

/**
 * Parses `argv` (without `node` and the script). `--help` anywhere asks for the help of the
 * command it follows (or of the tool).
 *
 * @example
 * ```ts
 * parseCommandLine(["show", "payments", "--json"], process.env);
 * // { command: "show", name: "payments", json: true, redis: "redis://127.0.0.1:6379", prefix: "purgatory" }
 * ```
 */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): Invocation {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError("a command is missing (purgatory --help lists them)");
  if (first === "--help" || first === "-h") return { command: "help", topic: null };
  if (first === "--version" || first === "-V" || first === "version") return { command: "version" };
  if (first === "help") {
    const topic = rest[0];
    if (topic === undefined) return { command: "help", topic: null };
    if (!isCommand(topic)) throw new UsageError(`help: unknown command "${topic}" (purgatory --help lists them)`);
    return { command: "help", topic };
  }
  if (first.startsWith("-")) throw new UsageError(`unknown option ${first} before the command (purgatory --help)`);
  if (!isCommand(first)) throw new UsageError(`unknown command "${first}" (purgatory --help lists them)`);
  // Asked for help: no other mistake on the line matters.
  if (rest.includes("--help") || rest.includes("-h")) return { command: "help", topic: first };
  return parseCommand(first, rest, env);
}

function parseCommand(command: CommandName, args: readonly string[], env: NodeJS.ProcessEnv): Invocation {
  const spec = COMMANDS[command];
  let parsed: { values: Record<string, OptionValue>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...args], options: spec.options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${command}: ${parseArgsProblem(error)} (purgatory ${command} --help)`);
  }
  const { values, positionals } = parsed;
  const connection: ConnectionArgs = {
    redis: stringOption(values.redis, "redis", command) ?? defaultRedisUrl(env),
    prefix: stringOption(values.prefix, "prefix", command) ?? "purgatory",
  };
  const json = values.json === true;
  let name = "";
  if (spec.name) {
    const [given, extra] = positionals;
    if (given === undefined || given === "")
      throw new UsageError(`${command}: the circuit NAME is missing (purgatory ${command} NAME)`);
    if (extra !== undefined) throw new UsageError(`${command}: unexpected argument "${extra}" after NAME "${given}"`);
    name = given;
  } else if (positionals[0] !== undefined) {
    throw new UsageError(`${command}: unexpected argument "${positionals[0]}" (${command} takes no NAME)`);
  }
  switch (command) {
    case "circuits":
      return { command, json, watch: values.watch === true, ...connection };
    case "prune":
      return { command, json, ...connection };
    case "show":
    case "isolate":
    case "disable":
    case "reset":
      return { command, name, json, ...connection };
    case "configure":
      return { command, name, json, changes: configureChanges(values), ...connection };
    case "dashboard":
      return {
        command,
        port: portOption(values.port),
        host: stringOption(values.host, "host", command) ?? "127.0.0.1",
        allowControl: values["allow-control"] === true,
        token: tokenOption(values.token, env),
        allowHosts: hostsOption(values["allow-host"]),
        ...connection,
      };
    case "top":
      return { command, json, sort: sortOption(values.sort), limit: limitOption(values.limit), ...connection };
  }
}

/** `--sort calls|errors|rejected|p99|name` (default `calls`). */
function sortOption(value: OptionValue): TopSort {
  if (typeof value !== "string") return "calls";
  const sort = TOP_SORTS.find((s) => s === value);
  if (sort === undefined)
    throw new UsageError(`invalid --sort ${JSON.stringify(value)}: expected one of ${TOP_SORTS.join(", ")}`);
  return sort;
}

/** `--limit N`: an integer from 1 on; `null` without it. */
function limitOption(value: OptionValue): number | null {
  if (typeof value !== "string") return null;
  const limit = /^\d{1,9}$/.test(value.trim()) ? Number(value) : NaN;
  if (!(limit >= 1))
    throw new UsageError(`invalid --limit ${JSON.stringify(value)}: expected a number of circuits, 1 or more`);
  return limit;
}

/** The fewest characters of a dashboard token given by hand. */
export const MIN_TOKEN_LENGTH = 16;

/** `--token`, else `PURGATORY_DASHBOARD_TOKEN`: never echoed in a message (a secret). */
function tokenOption(value: unknown, env: NodeJS.ProcessEnv): string | null {
  const given = typeof value === "string" ? value : env.PURGATORY_DASHBOARD_TOKEN;
  if (given === undefined || given === "") {
    if (typeof value === "string") throw new UsageError("dashboard: --token is empty");
    return null;
  }
  const from = typeof value === "string" ? "--token" : "PURGATORY_DASHBOARD_TOKEN";
  if (given.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(given)) {
    throw new UsageError(
      `invalid ${from}: expected at least ${MIN_TOKEN_LENGTH} printable characters without spaces (leave it out and the dashboard makes one)`,
    );
  }
  return given;
}

/** `--allow-host a.example --allow-host b.example,c.example`: host names, lower case. */
function hostsOption(value: unknown): string[] {
  const given = Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  const hosts = given.flatMap((v) => v.split(",")).map((h) => h.trim().toLowerCase());
  for (const host of hosts) {
    if (!/^[a-z0-9.:[\]-]+$/.test(host)) {
      throw new UsageError(`invalid --allow-host ${JSON.stringify(host)}: expected a host name or address`);
    }
  }
  return hosts;
}

function configureChanges(values: Record<string, OptionValue>): ConfigureChanges {
  const threshold = numberOption(values.threshold, "threshold");
  const ttl = numberOption(values.ttl, "ttl");
  const halfOpenMaxCalls = numberOption(values["half-open-max-calls"], "half-open-max-calls");
  const quorum = numberOption(values.quorum, "quorum");
  if (quorum !== undefined && !(Number.isInteger(quorum) && quorum >= 1 && quorum <= MAX_QUORUM_PROCESSES)) {
    throw new UsageError(
      `invalid --quorum ${JSON.stringify(values.quorum)}: expected a number of processes, an integer from 1 to ${MAX_QUORUM_PROCESSES}`,
    );
  }
  const quorumFraction = numberOption(values["quorum-fraction"], "quorum-fraction");
  if (quorumFraction !== undefined && !(quorumFraction >= 0 && quorumFraction <= 1)) {
    throw new UsageError(
      `invalid --quorum-fraction ${JSON.stringify(values["quorum-fraction"])}: expected a fraction of the active callers from 0 to 1 (0.25: a quarter; 0: none)`,
    );
  }
  if ([threshold, ttl, halfOpenMaxCalls, quorum, quorumFraction].every((value) => value === undefined)) {
    throw new UsageError(
      "configure: nothing to change: give --threshold N, --ttl SECONDS, --half-open-max-calls N, --quorum N or --quorum-fraction F",
    );
  }
  return {
    ...(threshold === undefined ? {} : { threshold }),
    ...(ttl === undefined ? {} : { ttl }),
    ...(halfOpenMaxCalls === undefined ? {} : { halfOpenMaxCalls }),
    ...(quorum === undefined ? {} : { quorum }),
    ...(quorumFraction === undefined ? {} : { quorumFraction }),
  };
}

function stringOption(value: OptionValue, option: string, command: string): string | undefined {
  if (typeof value !== "string") return undefined;
  if (value === "") throw new UsageError(`${command}: --${option} is empty`);
  return value;
}

/** A decimal number as a person writes it ("5", "0.5", "30"), else a `UsageError` naming `--option`. */
function numberOption(value: OptionValue, option: string): number | undefined {
  if (typeof value !== "string") return undefined;
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(value.trim())) {
    throw new UsageError(`invalid --${option} ${JSON.stringify(value)}: expected a number`);
  }
  return Number(value);
}

function portOption(value: OptionValue): number {
  if (typeof value !== "string") return 8080;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new UsageError(`invalid --port ${JSON.stringify(value)}: expected a port from 0 to 65535 (0: any free port)`);
  }
  return port;
}

/** `parseArgs`'s complaint, said briefly (its own messages run to several sentences). */
function parseArgsProblem(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const option = /'(-{1,2}[^' ]+)/.exec(message ?? "")?.[1] ?? "?";
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /does not take/.test(message ?? "") ? `option ${option} takes no value` : `option ${option} needs a value`;
    default:
      return String(message).split("\n")[0] ?? "";
  }
}
