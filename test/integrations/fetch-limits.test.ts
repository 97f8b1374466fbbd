/**
 * `purgatory/fetch` bounds its circuits: hosts are chosen by whoever writes the URLs, so a
 * `circuitFetch` holds at most `maxCircuits` of them (default 1,000), forgets those unused for
 * `idleTtl` (default 600 s), and counts them apart from the factory's other circuits. Requests go
 * to a real local HTTP server; every host is sent there by the `fetch` option.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitLimitError,
  CircuitOpenError,
  InvalidOptionError,
  type CircuitForgottenEvent,
  type CircuitHookArgs,
  type FactoryOptions,
} from "../../src/index.js";
import {
  circuitFetch,
  DEFAULT_FETCH_LIMITS,
  type CircuitFetchOptions,
  type FetchFunction,
} from "../../src/integrations/fetch.js";
import { closeServers, listen } from "../support/local-http.js";

const factories: AsyncCircuitBreakerFactory[] = [];

afterEach(async () => {
  await Promise.all(factories.splice(0).map((f) => f.close()));
  await closeServers();
});

/**
 * A local server that answers by the first label of the Host the client asked for (the `fetch` of
 * `toServer` keeps it in `x-host`): `status` decides, `hold` leaves a host's requests hanging until
 * `release()`.
 */
async function serve(status: (host: string) => number = () => 200) {
  const held: ServerResponse[] = [];
  const hosts: string[] = [];
  let holding = new Set<string>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const host = String(req.headers["x-host"]);
    hosts.push(host);
    if (holding.has(host)) held.push(res);
    else res.writeHead(status(host)).end("ok");
  });
  const port = await listen(server);
  /** A fetch that sends every URL to this server, telling it the host it was meant for. */
  const toServer: FetchFunction = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    headers.set("x-host", url.host);
    url.host = `127.0.0.1:${port}`;
    return globalThis.fetch(url, { ...init, headers });
  };
  return {
    toServer,
    hosts,
    hold(host: string) {
      holding = new Set([...holding, host]);
    },
    release() {
      holding = new Set();
      for (const res of held.splice(0)) res.writeHead(200).end("ok");
    },
  };
}

function factoryWith(options: FactoryOptions = {}) {
  const events: CircuitHookArgs[] = [];
  const factory = new AsyncCircuitBreakerFactory({ listeners: [(...args) => void events.push(args)], ...options });
  factories.push(factory);
  const forgotten = (): [string, CircuitForgottenEvent["reason"]][] =>
    events.flatMap(([, type, event]) =>
      type === "circuit_forgotten" ? [[event.name, event.reason] as [string, CircuitForgottenEvent["reason"]]] : [],
    );
  return { factory, forgotten };
}

/** The hosts `names` as URLs. */
const urls = (...names: string[]) => names.map((name) => `http://${name}/`);

