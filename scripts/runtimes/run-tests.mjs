/**
 * `npm run test:bun` and `npm run test:deno`: vitest itself, run by Bun or Deno instead of Node,
 * on vitest.runtimes.config.ts (the behaviour suite over the in-memory storage, the Redis storage
 * suite against the Redis at REDIS_URL, and test/runtimes/, which fails unless the tests run in
 * the runtime named here). Vitest's workers are forked with `process.execPath`, so the test files,
 * the library and the processes the tests spawn all run in that runtime.
 *
 *   node scripts/runtimes/run-tests.mjs <bun|deno> [vitest arguments...]
 *
 * Both runtimes are dev dependencies (the npm packages `bun` and `deno`, whose platform packages
 * hold the binaries). Their install scripts only move the binary into place, so the binary is
 * looked for in both places: a lifecycle that did not run the scripts (`--ignore-scripts`, or an
 * npm that blocks them) still finds it. Exits with the runtime's exit code.
 */
import { spawn } from "node:child_process";
import console from "node:console";
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import process from "node:process";
import { URL, fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const require = createRequire(join(root, "package.json"));

/** A real executable, not the few-byte placeholder that the `bun` package ships before its install script. */
function binary(path) {
  return existsSync(path) && statSync(path).size > 1_000_000 ? path : undefined;
}

/** The directory of an installed package, or undefined. */
function packageDir(name) {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

/** Bun's binary: where its install script puts it, else in the platform package (`@oven/bun-linux-x64`...). */
function findBun() {
  const main = packageDir("bun");
  // The package names its binary bun.exe on every platform.
  const placed = main && binary(join(main, "bin", "bun.exe"));
  if (placed) return placed;
  const arch = process.arch === "arm64" ? "aarch64" : process.arch;
  const os = process.platform === "win32" ? "windows" : process.platform;
  for (const variant of ["", "-baseline", "-musl", "-musl-baseline"]) {
    const dir = packageDir(`@oven/bun-${os}-${arch}${variant}`);
    const found = dir && binary(join(dir, "bin", process.platform === "win32" ? "bun.exe" : "bun"));
    if (found) return found;
  }
  return undefined;
}

/** Deno's binary: where its install script puts it, else in the platform package (`@deno/linux-x64-glibc`...). */
function findDeno() {
  const exe = process.platform === "win32" ? "deno.exe" : "deno";
  const main = packageDir("deno");
  const placed = main && binary(join(main, exe));
  if (placed) return placed;
  const arch = process.arch;
  const names =
    process.platform === "linux"
      ? [`@deno/linux-${arch}-glibc`, `@deno/linux-${arch}`]
      : [`@deno/${process.platform}-${arch}`];
  for (const name of names) {
    const dir = packageDir(name);
    const found = dir && binary(join(dir, exe));
    if (found) return found;
  }
  return undefined;
}

const [runtime, ...vitestArgs] = process.argv.slice(2);
const vitest = join(packageDir("vitest") ?? join(root, "node_modules", "vitest"), "vitest.mjs");
const config = ["run", "--config", "vitest.runtimes.config.ts", ...vitestArgs];

let command;
if (runtime === "bun") {
  const bun = findBun();
  // --bun: a script that asks for `node` gets Bun too.
  if (bun) command = [bun, ["--bun", vitest, ...config]];
} else if (runtime === "deno") {
  const deno = findDeno();
  if (deno) command = [deno, ["run", "--allow-all", vitest, ...config]];
} else {
  console.error("usage: node scripts/runtimes/run-tests.mjs <bun|deno> [vitest arguments...]");
  process.exit(1);
}
if (command === undefined) {
  console.error(`${runtime}: no binary found; install the dev dependencies (npm ci)`);
  process.exit(1);
}

const [file, args] = command;
const child = spawn(file, args, {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, PURGATORY_TEST_RUNTIME: runtime, DENO_NO_UPDATE_CHECK: "1", NODE_OPTIONS: "" },
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
