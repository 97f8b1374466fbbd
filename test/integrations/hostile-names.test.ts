/**
 * Bounded under names an attacker chooses: 40,000 distinct hostnames through `circuitFetch`, as
 * a flood of user-supplied webhook URLs (or redirects) would bring, against a real local HTTP
 * server (keep-alive), with a real `RedisStorage` and a real prom-client registry. Heap, Redis
 * keys, subscriptions and Prometheus series stay bounded, and a circuit opened before the flood is
 * still opened after it (its requests rejected without reaching the server).
 */
import http from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Worker } from "node:worker_threads";
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, CircuitOpenError, RedisStorage } from "../../src/index.js";
import { circuitFetch, type FetchFunction } from "../../src/integrations/fetch.js";
import { registerMetrics } from "../../src/integrations/prometheus.js";
import { deleteKeys, REDIS_URL, sleep, uniquePrefix, waitFor } from "../support/redis-helpers.js";

const HOSTS = 40_000;
/** Requests in flight at once, as a busy webhook sender has. */
const CONCURRENCY = 64;
/** The bound under test: circuitFetch's `maxCircuits`. */
const MAX_CIRCUITS = 500;
/** Seconds after which the keys of circuits no process holds expire (and every circuit's ttl). */
const KEY_TTL = 3;
/** Prometheus lines of one circuit at most: 7 of the state gauge, calls, durations, state changes. */
const SERIES_PER_CIRCUIT = 25;

/** A full garbage collection (V8's, exposed at run time), then the heap in use. */
const gc = (() => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();
function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Counts the keys under `prefix:` (SCAN). */
async function keysUnder(redis: Redis, prefix: string): Promise<number> {
  let count = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 5000);
    cursor = next;
    count += keys.length;
  } while (cursor !== "0");
  return count;
}

/**
 * The dependency: a node:http server on 127.0.0.1 (keep-alive), in a worker thread so that serving
 * does not take the test's thread. It answers 200, except to requests for host "down.example"
 * (told in `x-host`): 503, asking for 10 minutes. It counts the requests it served.
 */
const SERVER = `
const http = require("node:http");
const { parentPort } = require("node:worker_threads");
let served = 0;
const server = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => {
  served += 1;
  if (req.headers["x-host"] === "down.example") res.writeHead(503, { "retry-after": "600" }).end("down");
  else res.writeHead(200, { "content-type": "text/plain" }).end("ok");
});
parentPort.on("message", () => parentPort.postMessage({ served }));
server.listen(0, "127.0.0.1", () => parentPort.postMessage({ port: server.address().port }));
`;

