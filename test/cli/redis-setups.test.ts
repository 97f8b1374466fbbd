/**
 * The `purgatory` CLI and its dashboard (the built executable, in child processes) against the
 * production set-ups of docs/redis-setups.md, on throw-away servers: a Redis user restricted to
 * the documented ACL rule (and the documented read-only rule for operators), and a TLS-only
 * server whose certificate a private CA (made with openssl) signed, trusted through
 * NODE_EXTRA_CA_CERTS. A factory of this test process holds the circuits as an application
 * would, and hears what the CLI changes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type CircuitInfo } from "../../src/index.js";
import { buildCli, runCli, type BuiltCli, type CliOutcome } from "../support/cli.js";
import { aclDenials, documentedAclRule } from "../support/redis-acl.js";
import { HookRecorder, uniquePrefix, waitFor } from "../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { startTlsRedisServer, type TlsRedisServer } from "../support/redis-tls.js";

const PASSWORD = "cli-acl-Secret";
const prefix = uniquePrefix("setups");

let cli: BuiltCli;
let plain: RedisServer;
let secure: TlsRedisServer;
let admin: Redis;
const factories: AsyncCircuitBreakerFactory[] = [];
const children = new Set<ChildProcess>();

beforeAll(async () => {
  // All settled and each kept, so that afterAll stops what started even if another failed.
  const started = await Promise.allSettled([
    buildCli().then((built) => (cli = built)),
    startRedisServer().then((server) => (plain = server)),
    startTlsRedisServer().then((server) => (secure = server)),
  ]);
  for (const outcome of started) if (outcome.status === "rejected") throw outcome.reason;
  admin = new Redis(plain.url, { maxRetriesPerRequest: 1 });
  const options = { prefix, password: PASSWORD };
  await admin.call("ACL", "SETUSER", "purgatory", "reset", ...documentedAclRule("setuser", options));
  await admin.call("ACL", "SETUSER", "purgatory-viewer", "reset", ...documentedAclRule("viewer", options));
}, 60_000);

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(factories.map((f) => f.close()));
  admin?.disconnect();
  await plain?.stop();
  await secure?.stop();
  await cli?.remove();
});

/** A factory holding `payments` (tripped) and `search`, as an application would. */
async function application(
  storage: RedisStorage,
): Promise<{ factory: AsyncCircuitBreakerFactory; hooks: HookRecorder }> {
  const hooks = new HookRecorder();
  const factory = new AsyncCircuitBreakerFactory({
    storage,
    defaultThreshold: 2,
    defaultTtl: 60,
    listeners: [hooks.hook],
  });
  factories.push(factory);
  await factory.initialize();
  const payments = await factory.getBreaker("payments");
  for (let i = 0; i < 2; i++) await payments.run(() => Promise.reject(new Error("down"))).catch(() => undefined);
  await factory.getBreaker("search", { quorum: 2 });
  return { factory, hooks };
}

/** `purgatory <args> --redis <url> --prefix <prefix> --json`, parsed. */
async function json<T>(url: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const outcome = await runCli(cli.path, [...args, "--redis", url, "--prefix", prefix, "--json"], { env });
  if (outcome.code !== 0) throw new Error(`purgatory ${args.join(" ")} exited ${outcome.code}: ${outcome.stderr}`);
  return JSON.parse(outcome.stdout) as T;
}

