/**
 * Faults with real servers: a redis-server killed mid-run and restarted on its port, a network
 * cut for one process while the fleet goes on, a server that stops answering (SIGSTOP), and a
 * TCP server that accepts connections but never answers.
 */
import { Redis } from "ioredis";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  type AsyncCircuitBreaker,
  type FactoryOptions,
  type RedisStorageOptions,
  type StorageErrorPolicy,
} from "../../../src/index.js";
import { HookRecorder, sleep, uniquePrefix, waitFor } from "../../support/redis-helpers.js";
import { startProxy, startSilentServer } from "../../support/redis-proxy.js";
import type { RedisServer } from "../../support/redis-server.js";
import { useThrowawayRedis } from "../../support/throwaway-redis.js";

/** Fast detection and recovery, so that the tests stay short. */
const FAST: RedisStorageOptions = { commandTimeout: 0.2, healthCheckInterval: 0.05, resyncInterval: 600 };
/** Guarded calls must settle within this, whatever the server does. */
const BOUND_MS = 2000;

let server: RedisServer;
let admin: Redis;
let prefix = "";
const cleanups: (() => Promise<unknown> | void)[] = [];

const redis = useThrowawayRedis();
const unhandled = redis.unhandled;
beforeAll(() => {
  server = redis.server;
  admin = redis.admin;
});
beforeEach(() => {
  prefix = uniquePrefix("test-faults");
  unhandled.length = 0;
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  if (server.process === undefined) await server.restart();
  expect(unhandled).toEqual([]);
});

function make(url: string, storage: RedisStorageOptions = {}, options: FactoryOptions = {}) {
  const recorder = new HookRecorder();
  const redisStorage = new RedisStorage({ url, prefix, ...FAST, ...storage });
  const factory = new AsyncCircuitBreakerFactory({ storage: redisStorage, listeners: [recorder.hook], ...options });
  cleanups.push(() => factory.close());
  return { factory, storage: redisStorage, recorder };
}

const key = (name: string) => new RedisStorage({ prefix }).keys.circuit(name);

/** Runs `fn` under `breaker` and says how it settled and how long it took. */
async function timed<T>(breaker: AsyncCircuitBreaker, fn: () => T | Promise<T>) {
  const start = performance.now();
  const outcome = await breaker.run(fn).then(
    (value) => ({ value, error: undefined as unknown }),
    (error: unknown) => ({ value: undefined, error }),
  );
  return { ...outcome, ms: performance.now() - start };
}

