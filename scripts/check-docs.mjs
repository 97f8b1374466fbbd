/**
 * `npm run docs:check`: the documentation holds together. For README.md and every docs/*.md:
 *
 *   1. every relative link and image (`[text](path#anchor)`, `<a href>`, `<img src>`, reference
 *      definitions) points at a file of the repository, and every `#anchor` at a heading of the
 *      page it names (GitHub's slugs: lower case, punctuation dropped, spaces to hyphens, `-1`, `-2`
 *      for repeated headings) or an `<a id>`/`<a name>` of it; links in the sources' comments
 *      (src/, test/, examples/, bench/, scripts/) to an anchor of README.md or docs/*.md too;
 *   2. every docs/*.md page is linked from README.md, so that a newcomer finds it;
 *   3. every ```ts block type-checks against the sources: each is written to
 *      .tmp/docs-blocks/<page>-<line>.ts and `tsc` compiles them with the repository's tsconfig,
 *      `purgatory` (and its subpaths) mapped to src/ as tsconfig's `paths` does. A block may use
 *      the names of PRELUDE below without declaring them (a factory `circuitbreaker`, a `url`...):
 *      the pages continue one another's examples. A block is skipped when the line before it
 *      (blank lines aside) is `<!-- not type-checked: <why> -->`, and compiled with legacy
 *      decorators (`experimentalDecorators`, as NestJS uses them) when it is
 *      `<!-- type-checked: legacy decorators -->`.
 *
 * Prints what it checked, or each problem as `file:line: what`, and exits 1 on any.
 */
import { spawnSync } from "node:child_process";
import console from "node:console";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { URL, fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(root, ".tmp", "docs-blocks");
const SKIP = /^<!--\s*not type-checked:\s*\S[^]*-->$/;
const LEGACY = /^<!--\s*type-checked:\s*legacy decorators\s*-->$/;

/**
 * Names the examples of the pages use without declaring them: what an application has in scope
 * (a factory made as in the README's Quick start, a URL, the functions it guards). A block that
 * declares one of them itself shadows it.
 */
const PRELUDE = `
import type {
  AsyncCircuitBreaker,
  AsyncCircuitBreakerFactory,
  CircuitHook,
  CircuitStorage,
  SyncCircuitBreakerFactory,
} from "purgatory";
import type { Counter, Gauge, Histogram } from "prom-client";

declare global {
  const circuitbreaker: AsyncCircuitBreakerFactory;
  const breaker: AsyncCircuitBreaker;
  const hook: CircuitHook;
  const sync: SyncCircuitBreakerFactory;
  const storage: CircuitStorage;
  const url: string;
  const q: string;
  const sku: string;
  const text: string;
  const buffer: Uint8Array;
  const order: Order;
  const request: Request;
  const cachedPrices: unknown;
  const lastKnownPrice: number;
  const cached: Response | undefined;
  const api: { users: { get(id: string): Promise<User> }; stock(sku: string): Promise<number> };
  const codec: { decode(buffer: Uint8Array): unknown };
  const kv: { get(key: string): Promise<string | undefined>; put(key: string, value: string): Promise<void> };
  const stateGauge: Gauge;
  const failures: Counter;
  const calls: Counter;
  const latency: Histogram;
  interface Order { readonly id: string }
  interface Receipt { readonly orderId: string }
  interface Item { readonly id: string }
  interface User { readonly id: string }
  class HTTPStatusError extends Error {
    readonly status: number;
    constructor(status: number);
  }
  class NotFoundError extends Error {}
  class AbortError extends Error {}
  class DatabaseError extends Error {}
  function search(q: string): Promise<unknown>;
  function charge(order: Order): Promise<Receipt>;
  function fetchPrice(sku: string, init?: { signal?: AbortSignal }): Promise<number>;
  function retryLater(ms: number): never;
}
export {};
`;

/** The repository-relative path of `file`, with forward slashes. */
const rel = (file) => relative(root, file).split(sep).join("/");

/** The pages: README.md and docs/*.md. */
function pages() {
  const docs = readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => join(root, "docs", name));
  return [join(root, "README.md"), ...docs];
}

/**
 * A page's lines, each with whether it is inside a fenced code block, and its fenced blocks
 * (`{ info, line, body }`, `line` the 1-based line of the opening fence).
 */