describe("circuitFetch: bounded circuits", () => {
  it(`holds at most ${DEFAULT_FETCH_LIMITS.maxCircuits} hosts by default, never pushing out the factory's other circuits`, async () => {
    const server = await serve();
    const { factory, forgotten } = factoryWith();
    await factory.run("payments-db", () => "the application's own circuit");
    const fetch = circuitFetch(factory, { fetch: server.toServer });
    const hosts = Array.from({ length: DEFAULT_FETCH_LIMITS.maxCircuits + 50 }, (_, i) => `h${i}.example`);
    for (const url of urls(...hosts)) expect((await fetch(url)).status).toBe(200);
    expect(factory.circuitNames()).toHaveLength(DEFAULT_FETCH_LIMITS.maxCircuits + 1);
    expect(factory.circuitNames()).toContain("payments-db");
    expect(forgotten()).toEqual(hosts.slice(0, 50).map((host) => [host, "limit"]));
  });

  it("forgets the least recently requested host: one requested again stays", async () => {
    const server = await serve();
    const { factory, forgotten } = factoryWith();
    const fetch = circuitFetch(factory, { fetch: server.toServer, maxCircuits: 3 });
    for (const url of urls("a", "b", "c", "a", "d")) await fetch(url);
    expect(forgotten()).toEqual([["b", "limit"]]);
    expect(factory.circuitNames().sort()).toEqual(["a", "c", "d"]);
  });

  it("never forgets an opened host nor one with a request in flight: a new host is refused, sending nothing", async () => {
    const server = await serve((host) => (host === "down" ? 503 : 200));
    const { factory, forgotten } = factoryWith();
    const fetch = circuitFetch(factory, { fetch: server.toServer, maxCircuits: 2, threshold: 1, ttl: 60 });
    await fetch("http://down/");
    await expect(fetch("http://down/")).rejects.toBeInstanceOf(CircuitOpenError);
    server.hold("slow");
    const slow = fetch("http://slow/");
    while (!server.hosts.includes("slow")) await new Promise((resolve) => setTimeout(resolve, 1));

    const error = await fetch("http://newcomer/").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircuitLimitError);
    expect(error).toMatchObject({ circuitName: "newcomer", limit: 2 });
    expect(server.hosts).not.toContain("newcomer");
    expect(forgotten()).toEqual([]);

    server.release();
    expect((await slow).status).toBe(200);
    expect((await fetch("http://newcomer/")).status).toBe(200);
    expect(forgotten()).toEqual([["slow", "limit"]]);
    await expect(fetch("http://down/")).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it("forgets a host unused for idleTtl when a new host comes", async () => {
    const server = await serve();
    const time = { now: Date.UTC(2030, 0, 1) };
    const { factory, forgotten } = factoryWith({ clock: () => time.now });
    const fetch = circuitFetch(factory, { fetch: server.toServer, idleTtl: 60, maxCircuits: null });
    await fetch("http://quiet/");
    await fetch("http://busy/");
    time.now += 45_000;
    await fetch("http://busy/");
    time.now += 20_000; // quiet: 65 s without a request; busy: 20 s
    await fetch("http://newcomer/");
    expect(forgotten()).toEqual([["quiet", "idle"]]);
    expect(factory.circuitNames().sort()).toEqual(["busy", "newcomer"]);
  });

  it("keeps an opened host past idleTtl until its ttl is over", async () => {
    const server = await serve((host) => (host === "down" ? 503 : 200));
    const time = { now: Date.UTC(2030, 0, 1) };
    const { factory, forgotten } = factoryWith({ clock: () => time.now });
    const fetch = circuitFetch(factory, { fetch: server.toServer, idleTtl: 10, threshold: 1, ttl: 60 });
    await fetch("http://down/");
    time.now += 30_000;
    await fetch("http://newcomer-1/");
    expect(forgotten()).toEqual([]);
    time.now += 31_000;
    await fetch("http://newcomer-2/");
    expect(forgotten()).toEqual([
      ["down", "idle"],
      ["newcomer-1", "idle"],
    ]);
  });

  it("with maxCircuits: null and idleTtl: null, bounds nothing of its own; the factory's maxCircuits still applies", async () => {
    const server = await serve();
    const { factory, forgotten } = factoryWith({ maxCircuits: 5 });
    const fetch = circuitFetch(factory, { fetch: server.toServer, maxCircuits: null, idleTtl: null });
    for (const url of urls(...Array.from({ length: 20 }, (_, i) => `h${i}`))) await fetch(url);
    expect(factory.circuitNames()).toHaveLength(5);
    expect(forgotten()).toHaveLength(15);
  });

  it("keeps the hosts of two circuitFetch apart", async () => {
    const server = await serve();
    const { factory } = factoryWith();
    const webhooks = circuitFetch(factory, { fetch: server.toServer, maxCircuits: 2 });
    const apis = circuitFetch(factory, { fetch: server.toServer, maxCircuits: 2 });
    await apis("http://api-1/");
    await apis("http://api-2/");
    for (const url of urls("w1", "w2", "w3", "w4")) await webhooks(url);
    expect(factory.circuitNames().sort()).toEqual(["api-1", "api-2", "w3", "w4"]);
  });
});

describe("circuitFetch: bad bounds", () => {
  const factory = new AsyncCircuitBreakerFactory();

  it.each([
    ["maxCircuits", 0],
    ["maxCircuits", -1],
    ["maxCircuits", 1.5],
    ["maxCircuits", "10"],
    ["maxCircuits", Number.POSITIVE_INFINITY],
    ["idleTtl", 0],
    ["idleTtl", -5],
    ["idleTtl", "600"],
    ["idleTtl", Number.NaN],
    ["idleTtl", Number.POSITIVE_INFINITY],
  ])("throws InvalidOptionError for %s: %s", (option, value) => {
    let thrown: unknown;
    try {
      const options: Record<string, unknown> = { [option]: value };
      circuitFetch(factory, options as CircuitFetchOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect(thrown).toMatchObject({ option, value });
    expect((thrown as Error).message).toContain(`"${option}"`);
  });
});
