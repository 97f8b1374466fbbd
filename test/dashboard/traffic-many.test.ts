/**
 * The page with 10,000 circuits and their traffic, in headless Chromium, over a dashboard started
 * in this process (`startDashboard`) on a scripted fleet whose traffic the test writes second by
 * second: it draws a page of cards (not 10,000) and says how many there are, "show more" adds a
 * page, the search finds one circuit among 10,000, and sorted by traffic the cards follow the
 * traffic each second, except while the pointer is over them: the card under the pointer never
 * moves.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { upperBoundOf } from "../../src/core/traffic.js";
import { startDashboard, type Dashboard } from "../../src/dashboard/server.js";
import type { DashboardTrafficWatch } from "../../src/dashboard/traffic.js";
import type { CircuitTraffic, TrafficSnapshot } from "../../src/storage/redis/traffic-watch.js";
import { chromiumMissing, launchChromium } from "../support/browser.js";
import { waitFor } from "../support/redis-helpers.js";
import { closedInfo } from "../support/circuit-info.js";

const CIRCUITS = 10_000;
const names = Array.from({ length: CIRCUITS }, (_, i) => `svc-${String(i).padStart(5, "0")}`);

/** The traffic watch of the scripted fleet: the test emits each second. */
const listeners = new Set<(snapshot: TrafficSnapshot) => void>();
const watch: DashboardTrafficWatch = {
  snapshot: () => ({ t: 0, processes: 0, totals: { calls: 0, errors: 0, rejected: 0, errorRate: 0 }, circuits: [] }),
  onUpdate(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  close: async () => undefined,
};

let second = Date.UTC(2024, 4, 1, 12, 0, 0);
/** One more second of traffic: `rates` calls a second by circuit name. */
function emit(rates: Record<string, number>): void {
  second += 1000;
  const t = second;
  const circuits = Object.entries(rates).map(([name, calls]): CircuitTraffic => {
    const point = { t, calls, errors: 0, rejected: 0, errorRate: 0, p50: upperBoundOf(30), p99: upperBoundOf(40) };
    return { ...point, name, processes: [{ ...point, process: "web-1:101", openForItself: false }], history: [point] };
  });
  const calls = circuits.reduce((n, c) => n + c.calls, 0);
  const snapshot = { t, processes: 1, totals: { calls, errors: 0, rejected: 0, errorRate: 0 }, circuits };
  for (const listener of listeners) listener(snapshot);
}

describe.skipIf(chromiumMissing !== null)(
  `10,000 circuits, in headless Chromium${chromiumMissing === null ? "" : ` (${chromiumMissing})`}`,
  () => {
    let dashboard: Dashboard;
    let browser: Browser;
    let page: Page;
    const errors: string[] = [];
    const articles = (): Promise<string[]> =>
      page
        .locator("article[data-circuit]")
        .evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.circuit ?? ""));
    const card = (name: string) => page.locator(`article[data-circuit="${name}"]`);
    const calls = async (name: string): Promise<string | null> =>
      card(name).locator('.spark[data-metric="calls"] .value').textContent();

    beforeAll(async () => {
      dashboard = await startDashboard({
        port: 0,
        fleet: {
          prefix: "many",
          url: "redis://scripted",
          async watch(listener) {
            listener.read(
              names.map((name) => closedInfo(name)),
              [],
              0,
            );
            return { refresh: async () => undefined, close: async () => undefined };
          },
          control: () => Promise.reject(new Error("no control here")),
          watchTraffic: async () => watch,
        },
      });
      browser = await launchChromium();
      page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      await page.goto(dashboard.url);
      await waitFor("the traffic watched", () => dashboard.traffic().state === "on", 10_000);
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await dashboard?.close();
    });

    it("draws a page of cards, not 10,000, and says how many there are; show more adds a page", async () => {
      await page.locator("#shown").filter({ hasText: "10000 circuits" }).waitFor({ timeout: 15_000 });
      expect(await page.locator("#shown").textContent()).toBe("showing 60 · 10000 circuits");
      expect(await articles()).toEqual(names.slice(0, 60));
      expect(await page.locator(".count b").first().textContent()).toBe("10000");
      await page.locator("#more").click();
      await waitFor("a second page", async () => (await articles()).length === 120, 5000, 20);
      expect(await page.locator("#more").textContent()).toBe("Show 60 more (9880 not shown)");
    });

    it("the search finds one circuit among 10,000 (and its traffic); cleared, a page again", async () => {
      emit({ "svc-09876": 42 });
      await page.locator("#search").fill("svc-09876");
      await waitFor("one card", async () => (await articles()).join() === "svc-09876", 5000, 20);
      expect(await page.locator("#shown").textContent()).toBe("1 of 10000 match");
      await waitFor("its traffic", async () => (await calls("svc-09876")) === "42", 5000, 20);
      await page.locator("#search").fill("svc-0987");
      await waitFor("ten cards", async () => (await articles()).length === 10, 5000, 20);
      await page.locator("#search").fill("");
      await waitFor("a page again", async () => (await articles()).length === 60, 5000, 20);
      expect(await page.locator("#more").count()).toBe(1);
    });

    it("sorted by traffic: the busiest first, following each second, but not the card under the pointer", async () => {
      const busy = ["svc-00100", "svc-00200", "svc-00300", "svc-00400"];
      const rates = (values: number[]) => Object.fromEntries(busy.map((name, i) => [name, values[i] ?? 0]));
      // Ten seconds of steady traffic: the order by traffic is over the last 10 s.
      for (let i = 0; i < 10; i++) emit(rates([10, 20, 30, 40]));
      await page.mouse.move(5, 5);
      await page.locator("#sort").selectOption("traffic");
      await waitFor(
        "the busiest first",
        async () => (await articles()).slice(0, 4).join() === "svc-00400,svc-00300,svc-00200,svc-00100",
        5000,
        20,
      );
      // The pointer on the third card; the traffic turns around.
      await card("svc-00200").hover();
      const [held, other] = await Promise.all([card("svc-00200").boundingBox(), card("svc-00400").boundingBox()]);
      for (let i = 0; i < 20; i++) emit(rates([400, 300, 200, 100]));
      await waitFor("the new numbers drawn in place", async () => (await calls("svc-00200")) === "300", 5000, 20);
      expect(await card("svc-00200").boundingBox()).toEqual(held);
      expect(await card("svc-00400").boundingBox()).toEqual(other);
      expect((await articles()).slice(0, 4)).toEqual(["svc-00400", "svc-00300", "svc-00200", "svc-00100"]);
      // The pointer leaves: the order follows.
      await page.mouse.move(5, 5);
      await waitFor(
        "the new busiest first",
        async () => (await articles()).slice(0, 4).join() === "svc-00100,svc-00200,svc-00300,svc-00400",
        5000,
        20,
      );
      expect(await card("svc-00200").boundingBox()).not.toEqual(held);
      expect(errors).toEqual([]);
    });
  },
);
