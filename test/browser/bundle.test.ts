/**
 * The in-memory library and `purgatory/fetch` in a browser: a small app that uses them is bundled
 * from the built package with esbuild for the browser (`--platform=browser --format=esm`, the
 * package installed as users get it, its `package.json` included), the bundle must import nothing
 * (no `node:` module, no Node built-in, no `ioredis` or `redis`), and headless Chromium runs it
 * from a local server: a circuit in memory opens and rejects, and `circuitFetch` opens the circuit
 * of a failing host and then rejects without sending. The package is built (`npm run build`) in a
 * temporary copy of the project, so that this test never races another one over `dist/`.
 */
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumMissing, launchChromium } from "../support/browser.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ESBUILD = join(ROOT, "node_modules", ".bin", "esbuild");
/** What the copy of the project leaves out: it needs the sources and the build set-up only. */
const NOT_COPIED = new Set([
  "node_modules",
  ".git",
  "dist",
  "test",
  "bench",
  "examples",
  "coverage",
  ".tmp",
  "docs",
  "etc",
]);

/**
 * The app: a circuit in memory (threshold 2) fails twice, then rejects; `circuitFetch` gets 503
 * twice from `/flaky` (threshold 2), then rejects without sending. It writes what it saw as JSON
 * into `window.result` (or the error into `window.failure`).
 */
const APP = `
import { AsyncCircuitBreakerFactory, InMemoryStorage, isCircuitOpenError } from "purgatory";
import { circuitFetch } from "purgatory/fetch";

async function main() {
  const factory = new AsyncCircuitBreakerFactory({ defaultThreshold: 2, defaultTtl: 60, storage: new InMemoryStorage() });
  await factory.initialize();
  const events = [];
  factory.addListener((name, type, event) => {
    if (name === "memory") events.push(type + (type === "state_changed" ? ":" + event.state : ""));
  });
  const fail = () => Promise.reject(new Error("down"));
  const outcomes = [];
  for (let i = 0; i < 3; i++) {
    try {
      await factory.run("memory", fail);
      outcomes.push("resolved");
    } catch (error) {
      outcomes.push(isCircuitOpenError(error) ? "rejected" : "failed");
    }
  }
  const fetchOutcomes = [];
  const guarded = circuitFetch(factory);
  for (let i = 0; i < 3; i++) {
    try {
      const res = await guarded(new URL("/flaky", location.href));
      fetchOutcomes.push(res.status);
    } catch (error) {
      fetchOutcomes.push(isCircuitOpenError(error) ? "rejected" : String(error));
    }
  }
  const host = location.host;
  const result = {
    outcomes,
    state: (await factory.getBreaker("memory")).state,
    events,
    fetchOutcomes,
    fetchState: (await factory.getBreaker(host)).state,
    process: typeof process,
  };
  await factory.close();
  return result;
}

main().then(
  (result) => { window.result = result; },
  (error) => { window.failure = String(error && error.stack || error); },
);
`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>purgatory in a browser</title><script type="module" src="/app.js"></script>`;

const run = promisify(execFile);

/** The built package, its app bundle, and what the bundle imports. */
let work: string;
let bundle: string;
let server: Server;
let origin: string;
/** Requests that reached `/flaky`. */
let flakyHits = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "purgatory-browser-"));
  const project = join(work, "project");
  await mkdir(project);
  for (const entry of await readdir(ROOT)) {
    if (!NOT_COPIED.has(entry)) await cp(join(ROOT, entry), join(project, entry), { recursive: true });
  }
  await symlink(join(ROOT, "node_modules"), join(project, "node_modules"), "dir");
  await run("npm", ["run", "build"], { cwd: project, timeout: 170_000 });

  // The app, with the package installed as npm would: its package.json and dist/ only.
  const app = join(work, "app");
  const installed = join(app, "node_modules", "purgatory");
  await mkdir(installed, { recursive: true });
  await cp(join(project, "package.json"), join(installed, "package.json"));
  await cp(join(project, "dist"), join(installed, "dist"), { recursive: true });
  // ioredis and redis are there, as in an app of a monorepo that has them: the bundle must still
  // leave them out (package.json "browser").
  await symlink(join(ROOT, "node_modules", "ioredis"), join(app, "node_modules", "ioredis"), "dir");
  await writeFile(join(app, "app.js"), APP);
  await run(
    ESBUILD,
    [
      "app.js",
      "--bundle",
      "--platform=browser",
      "--format=esm",
      "--target=es2022",
      "--outfile=out/app.js",
      "--log-level=warning",
    ],
    { cwd: app, timeout: 60_000 },
  );
  bundle = await readFile(join(app, "out", "app.js"), "utf8");

  server = createServer((req, res) => {
    if (req.url === "/") res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    else if (req.url === "/app.js") res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    else if (req.url === "/flaky") {
      flakyHits += 1;
      res.writeHead(503).end("unavailable");
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 240_000);

afterAll(async () => {
  if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe("the in-memory library and purgatory/fetch, bundled for a browser", () => {
  it("import no node: module, no Node built-in and no Redis client", () => {
    expect(bundle).not.toMatch(/["']node:/);
    // Fully bundled: no import or require of anything left for the browser to resolve.
    expect(bundle).not.toMatch(/^\s*import\s[^(]*from\s*["']/m);
    expect(bundle).not.toMatch(/\bimport\(\s*["']/);
    expect(bundle).not.toMatch(/\brequire\(\s*["']/);
    // ioredis was installed next to the app, and left out all the same.
    expect(bundle).not.toContain("ioredis/built");
  });

  it.skipIf(chromiumMissing !== null)(
    "run in headless Chromium: a circuit opens and rejects, circuitFetch too",
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (error) => errors.push(String(error)));
        await page.goto(`${origin}/`);
        await page.waitForFunction(() => "result" in window || "failure" in window, undefined, { timeout: 15_000 });
        const failure = await page.evaluate(() => (window as { failure?: string }).failure);
        expect(failure).toBeUndefined();
        expect(errors).toEqual([]);
        const result = await page.evaluate(() => (window as { result?: unknown }).result);
        expect(result).toEqual({
          outcomes: ["failed", "failed", "rejected"],
          state: "opened",
          events: ["circuit_breaker_created", "failed", "failed", "state_changed:opened"],
          fetchOutcomes: [503, 503, "rejected"],
          fetchState: "opened",
          process: "undefined",
        });
        // The third request was rejected by its circuit, never sent.
        expect(flakyHits).toBe(2);
      } finally {
        await browser.close();
      }
    },
  );
});
