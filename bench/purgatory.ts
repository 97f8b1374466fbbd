/**
 * Which purgatory the benchmark measures. By default the package as users get it: `src/` built by
 * tsup (same settings as `npm run build`, ESM) into `bench/.build/`, fresh on every run. Running
 * `src/` through tsx instead (`BENCH_SOURCE=src`) measures tsx's transform too: it wraps named
 * closures in `__name(...)`, which adds about half the cost of creating a circuit.
 * @module
 */
import { cpSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as Purgatory from "../src/index.js";

export type PurgatoryModule = typeof Purgatory;

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const BUILD_DIR = join(BENCH_DIR, ".build");
const BUNDLE = join(BUILD_DIR, "index.js");

/** `"build"` (default) or `"src"`, from `BENCH_SOURCE`. */
export const SOURCE: "build" | "src" = process.env.BENCH_SOURCE === "src" ? "src" : "build";

/** Builds `src/` into `bench/.build/` (a no-op with `BENCH_SOURCE=src`). Run once, by the parent. */
export async function buildPurgatory(): Promise<void> {
  if (SOURCE === "src") return;
  const { build } = await import("tsup");
  await build({
    entry: { index: join(ROOT, "src/index.ts") },
    format: ["esm"],
    target: "node20",
    outDir: BUILD_DIR,
    clean: true,
    dts: false,
    sourcemap: false,
    shims: true,
    external: ["ioredis"],
    silent: true,
    config: false,
  });
  // the Redis storage reads its Lua scripts next to the bundle, as in dist/
  const scripts = join(ROOT, "src/storage/redis/scripts");
  if (existsSync(scripts)) cpSync(scripts, join(BUILD_DIR, "scripts"), { recursive: true });
}

/** The purgatory module to measure. */
export async function loadPurgatory(): Promise<PurgatoryModule> {
  if (SOURCE === "src") return import("../src/index.js");
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: buildPurgatory() runs first`);
  return (await import(pathToFileURL(BUNDLE).href)) as PurgatoryModule;
}
