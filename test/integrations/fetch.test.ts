/**
 * `purgatory/fetch` against real HTTP servers (node:http on 127.0.0.1, a port of their own), with
 * the real global `fetch`: no test double stands in for either. Time is the factory's injected
 * clock wherever a ttl or a Retry-After matters, so nothing waits for a circuit and no assertion is
 * about how long something took; the one real timer is a call `timeout`, and its test asserts
 * what happened (the request was aborted), not when.
 */
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
import {
  circuitFetch,
  isFailureStatus,
  retryAfterSeconds,
  type CircuitFetchOptions,
} from "../../src/integrations/fetch.js";
import {
  closed,
  closedPort,
  closeServers,
  serve,
  serveNothing,
  serveStatuses,
  testClock,
} from "../support/local-http.js";

const factories: AsyncCircuitBreakerFactory[] = [];

afterEach(async () => {
  await Promise.all(factories.splice(0).map((f) => f.close()));
  await closeServers();
});

function factoryWith(options: FactoryOptions = {}): AsyncCircuitBreakerFactory {
  const factory = new AsyncCircuitBreakerFactory(options);
  factories.push(factory);
  return factory;
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

describe("circuitFetch: what counts", () => {
  it("counts 5xx responses as failures and opens after threshold of them; the caller still gets each response, body unread", async () => {
    const server = await serveStatuses([503, 500]);
    const fetch = circuitFetch(factoryWith(), { threshold: 2 });

    const first = await fetch(`${server.url}/a`);
    expect(first.status).toBe(503);
    expect(await first.text()).toBe("status 503");
    const second = await fetch(`${server.url}/b`);
    expect(second.status).toBe(500);
    expect(await second.text()).toBe("status 500");

    const error = await openErrorOf(fetch(`${server.url}/c`));
    expect(error.circuitName).toBe(server.host);
    expect(server.requests).toHaveLength(2); // the third request was never sent
  });

  it("does not count 4xx other than 429: a 404 resets the failure count", async () => {
    const server = await serveStatuses([503, 404, 503, 503]);
    const factory = factoryWith();
    const fetch = circuitFetch(factory, { threshold: 2 });

    expect((await fetch(server.url)).status).toBe(503);
    // Read after the first request registered the circuit (with threshold 2: the first
    // registration configures a circuit).
    const breaker = await factory.getBreaker(server.host);
    expect(breaker.threshold).toBe(2);
    expect(breaker.failureCount).toBe(1);
    expect((await fetch(server.url)).status).toBe(404);
    expect(breaker.failureCount).toBe(0);
    expect((await fetch(server.url)).status).toBe(503);
    expect(breaker.state).toBe("closed");
    expect((await fetch(server.url)).status).toBe(503);
    expect(breaker.state).toBe("opened");
  });

  it("judges every 4xx but 429 a success and 429 a failure, by default", async () => {
    for (const status of [400, 401, 403, 404, 409, 422]) expect(isFailureStatus(status)).toBe(false);
    for (const status of [429, 500, 502, 503, 504]) expect(isFailureStatus(status)).toBe(true);
    for (const status of [200, 204, 301, 304]) expect(isFailureStatus(status)).toBe(false);

    const server = await serveStatuses([429]);
    const fetch = circuitFetch(factoryWith(), { threshold: 1 });
    expect((await fetch(server.url)).status).toBe(429);
    await openErrorOf(fetch(server.url));
  });

  it("lets isFailureStatus decide which statuses fail", async () => {
    const notFound = await serveStatuses([404]);
    const unavailable = await serveStatuses([503]);
    const seen: number[] = [];
    const fetch = circuitFetch(factoryWith(), {
      threshold: 1,
      isFailureStatus: (status, response) => {
        seen.push(response.status);
        return status === 404;
      },
    });

    expect((await fetch(unavailable.url)).status).toBe(503);
    expect((await fetch(unavailable.url)).status).toBe(503); // not a failure: still closed
    expect((await fetch(notFound.url)).status).toBe(404);
    await openErrorOf(fetch(notFound.url));
    expect(seen).toEqual([503, 503, 404]);
  });

  it("counts a network error (a closed port) and rejects with the TypeError fetch rejected with", async () => {
    const port = await closedPort();
    let fetchError: unknown;
    const fetch = circuitFetch(factoryWith(), {
      threshold: 1,
      fetch: (input, init) =>
        globalThis.fetch(input, init).catch((error: unknown) => {
          fetchError = error;
          throw error;
        }),
    });

    const error = await rejectionOf(fetch(`http://127.0.0.1:${port}/`));
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toBe(fetchError);
    const open = await openErrorOf(fetch(`http://127.0.0.1:${port}/`));
    expect(open.circuitName).toBe(`127.0.0.1:${port}`);
  });
});

describe("circuitFetch: circuits", () => {
  it("keeps one circuit per host: two servers on two ports, one opened, the other closed", async () => {
    const failing = await serveStatuses([503]);
    const healthy = await serveStatuses([200]);
    const factory = factoryWith();
    const fetch = circuitFetch(factory, { threshold: 1 });

    expect((await fetch(`${failing.url}/x`)).status).toBe(503);
    expect((await openErrorOf(fetch(`${failing.url}/y`))).circuitName).toBe(failing.host);
    expect((await fetch(`${healthy.url}/x`)).status).toBe(200);
    expect((await fetch(new URL("/y", healthy.url))).status).toBe(200);

    expect(failing.host).not.toBe(healthy.host); // same address, the port tells them apart
    expect(factory.circuitNames().sort()).toEqual([failing.host, healthy.host].sort());
    expect((await factory.getBreaker(healthy.host)).state).toBe("closed");
  });

  it("names circuits by circuitName, given the URL, the input and init", async () => {
    const server = await serve((req, res) => {
      res.writeHead(req.url?.startsWith("/payments") ? 503 : 200);
      res.end();
    });
    const factory = factoryWith();
    const calls: [string, string | undefined][] = [];
    const fetch = circuitFetch(factory, {
      threshold: 1,
      circuitName: (url, input, init) => {
        calls.push([typeof input === "string" ? input : "not a string", init?.method]);
        return `${url.host}/${url.pathname.split("/")[1] ?? ""}`;
      },
    });

    expect((await fetch(`${server.url}/payments/1`, { method: "POST" })).status).toBe(503);
    expect((await openErrorOf(fetch(`${server.url}/payments/2`))).circuitName).toBe(`${server.host}/payments`);
    expect((await fetch(`${server.url}/catalog/1`)).status).toBe(200);
    expect(calls[0]).toEqual([`${server.url}/payments/1`, "POST"]);
    expect(factory.circuitNames().sort()).toEqual([`${server.host}/catalog`, `${server.host}/payments`]);
  });

  it("takes the URL of a Request, and sends its body once", async () => {
    const server = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
      });
    });
    const factory = factoryWith();
    const fetch = circuitFetch(factory);

    const request = new Request(`${server.url}/echo`, { method: "POST", body: "hello" });
    const res = await fetch(request);
    expect(await res.text()).toBe("POST /echo hello");
    expect(server.requests).toHaveLength(1);
    expect(factory.circuitNames()).toEqual([server.host]);
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
    const fetch = circuitFetch(factory, { threshold: 1, ttl: 1, clock: time.clock });

    expect((await fetch(server.url)).status).toBe(503);
    await openErrorOf(fetch(server.url));
    time.now += 1000;
    status = 200;
    expect((await fetch(server.url)).status).toBe(200);
    expect((await factory.getBreaker(server.host)).state).toBe("closed");
    expect(states).toEqual(["opened", "half-opened", "recovered", "closed"]);
    expect(server.requests).toHaveLength(2);
  });
});

