/**
 * What the dashboard's page shows, as plain data: each part of the page (a circuit's card, the
 * counts per state, the feed of transitions, the banner) is a pure function from what the server
 * sent and the time to a tree of `VNode`s, which `dom.ts` turns into elements (text only ever set
 * as text). No DOM here, so the rendering is tested without a browser.
 *
 * Past 400 lines because the card, the counts, the feed and the banner share their small
 * formatters; the traffic's parts are `traffic-view.ts`'s.
 * @module
 */
import type { CircuitStateName } from "../../core/circuit.js";
import {
  byProcessName,
  duration,
  elapsed,
  knownProcesses,
  processLabel,
  quorumPolicy,
  shortList,
} from "../../fleet/format.js";
import type { ObservedCircuit, ObservedTransition } from "../../fleet/history.js";
import type { CircuitInfo, QuorumInfo } from "../../storage/redis/inspect.js";

/** An element to make: its tag, class, text (set as text), attributes, data-*, style and children. */
export interface VNode {
  readonly tag: string;
  readonly cls?: string;
  readonly text?: string;
  readonly attrs?: Readonly<Record<string, string>>;
  readonly data?: Readonly<Record<string, string>>;
  readonly style?: Readonly<Record<string, string>>;
  readonly children?: readonly (VNode | string)[];
}

/** Makes a `VNode`. */
export function h(
  tag: string,
  props: Omit<VNode, "tag" | "children"> = {},
  children: readonly (VNode | string | null | false)[] = [],
): VNode {
  const kept = children.filter((c): c is VNode | string => c !== null && c !== false);
  return { tag, ...props, ...(kept.length > 0 ? { children: kept } : {}) };
}

/** The text a tree shows (for tests and titles). */
export function textOf(node: VNode | string): string {
  if (typeof node === "string") return node;
  return (node.text ?? "") + (node.children ?? []).map(textOf).join("");
}

/** The states, those that need an eye first. */
export const STATES: readonly CircuitStateName[] = ["opened", "half-opened", "isolated", "disabled", "closed"];

/** Whether Redis answers, as the server says it. */
export interface RedisView {
  readonly available: boolean;
  readonly error: string | null;
  /** When it stopped answering (epoch ms), `null` while it answers. */
  readonly since: number | null;
}

/** What a card needs besides its circuit. */
export interface CardContext {
  /** Redis's time now (epoch ms). */
  readonly now: number;
  /** Whether the page may act (started with `--allow-control`). */
  readonly allowControl: boolean;
  /** Whether Redis answers: when not, the card is dimmed and its actions are off. */
  readonly redisUp: boolean;
  /** When the page first saw the circuit (epoch ms, Redis time). */
  readonly firstSeen: number | null;
  /** Whether Redis no longer holds it (kept in place while the pointer is over the cards). */
  readonly gone?: boolean;
}

const percent = (rate: number): string => `${Math.round(rate * 1000) / 10}%`;
const plural = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;

/** A clock time `12:03:04` (this browser's time zone). */
export function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** `12s ago`, or `in 18s` / `now` for a time to come. */
export function relative(at: number, now: number, future = false): string {
  if (future) return at <= now ? "now" : `in ${elapsed(at - now)}`;
  return `${elapsed(now - at)} ago`;
}

/**
 * A span (class `ago`) whose text is `prefix` + the time from `at` + `suffix`, repainted every
 * second by the page (it keeps `at` and the words in data-*).
 */
export function since(at: number, now: number, prefix: string, suffix = "", future = false): VNode {
  return h("span", {
    cls: "ago",
    text: `${prefix}${relative(at, now, future)}${suffix}`,
    data: { at: String(at), prefix, suffix, ...(future ? { future: "1" } : {}) },
  });
}

/** The config in words: `ttl 30s · 1 probe at once · failure rate ≥ 50% of ≥ 20 calls in 60s`. */
export function policiesText(info: CircuitInfo): string {
  const c = info.config;
  const out = [`ttl ${duration(c.ttl)}`, `${plural(c.halfOpenMaxCalls, "probe")} at once`];
  if (c.failureRate !== undefined)
    out.push(
      `failure rate ≥ ${percent(c.failureRate.rate)} of ≥ ${c.failureRate.minimumCalls} calls in ${duration(c.failureRate.window)}`,
    );
  if (c.slowCall !== undefined) out.push(`slow (> ${duration(c.slowCall.duration)}) ≥ ${percent(c.slowCall.rate)}`);
  if (c.backoff !== undefined) out.push(`backoff ×${c.backoff.multiplier} up to ${duration(c.backoff.maxTtl)}`);
  return out.join(" · ");
}