/** Calls `steady` back to back until stopped; every result must be the call's own value. */
function backgroundLoad(breaker: AsyncCircuitBreaker) {
  let running = true;
  const wrong: string[] = [];
  let calls = 0;
  const done = (async () => {
    while (running) {
      const value = calls++;
      const got = await breaker.run(async () => value).catch((error: unknown) => `error ${String(error)}`);
      if (got !== value) wrong.push(String(got));
      await sleep(2);
    }
  })();
  return {
    get calls() {
      return calls;
    },
    wrong,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

describe("a redis-server killed mid-run and restarted", () => {
  it("keeps calls working, trips locally, reports the outage, and then yields to the empty Redis", async () => {
    const { factory, storage, recorder } = make(server.url, {}, { defaultThreshold: 3, defaultTtl: 30 });
    await factory.initialize();
    expect(storage.available).toBe(true);
    const steady = await factory.getBreaker("steady");
    const flaky = await factory.getBreaker("flaky");
    const load = backgroundLoad(steady);
    cleanups.push(() => load.stop());
    await waitFor("some calls", () => load.calls > 10);

    await server.kill("SIGKILL");
    const mine = new Error("downstream failed");
    for (let i = 0; i < 3; i++) {
      const call = await timed(flaky, () => Promise.reject(mine));
      expect(call.error).toBe(mine);
      expect(call.ms).toBeLessThan(BOUND_MS);
    }
    expect(flaky.state).toBe("opened");
    const rejected = await timed(flaky, () => "not run");
    expect(rejected.error).toBeInstanceOf(CircuitOpenError);
    await waitFor("storage_unavailable", () => recorder.of("storage_unavailable").length > 0);
    expect(storage.available).toBe(false);
    expect(recorder.states("flaky")).toEqual(["opened"]);

    const callsDuringOutage = load.calls;
    await sleep(150);
    expect(load.calls).toBeGreaterThan(callsDuringOutage); // still serving while degraded

    await server.restart();
    await waitFor("storage_recovered", () => recorder.of("storage_recovered").length > 0, 10_000);
    expect(storage.available).toBe(true);
    expect(recorder.of("storage_unavailable")).toHaveLength(1);
    expect(recorder.of("storage_recovered")).toHaveLength(1);
    // Redis came back empty: the key the local trip would have been pushed onto is gone, so the
    // shared state moved (a new incarnation, closed) and the local trip yields to it.
    expect(await admin.hget(key("flaky"), "st")).toBe("closed");
    expect(flaky.state).toBe("closed");
    expect(recorder.states("flaky")).toEqual(["opened", "closed (remote)"]);
    await expect(flaky.run(() => "runs again")).resolves.toBe("runs again");

    await load.stop();
    expect(load.wrong).toEqual([]);
    expect(load.calls).toBeGreaterThan(20);

    // A process that starts now sees the same closed circuit.
    const { factory: later } = make(server.url);
    const seen = await later.getBreaker("flaky");
    expect(seen.state).toBe("closed");
    // And the failure path reaches Redis again.
    await steady.run(() => Promise.reject(new Error("counted"))).catch(() => undefined);
    expect(await admin.hget(key("steady"), "f")).toBe("1");
  });

  it("starts degraded when Redis is down at initialize(), then pushes its trip and follows Redis when it comes up", async () => {
    await server.kill("SIGKILL");
    const { factory, storage, recorder } = make(server.url, {}, { defaultThreshold: 2, defaultTtl: 30 });
    await factory.initialize();
    expect(storage.available).toBe(false);
    expect(recorder.of("storage_unavailable")).toHaveLength(1);
    const breaker = await factory.getBreaker("early");
    expect(await breaker.run(() => "works")).toBe("works");
    await breaker.run(() => Promise.reject(new Error("1"))).catch(() => undefined);
    await breaker.run(() => Promise.reject(new Error("2"))).catch(() => undefined);
    expect(breaker.state).toBe("opened");
    await server.restart();
    await waitFor("storage_recovered", () => recorder.of("storage_recovered").length > 0, 10_000);
    // The process never heard of the shared state before its trip, and Redis restarted empty:
    // nobody moved the circuit since, so its trip is pushed ("open it if missing").
    expect(await admin.hget(key("early"), "st")).toBe("opened");
    expect(breaker.state).toBe("opened");
    // Its subscription works now: a trip made by another process reaches it as remote.
    const watched = await factory.getBreaker("watched");
    const { factory: other } = make(server.url);
    for (let i = 0; i < 2; i++)
      await other.run("watched", () => Promise.reject(new Error("elsewhere"))).catch(() => undefined);
    await waitFor("the remote trip", () => watched.state === "opened");
    expect(recorder.states("watched")).toEqual(["opened (remote)"]);
    expect(recorder.of("storage_unavailable")).toHaveLength(1);
    expect(recorder.of("storage_recovered")).toHaveLength(1);
  });
});

describe("a network cut for one process while another goes on", () => {
  it("adopts the fleet's state, not its own, when the shared generation moved", async () => {
    const proxy = await startProxy(server.port);
    cleanups.push(() => proxy.close());
    const cutOff = make(proxy.url, {}, { defaultThreshold: 2, defaultTtl: 0.15 });
    const fleet = make(server.url, {}, { defaultThreshold: 2, defaultTtl: 0.15 });
    const mineBreaker = await cutOff.factory.getBreaker("shared");
    const theirs = await fleet.factory.getBreaker("shared");

    proxy.cut();
    for (let i = 0; i < 2; i++) await mineBreaker.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    expect(mineBreaker.state).toBe("opened");
    await waitFor("storage_unavailable", () => cutOff.recorder.of("storage_unavailable").length > 0);

    // Meanwhile the fleet trips the circuit and closes it again with a good probe: generation 3.
    for (let i = 0; i < 2; i++) await theirs.run(() => Promise.reject(new Error("y"))).catch(() => undefined);
    expect(theirs.state).toBe("opened");
    await sleep(200);
    await expect(theirs.run(() => "probe")).resolves.toBe("probe");
    expect(await admin.hmget(key("shared"), "st", "g")).toEqual(["closed", "3"]);

    proxy.restore();
    await waitFor("storage_recovered", () => cutOff.recorder.of("storage_recovered").length > 0, 10_000);
    expect(await admin.hmget(key("shared"), "st", "g")).toEqual(["closed", "3"]);
    expect(mineBreaker.state).toBe("closed");
    expect(cutOff.recorder.states("shared")).toEqual(["opened", "closed (remote)"]);
    await expect(mineBreaker.run(() => "flows")).resolves.toBe("flows");
  });

  it("pushes its trip when the fleet did nothing meanwhile, and the fleet hears of it", async () => {
    const proxy = await startProxy(server.port);
    cleanups.push(() => proxy.close());
    const cutOff = make(proxy.url, {}, { defaultThreshold: 2, defaultTtl: 30 });
    const fleet = make(server.url, {}, { defaultThreshold: 2, defaultTtl: 30 });
    const mineBreaker = await cutOff.factory.getBreaker("pushed");
    const theirs = await fleet.factory.getBreaker("pushed");
    proxy.cut();
    for (let i = 0; i < 2; i++) await mineBreaker.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    expect(mineBreaker.state).toBe("opened");
    expect(theirs.state).toBe("closed");
    proxy.restore();
    await waitFor("storage_recovered", () => cutOff.recorder.of("storage_recovered").length > 0, 10_000);
    expect(await admin.hget(key("pushed"), "st")).toBe("opened");
    await waitFor("the fleet to hear of the trip", () => theirs.state === "opened");
    expect(fleet.recorder.states("pushed")).toEqual(["opened (remote)"]);
  });
});

describe("a circuit a process registers while Redis is unreachable", () => {
  it("pushes its local trip once Redis is back when nobody wrote the circuit meanwhile", async () => {
    const proxy = await startProxy(server.port);
    cleanups.push(() => proxy.close());
    const cutOff = make(proxy.url, {}, { defaultThreshold: 2, defaultTtl: 30 });
    const fleet = make(server.url, {}, { defaultThreshold: 2, defaultTtl: 30 });
    await cutOff.factory.initialize();
    proxy.cut();
    await waitFor("storage_unavailable", () => cutOff.recorder.of("storage_unavailable").length > 0);
    // Registered during the outage: this process never heard of the circuit from Redis.
    const mine = await cutOff.factory.getBreaker("new-in-outage");
    for (let i = 0; i < 2; i++) await mine.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    expect(mine.state).toBe("opened");
    const theirs = await fleet.factory.getBreaker("new-in-outage");
    proxy.restore();
    await waitFor("storage_recovered", () => cutOff.recorder.of("storage_recovered").length > 0, 10_000);
    expect(await admin.hget(key("new-in-outage"), "st")).toBe("opened");
    expect(mine.state).toBe("opened");
    await waitFor("the fleet to hear of the trip", () => theirs.state === "opened");
  });

  it("yields to the fleet when the circuit moved after its trip", async () => {
    const proxy = await startProxy(server.port);
    cleanups.push(() => proxy.close());
    const cutOff = make(proxy.url, {}, { defaultThreshold: 2, defaultTtl: 30 });
    const fleet = make(server.url, {}, { defaultThreshold: 2, defaultTtl: 30 });
    await cutOff.factory.initialize();
    proxy.cut();
    await waitFor("storage_unavailable", () => cutOff.recorder.of("storage_unavailable").length > 0);
    const mine = await cutOff.factory.getBreaker("moved-in-outage");
    for (let i = 0; i < 2; i++) await mine.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    expect(mine.state).toBe("opened");
    // After that trip, the fleet moves the circuit: it trips it, and an operator resets it.
    await sleep(5);
    const theirs = await fleet.factory.getBreaker("moved-in-outage");
    for (let i = 0; i < 2; i++) await theirs.run(() => Promise.reject(new Error("y"))).catch(() => undefined);
    await theirs.reset();
    proxy.restore();
    await waitFor("storage_recovered", () => cutOff.recorder.of("storage_recovered").length > 0, 10_000);
    expect(await admin.hget(key("moved-in-outage"), "st")).toBe("closed");
    expect(mine.state).toBe("closed");
  });
});

describe("a circuit whose last writes Redis lost (a failover's asynchronous replication)", () => {
  /** Puts back what the circuit's hash held at `dump` (DUMP/RESTORE): later writes are lost. */
  const rollBack = (name: string, dump: Buffer) => admin.restore(key(name), 0, dump, "REPLACE");

  it("does not leave the processes on a trip Redis no longer holds", async () => {
    const a = make(server.url, { resyncInterval: 0.1 }, { defaultThreshold: 2, defaultTtl: 30 });
    const b = make(server.url, { resyncInterval: 0.1 }, { defaultThreshold: 2, defaultTtl: 30 });
    const mine = await a.factory.getBreaker("lost-trip");
    const theirs = await b.factory.getBreaker("lost-trip");
    const dump = await admin.dumpBuffer(key("lost-trip"));
    for (let i = 0; i < 2; i++) await mine.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    await waitFor("both see the trip", () => mine.state === "opened" && theirs.state === "opened");
    await rollBack("lost-trip", dump);
    // Within one re-read, a new incarnation (closed) replaces the key that went back in time.
    await waitFor("both follow Redis again", () => mine.state === "closed" && theirs.state === "closed", 3_000);
    expect(await admin.hget(key("lost-trip"), "st")).toBe("closed");
    await expect(mine.run(() => "flows")).resolves.toBe("flows");
  });

  it("does not leave a circuit that can never trip again after its close was lost", async () => {
    const a = make(server.url, { resyncInterval: 600 }, { defaultThreshold: 2, defaultTtl: 0.1 });
    const b = make(server.url, { resyncInterval: 600 }, { defaultThreshold: 2, defaultTtl: 0.1 });
    const mine = await a.factory.getBreaker("lost-close");
    const theirs = await b.factory.getBreaker("lost-close");
    for (let i = 0; i < 2; i++) await mine.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    await waitFor("both see the trip", () => theirs.state === "opened");
    const dump = await admin.dumpBuffer(key("lost-close"));
    await sleep(150);
    await expect(mine.run(() => "probe")).resolves.toBe("probe");
    await waitFor("both see the close", () => mine.state === "closed" && theirs.state === "closed");
    await rollBack("lost-close", dump);
    // No re-read here: the failures alone (their tokens are of the lost generation) must repair it.
    for (let i = 0; i < 3; i++) await theirs.run(() => Promise.reject(new Error("y"))).catch(() => undefined);
    await waitFor("it trips again", async () => (await admin.hget(key("lost-close"), "st")) === "opened", 3_000);
    await waitFor("both hear it", () => mine.state === "opened" && theirs.state === "opened");
  });
});

describe("a server that stops answering", () => {
  it("does not hang guarded calls on a redis-server frozen with SIGSTOP, and recovers on SIGCONT", async () => {
    const { factory, storage, recorder } = make(server.url, {}, { defaultThreshold: 2, defaultTtl: 30 });
    const breaker = await factory.getBreaker("frozen");
    cleanups.push(() => server.signal("SIGCONT"));
    server.signal("SIGSTOP");
    const mine = new Error("mine");
    for (let i = 0; i < 3; i++) {
      const call = await timed(breaker, () => Promise.reject(mine));
      expect(call.ms).toBeLessThan(BOUND_MS);
      if (i < 2) expect(call.error).toBe(mine);
      else expect(call.error).toBeInstanceOf(CircuitOpenError);
    }
    const ok = await timed(await factory.getBreaker("other"), () => 7);
    expect(ok.value).toBe(7);
    expect(ok.ms).toBeLessThan(BOUND_MS);
    expect(recorder.of("storage_unavailable")).toHaveLength(1);
    server.signal("SIGCONT");
    await waitFor("storage_recovered", () => recorder.of("storage_recovered").length > 0, 10_000);
    expect(storage.available).toBe(true);
    expect(await admin.hget(key("frozen"), "st")).toBe("opened");
  });

  it("settles guarded calls on a TCP server that accepts connections and never answers", async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const { factory, storage, recorder } = make(silent.url, {}, { defaultThreshold: 2, defaultTtl: 30 });
    const start = performance.now();
    const first = await factory
      .run("void", () => "first")
      .then(
        (value) => value,
        (error: unknown) => error,
      );
    expect(first).toBe("first");
    expect(performance.now() - start).toBeLessThan(BOUND_MS);
    expect(silent.accepted).toBeGreaterThan(0);
    expect(storage.available).toBe(false);
    expect(recorder.of("storage_unavailable")).toHaveLength(1);

    const breaker = await factory.getBreaker("void");
    const mine = new Error("mine");
    for (const expected of [mine, mine, "open"]) {
      const call = await timed(breaker, () => Promise.reject(mine));
      expect(call.ms).toBeLessThan(BOUND_MS);
      if (expected === "open") expect(call.error).toBeInstanceOf(CircuitOpenError);
      else expect(call.error).toBe(expected);
    }
    const closing = performance.now();
    await factory.close();
    expect(performance.now() - closing).toBeLessThan(BOUND_MS);
  });
});

describe("onStorageError, while Redis is unavailable", () => {
  /** A factory whose Redis is down from the start (the server is killed before it connects). */
  async function degraded(onStorageError: StorageErrorPolicy) {
    await server.kill("SIGKILL");
    await waitFor("the server is down", async () => (await admin.ping().catch(() => "down")) === "down");
    const made = make(server.url, { onStorageError }, { defaultThreshold: 2, defaultTtl: 30 });
    await made.factory.initialize();
    expect(made.storage.available).toBe(false);
    return made;
  }
  const failing = (error: Error) => () => Promise.reject(error);

  it('"local" (the default) counts failures on the replica and trips the circuit locally', async () => {
    const { factory } = await degraded("local");
    const boom = new Error("boom");
    for (let i = 0; i < 2; i++) await expect(factory.run("local", failing(boom))).rejects.toBe(boom);
    const guarded = vi.fn(() => "runs");
    await expect(factory.run("local", guarded)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(guarded).not.toHaveBeenCalled();
  });

  it('"fail-open" runs every call and counts nothing', async () => {
    const { factory } = await degraded("fail-open");
    const boom = new Error("boom");
    for (let i = 0; i < 5; i++) await expect(factory.run("open-policy", failing(boom))).rejects.toBe(boom);
    await expect(factory.run("open-policy", () => "still runs")).resolves.toBe("still runs");
    expect((await factory.getBreaker("open-policy")).state).toBe("closed");
  });

  it('"fail-closed" rejects every call with CircuitOpenError without running it', async () => {
    const { factory } = await degraded("fail-closed");
    const breaker = await factory.getBreaker("closed-policy");
    const guarded = vi.fn(() => "never");
    await expect(breaker.run(guarded)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(guarded).not.toHaveBeenCalled();
    expect(breaker.state).toBe("opened");
  });
});
