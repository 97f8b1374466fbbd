/**
 * Runs every example and the demo as a user would (`tsx`, from the repository root) and checks
 * that each exits 0 by itself, with the output it promises. This is how CI keeps the examples
 * that the README links to working.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freePort } from "./support/redis-server.js";

const root = fileURLToPath(new URL("..", import.meta.url));

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `node --import tsx examples/<file>` with colours off; resolves even when it fails. */
function runExample(file: string, timeoutMs = 15_000, extraEnv: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...extraEnv };
  delete env.FORCE_COLOR;
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", `examples/${file}`],
      { cwd: root, env, timeout: timeoutMs, killSignal: "SIGKILL" },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, stdout: stripAnsi(stdout), stderr, ms: performance.now() - started });
      },
    );
  });
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, "");

function expectSuccess(outcome: Outcome): void {
  expect(outcome.stderr, "stderr").toBe("");
  expect(outcome.code, `exit code; stdout:\n${outcome.stdout}`).toBe(0);
}

describe.concurrent("examples", () => {
  it("quickstart.ts opens a circuit and closes it with a probe", async () => {
    const outcome = await runExample("quickstart.ts");
    expectSuccess(outcome);
    expect(outcome.stdout).toContain("price: 42");
    expect(outcome.stdout).toContain("circuit stock: threshold=1 ttl=60s state=closed");
    expect(outcome.stdout).toContain("call 3: rejected fast by prices");
    expect(outcome.stdout).toContain("state: opened");
    expect(outcome.stdout).toContain("probe: 42 state: closed");
    expect(outcome.stdout).toContain("api answered 503; circuit api: closed");
    expect(outcome.stdout).toContain("api answered 503; circuit api: opened");
  });

  it("decorators.ts guards a function, a method and a computed circuit name", async () => {
    const outcome = await runExample("decorators.ts");
    expectSuccess(outcome);
    expect(outcome.stdout).toContain("HOF: { id: 7, name: 'user 7' }");
    expect(outcome.stdout).toContain("method: 3 calls: 1 name: stock");
    expect(outcome.stdout).toContain("[hook] down.example -> opened");
    expect(outcome.stdout).toContain("down.example call 3: rejected fast");
    expect(outcome.stdout).toContain("circuits: users-api, inventory-api, up.example, down.example");
  });

  it("sync.ts guards synchronous code and excludes SyntaxError", async () => {
    const outcome = await runExample("sync.ts");
    expectSuccess(outcome);
    expect(outcome.stdout).toContain("excluded SyntaxError; failureCount=0");
    // The ttl is 10 s; a loaded machine may take a millisecond or more before the 4th call.
    const retryAfterMs = Number(/codec call 4: rejected fast, retryAfterMs=(\d+)/.exec(outcome.stdout)?.[1]);
    expect(retryAfterMs).toBeGreaterThan(9_000);
    expect(retryAfterMs).toBeLessThanOrEqual(10_000);
    expect(outcome.stdout).toContain("codec state: opened");
    expect(outcome.stdout).toContain("decorated: 42");
  });

  it("monitoring.ts keeps a gauge per circuit and stops after removeListener", async () => {
    const outcome = await runExample("monitoring.ts");
    expectSuccess(outcome);
    expect(outcome.stdout).toContain("gauge after the outage: { billing: 2, search: 0 }");
    expect(outcome.stdout).toContain("gauge after recovery: { billing: 0, search: 0 }");
    expect(outcome.stdout).toContain(
      "events: billing:circuit_breaker_created billing:failed billing:failed billing:state_changed " +
        "search:circuit_breaker_created billing:state_changed billing:recovered billing:state_changed",
    );
    expect(outcome.stdout).toContain("events after removeListener: 8 (unchanged)");
    expect(outcome.stdout).toContain("InvalidOptionError");
  });

  it("prometheus.ts registers purgatory/prometheus's metrics and scrapes them", async () => {
    const outcome = await runExample("prometheus.ts");
    expectSuccess(outcome);
    const out = outcome.stdout;
    // The gauge follows the circuit: opened, half-opened during the probe, closed.
    expect(out).toMatch(/call 3 \(threshold 2: opens\)\s+failed\s+gauge: opened/);
    expect(out).toMatch(/call 4\s+rejected \(CircuitOpenError\)\s+gauge: opened/);
    expect(out).toMatch(/call 5 \(probe\)\s+failed\s+gauge: opened/);
    expect(out).toMatch(/call 7 \(probe\)\s+ok \(gauge during the probe: half-opened\)\s+gauge: closed/);
    // The scrape, in the Prometheus text format.
    expect(out).toContain("# TYPE purgatory_circuit_state gauge");
    expect(out).toContain('purgatory_circuit_state{circuit="payments",state="closed",scope="fleet"} 1');
    expect(out).toContain('purgatory_circuit_state{circuit="payments",state="opened",scope="fleet"} 0');
    expect(out).toContain("# TYPE purgatory_calls_total counter");
    expect(out).toContain('purgatory_calls_total{circuit="payments",outcome="success",scope="fleet"} 3');
    expect(out).toContain('purgatory_calls_total{circuit="payments",outcome="failure",scope="fleet"} 3');
    expect(out).toContain('purgatory_calls_total{circuit="payments",outcome="rejected",scope="fleet"} 2');
    expect(out).toContain('purgatory_call_duration_seconds_count{circuit="payments",outcome="failure"} 3');
    expect(out).toContain(
      'purgatory_state_changes_total{circuit="payments",state="opened",origin="local",scope="fleet"} 2',
    );
    // Only purgatory_ lines after the "scrape:" heading.
    const scrape = out
      .slice(out.indexOf("scrape:\n") + "scrape:\n".length)
      .trim()
      .split("\n");
    expect(scrape.every((line) => line.includes("purgatory_"))).toBe(true);
  });

  it("otel.ts feeds purgatory/otel's instruments to an OpenTelemetry SDK", async () => {
    const outcome = await runExample("otel.ts");
    expectSuccess(outcome);
    const out = outcome.stdout;
    expect(out).toMatch(/^meter purgatory \d+\.\d+\.\d+/m);
    expect(out).toContain("purgatory_circuit_state{circuit=inventory,state=opened,scope=fleet} 1");
    expect(out).toContain("purgatory_circuit_state{circuit=inventory,state=closed,scope=fleet} 0");
    expect(out).toContain("purgatory_calls_total{circuit=inventory,outcome=failure,scope=fleet} 2");
    expect(out).toContain("purgatory_calls_total{circuit=inventory,outcome=rejected,scope=fleet} 1");
    expect(out).toContain("purgatory_call_duration_seconds{circuit=inventory,outcome=failure} count=2");
    expect(out).not.toContain("purgatory_call_duration_seconds{circuit=inventory,outcome=rejected}");
    expect(out).toContain("purgatory_state_changes_total{circuit=inventory,state=opened,origin=local,scope=fleet} 1");
  });

  it("testing-with-fake-timers.ts drives the ttl with a clock", async () => {
    const outcome = await runExample("testing-with-fake-timers.ts");
    expectSuccess(outcome);
    expect(outcome.stdout).toContain("all assertions passed");
  });

  it("timeouts-and-fallbacks.ts times a call out, cancels one, and falls back while opened", async () => {
    const outcome = await runExample("timeouts-and-fallbacks.ts");
    expectSuccess(outcome);
    expect(outcome.stdout.trim().split("\n")).toEqual([
      "fast answer: 42",
      "timed out after 50 ms; failureCount=1; aborted=1",
      "cancelled: client went away; failureCount=1; aborted=2",
      "state: opened",
      "with a fallback: 41",
      "probe: 42; state: closed",
    ]);
  });

  it("serverless-handover.ts saves circuits as JSON and restores them in a new instance", async () => {
    const outcome = await runExample("serverless-handover.ts");
    expectSuccess(outcome);
    expect(outcome.stdout).toMatch(/^saved 2 circuits, \d+ bytes of JSON$/m);
    expect(outcome.stdout).toContain("payments: still opened, rejected fast (retry in ~60 s)");
    expect(outcome.stdout).toContain("inventory: closed, failureCount=1");
    expect(outcome.stdout).toContain("inventory: opened after one more failure");
  });

  it("custom-storage.ts keeps state in a key-value store across a restart", async () => {
    const outcome = await runExample("custom-storage.ts");
    expectSuccess(outcome);
    expect(outcome.stdout).toContain("before restart: opened");
    expect(outcome.stdout).toContain("after restart: opened, threshold=2");
    expect(outcome.stdout).toContain("call after restart: rejected fast");
  });

  it(
    "demo.ts tells the outage as a timeline, then two processes sharing a circuit, and exits by itself in under 20 s",
    { timeout: 40_000 },
    async () => {
      const outcome = await runExample("demo.ts", 30_000);
      expectSuccess(outcome);
      expect(outcome.ms).toBeLessThan(20_000);
      const out = outcome.stdout;
      expect(out).not.toMatch(/\x1b\[/); // eslint-disable-line no-control-regex
      // The legend: each circuit is named by its host, a random port on 127.0.0.1.
      const hostOf = (service: string): string => {
        const match = new RegExp(`^  (127\\.0\\.0\\.1:\\d+) += ${service}$`, "m").exec(out);
        expect(match, `legend line for ${service}`).not.toBeNull();
        return (match?.[1] ?? "").replaceAll(".", "\\.");
      };
      const catalog = hostOf("catalog");
      const payments = hostOf("payments");
      expect(catalog).not.toBe(payments);
      // The transitions, in order: opened, half-opened, opened again, half-opened, closed.
      const transitions = [...out.matchAll(new RegExp(`${payments}\\s+payments\\s+⚡ state_changed\\s+→ (\\S+)`, "g"))];
      expect(transitions.map((m) => m[1])).toEqual(["opened", "half-opened", "opened", "half-opened", "closed"]);
      expect(out).not.toMatch(new RegExp(`${catalog}\\s+catalog\\s+⚡ state_changed`));
      expect(out).toMatch(new RegExp(`${payments}\\s+payments\\s+⚡ failed\\s+failureCount=3`));
      expect(out).toMatch(new RegExp(`${payments}\\s+payments\\s+⚡ recovered`));
      expect(out).toMatch(
        new RegExp(`${payments}\\s+payments\\s+GET /charge\\s+rejected fast: CircuitOpenError, retryAfterMs=\\d+`),
      );
      expect(out).toMatch(new RegExp(`${catalog}\\s+catalog\\s+GET /items/404\\s+404 \\(excluded`));
      // The summary: one row per circuit (its host, then its service), both closed at the end.
      expect(out).toContain("── summary");
      expect(out).toMatch(/circuit\s+service\s+calls\s+ok\s+failures\s+excluded\s+rejected\s+final state/);
      expect(out).toMatch(new RegExp(`^${catalog}\\s+catalog\\s+5\\s+4\\s+0\\s+1\\s+0\\s+closed$`, "m"));
      // Payments' counts depend on timing under load; its shape and final state do not.
      expect(out).toMatch(
        new RegExp(`^${payments}\\s+payments\\s+\\d+\\s+\\d+\\s+[1-9]\\d*\\s+0\\s+[1-9]\\d*\\s+closed$`, "m"),
      );
      expect(out).toContain("servers and factory closed");

      // Act two (the test suite runs with a Redis): two processes, one circuit, through Redis.
      const act = out.slice(out.indexOf("── act two: two processes share one circuit through Redis"));
      expect(act.length, "act two ran").toBeLessThan(out.length);
      const prefix = /^ {2}redis: +redis:\/\/\S+, prefix (purgatory-demo-[0-9a-f]+)$/m.exec(act)?.[1];
      expect(prefix, "the act's prefix").toBeDefined();
      expect(act).toMatch(/^ {2}dashboard: http:\/\/127\.0\.0\.1:\d+\/ \(live while act two runs\)$/m);
      const demo = /^\s*\d+ ms {2}(demo \d+)\s+⚡ state_changed\s+→ opened$/m.exec(act)?.[1];
      const member = /^\s*\d+ ms {2}(member \d+)\s+holds the circuit\s+state=closed$/m.exec(act)?.[1];
      expect(demo, "this process trips the circuit").toBeDefined();
      expect(member, "the member holds it").toBeDefined();
      expect(demo).not.toBe(member);
      expect(act).toMatch(new RegExp(`${demo}\\s+⚡ failed\\s+failureCount=3`));
      // The member hears of the trip from Redis, and its next call is rejected without running.
      expect(act).toMatch(
        new RegExp(`${member}\\s+⚡ state_changed\\s+→ opened \\(remote: opened by another process\\)`),
      );
      expect(act).toMatch(
        new RegExp(`${member}\\s+call inventory-api\\s+rejected fast: CircuitOpenError, retryAfterMs=\\d+`),
      );
      // The CLI's listing of what Redis holds, at the end.
      expect(act).toContain(`$ purgatory circuits --redis `);
      expect(act).toMatch(/^CIRCUIT\s+STATE\s+FAILURES\s+TTL/m);
      expect(act).toMatch(/^inventory-api\s+opened\s+3\/3\s+5s\s+-\s+\d+(ms|s) ago\s+in \d+s\s+-\s+-$/m);
      expect(act).toContain(`1 circuit under prefix "${prefix}"`);
      expect(out).toMatch(/\nthe end, in \d+ ms\.\n$/);
    },
  );

  it("demo.ts skips act two in one line when no Redis answers", { timeout: 40_000 }, async () => {
    const outcome = await runExample("demo.ts", 30_000, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expectSuccess(outcome);
    expect(outcome.stdout).toMatch(
      /\nact two skipped: no Redis answers at redis:\/\/127\.0\.0\.1:\d+ \(start one, or set REDIS_URL, to see two processes share a circuit\)\n/,
    );
    expect(outcome.stdout).not.toContain("── act two");
  });
});
