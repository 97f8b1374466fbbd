/// <reference lib="dom" />
/**
 * The dashboard page's script (bundled into the page at build time, see `../script.ts`). It
 * follows the server-sent events of `/events` (`snapshot`, `circuit`, `removed`, `redis`, and the
 * traffic's `traffic-status`, `traffic-history`, `traffic`), keeps one card per circuit shown
 * (re-drawn only when its circuit changed; its traffic block, numbers, sparklines and breakdown by
 * process, kept across redraws and updated every second), the fleet's totals, the counts per
 * state, the feed of transitions and the banner, repaints relative times every second on Redis's
 * clock (the server sends its time with every event), and, when the server allows control, asks
 * before each action and posts it.
 *
 * Many circuits: the cards are those whose name matches the search, in the order chosen
 * (concern, traffic, error rate, name), at most `PAGE_SIZE` of them until "show more" is pressed:
 * 10,000 circuits draw 60 cards, not 10,000.
 *
 * Under stress: while the pointer is over the cards (or a confirmation is open) no card moves (a
 * circuit whose state changes is re-drawn in place, a new one is added last, a gone one stays,
 * marked, until the pointer leaves; the traffic's numbers change in place, the order waits; while a
 * press is down on them nothing is redrawn, so the click lands); the
 * operator's own search, sort or "show more" applies at once. The confirmation names the circuit
 * and the action, and the action is bound to that name. While Redis does not answer, the banner
 * says so, the cards are dimmed and the actions are off; the errors go once it is back.
 *
 * Past 400 lines because it is the page's one owner of state (the cards shown, the order frozen
 * under the pointer, the traffic's store, the stream) and wires it in one place; what it draws is
 * pure and lives beside it (`view.ts`, `traffic-view.ts`, `traffic.ts`, `charts.ts`).
 * @module
 */
import type { ObservedCircuit, ObservedTransition } from "../../fleet/history.js";
import type { WireFrame, WireHistory } from "../traffic-wire.js";
import { Sparkline, type Line, type SparkScale } from "./charts.js";
import { toDom, fill } from "./dom.js";
import { TrafficStore } from "./traffic.js";
import {
  cellHead,
  orderOf,
  processesView,
  quietText,
  sparkData,
  sparkSpan,
  totalsView,
  trafficNote,
  trafficCells,
  trafficSkeleton,
  worstProcesses,
  type Metric,
  type SortMode,
  type TrafficStatusView,
} from "./traffic-view.js";
import {
  bannerText,
  cardView,
  confirmation,
  feedView,
  relative,
  statusView,
  summaryView,
  type ActionName,
  type RedisView,
} from "./view.js";

/** What the page is told when it is served (the `#config` JSON element). */
interface PageConfig {
  readonly prefix: string;
  readonly redis: string;
  readonly allowControl: boolean;
}

interface Snapshot {
  readonly now: number;
  readonly redis: RedisView;
  readonly circuits: ObservedCircuit[];
}

const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
};

const config = JSON.parse(byId("config").textContent ?? "{}") as PageConfig;
const list = byId("circuits");
/** The confirmation (only with control on). */
const dialog = document.getElementById("confirm") as HTMLDialogElement | null;

let circuits = new Map<string, ObservedCircuit>();
/** When the page first saw each circuit (Redis time). */
const firstSeen = new Map<string, number>();
/** Circuits Redis no longer holds, kept in place (marked) while the cards are held still. */
const gone = new Map<string, ObservedCircuit>();
const cards = new Map<string, HTMLElement>();
/** Redis's clock minus this browser's, from the server's latest event. */
let offset = 0;
let redis: RedisView = { available: true, error: null, since: null };
let connected = false;
/** Cards to draw again at the next frame (`all`: every one). */
const dirty = new Set<string>();
let all = false;
let frame = 0;
let pointerInside = false;
/**
 * A press on the cards is down: nothing is drawn until it is released, since the browser drops a
 * click whose pressed element left the page in between (a card's redraw moves its elements).
 */
let pressed = false;
/** Actions posted and not answered yet, by circuit name. */
const pending = new Set<string>();

