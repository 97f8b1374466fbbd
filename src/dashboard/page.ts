/**
 * The dashboard's one page: HTML and CSS inline, with the script bundled from `page/` (see
 * `script.ts`), nothing fetched from elsewhere (it must work on a machine without internet). Its
 * inline style and script carry a per-response nonce that the Content-Security-Policy allows, and
 * nothing else.
 * @module
 */

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
<section id="summary" aria-label="circuits per state"></section>
<div class="layout">
  <main>
    <p id="empty" hidden>No circuit under this prefix yet: they appear here as soon as a process registers one.</p>
    <div id="circuits"></div>
  </main>
  <aside>
    <h2>Transitions</h2>
    <ol id="feed"></ol>
  </aside>
</div>
<footer>Follows the circuits' channels and shows what changed.
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
@media (max-width: 900px) { .layout { grid-template-columns: 1fr; } }
@media (max-width: 600px) {
  header { flex-wrap: wrap; gap: 6px 12px; padding: 10px 12px; }
  h1 { font-size: 17px; }
  #status { margin-left: auto; }
  .where { order: 3; flex-basis: 100%; font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  #banner { margin: 10px 12px 0; }
  #summary { padding: 10px 12px 0; gap: 6px; }
  .layout { padding: 10px 12px 16px; }
  footer { padding: 0 12px 16px; }
}
`;
