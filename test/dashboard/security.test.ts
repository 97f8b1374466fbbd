/**
 * The dashboard exposed: bound beyond loopback it needs a token (made and printed once, or given by
 * --token / PURGATORY_DASHBOARD_TOKEN) for the page, the event stream and every action, says so in
 * a warning line, and checks the Host header against the names it answers to. Run as a user runs
 * it (the built executable, against a throw-away redis-server).
 *
 * Then the event streams of the server itself (`startDashboard`, in this process, over a scripted
 * fleet that can push updates faster than any Redis): at most `maxStreams` (503 past it), a reader
 * that stops reading is dropped instead of buffered without bound, and each update is serialised
 * once whatever the number of streams.
 */
import { connect, type Socket } from "node:net";
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage, type CircuitInfo } from "../../src/index.js";
import { startDashboard, type Dashboard, type DashboardFleet } from "../../src/dashboard/server.js";
import type { FeedListener } from "../../src/storage/redis/watch.js";
import { buildCli, type BuiltCli } from "../support/cli.js";
import { spawnLines, type LineProcess } from "../support/redis-fleet.js";
import { waitFor } from "../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { closedInfo } from "../support/circuit-info.js";

/** An HTTP request with any headers (Host included), answered as status, headers and text. */
function request(
  url: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? "GET", headers: options.headers }, (res) => {
      let text = "";
      // An event stream never ends: its first chunk is enough.
      const isStream = String(res.headers["content-type"]).startsWith("text/event-stream");
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        if (isStream) res.destroy();
      });
      const done = () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers });
      res.on("end", done);
      res.on("close", done);
    });
    req.once("error", reject);
    req.end();
  });
}

