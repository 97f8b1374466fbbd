/**
 * `purgatory dashboard`, run as a user runs it (the built executable, in a child process) against
 * a throw-away redis-server: its HTTP endpoints and their guards, then the page in a real headless
 * Chromium (Debian's, driven by playwright-core). Another OS process trips a circuit and the page
 * must show it within 1 s; the buttons (only with --allow-control) ask first, naming the circuit
 * and the action, then change Redis; the card under the pointer holds still; Redis down is said
 * in plain words (cards dimmed, actions off, errors gone once it is back, every held circuit listed
 * again); a narrow window keeps the header readable. The run writes screenshots to
 * .tmp/dashboard*.png (`npm run screenshot` writes those of docs/: dashboard.png, and
 * dashboard-confirm.png, dashboard-redis-down.png, dashboard-narrow.png beside it).
 */
import { mkdir, readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type CircuitInfo, type CircuitStateName } from "../../src/index.js";
import { chromiumMissing, launchChromium } from "../support/browser.js";
import { buildCli, type BuiltCli } from "../support/cli.js";
import { spawnLines, startWorker, type LineProcess, type Worker } from "../support/redis-fleet.js";
import { waitFor } from "../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";

/** Where the screenshot goes: `SCREENSHOT` (relative to the repository), else `.tmp/dashboard.png`. */
const SCREENSHOT = resolve(
  fileURLToPath(new URL("../..", import.meta.url)),
  process.env.SCREENSHOT ?? ".tmp/dashboard.png",
);
/** Where another screenshot goes: beside the first, `<name>-<what>.png`. */
const screenshotOf = (what: string): string => SCREENSHOT.replace(/\.png$/, `-${what}.png`);
/** The first bytes of every PNG file. */
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let cli: BuiltCli;
let server: RedisServer;
let storage: RedisStorage;
let factory: AsyncCircuitBreakerFactory;
/** Ends the probe that keeps "checkout" half-opened. */
let releaseProbe: () => void = () => undefined;
/** The default prefix: the server is this file's alone (and the screenshot shows it). */
const prefix = "purgatory";

interface RunningDashboard {
  readonly process: LineProcess;
  readonly url: string;
}
let control: RunningDashboard;
let readOnly: RunningDashboard;

/** Starts `purgatory dashboard` on a free port and waits for the line that gives its URL. */
function startDashboardProcess(...flags: string[]): Promise<RunningDashboard> {
  return startDashboardOf(prefix, ...flags);
}

/** Starts `purgatory dashboard` for the circuits under `of` (a prefix). */
async function startDashboardOf(of: string, ...flags: string[]): Promise<RunningDashboard> {
  const child = spawnLines([cli.path, "dashboard", "--redis", server.url, "--prefix", of, "--port", "0", ...flags]);
  const line = await child.waitForLine(
    (l) => typeof l.text === "string" && l.text.startsWith("purgatory dashboard: http"),
  );
  const url = /(http:\/\/\S+)/.exec(String(line.text))?.[1];
  if (url === undefined) throw new Error(`no URL in ${String(line.text)}`);
  return { process: child, url };
}

/** An HTTP request with any headers (Host included), answered as status and parsed JSON. */
function request(
  url: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: unknown; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? "GET", headers: options.headers }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: the text itself
        }
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
    req.once("error", reject);
    req.end();
  });
}

async function inRedis(name: string): Promise<CircuitInfo | undefined> {
  return (await storage.inspect([name]))[0];
}

const fail = (): Promise<never> => Promise.reject(new Error("down"));

