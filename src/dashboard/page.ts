/**
 * The dashboard's one page: HTML and CSS inline, with the script bundled from `page/` (see
 * `script.ts`; the traffic's sparklines are uPlot's, bundled in too), nothing fetched from
 * elsewhere (it must work on a machine without internet). Its inline style and script carry a
 * per-response nonce that the Content-Security-Policy allows, and nothing else.
 * @module
 */
import { SORT_MODES } from "./page/traffic-view.js";

/** What the page is told when it is served. */
export interface PageConfig {
  /** The fleet's key prefix. */
  readonly prefix: string;
  /** The Redis URL, password masked. */
  readonly redis: string;
  /** Whether to show the isolate / disable / reset buttons. */
  readonly allowControl: boolean;
}

/** JSON safe inside a `<script>` element (no `</script>` can close it early). */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");

/** Text safe inside HTML. */
const html = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

/**
 * The Content-Security-Policy of the page: its own inline style and script (by nonce), requests
 * to its own origin only, no frames, no forms, no plug-ins.
 */
export function pageSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * The page, for one response (`nonce` must be new for each).
 *
 * @example
 * ```ts
 * const body = renderPage({ prefix: "purgatory", redis: "redis://127.0.0.1:6379", allowControl: false }, await pageScript(), nonce);
 * ```
 */
