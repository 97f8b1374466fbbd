/**
 * A long-lived caller's signal (a server's shutdown signal, passed to every request) through
 * `circuitFetch` with a `timeout`: 100,000 requests leave nothing behind on it (the heap stays
 * flat), and it still cancels what is in flight, also the reading of a body after the response
 * came (after a full garbage collection), while the timeout still aborts the signal `fetch` got.
 *
 * The `fetch` here is a fake of the network, not of anything of ours: what is under test is how
 * circuitFetch wires the signals, which the fake receives and holds as a real `fetch` does (it
 * listens to it from the request until its body is read or cancelled). The last test does the same
 * with the real global `fetch` against a local HTTP server.
 */
import { createServer, type Server } from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, CallTimeoutError } from "../../src/index.js";
import { circuitFetch, type FetchFunction } from "../../src/integrations/fetch.js";

const REQUESTS = 100_000;
/** The heap is sampled after every SAMPLE requests: its growth is from the first sample to the last. */
const SAMPLE = 20_000;
/**
 * Requests in flight at once, all with the same caller's signal (each call in flight listens to
 * it: with more than ten, Node warns of a possible leak of listeners).
 */
const CONCURRENCY = 8;
/**
 * The heap may grow this much from SAMPLE requests to REQUESTS. It does not grow at all; joined
 * with `AbortSignal.any`, the requests' signals left an entry each on the caller's (Node 20): the
 * heap grew by 3.8 MiB, about 50 bytes a request, kept until the caller's signal goes or aborts.
 */
const FLAT = 1.5 * 2 ** 20;
const URL_OF_API = "http://api.example/items";

/** A full garbage collection (V8's, exposed at run time). */
const gc = (() => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();
/** A full collection, the finalizers it left to run, then another: what is left is in use. */
async function collect(): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
  gc();
}
async function heapUsed(): Promise<number> {
  await collect();
  return process.memoryUsage().heapUsed;
}

const OK = new TextEncoder().encode("ok");

interface Network {
  /** When given, called with the signal of each request. */
  readonly onSignal?: (signal: AbortSignal) => void;
  /** A body that never ends (until an abort errors it); default: "ok". */
  readonly endless?: boolean;
  /** No answer at all (until an abort rejects the request). */
  readonly silent?: boolean;
}

/**
 * The fake network: answers each request on the next turn of the event loop, with a body read on
 * demand. It listens to the request's signal from the request until the body was read or
 * cancelled, as a real `fetch` does: an abort before the response rejects the request with the
 * signal's reason, an abort while the body is read errors the body with it.
 */
function network({ onSignal, endless = false, silent = false }: Network = {}): FetchFunction {
  return (_input, init) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init?.signal;
      if (signal == null) {
        reject(new TypeError("the fake network expects a signal"));
        return;
      }
      onSignal?.(signal);
      let body: ReadableStreamDefaultController<Uint8Array> | undefined;
      const done = () => signal.removeEventListener("abort", onAbort);
      const onAbort = () => {
        done();
        const reason: unknown = signal.reason;
        if (body === undefined) reject(reason);
        else body.error(reason);
      };
      signal.addEventListener("abort", onAbort);
      if (silent) return;
      setImmediate(() => {
        if (signal.aborted) return;
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            body = controller;
          },
          pull(controller) {
            if (endless) return;
            controller.enqueue(OK);
            controller.close();
            done();
          },
          cancel: done,
        });
        resolve(new Response(stream, { status: 200 }));
      });
    });
}

/**
 * A fake network that lets go of the request's signal once it answered, as Bun's and Deno's
 * `fetch` do: a listener on the signal errors the endless body on an abort, but nothing of the
 * response holds the signal (its stream is made where the signal is out of reach).
 */
function forgetfulNetwork(): FetchFunction {
  return (_input, init) => {
    const signal = init?.signal;
    if (signal == null) return Promise.reject(new TypeError("the fake network expects a signal"));
    return new Promise<Response>((resolve) => setImmediate(() => resolve(endlessResponse(signal))));
  };
}
function endlessResponse(signal: AbortSignal): Response {
  const { stream, controller } = openStream();
  signal.addEventListener("abort", () => controller.error(signal.reason), { once: true });
  return new Response(stream, { status: 200 });
}
function openStream(): { stream: ReadableStream<Uint8Array>; controller: ReadableStreamDefaultController<Uint8Array> } {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  if (controller === undefined) throw new Error("a ReadableStream starts at once");
  return { stream, controller };
}