/** How the failures row reads: the bar's fill (0 to 1), its tone, the number's text and a note. */
export interface FailuresView {
  readonly fill: number;
  readonly tone: "empty" | "partial" | "full";
  readonly text: string;
  /** A line under the bar, or `null`. */
  readonly note: string | null;
  /** The whole story, as a tooltip. */
  readonly title: string;
}

/**
 * The failures row. A closed circuit: `2 / 5`. A tripped one (opened, half-opened) says
 * `tripped`: its count also holds the failed probes, and `4 / 3` would read as a bug. Under a
 * quorum a closed circuit's count may pass the threshold while too few processes back it:
 * `5 ≥ 3`, with a note saying what the opening waits for. Isolated: by hand; disabled: counted,
 * never tripping.
 */
export function failuresView(info: CircuitInfo): FailuresView {
  const f = info.failureCount;
  const th = info.config.threshold;
  const told = `${plural(f, "consecutive failure")}, threshold ${th}`;
  switch (info.state) {
    case "opened":
    case "half-opened":
      return {
        fill: 1,
        tone: "full",
        text: "tripped",
        note: null,
        title: `${told} (failed probes count too)`,
      };
    case "isolated":
      return { fill: 0, tone: "empty", text: "by hand", note: null, title: `isolated by an operator; ${told}` };
    case "disabled":
      return {
        fill: Math.min(1, f / th),
        tone: f === 0 ? "empty" : "partial",
        text: `${f} counted`,
        note: null,
        title: `disabled: failures are counted and never trip it; ${told}`,
      };
    case "closed": {
      if (f < th)
        return { fill: f / th, tone: f === 0 ? "empty" : "partial", text: `${f} / ${th}`, note: null, title: told };
      const needed = info.quorum?.effective ?? info.config.quorum?.processes ?? 1;
      return {
        fill: 1,
        tone: "full",
        text: `${f} ≥ ${th}`,
        note: `threshold met: opens fleet-wide once ${plural(needed, "process", "processes")} report failures (quorum)`,
        title: `${told}: the trip rule is met, the quorum is not`,
      };
    }
  }
}

/** The transition a circuit's current state came from, if the page saw it. */
function lastEntry(oc: ObservedCircuit): ObservedTransition | null {
  for (let i = oc.transitions.length - 1; i >= 0; i--) {
    const t = oc.transitions[i] as ObservedTransition;
    if (t.to === oc.info.state && t.from !== null) return t;
  }
  return null;
}

/**
 * The `since` row: when it opened and when it may probe; the probes running; when it entered its
 * state; or, never seen to change, `never opened` (it never left closed since it was created) or
 * `closed · no change seen since 12:03:04`.
 */
export function whenView(oc: ObservedCircuit, ctx: CardContext): VNode {
  const { info } = oc;
  const { now } = ctx;
  const parts: (VNode | string)[] = [];
  const entry = lastEntry(oc);
  if (info.state === "opened" && info.openedAt !== null && info.retryAt !== null) {
    parts.push(since(info.openedAt, now, "opened "), " · ", since(info.retryAt, now, "probe ", "", true));
  } else if (info.state === "half-opened" && info.openedAt !== null) {
    parts.push(`${info.probes} / ${plural(info.config.halfOpenMaxCalls, "probe")} running · `);
    parts.push(since(info.openedAt, now, "opened "));
  } else if (entry !== null) {
    parts.push(since(entry.at, now, `${info.state} `));
  } else if (info.state === "closed" && info.generation === 0) {
    parts.push("never opened");
    if (info.createdAt !== null) parts.push(" · ", since(info.createdAt, now, "created "));
  } else {
    parts.push(`${info.state}${ctx.firstSeen === null ? "" : ` · no change seen since ${clock(ctx.firstSeen)}`}`);
  }
  return h("span", { cls: "value when" }, parts);
}

function row(cls: string, label: string, content: VNode | string): VNode {
  return h("div", { cls: `row ${cls}` }, [
    h("span", { cls: "label", text: label }),
    typeof content === "string" ? h("span", { cls: "value", text: content }) : content,
  ]);
}

