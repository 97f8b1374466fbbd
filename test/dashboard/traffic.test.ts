/**
 * The traffic on the dashboard, for real: three OS processes of a fleet (traffic-worker.ts, each
 * its own factory and RedisStorage) make calls at known, steady rates on a throw-away
 * redis-server, `purgatory dashboard` runs as a user runs it (the built executable, in a child
 * process), and the page is read in headless Chromium (Debian's, driven by playwright-core).
 *
 * - web-1 and web-2 succeed on "checkout", web-7 fails every call of it: the page must show
 *   checkout's calls/s, error rate and processes as the processes make them (within one pacing
 *   tick's worth of calls), and mark web-7 in the breakdown, which a press held across the card's
 *   redraws opens.
 * - On "payments" (quorum 2) web-7 fails, opens for itself, and is rejected from then on: the page
 *   shows the rejections and says web-7 is open for itself.
 * - Sorting by traffic and by error rate, and the search, work on the real page.
 * - Nobody looking, nobody reports: the dashboard alone starts no watch; the page closed, the
 *   processes stop reporting.
 * - The documented read-only ACL rule (docs/redis-setups.md) lets a dashboard watch the traffic,
 *   nothing denied.
 *
 * The run writes .tmp/dashboard-traffic.png and .tmp/dashboard-traffic-processes.png;
 * `SCREENSHOT=docs/dashboard.png npx vitest run test/dashboard/traffic.test.ts` writes those of
 * docs/ (after half a minute of traffic, for fuller sparklines).
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumMissing, launchChromium } from "../support/browser.js";
import { buildCli, type BuiltCli } from "../support/cli.js";
import { aclDenials, documentedAclRule } from "../support/redis-acl.js";
import { spawnLines, type LineProcess } from "../support/redis-fleet.js";
import { sleep, waitFor } from "../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import type { PacedCircuit, TrafficWorkerConfig } from "./traffic-worker.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WORKER = fileURLToPath(new URL("./traffic-worker.ts", import.meta.url));
/** Where the screenshots go: beside `SCREENSHOT` (as dashboard.test.ts's), else in .tmp/. */
const SCREENSHOT = resolve(ROOT, process.env.SCREENSHOT ?? ".tmp/dashboard.png");
const screenshotOf = (what: string): string => SCREENSHOT.replace(/\.png$/, `-${what}.png`);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const prefix = "traffic";
/** Milliseconds between two rounds of a worker's calls: the tolerance is one round's calls. */
const TICK_MS = 100;

const checkout = { name: "checkout", threshold: 1_000_000, latencyMs: 2 } as const;
const payments = { name: "payments", threshold: 3, ttl: 600, quorum: 2, latencyMs: 3 } as const;
/** What each process calls, and how. */
const FLEET: Readonly<Record<string, readonly PacedCircuit[]>> = {
  "web-1:101": [
    { ...checkout, perSecond: 40, outcome: "succeed" },
    { ...payments, perSecond: 20, outcome: "succeed" },
    { name: "search", perSecond: 10, outcome: "succeed", latencyMs: 1 },
    { name: "inventory", perSecond: 0, outcome: "succeed" },
  ],
  "web-2:102": [
    { ...checkout, perSecond: 40, outcome: "succeed" },
    { ...payments, perSecond: 20, outcome: "succeed" },
  ],
  "web-7:4242": [
    { ...checkout, perSecond: 20, outcome: "fail" },
    { ...payments, perSecond: 20, outcome: "fail" },
  ],
};

/** The calls a second of `circuit` in `process` (all of them without `process`), and the tolerance: a tick's worth each. */
function expected(circuit: string, process?: string): { rate: number; slack: number } {
  let rate = 0;
  let slack = 0;
  for (const [name, circuits] of Object.entries(FLEET)) {
    if (process !== undefined && name !== process) continue;
    const c = circuits.find((x) => x.name === circuit);
    if (c === undefined) continue;
    rate += c.perSecond;
    slack += Math.max(1, Math.ceil((c.perSecond * TICK_MS) / 1000));
  }
  return { rate, slack };
}
const within = (value: number, { rate, slack }: { rate: number; slack: number }): boolean =>
  Math.abs(value - rate) <= slack;

let cli: BuiltCli;
let server: RedisServer;
let admin: Redis;
const workers = new Map<string, LineProcess>();
let dashboard: { process: LineProcess; url: string };

