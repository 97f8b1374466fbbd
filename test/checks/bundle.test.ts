/**
 * An app bundled with esbuild, as docs/bundling.md says: each
 * recipe of that page, read from it and run with the esbuild CLI, bundles a small app that uses
 * `RedisStorage`, and two processes running the bundle must share a circuit through Redis. A
 * one-file bundle sits alone in its folder, with no `scripts/*.lua` (or anything else) next to it.
 * Then what `RedisStorage` says when ioredis cannot be loaded: "not installed" only when ioredis
 * itself is not found, otherwise what really failed, with the cause attached. The package is built
 * (`npm run build`) in a temporary copy of the project, so that this test never races another one
 * over `dist/`.
 */
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStorage } from "../../src/index.js";
import { spawnLines, type WorkerLine } from "../support/redis-fleet.js";
import { inspector, uniquePrefix } from "../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ESBUILD = join(ROOT, "node_modules", ".bin", "esbuild");
/** What the copy of the project leaves out: it needs the sources and the build set-up only. */
const NOT_COPIED = new Set(["node_modules", ".git", "dist", "test", "bench", "examples", "coverage", ".tmp", "docs"]);

/**
 * The app, `src/app.ts`: `node app <url> <prefix> <circuit> trip|watch`. "trip" fails twice
 * (threshold 2); "watch" says it is ready and waits (at most 5 s) for the circuit to open. Both
 * print every hook call and, at the end, the state they saw, as JSON lines.
 */
const APP = `
import { AsyncCircuitBreakerFactory, RedisStorage } from "purgatory";

const [url, prefix, name, role] = process.argv.slice(2);
const print = (line: unknown) => process.stdout.write(JSON.stringify(line) + "\\n");
async function main() {
  const factory = new AsyncCircuitBreakerFactory({
    defaultThreshold: 2,
    defaultTtl: 30,
    storage: new RedisStorage({ url, prefix, commandTimeout: 1 }),
    listeners: [(circuit, eventType, event) => print({ type: "event", circuit, eventType, error: String((event as { error?: unknown }).error ?? "") })],
  });
  await factory.initialize();
  const breaker = await factory.getBreaker(name);
  if (role === "trip") {
    for (let i = 0; i < 2; i++) await breaker.run(() => Promise.reject(new Error("down"))).catch(() => undefined);
  } else {
    print({ type: "ready" });
    const deadline = Date.now() + 5000;
    while (breaker.state !== "opened" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }
  print({ type: "done", state: breaker.state });
  await factory.close();
}
main().catch((error) => {
  print({ type: "crash", error: String(error) });
  process.exitCode = 1;
});
`;

/**
 * `src/load.ts`: `node load <url>` initializes a `RedisStorage` and prints how that went: "ready",
 * or the error's message and its cause's.
 */
const LOAD = `
import { RedisStorage } from "purgatory";

const print = (line: unknown) => process.stdout.write(JSON.stringify(line) + "\\n");
const storage = new RedisStorage({ url: process.argv[2], commandTimeout: 1 });
storage.initialize().then(
  async () => {
    print({ type: "ready", available: storage.available });
    await storage.close();
  },
  (error: Error & { cause?: Error & { code?: string } }) =>
    print({ type: "failed", message: error.message, cause: error.cause?.message, causeCode: error.cause?.code ?? null }),
);
`;

/** A recipe of docs/bundling.md: the heading it is under, and its esbuild command. */
interface Recipe {
  readonly title: string;
  readonly command: string;
}

/** The `npx esbuild ...` lines of the ```sh blocks of docs/bundling.md, with their headings. */
async function recipesOfTheDoc(): Promise<Recipe[]> {
  const doc = await readFile(join(ROOT, "docs", "bundling.md"), "utf8");
  const recipes: Recipe[] = [];
  let title = "";
  let inShell = false;
  for (const line of doc.split("\n")) {
    if (line.startsWith("## ")) title = line.slice(3).trim();
    else if (line.trim() === "```sh") inShell = true;
    else if (line.trim().startsWith("```")) inShell = false;
    else if (inShell && line.startsWith("npx esbuild ")) recipes.push({ title, command: line.trim() });
  }
  return recipes;
}

const run = promisify(execFile);
let work = "";
let server: RedisServer;
let project = "";
let recipes: Recipe[] = [];