function parse(text) {
  const lines = text.split("\n");
  const fenced = [];
  const blocks = [];
  let open = null;
  lines.forEach((line, i) => {
    const fence = /^\s*(`{3,}|~{3,})\s*([^`\s]*)/.exec(line);
    if (open === null && fence) {
      open = { char: fence[1][0], length: fence[1].length, info: fence[2], line: i + 1, body: [] };
      fenced.push(true);
    } else if (open !== null) {
      const close = /^\s*(`{3,}|~{3,})\s*$/.exec(line);
      if (close && close[1][0] === open.char && close[1].length >= open.length) {
        blocks.push({ info: open.info, line: open.line, body: open.body.join("\n") });
        open = null;
      } else open.body.push(line);
      fenced.push(true);
    } else fenced.push(false);
  });
  return { lines, fenced, blocks };
}

/** Inline code spans, replaced by spaces of the same length (so that columns stay), or kept as text. */
const CODE_SPAN = /(`+)([^`]|[^`][^]*?[^`])\1(?!`)/g;

/** The text GitHub makes of a heading, then its slug (github-slugger's rules). */
function slug(heading) {
  const parts = [];
  let last = 0;
  for (const match of heading.matchAll(CODE_SPAN)) {
    parts.push({ code: false, text: heading.slice(last, match.index) });
    parts.push({ code: true, text: match[2].trim() });
    last = match.index + match[0].length;
  }
  parts.push({ code: false, text: heading.slice(last) });
  const text = parts
    .map(
      ({ code, text: part }) =>
        code
          ? part
          : part
              .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
              .replace(/<[^>]+>/g, "") // HTML tags
              .replace(/(^|\W)_+([^_]+)_+(?=\W|$)/g, "$1$2") // _emphasis_
              .replace(/\\(.)/g, "$1"), // escapes
    )
    .join("");
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a page: its headings' slugs (repeated ones numbered) and its `<a id>`/`<a name>`. */
const anchorCache = new Map();
function anchorsOf(file) {
  let anchors = anchorCache.get(file);
  if (anchors !== undefined) return anchors;
  anchors = new Set();
  const seen = new Map();
  const { lines, fenced } = parse(readFileSync(file, "utf8"));
  lines.forEach((line, i) => {
    if (fenced[i]) return;
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (heading) {
      const base = slug(heading[1]);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      anchors.add(count === 0 ? base : `${base}-${count}`);
    }
    for (const [, id] of line.matchAll(/<a\s+(?:[^>]*\s)?(?:id|name)="([^"]+)"/g)) anchors.add(id);
  });
  anchorCache.set(file, anchors);
  return anchors;
}

/** The link targets of a line outside code: `[text](target)`, `![alt](target)`, `<a href>`, `<img src>`, `[label]: target`. */
function targetsOf(line) {
  const text = line.replace(CODE_SPAN, (span) => " ".repeat(span.length));
  const targets = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]);
  for (const m of text.matchAll(/<(?:a|img)\s[^>]*(?:href|src)="([^"]*)"/g)) targets.push(m[1]);
  const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(text);
  if (definition) targets.push(definition[1]);
  return targets;
}

/** What is wrong with `target`, linked from `from`, or null. */
function checkTarget(from, target) {
  if (target === "") return "an empty link";
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) return null; // https:, mailto:...
  const hash = target.indexOf("#");
  const path = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
  const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
  const file = path === "" ? from : path.startsWith("/") ? join(root, path) : resolve(dirname(from), path);
  if (relative(root, file).startsWith("..")) return `${target}: outside the repository`;
  if (!existsSync(file)) return `${target}: no file ${rel(file)}`;
  if (anchor === null) return null;
  if (anchor === "") return `${target}: an empty anchor`;
  if (!file.endsWith(".md")) {
    return statSync(file).isFile() && /^L\d+(-L\d+)?$/.test(anchor)
      ? null
      : `${target}: an anchor in a file that has none`;
  }
  return anchorsOf(file).has(anchor) ? null : `${target}: no heading "#${anchor}" in ${rel(file)}`;
}

/** The repository's source files whose comments may link to a page. */
function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (["node_modules", ".build", ".tmp"].includes(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|cts|js|mjs|lua)$/.test(entry.name) ? [path] : [];
  });
}

const problems = [];
const counts = { pages: 0, links: 0, anchors: 0, blocks: 0, legacy: 0, skipped: 0 };
const blocks = [];
const all = pages();

// 1. Links and anchors of the pages.
for (const file of all) {
  counts.pages++;
  const { lines, fenced, blocks: fencedBlocks } = parse(readFileSync(file, "utf8"));
  lines.forEach((line, i) => {
    if (fenced[i]) return;
    for (const target of targetsOf(line)) {
      counts.links++;
      if (target.includes("#")) counts.anchors++;
      const problem = checkTarget(file, target);
      if (problem !== null) problems.push(`${rel(file)}:${i + 1}: broken link ${problem}`);
    }
  });
  for (const block of fencedBlocks) {
    if (!["ts", "typescript"].includes(block.info)) continue;
    let before = block.line - 2;
    while (before >= 0 && lines[before].trim() === "") before--;
    const marker = before >= 0 ? lines[before].trim() : "";
    if (SKIP.test(marker)) counts.skipped++;
    else blocks.push({ file, ...block, legacy: LEGACY.test(marker) });
  }
}

