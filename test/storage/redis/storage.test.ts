/**
 * RedisStorage against a real Redis: options, key layout, registration across processes, the
 * cost of the success path in Redis commands, remote events, key expiry, foreign data, listing,
 * and releasing every handle on close().
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  FactoryClosedError,
  InvalidOptionError,
  RedisStorage,
  SyncCircuitBreakerFactory,
  type FactoryOptions,
  type RedisStorageOptions,
} from "../../../src/index.js";
import { spawnWorker } from "../../support/redis-fleet.js";
import {
  HookRecorder,
  REDIS_URL,
  commandCalls,
  commandDelta,
  deleteKeys,
  inspector,
  sleep,
  uniquePrefix,
  waitFor,
} from "../../support/redis-helpers.js";
import { freePort, startRedisServer, type RedisServer } from "../../support/redis-server.js";

const boom = () => Promise.reject(new Error("boom"));

/** Factories made by a test, closed after it; each gets its own RedisStorage ("process"). */
const open: { close(): Promise<void> }[] = [];
let prefix = "";
let redis: Redis;

function factory(storage: RedisStorageOptions = {}, options: FactoryOptions = {}) {
  const recorder = new HookRecorder();
  const made = new AsyncCircuitBreakerFactory({
    storage: new RedisStorage({ url: REDIS_URL, prefix, ...storage }),
    listeners: [recorder.hook],
    ...options,
  });
  open.push(made);
  return { factory: made, recorder };
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(() => {
  redis = inspector();
  process.on("unhandledRejection", onUnhandled);
});
afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  await redis.quit();
});
beforeEach(() => {
  prefix = uniquePrefix("test-storage");
  unhandled.length = 0;
});
afterEach(async () => {
  for (const made of open.splice(0)) await made.close();
  await deleteKeys(redis, prefix);
  expect(unhandled).toEqual([]);
});