/** Starts `purgatory dashboard` for `redisUrl` on a free port and waits for the line with its URL. */
async function startDashboard(redisUrl: string): Promise<{ process: LineProcess; url: string }> {
  const child = spawnLines([cli.path, "dashboard", "--redis", redisUrl, "--prefix", prefix, "--port", "0"]);
  const line = await child.waitForLine((l) => String(l.text).startsWith("purgatory dashboard: http"), 15_000);
  const url = /(http:\/\/\S+)/.exec(String(line.text))?.[1];
  if (url === undefined) throw new Error(`no URL in ${String(line.text)}`);
  return { process: child, url };
}

/** Whether a worker said it reports (`true`), or stopped (`false`), last. */
const watched = (process: string): boolean | undefined =>
  workers
    .get(process)
    ?.lines.filter((l) => l.type === "watched")
    .at(-1)?.watched as boolean | undefined;

/** The watchers Redis holds for the prefix. */
const watchers = (): Promise<string[]> => admin.zrange(`${prefix}:{telemetry}:watchers`, 0, -1);

beforeAll(async () => {
  [cli, server] = await Promise.all([buildCli(), startRedisServer()]);
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  const start = (processName: string): Promise<unknown> => {
    const circuits = FLEET[processName] ?? [];
    const config: TrafficWorkerConfig = { url: server.url, prefix, processName, circuits, tickMs: TICK_MS };
    const worker = spawnLines(["--import", "tsx", WORKER, JSON.stringify(config)], { stdin: true });
    workers.set(processName, worker);
    return worker.waitForLine((l) => l.type === "ready", 30_000);
  };
  // web-7 fails payments from its first calls: it starts once web-1 and web-2 count as payments'
  // active callers, or its failures alone would meet the quorum (never more than the callers).
  await Promise.all([start("web-1:101"), start("web-2:102")]);
  await waitFor(
    "web-1 and web-2 among payments' active callers",
    async () => (await admin.zcard(`${prefix}:callers:{payments}`)) >= 2,
    15_000,
  );
  await start("web-7:4242");
  dashboard = await startDashboard(server.url);
}, 60_000);

afterAll(async () => {
  dashboard?.process.child.kill("SIGKILL");
  await Promise.all(
    [...workers.values()].map(async (w) => {
      w.child.stdin?.write('{"op":"exit"}\n');
      const ended = await Promise.race([w.exited, sleep(5000).then(() => "late")]);
      if (ended === "late") w.child.kill("SIGKILL");
    }),
  );
  admin?.disconnect();
  await server?.stop();
  await cli?.remove();
});

describe("nobody looking", () => {
  it("a dashboard nobody looks at starts no watch: no watcher in Redis, no process reports", async () => {
    // The dashboard follows the circuits (and answers its JSON API) all the while.
    const circuits = (await (await fetch(`${dashboard.url}api/circuits`)).json()) as { circuits: unknown[] };
    expect(circuits.circuits).toHaveLength(4);
    await sleep(1500);
    expect(await watchers()).toEqual([]);
    for (const process of workers.keys()) expect(watched(process)).toBeUndefined();
  });
});

