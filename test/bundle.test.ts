/**
 * An app bundled into one file, as for AWS Lambda (issue 6, finding 8): esbuild bundles a small
 * app, the built package and ioredis into a single .cjs or .mjs in a folder of its own, with no
 * `scripts/*.lua` (or anything else) next to it. Two processes running that bundle must share a
 * circuit through Redis. The package is built (`npm run build`) in a temporary copy of the
 * project, so that this test never races another one over `dist/`.
 */
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStorage } from "../src/index.js";
import { spawnLines } from "./support/redis-fleet.js";
import { inspector, uniquePrefix } from "./support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "./support/redis-server.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** What the copy of the project leaves out: it needs the sources and the build set-up only. */
const NOT_COPIED = new Set(["node_modules", ".git", "dist", "test", "bench", "examples", "coverage", ".tmp", "docs"]);

/**
 * The app: `node app <url> <prefix> <circuit> trip|watch`. "trip" fails twice (threshold 2);
 * "watch" says it is ready and waits (at most 5 s) for the circuit to open. Both print every hook
 * call and, at the end, the state they saw, as JSON lines.
 */
const APP = `
import { AsyncCircuitBreakerFactory, RedisStorage } from "purgatory";

const [url, prefix, name, role] = process.argv.slice(2);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\\n");
async function main() {
  const factory = new AsyncCircuitBreakerFactory({
    defaultThreshold: 2,
    defaultTtl: 30,
    storage: new RedisStorage({ url, prefix, commandTimeout: 1 }),
    listeners: [(circuit, eventType, event) => print({ type: "event", circuit, eventType, error: String(event.error ?? "") })],
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

const run = promisify(execFile);
let work = "";
let server: RedisServer;
let project = "";

beforeAll(async () => {
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
  await symlink(project, join(work, "app", "node_modules", "purgatory"), "dir");
  server = await startRedisServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
  if (work !== "") await rm(work, { recursive: true, force: true });
});

/** Bundles the app into `<work>/<format>/app.<ext>`, alone in its folder. */
async function bundle(format: "cjs" | "esm"): Promise<string> {
  const outfile = join(work, format, format === "cjs" ? "app.cjs" : "app.mjs");
  await build({
    stdin: { contents: APP, resolveDir: join(work, "app"), sourcefile: "app.mjs", loader: "js" },
    bundle: true,
    platform: "node",
    target: "node20",
    format,
    outfile,
    logLevel: "silent",
    // ioredis is CommonJS: an ESM bundle needs a require for Node's built-in modules.
    ...(format === "esm"
      ? {
          banner: {
            js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);',
          },
        }
      : {}),
  });
  return outfile;
}

describe("an app bundled into one file (esbuild), without the package's other files", () => {
  it.each(["cjs", "esm"] as const)(
    "shares a circuit through Redis between two processes, with no storage error (%s)",
    async (format) => {
      const app = await bundle(format);
      expect(await readdir(join(work, format))).toEqual([basename(app)]);
      const prefix = uniquePrefix("test-bundle");
      const args = (role: string) => [app, server.url, prefix, "shared", role];

      const watcher = spawnLines(args("watch"), { cwd: join(work, format) });
      await watcher.waitForLine((l) => l.type === "ready");
      const tripper = spawnLines(args("trip"), { cwd: join(work, format) });
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