describe("circuitFetch: Retry-After", () => {
  it("keeps the circuit opened for the seconds a 429's Retry-After asks, beyond the ttl", async () => {
    const server = await serveStatuses([429, 200], { "retry-after": "2" });
    const time = testClock();
    const fetch = circuitFetch(factoryWith({ clock: time.clock }), { threshold: 1, ttl: 0.5, clock: time.clock });

    const res = await fetch(server.url);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("2");
    expect((await openErrorOf(fetch(server.url))).retryAfterMs).toBe(2000);
    time.now += 1000; // past the ttl, not past Retry-After
    expect((await openErrorOf(fetch(server.url))).retryAfterMs).toBe(1000);
    time.now += 1000;
    expect((await fetch(server.url)).status).toBe(200);
    expect(server.requests).toHaveLength(2);
  });

  it("reads an HTTP-date Retry-After against the clock", async () => {
    const time = testClock();
    const server = await serveStatuses([503], { "retry-after": new Date(time.now + 90_000).toUTCString() });
    const fetch = circuitFetch(factoryWith({ clock: time.clock }), { threshold: 1, ttl: 1, clock: time.clock });

    expect((await fetch(server.url)).status).toBe(503);
    expect((await openErrorOf(fetch(server.url))).retryAfterMs).toBe(90_000);
  });

  it("leaves the ttl alone with retryAfter: false, and takes a retryAfter function of the response", async () => {
    const time = testClock();
    const server = await serveStatuses([503], { "retry-after": "120", "x-cool-down": "7" });
    const ignoring = circuitFetch(factoryWith({ clock: time.clock }), { threshold: 1, ttl: 1, retryAfter: false });
    expect((await ignoring(server.url)).status).toBe(503);
    expect((await openErrorOf(ignoring(server.url))).retryAfterMs).toBe(1000);

    const custom = circuitFetch(factoryWith({ clock: time.clock }), {
      threshold: 1,
      ttl: 1,
      retryAfter: (response) => Number(response.headers.get("x-cool-down")),
    });
    expect((await custom(server.url)).status).toBe(503);
    expect((await openErrorOf(custom(server.url))).retryAfterMs).toBe(7000);
  });

  it("retryAfterSeconds reads delay-seconds and the three HTTP-date forms, in GMT, and nothing else", () => {
    const now = Date.UTC(1994, 10, 6, 8, 49, 0);
    expect(retryAfterSeconds("120", now)).toBe(120);
    expect(retryAfterSeconds(" 7 ", now)).toBe(7);
    expect(retryAfterSeconds("Sun, 06 Nov 1994 08:49:37 GMT", now)).toBe(37);
    expect(retryAfterSeconds("Sunday, 06-Nov-94 08:49:37 GMT", now)).toBe(37);
    const zone = process.env.TZ;
    process.env.TZ = "America/New_York"; // asctime has no zone: it is GMT, not local time
    try {
      expect(retryAfterSeconds("Sun Nov  6 08:49:37 1994", now)).toBe(37);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
    for (const nothing of ["0", "-5", "1.5", "soon", "", "Sun, 06 Nov 1994 08:48:00 GMT", null, undefined]) {
      expect(retryAfterSeconds(nothing, now)).toBeUndefined();
    }
  });
});

describe("circuitFetch: timeouts and cancellation", () => {
  it("aborts a request whose response does not come within timeout, and counts it (CallTimeoutError)", async () => {
    const server = await serveNothing();
    const factory = factoryWith();
    const fetch = circuitFetch(factory, { threshold: 2, timeout: 0.05 });

    const received = server.nextRequest();
    const error = await rejectionOf(fetch(server.url));
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect((error as CallTimeoutError).circuitName).toBe(server.host);
    await closed(await received); // the request itself was aborted, not left hanging
    expect((await factory.getBreaker(server.host)).failureCount).toBe(1);
  });

  it("rejects a request its caller aborts with the abort's reason, and counts nothing", async () => {
    const server = await serveNothing();
    const factory = factoryWith();
    const fetch = circuitFetch(factory, { threshold: 1, timeout: 30 });
    const controller = new AbortController();
    const reason = new Error("the user went away");

    const received = server.nextRequest();
    const pending = fetch(server.url, { signal: controller.signal });
    const req = await received;
    controller.abort(reason);
    expect(await rejectionOf(pending)).toBe(reason);
    await closed(req);
    const breaker = await factory.getBreaker(server.host);
    expect(breaker.failureCount).toBe(0);
    expect(breaker.state).toBe("closed");
  });

  it("honours a Request's own signal", async () => {
    const server = await serveNothing();
    const fetch = circuitFetch(factoryWith(), { threshold: 1 });
    const controller = new AbortController();
    const reason = new Error("cancelled");

    const received = server.nextRequest();
    const pending = fetch(new Request(server.url, { signal: controller.signal }));
    const req = await received;
    controller.abort(reason);
    expect(await rejectionOf(pending)).toBe(reason);
    await closed(req);
  });

  it("lets the caller abort reading the body after the response came, also with a timeout", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("the beginning"); // and never the end
    });
    const fetch = circuitFetch(factoryWith(), { timeout: 30 });
    const controller = new AbortController();
    const reason = new Error("enough");

    const res = await fetch(server.url, { signal: controller.signal });
    expect(res.status).toBe(200);
    const body = res.text();
    controller.abort(reason);
    expect(await rejectionOf(body)).toBe(reason);
  });
});

