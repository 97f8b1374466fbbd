/**
 * `purgatory/undici` against real HTTP servers (node:http on 127.0.0.1, a port of their own), with
 * real undici agents and Node's own `fetch` through the global dispatcher: no test double stands in
 * for either. Time is the factory's injected clock wherever a ttl or a Retry-After matters; the one
 * real timer is a call `timeout`, and its tests assert what happened (the request was aborted, the
 * caller got `CallTimeoutError`), not when.
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import {
  Agent,
  Client,
  fetch as undiciFetch,
  getGlobalDispatcher,
  interceptors,
  setGlobalDispatcher,
  type Dispatcher,
} from "undici";
import { afterEach, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CallTimeoutError,
  CircuitOpenError,
  InvalidOptionError,
  SyncCircuitBreakerFactory,
  type CircuitHook,
  type FactoryOptions,
} from "../../src/index.js";
import { circuitBreaker, type CircuitBreakerInterceptorOptions } from "../../src/integrations/undici.js";
import {
  closed,
  closedPort,
  closeServers,
  serve,
  serveNothing,
  serveStatuses,
  testClock,
  type Served,
} from "../support/local-http.js";

const factories: AsyncCircuitBreakerFactory[] = [];
const agents: Dispatcher[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.destroy()));
  await Promise.all(factories.splice(0).map((f) => f.close()));
  await closeServers();
});

/** A server answering each request with its method, path and body (and a hash of the body). */
const serveEcho = (): Promise<Served> =>
  serve((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          method: req.method,
          path: req.url,
          length: body.length,
          sha: sha(body),
          text: body.toString(),
        }),
      );
    });
  });

const sha = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

function factoryWith(options: FactoryOptions = {}): AsyncCircuitBreakerFactory {
  const factory = new AsyncCircuitBreakerFactory(options);
  factories.push(factory);
  return factory;
}

/** An undici Agent guarded by `circuitBreaker(factory, options)`, destroyed after the test. */
function guardedAgent(factory: AsyncCircuitBreakerFactory, options?: CircuitBreakerInterceptorOptions): Dispatcher {
  const agent = new Agent().compose(circuitBreaker(factory, options));
  agents.push(agent);
  return agent;
}

/** A GET (or another request) through `agent`: status and body text. */
async function get(
  agent: Dispatcher,
  url: string,
  options: Partial<Dispatcher.RequestOptions> = {},
): Promise<{ status: number; text: string; headers: Dispatcher.ResponseData["headers"] }> {
  const { origin, pathname, search } = new URL(url);
  const res = await agent.request({ origin, path: pathname + search, method: "GET", ...options });
  return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
}

