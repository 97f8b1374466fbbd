/**
 * The page's script: `page/main.ts` (typed and linted like the rest) bundled into one browser
 * script. Run from the sources (tests, `npm run demo`), it is bundled here with esbuild (a
 * dependency of the build) on first use; the published build replaces this module with one that
 * holds the bundle made at build time (tsup.config.ts, `bundledPage`), so that the executable
 * needs neither esbuild nor the sources.
 * @module
 */
import { fileURLToPath } from "node:url";
import { PAGE_BUNDLE_OPTIONS } from "./page-bundle.js";

let bundled: Promise<string> | undefined;

/** The page's script, bundled once. */
export function pageScript(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import("esbuild");
    const entry = fileURLToPath(new URL("./page/main.ts", import.meta.url));
    const result = await build({ ...PAGE_BUNDLE_OPTIONS, entryPoints: [entry] });
    const [output] = result.outputFiles;
    if (output === undefined) throw new Error("esbuild made no page script");
    return output.text;
  })();
  return bundled;
}
