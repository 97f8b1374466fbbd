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

export default defineConfig([
  {
    // The subpath exports (src/integrations/) import the library by its package name, kept
    // external: dist/fetch.js loads dist/index.js (fetch.cjs index.cjs), one copy of its classes.
    entry: { index: "src/index.ts", fetch: "src/integrations/fetch.ts" },
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    // The builds below write dist/cli.js and the integrations at the same time: not this build's
    // to remove.
    clean: ["!cli.js", "!cli.js.map", "!prometheus.*", "!otel.*", "!feed-*"],
    target: "node20",
    external: ["ioredis", "purgatory"],
    esbuildPlugins: [inlineLua],
  },
  {
    // The metrics integrations, "purgatory/prometheus" and "purgatory/otel": each entry holds the
    // little of the library it uses (errors, option checks), never the factories; their peers
    // stay imports. No shared chunk (splitting off), so each is one file per format.
    entry: { prometheus: "src/integrations/prometheus.ts", otel: "src/integrations/otel.ts" },
    format: ["esm", "cjs"],
    dts: true,
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
