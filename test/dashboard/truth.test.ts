/**
 * Truth after data loss, with real processes: two processes of a fleet (test/support/redis-worker.ts,
 * `resyncInterval` 1 s) hold circuits; Redis loses everything (`FLUSHALL`, then a restart without
 * persistence). `purgatory circuits` and the dashboard (the built executable, in child processes)
 * must list every held circuit again within one resync interval (its jitter included) plus a
 * margin for the processes to start and the dashboard to look at the registry; the test fails
 * otherwise.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CircuitInfo } from "../../src/index.js";
import { buildCli, runCli, type BuiltCli } from "../support/cli.js";
import { spawnLines, startWorker, type LineProcess, type Worker } from "../support/redis-fleet.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { waitFor } from "../support/redis-helpers.js";

const prefix = "truth";
/** The workers' resyncInterval, seconds. */
const RESYNC_INTERVAL = 1;
/**
 * The wait allowed: one interval with its +50 % jitter, plus the margin for a `purgatory circuits`
 * process to start (~0.3 s), the dashboard's look at the registry (every second), a reconnection.
 */
const BOUND_MS = RESYNC_INTERVAL * 1500 + 2500;

const NAMES = {
  a: Array.from({ length: 30 }, (_, i) => `svc-a-${i}`),
  b: [...Array.from({ length: 20 }, (_, i) => `svc-b-${i}`), "svc-a-0", "shared"],
};
const HELD = [...new Set([...NAMES.a, ...NAMES.b])].sort();

let cli: BuiltCli;
let server: RedisServer;
let admin: Redis;
let workers: Worker[] = [];
let dashboard: LineProcess;
let dashboardUrl: string;

/** The names `purgatory circuits --json` lists now. */
async function listedByCli(): Promise<string[]> {
  const { code, stdout } = await runCli(cli.path, ["circuits", "--json", "--redis", server.url, "--prefix", prefix]);
  if (code !== 0) return [];
  return (JSON.parse(stdout) as CircuitInfo[]).map((c) => c.name).sort();
}

/** The names the dashboard lists now. */
async function listedByDashboard(): Promise<string[]> {
  try {
    const body = (await (await fetch(`${dashboardUrl}api/circuits`)).json()) as { circuits: { info: CircuitInfo }[] };
    return body.circuits.map((c) => c.info.name).sort();
  } catch {
    return [];
  }
}

/** Resolves with the ms it took until `listed()` gives every held name; fails past `BOUND_MS`. */
async function everyHeldListed(what: string, listed: () => Promise<string[]>, since: number): Promise<number> {
  let last: string[] = [];
  for (;;) {
    last = await listed();
    if (last.join() === HELD.join()) return Date.now() - since;
    if (Date.now() - since > BOUND_MS) {
      const missing = HELD.filter((name) => !last.includes(name));
      throw new Error(
        `${what}: ${missing.length} held circuits still missing after ${BOUND_MS} ms: ${missing.slice(0, 5).join(", ")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  [cli, server] = await Promise.all([buildCli(), startRedisServer()]);
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  admin.on("error", () => undefined);
  workers = await Promise.all(
    [NAMES.a, NAMES.b].map(async (names) => {
      const worker = await startWorker({ url: server.url, prefix, resyncInterval: RESYNC_INTERVAL });
      await worker.send({ op: "registerMany", names });
      return worker;
    }),
  );
  dashboard = spawnLines([cli.path, "dashboard", "--redis", server.url, "--prefix", prefix, "--port", "0"]);
  const line = await dashboard.waitForLine((l) => String(l.text).startsWith("purgatory dashboard: http"), 15_000);
  dashboardUrl = /(http:\/\/\S+)/.exec(String(line.text))?.[1] ?? "";
}, 60_000);

afterAll(async () => {
  dashboard?.child.kill("SIGKILL");
  for (const worker of workers) worker.kill();
  admin?.disconnect();
  await server?.stop();
  await cli?.remove();
});

describe("every circuit a live process holds is listed again after Redis lost its data", () => {
  it("before: the CLI and the dashboard list every held circuit", async () => {
    expect(await listedByCli()).toEqual(HELD);
    await everyHeldListed("the dashboard", listedByDashboard, Date.now());
  });

  it("after FLUSHALL: within one resync interval", async () => {
    await admin.flushall();
    const since = Date.now();
    // Right after: Redis holds nothing, no name, no circuit.
    expect(await admin.dbsize()).toBeLessThan(HELD.length);
    const [cliMs, dashboardMs] = await Promise.all([
      everyHeldListed("purgatory circuits", listedByCli, since),
      everyHeldListed("the dashboard", listedByDashboard, since),
    ]);
    expect(Math.max(cliMs, dashboardMs)).toBeLessThanOrEqual(BOUND_MS);
  }, 30_000);

  it("after a restart without persistence: within one resync interval of Redis answering again", async () => {
    await server.restart();
    const since = Date.now();
    const [cliMs, dashboardMs] = await Promise.all([
      everyHeldListed("purgatory circuits", listedByCli, since),
      everyHeldListed("the dashboard", listedByDashboard, since),
    ]);
    expect(Math.max(cliMs, dashboardMs)).toBeLessThanOrEqual(BOUND_MS);
    // The dashboard says Redis answers (at its next command: its subscriber may have reported the
    // restart after its reads had already succeeded).
    await waitFor(
      "the dashboard to say Redis answers",
      async () =>
        ((await (await fetch(`${dashboardUrl}api/circuits`)).json()) as { redis: { available: boolean } }).redis
          .available,
      2000,
      50,
    );
  }, 30_000);
});
