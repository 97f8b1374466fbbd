/**
 * Counting what a Redis storage sends, two ways that must agree: the storage's own
 * `stats().scriptsRun` (scripts sent, one round trip each) and the server's `INFO commandstats`
 * (every command it ran, those inside scripts included). The quorum section runs on a dedicated
 * redis-server, so the server counts only the bench's own traffic.
 * @module
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { Redis } from "ioredis";

/** What the server has run so far, by `INFO commandstats` (its own `INFO` left out). */
export interface ServerCounts {
  /** Every command, the ones run inside scripts included. */
  readonly commands: number;
  /** Scripts sent by clients (`EVALSHA` / `EVAL`), one round trip each. */
  readonly scripts: number;
}

const SCRIPT_COMMANDS = new Set(["evalsha", "eval", "evalsha_ro", "eval_ro"]);

/** Reads the server's counters. */
export async function serverCounts(admin: Redis): Promise<ServerCounts> {
  const info = await admin.info("commandstats");
  let commands = 0;
  let scripts = 0;
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const [, name = "", calls = "0"] = match;
    if (name === "info") continue;
    commands += Number(calls);
    if (SCRIPT_COMMANDS.has(name)) scripts += Number(calls);
  }
  return { commands, scripts };
}

/** `after - before`. */
export function countsSince(before: ServerCounts, after: ServerCounts): ServerCounts {
  return { commands: after.commands - before.commands, scripts: after.scripts - before.scripts };
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves at the next turn of the event loop (after the timers due by then). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The scripts of src/storage/redis/scripts/, each sent as the shared prologue followed by its own file. */
const SCRIPTS_DIR = new URL("../../src/storage/redis/scripts/", import.meta.url);

/** The script names by SHA1, as `RedisStorage` computes them (`src/storage/redis/scripts.ts`). */
function scriptNames(): Map<string, string> {
  const prologue = readFileSync(new URL("prologue.lua", SCRIPTS_DIR), "utf8");
  const names = new Map<string, string>();
  for (const file of readdirSync(SCRIPTS_DIR)) {
    if (!file.endsWith(".lua") || file === "prologue.lua") continue;
    const source = `${prologue}\n${readFileSync(new URL(file, SCRIPTS_DIR), "utf8")}`;
    names.set(createHash("sha1").update(source).digest("hex"), file.slice(0, -".lua".length));
  }
  return names;
}

/** What a MONITOR connection saw clients send: scripts by name (`flush`, `read`, ...), other commands by name. */
export interface ScriptWatch {
  /** Stops watching and gives the counts so far. */
  stop(): Promise<Readonly<Record<string, number>>>;
}

/**
 * Watches every command the server at `url` runs (MONITOR) and counts the scripts by name: to tell
 * a presence report (a `flush` on a circuit without a rate window) from a re-read (`read`). Costs
 * the server a little per command, nothing to a closed success (which sends none).
 */
export async function watchScripts(url: string): Promise<ScriptWatch> {
  const names = scriptNames();
  const client = new Redis(url);
  const monitor = await client.monitor();
  const counts: Record<string, number> = {};
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    const command = (args[0] ?? "").toLowerCase();
    // Commands run by a script are listed too, from "lua": the script is what was sent.
    if (source === "lua" || command === "info" || command === "monitor") return;
    const name = command === "evalsha" ? (names.get(args[1] ?? "") ?? "unknown script") : command;
    counts[name] = (counts[name] ?? 0) + 1;
  });
  return {
    stop: async () => {
      await sleep(20); // the last lines arrive
      monitor.disconnect();
      client.disconnect();
      return counts;
    },
  };
}
