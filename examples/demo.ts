/**
 * `npm run demo`: a flaky HTTP service, guarded by Purgatory, told as a timeline.
 *
 * The demo starts two HTTP servers of its own (node:http) on 127.0.0.1, each on a random port:
 * - the catalog service stays healthy; `/items/404` answers 404 (an excluded error);
 * - the payments service answers 200, then goes through an outage of 503s, then recovers.
 *
 * Calls go through the global `fetch`, wrapped by `circuitbreaker.decorate`, with one circuit per
 * host: the circuit name is computed from the URL, `new URL(url).host`, e.g. "127.0.0.1:41235".
 * A legend maps each host to its service, and the timeline shows both. A 5xx is a failure; a 4xx
 * is excluded: re-thrown to the caller but not counted. Every event is printed as it happens, then
 * a summary per circuit.
 *
 * Act two (`demo-fleet.ts`), when a Redis answers (REDIS_URL, else 127.0.0.1:6379): two processes
 * share one circuit through Redis; one trips it, the other hears of it and is rejected fast; the
 * dashboard runs meanwhile (its URL is printed), and the CLI lists the circuits at the end.
 * Without a Redis, act two is skipped with one line. `npm run demo -- --hold` keeps act two's
 * dashboard open until Ctrl-C, to look at it.
 *
 * Runs in about 7 seconds and exits by itself: the servers, the other process and the factories
 * are closed, no timer is left behind. Colours follow NO_COLOR / FORCE_COLOR and whether stdout
 * is a terminal.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { styleText } from "node:util";
import { AsyncCircuitBreakerFactory, CircuitOpenError, type CircuitHook, type CircuitStateName } from "../src/index.js";
import { actTwo } from "./demo-fleet.js";

// ---------------------------------------------------------------------------------------------
// Output: colours when stdout is a colour terminal, never under NO_COLOR.

type Style = Parameters<typeof styleText>[0];
const useColor =
  !process.env.NO_COLOR &&
  ((process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== "0") ||
    (process.stdout.isTTY === true && process.stdout.hasColors()));
const paint = (style: Style, text: string): string => (useColor ? styleText(style, text) : text);

const startedAt = performance.now();
const epochStart = Date.now();
const elapsed = (): string => `${Math.round(performance.now() - startedAt)} ms`.padStart(8);

const STATE_STYLE: Record<CircuitStateName, Style> = {
  closed: "green",
  opened: "red",
  "half-opened": "yellow",
  isolated: "magenta",
  disabled: "gray",
};

/** The service behind each host (a circuit's name is its host), for the timeline and summary. */
const serviceOf = new Map<string, string>();
/** Widest host name, for aligned columns ("127.0.0.1:41235" is 15 characters). */
let hostWidth = 15;

/** One timeline line: elapsed time, circuit (host and its service), what happened, details. */
function line(circuit: string, what: string, detail: string): void {
  const service = (serviceOf.get(circuit) ?? "?").padEnd(8);
  console.log(
    `${paint("gray", elapsed())}  ${paint("bold", circuit.padEnd(hostWidth))}  ${service}  ${what} ${detail}`,
  );
}

function phase(title: string): void {
  console.log(`\n${paint("cyan", `── ${title} ${"─".repeat(Math.max(3, 96 - title.length))}`)}`);
}

// ---------------------------------------------------------------------------------------------
// The two services, each its own HTTP server on 127.0.0.1 (a random port).

type Answer = (status: number, body: unknown) => void;