/** What a promise rejects with (failing the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${String(value)}`);
    },
    (error: unknown) => error,
  );
}

async function openErrorOf(promise: Promise<unknown>): Promise<CircuitOpenError> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(CircuitOpenError);
  return error as CircuitOpenError;
}

describe("circuitBreaker: what counts", () => {
  it("counts 5xx response heads as failures and opens after threshold of them; each response still reaches the caller", async () => {
    const server = await serveStatuses([503, 500]);
    const agent = guardedAgent(factoryWith(), { threshold: 2 });

    expect(await get(agent, `${server.url}/a`)).toMatchObject({ status: 503, text: "status 503" });
    expect(await get(agent, `${server.url}/b`)).toMatchObject({ status: 500, text: "status 500" });

    const error = await openErrorOf(get(agent, `${server.url}/c`));
    expect(error.circuitName).toBe(server.host);
    expect(error.message).toBe(`Circuit ${server.host} is open`);
    expect(server.requests).toHaveLength(2); // the third request never reached the server
  });

  it("does not count 4xx other than 429: a 404 resets the failure count, a 429 opens", async () => {
    const server = await serveStatuses([503, 404, 503, 429]);
    const factory = factoryWith();
    const agent = guardedAgent(factory, { threshold: 2 });

    expect((await get(agent, server.url)).status).toBe(503);
    const breaker = await factory.getBreaker(server.host);
    expect(breaker.threshold).toBe(2); // the first request registered it with the interceptor's options
    expect(breaker.failureCount).toBe(1);
    expect((await get(agent, server.url)).status).toBe(404);
    expect(breaker.failureCount).toBe(0);
    expect((await get(agent, server.url)).status).toBe(503);
    expect((await get(agent, server.url)).status).toBe(429);
    expect(breaker.state).toBe("opened");
  });

  it("lets isFailureStatus decide, given the status and the response head with its request", async () => {
    const server = await serveStatuses([404, 503]);
    const seen: string[] = [];
    const agent = guardedAgent(factoryWith(), {
      threshold: 1,
      isFailureStatus: (status, head) => {
        seen.push(
          `${head.request.method} ${head.request.path} ${head.statusCode} ${String(head.headers["content-type"])}`,
        );
        return status === 404;
      },
    });

    expect((await get(agent, `${server.url}/first`)).status).toBe(404);
    await openErrorOf(get(agent, `${server.url}/second`));
    expect(seen).toEqual(["GET /first 404 text/plain"]);
  });

  it("counts a network error (a closed port), which reaches the caller as undici raised it", async () => {
    const port = await closedPort();
    const agent = guardedAgent(factoryWith(), { threshold: 1 });

    const error = await rejectionOf(get(agent, `http://127.0.0.1:${port}/`));
    expect(error).toMatchObject({ code: "ECONNREFUSED" });
    const open = await openErrorOf(get(agent, `http://127.0.0.1:${port}/`));
    expect(open.circuitName).toBe(`127.0.0.1:${port}`);
  });

  it("keeps one circuit per host, named as purgatory/fetch names them", async () => {
    const failing = await serveStatuses([503]);
    const healthy = await serveStatuses([200]);
    const factory = factoryWith();
    const agent = guardedAgent(factory, { threshold: 1 });

    expect((await get(agent, `${failing.url}/x`)).status).toBe(503);
    expect((await openErrorOf(get(agent, `${failing.url}/y`))).circuitName).toBe(failing.host);
    expect((await get(agent, `${healthy.url}/x`)).status).toBe(200);
    expect(factory.circuitNames().sort()).toEqual([failing.host, healthy.host].sort());
  });

  it("names circuits by circuitName, given the request's URL and dispatch options", async () => {
    const server = await serve((req, res) => {
      res.writeHead(req.url?.startsWith("/payments") ? 503 : 200);
      res.end();
    });
    const factory = factoryWith();
    const methods: string[] = [];
    const agent = guardedAgent(factory, {
      threshold: 1,
      circuitName: (url, request) => {
        methods.push(request.method);
        return `${url.host}/${url.pathname.split("/")[1] ?? ""}`;
      },
    });

    expect((await get(agent, `${server.url}/payments/1?x=1`, { method: "POST" })).status).toBe(503);
    expect((await openErrorOf(get(agent, `${server.url}/payments/2`))).circuitName).toBe(`${server.host}/payments`);
    expect((await get(agent, `${server.url}/catalog/1`)).status).toBe(200);
    expect(methods).toEqual(["POST", "GET", "GET"]);
  });
});

describe("circuitBreaker: an opened circuit", () => {
  it("rejects through the handler's onResponseError, with no onRequestStart and nothing sent", async () => {
    const server = await serveStatuses([503]);
    const agent = guardedAgent(factoryWith(), { threshold: 1 });
    expect((await get(agent, server.url)).status).toBe(503);

    const calls: string[] = [];
    const failure = await new Promise<{ error: Error; controller: Dispatcher.DispatchController }>((resolve) => {
      agent.dispatch(
        { origin: server.url, path: "/", method: "GET" },
        {
          onRequestStart: () => calls.push("onRequestStart"),
          onResponseStart: () => calls.push("onResponseStart"),
          onResponseError: (controller, error) => {
            calls.push("onResponseError");
            resolve({ error, controller });
          },
        },
      );
    });
    expect(failure.error).toBeInstanceOf(CircuitOpenError);
    expect(failure.controller.aborted).toBe(true);
    expect(failure.controller.reason).toBe(failure.error);
    expect(calls).toEqual(["onResponseError"]);
    expect(server.requests).toHaveLength(1);
  });

  it("leaves a stream body it will never send to undici's request, which releases it", async () => {
    const server = await serveStatuses([503]);
    const agent = guardedAgent(factoryWith(), { threshold: 1 });
    expect((await get(agent, server.url)).status).toBe(503);

    const body = Readable.from(["never", "sent"]);
    await openErrorOf(agent.request({ origin: server.url, path: "/", method: "POST", body }));
    expect(body.destroyed).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  it("runs a half-opened probe after ttl; its success closes the circuit", async () => {
    let status = 503;
    const server = await serve((_req, res) => {
      res.writeHead(status);
      res.end();
    });
    const time = testClock();
    const states: string[] = [];
    const hook: CircuitHook = (_name, eventType, event) => {
      if (eventType === "state_changed") states.push(event.state);
      else if (eventType === "recovered") states.push("recovered");
    };
    const factory = factoryWith({ clock: time.clock, listeners: [hook] });
    const agent = guardedAgent(factory, { threshold: 1, ttl: 1, clock: time.clock });

    expect((await get(agent, server.url)).status).toBe(503);
    await openErrorOf(get(agent, server.url));
    time.now += 1000;
    status = 200;
    expect((await get(agent, server.url)).status).toBe(200);
    expect((await factory.getBreaker(server.host)).state).toBe("closed");
    expect(states).toEqual(["opened", "half-opened", "recovered", "closed"]);
    expect(server.requests).toHaveLength(2);
  });
});

describe("circuitBreaker: Retry-After", () => {
  it("keeps the circuit opened for the seconds a 429's Retry-After asks, beyond the ttl", async () => {
    const server = await serveStatuses([429, 200], { "retry-after": "2" });
    const time = testClock();
    const agent = guardedAgent(factoryWith({ clock: time.clock }), { threshold: 1, ttl: 0.5, clock: time.clock });

    const res = await get(agent, server.url);
    expect(res.status).toBe(429);
    expect(res.headers["retry-after"]).toBe("2");
    expect((await openErrorOf(get(agent, server.url))).retryAfterMs).toBe(2000);
    time.now += 1000; // past the ttl, not past Retry-After
    expect((await openErrorOf(get(agent, server.url))).retryAfterMs).toBe(1000);
    time.now += 1000;
    expect((await get(agent, server.url)).status).toBe(200);
    expect(server.requests).toHaveLength(2);
  });

  it("reads a 503's HTTP-date Retry-After against the clock", async () => {
    const time = testClock();
    const server = await serveStatuses([503], { "retry-after": new Date(time.now + 90_000).toUTCString() });
    const agent = guardedAgent(factoryWith({ clock: time.clock }), { threshold: 1, ttl: 1, clock: time.clock });

    expect((await get(agent, server.url)).status).toBe(503);
    expect((await openErrorOf(get(agent, server.url))).retryAfterMs).toBe(90_000);
  });

  it("leaves the ttl alone with retryAfter: false, and takes a retryAfter function of the head", async () => {
    const time = testClock();
    const server = await serveStatuses([503], { "retry-after": "120", "x-cool-down": "7" });
    const ignoring = guardedAgent(factoryWith({ clock: time.clock }), { threshold: 1, ttl: 1, retryAfter: false });
    expect((await get(ignoring, server.url)).status).toBe(503);
    expect((await openErrorOf(get(ignoring, server.url))).retryAfterMs).toBe(1000);

    const custom = guardedAgent(factoryWith({ clock: time.clock }), {
      threshold: 1,
      ttl: 1,
      retryAfter: (head) => Number(head.headers["x-cool-down"]),
    });
    expect((await get(custom, server.url)).status).toBe(503);
    expect((await openErrorOf(get(custom, server.url))).retryAfterMs).toBe(7000);
  });
});

describe("circuitBreaker: timeouts and cancellation", () => {
  it("aborts a request whose response head does not come within timeout, and counts it (CallTimeoutError)", async () => {
    const server = await serveNothing();
    const factory = factoryWith();
    const agent = guardedAgent(factory, { threshold: 2, timeout: 0.05 });

    const received = server.nextRequest();
    const error = await rejectionOf(get(agent, server.url));
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect((error as CallTimeoutError).circuitName).toBe(server.host);
    await closed(await received); // the request itself was aborted, not left hanging
    expect((await factory.getBreaker(server.host)).failureCount).toBe(1);
  });

  it("answers a timeout at once while the request is not started yet, and never sends it", async () => {
    const server = await serveStatuses([200]);
    const factory = factoryWith();
    // An interceptor below the circuit that holds each request (as a slow connect would) until
    // released, and tells what the dispatcher below reported of it.
    let release = (): void => undefined;
    const reported = new Promise<string[]>((resolve) => {
      const seen: string[] = [];
      const hold: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) => {
        release = () =>
          dispatch(options, {
            onRequestStart: (controller, context) => {
              seen.push("onRequestStart");
              handler.onRequestStart?.(controller, context);
            },
            onResponseStart: (controller, status, headers, message) => {
              seen.push("onResponseStart");
              handler.onResponseStart?.(controller, status, headers, message);
            },
            onResponseError: (controller, error) => {
              seen.push(`onResponseError ${error.name}`);
              handler.onResponseError?.(controller, error);
              resolve(seen);
            },
          });
        return true;
      };
      const agent = new Agent().compose(hold, circuitBreaker(factory, { threshold: 1, timeout: 0.05 }));
      agents.push(agent);
      void rejectionOf(get(agent, server.url)).then((error) => {
        expect(error).toBeInstanceOf(CallTimeoutError);
        release(); // the connection comes at last: the request is aborted as it starts
      });
    });

    expect(await reported).toEqual(["onRequestStart", "onResponseError CallTimeoutError"]);
    expect((await factory.getBreaker(server.host)).state).toBe("opened");
    expect(server.requests).toHaveLength(0);
  });

  it("rejects a request its caller aborts (signal) with the abort's reason, and counts nothing", async () => {
    const server = await serveNothing();
    const factory = factoryWith();
    const agent = guardedAgent(factory, { threshold: 1, timeout: 30 });
    const controller = new AbortController();
    const reason = new Error("the user went away");

    const received = server.nextRequest();
    const pending = get(agent, server.url, { signal: controller.signal });
    const req = await received;
    controller.abort(reason);
    expect(await rejectionOf(pending)).toBe(reason);
    await closed(req);
    const breaker = await factory.getBreaker(server.host);
    expect(breaker.failureCount).toBe(0);
    expect(breaker.state).toBe("closed");
  });

  it("counts nothing for a caller's abort without a timeout either, and frees the half-opened probe", async () => {
    let answer = false;
    const server = await serve((_req, res) => {
      if (!answer) return; // hangs
      res.writeHead(200);
      res.end();
    });
    const time = testClock();
    const factory = factoryWith({ clock: time.clock });
    const agent = guardedAgent(factory, { threshold: 1, ttl: 1 });
    await factory
      .run(server.host, () => Promise.reject(new Error("down")), { threshold: 1, ttl: 1 })
      .catch(() => undefined);
    time.now += 1000;

    const controller = new AbortController();
    const received = server.nextRequest();
    const probe = get(agent, server.url, { signal: controller.signal }); // the probe
    await received;
    controller.abort(new Error("cancelled"));
    await rejectionOf(probe);
    answer = true;
    expect((await get(agent, server.url)).status).toBe(200); // the slot was freed: another probe runs
    expect((await factory.getBreaker(server.host)).state).toBe("closed");
  });

  it("lets the caller abort reading the body after the head came, without counting", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("the beginning"); // and never the end
    });
    const factory = factoryWith();
    const agent = guardedAgent(factory, { threshold: 1, timeout: 30 });
    const controller = new AbortController();
    const reason = new Error("enough");

    const { origin } = new URL(server.url);
    const res = await agent.request({ origin, path: "/", method: "GET", signal: controller.signal });
    expect(res.statusCode).toBe(200);
    const body = res.body.text();
    controller.abort(reason);
    expect(await rejectionOf(body)).toBe(reason);
    expect((await factory.getBreaker(server.host)).failureCount).toBe(0);
  });
});

describe("circuitBreaker: bodies pass through", () => {
  it("does not count an error while the body is read: the head decided", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "1000" });
      res.write("a part", () => res.destroy()); // then the connection breaks
    });
    const factory = factoryWith();
    const agent = guardedAgent(factory, { threshold: 1 });

    expect(await rejectionOf(get(agent, server.url))).toBeInstanceOf(Error);
    const breaker = await factory.getBreaker(server.host);
    expect(breaker.state).toBe("closed");
    expect(breaker.failureCount).toBe(0);
  });

  it("sends a string body and a stream body unchanged", async () => {
    const server = await serveEcho();
    const agent = guardedAgent(factoryWith());

    const sent = await get(agent, `${server.url}/echo?a=1`, { method: "POST", body: "hello" });
    expect(JSON.parse(sent.text)).toMatchObject({ method: "POST", path: "/echo?a=1", text: "hello" });

    const chunks = Array.from({ length: 64 }, () => randomBytes(16 * 1024));
    const streamed = await get(agent, `${server.url}/stream`, { method: "PUT", body: Readable.from(chunks) });
    expect(JSON.parse(streamed.text)).toMatchObject({
      method: "PUT",
      length: 64 * 16 * 1024,
      sha: sha(Buffer.concat(chunks)),
    });
    expect(server.requests).toHaveLength(2);
  });

  it("delivers a large response body intact", async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      let offset = 0;
      const write = (): void => {
        while (offset < payload.length) {
          const chunk = payload.subarray(offset, offset + 256 * 1024);
          offset += chunk.length;
          if (!res.write(chunk)) {
            res.once("drain", write);
            return;
          }
        }
        res.end();
      };
      write();
    });
    const agent = guardedAgent(factoryWith());
    const { origin } = new URL(server.url);

    const res = await agent.request({ origin, path: "/big", method: "GET" });
    const received = Buffer.from(await res.body.arrayBuffer());
    expect(received.length).toBe(payload.length);
    expect(sha(received)).toBe(sha(payload));
  });
});

describe("circuitBreaker: with other interceptors and undici's fetch", () => {
  it("counts a request and its retries as one call when retry is composed before it (below it)", async () => {
    const server = await serveStatuses([503, 503, 200]);
    const factory = factoryWith();
    const agent = new Agent().compose(
      interceptors.retry({ maxRetries: 3, minTimeout: 1, timeoutFactor: 1 }),
      circuitBreaker(factory, { threshold: 1 }),
    );
    agents.push(agent);

    expect((await get(agent, server.url)).status).toBe(200);
    expect(server.requests).toHaveLength(3);
    const breaker = await factory.getBreaker(server.host);
    expect(breaker.state).toBe("closed");
    expect(breaker.failureCount).toBe(0);
  });

  it("counts each attempt when retry is composed after it (above it)", async () => {
    const server = await serveStatuses([503, 503, 200]);
    const factory = factoryWith();
    const agent = new Agent().compose(
      circuitBreaker(factory, { threshold: 2 }),
      interceptors.retry({ maxRetries: 3, minTimeout: 1, timeoutFactor: 1 }),
    );
    agents.push(agent);

    // The second 503 opens the circuit; the retry after it meets the CircuitOpenError.
    await openErrorOf(get(agent, server.url));
    expect(server.requests).toHaveLength(2);
  });

  it("makes undici's own fetch reject with a TypeError whose cause is the CircuitOpenError", async () => {
    const server = await serveStatuses([503]);
    const agent = guardedAgent(factoryWith(), { threshold: 1 });
    const res = await undiciFetch(server.url, { dispatcher: agent });
    expect(res.status).toBe(503);
    await res.arrayBuffer();
    const error = await rejectionOf(undiciFetch(server.url, { dispatcher: agent }));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).cause).toBeInstanceOf(CircuitOpenError);
    expect(server.requests).toHaveLength(1);
  });
});

describe("circuitBreaker: as the global dispatcher", () => {
  it("guards every plain fetch of the process: a 503 counts, then fetch rejects with the CircuitOpenError as its cause", async () => {
    const failing = await serveStatuses([503]);
    const echo = await serveEcho();
    const factory = factoryWith();
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(guardedAgent(factory, { threshold: 1 }));
    try {
      const res = await fetch(`${failing.url}/a`);
      expect(res.status).toBe(503);
      expect(await res.text()).toBe("status 503");
      const error = await rejectionOf(fetch(`${failing.url}/b`));
      expect(error).toBeInstanceOf(TypeError);
      expect((error as TypeError).cause).toBeInstanceOf(CircuitOpenError);
      expect(((error as TypeError).cause as CircuitOpenError).circuitName).toBe(failing.host);
      expect(failing.requests).toHaveLength(1);

      // A request body streamed by fetch, and the response, pass through unchanged.
      const chunks = [randomBytes(100_000), randomBytes(100_000)];
      const posted = await fetch(`${echo.url}/up`, {
        method: "POST",
        body: new Blob(chunks).stream(),
        duplex: "half",
      } as RequestInit);
      expect(await posted.json()).toMatchObject({ method: "POST", length: 200_000, sha: sha(Buffer.concat(chunks)) });
      expect(factory.circuitNames().sort()).toEqual([echo.host, failing.host].sort());
    } finally {
      setGlobalDispatcher(previous);
    }
  });

  it("honours fetch's own signal: rejects with its reason, counts nothing", async () => {
    const server = await serveNothing();
    const factory = factoryWith();
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(guardedAgent(factory, { threshold: 1, timeout: 30 }));
    try {
      const controller = new AbortController();
      const reason = new Error("navigated away");
      const received = server.nextRequest();
      const pending = fetch(server.url, { signal: controller.signal });
      const req = await received;
      controller.abort(reason);
      expect(await rejectionOf(pending)).toBe(reason);
      await closed(req);
      expect((await factory.getBreaker(server.host)).failureCount).toBe(0);
    } finally {
      setGlobalDispatcher(previous);
    }
  });

  it("makes fetch reject with a CallTimeoutError cause when the head does not come within timeout", async () => {
    const server = await serveNothing();
    const factory = factoryWith();
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(guardedAgent(factory, { threshold: 1, timeout: 0.05 }));
    try {
      const error = await rejectionOf(fetch(server.url));
      expect((error as TypeError).cause).toBeInstanceOf(CallTimeoutError);
      expect((await factory.getBreaker(server.host)).state).toBe("opened");
    } finally {
      setGlobalDispatcher(previous);
    }
  });
});

describe("circuitBreaker: bad input", () => {
  const factory = new AsyncCircuitBreakerFactory();

  it.each([
    ["ttl", { ttl: 30_000 }, 30_000],
    ["threshold", { threshold: 0 }, 0],
    ["timeout", { timeout: 0 }, 0],
    ["circuitName", { circuitName: "api" }, "api"],
    ["isFailureStatus", { isFailureStatus: 500 }, 500],
    ["retryAfter", { retryAfter: 5 }, 5],
    ["clock", { clock: 1 }, 1],
    ["maxCircuits", { maxCircuits: 0 }, 0],
    ["idleTtl", { idleTtl: -1 }, -1],
    ["isFailure", { isFailure: () => true }, undefined],
    ["fallback", { fallback: () => null }, undefined],
    ["fetch", { fetch }, fetch],
    ["Threshold", { Threshold: 3 }, 3],
  ])("throws InvalidOptionError for option %s, naming it", (option, options, value) => {
    let thrown: unknown;
    try {
      circuitBreaker(factory, options as CircuitBreakerInterceptorOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect((thrown as InvalidOptionError).option).toBe(option);
    if (value !== undefined) expect((thrown as InvalidOptionError).value).toBe(value);
    expect((thrown as InvalidOptionError).message).toContain(`"${option}"`);
  });

  it("says what to use instead of isFailure, fallback and signal, and the spelling of a near miss", () => {
    const attempt = (options: object) => () => circuitBreaker(factory, options as CircuitBreakerInterceptorOptions);
    expect(attempt({ isFailure: () => true })).toThrow(/isFailureStatus/);
    expect(attempt({ fallback: () => null })).toThrow(/catch the CircuitOpenError/);
    expect(attempt({ signal: new AbortController().signal })).toThrow(/request's or fetch's signal/);
    expect(attempt({ threshhold: 3 })).toThrow(/one of .*"threshold"/);
    expect(attempt({ Threshold: 3 })).toThrow(/expected "threshold"/);
  });

  it("takes an AsyncCircuitBreakerFactory only, and registers no circuit while validating", () => {
    for (const bad of [new SyncCircuitBreakerFactory(), {}, null, undefined]) {
      expect(() => circuitBreaker(bad as AsyncCircuitBreakerFactory)).toThrow(
        expect.objectContaining({ option: "factory" }),
      );
    }
    const fresh = factoryWith();
    circuitBreaker(fresh, { threshold: 3, ttl: 10, timeout: 2 });
    expect(fresh.circuitNames()).toEqual([]);
  });

  it("fails a request whose circuitName is empty, not a string or throws, sending nothing", async () => {
    const server = await serveStatuses([200]);
    for (const name of ["", 42]) {
      const agent = guardedAgent(factoryWith(), { circuitName: () => name as string });
      const error = await rejectionOf(get(agent, server.url));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error).toMatchObject({ option: "circuitName", value: name });
    }
    const thrown = new Error("no name for you");
    const agent = guardedAgent(factoryWith(), {
      circuitName: () => {
        throw thrown;
      },
    });
    expect(await rejectionOf(get(agent, server.url))).toBe(thrown);
    expect(server.requests).toHaveLength(0);
  });

  it("fails a request without an origin (a Client's own), naming the origin", async () => {
    const server = await serveStatuses([200]);
    const client = new Client(server.url).compose(circuitBreaker(factoryWith()));
    agents.push(client);
    const error = await rejectionOf(client.request({ path: "/", method: "GET" }));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ option: "origin", value: undefined });
    expect((error as Error).message).toMatch(/compose circuitBreaker on an Agent/);
    expect(server.requests).toHaveLength(0);

    // With the origin given, a Client's requests are guarded as an Agent's.
    const res = await client.request({ origin: server.url, path: "/", method: "GET" });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });
});
