/**
 * What the dashboard's page draws (src/dashboard/page/view.ts): pure functions from what the server
 * sends and the time to `VNode`s, tested without a browser. The browser tests
 * (dashboard.test.ts) show the same states on the real page.
 */
import { describe, expect, it } from "vitest";
import type { CircuitInfo } from "../../src/index.js";
import type { ObservedCircuit } from "../../src/fleet/history.js";
import {
  bannerText,
  byConcern,
  cardView,
  confirmation,
  failuresView,
  feedView,
  statusView,
  summaryView,
  textOf,
  whenView,
  type CardContext,
  type VNode,
} from "../../src/dashboard/page/view.js";

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);

const info = (changes: Partial<CircuitInfo> = {}): CircuitInfo => ({
  name: "payments",
  state: "closed",
  failureCount: 0,
  openedAt: null,
  retryAt: null,
  probes: 0,
  config: { threshold: 3, ttl: 30, halfOpenMaxCalls: 1 },
  window: null,
  updatedAt: NOW - 60_000,
  incarnation: "1-a",
  createdAt: NOW - 300_000,
  generation: 0,
  quorum: null,
  ...changes,
});

const observed = (i: CircuitInfo, transitions: ObservedCircuit["transitions"] = []): ObservedCircuit => ({
  info: i,
  transitions,
});

const ctx = (changes: Partial<CardContext> = {}): CardContext => ({
  now: NOW,
  allowControl: true,
  redisUp: true,
  firstSeen: NOW - 120_000,
  ...changes,
});

/** Every node of a tree, depth first. */
function nodes(node: VNode | string): VNode[] {
  if (typeof node === "string") return [];
  return [node, ...(node.children ?? []).flatMap(nodes)];
}
const byClass = (tree: VNode, cls: string): VNode[] =>
  nodes(tree).filter((n) => (n.cls ?? "").split(" ").includes(cls));
const buttons = (tree: VNode) => nodes(tree).filter((n) => n.tag === "button");

describe("the failures row", () => {
  it("a closed circuit: failures against the threshold", () => {
    expect(failuresView(info())).toMatchObject({ text: "0 / 3", tone: "empty", fill: 0, note: null });
    expect(failuresView(info({ failureCount: 2 }))).toMatchObject({ text: "2 / 3", tone: "partial" });
  });

  it("a failed probe: tripped, never 4 / 3 (the count holds the failed probes)", () => {
    const view = failuresView(info({ state: "opened", failureCount: 4, openedAt: NOW - 5000, retryAt: NOW + 25_000 }));
    expect(view).toEqual({
      fill: 1,
      tone: "full",
      text: "tripped",
      note: null,
      title: "4 consecutive failures, threshold 3 (failed probes count too)",
    });
    expect(failuresView(info({ state: "half-opened", failureCount: 3, openedAt: NOW })).text).toBe("tripped");
  });

  it("under a quorum, a closed circuit past its threshold says the quorum is what it waits for", () => {
    const view = failuresView(
      info({
        failureCount: 5,
        config: { threshold: 3, ttl: 30, halfOpenMaxCalls: 1, quorum: { processes: 2 } },
        quorum: { activeCallers: ["a", "b", "c"], openLocally: [], effective: 2 },
      }),
    );
    expect(view).toMatchObject({
      text: "5 ≥ 3",
      tone: "full",
      fill: 1,
      note: "threshold met: opens fleet-wide once 2 processes report failures (quorum)",
    });
  });

  it("isolated: by hand; disabled: counted, never tripping", () => {
    expect(failuresView(info({ state: "isolated", failureCount: 3 })).text).toBe("by hand");
    expect(failuresView(info({ state: "disabled", failureCount: 7 }))).toMatchObject({ text: "7 counted", fill: 1 });
  });
});

describe("the since row", () => {
  it("a circuit that never opened says so, and since when it exists", () => {
    expect(textOf(whenView(observed(info()), ctx()))).toBe("never opened · created 5m 0s ago");
  });

  it("a closed circuit that opened before the page watched: no change seen since it first saw it", () => {
    const view = whenView(
      observed(info({ generation: 4 })),
      ctx({ firstSeen: new Date(2024, 4, 1, 9, 3, 4).getTime() }),
    );
    expect(textOf(view)).toBe("closed · no change seen since 09:03:04");
  });

  it("opened: since when, and when a probe may run, on Redis's clock", () => {
    const opened = info({ state: "opened", failureCount: 3, openedAt: NOW - 700, retryAt: NOW + 29_300 });
    expect(textOf(whenView(observed(opened), ctx()))).toBe("opened 700ms ago · probe in 29s");
  });

  it("a state the page saw begin: since when", () => {
    const transitions = [{ at: NOW - 12_000, from: "closed" as const, to: "isolated" as const }];
    expect(textOf(whenView(observed(info({ state: "isolated", generation: 1 }), transitions), ctx()))).toBe(
      "isolated 12s ago",
    );
  });
});

