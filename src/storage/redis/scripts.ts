/**
 * The Lua scripts, each one the shared prologue followed by its own file, run with EVALSHA and
 * sent again with EVAL when the server answers NOSCRIPT (after a restart or a SCRIPT FLUSH).
 * @module
 */
import { sha1Hex } from "./runtime.js";
import { luaSource } from "./lua.js";
import type { RedisClient } from "./options.js";

/** The operations, one script each. */
export type ScriptName =
  "read" | "admit" | "success" | "failure" | "flush" | "reopen" | "control" | "configure" | "release";

/** Every script's name, which is also its file's name in `scripts/`. */
export const SCRIPT_NAMES: readonly ScriptName[] = [
  "read",
  "admit",
  "success",
  "failure",
  "flush",
  "reopen",
  "control",
  "configure",
  "release",
];

interface Script {
  readonly source: string;
  readonly sha: string;
}

let loaded: Record<ScriptName, Script> | undefined;
let loading: Promise<Record<ScriptName, Script>> | undefined;

/** The scripts and their SHA-1s, digested once (Web Crypto digests asynchronously). */
function load(): Promise<Record<ScriptName, Script>> {
  loading ??= digestScripts().then((scripts) => (loaded = scripts));
  return loading;
}

async function digestScripts(): Promise<Record<ScriptName, Script>> {
  const prologue = luaSource("prologue");
  const scripts = {} as Record<ScriptName, Script>;
  for (const name of SCRIPT_NAMES) {
    const source = `${prologue}\n${luaSource(name)}`;
    scripts[name] = { source, sha: await sha1Hex(source) };
  }
  return scripts;
}

/**
 * Loads every script into the server (every master of a Cluster) ahead of use, so that no call
 * pays a NOSCRIPT round trip, and no retry with EVAL lands behind a later script. Best effort: a
 * server that restarts empty later is still served by the EVAL fallback.
 */
export async function preloadScripts(client: RedisClient): Promise<void> {
  const nodes = client.nodes?.("master") ?? [client];
  const sources = Object.values(await load()).map((script) => script.source);
  await Promise.all(
    nodes.flatMap((node) => sources.map((source) => node.script?.("LOAD", source) ?? Promise.resolve())),
  );
}

/** Runs script `name` on `keys` (one circuit's, `RedisKeys.scriptKeys`) with `args`. */
export async function runScript(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const script = (loaded ?? (await load()))[name];
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return await client.eval(script.source, keys.length, ...keys, ...args);
  }
}

/** `promise`, or a rejection once `ms` have passed without an answer. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