export function renderPage(config: PageConfig, script: string, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>purgatory · ${html(config.prefix)}</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header>
  <h1>purgatory <span class="dim">fleet</span></h1>
  <div class="where"><span class="dim">redis</span> <code id="redis-url">${html(config.redis)}</code>
    <span class="dim">prefix</span> <code id="prefix">${html(config.prefix)}</code></div>
  <div id="status" class="status connecting" role="status">connecting…</div>
</header>
<div id="banner" role="alert" hidden></div>
<section id="totals" aria-label="the fleet's traffic"><div id="totals-numbers"></div>
  <div class="total spark-total"><span class="label">fleet calls/s</span><div id="totals-chart" class="chart"></div></div>
  <div id="traffic-note" class="dim"></div></section>
<section id="summary" aria-label="circuits per state"></section>
<div class="layout">
  <main>
    <div class="toolbar">
      <input type="search" id="search" placeholder="Filter by name" aria-label="filter the circuits by name" autocomplete="off" spellcheck="false">
      <label class="sort"><span class="dim">sort by</span> <select id="sort" aria-label="sort the circuits by">${SORT_MODES.map(([value, label]) => `<option value="${value}">${html(label)}</option>`).join("")}</select></label>
      <span id="shown" class="dim" role="status"></span>
    </div>
    <p id="empty" hidden>No circuit under this prefix yet: they appear here as soon as a process registers one.</p>
    <p id="nomatch" hidden></p>
    <div id="circuits"></div>
    <div id="more-slot"></div>
  </main>
  <aside>
    <h2>Transitions</h2>
    <ol id="feed"></ol>
  </aside>
</div>
<footer>Follows the circuits' channels and shows what changed; while a page is open, the processes report their traffic once a second.
  Control ${config.allowControl ? "<strong>on</strong> (isolate / disable / reset act on the whole fleet, after a confirmation)" : "off (start with --allow-control for buttons)"}.
  <span id="toast" role="alert"></span></footer>
${config.allowControl ? CONFIRMATION : ""}<script type="application/json" id="config">${scriptJson(config)}</script>
<script nonce="${nonce}">${script.replace(/<\/script/gi, "<\\/script")}</script>
</body>
</html>
`;
}

/** The dialog that asks before an action (only with control on). */
const CONFIRMATION = `<dialog id="confirm" aria-labelledby="confirm-question">
  <p id="confirm-question"></p>
  <p id="confirm-consequence" class="dim"></p>
  <div class="choices"><button type="button" id="confirm-no">Cancel</button> <button type="button" id="confirm-yes"></button></div>
</dialog>
`;

const STYLE = `
:root { color-scheme: dark; --bg: #0e1217; --card: #171d25; --line: #263040; --text: #dde3ea; --dim: #8593a3;
  --closed: #2fa866; --opened: #e0474c; --half-opened: #e5a323; --isolated: #a062d8; --disabled: #7d8793; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
code, .name, time, .num { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
header { display: flex; align-items: center; gap: 24px; padding: 14px 24px; border-bottom: 1px solid var(--line); background: #121821; }
h1 { margin: 0; font-size: 20px; letter-spacing: .02em; white-space: nowrap; }
.dim { color: var(--dim); font-weight: normal; }
.where { flex: 1; min-width: 0; color: var(--text); }
.where code { background: #1d2530; padding: 2px 6px; border-radius: 4px; margin-right: 12px; }
.status { flex: none; padding: 3px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.status.live { background: rgba(47,168,102,.15); color: var(--closed); }
.status.live::before { content: "● "; }
.status.connecting, .status.down { background: rgba(224,71,76,.15); color: var(--opened); }
#banner { margin: 14px 24px 0; padding: 10px 14px; border: 1px solid var(--opened); border-radius: 8px;
  background: rgba(224,71,76,.12); color: #ffc2c4; }
#summary { display: flex; flex-wrap: wrap; gap: 10px; padding: 14px 24px 0; }
.count { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 6px 12px; }
.count b { font-size: 18px; margin-right: 6px; }
.layout { display: grid; grid-template-columns: 1fr 300px; gap: 18px; padding: 14px 24px 24px; align-items: start; }
#circuits { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(330px, 100%), 1fr)); gap: 14px; }
#circuits.stale .circuit, .circuit.stale { opacity: .5; filter: grayscale(.7); }
.circuit { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--state); border-radius: 8px; padding: 12px 14px; }
.circuit .top { display: flex; align-items: center; justify-content: space-between; gap: 8px; margin-bottom: 8px; }
.circuit .name { margin: 0; font-size: 15px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.badge { display: inline-block; padding: 2px 9px; border-radius: 999px; font-size: 12px; font-weight: 700;
  color: #0e1217; background: var(--state); white-space: nowrap; }
.state-closed { --state: var(--closed); } .state-opened { --state: var(--opened); } .state-half-opened { --state: var(--half-opened); }
.state-isolated { --state: var(--isolated); } .state-disabled { --state: var(--disabled); }
.row { display: flex; align-items: center; gap: 8px; margin: 4px 0; }
.label { color: var(--dim); width: 64px; flex: none; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.meter { flex: 1; height: 8px; background: #0e1217; border-radius: 4px; overflow: hidden; }
.meter > div { height: 100%; background: var(--half-opened); }
.meter.full > div { background: var(--opened); }
.meter.empty > div { background: var(--closed); }
.row.note .value { color: var(--half-opened); font-size: 12px; }
.num { min-width: 56px; text-align: right; }
.row.local .value { color: var(--opened); }
.timeline { list-style: none; margin: 8px 0 0; padding: 8px 0 0; border-top: 1px dashed var(--line); font-size: 12px; max-height: 132px; overflow: auto; }
.timeline li, #feed li { display: flex; gap: 8px; align-items: center; padding: 1px 0; }
.timeline time, #feed time { color: var(--dim); }
.dot { width: 8px; height: 8px; border-radius: 50%; background: var(--state); flex: none; }
.actions { display: flex; gap: 8px; margin-top: 10px; }
button { background: #222b36; color: var(--text); border: 1px solid #33404f; border-radius: 6px; padding: 4px 12px; font: inherit; cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--state, #5b6b7d); }
button:disabled { opacity: .4; cursor: default; }
button.isolate { --state: var(--isolated); } button.disable { --state: var(--disabled); } button.reset { --state: var(--closed); }
aside { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
aside h2 { margin: 0 0 8px; font-size: 13px; color: var(--dim); text-transform: uppercase; letter-spacing: .05em; }
#feed { list-style: none; margin: 0; padding: 0; font-size: 12px; }
#feed li { align-items: flex-start; padding: 3px 0; }
#feed li .dot { margin-top: 5px; }
#feed .what { min-width: 0; }
#feed .who { font-family: ui-monospace, Menlo, Consolas, monospace; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#feed .change { color: var(--dim); }
footer { padding: 0 24px 24px; color: var(--dim); font-size: 12px; }
#toast { color: var(--opened); margin-left: 12px; }
#empty { color: var(--dim); }
dialog { background: var(--card); color: var(--text); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; max-width: min(480px, 92vw); }
dialog::backdrop { background: rgba(0,0,0,.55); }
dialog p { margin: 0 0 10px; }
#confirm-question { font-weight: 600; font-size: 15px; overflow-wrap: anywhere; }
dialog .choices { display: flex; justify-content: flex-end; gap: 10px; margin-top: 14px; }
#confirm-yes { border-color: var(--state); overflow-wrap: anywhere; }
#totals { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; padding: 14px 24px 0; }
#totals-numbers { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; }
.total { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 6px 12px; display: flex; gap: 8px; align-items: baseline; }
.total .label { color: var(--dim); font-size: 12px; }
.total b { font-size: 18px; }
.bad, .total.bad b { color: var(--opened); }
#traffic-note { font-size: 12px; flex-basis: 100%; }
.spark-total { align-items: center; }
#totals-chart { width: 220px; height: 26px; }
.toolbar { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-bottom: 12px; }
#search, select { background: #0e1217; color: var(--text); border: 1px solid #33404f; border-radius: 6px; padding: 5px 10px; font: inherit; }
#search { flex: 1; min-width: 160px; max-width: 360px; }
#search:focus, select:focus { outline: none; border-color: var(--closed); }
#shown { font-size: 12px; }
#more { margin-top: 14px; }
#nomatch { color: var(--dim); }
.traffic { margin: 8px 0 4px; padding: 8px 0 2px; border-top: 1px dashed var(--line); border-bottom: 1px dashed var(--line); }
.sparks { display: grid; grid-template-columns: 1fr 1fr; gap: 6px 14px; }
.traffic.silent .sparks { display: none; }
.spark { min-width: 0; }
.spark .head { display: flex; justify-content: space-between; align-items: baseline; gap: 6px; }
.spark .label { width: auto; font-size: 11px; }
.spark .value { min-width: 0; font-size: 12px; white-space: nowrap; }
.spark .chart { height: 26px; overflow: hidden; }
.traffic .quiet { margin: 0; color: var(--dim); font-size: 12px; }
.traffic .quiet:empty { display: none; }
details.processes { margin-top: 6px; font-size: 12px; }
details.processes summary { cursor: pointer; color: var(--dim); overflow-wrap: anywhere; }
details.processes.failing summary { color: #ffc2c4; }
.procs-table { width: 100%; border-collapse: collapse; margin-top: 4px; }
.procs-table th { color: var(--dim); font-weight: normal; text-align: right; padding: 2px 4px; white-space: nowrap; }
.procs-table td { padding: 2px 4px; text-align: right; white-space: nowrap; }
.procs-table th:first-child, .procs-table td.who { text-align: left; }
.procs-table td.who { max-width: 150px; overflow: hidden; text-overflow: ellipsis; }
.procs-table td.who .tag { margin-left: 6px; }
.procs-table td.num { min-width: 0; }
.procs-table tr.worst td { background: rgba(224,71,76,.2); color: #ffc2c4; font-weight: 700; }
.procs-table tr.worst td.who::before { content: "▲ "; color: var(--opened); }
.procs-table tfoot td { color: var(--dim); text-align: left; }
.tag { display: inline-block; padding: 0 6px; border-radius: 999px; background: var(--half-opened); color: #0e1217; font-size: 11px; font-weight: 700; white-space: nowrap; }
/* uPlot (MIT), the rules of its stylesheet a sparkline uses (no axes, legend or cursor). */
.uplot, .uplot * { box-sizing: border-box; }
.uplot { width: min-content; line-height: 0; }
.u-wrap { position: relative; user-select: none; }
.u-over, .u-under { position: absolute; }
.u-under { overflow: hidden; }
.uplot canvas { display: block; position: relative; width: 100%; height: 100%; }
.u-axis, .u-select { position: absolute; }
.u-select { pointer-events: none; }
.u-axis.u-off, .u-select.u-off, .u-cursor-x.u-off, .u-cursor-y.u-off, .u-cursor-pt.u-off { display: none; }
@media (max-width: 900px) { .layout { grid-template-columns: 1fr; } }
@media (max-width: 600px) {
  header { flex-wrap: wrap; gap: 6px 12px; padding: 10px 12px; }
  h1 { font-size: 17px; }
  #status { margin-left: auto; }
  .where { order: 3; flex-basis: 100%; font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  #banner { margin: 10px 12px 0; }
  #summary, #totals { padding: 10px 12px 0; gap: 6px; }
  .layout { padding: 10px 12px 16px; }
  footer { padding: 0 12px 16px; }
}
`;
