/**
 * The Lua sources of the scripts, by file name, read from `./scripts` next to this module. The
 * published build replaces this module with one that holds the sources inline (tsup.config.ts),
 * so that an app bundled into one file needs no `.lua` file beside it.
 * @module
 */
import { readFileSync } from "node:fs";

/** The source of `scripts/<name>.lua`. */
export function luaSource(name: string): string {
  return readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), "utf8");
}