beforeAll(async () => {
  [cli, server] = await Promise.all([buildCli(), startRedisServer()]);
  storage = new RedisStorage({ url: server.url, prefix });
  factory = new AsyncCircuitBreakerFactory({ storage, defaultThreshold: 3, defaultTtl: 30 });
  await factory.initialize();
  // Six circuits, closed, under the dashboards' eyes...
  const [payments, search, inventory, recommendations, , checkout] = await Promise.all([
    factory.getBreaker("payments", { backoff: { multiplier: 2, maxTtl: 300, jitter: 0 } }),
    factory.getBreaker("search", { threshold: 5, failureRate: { rate: 0.5, minimumCalls: 20, window: 60 } }),
    factory.getBreaker("inventory"),
    factory.getBreaker("recommendations"),
    factory.getBreaker("orders"),
    factory.getBreaker("checkout", { ttl: 0.6 }),
  ]);
  [control, readOnly] = await Promise.all([startDashboardProcess("--allow-control"), startDashboardProcess()]);
  // ...then a circuit in every state.
  for (let i = 0; i < 3; i++) await payments.run(fail).catch(() => undefined);
  for (let i = 0; i < 6; i++) await search.run(async () => "ok");
  for (let i = 0; i < 2; i++) await search.run(fail).catch(() => undefined);
  await inventory.isolate();
  await recommendations.disable();
  for (let i = 0; i < 3; i++) await checkout.run(fail).catch(() => undefined);
  await waitFor("checkout's ttl to run out", async () => {
    const retryAt = (await inRedis("checkout"))?.retryAt;
    return typeof retryAt === "number" && Date.now() > retryAt + 20;
  });
  // A probe that runs until the end of the file keeps checkout half-opened: its lease lasts a
  // ttl, long from now on (the opening in progress kept its retry time).
  await factory.reconfigure("checkout", { ttl: 300 });
  const probe = checkout.run(() => new Promise<string>((resolve) => (releaseProbe = () => resolve("ok"))));
  probe.catch(() => undefined);
  await waitFor("both dashboards to see every state", async () => {
    const seen = await Promise.all(
      [control, readOnly].map(async (d) => {
        const { circuits } = (await request(`${d.url}api/circuits`)).body as { circuits: { info: CircuitInfo }[] };
        return circuits
          .map((c) => c.info.state)
          .sort()
          .join(",");
      }),
    );
    return seen.every((states) => states === "closed,closed,disabled,half-opened,isolated,opened");
  });
}, 60_000);

afterAll(async () => {
  for (const dashboard of [control, readOnly]) {
    if (dashboard !== undefined && dashboard.process.child.exitCode === null) dashboard.process.child.kill("SIGKILL");
  }
  releaseProbe();
  await factory?.close();
  await server?.stop();
  await cli?.remove();
});