/** The rows of a circuit with a quorum: needed now, active callers, processes open for themselves. */
function quorumRows(info: CircuitInfo, quorum: QuorumInfo, now: number): VNode[] {
  const rows = [row("quorum", "quorum", `${quorumPolicy(info.config.quorum)}: ${quorum.effective} needed now`)];
  const names = [...quorum.activeCallers].sort(byProcessName);
  const callers = names.length === 0 ? "none active" : `${names.length} active: ${shortList(names, 40)}`;
  rows.push(
    h("div", { cls: "row callers", attrs: { title: names.join("\n") } }, [
      h("span", { cls: "label", text: "callers" }),
      h("span", { cls: "value", text: callers }),
    ]),
  );
  if (quorum.openLocally.length === 0) return rows;
  const known = knownProcesses(quorum);
  const value: (VNode | string)[] = [
    `${quorum.openLocally.length} of ${plural(known, "process", "processes")} open locally: `,
  ];
  quorum.openLocally.slice(0, 3).forEach((p, i) => {
    if (i > 0) value.push("; ");
    value.push(h("span", { cls: "process", text: processLabel(p.process), attrs: { title: p.process } }));
    value.push(since(p.retryAt, now, ", probe ", "", true));
  });
  if (quorum.openLocally.length > 3) value.push(` and ${quorum.openLocally.length - 3} more`);
  rows.push(row("local", "local", h("span", { cls: "value" }, value)));
  return rows;
}

/** A transition in words: `closed → opened`, `seen closed`, `opened again`. */
export function transitionText(t: ObservedTransition): string {
  if (t.from === null) return `seen ${t.to}`;
  return t.from === t.to ? `${t.to} again` : `${t.from} → ${t.to}`;
}

/** The actions of a card: [action, the state it leads to, what it does, in words]. */
export const ACTIONS = [
  ["isolate", "isolated", "every call to it is rejected, in every process, until a reset"],
  ["disable", "disabled", "every call to it runs and nothing trips it, in every process, until a reset"],
  ["reset", "closed", "it closes and its counts are cleared, in every process"],
] as const;

/** An action's name. */
export type ActionName = (typeof ACTIONS)[number][0];

/** Whether `action` would change nothing: isolating an isolated circuit, resetting a clean closed one. */
export function pointless(info: CircuitInfo, action: ActionName): boolean {
  const to = ACTIONS.find(([a]) => a === action)?.[1];
  return info.state === to && (action !== "reset" || info.failureCount === 0);
}

/** A circuit's card. */
export function cardView(oc: ObservedCircuit, ctx: CardContext): VNode {
  const { info } = oc;
  const failures = failuresView(info);
  const stale = !ctx.redisUp || ctx.gone === true;
  const transitions = [...oc.transitions]
    .reverse()
    .map((t) =>
      h("li", { cls: `state-${t.to}` }, [
        h("time", { text: clock(t.at), attrs: { datetime: new Date(t.at).toISOString() } }),
        h("span", { cls: "dot" }),
        h("span", { text: transitionText(t) }),
      ]),
    );
  const window = info.window;
  return h(
    "article",
    {
      cls: `circuit state-${info.state}${stale ? " stale" : ""}`,
      data: { circuit: info.name, state: info.state },
    },
    [
      h("div", { cls: "top" }, [
        h("h2", { cls: "name", text: info.name, attrs: { title: info.name } }),
        h("span", { cls: `badge state-${info.state}`, text: ctx.gone === true ? "gone" : info.state }),
      ]),
      h("div", { cls: "row failures", attrs: { title: failures.title } }, [
        h("span", { cls: "label", text: "failures" }),
        h("div", { cls: `meter ${failures.tone}` }, [
          h("div", { style: { width: `${Math.round(failures.fill * 100)}%` } }),
        ]),
        h("span", { cls: "num", text: failures.text }),
      ]),
      failures.note !== null && h("div", { cls: "row note" }, [h("span", { cls: "value", text: failures.note })]),
      window !== null &&
        row(
          "window",
          "window",
          `${window.calls} calls · ${window.failures} failed · ${window.slow} slow` +
            (window.calls > 0 ? ` (${percent(window.failures / window.calls)} failed)` : ""),
        ),
      // The traffic (numbers, sparklines, processes): kept by the page across redraws, put here.
      h("div", { cls: "traffic-slot" }),
      row("config", "config", policiesText(info)),
      ...(info.quorum === null ? [] : quorumRows(info, info.quorum, ctx.now)),
      row("since", "since", whenView(oc, ctx)),
      h("ol", { cls: "timeline", attrs: { "aria-label": `transitions of ${info.name}` } }, transitions),
      ctx.allowControl &&
        h(
          "div",
          { cls: "actions" },
          ACTIONS.map(([action]) =>
            h("button", {
              cls: action,
              text: action,
              attrs: {
                type: "button",
                ...(stale || pointless(info, action) ? { disabled: "" } : {}),
                title: stale ? "Redis is not answering: actions are off" : `${action} ${info.name} (asks first)`,
              },
              data: { action, name: info.name },
            }),
          ),
        ),
    ],
  );
}