beforeAll(async () => {
  recipes = await recipesOfTheDoc();
  work = await mkdtemp(join(tmpdir(), "purgatory-bundle-"));
  project = join(work, "purgatory");
  await mkdir(project);
  for (const entry of await readdir(ROOT)) {
    if (!NOT_COPIED.has(entry)) await cp(join(ROOT, entry), join(project, entry), { recursive: true });
  }
  await symlink(join(ROOT, "node_modules"), join(project, "node_modules"), "dir");
  await run("npm", ["run", "build"], { cwd: project, timeout: 60_000 });
  // The app's own project, where "purgatory" is the built package.
  await mkdir(join(work, "app", "node_modules"), { recursive: true });
  await mkdir(join(work, "app", "src"));
  await symlink(project, join(work, "app", "node_modules", "purgatory"), "dir");
  await writeFile(join(work, "app", "src", "app.ts"), APP);
  await writeFile(join(work, "app", "src", "load.ts"), LOAD);
  server = await startRedisServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
  if (work !== "") await rm(work, { recursive: true, force: true });
});

/**
 * Runs a recipe's command (a shell line, as the doc prints it) in the app's project, for
 * `src/<entry>.ts`, with its output in the folder `<work>/<folder>`; returns the bundle's path.
 */
async function bundle(command: string, folder: string, entry: "app" | "load" = "app"): Promise<string> {
  const outfile = /--outfile=dist\/(\S+)/.exec(command)?.[1];
  expect(outfile, `an --outfile=dist/... in ${command}`).toBeDefined();
  const line = command
    .replace(/^npx esbuild /, `${ESBUILD} `)
    .replace(" src/app.ts ", ` src/${entry}.ts `)
    .replace("--outfile=dist/", `--outfile=${join(work, folder)}/`);
  await run("sh", ["-c", `${line} --log-level=warning`], { cwd: join(work, "app"), timeout: 60_000 });
  return join(work, folder, outfile!);
}

/** Installs ioredis (the project's) in `folder`'s node_modules, as a deployment would next to the bundle. */
async function installIoredisNextTo(bundlePath: string): Promise<void> {
  await mkdir(join(dirname(bundlePath), "node_modules"), { recursive: true });
  await symlink(join(ROOT, "node_modules", "ioredis"), join(dirname(bundlePath), "node_modules", "ioredis"), "dir");
}

/** Runs `node <bundle> <args>` in the bundle's folder; resolves with its lines once it exited 0. */
async function runBundle(bundlePath: string, args: readonly string[]): Promise<WorkerLine[]> {
  const process = spawnLines([bundlePath, ...args], { cwd: dirname(bundlePath) });
  expect(await process.exited, process.stderr()).toBe(0);
  return process.lines;
}

/** The recipe under the heading `title`. */
function recipe(title: string): Recipe {
  const found = recipes.find((r) => r.title === title);
  expect(found, `docs/bundling.md has a recipe under "## ${title}"`).toBeDefined();
  return found!;
}

const ONE_FILE_CJS = "CommonJS, one file";
const ONE_FILE_ESM = "ES module, one file";
const ESM_EXTERNAL = "ES module, ioredis left in `node_modules`";

describe("the esbuild recipes of docs/bundling.md", () => {
  it("are three: CommonJS in one file, ES module in one file, ES module with ioredis left out", () => {
    expect(recipes.map((r) => r.title)).toEqual([ONE_FILE_CJS, ONE_FILE_ESM, ESM_EXTERNAL]);
    expect(recipe(ONE_FILE_CJS).command).toContain("--format=cjs");
    expect(recipe(ONE_FILE_ESM).command).toContain("--format=esm");
    expect(recipe(ONE_FILE_ESM).command).toContain("createRequire(import.meta.url)");
    expect(recipe(ESM_EXTERNAL).command).toContain("--external:ioredis");
  });

  it.each([ONE_FILE_CJS, ONE_FILE_ESM, ESM_EXTERNAL])(
    "%s: two processes running the bundle share a circuit through Redis, with no storage error",
    async (title) => {
      const folder = `recipe-${recipes.findIndex((r) => r.title === title)}`;
      const app = await bundle(recipe(title).command, folder);
      if (title === ESM_EXTERNAL) {
        await installIoredisNextTo(app);
        expect(await readFile(app, "utf8")).toContain('import("ioredis")');
      } else {
        // One file, nothing next to it: no Lua scripts, no node_modules.
        expect(await readdir(join(work, folder))).toEqual([basename(app)]);
      }
      const prefix = uniquePrefix("test-bundle");
      const args = (role: string) => [app, server.url, prefix, "shared", role];

      const watcher = spawnLines(args("watch"), { cwd: join(work, folder) });
      await watcher.waitForLine((l) => l.type === "ready");
      const tripper = spawnLines(args("trip"), { cwd: join(work, folder) });
      expect(await tripper.exited, tripper.stderr()).toBe(0);
      expect(await watcher.exited, watcher.stderr()).toBe(0);

      const storageEvents = [...tripper.lines, ...watcher.lines].filter(
        (l) => l.type === "event" && String(l.eventType).startsWith("storage_"),
      );
      expect(storageEvents).toEqual([]);
      expect(tripper.lines.find((l) => l.type === "done")?.state).toBe("opened");
      expect(watcher.lines.find((l) => l.type === "done")?.state).toBe("opened");
      const client = inspector(server.url);
      try {
        expect(await client.hget(new RedisStorage({ prefix }).keys.circuit("shared"), "st")).toBe("opened");
      } finally {
        client.disconnect();
      }
    },
  );
});

