/**
 * `purgatory/fetch` and `purgatory/undici` share one set of rules: the same response gets the same
 * judgement through either. A table of responses, each served by a real local server, is sent once
 * through `circuitFetch` (Node's `fetch`) and once through an undici Agent composed with
 * `circuitBreaker`, each on a factory of its own (threshold 1, ttl 1 s, an injected clock): both
 * must leave the circuit in the same state, opened for the same time, and name it the same.
 */
import { createServer, type Server } from "node:http";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, CircuitOpenError } from "../../src/index.js";
import { circuitFetch } from "../../src/integrations/fetch.js";
import { circuitBreaker } from "../../src/integrations/undici.js";
import * as rules from "../../src/integrations/http-rules.js";

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const inSeconds = (seconds: number): string => new Date(NOW + seconds * 1000).toUTCString();

/** A response, and what a circuit with threshold 1 and ttl 1 s makes of it: opened for how long, or closed. */
interface Case {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string | string[]>>;
  /** `null`: the circuit stays closed; otherwise the ms it stays opened. */
  readonly openedForMs: number | null;
}

const CASES: readonly Case[] = [
  { status: 200, openedForMs: null },
  { status: 204, openedForMs: null },
  { status: 301, headers: { location: "/elsewhere" }, openedForMs: null }, // not followed: fetch's redirect "manual"
  { status: 304, openedForMs: null },
  { status: 400, openedForMs: null },
  { status: 404, headers: { "retry-after": "60" }, openedForMs: null }, // a success: Retry-After asks nothing
  { status: 408, openedForMs: null },
  { status: 429, openedForMs: 1000 },
  { status: 429, headers: { "retry-after": "120" }, openedForMs: 120_000 },
  { status: 500, openedForMs: 1000 },
  { status: 502, headers: { "retry-after": "0" }, openedForMs: 1000 },
  { status: 503, headers: { "retry-after": inSeconds(90) }, openedForMs: 90_000 },
  { status: 503, headers: { "retry-after": inSeconds(-90) }, openedForMs: 1000 }, // in the past
  { status: 503, headers: { "retry-after": "soon" }, openedForMs: 1000 },
  { status: 503, headers: { "retry-after": "0.5" }, openedForMs: 1000 },
  { status: 503, headers: { "retry-after": ["30", "40"] }, openedForMs: 1000 }, // repeated: "30, 40", neither form
  { status: 503, headers: { "retry-after": "7200" }, openedForMs: 3_600_000 }, // capped at one hour
  { status: 599, openedForMs: 1000 },
];

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const index = Number(new URL(req.url ?? "/", "http://x").searchParams.get("case"));
    const { status, headers = {} } = CASES[index] as Case;
    res.writeHead(status, { "content-type": "text/plain", ...headers });
    res.end(status === 204 || status === 304 ? undefined : `case ${index}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The judgement a circuit passed on one response: its name, state, and for how long it is opened. */
async function judgement(
  factory: AsyncCircuitBreakerFactory,
  send: () => Promise<unknown>,
): Promise<{ circuit: string; openedForMs: number | null }> {
  await send();
  const [circuit] = factory.circuitNames();
  if (circuit === undefined) throw new Error("no circuit registered");
  const second = await send().then(
    () => null,
    (error: unknown) => error,
  );
  const openedForMs = second instanceof CircuitOpenError ? second.retryAfterMs : null;
  return { circuit, openedForMs };
}

describe("purgatory/fetch and purgatory/undici judge a response alike", () => {
  it.each(CASES.map((c, index) => [index, c.status, JSON.stringify(c.headers ?? {}), c] as const))(
    "case %i: %i %s",
    async (index, _status, _headers, expected) => {
      const clock = (): number => NOW;
      const options = { threshold: 1, ttl: 1, clock } as const;
      const url = `${base}/?case=${index}`;

      const viaFetch = new AsyncCircuitBreakerFactory({ clock });
      const guardedFetch = circuitFetch(viaFetch, options);
      const fetched = await judgement(viaFetch, async () => {
        const res = await guardedFetch(url, { redirect: "manual" });
        await res.arrayBuffer();
      });

      const viaUndici = new AsyncCircuitBreakerFactory({ clock });
      const agent = new Agent().compose(circuitBreaker(viaUndici, options));
      const dispatched = await judgement(viaUndici, async () => {
        const res = await agent.request({ origin: base, path: `/?case=${index}`, method: "GET" });
        await res.body.dump();
      });

      try {
        expect(dispatched).toEqual(fetched);
        expect(fetched).toEqual({ circuit: new URL(base).host, openedForMs: expected.openedForMs });
      } finally {
        await agent.destroy();
        await viaFetch.close();
        await viaUndici.close();
      }
    },
  );

  it("reads a repeated header as Headers.get does: joined with a comma", () => {
    expect(rules.headerText(["30", "40"])).toBe(
      new Headers([
        ["retry-after", "30"],
        ["retry-after", "40"],
      ]).get("retry-after"),
    );
    expect(rules.headerText("120")).toBe("120");
    expect(rules.headerText(undefined)).toBeUndefined();
  });

  it("exports the same rules from both entry points", async () => {
    const fetchEntry = await import("../../src/integrations/fetch.js");
    const undiciEntry = await import("../../src/integrations/undici.js");
    expect(fetchEntry.isFailureStatus).toBe(undiciEntry.isFailureStatus);
    expect(fetchEntry.retryAfterSeconds).toBe(undiciEntry.retryAfterSeconds);
    expect(fetchEntry.DEFAULT_FETCH_LIMITS).toBe(undiciEntry.DEFAULT_HTTP_LIMITS);
  });
});