/** The question the page asks before an action, naming the circuit and what happens. */
export function confirmation(
  name: string,
  action: ActionName,
): { question: string; consequence: string; confirm: string } {
  const what = ACTIONS.find(([a]) => a === action)?.[2] ?? "";
  const verb = `${action[0]?.toUpperCase() ?? ""}${action.slice(1)}`;
  return {
    question: `${verb} “${name}” for the whole fleet?`,
    consequence: `${what[0]?.toUpperCase() ?? ""}${what.slice(1)}.`,
    confirm: `${verb} ${name}`,
  };
}

/** The order of the cards: those that need an eye first, then by name. */
export function byConcern(a: CircuitInfo, b: CircuitInfo): number {
  const sa = STATES.indexOf(a.state);
  const sb = STATES.indexOf(b.state);
  if (sa !== sb) return sa - sb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The counts above the cards: every circuit, then each state. */
export function summaryView(circuits: readonly CircuitInfo[]): VNode[] {
  const chips = [
    h("div", { cls: "count" }, [
      h("b", { text: String(circuits.length) }),
      circuits.length === 1 ? "circuit" : "circuits",
    ]),
  ];
  for (const state of STATES) {
    const n = circuits.filter((c) => c.state === state).length;
    chips.push(
      h("div", { cls: `count state-${state}`, data: { count: state } }, [
        h("span", { cls: "dot" }),
        h("b", { text: String(n) }),
        state,
      ]),
    );
  }
  return chips;
}

/** The fleet's latest transitions (at most `limit`), newest first. */
export function feedView(circuits: readonly ObservedCircuit[], limit = 40): VNode[] {
  const feed: { name: string; t: ObservedTransition }[] = [];
  for (const c of circuits) for (const t of c.transitions) if (t.from !== null) feed.push({ name: c.info.name, t });
  feed.sort((a, b) => b.t.at - a.t.at);
  return feed
    .slice(0, limit)
    .map(({ name, t }) =>
      h("li", { cls: `state-${t.to}` }, [
        h("time", { text: clock(t.at) }),
        h("span", { cls: "dot" }),
        h("div", { cls: "what" }, [
          h("div", { cls: "who", text: name, attrs: { title: name } }),
          h("div", { cls: "change", text: transitionText(t) }),
        ]),
      ]),
    );
}

/** The header's badge: `live`, `Redis down`, or `reconnecting…` when the page lost the server. */
export function statusView(connected: boolean, redis: RedisView): { cls: string; text: string } {
  if (!connected) return { cls: "status connecting", text: "reconnecting…" };
  if (!redis.available) return { cls: "status down", text: "Redis down" };
  return { cls: "status live", text: "live" };
}

/**
 * The banner under the header, in plain words, or `null` when all is well: Redis is not answering
 * (why, since when; the cards show the last state read; actions are off), or the page lost the
 * dashboard's server.
 */
export function bannerText(connected: boolean, redis: RedisView, allowControl: boolean): string | null {
  if (!connected)
    return "The dashboard's server is not answering: trying again every second. The cards show what it last sent.";
  if (redis.available) return null;
  const why = redis.error === null ? "" : ` (${redis.error})`;
  const when = redis.since === null ? "" : ` since ${clock(redis.since)}`;
  return (
    `Redis is not answering${why}${when}. The cards show the state last read` +
    (allowControl ? "; actions are off until it answers again." : ".")
  );
}
