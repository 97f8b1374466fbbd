import { readdirSync, readFileSync } from "node:fs";
import { buildSync } from "esbuild";
import { defineConfig } from "tsup";
import { PAGE_BUNDLE_OPTIONS, PAGE_ENTRY } from "./src/dashboard/page-bundle.js";

const SCRIPTS = "src/storage/redis/scripts";

/**
 * Replaces `src/storage/redis/lua.ts` (which reads the Lua scripts from disk) with a module that
 * holds them inline, so that the build, and any bundle made from it, needs no `.lua` file.
 */
const inlineLua = {
  name: "inline-lua",
  setup(build: { onLoad: (o: { filter: RegExp }, f: () => { contents: string; loader: "ts" }) => void }) {
    build.onLoad({ filter: /storage[\\/]redis[\\/]lua\.ts$/ }, () => {
      const sources = Object.fromEntries(
        readdirSync(SCRIPTS)
          .filter((file) => file.endsWith(".lua"))
          .map((file) => [file.slice(0, -".lua".length), readFileSync(`${SCRIPTS}/${file}`, "utf8")]),
      );
      const contents =
        `const SOURCES: Record<string, string> = ${JSON.stringify(sources)};\n` +
        "export function luaSource(name: string): string {\n" +
        "  const source = SOURCES[name];\n" +
        "  if (source === undefined) throw new Error(`no Lua script named ${name}`);\n" +
        "  return source;\n}\n";
      return { contents, loader: "ts" };
    });
  },
};

/**
 * Replaces `src/dashboard/script.ts` (which bundles the dashboard page's script from its sources
 * when first asked) with a module that holds the bundle made now, so that the executable needs
 * neither esbuild nor the page's sources.
 */
const bundledPage = {
  name: "bundled-page",
  setup(build: { onLoad: (o: { filter: RegExp }, f: () => { contents: string; loader: "ts" }) => void }) {
    build.onLoad({ filter: /dashboard[\\/]script\.ts$/ }, () => {
      const [output] = buildSync({ ...PAGE_BUNDLE_OPTIONS, entryPoints: [PAGE_ENTRY] }).outputFiles;
      if (output === undefined) throw new Error(`esbuild made no bundle of ${PAGE_ENTRY}`);
      const contents =
        `const SCRIPT: string = ${JSON.stringify(output.text)};\n` +
        "export function pageScript(): Promise<string> {\n  return Promise.resolve(SCRIPT);\n}\n";
      return { contents, loader: "ts" };
    });
  },
};

/**
 * The declarations: what is tagged `@internal` in TSDoc (members the library's own classes call on
 * one another, seams between its modules) is left out of dist/*.d.ts, so that users see only the
 * public API (the API reports, etc/*.api.md, record it).
 */
const DTS = { compilerOptions: { stripInternal: true } };

export default defineConfig([
  {
    // The subpath exports (src/integrations/) import the library by its package name, kept
    // external: dist/fetch.js loads dist/index.js (fetch.cjs index.cjs), one copy of its classes.
    // "purgatory/undici" imports only undici's types: nothing of undici at run time.
    // "purgatory/storage" (for storage authors) holds the pure state machine's functions.
    entry: {
      index: "src/index.ts",
      fetch: "src/integrations/fetch.ts",
      undici: "src/integrations/undici.ts",
      storage: "src/storage/authoring.ts",
    },
    format: ["esm", "cjs"],
    dts: DTS,
    sourcemap: true,
    // npm run build empties dist/ first: a clean here would also remove, as its declarations build
    // starts, every .d.ts that the builds below (running at the same time) wrote before it.
    clean: false,
    target: "node20",
    external: ["ioredis", "purgatory", "undici"],
    esbuildPlugins: [inlineLua],
  },
  {
    // The metrics integrations, "purgatory/prometheus" and "purgatory/otel": each entry holds the
    // little of the library it uses (errors, option checks), never the factories; their peers
    // stay imports. No shared chunk (splitting off), so each is one file per format.
    entry: { prometheus: "src/integrations/prometheus.ts", otel: "src/integrations/otel.ts" },
    format: ["esm", "cjs"],
    dts: DTS,
    sourcemap: true,
    splitting: false,
    clean: false,
    target: "node20",
    external: ["prom-client", "@opentelemetry/api"],
  },
  {
    // The `purgatory` executable (package.json "bin"): one ESM file, the library bundled in.
    entry: { cli: "src/cli/bin.ts" },
    format: ["esm"],
    dts: false,
    sourcemap: true,
    clean: false,
    target: "node20",
    external: ["ioredis"],
    banner: { js: "#!/usr/bin/env node" },
    esbuildPlugins: [inlineLua, bundledPage],
  },
]);