describe.skipIf(chromiumMissing !== null)(
  `the traffic on the page, in headless Chromium${chromiumMissing === null ? "" : ` (${chromiumMissing})`}`,
  () => {
    let browser: Browser;
    let page: Page;
    const errors: string[] = [];
    const card = (name: string) => page.locator(`article[data-circuit="${name}"]`);
    /** A number a card shows (`metric`'s value, its first number). */
    const shown = async (name: string, metric: string): Promise<number> =>
      Number.parseFloat((await card(name).locator(`.spark[data-metric="${metric}"] .value`).textContent()) ?? "NaN");
    /** A cell of a process's row in a card's breakdown. */
    const row = (name: string, process: string) => card(name).locator(`tr[data-process="${process}"]`);
    const cell = async (name: string, process: string, column: number): Promise<string> =>
      (await row(name, process).locator("td").nth(column).textContent()) ?? "";
    const order = (): Promise<string[]> =>
      page
        .locator("article[data-circuit]")
        .evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.circuit ?? ""));

    beforeAll(async () => {
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
      page.on("pageerror", (error) => errors.push(error.message));
      // A Content-Security-Policy violation (an inline style uPlot set, an eval) is logged as an error.
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      await page.goto(dashboard.url);
    });

    afterAll(async () => {
      await browser?.close();
    });

    it("the page opened, every process reports, and the page shows checkout's traffic as the processes make it", async () => {
      await waitFor("every process to report", () => [...workers.keys()].every((p) => watched(p) === true), 10_000);
      expect(await watchers()).toHaveLength(1);
      // 100 calls a second (40 + 40 + 20), 20 of them failing.
      await waitFor(
        "checkout's calls/s",
        async () => within(await shown("checkout", "calls"), expected("checkout")),
        15_000,
        100,
      );
      await waitFor(
        "checkout's error rate (20 of 100 calls fail)",
        async () => Math.abs((await shown("checkout", "errors")) - 20) <= 3,
        5000,
        100,
      );
      expect(await shown("checkout", "rejected")).toBe(0);
      expect(await card("checkout").locator('.spark[data-metric="latency"] .value').textContent()).toMatch(
        /^[\d.]+(µs|ms) \/ [\d.]+(µs|ms)$/,
      );
      // A sparkline per metric, drawn by uPlot on a canvas.
      expect(await card("checkout").locator(".spark .chart canvas").count()).toBe(4);
      await waitFor(
        "search's 10 calls/s",
        async () => within(await shown("search", "calls"), expected("search")),
        5000,
        100,
      );
      // A circuit with no call: said so, no sparkline.
      expect(await card("inventory").locator(".quiet").textContent()).toBe("no calls in the last 5 min");
      expect(await card("inventory").locator(".spark .chart canvas").count()).toBe(0);
      // The fleet: 170 calls a second, 3 processes.
      await waitFor(
        "the fleet's totals",
        async () => {
          const calls = Number(await page.locator('[data-total="calls"] b').textContent());
          const processes = await page.locator('[data-total="processes"] b').textContent();
          const all = ["checkout", "payments", "search"].map((c) => expected(c));
          const fleet = { rate: all.reduce((n, e) => n + e.rate, 0), slack: all.reduce((n, e) => n + e.slack, 0) };
          return within(calls, fleet) && processes === "3";
        },
        5000,
        100,
      );
      expect(await page.locator("#circuits").textContent()).not.toContain("NaN");
    });

    it("the breakdown by process: three processes, the failing one (web-7) marked, each at its own rate", async () => {
      // Pressed as a person presses, across the card's redraws (one a second while web-7 fails):
      // the press still opens the breakdown.
      await card("checkout").locator("details.processes summary").hover();
      await page.mouse.down();
      await sleep(2500);
      await page.mouse.up();
      expect(await card("checkout").locator("details.processes").getAttribute("open")).toBe("");
      await waitFor(
        "every process in the breakdown, at its rate",
        async () => {
          if ((await card("checkout").locator("tbody tr").count()) !== 3) return false;
          for (const process of ["web-1:101", "web-2:102", "web-7:4242"]) {
            const calls = Number(await cell("checkout", process, 1));
            if (!within(calls, expected("checkout", process))) return false;
          }
          return true;
        },
        5000,
        100,
      );
      expect(await card("checkout").locator("details.processes summary").textContent()).toBe(
        "3 processes · web-7:4242 100% errors",
      );
      expect(await row("checkout", "web-7:4242").getAttribute("class")).toContain("worst");
      expect(await cell("checkout", "web-7:4242", 2)).toBe("100%");
      expect(await card("checkout").locator("tr.worst").count()).toBe(1);
      for (const healthy of ["web-1:101", "web-2:102"]) {
        expect(await row("checkout", healthy).getAttribute("class")).toBeNull();
        expect(await cell("checkout", healthy, 2)).toBe("0%");
      }
      // The breakdown stays open while the numbers change (a second later, it is redrawn).
      await sleep(1100);
      expect(await card("checkout").locator("details.processes").getAttribute("open")).toBe("");
      expect(await card("checkout").locator("tr.worst").count()).toBe(1);
    });

    it("payments under a quorum: web-7 fails, opens for itself, is rejected from then on: said so", async () => {
      await waitFor(
        "web-7's calls rejected: payments' rejected/s",
        async () => within(await shown("payments", "rejected"), expected("payments", "web-7:4242")),
        10_000,
        100,
      );
      await card("payments").locator("details.processes summary").click();
      await waitFor(
        "web-7 open for itself in the breakdown",
        async () => (await row("payments", "web-7:4242").locator(".tag").textContent()) === "open for itself",
        5000,
        100,
      );
      expect(await card("payments").locator("details.processes summary").textContent()).toMatch(/1 open for itself$/);
      expect(await row("payments", "web-7:4242").getAttribute("class")).toContain("open-itself");
    });

    it("writes screenshots: the page with its traffic, and a breakdown by process", async () => {
      // For the docs, half a minute of traffic: fuller sparklines.
      if (process.env.SCREENSHOT !== undefined) await sleep(30_000);
      await page.mouse.move(5, 5);
      const full = screenshotOf("traffic");
      await mkdir(dirname(full), { recursive: true });
      await page.screenshot({ path: full, fullPage: true });
      // The card is redrawn whenever its failure count moves: a clip of where it is, not the element.
      const breakdown = screenshotOf("traffic-processes");
      const box = await page.evaluate(() => {
        const rect = document.querySelector('article[data-circuit="checkout"]')?.getBoundingClientRect();
        return rect === undefined ? null : { x: rect.x, y: rect.y, width: rect.width, height: rect.height };
      });
      if (box === null) throw new Error("checkout's card is not shown");
      await page.screenshot({ path: breakdown, clip: box });
      for (const path of [full, breakdown]) {
        const png = await readFile(path);
        expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
        expect(png.length).toBeGreaterThan(10_000);
      }
    }, 60_000);

    it("sorts by traffic and by error rate, and the search keeps the names that contain it", async () => {
      await page.mouse.move(5, 5);
      // By concern (all closed): by name.
      expect(await order()).toEqual(["checkout", "inventory", "payments", "search"]);
      await page.locator("#sort").selectOption("traffic");
      await waitFor(
        "the busiest first",
        async () => (await order()).join() === "checkout,payments,search,inventory",
        5000,
        50,
      );
      await page.locator("#sort").selectOption("errors");
      await waitFor("the failing first", async () => (await order())[0] === "checkout", 5000, 50);
      expect((await order()).at(-1)).toBe("inventory");
      await page.locator("#search").fill("pay");
      await waitFor("only payments", async () => (await order()).join() === "payments", 5000, 50);
      expect(await page.locator("#shown").textContent()).toBe("1 of 4 match");
      await page.locator("#search").fill("nothing-like-it");
      await waitFor("none", async () => (await order()).length === 0, 5000, 50);
      expect(await page.locator("#nomatch").textContent()).toBe("No circuit name contains “nothing-like-it”.");
      await page.locator("#search").fill("");
      await page.locator("#sort").selectOption("concern");
      await waitFor("every circuit again", async () => (await order()).length === 4, 5000, 50);
      expect(errors).toEqual([]);
    });

    it("the page closed: the dashboard leaves, and the processes stop reporting", async () => {
      await page.close();
      await waitFor(
        "every process to stop reporting",
        () => [...workers.keys()].every((p) => watched(p) === false),
        15_000,
        50,
      );
      expect(await watchers()).toEqual([]);
    });
  },
);