describe("the dashboard's HTTP endpoints", () => {
  it("listens on 127.0.0.1 by default and says where", () => {
    expect(control.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(control.process.lines[0]?.text).toMatch(
      new RegExp(`\\(control on, prefix "${prefix}" at redis://127\\.0\\.0\\.1:\\d+\\); Ctrl-C stops it$`),
    );
    expect(readOnly.process.lines[0]?.text).toContain("(read-only, prefix");
  });

  it("GET /: one self-contained page under a strict Content-Security-Policy", async () => {
    const { status, headers, body } = await request(control.url);
    expect(status).toBe(200);
    expect(headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(headers["content-security-policy"]).toMatch(
      /^default-src 'none'; script-src 'nonce-[^']+'; style-src 'nonce-[^']+'; connect-src 'self'/,
    );
    expect(headers["x-frame-options"]).toBe("DENY");
    // Nothing fetched from elsewhere: no URL to another host in the page.
    expect(String(body)).not.toMatch(/(src|href)="https?:/);
  });

  it("GET /api/circuits: every circuit as Redis holds it, with the transitions seen", async () => {
    const { status, body } = await request(`${control.url}api/circuits`);
    expect(status).toBe(200);
    const { circuits, redis } = body as { circuits: { info: CircuitInfo; transitions: unknown[] }[]; redis: unknown };
    expect(redis).toEqual({ available: true, error: null, since: null });
    const states = Object.fromEntries(circuits.map((c) => [c.info.name, c.info.state]));
    expect(states).toEqual({
      checkout: "half-opened",
      inventory: "isolated",
      orders: "closed",
      payments: "opened",
      recommendations: "disabled",
      search: "closed",
    });
    const payments = circuits.find((c) => c.info.name === "payments");
    expect(payments?.transitions).toEqual([
      { at: expect.any(Number) as number, from: null, to: "closed" },
      { at: payments?.info.openedAt, from: "closed", to: "opened" },
    ]);
  });

  it("GET /events: server-sent events, a snapshot first", async () => {
    const abort = new AbortController();
    const response = await fetch(`${control.url}events`, { signal: abort.signal });
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes("event: snapshot\ndata: ")) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    expect(text).toMatch(/^retry: 1000\n\nevent: snapshot\ndata: \{"now":\d+,"redis":\{"available":true/);
  });

  it("POST control without --allow-control: 403", async () => {
    const { status, body } = await request(`${readOnly.url}api/circuits/orders/isolate`, {
      method: "POST",
      headers: { "x-purgatory-control": "1" },
    });
    expect(status).toBe(403);
    expect(body).toEqual({ error: "control is off: start the dashboard with --allow-control" });
    expect((await inRedis("orders"))?.state).toBe("closed");
  });

  it("POST from another site, or without the control header: 403, nothing changed", async () => {
    const url = `${control.url}api/circuits/orders/isolate`;
    const crossSite = await request(url, {
      method: "POST",
      headers: { origin: "http://evil.example", "x-purgatory-control": "1" },
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body).toEqual({ error: 'cross-site request refused (Origin "http://evil.example")' });
    const bare = await request(url, { method: "POST" });
    expect(bare.status).toBe(403);
    expect((await inRedis("orders"))?.state).toBe("closed");
  });

  it("a Host that is not a loopback name (DNS rebinding): 403 on every route", async () => {
    for (const path of ["", "events", "api/circuits"]) {
      const { status } = await request(`${control.url}${path}`, { headers: { host: "attacker.example" } });
      expect(status).toBe(403);
    }
    expect(
      (await request(control.url, { headers: { host: control.url.slice(7, -1).replace("127.0.0.1", "localhost") } }))
        .status,
    ).toBe(200);
  });

  it("answers 404 for an unknown circuit or action, 405 for the wrong method", async () => {
    const post = (path: string) =>
      request(`${control.url}${path}`, { method: "POST", headers: { "x-purgatory-control": "1" } });
    expect(await post("api/circuits/nope/isolate")).toMatchObject({
      status: 404,
      body: { error: expect.stringContaining('no circuit named "nope"') as string },
    });
    expect((await post("api/circuits/orders/explode")).status).toBe(404);
    expect((await request(`${control.url}api/circuits/orders/isolate`)).status).toBe(405);
    expect((await request(`${control.url}nowhere`)).status).toBe(404);
    expect(await inRedis("nope")).toBeUndefined();
  });
});

describe("a circuit with a quorum: its active callers and the processes open for themselves", () => {
  const quorumPrefix = "purgatory-quorum";
  const processes = new Map<string, AsyncCircuitBreakerFactory>();
  const reader = () => new RedisStorage({ url: server.url, prefix: quorumPrefix });
  let dashboard: RunningDashboard;

  beforeAll(async () => {
    // Three processes of a fleet, each with its own RedisStorage and name, call "payments-api"
    // once successfully (Redis counts them as active callers); then web-7 fails twice and opens
    // for itself alone.
    for (const processName of ["web-1:101", "web-2:102", "web-7:4242"]) {
      const storage = new RedisStorage({ url: server.url, prefix: quorumPrefix, processName, flushInterval: 0.02 });
      const factory = new AsyncCircuitBreakerFactory({ storage });
      processes.set(processName, factory);
      await factory.initialize();
      await (await factory.getBreaker("payments-api", { threshold: 2, ttl: 30, quorum: 2 })).run(async () => "ok");
    }
    const inspect = reader();
    const quorum = async () => (await inspect.inspect(["payments-api"]))[0]?.quorum;
    await waitFor("three active callers", async () => (await quorum())?.activeCallers.length === 3);
    const sick = await processes.get("web-7:4242")?.getBreaker("payments-api");
    for (let i = 0; i < 2; i++) await sick?.run(fail).catch(() => undefined);
    await waitFor("web-7 open for itself", async () => (await quorum())?.openLocally.length === 1);
    dashboard = await startDashboardOf(quorumPrefix);
  }, 60_000);

  afterAll(async () => {
    if (dashboard !== undefined && dashboard.process.child.exitCode === null) dashboard.process.child.kill("SIGKILL");
    await Promise.all([...processes.values()].map((factory) => factory.close()));
  });

  it("GET /api/circuits: the quorum's active callers, processes open locally and processes needed now", async () => {
    const { body } = await request(`${dashboard.url}api/circuits`);
    const [payments] = (body as { circuits: { info: CircuitInfo }[] }).circuits;
    expect(payments?.info.state).toBe("closed");
    expect(payments?.info.quorum).toEqual({
      activeCallers: expect.arrayContaining(["web-1:101", "web-2:102", "web-7:4242"]) as string[],
      openLocally: [{ process: "web-7:4242", retryAt: expect.any(Number) as number }],
      effective: 2,
    });
  });

  it.skipIf(chromiumMissing !== null)(
    "the card says, in the CLI's words, the processes needed now, the active callers and who is open locally until when",
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1360, height: 500 } });
        await page.goto(dashboard.url);
        const card = page.locator('article[data-circuit="payments-api"]');
        await card.waitFor({ timeout: 5000 });
        expect(await card.getAttribute("data-state")).toBe("closed");
        expect(await card.locator(".quorum .value").textContent()).toBe("2 processes: 2 needed now");
        // web-7's two failures meet the threshold of 2 but not the quorum: said so, not "2 / 2".
        expect(await card.locator(".failures .num").textContent()).toBe("2 ≥ 2");
        expect(await card.locator(".note .value").textContent()).toBe(
          "threshold met: opens fleet-wide once 2 processes report failures (quorum)",
        );
        expect(await card.locator(".callers .value").textContent()).toBe("3 active: web-1:101, web-2:102, web-7:4242");
        expect(await card.locator(".local .value").textContent()).toMatch(
          /^1 of 3 processes open locally: web-7 \(pid 4242\), probe in \d+s$/,
        );
      } finally {
        await browser.close();
      }
    },
  );
});