describe("40,000 hostnames through circuitFetch, over Redis, with Prometheus metrics", () => {
  const prefix = uniquePrefix("hostile");
  const redis = new Redis(REDIS_URL);
  let worker: Worker;
  let port: number;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  /** Closed after the test, also when it failed, before its keys are deleted. */
  const cleanups: (() => unknown)[] = [];

  /** How many requests the server has served. */
  const served = async (): Promise<number> => {
    const answer = new Promise<{ served: number }>((resolve) => worker.once("message", resolve));
    worker.postMessage("served?");
    return (await answer).served;
  };

  beforeAll(async () => {
    worker = new Worker(SERVER, { eval: true });
    ({ port } = await new Promise<{ port: number }>((resolve) => worker.once("message", resolve)));
  });

  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    agent.destroy();
    await worker.terminate();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  /**
   * circuitFetch's `fetch`: every URL goes to the local server, the host it named in `x-host`. Over
   * node:http with a keep-alive agent rather than the global fetch (undici), which costs about
   * three times as much per request on loopback: 40,000 requests fit the test's time on a busy machine.
   */
  const toServer: FetchFunction = (input, init) =>
    new Promise((resolve, reject) => {
      // circuitFetch hands the URL string it was given on.
      const host = new URL(input as string).hostname;
      const request = http.request(
        { host: "127.0.0.1", port, path: "/", agent, headers: { "x-host": host }, signal: init?.signal ?? undefined },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("error", reject);
          response.on("end", () => {
            const headers = new Headers();
            for (const [name, value] of Object.entries(response.headers)) {
              if (typeof value === "string") headers.set(name, value);
            }
            resolve(new Response(Buffer.concat(chunks), { status: response.statusCode ?? 500, headers }));
          });
        },
      );
      request.on("error", reject);
      request.end();
    });

  it("keeps heap, Redis keys, subscriptions and series bounded; an opened circuit stays opened", async () => {
    const storage = new RedisStorage({
      url: REDIS_URL,
      prefix,
      keyTtl: KEY_TTL,
      // A loaded 2-core machine answers late: no false outage in this test of bounds.
      commandTimeout: 2,
      // Every circuit this process holds is re-read (and its key renewed) at each background tick,
      // every second or so (+-50 %), well within keyTtl, whatever the churn of new circuits.
      resyncInterval: 1,
      resyncBatch: MAX_CIRCUITS + 1,
    });
    const factory = new AsyncCircuitBreakerFactory({ storage });
    cleanups.push(() => factory.close());
    await factory.initialize({ requireStorage: true });
    const registry = new Registry();
    cleanups.push(registerMetrics(factory, { registry }));
    // ttl within keyTtl (RedisStorage refuses a key that could expire before its circuit may close);
    // down.example's Retry-After keeps it opened for 600 s, its key renewed while this process holds it.
    const fetch = circuitFetch(factory, { fetch: toServer, maxCircuits: MAX_CIRCUITS, threshold: 1, ttl: KEY_TTL });
    const forgottenDown: unknown[] = [];
    factory.addListener((name, type, _event) => {
      if (name === "down.example" && type === "circuit_forgotten") forgottenDown.push(type);
    });

    expect((await fetch("http://down.example/")).status).toBe(503);
    await expect(fetch("http://down.example/")).rejects.toBeInstanceOf(CircuitOpenError);

    const series = async () =>
      (await registry.metrics()).split("\n").filter((line) => line !== "" && !line.startsWith("#")).length;
    const samples: { sent: number; heap: number; keys: number; subscriptions: number; series: number }[] = [];
    const sample = async (sent: number) => {
      samples.push({
        sent,
        heap: heapUsed(),
        keys: await keysUnder(redis, prefix),
        subscriptions: storage.stats().subscriptions,
        series: await series(),
      });
    };

    const started = performance.now();
    let next = 0;
    let failures = 0;
    const flood = async () => {
      for (;;) {
        const i = next++;
        if (i >= HOSTS) return;
        const res = await fetch(`http://h${i}.flood.example/`).catch(() => null);
        if (res?.status !== 200) failures += 1;
        if ((i + 1) % 10_000 === 0) await sample(i + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, flood));
    const seconds = (performance.now() - started) / 1000;
    const rate = HOSTS / seconds;
    await sample(HOSTS);
    // Once keyTtl has passed, only the keys of the circuits this process holds are left.
    await sleep((KEY_TTL + 1) * 1000);
    const settledKeys = await keysUnder(redis, prefix);

    // The registry (one sorted set) drops the names whose keys expired, every keyTtl or so.
    const registered = await waitFor(
      "the registry to drop the names whose keys expired",
      async () => {
        const count = await redis.zcard(storage.keys.registry);
        return count <= MAX_CIRCUITS + 1 ? count : undefined;
      },
      4 * KEY_TTL * 1000,
      100,
    );
    console.log(
      `hostile names: ${HOSTS} hosts in ${seconds.toFixed(1)} s (${Math.round(rate)}/s), ${failures} refused or ` +
        `failed; ${settledKeys} Redis keys once keyTtl passed after the flood; ${registered} names in the registry`,
    );
    console.table(samples.map((s) => ({ ...s, heap: `${(s.heap / 2 ** 20).toFixed(1)} MiB` })));

    // The circuit opened before the flood is still opened: rejected without reaching the server.
    const before = await served();
    await expect(fetch("http://down.example/")).rejects.toBeInstanceOf(CircuitOpenError);
    expect(await served()).toBe(before);
    expect(factory.circuitStates().get("down.example")).toBe("opened");
    expect(forgottenDown).toEqual([]);
    expect(await redis.exists(storage.keys.circuit("down.example"))).toBe(1);

    expect(failures).toBe(0);
    expect(before).toBe(HOSTS + 1);
    // This process: the circuits it holds, its subscriptions, its heap.
    expect(factory.circuitNames().length).toBeLessThanOrEqual(MAX_CIRCUITS);
    expect(Math.max(...samples.map((s) => s.subscriptions))).toBeLessThanOrEqual(MAX_CIRCUITS);
    // The heap is flat from 10,000 hosts to 40,000 (the spread is the requests and replies in
    // flight at each sample), where a circuit kept per host would add its replica and its series
    // (30,000 of them: far more than the 16 MiB allowed).
    const heaps = samples.map((s) => s.heap);
    expect(Math.max(...heaps) - Math.min(...heaps)).toBeLessThan(16 * 2 ** 20);
    // Prometheus: the series of the circuits held, whatever the hosts seen.
    expect(Math.max(...samples.map((s) => s.series))).toBeLessThanOrEqual((MAX_CIRCUITS + 1) * SERIES_PER_CIRCUIT);
    // Redis: keys of forgotten circuits expire after keyTtl; at most keyTtl's worth of new hosts
    // (and the circuits held) at any time, and only the circuits held once the flood is over.
    const peak = Math.max(...samples.map((s) => s.keys));
    expect(peak).toBeLessThanOrEqual(rate * (KEY_TTL + 5) + MAX_CIRCUITS);
    expect(peak).toBeLessThan(HOSTS / 2);
    expect(settledKeys).toBeLessThanOrEqual(MAX_CIRCUITS + 2);
  }, 180_000);
});
