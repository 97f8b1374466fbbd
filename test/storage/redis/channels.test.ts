/**
 * One pub/sub channel per circuit (docs/fleet-protocol.md, "Channels"): a process hears only
 * about the circuits it holds, subscribes in batches, unsubscribes what it forgets, and keeps its
 * subscriptions through a reconnection and a restart. On a throw-away redis-server; the process
 * under watch reaches it through a proxy that counts the messages pushed to it.
 */
import type { Redis } from "ioredis";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  RedisStorage,
  type FactoryOptions,
  type RedisStorageOptions,
} from "../../../src/index.js";
import { commandCalls, commandDelta, HookRecorder, sleep, uniquePrefix, waitFor } from "../../support/redis-helpers.js";
import { startProxy, type RedisProxy } from "../../support/redis-proxy.js";
import type { RedisServer } from "../../support/redis-server.js";
import { useThrowawayRedis } from "../../support/throwaway-redis.js";

let server: RedisServer;
let admin: Redis;
let prefix = "";
const cleanups: (() => Promise<unknown>)[] = [];

const redis = useThrowawayRedis();
beforeAll(() => {
  server = redis.server;
  admin = redis.admin;
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A process of the fleet: its own factory and storage, through `proxy` when given. */
function member(options: RedisStorageOptions = {}, factory: FactoryOptions = {}, proxy?: RedisProxy) {
  const recorder = new HookRecorder();
  const storage = new RedisStorage({ url: proxy?.url ?? server.url, prefix, healthCheckInterval: 0.05, ...options });
  const made = new AsyncCircuitBreakerFactory({
    storage,
    defaultThreshold: 2,
    defaultTtl: 0.1,
    listeners: [recorder.hook],
    ...factory,
  });
  cleanups.push(() => made.close());
  return { factory: made, storage, recorder };
}

async function watchedMember(options: RedisStorageOptions = {}, factory: FactoryOptions = {}) {
  const proxy = await startProxy(server.port);
  cleanups.push(() => proxy.close());
  return { ...member(options, factory, proxy), proxy };
}

const fail = (factory: AsyncCircuitBreakerFactory, name: string) =>
  factory.run(name, () => Promise.reject(new Error("downstream failed"))).catch(() => undefined);

/** Trips `name`, lets it half-open, fails the probe, and closes it with the next one. */
async function churn(factory: AsyncCircuitBreakerFactory, name: string): Promise<void> {
  await fail(factory, name);
  await fail(factory, name);
  await sleep(110);
  await fail(factory, name);
  await sleep(110);
  await factory.run(name, () => "ok");
}

/** The shard channels (or classic channels) the server has subscribers for, under the prefix. */
const channels = async (kind: "SHARDCHANNELS" | "CHANNELS" = "SHARDCHANNELS") =>
  ((await admin.call("PUBSUB", kind, `${prefix}:events:*`)) as string[]).sort();

describe("a process of the fleet", () => {
  it("hears nothing about the circuits it does not hold, and at once about one it holds", async () => {
    prefix = uniquePrefix("test-channels");
    const watched = await watchedMember({ resyncInterval: 600 });
    const mine = await watched.factory.getBreaker("mine");
    await sleep(50);
    // Its own registration wrote the circuit, and published that on the circuit's channel.
    const heard = watched.proxy.messages;
    const busy = member();
    for (let i = 0; i < 3; i++) for (const name of ["theirs-a", "theirs-b"]) await churn(busy.factory, name);
    await sleep(50);
    expect(watched.proxy.messages).toBe(heard);

    await fail(busy.factory, "mine");
    await fail(busy.factory, "mine");
    await waitFor("the trip of the circuit it holds", () => mine.state === "opened");
    expect(watched.recorder.states("mine")).toEqual(["opened (remote)"]);
    expect(watched.proxy.messages).toBeGreaterThan(heard);
  });

  it("subscribes the circuits it registers in one turn with a few commands, and holds one channel each", async () => {
    prefix = uniquePrefix("test-channels");
    const { factory, storage } = member({ resyncInterval: 600 });
    await factory.initialize();
    const before = await commandCalls(admin);
    const names = Array.from({ length: 2500 }, (_, i) => `tenant-${i}.example.com`);
    await Promise.all(names.map((name) => factory.getBreaker(name)));
    const delta = commandDelta(before, await commandCalls(admin));
    expect(delta.ssubscribe).toBeLessThanOrEqual(3);
    expect(storage.subscriptions).toBe(2500);
    expect(await channels()).toHaveLength(2500);
  });

  it("unsubscribes a circuit it forgets, explicitly or by the idle sweep", async () => {
    prefix = uniquePrefix("test-channels");
    let now = Date.UTC(2030, 0, 1);
    const { factory, storage } = member({ resyncInterval: 600 }, { idleTtl: 60, clock: () => now });
    for (const name of ["kept", "forgotten", "idle"]) await factory.getBreaker(name);
    await factory.forget("forgotten");
    const channel = (name: string) => storage.keys.channel(name);
    await waitFor("the unsubscription", async () => !(await channels()).includes(channel("forgotten")));
    expect(await channels()).toEqual([channel("idle"), channel("kept")]);

    // "kept" is used meanwhile; "idle" is not: two sweeps later, only "kept" is held.
    now += 61_000;
    await factory.run("kept", () => 1);
    await factory.getBreaker("sweeper-1");
    now += 61_000;
    await factory.run("kept", () => 1);
    await factory.getBreaker("sweeper-2");
    await waitFor("the idle sweep's unsubscription", async () => !(await channels()).includes(channel("idle")));
    expect(factory.circuitNames()).not.toContain("idle");
    expect(storage.subscriptions).toBe(factory.circuitNames().length);
  });

  it("subscribes again when its subscriber reconnects, and hears the transitions after it", async () => {
    prefix = uniquePrefix("test-channels");
    const watched = member({ resyncInterval: 600 });
    const breaker = await watched.factory.getBreaker("reconnected");
    await admin.client("KILL", "TYPE", "pubsub");
    await waitFor("the subscription again", async () => (await channels()).length === 1);
    const other = member();
    await fail(other.factory, "reconnected");
    await fail(other.factory, "reconnected");
    await waitFor("the trip after the reconnection", () => breaker.state === "opened");
  });

  it("subscribes again after Redis restarts, and hears the transitions after it", async () => {
    prefix = uniquePrefix("test-channels");
    const watched = member({ resyncInterval: 600 });
    const breaker = await watched.factory.getBreaker("restarted");
    await server.restart();
    await waitFor("storage_recovered", () => watched.recorder.of("storage_recovered").length > 0, 10_000);
    expect(await channels()).toEqual([watched.storage.keys.channel("restarted")]);
    const other = member();
    await fail(other.factory, "restarted");
    await fail(other.factory, "restarted");
    await waitFor("the trip after the restart", () => breaker.state === "opened");
  });

  it("uses classic pub/sub when told to (a Redis 6 server), on one channel per circuit all the same", async () => {
    prefix = uniquePrefix("test-channels");
    const watched = member({ pubsub: "classic" });
    const breaker = await watched.factory.getBreaker("classic");
    expect(await channels("CHANNELS")).toEqual([watched.storage.keys.channel("classic")]);
    expect(await channels("SHARDCHANNELS")).toEqual([]);
    const other = member({ pubsub: "classic" });
    await fail(other.factory, "classic");
    await fail(other.factory, "classic");
    await waitFor("the trip through classic pub/sub", () => breaker.state === "opened");
  });
});