describe("RedisStorage says what failed when ioredis cannot be loaded, its cause attached", () => {
  it("an ES module bundle without the banner: the dynamic require of a built-in module, not 'not installed'", async () => {
    const command = recipe(ONE_FILE_ESM).command.replace(/ --banner:js="[^"]*"/, "");
    expect(command).not.toContain("--banner");
    const load = await bundle(command, "esm-without-banner", "load");

    const [outcome] = await runBundle(load, [server.url]);

    expect(outcome?.type).toBe("failed");
    expect(outcome?.message).toMatch(
      /^RedisStorage could not load "ioredis": Dynamic require of "events" is not supported/,
    );
    expect(outcome?.cause).toBe('Dynamic require of "events" is not supported');
    expect(outcome?.message).toContain("--external:ioredis");
    expect(outcome?.message).not.toContain("npm install ioredis");
  });

  it.each([
    [ESM_EXTERNAL, ""],
    [ONE_FILE_CJS, " --external:ioredis"],
  ])(
    "ioredis left out of the bundle (%s%s), and neither client installed where it runs: says to install one",
    async (title, extra) => {
      const load = await bundle(recipe(title).command + extra, `not-installed-${extra === "" ? "esm" : "cjs"}`, "load");

      const [outcome] = await runBundle(load, [server.url]);

      // Neither client is installed there: node-redis, never bundled, is looked for at run time too.
      expect(outcome?.type).toBe("failed");
      expect(outcome?.message).toBe(
        'RedisStorage needs one of the optional peer dependencies "ioredis" or "redis": run `npm install ioredis` or `npm install redis`',
      );
      expect(outcome?.cause).toMatch(/^Cannot find (package|module) 'redis'/);
      expect(outcome?.causeCode).toMatch(/^(ERR_)?MODULE_NOT_FOUND$/);
    },
  );

  /** Bundles the load app with ioredis left out, and puts `files` in node_modules/ioredis next to it. */
  async function withIoredisMadeOf(folder: string, files: Record<string, string>): Promise<string> {
    const load = await bundle(recipe(ESM_EXTERNAL).command, folder, "load");
    const ioredis = join(work, folder, "node_modules", "ioredis");
    await mkdir(ioredis, { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(join(ioredis, name), text);
    return load;
  }

  it("ioredis found, but a dependency of its own missing: what is missing, not 'not installed'", async () => {
    const load = await withIoredisMadeOf("broken-install", {
      "package.json": JSON.stringify({ name: "ioredis", version: "5.4.0", main: "index.js" }),
      "index.js": 'module.exports = require("denque-not-installed");',
    });

    const [outcome] = await runBundle(load, [server.url]);

    expect(outcome?.type).toBe("failed");
    expect(outcome?.message).toMatch(
      /^RedisStorage could not load "ioredis": Cannot find module 'denque-not-installed'/,
    );
    expect(outcome?.message).not.toContain("npm install ioredis");
    expect(outcome?.cause).toMatch(/^Cannot find module 'denque-not-installed'/);
    expect(outcome?.causeCode).toBe("MODULE_NOT_FOUND");
  });

  it("a module named ioredis without a Redis class (not ioredis 5 or 6): says so", async () => {
    const load = await withIoredisMadeOf("not-ioredis", {
      "package.json": JSON.stringify({ name: "ioredis", version: "3.0.0", main: "index.js" }),
      "index.js": "module.exports = { version: '3.0.0' };",
    });

    const [outcome] = await runBundle(load, [server.url]);

    expect(outcome).toMatchObject({
      type: "failed",
      message:
        'RedisStorage could not use "ioredis": the module loaded has no Redis class (RedisStorage needs ioredis 5 or 6)',
    });
  });

  it("and the same bundle, with the real ioredis installed next to it, connects", async () => {
    const load = await bundle(recipe(ESM_EXTERNAL).command, "installed", "load");
    await installIoredisNextTo(load);

    expect(await runBundle(load, [server.url])).toEqual([{ type: "ready", available: true }]);
  });
});