describe("circuitFetch: fallback", () => {
  it("answers with the fallback while the circuit is opened, not for a failing response", async () => {
    const server = await serveStatuses([503]);
    const errors: unknown[] = [];
    const fetch = circuitFetch(factoryWith(), {
      threshold: 1,
      fallback: (error, url) => {
        errors.push(error);
        return new Response(`cached ${url.pathname}`, { status: 200 });
      },
    });

    expect((await fetch(`${server.url}/live`)).status).toBe(503);
    expect(errors).toEqual([]);
    const res = await fetch(`${server.url}/items`);
    expect(await res.text()).toBe("cached /items");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CircuitOpenError);
  });
});

describe("circuitFetch: bad input", () => {
  const factory = new AsyncCircuitBreakerFactory();

  it.each([
    ["ttl", { ttl: 30_000 }, 30_000],
    ["threshold", { threshold: 0 }, 0],
    ["timeout", { timeout: 0 }, 0],
    ["timeout", { timeout: 5000 }, 5000],
    ["fetch", { fetch: "fetch" }, "fetch"],
    ["circuitName", { circuitName: "api" }, "api"],
    ["isFailureStatus", { isFailureStatus: 500 }, 500],
    ["retryAfter", { retryAfter: 5 }, 5],
    ["retryAfter", { retryAfter: true }, true],
    ["clock", { clock: 1 }, 1],
    ["fallback", { fallback: null }, null],
    ["isFailure", { isFailure: isFailureStatus }, isFailureStatus],
    ["Threshold", { Threshold: 3 }, 3],
    ["retries", { retries: 3 }, 3],
  ])("throws InvalidOptionError for option %s", (option, options, value) => {
    let thrown: unknown;
    try {
      circuitFetch(factory, options as CircuitFetchOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect((thrown as InvalidOptionError).option).toBe(option);
    expect((thrown as InvalidOptionError).value).toBe(value);
    expect((thrown as InvalidOptionError).message).toContain(`"${option}"`);
  });

  it("says what to use instead of isFailure and signal, and the spelling of a near miss", () => {
    expect(() => circuitFetch(factory, { isFailure: () => true } as CircuitFetchOptions)).toThrow(/isFailureStatus/);
    expect(() => circuitFetch(factory, { signal: new AbortController().signal } as CircuitFetchOptions)).toThrow(
      /init\.signal/,
    );
    expect(() => circuitFetch(factory, { Threshold: 3 } as CircuitFetchOptions)).toThrow(/expected "threshold"/);
  });

  it("checks exclude entries as the factory does", () => {
    expect(() => circuitFetch(factory, { exclude: [() => true] } as unknown as CircuitFetchOptions)).toThrow(
      expect.objectContaining({ option: "exclude[0]" }),
    );
  });

  it("takes an AsyncCircuitBreakerFactory only, and an options object", () => {
    for (const bad of [new SyncCircuitBreakerFactory(), {}, null, undefined]) {
      expect(() => circuitFetch(bad as AsyncCircuitBreakerFactory)).toThrow(
        expect.objectContaining({ option: "factory" }),
      );
    }
    expect(() => circuitFetch(factory, "fast" as CircuitFetchOptions)).toThrow(
      expect.objectContaining({ option: "options" }),
    );
  });

  it("registers no circuit while validating", () => {
    const fresh = factoryWith();
    circuitFetch(fresh, { threshold: 3, ttl: 10, timeout: 2 });
    expect(fresh.circuitNames()).toEqual([]);
  });

  it("rejects a request whose circuitName is empty or not a string, sending nothing", async () => {
    const server = await serveStatuses([200]);
    for (const name of ["", 42]) {
      const fetch = circuitFetch(factoryWith(), { circuitName: () => name as string });
      const error = await rejectionOf(fetch(server.url));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error).toMatchObject({ option: "circuitName", value: name });
    }
    expect(server.requests).toHaveLength(0);
  });

  it("rejects a relative URL with a TypeError, as fetch does, and counts it nowhere", async () => {
    const fresh = factoryWith();
    const fetch = circuitFetch(fresh);
    expect(await rejectionOf(fetch("/relative/path"))).toBeInstanceOf(TypeError);
    expect(fresh.circuitNames()).toEqual([]);
  });
});
