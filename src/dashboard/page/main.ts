/// <reference lib="dom" />
/**
 * The dashboard page's script (bundled into the page at build time, see `../script.ts`). It
 * follows the server-sent events of `/events` (`snapshot`, `circuit`, `removed`, `redis`), keeps
 * one card per circuit (re-drawn only when its circuit changed), the counts per state, the feed of
 * transitions and the banner, repaints relative times every second on Redis's clock (the server
 * sends its time with every event), and, when the server allows control, asks before each action
 * and posts it.
 *
 * Under stress: while the pointer is over the cards (or a confirmation is open) no card moves (a
 * circuit whose state changes is re-drawn in place, a new one is added last, a gone one stays,
 * marked, until the pointer leaves); the confirmation names the circuit and the action, and the
 * action is bound to that name. While Redis does not answer, the banner says so, the cards are
 * dimmed and the actions are off; the errors go once it is back.
 * @module
 */
import type { ObservedCircuit, ObservedTransition } from "../history.js";
import { toDom, fill } from "./dom.js";
import {
  bannerText,
  byConcern,
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
/** Actions posted and not answered yet, by circuit name. */
const pending = new Set<string>();

const now = (): number => Date.now() + offset;
/** Whether the cards must hold still: the pointer is over them, or a confirmation is open. */
const held = (): boolean => pointerInside || dialog?.open === true;

function schedule(name?: string): void {
  if (name === undefined) all = true;
  else dirty.add(name);
  if (frame === 0) frame = requestAnimationFrame(draw);
}

function drawCard(name: string): void {
  const oc = circuits.get(name) ?? gone.get(name);
  const old = cards.get(name);
  if (oc === undefined) {
    old?.remove();
    cards.delete(name);
    return;
  }
  const ctx = {
    now: now(),
    allowControl: config.allowControl,
    redisUp: redis.available && connected,
    firstSeen: firstSeen.get(name) ?? null,
    gone: gone.has(name),
  };
  const card = toDom(cardView(oc, ctx)) as HTMLElement;
  if (pending.has(name)) card.querySelectorAll("button").forEach((b) => (b.disabled = true));
  if (old === undefined) list.appendChild(card);
  else old.replaceWith(card);
  cards.set(name, card);
}

function draw(): void {
  frame = 0;
  if (!held()) {
    for (const name of gone.keys()) dirty.add(name);
    gone.clear();
  }
  const names = all ? new Set([...cards.keys(), ...circuits.keys()]) : new Set(dirty);
  all = false;
  dirty.clear();
  for (const name of names) drawCard(name);
  if (!held()) {
    // The order of concern, unless the cards are held still.
    const order = [...circuits.values()].sort((a, b) => byConcern(a.info, b.info)).map((c) => cards.get(c.info.name));
    const current = Array.from(list.children);
    if (order.length !== current.length || order.some((card, i) => card !== current[i]))
      list.replaceChildren(...order.filter((card) => card !== undefined));
  }
  const infos = [...circuits.values()].map((c) => c.info);
  byId("empty").hidden = circuits.size > 0;
  fill(byId("summary"), summaryView(infos));
  fill(byId("feed"), feedView([...circuits.values()]));
  drawStatus();
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
  const oc = circuits.get(name);
  circuits.delete(name);
  if (oc !== undefined && held()) gone.set(name, oc);
  schedule(name);
});
source.addEventListener("redis", (event) => setRedis(data<{ status: RedisView }>(event).status));
source.addEventListener("open", () => {
  connected = true;
  schedule();
});
source.addEventListener("error", () => {
  connected = false;
  schedule();
});

list.addEventListener("pointerenter", () => (pointerInside = true));
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
setInterval(tick, 1000);
drawStatus();
