/**
 * How the page's script (`page/main.ts`) is bundled: the same options when the sources run
 * (`script.ts`) and at build time (tsup.config.ts).
 * @module
 */

/** esbuild options of the page's script: one minified browser script (an IIFE). */
export const PAGE_BUNDLE_OPTIONS = {
  bundle: true,
  format: "iife",
  target: "es2020",
  platform: "browser",
  minify: true,
  legalComments: "none",
  write: false,
} as const;

/** The page's entry, from the repository's root. */
export const PAGE_ENTRY = "src/dashboard/page/main.ts";