describe("bound beyond loopback (the built executable)", () => {
  let cli: BuiltCli;
  let server: RedisServer;
  let factory: AsyncCircuitBreakerFactory;
  let reader: RedisStorage;
  const running: LineProcess[] = [];
  const stateOf = async (name: string) => (await reader.inspect([name]))[0]?.state;

  /** Starts `purgatory dashboard --host 0.0.0.0` with `flags`; resolves with its lines and port. */
  async function dashboard(flags: string[], env: NodeJS.ProcessEnv = {}) {
    // The child takes this process's environment.
    const saved = { ...process.env };
    Object.assign(process.env, env);
    let child: LineProcess;
    try {
      child = spawnLines([cli.path, "dashboard", "--redis", server.url, "--port", "0", "--host", "0.0.0.0", ...flags]);
    } finally {
      for (const key of Object.keys(env)) if (saved[key] === undefined) delete process.env[key];
      Object.assign(process.env, saved);
    }
    running.push(child);
    const line = await child.waitForLine((l) => /^purgatory dashboard: http/.test(String(l.text)), 15_000);
    const port = /:(\d+)\//.exec(String(line.text))?.[1] ?? "";
    // The token line, if any, comes right after.
    await new Promise((r) => setTimeout(r, 100));
    const base = `http://127.0.0.1:${port}/`;
    return { child, port, base, lines: child.lines.map((l) => String(l.text)) };
  }

  beforeAll(async () => {
    [cli, server] = await Promise.all([buildCli(), startRedisServer()]);
    factory = new AsyncCircuitBreakerFactory({ storage: new RedisStorage({ url: server.url }) });
    reader = new RedisStorage({ url: server.url });
    await factory.initialize();
    await factory.getBreaker("payments");
  }, 60_000);

  afterAll(async () => {
    for (const child of running) child.child.kill("SIGKILL");
    await factory?.close();
    await reader?.close();
    await server?.stop();
    await cli?.remove();
  });

  it("warns in one line, makes a token and prints it once, with the URL that opens the page", async () => {
    const { lines, port } = await dashboard(["--allow-control"]);
    expect(lines[0]).toBe(
      "purgatory dashboard: warning: listening on 0.0.0.0, beyond this machine: whoever reaches the port and has the token can read every circuit and isolate, disable or reset them; over a network you do not trust, serve it behind TLS (a reverse proxy, --allow-host its name)",
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^purgatory dashboard: http://0\\.0\\.0\\.0:${port}/ \\(control on, token required, prefix "purgatory" at redis://127\\.0\\.0\\.1:\\d+\\); Ctrl-C stops it$`,
      ),
    );
    const token = /token \(shown once\): (\S+);/.exec(lines[2] ?? "")?.[1] ?? "";
    expect(token).toMatch(/^[\w-]{32}$/);
    expect(lines[2]).toContain(`open http://0.0.0.0:${port}/?token=${token} (the page keeps it in a cookie)`);
    expect(lines.join("\n").split(token)).toHaveLength(3); // printed in that line only (twice in it)
  });

  it("without the token, or with a wrong one: 401 for the page, the event stream, the API and every action", async () => {
    const { base } = await dashboard(["--allow-control"]);
    const post = { method: "POST", headers: { "x-purgatory-control": "1" } };
    for (const [path, options] of [
      ["", {}],
      ["events", {}],
      ["api/circuits", {}],
      ["api/circuits/payments/isolate", post],
    ] as const) {
      const missing = await request(`${base}${path}`, options);
      expect(missing.status).toBe(401);
      expect(missing.text).toContain("needs its token");
      const wrong = await request(`${base}${path}`, {
        ...options,
        headers: { ...("headers" in options ? options.headers : {}), authorization: "Bearer not-the-token-at-all" },
      });
      expect(wrong.status).toBe(401);
      expect(wrong.text).toContain("wrong token");
    }
    expect(await stateOf("payments")).toBe("closed");
  });

  it("with the token: Bearer for scripts; ?token= once for a browser, then its cookie for the page, the stream and the actions", async () => {
    const { base, lines } = await dashboard(["--allow-control"]);
    const token = /token \(shown once\): (\S+);/.exec(lines[2] ?? "")?.[1] ?? "";
    const api = await request(`${base}api/circuits`, { headers: { authorization: `Bearer ${token}` } });
    expect(api.status).toBe(200);
    expect((JSON.parse(api.text) as { circuits: unknown[] }).circuits).toHaveLength(1);

    const opened = await request(`${base}?token=${token}`);
    expect(opened.status).toBe(303);
    expect(opened.headers.location).toBe("/");
    const setCookie = String(opened.headers["set-cookie"]);
    expect(setCookie).toMatch(/^purgatory-token-\d+=[\w-]+; Path=\/; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(";")[0] ?? "";
    expect((await request(base, { headers: { cookie } })).status).toBe(200);
    const events = await request(`${base}events`, { headers: { cookie } });
    expect(events.status).toBe(200);
    expect(events.text).toContain("event: snapshot");
    const isolate = await request(`${base}api/circuits/payments/isolate`, {
      method: "POST",
      headers: { cookie, "x-purgatory-control": "1" },
    });
    expect(isolate.status).toBe(200);
    expect(await stateOf("payments")).toBe("isolated");
    await (await factory.getBreaker("payments")).reset();
  });

  it("a foreign Host (DNS rebinding) is refused even with the token; --allow-host names one more", async () => {
    const token = "a-token-given-by-hand-0123456789";
    const { base, port, lines } = await dashboard(["--allow-host", "dash.example.org"], {
      PURGATORY_DASHBOARD_TOKEN: token,
    });
    // Given by the environment: not printed.
    expect(lines.join("\n")).not.toContain(token);
    const auth = { authorization: `Bearer ${token}` };
    for (const path of ["", "events", "api/circuits"]) {
      const foreign = await request(`${base}${path}`, { headers: { ...auth, host: `attacker.example:${port}` } });
      expect(foreign.status).toBe(403);
    }
    expect(
      (await request(`${base}api/circuits`, { headers: { ...auth, host: `dash.example.org:${port}` } })).status,
    ).toBe(200);
    expect((await request(`${base}api/circuits`, { headers: { ...auth, host: `localhost:${port}` } })).status).toBe(
      200,
    );
  });

  it("a token given on loopback is required there too", async () => {
    const token = "loopback-token-0123456789abcdef";
    const child = spawnLines([cli.path, "dashboard", "--redis", server.url, "--port", "0", "--token", token]);
    running.push(child);
    const line = await child.waitForLine((l) => /^purgatory dashboard: http/.test(String(l.text)), 15_000);
    expect(line.text).toContain("read-only, token required");
    expect(child.lines.map((l) => String(l.text)).join("\n")).not.toMatch(/warning|shown once/);
    const base = /(http:\/\/\S+)/.exec(String(line.text))?.[1] ?? "";
    expect((await request(`${base}api/circuits`)).status).toBe(401);
    expect((await request(`${base}api/circuits`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });
});

/**
 * A fleet whose watch pushes what the test says (`push`), as fast as the test wants: the server's
 * event streams under load, without Redis.
 */
function scriptedFleet(): DashboardFleet & { push(circuits: CircuitInfo[]): void } {
  let listener: FeedListener | undefined;
  return {
    prefix: "scripted",
    url: "redis://scripted",
    async watch(given) {
      listener = given;
      given.read([info("first")], [], 0);
      return { refresh: async () => undefined, close: async () => undefined };
    },
    control: () => Promise.reject(new Error("no control here")),
    push(circuits) {
      listener?.read(circuits, [], 0);
    },
  };
}

/** A circuit whose JSON is about `bytes` long (its active callers fill it). */
function info(name: string, bytes = 0): CircuitInfo {
  const callers = Array.from({ length: Math.ceil(bytes / 40) }, (_, i) => `caller-${i}-${"x".repeat(28)}`);
  return closedInfo(name, {
    quorum: bytes === 0 ? null : { activeCallers: callers, openLocally: [], effective: 1 },
  });
}

/** Opens an event stream and reads it until `stop()`; counts the bytes and events read. */
async function follow(url: string): Promise<{ events: () => number; bytes: () => number; stop: () => void }> {
  const abort = new AbortController();
  const response = await fetch(`${url}events`, { signal: abort.signal });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let bytes = 0;
  let events = 0;
  const needle = "event: circuit";
  // The end of the previous chunk, too short to hold a whole needle: one split between two
  // chunks is counted once.
  let carry = "";
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        bytes += value.length;
        const text = carry + new TextDecoder().decode(value);
        events += text.split(needle).length - 1;
        carry = text.slice(-(needle.length - 1));
      }
    } catch {
      // stopped
    }
  })();
  await waitFor("the snapshot", () => bytes > 0);
  return { events: () => events, bytes: () => bytes, stop: () => abort.abort() };
}

