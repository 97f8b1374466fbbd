#!/usr/bin/env node
/**
 * Checks the package as npm would publish it:
 *   1. builds it (`npm run build`: tsup, ESM + CJS + .d.ts/.d.cts, and the `purgatory` CLI),
 *   2. packs it with `npm pack` into a temporary directory and checks the tarball's contents
 *      (the entry files of ".", "./prometheus" and "./otel", nothing outside dist/README/LICENSE,
 *      zero runtime dependencies, every peer optional),
 *   3. lints it with publint (--strict) and "Are the Types Wrong?" (attw, strict profile),
 *   4. installs the tarball into a fresh project (without the optional peer ioredis) and checks
 *      that `import` and `require` of "purgatory" both work and resolve to the right files, and
 *      that TypeScript consumers (module node16, .mts and .cts) type-check against it, with
 *      skipLibCheck on and off (the published declarations must not need ioredis's types), and
 *      that the package's bin, `node_modules/.bin/purgatory`, runs (`--help`) and, without
 *      ioredis, says to install it; and the same for the subpath "purgatory/fetch"; and that
 *      "purgatory/undici" loads without undici (it needs only its types);
 *   5. the metrics subpaths: without their optional peers, "purgatory/prometheus" and
 *      "purgatory/otel" fail to load with an error naming the missing package; with prom-client
 *      and @opentelemetry/api installed, both load from import and require, feed a registry from
 *      a factory of either build, and type-check (the consumer files of step 4 include them);
 *   6. the Redis clients: with ioredis and redis (node-redis) installed in the same consumer (the
 *      versions this repository develops against), TypeScript consumers (.mts and .cts, strict,
 *      skipLibCheck off) pass an ioredis `Redis` and `Cluster` and a node-redis `createClient()`
 *      (RESP2 and RESP3) and `createCluster()` as `RedisStorage`'s `client`, and what is no
 *      client (`{}`, a URL, the `Redis` class, a `connect()` promise) does not type-check; then,
 *      if Redis answers at REDIS_URL (default redis://127.0.0.1:6379), a circuit opened over one
 *      library's client is seen opened over the other's (one circuit per prefix, whatever the
 *      client), and everything closes so that the process exits; without Redis, that run is
 *      skipped, saying why.
 *
 * Usage: node scripts/check-pack.mjs [--skip-build] [--keep]
 * Exits 1 on the first failed check, printing the failing tool's output.
 */
import { execFileSync, spawnSync } from "node:child_process";
import console from "node:console";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath, URL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const bin = (name) => join(root, "node_modules", ".bin", name);
const work = mkdtempSync(join(tmpdir(), "purgatory-pack-"));
let failed = false;

/** Installs `packages` into the project at `dir`, from npm's cache when it has them, running no script. */
function installInto(dir, packages) {
  run(
    "npm",
    ["install", ...packages, "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts", "--prefer-offline"],
    { cwd: dir },
  );
}

function run(file, argv, options = {}) {
  try {
    return execFileSync(file, argv, {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", npm_config_update_notifier: "false" },
      ...options,
    });
  } catch (error) {
    const how =
      error.status === null
        ? `killed by ${error.signal}${options.timeout ? ` after ${options.timeout / 1000} s` : ""}`
        : `exit ${error.status}`;
    console.error(`✗ ${file} ${argv.join(" ")} failed (${how})`);
    if (error.stdout) console.error(String(error.stdout));
    if (error.stderr) console.error(String(error.stderr));
    throw new CheckFailed();
  }
}

class CheckFailed extends Error {}

/** `null` when something accepts a TCP connection at `url`'s host and port within a second, else why not. */
function redisAnswers(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port || 6379), timeout: 1000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(null);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve("no connection within 1 s");
    });
    socket.once("error", (error) => resolve(error.code ?? error.message));
  });
}

function check(condition, message) {
  if (!condition) {
    console.error(`✗ ${message}`);
    throw new CheckFailed();
  }
  console.log(`✓ ${message}`);
}