describe("a card", () => {
  it("its actions are bound to its name, off when pointless, all off (and the card dimmed) while Redis is down", () => {
    const card = cardView(observed(info()), ctx());
    expect(buttons(card).map((b) => [b.data?.action, b.data?.name, b.attrs?.disabled !== undefined])).toEqual([
      ["isolate", "payments", false],
      ["disable", "payments", false],
      ["reset", "payments", true],
    ]);
    const down = cardView(observed(info()), ctx({ redisUp: false }));
    expect(down.cls).toBe("circuit state-closed stale");
    expect(buttons(down).every((b) => b.attrs?.disabled !== undefined)).toBe(true);
    expect(buttons(cardView(observed(info()), ctx({ allowControl: false })))).toEqual([]);
  });

  it("a circuit Redis no longer holds, kept in place under the pointer: marked gone, no action", () => {
    const card = cardView(observed(info()), ctx({ gone: true }));
    expect(byClass(card, "badge")[0]?.text).toBe("gone");
    expect(buttons(card).every((b) => b.attrs?.disabled !== undefined)).toBe(true);
  });

  it("its name is text, and its timeline newest first", () => {
    const name = '<img src=x onerror="alert(1)">';
    const card = cardView(
      observed(info({ name, state: "opened", openedAt: NOW, retryAt: NOW + 1000, generation: 1 }), [
        { at: NOW - 5000, from: null, to: "closed" },
        { at: NOW, from: "closed", to: "opened" },
      ]),
      ctx(),
    );
    expect(byClass(card, "name")[0]).toMatchObject({ tag: "h2", text: name });
    expect(card.data?.circuit).toBe(name);
    expect(byClass(card, "timeline")[0]?.children?.map((li) => textOf(li).slice(8))).toEqual([
      "closed → opened",
      "seen closed",
    ]);
  });
});

describe("the confirmation", () => {
  it("names the circuit and the action, and what follows fleet-wide", () => {
    expect(confirmation("payments-api", "isolate")).toEqual({
      question: "Isolate “payments-api” for the whole fleet?",
      consequence: "Every call to it is rejected, in every process, until a reset.",
      confirm: "Isolate payments-api",
    });
    expect(confirmation("x", "reset").consequence).toBe("It closes and its counts are cleared, in every process.");
  });
});

describe("the header, the banner, the counts and the feed", () => {
  const up = { available: true, error: null, since: null };
  const down = { available: false, error: "connection refused", since: new Date(2024, 4, 1, 12, 3, 4).getTime() };

  it("Redis down: the banner says so in plain words, and that the actions are off", () => {
    expect(bannerText(true, up, true)).toBeNull();
    expect(bannerText(true, down, true)).toBe(
      "Redis is not answering (connection refused) since 12:03:04. The cards show the state last read; actions are off until it answers again.",
    );
    expect(bannerText(true, down, false)).toBe(
      "Redis is not answering (connection refused) since 12:03:04. The cards show the state last read.",
    );
    expect(bannerText(false, up, true)).toMatch(/^The dashboard's server is not answering/);
    expect(statusView(true, down)).toEqual({ cls: "status down", text: "Redis down" });
    expect(statusView(true, up)).toEqual({ cls: "status live", text: "live" });
    expect(statusView(false, up)).toEqual({ cls: "status connecting", text: "reconnecting…" });
  });

  it("counts per state, those that need an eye first; cards in the same order", () => {
    const circuits = [
      info({ name: "b" }),
      info({ name: "a", state: "opened" }),
      info({ name: "c", state: "isolated" }),
    ];
    expect(summaryView(circuits).map(textOf)).toEqual([
      "3circuits",
      "1opened",
      "0half-opened",
      "1isolated",
      "0disabled",
      "1closed",
    ]);
    expect([...circuits].sort(byConcern).map((c) => c.name)).toEqual(["a", "c", "b"]);
  });

  it("the feed: the latest transitions of the fleet, newest first, first sightings left out", () => {
    const feed = feedView([
      observed(info({ name: "a" }), [
        { at: NOW - 9000, from: null, to: "closed" },
        { at: NOW - 1000, from: "closed", to: "opened" },
      ]),
      observed(info({ name: "b" }), [{ at: NOW - 500, from: "opened", to: "closed" }]),
    ]);
    expect(feed.map((li) => textOf(li).slice(8))).toEqual(["bopened → closed", "aclosed → opened"]);
  });
});