/** Cards drawn at first, and added by each "show more". */
const PAGE_SIZE = 60;
/** Cards drawn at most now. */
let limit = PAGE_SIZE;
let sortMode: SortMode = "concern";
let query = "";
/** The operator searched, sorted or asked for more: the cards are arranged anew even if held. */
let rearrange = false;
/** Whether the counts per state and the feed need drawing again. */
let countsChanged = true;

const traffic = new TrafficStore();
let trafficStatus: TrafficStatusView = { state: "idle", error: null };

/** A card's traffic: its numbers, sparklines and breakdown, kept across the card's redraws. */
interface TrafficBlock {
  readonly root: HTMLElement;
  readonly heads: Map<Metric, HTMLElement>;
  readonly hosts: Map<Metric, HTMLElement>;
  /** Made once the circuit has a history to draw. */
  charts: Map<Metric, Sparkline> | undefined;
  readonly quiet: HTMLElement;
  readonly details: HTMLDetailsElement;
  readonly summary: HTMLElement;
  readonly procs: HTMLElement;
}
const blocks = new Map<string, TrafficBlock>();
/** The circuits whose breakdown by process is open. */
const expanded = new Set<string>();
/** The fleet's calls/s sparkline. */
let totalsChart: Sparkline | undefined;

/** How each metric's sparkline looks and scales. */
const CHARTS: Readonly<Record<Metric, { lines: Line[]; scale: SparkScale }>> = {
  calls: { lines: [{ stroke: "#5aa9e6", fill: "rgba(90,169,230,.2)" }], scale: { floor: 1 } },
  errors: { lines: [{ stroke: "#e0474c", fill: "rgba(224,71,76,.2)" }], scale: { max: 100 } },
  rejected: { lines: [{ stroke: "#a062d8", fill: "rgba(160,98,216,.2)" }], scale: { floor: 1 } },
  latency: { lines: [{ stroke: "#2fa866" }, { stroke: "#e5a323" }], scale: { floor: 0.01 } },
};

const now = (): number => Date.now() + offset;
/** Whether the cards must hold still: the pointer is over them, or a confirmation is open. */
const held = (): boolean => pointerInside || dialog?.open === true;

function schedule(name?: string): void {
  if (name === undefined) all = true;
  else dirty.add(name);
  arrange();
}

/** Draws at the next frame (the order anew, the cards marked dirty). */
function arrange(): void {
  if (frame === 0) frame = requestAnimationFrame(draw);
}

/** Makes a card's traffic block (its sparklines come with its first history). */
function makeBlock(name: string): TrafficBlock {
  const root = toDom(trafficSkeleton(name)) as HTMLElement;
  const heads = new Map<Metric, HTMLElement>();
  const hosts = new Map<Metric, HTMLElement>();
  root.querySelectorAll<HTMLElement>(".spark").forEach((cell) => {
    const metric = cell.dataset.metric as Metric;
    const head = cell.querySelector<HTMLElement>(".head");
    const host = cell.querySelector<HTMLElement>(".chart");
    if (head !== null) heads.set(metric, head);
    if (host !== null) hosts.set(metric, host);
  });
  const details = root.querySelector("details") as HTMLDetailsElement;
  details.open = expanded.has(name);
  details.addEventListener("toggle", () => {
    if (details.open) expanded.add(name);
    else expanded.delete(name);
  });
  return {
    root,
    heads,
    hosts,
    charts: undefined,
    quiet: root.querySelector(".quiet") as HTMLElement,
    details,
    summary: details.querySelector("summary") as HTMLElement,
    procs: details.querySelector(".procs") as HTMLElement,
  };
}

/** The seconds every sparkline spans now. */
const span = (): number => sparkSpan(traffic.fleet.calls.length);

/** The width of a sparkline in `host` (its cell's, once in the page). */
const widthOf = (host: HTMLElement): number => Math.max(40, Math.floor(host.clientWidth || 140));