describe.skipIf(chromiumMissing !== null)(
  `the page, in headless Chromium${chromiumMissing === null ? "" : ` (${chromiumMissing})`}`,
  () => {
    let browser: Browser;
    let page: Page;
    const errors: string[] = [];
    const card = (name: string) => page.locator(`article[data-circuit="${name}"]`);
    const shows = (name: string, state: CircuitStateName, timeout = 3000) =>
      page.locator(`article[data-circuit="${name}"][data-state="${state}"]`).waitFor({ timeout });

    beforeAll(async () => {
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      await page.goto(control.url);
    }, 30_000);

    afterAll(async () => {
      await browser?.close();
    });

    it("draws every circuit with its state badge, failures against its threshold, window and config", async () => {
      await shows("payments", "opened");
      expect(await page.locator("article[data-circuit]").count()).toBe(6);
      for (const [name, state] of [
        ["checkout", "half-opened"],
        ["inventory", "isolated"],
        ["recommendations", "disabled"],
        ["search", "closed"],
      ] as const) {
        await shows(name, state);
        expect(await card(name).locator(".badge").textContent()).toBe(state);
      }
      // Tripped, not "3 / 3" (nor "4 / 3" after a failed probe): see "what a card says".
      expect(await card("payments").locator(".failures .num").textContent()).toBe("tripped");
      expect(await card("search").locator(".failures .num").textContent()).toBe("2 / 5");
      expect(await card("search").textContent()).toContain("8 calls · 2 failed · 0 slow (25% failed)");
      expect(await card("search").textContent()).toContain("failure rate ≥ 50% of ≥ 20 calls in 60s");
      expect(await card("payments").textContent()).toContain("backoff ×2 up to 5m");
      expect(await card("payments").locator(".when").textContent()).toMatch(/^opened \d+(ms|s) ago · probe in \d+s$/);
      expect(await card("checkout").locator(".when").textContent()).toMatch(/^1 \/ 1 probe running · opened/);
      // Registered by the test's factory, never opened: it says so, and since when it exists.
      expect(await card("orders").locator(".when").textContent()).toMatch(/^never opened · created \d+(ms|s) ago$/);
      expect(await page.locator("#status").textContent()).toBe("live");
      expect(await page.locator('[data-count="opened"] b').textContent()).toBe("1");
      // A second later the relative times were repainted, and only they.
      await page.waitForTimeout(1100);
      expect(await card("payments").locator(".row.since").textContent()).toMatch(
        /^sinceopened \d+s ago · probe in \d+s$/,
      );
      expect(await page.locator("#circuits").textContent()).not.toContain("NaN");
      expect(errors).toEqual([]);
    });

    it("shows a trip made by another OS process within 1 s, with the transition in its timeline", async () => {
      const worker: Worker = await startWorker({ url: server.url, prefix, threshold: 3, ttl: 30 });
      try {
        await worker.send({ op: "register", name: "orders" });
        const reply = await worker.send({ op: "fail", name: "orders", calls: 3, concurrency: 1 });
        expect(reply.failed).toBe(3);
        // The trip is in Redis now: the page must show it within 1 s.
        await shows("orders", "opened", 1000);
      } finally {
        await worker.send({ op: "exit" }).catch(() => undefined);
        await worker.exited;
      }
      expect(await card("orders").locator(".timeline li").first().textContent()).toMatch(
        /^\d\d:\d\d:\d\dclosed → opened$/,
      );
      expect(await page.locator("#feed li").first().textContent()).toMatch(/^\d\d:\d\d:\d\dordersclosed → opened$/);
      expect(await page.locator('[data-count="opened"] b').textContent()).toBe("2");
    });

    it("writes a screenshot of the fleet", async () => {
      await shows("orders", "opened");
      await mkdir(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      const png = await readFile(SCREENSHOT);
      expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
      expect(png.length).toBeGreaterThan(10_000);
    });

    it("isolate, disable and reset ask first, naming the circuit and the action; Cancel changes nothing", async () => {
      await card("orders").locator('button[data-action="isolate"]').click();
      const dialog = page.locator("dialog#confirm");
      await dialog.waitFor({ state: "visible", timeout: 2000 });
      expect(await dialog.locator("#confirm-question").textContent()).toBe("Isolate “orders” for the whole fleet?");
      expect(await dialog.locator("#confirm-consequence").textContent()).toBe(
        "Every call to it is rejected, in every process, until a reset.",
      );
      expect(await dialog.locator("#confirm-yes").textContent()).toBe("Isolate orders");
      await page.screenshot({ path: screenshotOf("confirm") });
      await dialog.locator("#confirm-no").click();
      await dialog.waitFor({ state: "hidden", timeout: 2000 });
      await new Promise((r) => setTimeout(r, 300));
      expect((await inRedis("orders"))?.state).toBe("opened");
    });

    it("isolate, disable and reset, once confirmed, change the circuit in Redis, fleet-wide", async () => {
      for (const [action, state] of [
        ["isolate", "isolated"],
        ["disable", "disabled"],
        ["reset", "closed"],
      ] as const) {
        await card("orders").locator(`button[data-action="${action}"]`).click();
        await page.locator("dialog#confirm #confirm-yes").click();
        await waitFor(`orders ${state} in Redis`, async () => (await inRedis("orders"))?.state === state);
        await shows("orders", state);
      }
      expect(await inRedis("orders")).toMatchObject({ state: "closed", failureCount: 0 });
      expect(await card("orders").locator(".timeline li").allTextContents()).toEqual([
        expect.stringMatching(/disabled → closed$/),
        expect.stringMatching(/isolated → disabled$/),
        expect.stringMatching(/opened → isolated$/),
        expect.stringMatching(/closed → opened$/),
        expect.stringMatching(/seen closed$/),
      ]);
      expect(errors).toEqual([]);
    });

    it("the card under the pointer holds still while others change; the order follows once it leaves", async () => {
      const names = async () =>
        page
          .locator("article[data-circuit]")
          .evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.circuit));
      // The pointer away from the cards (it clicked one before): the order of concern, closed last.
      await page.mouse.move(5, 5);
      await waitFor(
        "orders before search, both closed and last",
        async () => (await names()).slice(-2).join() === "orders,search",
      );
      await card("orders").hover();
      const [ordersBox, searchBox] = await Promise.all([card("orders").boundingBox(), card("search").boundingBox()]);
      // search trips: opened circuits come first, which would move orders, but not while the
      // pointer is over the cards.
      const search = await factory.getBreaker("search");
      for (let i = 0; i < 5; i++) await search.run(fail).catch(() => undefined);
      await shows("search", "opened");
      expect(await card("orders").boundingBox()).toEqual(ordersBox);
      expect(await card("search").boundingBox()).toEqual(searchBox);
      // The pointer leaves the cards: the order of concern again, search with the opened ones.
      await page.mouse.move(5, 5);
      await waitFor("search among the opened, before orders", async () => {
        const order = await names();
        return (
          order.indexOf("search") < order.indexOf("payments") + 2 && order.indexOf("search") < order.indexOf("orders")
        );
      });
      expect(await card("orders").boundingBox()).not.toEqual(ordersBox);
      await search.reset();
      await shows("search", "closed");
    });

    it("has no buttons without --allow-control", async () => {
      const other = await browser.newPage();
      try {
        await other.goto(readOnly.url);
        await other.locator('article[data-circuit="payments"]').waitFor();
        expect(await other.locator("article[data-circuit]").count()).toBe(6);
        expect(await other.locator("button").count()).toBe(0);
        expect(await other.locator("footer").textContent()).toContain("Control off");
      } finally {
        await other.close();
      }
    });

    it("Redis down: the banner says so in plain words, cards dimmed, actions off; back: errors gone, every held circuit listed again", async () => {
      // A confirmation open when Redis goes: its action fails, and says so.
      await card("orders").locator('button[data-action="isolate"]').click();
      await server.kill();
      await page.locator("#status.down").waitFor({ timeout: 5000 });
      expect(await page.locator("#status").textContent()).toBe("Redis down");
      const banner = page.locator("#banner");
      expect(await banner.isVisible()).toBe(true);
      expect(await banner.textContent()).toMatch(
        /^Redis is not answering \((connection refused|the connection is down|the connection was reset)\) since \d\d:\d\d:\d\d\. The cards show the state last read; actions are off until it answers again\.$/,
      );
      expect(await page.locator("#circuits.stale").count()).toBe(1);
      expect(await page.locator("article[data-circuit] button:not([disabled])").count()).toBe(0);
      await page.locator("dialog#confirm #confirm-yes").click();
      await page.locator("#toast").filter({ hasText: "isolate “orders”: " }).waitFor({ timeout: 5000 });
      // The browser logs the refused action (503): that one is expected.
      expect(errors.splice(0)).toEqual([expect.stringMatching(/status of 503/)]);
      await page.screenshot({ path: screenshotOf("redis-down"), fullPage: true });

      // Back without its data: the processes holding the circuits write them anew, and list them.
      await server.restart();
      await page.locator("#status.live").waitFor({ timeout: 5000 });
      // The banner and the dimming go with the same news, drawn in the next frames.
      await banner.waitFor({ state: "hidden", timeout: 5000 });
      await page.locator("#circuits:not(.stale)").waitFor({ timeout: 5000 });
      expect(await page.locator("#toast").textContent()).toBe("");
      await waitFor(
        "every circuit the factory holds listed again",
        async () =>
          (await page.locator("article[data-circuit]").evaluateAll((cards) => cards.length)) === 6 &&
          (await page.locator('article[data-circuit="orders"] button:not([disabled])').count()) > 0,
        10_000,
      );
      expect(errors).toEqual([]);
    });
  },
);

