/**
 * The ACL rules of docs/redis-setups.md, read from the page itself (so that the tests run what it
 * documents), and what a server's `ACL LOG` says it denied.
 *
 * @example
 * ```ts
 * const rule = documentedAclRule("setuser", { prefix: "myapp", password: "s3cret" });
 * await admin.call("ACL", "SETUSER", "purgatory", "reset", ...rule);
 * expect(await aclDenials(admin)).toEqual([]);
 * ```
 */
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";

const PAGE = new URL("../../docs/redis-setups.md", import.meta.url);

/**
 * The documented rules: the application's (as `ACL SETUSER`, as an `aclfile` line, on Redis 6.0),
 * what a Cluster needs more, and the operators' read-only one.
 */
export type DocumentedRule = "setuser" | "aclfile" | "viewer" | "cluster" | "redis6";

const LINES: Record<DocumentedRule, RegExp> = {
  setuser: /^ACL SETUSER purgatory (on >CHANGE-ME resetkeys resetchannels .*)$/m,
  /** Redis 6.0: no channel rules, no sharded pub/sub. */
  redis6: /^ACL SETUSER purgatory (on >CHANGE-ME resetkeys ~.*)$/m,
  /** What a Redis Cluster needs more (added to the user by a second `ACL SETUSER`). */
  cluster: /^\s*ACL SETUSER purgatory (\+cluster.*)$/m,
  aclfile: /^user purgatory (on .*)$/m,
  viewer: /^ACL SETUSER purgatory-viewer (on .*)$/m,
};

/** The documented prefix and password, replaced by the test's. */
const DOC_PREFIX = "purgatory";
const DOC_PASSWORD = ">CHANGE-ME";

/**
 * The rule of docs/redis-setups.md (the words after the user name) for `prefix`, with `password`
 * for the page's `CHANGE-ME`. Throws if the page lost it.
 */
export function documentedAclRule(kind: DocumentedRule, options: { prefix: string; password: string }): string[] {
  const text = readFileSync(PAGE, "utf8");
  const found = LINES[kind].exec(text)?.[1];
  if (found === undefined) throw new Error(`docs/redis-setups.md has no ${kind} rule (${String(LINES[kind])})`);
  return found
    .trim()
    .split(/\s+/)
    .map((word) => {
      if (word === DOC_PASSWORD) return `>${options.password}`;
      const pattern = /^(~|&|%R~|%W~|%RW~)(.*)$/.exec(word);
      if (pattern !== null && pattern[2]?.startsWith(`${DOC_PREFIX}:`) === true) {
        return `${pattern[1] ?? ""}${options.prefix}${pattern[2].slice(DOC_PREFIX.length)}`;
      }
      return word;
    });
}

/** The commands a rule allows (`+cmd` and `+cmd|sub`, lower case). */
export function allowedCommands(rule: readonly string[]): Set<string> {
  return new Set(rule.filter((word) => word.startsWith("+")).map((word) => word.slice(1).toLowerCase()));
}

/** One entry of `ACL LOG`. */
export interface AclDenial {
  readonly reason: string;
  readonly context: string;
  readonly object: string;
  readonly username: string;
  readonly count: number;
}

/** What the server denied since the last `ACL LOG RESET`, newest first. */
export async function aclDenials(admin: Redis): Promise<AclDenial[]> {
  const entries = (await admin.call("ACL", "LOG")) as unknown[][];
  return entries.map((entry) => {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
    return {
      reason: String(fields.get("reason")),
      context: String(fields.get("context")),
      object: String(fields.get("object")),
      username: String(fields.get("username")),
      count: Number(fields.get("count")),
    };
  });
}