/** Draws a card's traffic: its latest second, its sparklines, its processes. */
function updateBlock(name: string, block: TrafficBlock): void {
  const latest = traffic.latest.get(name);
  const series = traffic.series.get(name);
  const quiet = quietText(trafficStatus, series !== undefined);
  block.root.classList.toggle("silent", series === undefined);
  block.quiet.textContent = quiet ?? "";
  for (const cell of trafficCells(latest)) {
    const head = block.heads.get(cell.metric);
    if (head !== undefined) fill(head, cellHead(cell));
  }
  if (series !== undefined) {
    if (block.charts === undefined) {
      const charts = new Map<Metric, Sparkline>();
      for (const [metric, host] of block.hosts) {
        const { lines, scale } = CHARTS[metric];
        charts.set(metric, new Sparkline(host, lines, scale, span, widthOf(host)));
      }
      block.charts = charts;
    }
    for (const [metric, chart] of block.charts) chart.set(sparkData(series, metric));
  }
  const view = processesView(latest);
  block.details.hidden = series === undefined;
  block.details.classList.toggle("failing", latest !== undefined && worstProcesses(latest).length > 0);
  block.summary.textContent = view.summary;
  fill(block.procs, view.table === null ? [] : [view.table]);
}

function dropBlock(name: string): void {
  const block = blocks.get(name);
  if (block === undefined) return;
  for (const chart of block.charts?.values() ?? []) chart.destroy();
  blocks.delete(name);
}

function removeCard(name: string): void {
  cards.get(name)?.remove();
  cards.delete(name);
  dropBlock(name);
}

function drawCard(name: string): void {
  const oc = circuits.get(name) ?? gone.get(name);
  const old = cards.get(name);
  if (oc === undefined) return removeCard(name);
  const ctx = {
    now: now(),
    allowControl: config.allowControl,
    redisUp: redis.available && connected,
    firstSeen: firstSeen.get(name) ?? null,
    gone: gone.has(name),
  };
  const card = toDom(cardView(oc, ctx)) as HTMLElement;
  if (pending.has(name)) card.querySelectorAll("button").forEach((b) => (b.disabled = true));
  let block = blocks.get(name);
  const made = block === undefined;
  block ??= makeBlock(name);
  blocks.set(name, block);
  card.querySelector(".traffic-slot")?.replaceWith(block.root);
  if (old === undefined) list.appendChild(card);
  else old.replaceWith(card);
  cards.set(name, card);
  if (made) updateBlock(name, block);
}

function draw(): void {
  frame = 0;
  // What is dirty stays so: drawn once the press is released.
  if (pressed) return;
  if (!held()) {
    for (const name of gone.keys()) dirty.add(name);
    gone.clear();
  }
  const order = orderOf(
    Array.from(circuits.values(), (c) => c.info),
    sortMode,
    traffic,
    query,
  );
  const target = order.slice(0, limit).map((info) => info.name);
  if (!held() || rearrange) {
    // The cards wanted, in the order chosen, unless the cards are held still.
    const wanted = new Set(target);
    for (const name of [...cards.keys()]) if (!wanted.has(name)) removeCard(name);
    for (const name of target) if (all || dirty.has(name) || !cards.has(name)) drawCard(name);
    const next = target.map((name) => cards.get(name)).filter((card) => card !== undefined);
    const current = Array.from(list.children);
    if (next.length !== current.length || next.some((card, i) => card !== current[i])) list.replaceChildren(...next);
  } else {
    // Held: redrawn in place; a new one added last (while there is room).
    for (const name of [...cards.keys()]) if (all || dirty.has(name)) drawCard(name);
    for (const name of target) if (!cards.has(name) && cards.size < limit) drawCard(name);
  }
  all = false;
  rearrange = false;
  dirty.clear();
  drawShown(order.length);
  if (countsChanged) {
    countsChanged = false;
    const infos = Array.from(circuits.values(), (c) => c.info);
    byId("empty").hidden = circuits.size > 0;
    fill(byId("summary"), summaryView(infos));
    fill(byId("feed"), feedView([...circuits.values()]));
  }
  drawStatus();
}

