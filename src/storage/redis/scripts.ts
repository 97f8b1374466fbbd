/**
 * The Lua scripts, read from `scripts/*.lua` next to this module (copied beside the build), run
 * with EVALSHA and sent again with EVAL when the server answers NOSCRIPT (after a restart or a
 * SCRIPT FLUSH).
 * @module
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { RedisClient } from "./options.js";

/** The operations, one script each. */
export type ScriptName = "register" | "admit" | "success" | "failure" | "reopen" | "read";

const NAMES: readonly ScriptName[] = ["register", "admit", "success", "failure", "reopen", "read"];

interface Script {
  readonly source: string;
  readonly sha: string;
}

let loaded: Record<ScriptName, Script> | undefined;

function load(): Record<ScriptName, Script> {
  if (loaded !== undefined) return loaded;
  const read = (file: string) => readFileSync(new URL(`./scripts/${file}.lua`, import.meta.url), "utf8");
  const prologue = read("prologue");
  const scripts = {} as Record<ScriptName, Script>;
  for (const name of NAMES) {
    const source = `${prologue}\n${read(name)}`;
    scripts[name] = { source, sha: createHash("sha1").update(source).digest("hex") };
  }
  return (loaded = scripts);
}

/** Runs script `name` on `key` with `args`. */
export async function runScript(
  client: RedisClient,
  name: ScriptName,
  key: string,
  args: readonly (string | number)[],
): Promise<unknown> {
  const script = load()[name];
  try {
    return await client.evalsha(script.sha, 1, key, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return client.eval(script.source, 1, key, ...args);
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