describe("as the documented read-only user (docs/redis-setups.md)", () => {
  it("a dashboard watches the traffic with nothing denied", async () => {
    const password = "traffic-viewer-Secret";
    await admin.call(
      "ACL",
      "SETUSER",
      "purgatory-viewer",
      "reset",
      ...documentedAclRule("viewer", { prefix, password }),
    );
    await admin.call("ACL", "LOG", "RESET");
    const viewer = await startDashboard(`redis://purgatory-viewer:${password}@127.0.0.1:${server.port}`);
    const abort = new AbortController();
    try {
      const response = await fetch(`${viewer.url}events`, { signal: abort.signal });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let text = "";
      const deadline = Date.now() + 15_000;
      // A `traffic` event with checkout in it: the watch announced itself, the processes reported.
      while (!/event: traffic\ndata: \{[^\n]*"checkout"/.test(text) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        if (text.includes('"state":"failed"')) break;
      }
      expect(text).not.toContain('"state":"failed"');
      expect(text).toMatch(/event: traffic\ndata: \{[^\n]*"checkout"/);
    } finally {
      abort.abort();
      viewer.process.child.kill("SIGTERM");
      await viewer.process.exited;
    }
    // Only the scripts the CLI loads ahead of use (harmless) may be refused.
    const refused = (await aclDenials(admin)).filter((d) => d.username === "purgatory-viewer");
    expect(refused.filter((d) => d.object !== "script|load")).toEqual([]);
    // Gone: it left the watchers' set on its way out.
    await waitFor("no watcher left", async () => (await watchers()).length === 0, 5000, 50);
  });
});