/** How many cards are shown of how many, the "show more" button, and a search that finds none. */
function drawShown(matching: number): void {
  const shown = cards.size;
  const searched = query.trim() !== "";
  const of = searched ? `${matching} of ${circuits.size} match` : `${circuits.size} circuits`;
  byId("shown").textContent = circuits.size === 0 ? "" : shown < matching ? `showing ${shown} · ${of}` : of;
  const nomatch = byId("nomatch");
  nomatch.hidden = !(searched && matching === 0 && circuits.size > 0);
  nomatch.textContent = nomatch.hidden ? "" : `No circuit name contains “${query.trim()}”.`;
  const slot = byId("more-slot");
  const more = Math.min(PAGE_SIZE, matching - limit);
  if (more <= 0) slot.replaceChildren();
  else {
    const text = `Show ${more} more (${matching - limit} not shown)`;
    const button = slot.querySelector("button") ?? slot.appendChild(document.createElement("button"));
    button.type = "button";
    button.id = "more";
    button.textContent = text;
  }
}

/** Draws the fleet's totals and every shown card's traffic (once a second). */
function drawTraffic(): void {
  fill(byId("totals-numbers"), totalsView(traffic.totals));
  byId("traffic-note").textContent = trafficNote(trafficStatus, traffic.cut);
  if (traffic.fleet.calls.length > 0) {
    const host = byId("totals-chart");
    totalsChart ??= new Sparkline(host, CHARTS.calls.lines, CHARTS.calls.scale, span, widthOf(host));
    totalsChart.set(sparkData(traffic.fleet, "calls"));
  }
  for (const [name, block] of blocks) updateBlock(name, block);
}

function drawStatus(): void {
  const status = byId("status");
  const view = statusView(connected, redis);
  status.className = view.cls;
  status.textContent = view.text;
  const banner = byId("banner");
  const text = bannerText(connected, redis, config.allowControl);
  banner.hidden = text === null;
  banner.textContent = text ?? "";
  list.classList.toggle("stale", text !== null);
}

/** Repaints every relative time (`12s ago`, `in 18s`). */
function tick(): void {
  const at = now();
  document.querySelectorAll<HTMLElement>("span.ago").forEach((span) => {
    const { dataset } = span;
    span.textContent = `${dataset.prefix ?? ""}${relative(Number(dataset.at), at, dataset.future === "1")}${dataset.suffix ?? ""}`;
  });
}

let toastTimer = 0;
function toast(text: string): void {
  const element = byId("toast");
  element.textContent = text;
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (element.textContent = ""), 10_000);
}

/** Asks before an action on the whole fleet; the answer acts on `name`, whatever moved since. */
function ask(name: string, action: ActionName): void {
  if (dialog === null) return;
  const words = confirmation(name, action);
  byId("confirm-question").textContent = words.question;
  byId("confirm-consequence").textContent = words.consequence;
  const yes = byId<HTMLButtonElement>("confirm-yes");
  yes.textContent = words.confirm;
  yes.className = action;
  dialog.dataset.name = name;
  dialog.dataset.action = action;
  dialog.showModal();
  byId<HTMLButtonElement>("confirm-no").focus();
}

function answered(yes: boolean): void {
  if (dialog === null) return;
  const { name, action } = dialog.dataset;
  dialog.close();
  if (yes && name !== undefined && action !== undefined) void act(name, action as ActionName);
  schedule();
}

