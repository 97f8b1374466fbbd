/**
 * `purgatory top` as a user runs it: the built executable against a throw-away redis-server, with
 * two real worker processes of the fleet making known calls at known rates
 * (test/support/top-worker.ts), watched in a real terminal (a tmux pane: keys sent with
 * `send-keys`, the screen read with `capture-pane`), piped, and with `--json`.
 *
 * The fleet, per second: "busy" 40 calls (web-1) + 20 (web-2), all succeeding; "flaky" 10 failing
 * (web-1, never trips); "slow" 5 of 30 ms (web-1); "down" 5 (web-2), failing until it opened, then
 * rejected; "split" 5 succeeding (web-1) + 5 failing (web-2), with a quorum of 2: web-2 is open for
 * itself; a long name (3/s) and a name with an escape sequence in it (2/s), both web-1.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TopJson } from "../../src/cli/top-json.js";
import { buildCli, runCli, type BuiltCli } from "../support/cli.js";
import { spawnLines, type LineProcess } from "../support/redis-fleet.js";
import { uniquePrefix, waitFor } from "../support/redis-helpers.js";
import { freePort, startRedisServer, type RedisServer } from "../support/redis-server.js";
import { TmuxPane, tmuxMissing } from "../support/tmux.js";
import type { TopWorkerConfig } from "../support/top-worker.js";

const WORKER = new URL("../support/top-worker.ts", import.meta.url).pathname;
const LONG = "a-very-long-circuit-name-that-needs-cutting";
const EVIL = "evil\x1b[31mname";
const NEVER_TRIPS = { threshold: 1_000_000 };
const QUORUM = { quorum: 2, threshold: 3, ttl: 600 };

let cli: BuiltCli;
let server: RedisServer;
const prefix = uniquePrefix("top");
const workers: LineProcess[] = [];

function startWorker(config: Omit<TopWorkerConfig, "url" | "prefix">): Promise<unknown> {
  const worker = spawnLines(["--import", "tsx", WORKER, JSON.stringify({ ...config, url: server.url, prefix })], {
    stdin: true,
  });
  workers.push(worker);
  return worker.waitForLine((line) => line.type === "ready", 30_000);
}

beforeAll(async () => {
  [cli, server] = await Promise.all([buildCli(), startRedisServer()]);
  await startWorker({
    processName: "web-1",
    circuits: [
      { name: "busy", perSecond: 40, outcome: "succeed" },
      { name: "flaky", perSecond: 10, outcome: "fail", options: NEVER_TRIPS },
      { name: "slow", perSecond: 5, outcome: "succeed", latencyMs: 30 },
      { name: "split", perSecond: 5, outcome: "succeed", options: QUORUM },
      { name: LONG, perSecond: 3, outcome: "succeed" },
      { name: EVIL, perSecond: 2, outcome: "succeed" },
    ],
  });
  // web-2 fails "split" from its first calls: it starts once web-1 counts as a caller of it, or its
  // failures alone would meet the quorum (never more than the callers) and open the fleet.
  const admin = new Redis(server.url);
  try {
    await waitFor(
      "web-1 among split's callers",
      async () => (await admin.zcard(`${prefix}:callers:{split}`)) >= 1,
      30_000,
    );
  } finally {
    admin.disconnect();
  }
  await startWorker({
    processName: "web-2",
    circuits: [
      { name: "busy", perSecond: 20, outcome: "succeed" },
      { name: "down", perSecond: 5, outcome: "fail", options: { threshold: 2, ttl: 600 } },
      { name: "split", perSecond: 5, outcome: "fail", options: QUORUM },
    ],
  });
  // "down" fails until it opens: the tests watch from then on, when it only rejects.
  await workers[1]?.waitForLine((line) => line.type === "opened" && line.name === "down", 30_000);
}, 90_000);

afterAll(async () => {
  for (const worker of workers) worker.child.stdin?.end();
  await Promise.all(
    workers.map(async (worker) => {
      const timer = setTimeout(() => worker.child.kill("SIGKILL"), 10_000);
      await worker.exited;
      clearTimeout(timer);
    }),
  );
  await server?.stop();
  await cli?.remove();
});

/** The command line of `top` on the test's fleet. */
const top = (...args: string[]): string[] => [cli.path, "top", "--redis", server.url, "--prefix", prefix, ...args];