describe("the event streams (startDashboard, a scripted fleet)", () => {
  let fleet: ReturnType<typeof scriptedFleet>;
  let dashboard: Dashboard;

  beforeAll(async () => {
    fleet = scriptedFleet();
    dashboard = await startDashboard({ fleet, port: 0, maxStreams: 3, maxBufferedBytes: 256 * 1024 });
  });

  afterAll(async () => {
    await dashboard?.close();
  });

  it("at most maxStreams at once: 503 past it, a place again once one closes", async () => {
    const streams = [await follow(dashboard.url), await follow(dashboard.url), await follow(dashboard.url)];
    const refused = await request(`${dashboard.url}events`);
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("5");
    expect(JSON.parse(refused.text)).toEqual({
      error: "too many event streams (3): close another page of this dashboard",
    });
    streams.pop()?.stop();
    await waitFor("the stream closed", () => dashboard.stats().streams === 2);
    const again = await follow(dashboard.url);
    streams.push(again);
    for (const stream of streams) stream.stop();
    await waitFor("every stream closed", () => dashboard.stats().streams === 0);
  });

  it("a reader that stops reading is dropped, not buffered without bound; the others get every update", async () => {
    const healthy = await follow(dashboard.url);
    // A client that asks for the stream and never reads it.
    const stalled: Socket = connect(Number(new URL(dashboard.url).port), "127.0.0.1");
    await new Promise((resolve) => stalled.once("connect", resolve));
    stalled.write(`GET /events HTTP/1.1\r\nHost: ${new URL(dashboard.url).host}\r\n\r\n`);
    stalled.pause();
    await waitFor("two streams", () => dashboard.stats().streams === 2);
    // 24 MB of updates (8 KB each), in bursts the healthy reader keeps up with.
    const updates = 3000;
    for (let i = 0; i < updates; i += 10) {
      fleet.push(Array.from({ length: 10 }, (_, k) => info(`busy-${i + k}`, 8000)));
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor("the healthy reader got every update", () => healthy.events() === updates, 20_000);
    expect(dashboard.stats()).toEqual({ streams: 1, dropped: 1 });
    healthy.stop();
    stalled.destroy();
  }, 60_000);

  it("each update is serialised once, whatever the number of streams", async () => {
    const streams = [await follow(dashboard.url), await follow(dashboard.url), await follow(dashboard.url)];
    let serialised = 0;
    const counted = { ...info("counted"), toJSON: () => (serialised++, info("counted")) };
    fleet.push([counted]);
    await waitFor("every stream got it", () => streams.every((s) => s.events() === 1));
    expect(serialised).toBe(1);
    for (const stream of streams) stream.stop();
  });
});