describe.skipIf(chromiumMissing !== null)("what a card says, and a narrow window", () => {
  const cardsPrefix = "purgatory-cards";
  let browser: Browser;
  let dashboard: RunningDashboard;
  let holder: AsyncCircuitBreakerFactory;
  let reader: RedisStorage;

  beforeAll(async () => {
    reader = new RedisStorage({ url: server.url, prefix: cardsPrefix });
    holder = new AsyncCircuitBreakerFactory({
      storage: new RedisStorage({ url: server.url, prefix: cardsPrefix }),
      defaultThreshold: 3,
    });
    await holder.initialize();
    // A probe that fails: the circuit opens again with 4 consecutive failures, threshold 3.
    const probed = await holder.getBreaker("probe-failed", { ttl: 0.2 });
    for (let i = 0; i < 3; i++) await probed.run(fail).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    await probed.run(fail).catch(() => undefined);
    await holder.getBreaker("never-opened");
    dashboard = await startDashboardOf(cardsPrefix, "--allow-control");
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    if (dashboard !== undefined && dashboard.process.child.exitCode === null) dashboard.process.child.kill("SIGKILL");
    await browser?.close();
    await holder?.close();
    await reader?.close();
  });

  it("a failed probe: tripped, not 4 / 3; a circuit never opened says so", async () => {
    expect(await inCards("probe-failed")).toMatchObject({ state: "opened", failureCount: 4 });
    const page = await browser.newPage({ viewport: { width: 1360, height: 700 } });
    try {
      await page.goto(dashboard.url);
      const probed = page.locator('article[data-circuit="probe-failed"]');
      await probed.waitFor({ timeout: 5000 });
      expect(await probed.locator(".failures .num").textContent()).toBe("tripped");
      expect(await probed.locator(".failures").getAttribute("title")).toBe(
        "4 consecutive failures, threshold 3 (failed probes count too)",
      );
      expect(await probed.textContent()).not.toContain("4 / 3");
      expect(await page.locator('article[data-circuit="never-opened"] .when').textContent()).toMatch(
        /^never opened · created \d+(ms|s) ago$/,
      );
    } finally {
      await page.close();
    }
  });

  it("relative times follow Redis's clock, not the browser's (a browser an hour ahead)", async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 700 } });
    try {
      await page.clock.setSystemTime(new Date(Date.now() + 3_600_000));
      await page.goto(dashboard.url);
      const when = page.locator('article[data-circuit="never-opened"] .when');
      await when.waitFor({ timeout: 5000 });
      // Created seconds ago by Redis's clock: not "1h 0m ago", nor "0ms ago".
      expect(await when.textContent()).toMatch(/^never opened · created \d+(ms|s) ago$/);
      await page.waitForTimeout(1100);
      expect(await when.textContent()).toMatch(/^never opened · created \d+(ms|s) ago$/);
    } finally {
      await page.close();
    }
  });

  it("400 px wide: the header and the live badge stay whole and readable, nothing scrolls sideways", async () => {
    const page = await browser.newPage({ viewport: { width: 400, height: 800 } });
    try {
      await page.goto(dashboard.url);
      await page.locator("#status.live").waitFor({ timeout: 5000 });
      const [title, status] = await Promise.all([
        page.locator("h1").boundingBox(),
        page.locator("#status").boundingBox(),
      ]);
      expect(title).not.toBeNull();
      expect(status).not.toBeNull();
      if (title === null || status === null) return;
      // Both within the window, side by side without overlapping, the badge not cut.
      expect(title.x).toBeGreaterThanOrEqual(0);
      expect(status.x + status.width).toBeLessThanOrEqual(400);
      expect(title.x + title.width).toBeLessThanOrEqual(status.x);
      expect(await page.locator("#status").evaluate((e) => e.scrollWidth <= e.clientWidth)).toBe(true);
      expect(await page.locator("h1").evaluate((e) => e.scrollWidth <= e.clientWidth + 1)).toBe(true);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(400);
      await page.screenshot({ path: screenshotOf("narrow"), fullPage: false });
    } finally {
      await page.close();
    }
  });

  async function inCards(name: string): Promise<CircuitInfo | undefined> {
    return (await reader.inspect([name]))[0];
  }
});

describe("stopping the dashboard", () => {
  it("SIGINT or SIGTERM: closes its event streams and the server, and the process ends by itself with code 0", async () => {
    const abort = new AbortController();
    const stream = await fetch(`${readOnly.url}events`, { signal: abort.signal });
    const ended = (async () => {
      const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
      while (!(await reader.read()).done);
      return "ended";
    })();
    readOnly.process.child.kill("SIGTERM");
    expect(await ended).toBe("ended");
    expect(await readOnly.process.exited).toBe(0);
    expect(readOnly.process.lines.at(-1)?.text).toBe("purgatory dashboard: stopped");
    control.process.child.kill("SIGINT");
    expect(await control.process.exited).toBe(0);
  });
});