function startServer(route: (path: string, answer: Answer) => void): Promise<Server> {
  const server = createServer((req, res) => {
    route(req.url ?? "/", (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** The catalog: always healthy; `/items/404` is an item that does not exist. */
const catalogRoutes = (path: string, answer: Answer): void => {
  if (path === "/items/404") return answer(404, { error: "no such item" });
  if (path.startsWith("/items/")) return answer(200, { item: path.slice(7), price: 42 });
  answer(404, { error: "unknown route" });
};

type Mode = "healthy" | "outage";
let paymentsMode: Mode = "healthy";
let paymentsBlips = 0; // answers 503 this many times, even when healthy

/** The payments service: flaky on demand. */
const paymentsRoutes = (path: string, answer: Answer): void => {
  if (path !== "/charge") return answer(404, { error: "unknown route" });
  if (paymentsMode === "outage") return answer(503, { error: "payments unavailable" });
  if (paymentsBlips > 0) {
    paymentsBlips -= 1;
    return answer(503, { error: "a blip" });
  }
  answer(200, { paid: true });
};

// ---------------------------------------------------------------------------------------------
// The client, guarded by Purgatory.

/** An HTTP answer that is not 2xx. */
class HTTPStatusError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
  ) {
    super(`HTTP ${status} from ${url}`);
    this.name = "HTTPStatusError";
  }
}

const circuitbreaker = new AsyncCircuitBreakerFactory({
  defaultThreshold: 3, // 3 consecutive failures open a circuit
  defaultTtl: 1, // it stays opened 1 s, then lets one probe through
  // 4xx are the caller's problem, not the service's: excluded, so they never open the circuit.
  exclude: [[HTTPStatusError, (error: HTTPStatusError) => error.status < 500]],
});

const describeState = (state: CircuitStateName): string => paint(STATE_STYLE[state], state);

const hook: CircuitHook = (name, eventType, event) => {
  const type = paint("magenta", `⚡ ${eventType.padEnd(23)}`);
  switch (eventType) {
    case "circuit_breaker_created":
      return line(name, type, `threshold=${event.threshold} ttl=${event.ttl}s`);
    case "failed":
      return line(name, type, paint("red", `failureCount=${event.failureCount}`));
    case "recovered":
      return line(name, type, paint("green", "failure count reset"));
    case "state_changed": {
      const at =
        event.openedAt === null ? "" : paint("gray", ` openedAt=+${Math.round(event.openedAt - epochStart)} ms`);
      return line(name, type, `→ ${describeState(event.state)}${at}`);
    }
  }
};
circuitbreaker.addListener(hook);

/** Fetches JSON under the circuit of the URL's host ("127.0.0.1:41235"). */
const getJson = circuitbreaker.decorate((url: string) => new URL(url).host)(async (url: string): Promise<unknown> => {
  const response = await fetch(url);
  if (!response.ok) {
    await response.body?.cancel();
    throw new HTTPStatusError(response.status, url);
  }
  return response.json();
});

// ---------------------------------------------------------------------------------------------
// Calls, counted per circuit for the summary.

interface Tally {
  calls: number;
  successes: number;
  failures: number;
  excluded: number;
  rejected: number;
}
const tallies = new Map<string, Tally>();
/** When the last rejected call said a probe may run (performance.now() time). */
let retryAt = 0;
const untilRetry = (): number => Math.round(Math.max(0, retryAt - performance.now())) + 20;

async function call(base: string, path: string): Promise<void> {
  const circuit = new URL(base).host; // the same name the decorator computes
  const tally = tallies.get(circuit) ?? { calls: 0, successes: 0, failures: 0, excluded: 0, rejected: 0 };
  tallies.set(circuit, tally);
  tally.calls += 1;
  const what = `GET ${path}`.padEnd(25);
  try {
    await getJson(base + path);
    tally.successes += 1;
    line(circuit, what, paint("green", "200 ok"));
  } catch (error) {
    if (error instanceof CircuitOpenError) {
      tally.rejected += 1;
      retryAt = performance.now() + error.retryAfterMs;
      line(
        circuit,
        what,
        paint("yellow", `rejected fast: CircuitOpenError, retryAfterMs=${Math.round(error.retryAfterMs)}`),
      );
    } else if (error instanceof HTTPStatusError && error.status < 500) {
      tally.excluded += 1;
      line(circuit, what, paint("blue", `${error.status} (excluded: re-thrown, not a failure)`));
    } else if (error instanceof HTTPStatusError) {
      tally.failures += 1;
      line(circuit, what, paint("red", `${error.status} (failure)`));
    } else {
      tally.failures += 1;
      line(circuit, what, paint("red", `failure: ${String(error)}`));
    }
  }
}

async function scenario(catalog: string, payments: string): Promise<void> {
  const step = 250; // ms between calls

  phase("phase 1: both services healthy (a 404 is excluded, a single 503 blip is forgiven)");
  await call(catalog, "/items/1");
  await sleep(step);
  await call(payments, "/charge");
  await sleep(step);
  await call(catalog, "/items/404");
  await sleep(step);
  paymentsBlips = 1;
  await call(payments, "/charge");
  await sleep(step);
  await call(payments, "/charge");
  await sleep(step);

  phase("phase 2: payments outage (503): 3 failures open its circuit, catalog is unaffected");
  paymentsMode = "outage";
  for (let i = 0; i < 3; i++) {
    await call(payments, "/charge");
    await sleep(step);
  }
  for (let i = 0; i < 3; i++) {
    await call(payments, "/charge");
    await call(catalog, "/items/2");
    await sleep(step);
  }

  let wait = untilRetry();
  phase("after the ttl (1 s since opening): a probe runs, fails, and re-opens the circuit");
  await sleep(wait);
  await call(payments, "/charge");
  await sleep(step);
  await call(payments, "/charge");

  wait = untilRetry();
  paymentsMode = "healthy";
  phase(`phase 3: payments is back; wait ${wait} ms, then 2 calls at once: 1 probe, 1 rejected`);
  await sleep(wait);
  // halfOpenMaxCalls is 1: while the probe runs, the other call is rejected fast.
  await Promise.all([call(payments, "/charge"), call(payments, "/charge")]);
  await sleep(step);
  for (let i = 0; i < 2; i++) {
    await call(payments, "/charge");
    await sleep(step);
  }
}

async function summary(): Promise<void> {
  phase("summary");
  const header = ["circuit", "service", "calls", "ok", "failures", "excluded", "rejected", "final state"];
  const rows: string[][] = [];
  for (const name of circuitbreaker.circuitNames()) {
    const t = tallies.get(name);
    const breaker = await circuitbreaker.getBreaker(name);
    rows.push([
      name,
      serviceOf.get(name) ?? "?",
      String(t?.calls ?? 0),
      String(t?.successes ?? 0),
      String(t?.failures ?? 0),
      String(t?.excluded ?? 0),
      String(t?.rejected ?? 0),
      breaker.state,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const render = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(paint("bold", render(header)));
  for (const row of rows) {
    const state = row.pop() as CircuitStateName;
    console.log(`${render(row)}  ${describeState(state)}`);
  }
}

const servers = { catalog: await startServer(catalogRoutes), payments: await startServer(paymentsRoutes) };
const baseOf = (server: Server): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const catalog = baseOf(servers.catalog);
const payments = baseOf(servers.payments);
for (const [service, base] of [
  ["catalog", catalog],
  ["payments", payments],
] as const) {
  serviceOf.set(new URL(base).host, service);
}
hostWidth = Math.max(...[...serviceOf.keys()].map((host) => host.length));
console.log(
  `${paint("bold", "purgatory demo")}: two local HTTP services, one circuit per host, ` +
    `threshold=${circuitbreaker.defaults.threshold}, ttl=${circuitbreaker.defaults.ttl}s`,
);
for (const [host, service] of serviceOf) console.log(`  ${paint("bold", host.padEnd(hostWidth))} = ${service}`);
try {
  await circuitbreaker.initialize();
  await scenario(catalog, payments);
  await summary();
} finally {
  circuitbreaker.removeListener(hook);
  await circuitbreaker.close();
  for (const server of Object.values(servers)) {
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  }
}
console.log(paint("gray", `\ndone in ${elapsed().trim()}; servers and factory closed.`));

// ---------------------------------------------------------------------------------------------
// Act two: the same idea across processes, through Redis.

await actTwo(
  {
    phase,
    say: (who, what, detail) =>
      console.log(`${paint("gray", elapsed())}  ${paint("bold", who.padEnd(hostWidth))}  ${what.padEnd(25)} ${detail}`),
    paint,
  },
  process.argv.includes("--hold"),
);
console.log(paint("gray", `\nthe end, in ${elapsed().trim()}.`));