describe("RedisStorage options", () => {
  it.each([["http://x"], ["not a url"], [""], ["redis://127.0.0.1:6379/abc"], ["redis://127.0.0.1:6379/0/1"]])(
    "rejects the url %j, naming the option and the value",
    (url) => {
      let thrown: unknown;
      try {
        new RedisStorage(url);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe("url");
      expect((thrown as InvalidOptionError).value).toBe(url);
      expect((thrown as Error).message).toContain('"url"');
      expect((thrown as Error).message).toContain(JSON.stringify(url));
      expect(() => new RedisStorage({ url })).toThrow(InvalidOptionError);
    },
  );

  it("accepts redis: and rediss: URLs with a database number, without connecting", async () => {
    for (const url of ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379/3", "rediss://user:pw@example.com:6380/0"]) {
      const storage = new RedisStorage(url);
      expect(storage.available).toBe(false);
      await storage.close();
    }
  });

  it.each<[string, Record<string, unknown>]>([
    ["keyTtl", { keyTtl: 0 }],
    ["keyTtl", { keyTtl: -1 }],
    ["keyTtl", { keyTtl: Number.NaN }],
    ["commandTimeout", { commandTimeout: "200" }],
    ["commandTimeout", { commandTimeout: 0 }],
    ["resyncInterval", { resyncInterval: Number.POSITIVE_INFINITY }],
    ["resyncBatch", { resyncBatch: 1.5 }],
    ["healthCheckInterval", { healthCheckInterval: -5 }],
    ["prefix", { prefix: "" }],
    ["prefix", { prefix: "a{b" }],
    ["prefix", { prefix: "a}b" }],
    ["prefix", { prefix: 5 }],
    ["onStorageError", { onStorageError: "ignore" }],
    ["client", { client: {} }],
    ["client", { url: "redis://127.0.0.1:6379", client: new Redis({ lazyConnect: true }) }],
    ["urll", { urll: "redis://127.0.0.1:6379" }],
    ["redisOptions", { redisOptions: 7 }],
  ])("rejects a bad %s, naming it and its value", (option, options) => {
    let thrown: unknown;
    try {
      new RedisStorage(options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect((thrown as InvalidOptionError).option).toBe(option);
    expect((thrown as InvalidOptionError).value).toBe(options[option]);
    expect((thrown as Error).message).toContain(`"${option}"`);
  });

  it("rejects an argument that is neither a URL nor an options object", () => {
    expect(() => new RedisStorage(42 as never)).toThrow(InvalidOptionError);
    expect(() => new RedisStorage(null as never)).toThrow(InvalidOptionError);
  });
});

describe("RedisStorage key layout", () => {
  it("puts a circuit in one hash, and its channel, under a hash tag that is the name", () => {
    const storage = new RedisStorage({ prefix: "myapp" });
    expect(storage.keys.circuit("payments-db")).toBe("myapp:circuit:{payments-db}");
    expect(storage.keys.prefix).toBe("myapp");
    expect(storage.keys.channel("payments-db")).toBe("myapp:events:{payments-db}");
    expect(storage.keys.registry.startsWith("myapp:")).toBe(true);
    expect(new RedisStorage().keys.circuit("x")).toBe("purgatory:circuit:{x}");
  });

  it("encodes {, } and % so that names neither end the hash tag early nor collide", () => {
    const storage = new RedisStorage({ prefix: "p" });
    const names = ["a{b}", "a%7Bb%7D", "a}b{", "{", "}", "%", "%25", "%7B", "a|b", "ünï{cödé}"];
    const keys = names.map((name) => storage.keys.circuit(name));
    expect(new Set(keys).size).toBe(names.length);
    names.forEach((name, i) => {
      const key = keys[i] as string;
      expect(key.startsWith("p:circuit:{")).toBe(true);
      expect(key.endsWith("}")).toBe(true);
      const tag = key.slice("p:circuit:{".length, -1);
      expect(tag).not.toMatch(/[{}]/);
      expect(decodeURIComponent(tag)).toBe(name);
    });
  });

  it("keeps circuits with such names apart in Redis, and events reach the right one", async () => {
    const { factory: a } = factory({}, { defaultThreshold: 1, defaultTtl: 30 });
    const { factory: b, recorder: bHooks } = factory({}, { defaultThreshold: 1, defaultTtl: 30 });
    const names = ["a{b}", "a%7Bb%7D", "a|b{c", "a"];
    const breakers = await Promise.all(names.map((name) => b.getBreaker(name)));
    await a.run("a{b}", boom).catch(() => undefined);
    const storage = new RedisStorage({ prefix });
    const keys = names.map((name) => storage.keys.circuit(name));
    expect(await redis.hget(keys[0] as string, "st")).toBe("opened");
    for (const key of keys.slice(1)) expect(await redis.hget(key, "st")).toBe("closed");
    const stored = await redis.keys(`${prefix}:circuit:*`);
    expect(stored.sort()).toEqual([...keys].sort());

    await waitFor("b to see the trip", () => breakers[0]?.state === "opened");
    expect(breakers.slice(1).map((breaker) => breaker.state)).toEqual(["closed", "closed", "closed"]);
    await a.run("a|b{c", boom).catch(() => undefined);
    await waitFor("b to see the second trip", () => breakers[2]?.state === "opened");
    expect(bHooks.states("a{b}")).toEqual(["opened (remote)"]);
    expect(bHooks.states("a|b{c")).toEqual(["opened (remote)"]);
    expect(bHooks.states("a%7Bb%7D")).toEqual([]);
    expect(bHooks.states("a")).toEqual([]);
  });
});

describe("RedisStorage registration", () => {
  it("keeps the first registration's config across processes and reports created once", async () => {
    const { factory: a, recorder: aHooks } = factory();
    const { factory: b, recorder: bHooks } = factory();
    const first = await a.getBreaker("payments", { threshold: 3, ttl: 7 });
    const second = await b.getBreaker("payments", { threshold: 9, ttl: 1 });
    expect([first.threshold, first.ttl]).toEqual([3, 7]);
    expect([second.threshold, second.ttl]).toEqual([3, 7]);
    expect(aHooks.of("circuit_breaker_created")).toHaveLength(1);
    expect(bHooks.of("circuit_breaker_created")).toHaveLength(0);
    const key = new RedisStorage({ prefix }).keys.circuit("payments");
    const [config, state, failures] = await redis.hmget(key, "c", "st", "f");
    expect([JSON.parse(config ?? "null"), state, failures]).toEqual([{ th: 3, ttl: 7000, hm: 1 }, "closed", "0"]);

    // b trips it with a's threshold of 3, not its own 9.
    for (let i = 0; i < 3; i++) await second.run(boom).catch(() => undefined);
    expect(second.state).toBe("opened");
    expect(await redis.hget(key, "st")).toBe("opened");
  });

  it("starts a replica from the shared state: a circuit opened elsewhere rejects at once", async () => {
    const { factory: a } = factory({}, { defaultThreshold: 1, defaultTtl: 30 });
    await a.run("svc", boom).catch(() => undefined);
    const { factory: b } = factory({ resyncInterval: 600 }, { defaultThreshold: 1, defaultTtl: 30 });
    const breaker = await b.getBreaker("svc");
    expect(breaker.state).toBe("opened");
    let ran = false;
    await expect(
      breaker.run(() => {
        ran = true;
      }),
    ).rejects.toBeInstanceOf(CircuitOpenError);
    expect(ran).toBe(false);
  });
});

describe("RedisStorage scripts", () => {
  it("sends a script again with EVAL when the server forgot it (NOSCRIPT after SCRIPT FLUSH)", async () => {
    const { factory: made, recorder } = factory({}, { defaultThreshold: 3 });
    const breaker = await made.getBreaker("flushed");
    await breaker.run(boom).catch(() => undefined);
    await redis.script("FLUSH");
    await breaker.run(boom).catch(() => undefined);
    expect(breaker.failureCount).toBe(2);
    expect(await redis.hget(`${prefix}:circuit:{flushed}`, "f")).toBe("2");
    expect(recorder.of("storage_error")).toEqual([]);
  });
});

describe("RedisStorage events across processes", () => {
  it("emits a trip once without remote where it happened and as remote elsewhere", async () => {
    const { factory: a, recorder: aHooks } = factory({}, { defaultThreshold: 3, defaultTtl: 30 });
    const { factory: b, recorder: bHooks } = factory({}, { defaultThreshold: 3, defaultTtl: 30 });
    const ba = await a.getBreaker("www.example.com");
    const bb = await b.getBreaker("www.example.com");
    for (let i = 0; i < 3; i++) await ba.run(boom).catch(() => undefined);
    expect(ba.state).toBe("opened");
    await waitFor("the trip to reach b", () => bb.state === "opened");
    const [, , remote] = bHooks.of("state_changed")[0] ?? [];
    expect(remote).toMatchObject({ name: "www.example.com", state: "opened", openedAt: ba.openedAt, remote: true });
    expect(bb.openedAt).toBe(ba.openedAt);
    await expect(bb.run(() => 1)).rejects.toBeInstanceOf(CircuitOpenError);
    // A fence: the reset is published on the same channel after the trip, so once b has heard it,
    // any duplicate of the trip would have been heard before it.
    await ba.reset();
    await waitFor("the reset to reach b", () => bb.state === "closed");
    expect(aHooks.states("www.example.com")).toEqual(["opened", "closed"]);
    expect(bHooks.states("www.example.com")).toEqual(["opened (remote)", "closed (remote)"]);
  });

  it("spreads half-open and close as remote events, and the probe's own events stay local", async () => {
    const { factory: a, recorder: aHooks } = factory({}, { defaultThreshold: 1, defaultTtl: 0.15 });
    const { factory: b, recorder: bHooks } = factory({}, { defaultThreshold: 1, defaultTtl: 0.15 });
    const ba = await a.getBreaker("svc");
    const bb = await b.getBreaker("svc");
    await ba.run(boom).catch(() => undefined);
    await waitFor("b to see the trip", () => bb.state === "opened");
    await sleep(200);
    await expect(bb.run(() => "probe ok")).resolves.toBe("probe ok");
    await waitFor("a to see the close", () => ba.state === "closed");
    expect(bHooks.states("svc")).toEqual(["opened (remote)", "half-opened", "closed"]);
    expect(bHooks.of("recovered", "svc")).toHaveLength(1);
    expect(aHooks.states("svc")).toEqual(["opened", "half-opened (remote)", "closed (remote)"]);
    expect(aHooks.of("recovered", "svc")).toHaveLength(0);
    // Only an opened state carries an openedAt, remote or not.
    const openedAts = (hooks: typeof aHooks) =>
      hooks.of("state_changed", "svc").map(([, , e]) => "openedAt" in e && e.openedAt);
    expect(openedAts(aHooks)).toEqual([expect.any(Number), null, null]);
    expect(openedAts(bHooks)).toEqual([expect.any(Number), null, null]);
  });
});

describe("RedisStorage keys of unused circuits", () => {
  it("sets a PTTL on the circuit hash with keyTtl, and none without", async () => {
    const { factory: withTtl } = factory({ keyTtl: 60 });
    await withTtl.getBreaker("expiring");
    const storage = new RedisStorage({ prefix });
    const pttl = await redis.pttl(storage.keys.circuit("expiring"));
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);

    const { factory: withoutTtl } = factory();
    await withoutTtl.getBreaker("lasting");
    expect(await redis.pttl(storage.keys.circuit("lasting"))).toBe(-1);
  });

  it("lets the key of an unused circuit expire; listing only reads, pruneRegistry drops the name", async () => {
    const { factory: made } = factory({ keyTtl: 0.2, resyncInterval: 600 });
    await made.getBreaker("short-lived", { ttl: 0.1 });
    // Closed, so that its own upkeep of the registry (every keyTtl) does not drop the name first.
    await made.close();
    const storage = new RedisStorage({ url: REDIS_URL, prefix });
    open.push(storage);
    expect(await storage.listCircuits()).toEqual(["short-lived"]);
    await waitFor("the key to expire", async () => (await redis.exists(storage.keys.circuit("short-lived"))) === 0);
    expect(await storage.listCircuits()).toEqual(["short-lived"]);
    expect(await storage.inspect()).toEqual([]);
    expect(await redis.zcard(storage.keys.registry)).toBe(1);
    expect(await storage.pruneRegistry()).toEqual(["short-lived"]);
    expect(await storage.listCircuits()).toEqual([]);
  });

  it("lists a circuit again when a script writes its lost key anew (as after a FLUSHALL)", async () => {
    const { factory: made } = factory({ resyncInterval: 0.05 });
    const breaker = await made.getBreaker("held");
    const storage = new RedisStorage({ url: REDIS_URL, prefix });
    open.push(storage);
    await waitFor("the registry", async () => (await storage.listCircuits()).length === 1);
    await deleteKeys(redis, prefix);
    expect(await storage.listCircuits()).toEqual([]);
    // The holder's next re-read writes the key anew: the name is listed again.
    await waitFor("listed again", async () => (await storage.listCircuits()).includes("held"), 3000);
    expect((await storage.inspect()).map((c) => c.name)).toEqual([breaker.name]);
  });
});

describe("an operator's action on a circuit (controlExisting, configureExisting)", () => {
  it("changes a circuit Redis holds, fleet-wide, without this process holding it", async () => {
    const { factory: holder, recorder } = factory();
    const breaker = await holder.getBreaker("ops", { threshold: 3 });
    const operator = new RedisStorage({ url: REDIS_URL, prefix });
    open.push(operator);
    expect(await operator.controlExisting("ops", "isolate")).toBe(true);
    await waitFor("the holder hears it", () => breaker.state === "isolated");
    expect(recorder.states("ops")).toEqual(["isolated (remote)"]);
    expect(await operator.configureExisting("ops", { threshold: 9, ttl: 30, halfOpenMaxCalls: 1 })).toBe(true);
    await waitFor("the holder adopts the config", () => breaker.threshold === 9);
    expect([...operator.names()]).toEqual([]);
  });

  it("never creates a circuit: false, and nothing written, for a name Redis does not hold", async () => {
    const operator = new RedisStorage({ url: REDIS_URL, prefix });
    open.push(operator);
    expect(await operator.controlExisting("no-such-circuit", "isolate")).toBe(false);
    expect(await operator.configureExisting("no-such-circuit", { threshold: 2, ttl: 1, halfOpenMaxCalls: 1 })).toBe(
      false,
    );
    expect(await redis.exists(operator.keys.circuit("no-such-circuit"))).toBe(0);
    expect(await redis.zcard(operator.keys.registry)).toBe(0);
  });
});

describe("RedisStorage with foreign or corrupt data under its key", () => {
  it("reports a string under the key as storage_error and still answers the user's calls", async () => {
    const key = new RedisStorage({ prefix }).keys.circuit("foreign");
    await redis.set(key, "x");
    const { factory: made, recorder } = factory({}, { defaultThreshold: 2 });
    const breaker = await made.getBreaker("foreign");
    expect(recorder.of("storage_error", "foreign").length).toBeGreaterThanOrEqual(1);
    await expect(breaker.run(() => 42)).resolves.toBe(42);
    const mine = new Error("mine");
    await expect(breaker.run(() => Promise.reject(mine))).rejects.toBe(mine);
    const [, , event] = recorder.of("storage_error", "foreign").at(-1) ?? [];
    expect(event).toMatchObject({ name: "foreign", storage: "redis" });
    expect(String((event as { error: unknown }).error)).toMatch(/hash|string|WRONGTYPE/i);
    expect(recorder.of("storage_unavailable")).toEqual([]);
    expect(await redis.get(key)).toBe("x"); // never overwritten
  });

  it("reports a hash of an unknown layout (fmt 9) and keeps the user's result and error", async () => {
    const { factory: made, recorder } = factory({}, { defaultThreshold: 5 });
    const breaker = await made.getBreaker("future");
    const key = new RedisStorage({ prefix }).keys.circuit("future");
    await redis.hset(key, "fmt", "9");
    const mine = new TypeError("mine");
    await expect(breaker.run(() => Promise.reject(mine))).rejects.toBe(mine);
    await expect(breaker.run(async () => "fine")).resolves.toBe("fine");
    const errors = recorder.of("storage_error", "future");
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(String((errors[0]?.[2] as { error: unknown }).error)).toContain("9");
    expect(recorder.of("storage_unavailable")).toEqual([]);
    expect(await redis.hget(key, "fmt")).toBe("9");
  });

  it("reports a field that is not a number", async () => {
    const { factory: made, recorder } = factory({}, { defaultThreshold: 5 });
    const breaker = await made.getBreaker("garbled");
    const key = new RedisStorage({ prefix }).keys.circuit("garbled");
    await redis.hset(key, "f", "many");
    await expect(breaker.run(boom)).rejects.toThrow("boom");
    expect(recorder.of("storage_error", "garbled").length).toBeGreaterThanOrEqual(1);
  });
});

describe("RedisStorage listing and closing", () => {
  it("lists every circuit registered under the prefix, from any process", async () => {
    const { factory: a } = factory();
    const { factory: b } = factory();
    await a.getBreaker("b-circuit");
    await a.getBreaker("a-circuit");
    await b.getBreaker("c{1}");
    await b.getBreaker("a-circuit");
    const storage = new RedisStorage({ url: REDIS_URL, prefix });
    open.push(storage);
    await waitFor("the registry", async () => (await storage.listCircuits()).length === 3);
    expect(await storage.listCircuits()).toEqual(["a-circuit", "b-circuit", "c{1}"]);
    const other = new RedisStorage({ url: REDIS_URL, prefix: uniquePrefix("test-storage-empty") });
    open.push(other);
    expect(await other.listCircuits()).toEqual([]);
  });

  it.each([
    ["still connecting", { enableOfflineQueue: false }],
    ["lazy", { enableOfflineQueue: false, lazyConnect: true }],
  ])("starts available with a client it was given %s, without an offline queue", async (_kind, options) => {
    const client = new Redis(REDIS_URL, options);
    client.on("error", () => undefined);
    try {
      const recorder = new HookRecorder();
      const made = new AsyncCircuitBreakerFactory({
        storage: new RedisStorage({ client, prefix }),
        defaultThreshold: 1,
        listeners: [recorder.hook],
      });
      await made.initialize();
      await made.run("early", boom).catch(() => undefined);
      expect(recorder.of("storage_unavailable")).toEqual([]);
      expect(await client.hget(`${prefix}:circuit:{early}`, "st")).toBe("opened");
      await made.close();
    } finally {
      client.disconnect();
    }
  });

  it("leaves a client it was given open after close()", async () => {
    const client = new Redis(REDIS_URL);
    try {
      const made = new AsyncCircuitBreakerFactory({
        storage: new RedisStorage({ client, prefix }),
        defaultThreshold: 1,
      });
      await made.initialize();
      await made.run("mine", () => 1);
      await made.run("mine", boom).catch(() => undefined);
      await made.close();
      expect(client.status).toBe("ready");
      expect(await client.ping()).toBe("PONG");
      expect(await client.hget(`${prefix}:circuit:{mine}`, "st")).toBe("opened");
    } finally {
      await client.quit();
    }
  });

  it("stops a synchronous factory's known circuits too after close(), with FactoryClosedError", async () => {
    const sync = new SyncCircuitBreakerFactory({ storage: new RedisStorage({ url: REDIS_URL, prefix }) });
    open.push(sync);
    await sync.initialize();
    const breaker = sync.getBreaker("sync-known");
    expect(breaker.run(() => 1)).toBe(1);
    await sync.close();
    expect(() => breaker.run(() => 2)).toThrow(FactoryClosedError);
    expect(() => sync.run("sync-known", () => 3)).toThrow(FactoryClosedError);
    expect(() => sync.getBreaker("sync-new")).toThrow(FactoryClosedError);
    await expect(sync.initialize()).rejects.toBeInstanceOf(FactoryClosedError);
  });

  it("closes what it made: the subscriber connection is gone after close()", async () => {
    const name = `purgatory-test-${process.pid}-${Date.now()}`;
    const made = new AsyncCircuitBreakerFactory({
      // The connection name, in the words of the library that makes the connections.
      storage: new RedisStorage({
        url: REDIS_URL,
        prefix,
        redisOptions: process.env.PURGATORY_REDIS_CLIENT === "redis" ? { name } : { connectionName: name },
      }),
    });
    await made.initialize();
    await made.run("x", () => 1);
    const clients = async () =>
      ((await redis.call("CLIENT", "LIST")) as string).split("\n").filter((l) => l.includes(`name=${name} `));
    expect((await clients()).length).toBe(2);
    await made.close();
    await waitFor("the connections to close", async () => (await clients()).length === 0, 2000);
  });

  it.each([
    ["a reachable Redis", () => Promise.resolve(REDIS_URL)],
    ["an unreachable Redis", async () => `redis://127.0.0.1:${await freePort()}`],
  ])(
    "lets a process that used it exit by itself after close(), with %s",
    async (_, where) => {
      const url = await where();
      const worker = spawnWorker({ mode: "lifecycle", url, prefix, commandTimeout: 0.2 });
      const timer = setTimeout(() => worker.child.kill("SIGKILL"), 15_000);
      const code = await worker.exited;
      clearTimeout(timer);
      // Nothing on stderr but the outage's own warnings (once per storage: two factories here).
      const lines = worker
        .stderr()
        .split("\n")
        .filter((line) => line !== "");
      const warnings = lines.filter((line) => line.includes("[PURGATORY_STORAGE_UNAVAILABLE]"));
      const others = lines.filter((line) => !warnings.includes(line) && !line.includes("--trace-warnings"));
      expect(others).toEqual([]);
      expect(warnings).toHaveLength(url === REDIS_URL ? 0 : 2);
      expect(code).toBe(0);
      const done = worker.lines.find((line) => line.type === "done");
      expect(done?.outcomes).toEqual(["ok 1", "error a", "error b", "open", "ok 3", "error c"]);
    },
    20_000,
  );
});

describe("RedisStorage inspect", () => {
  it("tells every circuit's state, counts, config and window, writing nothing", async () => {
    const { factory: made } = factory({}, { defaultThreshold: 2, defaultTtl: 30 });
    const calm = await made.getBreaker("calm", { failureRate: { rate: 0.5, minimumCalls: 10, window: 60 } });
    await calm.run(() => "ok");
    await calm.run(boom).catch(() => undefined);
    const tripped = await made.getBreaker("tripped");
    for (let i = 0; i < 2; i++) await tripped.run(boom).catch(() => undefined);
    const isolated = await made.getBreaker("isolated");
    await isolated.isolate();
    const storage = new RedisStorage({ url: REDIS_URL, prefix });
    open.push(storage);
    await waitFor("the registry", async () => (await storage.listCircuits()).length === 3);
    const keysBefore = await redis.keys(`${prefix}:*`);

    const info = await storage.inspect();
    expect(info.map((c) => [c.name, c.state, c.failureCount])).toEqual([
      ["calm", "closed", 1],
      ["isolated", "isolated", 0],
      ["tripped", "opened", 2],
    ]);
    const [calmInfo, , trippedInfo] = info;
    expect(calmInfo?.window).toEqual({ calls: 2, failures: 1, slow: 0 });
    expect(calmInfo?.config.failureRate).toEqual({ rate: 0.5, minimumCalls: 10, window: 60 });
    expect(trippedInfo?.openedAt).toBe(tripped.openedAt);
    expect(trippedInfo?.retryAt).toBe((tripped.openedAt as number) + 30_000);
    expect(trippedInfo?.window).toBeNull();
    // A name that no circuit has is left out, and nothing was written.
    expect(await storage.inspect(["nobody"])).toEqual([]);
    expect((await redis.keys(`${prefix}:*`)).sort()).toEqual(keysBefore.sort());
  });
});

describe("RedisStorage commands per call (a private redis-server)", () => {
  let server: RedisServer;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  it("reports its own trip once, and not as remote, when a re-read's reply arrives with the failure's", async () => {
    // Re-reads every 10 to 30 ms; Redis holds every script for 100 ms, so that a re-read sent
    // after the tripping failure is answered in the same packet as it.
    const racing = { url: server.url, resyncInterval: 0.02, commandTimeout: 2 };
    const { factory: made, recorder } = factory(racing, { defaultThreshold: 1, defaultTtl: 30 });
    await made.run("warm-up", () => 1);
    const breaker = await made.getBreaker("raced");
    for (let round = 0; round < 3; round++) {
      await admin.client("PAUSE", 100, "WRITE");
      await expect(breaker.run(boom)).rejects.toThrow("boom");
      expect(breaker.state).toBe("opened");
      await breaker.reset();
    }
    // A fence: Redis answers one connection's commands in order, so once a registration sent now
    // is answered, every re-read sent before it has been answered and learned.
    await made.getBreaker("fence");
    expect(recorder.states("raced")).toEqual(["opened", "closed", "opened", "closed", "opened", "closed"]);
  });

  it("keeps Redis time right after a script that waited to run: retryAfterMs does not shrink", async () => {
    const { factory: made } = factory({ url: server.url, commandTimeout: 2 }, { defaultTtl: 30 });
    const opened = await made.getBreaker("opened", { threshold: 1 });
    const other = await made.getBreaker("other", { threshold: 100 });
    await expect(opened.run(boom)).rejects.toThrow("boom");
    const trippedAt = Date.now();
    // Redis holds a failure's script for 300 ms: its reply alone would put Redis time 300 ms
    // later than it is, and tell callers to wait 300 ms less than they must.
    await admin.client("PAUSE", 300, "WRITE");
    await expect(other.run(boom)).rejects.toThrow("boom");
    const rejection = await opened.run(() => 1).catch((error: unknown) => error);
    expect(rejection).toBeInstanceOf(CircuitOpenError);
    const atMost = 30_000 - (Date.now() - trippedAt);
    expect((rejection as CircuitOpenError).retryAfterMs).toBeGreaterThan(atMost - 150);
    expect((rejection as CircuitOpenError).retryAfterMs).toBeLessThanOrEqual(atMost + 5);
  });

  it("sends no command for successes on a closed circuit and for rejections, one script per failure", async () => {
    const quiet = { url: server.url, resyncInterval: 600 };
    const { factory: made } = factory(quiet, { defaultThreshold: 3, defaultTtl: 30 });
    // Load the scripts first, so that no NOSCRIPT retry is counted below.
    await made.run("warm-up", boom).catch(() => undefined);
    await made.run("warm-up", () => 1);
    const breaker = await made.getBreaker("hot");
    await sleep(20);

    let before = await commandCalls(admin);
    for (let i = 0; i < 500; i++) await breaker.run(() => i);
    for (let i = 0; i < 100; i++) await made.run("hot", async () => i);
    expect(commandDelta(before, await commandCalls(admin))).toEqual({});

    before = await commandCalls(admin);
    await expect(breaker.run(boom)).rejects.toThrow("boom");
    const afterFailure = commandDelta(before, await commandCalls(admin));
    expect((afterFailure.evalsha ?? 0) + (afterFailure.eval ?? 0)).toBe(1);
    for (const command of Object.keys(afterFailure)) {
      // Only the script and what it runs inside Redis.
      expect(["evalsha", "eval", "time", "type", "hmget", "hset", "spublish", "pexpire"]).toContain(command);
    }

    await breaker.run(boom).catch(() => undefined);
    await breaker.run(boom).catch(() => undefined);
    expect(breaker.state).toBe("opened");
    before = await commandCalls(admin);
    for (let i = 0; i < 100; i++) await expect(breaker.run(() => i)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(commandDelta(before, await commandCalls(admin))).toEqual({});
  });

  it("sends no command for successes of a synchronous breaker", async () => {
    const sync = new SyncCircuitBreakerFactory({
      storage: new RedisStorage({ url: server.url, prefix, resyncInterval: 600 }),
      defaultThreshold: 3,
    });
    open.push(sync);
    await sync.initialize();
    const breaker = sync.getBreaker("sync-hot");
    await waitFor("the registration", async () => (await admin.exists(`${prefix}:circuit:{sync-hot}`)) === 1);
    await sleep(20);
    const before = await commandCalls(admin);
    for (let i = 0; i < 500; i++) expect(breaker.run(() => i)).toBe(i);
    expect(commandDelta(before, await commandCalls(admin))).toEqual({});
    await deleteKeys(admin, prefix);
  });
});

describe("RedisStorage's estimate of Redis time", () => {
  it("is sampled when a script is sent, so that registrations waiting their turn do not shorten open times", async () => {
    const { factory: a } = factory();
    const { factory: b } = factory();
    const held = await a.getBreaker("tripped", { threshold: 1, ttl: 5 });
    // 3,000 registrations at once: read 128 at a time, the last ones after a wait of their turn.
    // They are the last replies this process hears before the rejection below.
    await Promise.all(Array.from({ length: 3_000 }, (_, i) => a.getBreaker(`burst-${i}`)));
    const tripping = await b.getBreaker("tripped");
    await tripping.run(boom).catch(() => undefined);
    await waitFor("process a hears the trip", () => held.state === "opened");
    const error = (await held.run(() => "rejected").catch((e: unknown) => e)) as CircuitOpenError;
    expect(error).toBeInstanceOf(CircuitOpenError);
    // An offset sampled against the callers' `now` runs ahead by the wait (400 ms and more here);
    // sampled at sending, by Redis's own queue at most (a few ms), plus the time to hear the trip.
    expect(error.retryAfterMs).toBeGreaterThan(5_000 - 200);
    expect(error.retryAfterMs).toBeLessThanOrEqual(5_000);
  }, 30_000);
});

describe("options that cannot work together", () => {
  it("refuses a keyTtl below a circuit's longest opening, naming both", async () => {
    const { factory: made } = factory({ keyTtl: 10 });
    await expect(made.getBreaker("short-key", { ttl: 30 })).rejects.toThrow(
      /"keyTtl".*10 s is below the circuit's ttl \(30 s\)/,
    );
    await expect(
      made.getBreaker("short-key-backoff", { ttl: 5, backoff: { multiplier: 2, maxTtl: 60, jitter: 0 } }),
    ).rejects.toThrow(/"keyTtl".*below the circuit's backoff\.maxTtl \(60 s\)/);
    await expect(made.getBreaker("long-enough", { ttl: 10 })).resolves.toBeDefined();
    expect(await redis.exists(new RedisStorage({ prefix }).keys.circuit("short-key"))).toBe(0);
  });
});