describe("purgatory top --json", () => {
  it("prints one snapshot matching the calls made, busiest first, and exits 0", async () => {
    const { code, stdout, stderr } = await runCli(cli.path, top("--json").slice(1), { timeoutMs: 20_000 });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as TopJson;
    expect(json).toMatchObject({ prefix, sort: "calls", processes: 2 });
    expect(json.t % 1000).toBe(0);
    const byName = new Map(json.circuits.map((c) => [c.name, c]));
    expect(json.circuits[0]?.name).toBe("busy");
    const busy = byName.get("busy");
    expect(busy?.calls).toBeGreaterThanOrEqual(40);
    expect(busy?.calls).toBeLessThanOrEqual(80);
    expect(busy?.errorRate).toBe(0);
    expect(busy?.state).toBe("closed");
    const share = new Map(busy?.processes.map((p) => [p.process, p.calls]));
    expect(share.get("web-1")).toBeGreaterThanOrEqual(26);
    expect(share.get("web-1")).toBeLessThanOrEqual(54);
    expect(share.get("web-2")).toBeGreaterThanOrEqual(12);
    expect(share.get("web-2")).toBeLessThanOrEqual(28);
    // Every call of "flaky" failed; "down" opened and rejects every call; "slow" takes 30 ms.
    expect(byName.get("flaky")).toMatchObject({ errorRate: 1, state: "closed", rejected: 0 });
    expect(byName.get("flaky")?.errors).toBe(byName.get("flaky")?.calls);
    expect(byName.get("down")).toMatchObject({ state: "opened", errors: 0 });
    expect(byName.get("down")?.rejected).toBeGreaterThanOrEqual(3);
    expect(byName.get("down")?.rejected).toBe(byName.get("down")?.calls);
    expect(byName.get("slow")?.p50).toBeGreaterThanOrEqual(30);
    expect(byName.get("slow")?.p50).toBeLessThan(80);
    // web-2 is open for itself on "split" (a quorum of 2 not met fleet-wide); web-1 is not.
    const split = byName.get("split");
    expect(split?.state).toBe("closed");
    expect(split?.processes.find((p) => p.process === "web-2")?.openForItself).toBe(true);
    expect(split?.processes.find((p) => p.process === "web-1")?.openForItself).toBe(false);
    // Names as they are (JSON escapes them).
    expect(byName.has(EVIL)).toBe(true);
    expect(byName.has(LONG)).toBe(true);
    expect(json.totals.calls).toBeGreaterThanOrEqual(70);
    expect(json.totals.calls).toBeLessThanOrEqual(120);
  });

  it("--sort errors --limit 1: the failing circuit alone", async () => {
    const { code, stdout } = await runCli(cli.path, top("--json", "--sort", "errors", "--limit", "1").slice(1), {
      timeoutMs: 20_000,
    });
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as TopJson;
    expect(json.sort).toBe("errors");
    expect(json.circuits.map((c) => c.name)).toEqual(["flaky"]);
  });

  it("nobody reporting: an empty list within a few seconds, exit 0", async () => {
    const started = Date.now();
    const { code, stdout } = await runCli(
      cli.path,
      ["top", "--json", "--redis", server.url, "--prefix", uniquePrefix("nobody")],
      { timeoutMs: 20_000 },
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ t: 0, processes: 0, circuits: [] });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("purgatory top, piped", () => {
  it("prints one table a second, names in full, every column; SIGTERM ends it with 0", async () => {
    const child = spawnLines(top());
    try {
      await child.waitForLine((l) => /^busy\s/.test(String(l.text)), 20_000);
      const text = () => child.lines.map((l) => String(l.text)).join("\n");
      expect(text()).toMatch(/^CIRCUIT\s+CALLS\/S\s+ERR %\s+REJ\/S\s+P50\s+P99\s+STATE\s+PROCS$/m);
      expect(text()).toContain(LONG);
      expect(text()).toContain("evil\\u001b[31mname");
      expect(text()).not.toContain("\x1b");
      const tables = () => child.lines.filter((l) => String(l.text).startsWith("CIRCUIT")).length;
      const first = tables();
      await child.waitForLine(() => tables() > first, 5000);
      child.child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
    } finally {
      child.child.kill("SIGKILL");
    }
  }, 30_000);
});

describe("purgatory top: bad arguments and an unreachable Redis", () => {
  it.each([
    [["--sort", "speed"], 'purgatory: invalid --sort "speed": expected one of calls, errors, rejected, p99, name\n'],
    [["--limit", "0"], 'purgatory: invalid --limit "0": expected a number of circuits, 1 or more\n'],
    [["--limit", "ten"], 'purgatory: invalid --limit "ten": expected a number of circuits, 1 or more\n'],
    [["payments"], 'purgatory: top: unexpected argument "payments" (top takes no NAME)\n'],
  ])("top %j: exit code 1", async (args, message) => {
    const { code, stdout, stderr } = await runCli(cli.path, ["top", ...args]);
    expect(stderr).toBe(message);
    expect(stdout).toBe("");
    expect(code).toBe(1);
  });

  it("Redis cannot be reached: exit code 2, before touching the terminal", async () => {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const { code, stdout, stderr } = await runCli(cli.path, ["top", "--redis", closed]);
    expect(stdout).toBe("");
    expect(stderr).toBe(`purgatory: Redis cannot be reached at ${closed}: connection refused (ECONNREFUSED)\n`);
    expect(code).toBe(2);
  });

  it("the help tells the command, its keys and its output, and the tool's help lists it", async () => {
    const help = await runCli(cli.path, ["top", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: purgatory top \[--sort calls\|errors\|rejected\|p99\|name\] \[--limit N\]/);
    for (const word of ["--json", "--redis URL", "q  or Ctrl-C: quit", "Not on a terminal", "NO_COLOR"])
      expect(help.stdout).toContain(word);
    expect((await runCli(cli.path, ["--help"])).stdout).toMatch(/^ {2}top\s+the busiest circuits, live/m);
  });
});

const missing = tmuxMissing();
if (missing !== null) console.warn(`test/cli/top.test.ts: the terminal tests are skipped: ${missing}`);

/** An SGR sequence that sets a foreground colour, as `capture-pane -e` writes them. */
// eslint-disable-next-line no-control-regex
const COLOR = /\x1b\[(?:[0-9]+;)*3[0-7](?:;[0-9]+)*m/;

/** The rows of the table on `screen`: [name, ...cells], split at two spaces or more. */
function rows(screen: string): string[][] {
  const lines = screen.split("\n");
  const at = lines.findIndex((l) => l.startsWith("CIRCUIT"));
  if (at < 0) return [];
  return lines
    .slice(at + 1)
    .filter((l) => l.trim() !== "" && !l.startsWith("..."))
    .map((l) => l.split(/\s{2,}/));
}

/** Calls a second of the first row, or NaN. */
const firstCalls = (screen: string): number => Number(rows(screen)[0]?.[1]);

describe.skipIf(missing !== null)(
  missing === null
    ? "purgatory top in a real terminal (tmux)"
    : `purgatory top in a real terminal: SKIPPED (${missing})`,
  () => {
    const env = { NO_COLOR: null, FORCE_COLOR: null, REDIS_URL: null };

    it("100x30: the busiest circuit first with plausible calls/s; e re-sorts by errors; q quits with 0, terminal restored", async () => {
      const pane = await TmuxPane.start([process.execPath, ...top()], { width: 100, height: 30, env });
      try {
        const screen = await pane.waitForScreen(
          (s) => rows(s)[0]?.[0] === "busy" && firstCalls(s) >= 50 && s.includes("2 processes reporting"),
          20_000,
        );
        expect(firstCalls(screen)).toBeLessThanOrEqual(70);
        expect(screen).toMatch(/^CIRCUIT\s+CALLS\/S\s+ERR %\s+REJ\/S\s+P50\s+P99\s+STATE\s+PROCS$/m);
        expect(screen).toContain("Redis live");
        expect(screen).toContain("sort: calls/s");
        const row = (name: string) => rows(screen).find((r) => r[0] === name);
        expect(row("flaky")?.[2]).toBe("100%");
        expect(row("down")?.[6]).toBe("opened");
        expect(Number(row("down")?.[3])).toBeGreaterThanOrEqual(3);
        expect(row("split")?.[7]).toBe("2, 1 open");
        // The escape sequence in a name is shown escaped, not run by the terminal.
        expect(row("evil\\u001b[31mname")).toBeDefined();
        // Colours on a terminal: an opened circuit in red.
        expect(await pane.screen(true)).toContain("\x1b[31mopened");

        await pane.sendKeys("e");
        const byErrors = await pane.waitForScreen((s) => s.includes("sort: error rate"), 5000);
        expect(rows(byErrors)[0]?.[0]).toBe("flaky");
        expect(rows(byErrors)[0]?.[2]).toBe("100%");

        await pane.sendKeys("n");
        const byName = await pane.waitForScreen((s) => s.includes("sort: name"), 5000);
        expect(rows(byName).map((r) => r[0])).toEqual(
          [...rows(byName).map((r) => r[0] ?? "")].sort((a, b) => a.localeCompare(b, "en", { numeric: true })),
        );

        await pane.sendKeys("q");
        expect(await pane.exited()).toEqual({ code: 0, sttyRestored: true });
        // The alternate screen was left: the shell's screen is back, the table gone.
        const after = await pane.waitForScreen((s) => s.includes("[exit 0]"), 5000);
        expect(after).not.toContain("CIRCUIT");
        expect(await pane.cursorVisible()).toBe(true);
      } finally {
        await pane.close();
      }
    }, 60_000);

    it("40x15 under NO_COLOR: readable (nothing wraps, names cut with …, no colour); redrawn wide on a resize; Ctrl-C quits with 0", async () => {
      const pane = await TmuxPane.start([process.execPath, ...top()], {
        width: 40,
        height: 15,
        env: { ...env, NO_COLOR: "1" },
      });
      try {
        const screen = await pane.waitForScreen((s) => rows(s)[0]?.[0] === "busy" && firstCalls(s) >= 50, 20_000);
        const lines = screen.split("\n");
        expect(lines.length).toBeLessThanOrEqual(15);
        for (const line of lines) expect([...line].length).toBeLessThanOrEqual(40);
        expect(lines[0]).toMatch(/^\d+ calls\/s {2}\d+(\.\d)?% err {2}[\d.]+ rej\/s {2}2 procs$/);
        expect(screen).toMatch(/^CIRCUIT\s+CALLS\/S\s+ERR %\s+STATE$/m);
        // Every row has its four cells: nothing wrapped onto the next line.
        for (const row of rows(screen)) expect(row, row.join("|")).toHaveLength(4);
        const long = rows(screen).find((r) => r[0]?.startsWith("a-very"));
        expect(long?.[0]).toMatch(/^a-very-[^ ]*…$/);
        expect(await pane.screen(true)).not.toMatch(COLOR);

        await pane.resize(120, 30);
        const wide = await pane.waitForScreen(
          (s) => /^CIRCUIT\s+CALLS\/S\s+ERR %\s+REJ\/S\s+P50\s+P99\s+STATE\s+PROCS$/m.test(s),
          5000,
        );
        expect(wide).toContain(LONG);

        await pane.sendKeys("C-c");
        expect(await pane.exited()).toEqual({ code: 0, sttyRestored: true });
      } finally {
        await pane.close();
      }
    }, 60_000);

    it("SIGTERM: exits with 0 and gives the terminal back", async () => {
      const pane = await TmuxPane.start([process.execPath, ...top("--sort", "p99")], { width: 80, height: 24, env });
      try {
        // By p99, "slow" (30 ms a call) comes first once its calls are measured; on a busy machine a
        // fast circuit's p99 may pass 30 ms for a second, so the order is waited for, not read once.
        await pane.waitForScreen((s) => rows(s)[0]?.[0] === "slow", 20_000);
        process.kill(await pane.programPid(), "SIGTERM");
        expect(await pane.exited()).toEqual({ code: 0, sttyRestored: true });
        const after = await pane.waitForScreen((s) => s.includes("[exit 0]"), 5000);
        expect(after).not.toContain("CIRCUIT");
        expect(await pane.cursorVisible()).toBe(true);
      } finally {
        await pane.close();
      }
    }, 60_000);

    it("a resize redraws at once (an idle screen is redrawn by nothing else)", async () => {
      const nobody = uniquePrefix("nobody");
      const pane = await TmuxPane.start(
        [process.execPath, cli.path, "top", "--redis", server.url, "--prefix", nobody],
        { width: 40, height: 15, env },
      );
      try {
        // Nobody reports under this prefix: once it says so, nothing changes on the screen.
        const idle = await pane.waitForScreen((s) => s.includes("no process reports calls"), 15_000);
        expect(idle.split("\n")[0]).toBe("0 calls/s  0% err  0 rej/s  0 procs");
        expect(await pane.cursorVisible()).toBe(false);
        await pane.resize(120, 30);
        // The wide header, drawn for the new size.
        const wide = await pane.waitForScreen((s) => s.startsWith("purgatory top  prefix"), 3000);
        expect(wide.split("\n")[1]).toBe("0 calls/s  0% err  0 rej/s  0 processes reporting  Redis live");
        await pane.sendKeys("q");
        expect(await pane.exited()).toEqual({ code: 0, sttyRestored: true });
      } finally {
        await pane.close();
      }
    }, 60_000);
  },
);
