/**
 * Which JavaScript runtime runs this code: Bun and Deno put a global of their name beside Node's
 * `process` (both also answer `process.versions.node`, so that alone tells nothing).
 */

/** A runtime the tests run in. */
export type RuntimeName = "node" | "bun" | "deno";

/** The runtime running this code, and its version. */
export function currentRuntime(): { readonly name: RuntimeName; readonly version: string } {
  const global = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (global.Bun !== undefined) return { name: "bun", version: global.Bun.version };
  if (global.Deno !== undefined) return { name: "deno", version: global.Deno.version.deno };
  return { name: "node", version: process.versions.node };
}