async function act(name: string, action: ActionName): Promise<void> {
  pending.add(name);
  schedule(name);
  try {
    const response = await fetch(`api/circuits/${encodeURIComponent(name)}/${action}`, {
      method: "POST",
      headers: { "x-purgatory-control": "1" },
    });
    const body = (await response.json()) as { error?: string };
    if (!response.ok) throw new Error(body.error ?? response.statusText);
  } catch (error) {
    toast(`${action} “${name}”: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    pending.delete(name);
    schedule(name);
  }
}

/** Parses an event's data and takes the server's time. */
function data<T>(event: Event): T & { now: number } {
  const parsed = JSON.parse((event as MessageEvent<string>).data) as T & { now: number };
  if (typeof parsed.now === "number") offset = parsed.now - Date.now();
  return parsed;
}

function setRedis(next: RedisView): void {
  const back = !redis.available && next.available;
  redis = next;
  if (back) byId("toast").textContent = "";
  schedule();
}

function seen(oc: ObservedCircuit): void {
  countsChanged = true;
  const name = oc.info.name;
  if (!firstSeen.has(name)) firstSeen.set(name, now());
  circuits.set(name, oc);
  gone.delete(name);
}

const source = new EventSource("events");
source.addEventListener("snapshot", (event) => {
  const d = data<Snapshot>(event);
  const previous = circuits;
  circuits = new Map();
  countsChanged = true;
  for (const oc of d.circuits) seen(oc);
  for (const [name, oc] of previous) if (!circuits.has(name) && held()) gone.set(name, oc);
  connected = true;
  setRedis(d.redis);
});
source.addEventListener("circuit", (event) => {
  const d = data<{ circuit: ObservedCircuit; added: ObservedTransition[] }>(event);
  seen(d.circuit);
  schedule(d.circuit.info.name);
});
source.addEventListener("removed", (event) => {
  const { name } = data<{ name: string }>(event);
  countsChanged = true;
  const oc = circuits.get(name);
  circuits.delete(name);
  if (oc !== undefined && held()) gone.set(name, oc);
  schedule(name);
});
source.addEventListener("redis", (event) => setRedis(data<{ status: RedisView }>(event).status));
source.addEventListener("traffic-status", (event) => {
  const { state, error } = data<TrafficStatusView>(event);
  trafficStatus = { state, error };
  drawTraffic();
});
source.addEventListener("traffic-history", (event) => {
  traffic.applyHistory(data<WireHistory>(event));
  drawTraffic();
  if (sortMode === "traffic" || sortMode === "errors") arrange();
});
source.addEventListener("traffic", (event) => {
  traffic.applyFrame(data<WireFrame>(event));
  drawTraffic();
  // The order by traffic or error rate follows (unless the cards are held still).
  if (sortMode === "traffic" || sortMode === "errors") arrange();
});
source.addEventListener("open", () => {
  connected = true;
  schedule();
});
source.addEventListener("error", () => {
  connected = false;
  schedule();
});

list.addEventListener("pointerenter", () => (pointerInside = true));
list.addEventListener("pointerdown", () => (pressed = true));
for (const type of ["pointerup", "pointercancel"] as const) {
  window.addEventListener(type, () => {
    if (!pressed) return;
    pressed = false;
    arrange();
  });
}
list.addEventListener("pointerleave", () => {
  pointerInside = false;
  schedule();
});
list.addEventListener("click", (event) => {
  const button = (event.target as Element | null)?.closest<HTMLButtonElement>("button[data-action]");
  if (button === null || button === undefined || button.disabled) return;
  const { name, action } = button.dataset;
  if (name !== undefined && action !== undefined) ask(name, action as ActionName);
});
if (dialog !== null) {
  byId("confirm-yes").addEventListener("click", () => answered(true));
  byId("confirm-no").addEventListener("click", () => answered(false));
  dialog.addEventListener("cancel", () => {
    // Escape: nothing happens.
    delete dialog.dataset.name;
    schedule();
  });
}
// A search or sort the browser kept (back, reload) holds from the start.
query = byId<HTMLInputElement>("search").value;
sortMode = (byId<HTMLSelectElement>("sort").value || "concern") as SortMode;
byId<HTMLInputElement>("search").addEventListener("input", (event) => {
  query = (event.target as HTMLInputElement).value;
  limit = PAGE_SIZE;
  rearrange = true;
  arrange();
});
byId<HTMLSelectElement>("sort").addEventListener("change", (event) => {
  sortMode = (event.target as HTMLSelectElement).value as SortMode;
  rearrange = true;
  arrange();
});
byId("more-slot").addEventListener("click", () => {
  limit += PAGE_SIZE;
  rearrange = true;
  arrange();
});
let resizing = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = window.setTimeout(() => {
    for (const block of blocks.values())
      for (const [metric, chart] of block.charts ?? []) {
        const host = block.hosts.get(metric);
        if (host !== undefined) chart.resize(widthOf(host));
      }
  }, 200);
});
setInterval(tick, 1000);
drawStatus();
drawTraffic();