const purgatory = (url: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliOutcome> =>
  runCli(cli.path, [...args, "--redis", url, "--prefix", prefix], { env });

const states = (circuits: readonly CircuitInfo[]): Record<string, string> =>
  Object.fromEntries(circuits.map((c) => [c.name, c.state]));

describe("as a Redis user restricted to the documented ACL rule", () => {
  let url: string;
  let app: { factory: AsyncCircuitBreakerFactory; hooks: HookRecorder };

  beforeAll(async () => {
    url = `redis://purgatory:${PASSWORD}@127.0.0.1:${plain.port}`;
    app = await application(new RedisStorage({ url, prefix, commandTimeout: 2 }));
  });

  it("lists and isolates, and the application hears it; nothing is denied", async () => {
    await admin.call("ACL", "LOG", "RESET");
    expect(states(await json<CircuitInfo[]>(url, ["circuits"]))).toEqual({ payments: "opened", search: "closed" });
    const outcome = await purgatory(url, ["isolate", "search"]);
    expect(outcome.stderr).toBe("");
    expect(outcome.code).toBe(0);
    await waitFor("the application hears the isolation", () =>
      app.hooks.states("search").includes("isolated (remote)"),
    );
    await purgatory(url, ["reset", "search"]);
    await waitFor("and the reset", () => app.hooks.states("search").includes("closed (remote)"));
    expect(await aclDenials(admin)).toEqual([]);
  });

  it("with the documented read-only rule, lists and shows, and may not isolate", async () => {
    const viewer = `redis://purgatory-viewer:${PASSWORD}@127.0.0.1:${plain.port}`;
    expect(states(await json<CircuitInfo[]>(viewer, ["circuits"]))).toEqual({ payments: "opened", search: "closed" });
    expect((await json<CircuitInfo>(viewer, ["show", "search"])).quorum?.activeCallers).toEqual([]);
    const refused = await purgatory(viewer, ["isolate", "payments"]);
    expect(refused.code).not.toBe(0);
    expect(states(await json<CircuitInfo[]>(url, ["circuits"]))).toEqual({ payments: "opened", search: "closed" });
  });

  it("with the documented read-only rule, the dashboard shows the circuits and follows a trip", async () => {
    const viewer = `redis://purgatory-viewer:${PASSWORD}@127.0.0.1:${plain.port}`;
    await admin.call("ACL", "LOG", "RESET");
    const dashboard = await startDashboard(viewer, {}, []);
    try {
      const shown = (snapshot: Snapshot) => states(snapshot.circuits.map((c) => c.info));
      const first = await dashboardRead(dashboard, (s) => s.circuits.length > 0);
      expect(shown(first)).toEqual({ payments: "opened", search: "closed" });
      const search = await app.factory.getBreaker("search");
      await search.isolate();
      await dashboardRead(dashboard, (s) => shown(s).search === "isolated");
      await search.reset();
      await dashboardRead(dashboard, (s) => shown(s).search === "closed");
    } finally {
      await stopDashboard();
    }
    // Only the scripts it tries to load ahead of use (harmless) may be refused.
    const refused = (await aclDenials(admin)).filter((d) => d.username === "purgatory-viewer");
    expect(refused.filter((d) => d.object !== "script|load")).toEqual([]);
  });

  it("a refused isolate says why (NOPERM), not that Redis is unavailable", async () => {
    const viewer = `redis://purgatory-viewer:${PASSWORD}@127.0.0.1:${plain.port}`;
    const refused = await purgatory(viewer, ["isolate", "payments"]);
    expect(refused.stderr).toMatch(/NOPERM/);
  });
});

describe("over TLS (rediss://) with a private certificate authority", () => {
  let url: string;
  let trusted: NodeJS.ProcessEnv;
  let app: { factory: AsyncCircuitBreakerFactory; hooks: HookRecorder };

  beforeAll(async () => {
    url = secure.server.url;
    trusted = { NODE_EXTRA_CA_CERTS: secure.certs.caFile };
    app = await application(
      new RedisStorage({ url, prefix, commandTimeout: 2, redisOptions: { tls: { ca: secure.certs.ca } } }),
    );
  });

  it("the CLI lists and isolates, trusting the CA through NODE_EXTRA_CA_CERTS", async () => {
    expect(url).toMatch(/^rediss:\/\//);
    expect(states(await json<CircuitInfo[]>(url, ["circuits"], trusted))).toEqual({
      payments: "opened",
      search: "closed",
    });
    const outcome = await purgatory(url, ["isolate", "search"], trusted);
    expect(outcome.stderr).toBe("");
    expect(outcome.code).toBe(0);
    await waitFor("the application hears the isolation", () =>
      app.hooks.states("search").includes("isolated (remote)"),
    );
    expect((await purgatory(url, ["reset", "search"], trusted)).code).toBe(0);
    await waitFor("and the reset", () => app.hooks.states("search").includes("closed (remote)"));
  });

  it("the dashboard shows the circuits and its buttons work", async () => {
    const dashboard = await startDashboard(url, trusted);
    try {
      type Snapshot = { redis: { available: boolean }; circuits: { info: CircuitInfo }[] };
      // Its first read of Redis may not have come back yet.
      const body = await waitFor(
        "the dashboard's first read",
        async () => {
          const snapshot = (await (await fetch(`${dashboard}api/circuits`)).json()) as Snapshot;
          return snapshot.circuits.length > 0 ? snapshot : undefined;
        },
        10_000,
        100,
      );
      expect(body.redis.available).toBe(true);
      expect(states(body.circuits.map((c) => c.info))).toEqual({ payments: "opened", search: "closed" });
      const response = await fetch(`${dashboard}api/circuits/search/isolate`, {
        method: "POST",
        headers: { "x-purgatory-control": "1" },
      });
      expect(response.status).toBe(200);
      await waitFor("the application hears the dashboard's isolation", () =>
        app.hooks.states("search").includes("isolated (remote)"),
      );
    } finally {
      await stopDashboard();
    }
    await app.factory.getBreaker("search").then((b) => b.reset());
  });

  it("without the CA, the CLI refuses the server (exit code 2) and lists nothing", async () => {
    const outcome = await purgatory(url, ["circuits"]);
    expect(outcome.code).toBe(2);
    expect(outcome.stdout).toBe("");
  });

  it("without the CA, the CLI says the certificate is the trouble", async () => {
    const outcome = await purgatory(url, ["circuits"]);
    expect(outcome.stderr).toMatch(/certificate/i);
    expect(outcome.stderr).toMatch(/NODE_EXTRA_CA_CERTS/);
  });
});

let running: ChildProcess | undefined;

/** What the dashboard's `GET /api/circuits` answers (the parts read here). */
interface Snapshot {
  readonly redis: { readonly available: boolean };
  readonly circuits: readonly { readonly info: CircuitInfo }[];
}

/** Polls the dashboard's `/api/circuits` until `done` holds (10 s at most); resolves with that answer. */
function dashboardRead(dashboard: string, done: (snapshot: Snapshot) => boolean): Promise<Snapshot> {
  return waitFor(
    "the dashboard's answer",
    async () => {
      const snapshot = (await (await fetch(`${dashboard}api/circuits`)).json()) as Snapshot;
      return done(snapshot) ? snapshot : undefined;
    },
    10_000,
    100,
  );
}

/** Starts `purgatory dashboard` with `flags` (default `--allow-control`) on a free port; resolves with its URL (ending in /). */
function startDashboard(url: string, env: NodeJS.ProcessEnv, flags: string[] = ["--allow-control"]): Promise<string> {
  const child = spawn(
    process.execPath,
    [cli.path, "dashboard", "--redis", url, "--prefix", prefix, "--port", "0", ...flags],
    { env: { ...process.env, NODE_OPTIONS: "", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  children.add(child);
  running = child;
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the dashboard did not start: ${stderr}`)), 15_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const found = /purgatory dashboard: (http:\/\/\S+)/.exec(stdout)?.[1];
      if (found === undefined) return;
      clearTimeout(timer);
      resolve(found.endsWith("/") ? found : `${found}/`);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the dashboard exited with ${code}: ${stderr}`));
    });
  });
}

/** Stops the dashboard (SIGTERM, then SIGKILL after 5 s) and waits for its exit. */
async function stopDashboard(): Promise<void> {
  const child = running;
  running = undefined;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}