try {
  // 1. Build.
  if (!args.has("--skip-build")) run("npm", ["run", "build"]);
  const entryFiles = ["index", "fetch", "undici", "prometheus", "otel"].flatMap((entry) =>
    ["js", "cjs", "d.ts", "d.cts"].map((ext) => `${entry}.${ext}`),
  );
  for (const file of [...entryFiles, "cli.js"]) {
    check(existsSync(join(root, "dist", file)), `build produced dist/${file}`);
  }

  // 2. Pack and inspect the tarball.
  const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work]));
  const { filename, files } = packed[0];
  const tarball = join(work, filename);
  const paths = files.map((f) => f.path).sort();
  console.log(`  packed ${filename}: ${paths.join(", ")}`);
  for (const file of [...entryFiles.map((f) => `dist/${f}`), "dist/cli.js", "README.md", "LICENSE"]) {
    check(paths.includes(file), `tarball contains ${file}`);
  }
  const stray = paths.filter((p) => !/^(dist\/|README\.md$|LICENSE$|package\.json$)/.test(p));
  check(
    stray.length === 0,
    `tarball holds only dist/, README.md, LICENSE, package.json${stray.length ? ` (found ${stray.join(", ")})` : ""}`,
  );

  const unpacked = join(work, "unpacked");
  mkdirSync(unpacked);
  run("tar", ["-xzf", tarball, "-C", unpacked]);
  const manifest = JSON.parse(readFileSync(join(unpacked, "package", "package.json"), "utf8"));
  const deps = Object.keys(manifest.dependencies ?? {});
  check(deps.length === 0, `zero runtime dependencies${deps.length ? ` (found ${deps.join(", ")})` : ""}`);
  const peers = Object.keys(manifest.peerDependencies ?? {}).sort();
  check(
    peers.join() === "@opentelemetry/api,ioredis,prom-client,redis,undici" &&
      peers.every((p) => manifest.peerDependenciesMeta?.[p]?.optional === true),
    `every peer (ioredis, redis, prom-client, @opentelemetry/api, undici) is optional (found ${peers.join(", ")})`,
  );

  // 3. publint and attw on the tarball itself.
  console.log(run(bin("publint"), ["run", tarball, "--strict"]).trim());
  check(true, "publint --strict: no errors, warnings or suggestions");
  // The default ("strict") profile also checks node10 resolution (the "main"/"types" fields),
  // so no rule needs to be ignored.
  console.log(run(bin("attw"), [tarball, "--format", "ascii", "--no-color"]).trim());
  check(true, "attw (strict profile): no problems");

  // 4. A consumer project that installs the tarball.
  const consumer = join(work, "consumer");
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, "package.json"),
    JSON.stringify({ name: "purgatory-consumer", version: "1.0.0", private: true }, null, 2),
  );
  run(
    "npm",
    ["install", tarball, "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts", "--prefer-offline"],
    { cwd: consumer },
  );
  const installed = JSON.parse(readFileSync(join(consumer, "node_modules", "purgatory", "package.json"), "utf8"));
  check(installed.version === manifest.version, `installed purgatory@${installed.version} from the tarball`);
  check(!existsSync(join(consumer, "node_modules", "ioredis")), "the optional peer ioredis was not installed");
  for (const peer of ["prom-client", "@opentelemetry/api", "undici"]) {
    check(!existsSync(join(consumer, "node_modules", peer)), `the optional peer ${peer} was not installed`);
  }

  const scenario = (load) => `
${load}
const assert = ASSERT;
const factory = new AsyncCircuitBreakerFactory({ defaultThreshold: 1, defaultTtl: 30 });
await factory.run("svc", () => 1);
await factory.run("svc", () => Promise.reject(new Error("boom"))).catch(() => {});
const error = await factory.run("svc", () => 2).catch((e) => e);
assert(error instanceof CircuitOpenError, "an opened circuit rejects with CircuitOpenError");
assert(error.circuitName === "svc" && error.retryAfterMs > 0, "CircuitOpenError carries its fields");
assert(new SyncCircuitBreakerFactory().run("s", () => 3) === 3, "the sync factory runs");
assert(typeof admit === "function" && CLOSED_SNAPSHOT.state === "closed", "the pure core is exported by purgatory/storage");
assert(typeof InMemoryStorage === "function" && typeof InvalidOptionError === "function", "classes exported");
await factory.close();
// ioredis is an optional peer that is not installed here: the package loads, and RedisStorage
// says what to install only when it is used.
const missing = await new RedisStorage("redis://127.0.0.1:6379").initialize().then(() => null, (e) => e);
assert(missing instanceof Error && missing.message.includes("npm install ioredis"), "RedisStorage without ioredis names the missing peer");
`;
  const names =
    "AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory, CircuitOpenError, InvalidOptionError, InMemoryStorage, RedisStorage";
  // The pure core, for storage authors, from its own entry point.
  const storageNames = "admit, CLOSED_SNAPSHOT";
  const assertFn = `(ok, what) => { if (!ok) throw new Error("check failed: " + what); }`;
  writeFileSync(
    join(consumer, "esm.mjs"),
    `${scenario(`import { ${names} } from "purgatory";\nimport { ${storageNames} } from "purgatory/storage";`).replace("ASSERT", assertFn)}
const url = import.meta.resolve("purgatory");
if (!url.endsWith("/purgatory/dist/index.js")) throw new Error("import resolved to " + url);
console.log("esm ok: " + url.slice(url.indexOf("node_modules")));
`,
  );
  writeFileSync(
    join(consumer, "cjs.cjs"),
    `(async () => {
${scenario(`const { ${names} } = require("purgatory");\nconst { ${storageNames} } = require("purgatory/storage");`).replace("ASSERT", assertFn)}
const file = require.resolve("purgatory");
if (!file.endsWith("/purgatory/dist/index.cjs")) throw new Error("require resolved to " + file);
console.log("cjs ok: " + file.slice(file.indexOf("node_modules")));
})().catch((error) => { console.error(error); process.exitCode = 1; });
`,
  );
  // The CLI, as npm links it: node_modules/.bin/purgatory.
  check(manifest.bin?.purgatory === "./dist/cli.js", 'package.json has "bin": { "purgatory": "./dist/cli.js" }');
  const binary = join(consumer, "node_modules", ".bin", "purgatory");
  check(
    readFileSync(binary, "utf8").startsWith("#!/usr/bin/env node\n"),
    "node_modules/.bin/purgatory starts with #!/usr/bin/env node",
  );
  const help = run(binary, ["--help"], { cwd: consumer });
  check(
    help.startsWith("Usage: purgatory <command>"),
    "node_modules/.bin/purgatory --help prints the usage (exit code 0)",
  );
  const withoutIoredis = spawnSync(binary, ["circuits", "--redis", "redis://127.0.0.1:1"], {
    cwd: consumer,
    encoding: "utf8",
  });
  check(
    withoutIoredis.status === 2 && withoutIoredis.stderr.includes("npm install ioredis"),
    `without ioredis, purgatory circuits says to install it, exit code 2 (got ${withoutIoredis.status}: ${withoutIoredis.stderr.trim()})`,
  );

  console.log(`  ${run(process.execPath, ["esm.mjs"], { cwd: consumer }).trim()}`);
  check(true, 'import { AsyncCircuitBreakerFactory } from "purgatory" works (ESM)');
  console.log(`  ${run(process.execPath, ["cjs.cjs"], { cwd: consumer }).trim()}`);
  check(true, 'require("purgatory") works (CommonJS)');

  // The dual package hazard: an application (or two of its dependencies) loads the ESM and the
  // CommonJS build in one process. Errors from either copy must pass instanceof of the other.
  writeFileSync(
    join(consumer, "dual.mjs"),
    `import { createRequire } from "node:module";
import * as esm from "purgatory";
const cjs = createRequire(import.meta.url)("purgatory");
const assert = ${assertFn};
assert(esm.CircuitOpenError !== cjs.CircuitOpenError, "two copies of the package are loaded");
async function openError(lib) {
  const factory = new lib.AsyncCircuitBreakerFactory({ defaultThreshold: 1 });
  await factory.run("svc", () => Promise.reject(new Error("down"))).catch(() => {});
  const error = await factory.run("svc", () => 1).catch((e) => e);
  await factory.close();
  return error;
}
const invalidError = (lib) => { try { new lib.AsyncCircuitBreakerFactory({ defaultTtl: 0 }); } catch (e) { return e; } };
for (const [from, to] of [[cjs, esm], [esm, cjs]]) {
  const open = await openError(from);
  assert(open instanceof to.CircuitOpenError && to.isCircuitOpenError(open), "CircuitOpenError is instanceof across copies");
  assert(!(open instanceof to.InvalidOptionError), "a CircuitOpenError is no InvalidOptionError");
  const invalid = invalidError(from);
  assert(invalid instanceof to.InvalidOptionError && to.isInvalidOptionError(invalid), "InvalidOptionError is instanceof across copies");
  const closed = new from.SyncCircuitBreakerFactory();
  await closed.close();
  const closedError = await closed.initialize().catch((e) => e);
  assert(closedError instanceof to.FactoryClosedError && to.isFactoryClosedError(closedError), "FactoryClosedError is instanceof across copies");
}
console.log("dual ok");
`,
  );
  console.log(`  ${run(process.execPath, ["dual.mjs"], { cwd: consumer }).trim()}`);
  check(true, "errors are instanceof across the ESM and CommonJS copies (dual package hazard)");

  // The subpath "purgatory/fetch", from import and require: it resolves to its own files, uses the
  // package's classes (dist/fetch.* load dist/index.*, no second copy), and trips on a local 503.
  const fetchScenario = (load, resolved, built) => `
${load}
const assert = ${assertFn};
const file = ${resolved};
assert(file.endsWith("/purgatory/dist/${built}"), "purgatory/fetch resolved to " + file);
let invalid;
try { circuitFetch(new AsyncCircuitBreakerFactory(), { retryAfter: 5 }); } catch (e) { invalid = e; }
assert(Object.getPrototypeOf(invalid) === InvalidOptionError.prototype && invalid.option === "retryAfter", "purgatory/fetch throws the package's own InvalidOptionError");
const server = createServer((req, res) => { res.writeHead(503, { "retry-after": "120" }); res.end(); });
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = "http://127.0.0.1:" + server.address().port + "/";
const factory = new AsyncCircuitBreakerFactory({ defaultThreshold: 1 });
const guarded = circuitFetch(factory);
assert((await guarded(url)).status === 503, "a 503 reaches the caller");
const open = await guarded(url).catch((e) => e);
assert(Object.getPrototypeOf(open) === CircuitOpenError.prototype && open.retryAfterMs > 60000, "then the host's circuit is opened for Retry-After");
await factory.close();
server.closeAllConnections();
server.close();
console.log("fetch ok: " + file.slice(file.indexOf("node_modules")));
`;
  const fetchNames = "AsyncCircuitBreakerFactory, CircuitOpenError, InvalidOptionError";
  writeFileSync(
    join(consumer, "fetch.mjs"),
    fetchScenario(
      `import { createServer } from "node:http";\nimport { fileURLToPath } from "node:url";\nimport { ${fetchNames} } from "purgatory";\nimport { circuitFetch } from "purgatory/fetch";`,
      `fileURLToPath(import.meta.resolve("purgatory/fetch"))`,
      "fetch.js",
    ),
  );
  writeFileSync(
    join(consumer, "fetch.cjs"),
    `(async () => {
${fetchScenario(
  `const { createServer } = require("node:http");\nconst { ${fetchNames} } = require("purgatory");\nconst { circuitFetch } = require("purgatory/fetch");`,
  `require.resolve("purgatory/fetch")`,
  "fetch.cjs",
)}
})().catch((error) => { console.error(error); process.exitCode = 1; });
`,
  );
  console.log(`  ${run(process.execPath, ["fetch.mjs"], { cwd: consumer }).trim()}`);
  check(true, 'import { circuitFetch } from "purgatory/fetch" works (ESM), with the package\'s own classes');
  console.log(`  ${run(process.execPath, ["fetch.cjs"], { cwd: consumer }).trim()}`);
  check(true, 'require("purgatory/fetch") works (CommonJS), with the package\'s own classes');
  // "purgatory/undici" needs nothing of undici at run time (its types only): without the peer, it
  // loads from import and require and validates with the package's own InvalidOptionError.
  for (const how of ["import", "require"]) {
    const load = how === "import" ? "(name) => import(name)" : "(name) => Promise.resolve(require(name))";
    const loaded = spawnSync(
      process.execPath,
      [
        "-e",
        `const load = ${load};
Promise.all([load("purgatory"), load("purgatory/undici")]).then(([p, u]) => {
  if (typeof u.circuitBreaker(new p.AsyncCircuitBreakerFactory()) !== "function") throw new Error("no interceptor");
  let invalid;
  try { u.circuitBreaker(new p.AsyncCircuitBreakerFactory(), { retryAfter: 5 }); } catch (e) { invalid = e; }
  if (Object.getPrototypeOf(invalid) !== p.InvalidOptionError.prototype) throw new Error("not the package's InvalidOptionError");
}).catch((e) => { console.error(e.message); process.exitCode = 3; });`,
      ],
      { cwd: consumer, encoding: "utf8" },
    );
    check(
      loaded.status === 0,
      `without undici, ${how} of "purgatory/undici" loads, with the package's own classes (got ${loaded.status}: ${loaded.stderr.trim().split("\n")[0]})`,
    );
  }
  const fetchTypes = `
import { AsyncCircuitBreakerFactory } from "purgatory";
import { circuitFetch, retryAfterSeconds, type CircuitFetchOptions } from "purgatory/fetch";
const options: CircuitFetchOptions = { threshold: 3, timeout: 5, isFailureStatus: (status) => status >= 500 };
export const guarded: typeof fetch = circuitFetch(new AsyncCircuitBreakerFactory(), options);
export const seconds: number | undefined = retryAfterSeconds("120");
`;
  writeFileSync(join(consumer, "fetch.mts"), fetchTypes);
  writeFileSync(join(consumer, "fetch.cts"), fetchTypes);

  // 5. The metrics subpaths. Without their peers, loading one names the missing package.
  for (const [subpath, peer] of [
    ["purgatory/prometheus", "prom-client"],
    ["purgatory/otel", "@opentelemetry/api"],
  ]) {
    for (const how of ["import", "require"]) {
      const load =
        how === "import"
          ? `import(${JSON.stringify(subpath)})`
          : `Promise.resolve().then(() => require(${JSON.stringify(subpath)}))`;
      const loaded = spawnSync(
        process.execPath,
        ["-e", `${load}.then(() => console.log("loaded"), (e) => { console.error(e.message); process.exitCode = 3; })`],
        { cwd: consumer, encoding: "utf8" },
      );
      check(
        loaded.status === 3 && loaded.stderr.includes(`'${peer}'`),
        `without ${peer}, ${how} of "${subpath}" fails naming it (got ${loaded.status}: ${loaded.stderr.trim().split("\n")[0]})`,
      );
    }
  }
  // With them (from npm's cache when it has them), both load and work, from either build.
  installInto(consumer, ["prom-client@^15", "@opentelemetry/api@^1.9"]);
  check(!existsSync(join(consumer, "node_modules", "ioredis")), "installing the metrics peers did not bring ioredis");
  const metricsScenario = (load, resolve) => `
${load}
const assert = ${assertFn};
const factory = new AsyncCircuitBreakerFactory({ defaultThreshold: 1 });
const registry = new Registry();
const stop = registerMetrics(factory, { registry });
const stopOtel = registerOtel(factory);
await factory.run("svc", () => 1);
await factory.run("svc", () => Promise.reject(new Error("down"))).catch(() => {});
const text = await registry.metrics();
assert(text.includes('purgatory_calls_total{circuit="svc",outcome="success",scope="fleet"} 1'), "calls are counted: " + text);
assert(text.includes('purgatory_circuit_state{circuit="svc",state="opened",scope="fleet"} 1'), "the state gauge follows the circuit");
assert(text.includes('purgatory_call_duration_seconds_count{circuit="svc",outcome="failure"} 1'), "calls are timed");
let twice;
try { registerMetrics(factory, { registry }); } catch (e) { twice = e; }
assert(twice instanceof InvalidOptionError && twice.option === "registry", "a second registration is an InvalidOptionError");
stop();
stopOtel();
assert(!(await registry.metrics()).includes("purgatory_"), "stop() takes the metrics out");
await factory.close();
for (const subpath of ["purgatory/prometheus", "purgatory/otel"]) {
  const file = ${resolve}(subpath);
  const ext = file.endsWith(".cjs") ? "cjs" : "js";
  if (!file.endsWith("/purgatory/dist/" + subpath.slice("purgatory/".length) + "." + ext)) throw new Error(subpath + " resolved to " + file);
}
`;
  writeFileSync(
    join(consumer, "metrics.mjs"),
    `${metricsScenario(
      `import { createRequire } from "node:module";
import { AsyncCircuitBreakerFactory, InvalidOptionError } from "purgatory";
import { registerMetrics } from "purgatory/prometheus";
import { registerMetrics as registerOtel } from "purgatory/otel";
import { Registry } from "prom-client";`,
      "import.meta.resolve",
    )}
// The CommonJS build of the integration takes a factory of the ESM build (and the other way).
const cjs = createRequire(import.meta.url);
const other = new (cjs("purgatory").AsyncCircuitBreakerFactory)();
const crossed = new Registry();
cjs("purgatory/prometheus").registerMetrics(new AsyncCircuitBreakerFactory(), { registry: crossed })();
registerMetrics(other, { registry: crossed })();
console.log("metrics esm ok");
`,
  );
  writeFileSync(
    join(consumer, "metrics.cjs"),
    `(async () => {
${metricsScenario(
  `const { AsyncCircuitBreakerFactory, InvalidOptionError } = require("purgatory");
const { registerMetrics } = require("purgatory/prometheus");
const { registerMetrics: registerOtel } = require("purgatory/otel");
const { Registry } = require("prom-client");`,
  "require.resolve",
)}
console.log("metrics cjs ok");
})().catch((error) => { console.error(error); process.exitCode = 1; });
`,
  );
  console.log(`  ${run(process.execPath, ["metrics.mjs"], { cwd: consumer }).trim()}`);
  check(true, 'import of "purgatory/prometheus" and "purgatory/otel" works (ESM), with a factory of either build');
  console.log(`  ${run(process.execPath, ["metrics.cjs"], { cwd: consumer }).trim()}`);
  check(true, 'require("purgatory/prometheus") and require("purgatory/otel") work (CommonJS)');

  // TypeScript consumers under node16 resolution, ESM (.mts) and CommonJS (.cts). @types/node
  // comes from this repository, as a Node consumer has it (it also declares Symbol.asyncDispose).
  const typesSource = `
import { AsyncCircuitBreakerFactory, CircuitOpenError, isCircuitOpenError, type CircuitHook, type FactoryOptions } from "purgatory";
const options: FactoryOptions = { defaultThreshold: 3, defaultTtl: 1.5 };
const factory = new AsyncCircuitBreakerFactory(options);
const hook: CircuitHook = (name, eventType, event) => {
  if (eventType === "state_changed") console.log(name, event.state, event.openedAt);
};
factory.addListener(hook);
export async function get(): Promise<number> {
  const breaker = await factory.getBreaker("svc", { threshold: 2 });
  const value: number = await breaker.run(async () => 1);
  return value;
}
export const isOpen = (error: unknown): boolean => error instanceof CircuitOpenError && error.retryAfterMs > 0;
export const retryAfter = (error: unknown): number | undefined => (isCircuitOpenError(error) ? error.retryAfterMs : undefined);
`;
  writeFileSync(join(consumer, "esm.mts"), typesSource);
  writeFileSync(join(consumer, "cjs.cts"), typesSource);
  const metricsTypes = `
import { AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory, type ListenerDisposer } from "purgatory";
import { registerMetrics, type PrometheusMetricsOptions } from "purgatory/prometheus";
import { registerMetrics as registerOtel, type OtelMetricsOptions } from "purgatory/otel";
import { Registry } from "prom-client";
import { metrics } from "@opentelemetry/api";
const options: PrometheusMetricsOptions = { registry: new Registry(), prefix: "app_", buckets: [0.1, 1] };
export const stop: ListenerDisposer = registerMetrics(new AsyncCircuitBreakerFactory(), options);
const otelOptions: OtelMetricsOptions = { meter: metrics.getMeter("app") };
registerOtel(new SyncCircuitBreakerFactory(), otelOptions)[Symbol.dispose]();
// @ts-expect-error: an unknown option
registerMetrics(new AsyncCircuitBreakerFactory(), { registery: new Registry() });
// @ts-expect-error: not a factory
registerOtel({ addListener() {} });
`;
  writeFileSync(join(consumer, "metrics-esm.mts"), metricsTypes);
  writeFileSync(join(consumer, "metrics-cjs.cts"), metricsTypes);
  // The README's Quick start, verbatim: it must compile under --strict as a user pastes it.
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const quickStart = /## Quick start\s+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  check(
    quickStart !== undefined && quickStart.includes("new AsyncCircuitBreakerFactory"),
    "found the README's Quick start",
  );
  writeFileSync(join(consumer, "quickstart.mts"), `${quickStart}\nexport {};\n`);
  // What must NOT compile: each line is an error a user should get from the compiler.
  writeFileSync(
    join(consumer, "mistakes.mts"),
    `import { AsyncCircuitBreakerFactory } from "purgatory";
class HTTPStatusError extends Error { constructor(readonly status: number) { super(); } }
class DatabaseError extends Error { constructor(readonly query: string) { super(); } }
const circuitbreaker = new AsyncCircuitBreakerFactory();
// @ts-expect-error: a predicate typed for another class than its entry's
new AsyncCircuitBreakerFactory({ exclude: [[HTTPStatusError, (err: DatabaseError) => err.query === ""]] });
// @ts-expect-error: the same, per call
await circuitbreaker.run("x", () => 1, { exclude: [[HTTPStatusError, (err: DatabaseError) => err.query === ""]] });
// @ts-expect-error: the inferred argument is an HTTPStatusError, which has no query
new AsyncCircuitBreakerFactory({ exclude: [[HTTPStatusError, (err) => err.query === ""]] });
// @ts-expect-error: isFailure gets what fn resolves to, a number
await circuitbreaker.run("x", async () => 1, { isFailure: (n) => n.length > 0 });
export class Parser {
  // @ts-expect-error: a synchronous method decorated by the async factory (its wrapper returns a promise)
  @circuitbreaker.decorate("parser")
  parse(text: string): unknown { return JSON.parse(text); }
}
`,
  );
  // Legacy decorators (experimentalDecorators, as NestJS uses them): the same rule.
  writeFileSync(
    join(consumer, "legacy.mts"),
    `import { AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory } from "purgatory";
const circuitbreaker = new AsyncCircuitBreakerFactory();
const sync = new SyncCircuitBreakerFactory();
export class Client {
  @circuitbreaker.decorate("api")
  async get(path: string): Promise<string> { return path; }
  @sync.decorate("parser")
  parse(text: string): unknown { return JSON.parse(text); }
  // @ts-expect-error: a synchronous method decorated by the async factory
  @circuitbreaker.decorate("parser")
  parseLater(text: string): unknown { return JSON.parse(text); }
}
`,
  );
  const tsconfig = (skipLibCheck) =>
    JSON.stringify({
      compilerOptions: {
        module: "node16",
        moduleResolution: "node16",
        target: "ES2022",
        strict: true,
        noEmit: true,
        skipLibCheck,
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
      },
      files: [
        "esm.mts",
        "cjs.cts",
        "quickstart.mts",
        "mistakes.mts",
        "metrics-esm.mts",
        "metrics-cjs.cts",
        "fetch.mts",
        "fetch.cts",
      ],
    });
  writeFileSync(join(consumer, "tsconfig.json"), tsconfig(true));
  run(bin("tsc"), ["-p", join(consumer, "tsconfig.json")], { cwd: consumer });
  check(true, "TypeScript (module node16, .mts and .cts) type-checks a consumer, the metrics subpaths included");
  check(
    true,
    'TypeScript consumers of "purgatory/fetch" type-check: circuitFetch takes the factory of "purgatory" and stands in for fetch',
  );
  check(true, "the README's Quick start compiles under tsc --strict, and wrong predicate types do not");
  writeFileSync(join(consumer, "tsconfig.strict.json"), tsconfig(false));
  run(bin("tsc"), ["-p", join(consumer, "tsconfig.strict.json")], { cwd: consumer });
  check(true, "the declarations type-check too (skipLibCheck off), without ioredis installed, with the metrics peers");
  const legacy = JSON.parse(tsconfig(false));
  legacy.compilerOptions = { ...legacy.compilerOptions, experimentalDecorators: true, emitDecoratorMetadata: true };
  legacy.files = ["legacy.mts"];
  writeFileSync(join(consumer, "tsconfig.legacy.json"), JSON.stringify(legacy));
  run(bin("tsc"), ["-p", join(consumer, "tsconfig.legacy.json")], { cwd: consumer });
  check(
    true,
    "legacy decorators (experimentalDecorators) type-check, and the async factory refuses a synchronous method",
  );

  // 6. The Redis clients a user passes as `client`, from both libraries, in the same consumer (one
  // install for both, at the ranges this repository develops against).
  const devDependencies = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).devDependencies;
  installInto(consumer, [`ioredis@${devDependencies.ioredis}`, `redis@${devDependencies.redis}`]);
  const versionOf = (name) => {
    const file = join(consumer, "node_modules", name, "package.json");
    return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")).version : undefined;
  };
  const [ioredisVersion, redisVersion] = [versionOf("ioredis"), versionOf("redis")];
  check(
    ioredisVersion !== undefined && redisVersion !== undefined && versionOf("purgatory") === manifest.version,
    `installed ioredis@${ioredisVersion} and redis@${redisVersion} (${devDependencies.ioredis}, ${devDependencies.redis}) next to purgatory@${manifest.version}`,
  );
  // Each client on a statement of its own: a union of the libraries' client types (an array of
  // them) takes the compiler many times longer.
  const clientsTypes = `
import { Cluster, Redis } from "ioredis";
import { createClient, createCluster, type RedisClientType } from "redis";
import { AsyncCircuitBreakerFactory, RedisStorage, type RedisStorageOptions } from "purgatory";
const ioredis = new Redis("redis://127.0.0.1:6379", { lazyConnect: true });
export const overIoredis = new AsyncCircuitBreakerFactory({ storage: new RedisStorage({ client: ioredis, prefix: "app" }) });
const ioCluster = new Cluster([{ host: "127.0.0.1", port: 7000 }], { lazyConnect: true });
export const overIoCluster = new AsyncCircuitBreakerFactory({ storage: new RedisStorage({ client: ioCluster }) });
const client = createClient({ url: "redis://127.0.0.1:6379" });
client.on("error", (error: unknown) => console.error(error));
export const overNodeRedis = new AsyncCircuitBreakerFactory({ storage: new RedisStorage({ client }) });
const resp3 = createClient({ url: "redis://127.0.0.1:6379", RESP: 3 });
export const overResp3 = new AsyncCircuitBreakerFactory({ storage: new RedisStorage({ client: resp3 }) });
const annotated: RedisClientType = createClient();
const options: RedisStorageOptions = { client: annotated, commandTimeout: 0.5 };
export const overAnnotated = new AsyncCircuitBreakerFactory({ storage: new RedisStorage(options) });
const cluster = createCluster({ rootNodes: [{ url: "redis://127.0.0.1:7000" }] });
export const overNodeCluster = new AsyncCircuitBreakerFactory({ storage: new RedisStorage({ client: cluster }) });
// @ts-expect-error: a plain object is no client
new RedisStorage({ client: {} });
// @ts-expect-error: a URL goes in url, not in client
new RedisStorage({ client: "redis://127.0.0.1:6379" });
// @ts-expect-error: the class, not a client made with it
new RedisStorage({ client: Redis });
// @ts-expect-error: the promise connect() returns, not the client
new RedisStorage({ client: createClient().connect() });
`;
  writeFileSync(join(consumer, "clients.mts"), clientsTypes);
  writeFileSync(join(consumer, "clients.cts"), clientsTypes);
  const clientsConfig = JSON.parse(tsconfig(false));
  clientsConfig.files = ["clients.mts", "clients.cts"];
  writeFileSync(join(consumer, "tsconfig.clients.json"), JSON.stringify(clientsConfig));
  run(bin("tsc"), ["-p", join(consumer, "tsconfig.clients.json")], { cwd: consumer });
  check(
    true,
    "TypeScript (.mts and .cts, strict, skipLibCheck off) takes an ioredis Redis and Cluster and a node-redis createClient() (RESP2, RESP3, RedisClientType) and createCluster() as RedisStorage's client, in a factory's storage",
  );
  check(true, "and refuses as client a plain object, a URL string, the Redis class and the promise of connect()");

  // With a Redis: one circuit, whichever library's client each storage was given.
  const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
  const unreachable = await redisAnswers(redisUrl);
  if (unreachable === null) {
    writeFileSync(
      join(consumer, "redis-clients.mjs"),
      `import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { AsyncCircuitBreakerFactory, CircuitOpenError, RedisStorage } from "purgatory";
const assert = ${assertFn};
const url = process.env.REDIS_URL;
const prefix = "purgatory-pack-" + randomUUID();
// Clients as a user makes them, not connected yet: each storage connects the one it is given.
const ioredis = new Redis(url, { lazyConnect: true });
const nodeRedis = createClient({ url });
const resp3 = createClient({ url, RESP: 3 });
for (const client of [nodeRedis, resp3]) client.on("error", (error) => console.error(error));
const storages = {
  ioredis: new RedisStorage({ client: ioredis, prefix }),
  "node-redis": new RedisStorage({ client: nodeRedis, prefix }),
  "node-redis (RESP3)": new RedisStorage({ client: resp3, prefix }),
};
const factories = {};
const pairs = [["ioredis", "node-redis"], ["node-redis", "ioredis"], ["node-redis (RESP3)", "ioredis"], ["ioredis", "node-redis (RESP3)"]];
try {
  for (const [library, storage] of Object.entries(storages)) {
    factories[library] = new AsyncCircuitBreakerFactory({ defaultThreshold: 1, defaultTtl: 30, storage });
    await factories[library].initialize();
    assert(storage.available, "the storage over " + library + " reaches Redis");
  }
  for (const [from, to] of pairs) {
    const circuit = "opened-by-" + from + "-for-" + to;
    const failure = await factories[from].run(circuit, () => Promise.reject(new Error("down"))).catch((e) => e);
    assert(failure instanceof Error && failure.message === "down", "over " + from + ", the failure reaches the caller");
    const open = await factories[to].run(circuit, () => "ran").catch((e) => e);
    assert(open instanceof CircuitOpenError && open.circuitName === circuit, "over " + to + ", the circuit opened over " + from + " is opened (got " + open + ")");
  }
} finally {
  // Also after a failed check: the keys go, and nothing is left open.
  for (const factory of Object.values(factories)) await factory.close();
  const deleteKeys = async () => {
    let cursor = "0";
    do {
      const [next, keys] = await ioredis.scan(cursor, "MATCH", prefix + "*", "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await ioredis.del(...keys);
    } while (cursor !== "0");
  };
  await deleteKeys().catch((error) => console.error("could not delete the keys under " + prefix + ": " + error.message));
  // The storages leave the clients they were given open: their owner closes them, and then
  // nothing keeps the process alive.
  await ioredis.quit();
  await nodeRedis.close();
  await resp3.close();
}
console.log("redis clients ok: " + pairs.map(([from, to]) => from + " -> " + to).join(", "));
`,
    );
    const output = run(process.execPath, ["redis-clients.mjs"], {
      cwd: consumer,
      env: { ...process.env, REDIS_URL: redisUrl },
      timeout: 30_000,
    });
    console.log(`  ${output.trim()}`);
    check(
      true,
      `over the Redis at ${redisUrl}, a circuit opened over an ioredis client is opened over a node-redis client (RESP2 and RESP3), and the other way; all closed, the process exits`,
    );
  } else {
    console.log(
      `- skipped running ioredis and node-redis clients against Redis: nothing answers at ${redisUrl} (${unreachable})`,
    );
  }

  console.log(`\npackage ${manifest.name}@${manifest.version}: all checks passed`);
} catch (error) {
  failed = true;
  if (!(error instanceof CheckFailed)) console.error(error);
} finally {
  if (args.has("--keep") || failed) console.log(`(work directory kept: ${work})`);
  else rmSync(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