// ... and of the sources' comments, to a page's anchor.
for (const dir of ["src", "test", "examples", "bench", "scripts"]) {
  if (!existsSync(join(root, dir))) continue;
  for (const file of sourceFiles(join(root, dir))) {
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        for (const [target] of line.matchAll(/(?:README|docs\/[\w.-]+)\.md#[\w-]+/g)) {
          counts.links++;
          counts.anchors++;
          const problem = checkTarget(join(root, "README.md"), target);
          if (problem !== null) problems.push(`${rel(file)}:${i + 1}: broken link ${problem}`);
        }
      });
  }
}

// 2. Every page is linked from the README.
const readme = join(root, "README.md");
const readmeLines = parse(readFileSync(readme, "utf8"));
const linked = new Set(
  readmeLines.lines
    .filter((_line, i) => !readmeLines.fenced[i])
    .flatMap(targetsOf)
    .map((target) => resolve(root, decodeURIComponent(target.split("#")[0] ?? ""))),
);
for (const file of all.slice(1)) {
  if (!linked.has(file)) problems.push(`${rel(file)}:1: not linked from README.md`);
}

// 3. The ```ts blocks type-check against the sources.
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, "prelude.d.ts"), PRELUDE);
const where = new Map(); // generated file name -> the block
const files = { standard: [], legacy: [] };
for (const block of blocks) {
  const name = `${rel(block.file).replace(/\.md$/, "").replace(/[/.]/g, "-")}-L${block.line}.ts`;
  where.set(name, block);
  // The block's first line is the file's first line: tsc's line N is the page's line block.line + N.
  writeFileSync(join(OUT, name), `${block.body}\nexport {};\n`);
  (block.legacy ? files.legacy : files.standard).push(name);
  counts.blocks++;
  if (block.legacy) counts.legacy++;
}
const paths = {
  purgatory: ["../../src/index.ts"],
  "purgatory/fetch": ["../../src/integrations/fetch.ts"],
  "purgatory/undici": ["../../src/integrations/undici.ts"],
  "purgatory/storage": ["../../src/storage/authoring.ts"],
  "purgatory/prometheus": ["../../src/integrations/prometheus.ts"],
  "purgatory/otel": ["../../src/integrations/otel.ts"],
};
const projects = [
  ["tsconfig.json", files.standard, {}],
  ["tsconfig.legacy.json", files.legacy, { experimentalDecorators: true, emitDecoratorMetadata: true }],
];
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
for (const [config, names, options] of projects) {
  if (names.length === 0) continue;
  const tsconfig = {
    extends: "../../tsconfig.json",
    compilerOptions: { noEmit: true, paths, ...options },
    files: ["prelude.d.ts", ...names],
    include: [], // not the repository's (the base config's include): only the blocks, and what they import
  };
  writeFileSync(join(OUT, config), `${JSON.stringify(tsconfig, null, 2)}\n`);
  const run = spawnSync(process.execPath, [tsc, "-p", join(OUT, config), "--pretty", "false"], {
    cwd: root,
    encoding: "utf8",
  });
  if (run.error) throw run.error;
  const output = `${run.stdout}${run.stderr}`.trim();
  for (const line of output.split("\n").filter(Boolean)) {
    const error = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(line);
    const block = error ? where.get(error[1].split(/[\\/]/).pop() ?? "") : undefined;
    if (error && block) problems.push(`${rel(block.file)}:${block.line + Number(error[2])}: ${error[4]}`);
    else if (!/^\s/.test(line)) problems.push(`tsc (${config}): ${line}`);
    else if (problems.length > 0) problems[problems.length - 1] += `\n${line}`;
  }
  if (run.status !== 0 && output === "") problems.push(`tsc (${config}) failed with exit code ${run.status}`);
}

const summary =
  `${counts.pages} pages, ${counts.links} links (${counts.anchors} with an anchor), ` +
  `${counts.blocks} ts blocks type-checked (${counts.legacy} with legacy decorators, ${counts.skipped} marked not type-checked)`;
if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  console.error(`docs:check: ${problems.length} problem${problems.length === 1 ? "" : "s"} (${summary})`);
  process.exit(1);
}
console.log(`docs:check: ok: ${summary}`);
