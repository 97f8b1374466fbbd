/**
 * `purgatory`, the command line: parses the arguments, connects to the fleet's Redis, runs the
 * command and answers with an exit code (0 done, 1 bad argument, 2 Redis cannot be reached).
 * Errors are one line on stderr, `purgatory: <what went wrong>`.
 * @module
 */
import packageJson from "../../package.json" with { type: "json" };
import { startDashboard } from "../dashboard/server.js";
import { parseCommandLine, type Invocation } from "./args.js";
import { runCommand } from "./commands.js";
import { CliError, EXIT } from "../fleet/errors.js";
import { Fleet } from "../fleet/fleet.js";
import { helpText } from "./help.js";
import { painter, wantsColor, type Output } from "./table.js";
import { runTop } from "./top.js";
import { watchCircuits } from "./watch.js";

/** The package's version, as `purgatory --version` prints it. */
export const VERSION: string = packageJson.version;

/** What the CLI reads and writes: the process's streams and environment, or a test's. */
export interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: NodeJS.ProcessEnv;
  /**
   * Calls `stop` when the process is asked to end (SIGINT, SIGTERM); returns the function that
   * stops listening. Only the dashboard, which runs until then, uses it.
   */
  readonly onStop?: (stop: () => void) => () => void;
}

/** The process's own streams, environment and signals. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    onStop(stop) {
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      return () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      };
    },
  };
}

/**
 * Runs `purgatory` with `argv` (the arguments after the program's name) and resolves with the
 * exit code. Closes everything it opened, so the process can end by itself.
 *
 * @example
 * ```ts
 * const code = await main(["circuits", "--redis", "redis://127.0.0.1:6379", "--json"]);
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const fail = (error: CliError): number => {
    io.stderr.write(`purgatory: ${error.message}\n`);
    return error.exitCode;
  };
  let invocation: Invocation;
  try {
    invocation = parseCommandLine(argv, io.env);
  } catch (error) {
    if (error instanceof CliError) return fail(error);
    throw error;
  }
  if (invocation.command === "help") {
    io.stdout.write(helpText(invocation.topic));
    return EXIT.ok;
  }
  if (invocation.command === "version") {
    io.stdout.write(`purgatory ${VERSION}\n`);
    return EXIT.ok;
  }
  let fleet: Fleet | undefined;
  try {
    fleet = await Fleet.connect({ url: invocation.redis, prefix: invocation.prefix });
    if (invocation.command === "dashboard") return await serveDashboard(invocation, fleet, io);
    if (invocation.command === "top") return await runTop(invocation, fleet, io);
    const paint = painter(wantsColor(io.stdout, io.env));
    if (invocation.command === "circuits" && invocation.watch) {
      await watchCircuits(fleet, { stdout: io.stdout, paint, json: invocation.json }, untilStopped(io));
      return EXIT.ok;
    }
    await runCommand(invocation, fleet, { print: (text) => io.stdout.write(`${text}\n`), paint, now: Date.now });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CliError) return fail(error);
    throw error;
  } finally {
    await fleet?.close();
  }
}

type DashboardInvocation = Extract<Invocation, { command: "dashboard" }>;

/** Resolves when the process is asked to end (SIGINT, SIGTERM). */
function untilStopped(io: CliIo): Promise<void> {
  return new Promise<void>((resolve) => {
    const stopListening = io.onStop?.(() => {
      stopListening?.();
      resolve();
    });
  });
}

/** Serves the dashboard until the process is asked to stop. */
async function serveDashboard(invocation: DashboardInvocation, fleet: Fleet, io: CliIo): Promise<number> {
  let dashboard;
  try {
    dashboard = await startDashboard({
      fleet,
      port: invocation.port,
      host: invocation.host,
      allowControl: invocation.allowControl,
      token: invocation.token,
      allowHosts: invocation.allowHosts,
    });
  } catch (error) {
    const { code } = error as { code?: string };
    if (code === "EADDRINUSE")
      throw new CliError(`invalid --port ${invocation.port}: the address is in use`, EXIT.usage);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND")
      throw new CliError(`invalid --host ${JSON.stringify(invocation.host)}: cannot listen there`, EXIT.usage);
    throw error;
  }
  const control = invocation.allowControl ? "control on" : "read-only";
  const token = dashboard.token === null ? "" : ", token required";
  if (dashboard.beyondLoopback) {
    io.stdout.write(
      `purgatory dashboard: warning: listening on ${invocation.host}, beyond this machine: whoever reaches the port and has the token can read every circuit${invocation.allowControl ? " and isolate, disable or reset them" : ""}; over a network you do not trust, serve it behind TLS (a reverse proxy, --allow-host its name)\n`,
    );
  }
  io.stdout.write(
    `purgatory dashboard: ${dashboard.url} (${control}${token}, prefix "${fleet.prefix}" at ${fleet.url}); Ctrl-C stops it\n`,
  );
  if (dashboard.tokenMade && dashboard.token !== null) {
    const at = new URL(dashboard.url);
    at.searchParams.set("token", dashboard.token);
    io.stdout.write(
      `purgatory dashboard: token (shown once): ${dashboard.token}; open ${at.href} (the page keeps it in a cookie) or send "Authorization: Bearer <token>"\n`,
    );
  }
  await untilStopped(io);
  await dashboard.close();
  io.stdout.write("purgatory dashboard: stopped\n");
  return EXIT.ok;
}