/** What a promise rejects with within two seconds (failing the test if it resolves, or does neither). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error("expected a rejection within 2 s, got nothing")), 2000);
  });
  const settled = promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${String(value)}`);
    },
    (error: unknown) => error,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

const factories: AsyncCircuitBreakerFactory[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(factories.splice(0).map((f) => f.close()));
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});
function factory(): AsyncCircuitBreakerFactory {
  const made = new AsyncCircuitBreakerFactory();
  factories.push(made);
  return made;
}

describe("circuitFetch with a long-lived caller's signal and a timeout", () => {
  it(`keeps the heap flat over ${REQUESTS} requests sharing one caller's signal`, async () => {
    const fetch = circuitFetch(factory(), { fetch: network(), timeout: 30 });
    const shutdown = new AbortController();
    const samples: { requests: number; heap: number }[] = [];
    const started = performance.now();
    let sent = 0;
    while (sent < REQUESTS) {
      const end = sent + SAMPLE;
      const flow = async () => {
        while (sent < end) {
          sent += 1;
          const res = await fetch(URL_OF_API, { signal: shutdown.signal });
          expect(await res.text()).toBe("ok");
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, flow));
      samples.push({ requests: sent, heap: await heapUsed() });
    }
    const seconds = (performance.now() - started) / 1000;
    const growth = (samples.at(-1)?.heap ?? 0) - (samples[0]?.heap ?? 0);
    console.log(
      `${REQUESTS} requests with one caller's signal in ${seconds.toFixed(1)} s; heap from ` +
        `${SAMPLE} to ${REQUESTS} requests: ${growth >= 0 ? "+" : ""}${(growth / 2 ** 20).toFixed(2)} MiB ` +
        `(${samples.map((s) => `${(s.heap / 2 ** 20).toFixed(1)}`).join(", ")} MiB)`,
    );
    expect(sent).toBe(REQUESTS);
    expect(growth).toBeLessThan(FLAT);
    expect(shutdown.signal.aborted).toBe(false);
  }, 60_000);

  it("aborting the shared signal aborts every request in flight, rejecting each with its reason, counting nothing", async () => {
    const circuits = factory();
    const received: AbortSignal[] = [];
    const shutdown = new AbortController();
    // Earlier requests with the same signal, done and collected.
    const done = circuitFetch(circuits, { fetch: network(), timeout: 30 });
    for (let i = 0; i < 1000; i++) await (await done(URL_OF_API, { signal: shutdown.signal })).text();
    await collect();

    const fetch = circuitFetch(circuits, {
      fetch: network({ silent: true, onSignal: (signal) => received.push(signal) }),
      timeout: 30,
    });
    const pending = Array.from({ length: 3 }, () => fetch(URL_OF_API, { signal: shutdown.signal }));
    expect(received).toHaveLength(3);
    const reason = new Error("shutting down");
    shutdown.abort(reason);
    for (const request of pending) expect(await rejectionOf(request)).toBe(reason);
    for (const signal of received) {
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBe(reason);
    }
    const breaker = await circuits.getBreaker("api.example");
    expect(breaker.failureCount).toBe(0);
    expect(breaker.state).toBe("closed");
  });

  it("the timeout aborts the signal fetch got with the CallTimeoutError, and counts it; the shared signal stays as it was", async () => {
    const circuits = factory();
    const received: AbortSignal[] = [];
    const shutdown = new AbortController();
    const fetch = circuitFetch(circuits, {
      fetch: network({ silent: true, onSignal: (signal) => received.push(signal) }),
      timeout: 0.05,
    });

    const error = await rejectionOf(fetch(URL_OF_API, { signal: shutdown.signal }));
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect(received).toHaveLength(1);
    expect(received[0]?.aborted).toBe(true);
    expect(received[0]?.reason).toBe(error);
    expect(shutdown.signal.aborted).toBe(false);
    expect((await circuits.getBreaker("api.example")).failureCount).toBe(1);

    // The next request with the same signal is sent, and the caller can still cancel it.
    const pending = fetch(URL_OF_API, { signal: shutdown.signal });
    expect(received).toHaveLength(2);
    expect(received[1]?.aborted).toBe(false);
    const reason = new Error("shutting down");
    shutdown.abort(reason);
    expect(await rejectionOf(pending)).toBe(reason);
    expect(received[1]?.reason).toBe(reason);
  });

  it("aborting the shared signal while a body is read errors the body with its reason, also after a full collection", async () => {
    const shutdown = new AbortController();
    const fetch = circuitFetch(factory(), { fetch: network({ endless: true }), timeout: 30 });

    const res = await fetch(URL_OF_API, { signal: shutdown.signal });
    expect(res.status).toBe(200);
    const body = res.text();
    // The call is over (the timeout no longer applies); only the body is being read.
    await collect();
    const reason = new Error("shutting down");
    shutdown.abort(reason);
    expect(await rejectionOf(body)).toBe(reason);
  });

  it("a fetch that lets go of the signal once it answered (Bun's, Deno's): the shared signal still errors the body after a full collection", async () => {
    const shutdown = new AbortController();
    const fetch = circuitFetch(factory(), { fetch: forgetfulNetwork(), timeout: 30 });

    const res = await fetch(URL_OF_API, { signal: shutdown.signal });
    const body = res.text();
    await collect();
    const reason = new Error("shutting down");
    shutdown.abort(reason);
    expect(await rejectionOf(body)).toBe(reason);
  });

  it("with the real fetch: aborting the shared signal while a body is read rejects the read, after a full collection", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("the beginning"); // and never the end
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const shutdown = new AbortController();
    const fetch = circuitFetch(factory(), { timeout: 30 });

    const res = await fetch(`http://127.0.0.1:${address.port}/`, { signal: shutdown.signal });
    expect(res.status).toBe(200);
    const body = res.text();
    await collect();
    const reason = new Error("shutting down");
    shutdown.abort(reason);
    expect(await rejectionOf(body)).toBe(reason);
  });
});
