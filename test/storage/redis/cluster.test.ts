/**
 * RedisStorage on a real 3-master Redis Cluster (redis-server processes started by the test),
 * through ioredis `Cluster` clients passed as `client`.
 */
import fc from "fast-check";
import { Cluster } from "ioredis";
import { Cluster as Cluster6 } from "ioredis6";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  type AsyncCircuitBreaker,
  type RedisStorageOptions,
} from "../../../src/index.js";
import { keySlot } from "../../../src/storage/redis/slot.js";
import {
  moveSlot,
  slotOwner,
  startRedisCluster,
  withNode,
  type RedisClusterHandle,
} from "../../support/redis-cluster.js";
import { commandCalls, HookRecorder, deleteKeys, sleep, uniquePrefix, waitFor } from "../../support/redis-helpers.js";

let cluster: RedisClusterHandle;
const clients: Cluster[] = [];
let admin: Cluster;
let prefix = "";
const open: { close(): Promise<void> }[] = [];

function connect(): Cluster {
  const client = new Cluster([...cluster.nodes], { redisOptions: { commandTimeout: 1000 } });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  cluster = await startRedisCluster();
  admin = connect();
}, 60_000);
afterAll(async () => {
  for (const client of clients) await client.quit().catch(() => client.disconnect());
  await cluster?.stop();
});
beforeEach(() => {
  prefix = uniquePrefix("test-cluster");
});
afterEach(async () => {
  for (const made of open.splice(0)) await made.close();
  await deleteKeys(admin, prefix);
});

function factory(client: Cluster, threshold = 2, ttl = 0.2, options: Omit<RedisStorageOptions, "client"> = {}) {
  const recorder = new HookRecorder();
  const storage = new RedisStorage({ client, prefix, ...options });
  const made = new AsyncCircuitBreakerFactory({
    storage,
    defaultThreshold: threshold,
    defaultTtl: ttl,
    listeners: [recorder.hook],
  });
  open.push(made);
  return { factory: made, storage, recorder };
}

const keyslot = async (key: string): Promise<number> => Number(await admin.cluster("KEYSLOT", key));

const names = [...Array.from({ length: 20 }, (_, i) => `host${i}`), "a{b}", "a%7Bb%7D", "}{", "100%", "pipe|name"];

describe("RedisStorage on a 3-master Redis Cluster", () => {
  it("keeps each circuit's key in the slot of its hash tag, and the circuits spread over the masters", async () => {
    const { storage } = factory(connect());
    const owners = new Set<number>();
    for (const name of names) {
      const key = storage.keys.circuit(name);
      const tag = key.slice(key.indexOf("{") + 1, key.lastIndexOf("}"));
      expect(tag).not.toMatch(/[{}]/);
      const slot = await keyslot(key);
      expect(slot).toBe(await keyslot(`{${tag}}`));
      expect(slot).toBe(await keyslot(tag));
      owners.add(await slotOwner(cluster, slot));
    }
    expect(owners.size).toBe(3);
  });

  it("trips and recovers circuits on every master, and events reach the other process", async () => {
    // Opened for 2 s: long enough for b's rejections to be checked after every trip reached Redis
    // (0.2 s were not, once, beside a busy loop); the probes are then waited for.
    const a = factory(connect(), 2, 2);
    const b = factory(connect(), 2, 2);
    await a.factory.initialize();
    await b.factory.initialize();
    const onA = await Promise.all(names.map((name) => a.factory.getBreaker(name)));
    const onB = await Promise.all(names.map((name) => b.factory.getBreaker(name)));

    for (const breaker of onA) {
      for (let i = 0; i < 2; i++) await breaker.run(() => Promise.reject(new Error("down"))).catch(() => undefined);
      expect(breaker.state).toBe("opened");
    }
    // On a loaded machine a failure's script may time out (1 s): the trip is then pushed once Redis answers.
    for (const name of names) {
      await waitFor(
        `${name} opened in Redis`,
        async () => (await admin.hget(a.storage.keys.circuit(name), "st")) === "opened",
        10_000,
      );
    }
    await waitFor("b to see every trip", () => onB.every((breaker) => breaker.state === "opened"));
    for (const name of names) {
      expect(a.recorder.states(name)).toEqual(["opened"]);
      expect(b.recorder.states(name)).toEqual(["opened (remote)"]);
    }
    for (const breaker of onB) await expect(breaker.run(() => 1)).rejects.toBeInstanceOf(CircuitOpenError);

    for (const breaker of onB) {
      const probe = () =>
        breaker
          .run(() => "probe ok")
          .catch((error: unknown) => {
            if (error instanceof CircuitOpenError) return "still opened";
            throw error;
          });
      await waitFor(`${breaker.name}'s probe`, async () => (await probe()) === "probe ok", 5000, 50);
    }
    for (const name of names) expect(await admin.hget(a.storage.keys.circuit(name), "st")).toBe("closed");
    await waitFor("a to see every recovery", () => onA.every((breaker) => breaker.state === "closed"));
    for (const name of names) {
      expect(a.recorder.states(name)).toEqual(["opened", "half-opened (remote)", "closed (remote)"]);
      expect(b.recorder.states(name)).toEqual(["opened (remote)", "half-opened", "closed"]);
    }
  });

  it("counts concurrent failures from two processes exactly and trips once", async () => {
    const a = factory(connect(), 30, 30);
    const b = factory(connect(), 30, 30);
    const name = "contended";
    const [onA, onB] = [await a.factory.getBreaker(name), await b.factory.getBreaker(name)];
    const fail = (breaker: typeof onA) => breaker.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    await Promise.all(Array.from({ length: 20 }, (_, i) => fail(i % 2 === 0 ? onA : onB)));
    expect(await admin.hget(a.storage.keys.circuit(name), "f")).toBe("20");
    await Promise.all(Array.from({ length: 20 }, (_, i) => fail(i % 2 === 0 ? onA : onB)));
    const opened = [...a.recorder.states(name), ...b.recorder.states(name)];
    expect(opened.filter((s) => s === "opened")).toHaveLength(1);
    await waitFor("both to know", () => onA.state === "opened" && onB.state === "opened");
    expect(await admin.hmget(a.storage.keys.circuit(name), "st", "f")).toEqual(["opened", "30"]);
  });

  it("starts available with a Cluster client still connecting, without an offline queue", async () => {
    const client = new Cluster([...cluster.nodes], { enableOfflineQueue: false });
    clients.push(client);
    const { factory: made, storage, recorder } = factory(client, 1);
    await made.initialize();
    await made.run("early", () => Promise.reject(new Error("x"))).catch(() => undefined);
    expect(recorder.of("storage_unavailable")).toEqual([]);
    expect(await admin.hget(storage.keys.circuit("early"), "st")).toBe("opened");
  });

  it("lists the circuits and keeps a client it was given open after close()", async () => {
    const client = connect();
    const { factory: made, storage } = factory(client);
    for (const name of ["x", "y{z}", "w"]) await made.getBreaker(name);
    await waitFor("the registry", async () => (await storage.listCircuits()).length === 3);
    expect(await storage.listCircuits()).toEqual(["w", "x", "y{z}"]);
    await made.close();
    expect(client.status).toBe("ready");
    expect(await client.get(`${prefix}:nothing`)).toBeNull();
  });
});

/** The shard channels of this test's prefix that the master on `port` has subscribers for. */
/** The circuits' channels the master on `port` has subscribers for (not the telemetry's watch channel). */
const shardChannels = (port: number): Promise<string[]> =>
  withNode(port, async (node) =>
    ((await node.call("PUBSUB", "SHARDCHANNELS", `${prefix}:events:*`)) as string[]).sort(),
  );

/** How many pub/sub connections the master on `port` serves. */
const pubsubClients = (port: number): Promise<number> =>
  withNode(port, async (node) => {
    const list = (await node.call("CLIENT", "LIST", "TYPE", "pubsub")) as string;
    return list.split("\n").filter((line) => line.trim() !== "").length;
  });

describe("sharded subscriptions on a Cluster", () => {
  it("computes each channel's slot as the Cluster does, hash tags and UTF-8 included", async () => {
    const key = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 12 }),
      fc
        .tuple(fc.string({ maxLength: 4 }), fc.string({ unit: "grapheme", maxLength: 6 }), fc.string({ maxLength: 4 }))
        .map(([before, tag, after]) => `${before}{${tag}}${after}`),
    );
    await fc.assert(
      fc.asyncProperty(key, async (k) => {
        expect(keySlot(k)).toBe(await keyslot(k));
      }),
      { numRuns: 200 },
    );
  });

  it("subscribes each circuit's channel on the master of its slot, over one connection per master, closed with the storage", async () => {
    const { factory: made, storage } = factory(connect());
    await Promise.all(names.map((name) => made.getBreaker(name)));
    for (const { port } of cluster.nodes) {
      const expected: string[] = [];
      for (const name of names) {
        const channel = storage.keys.channel(name);
        if ((await slotOwner(cluster, await keyslot(channel))) === port) expected.push(channel);
      }
      expect(expected.length).toBeGreaterThan(0);
      expect(await shardChannels(port)).toEqual(expected.sort());
      expect(await pubsubClients(port)).toBe(1);
    }
    // The telemetry's watch channel too, on the master of its slot.
    const watch = storage.keys.telemetry.watch;
    const watchPort = await slotOwner(cluster, await keyslot(watch));
    expect(await withNode(watchPort, (node) => node.call("PUBSUB", "SHARDCHANNELS", watch))).toEqual([watch]);
    await made.close();
    for (const { port } of cluster.nodes) expect(await pubsubClients(port)).toBe(0);
  });

  it("subscribes thousands of circuits with one SSUBSCRIBE per slot, the channels of a slot together", async () => {
    const { factory: made, storage } = factory(connect(), 2, 0.2, { resyncInterval: 600 });
    await made.initialize();
    const ssubscribes = () =>
      Promise.all(
        cluster.nodes.map(({ port }) => withNode(port, async (node) => (await commandCalls(node)).ssubscribe ?? 0)),
      );
    const before = await ssubscribes();
    const many = Array.from({ length: 3000 }, (_, i) => `tenant-${i}.example.com`);
    await Promise.all(many.map((name) => made.getBreaker(name)));
    const slots = new Set(many.map((name) => keySlot(storage.keys.channel(name))));
    expect(slots.size).toBeLessThan(many.length);
    const sent = (await ssubscribes()).reduce((sum, calls, i) => sum + calls - (before[i] ?? 0), 0);
    expect(sent).toBe(slots.size);
    const held = (await Promise.all(cluster.nodes.map(({ port }) => shardChannels(port)))).flat();
    expect(held).toHaveLength(many.length);
  });

  it("hears nothing about the circuits it does not hold, and at once about one it holds", async () => {
    const watcher = factory(connect(), 2, 0.2, { resyncInterval: 600 });
    const other = factory(connect(), 2, 0.2);
    const held = await watcher.factory.getBreaker("held.example.com");
    // Its own registration created the circuit's key and published it, on its channel.
    await sleep(50);
    const before = watcher.storage.stats().messagesReceived;
    // The others' circuits live on every master, the held one's included.
    for (const name of names) {
      for (let i = 0; i < 2; i++)
        await other.factory.run(name, () => Promise.reject(new Error("x"))).catch(() => undefined);
    }
    await sleep(100);
    expect(watcher.storage.stats().messagesReceived).toBe(before);
    for (let i = 0; i < 2; i++)
      await other.factory.run("held.example.com", () => Promise.reject(new Error("x"))).catch(() => undefined);
    await waitFor("the trip of the held circuit", () => held.state === "opened");
    expect(watcher.storage.stats().messagesReceived).toBeGreaterThan(before);
  });

  it("works the same through an ioredis 6 Cluster", async () => {
    const client6 = new Cluster6([...cluster.nodes], { redisOptions: { commandTimeout: 1000 } });
    open.push({
      close: () =>
        client6.quit().then(
          () => undefined,
          () => client6.disconnect(),
        ),
    });
    const a = factory(client6 as unknown as Cluster);
    const b = factory(connect());
    const onA = await Promise.all(names.map((name) => a.factory.getBreaker(name)));
    for (const name of names) {
      for (let i = 0; i < 2; i++)
        await b.factory.run(name, () => Promise.reject(new Error("x"))).catch(() => undefined);
    }
    await waitFor("every trip heard through ioredis 6", () => onA.every((breaker) => breaker.state === "opened"));
  });

  it("uses classic pub/sub when told to (Redis 6), through a second Cluster client", async () => {
    const a = factory(connect(), 2, 0.2, { pubsub: "classic" });
    const b = factory(connect(), 2, 0.2, { pubsub: "classic" });
    const onA = await Promise.all(names.map((name) => a.factory.getBreaker(name)));
    const held = (await Promise.all(cluster.nodes.map(({ port }) => shardChannels(port)))).flat();
    expect(held).toEqual([]);
    for (const name of names) {
      for (let i = 0; i < 2; i++)
        await b.factory.run(name, () => Promise.reject(new Error("x"))).catch(() => undefined);
    }
    await waitFor("every trip heard through classic pub/sub", () => onA.every((breaker) => breaker.state === "opened"));
  });

  it("unsubscribes a circuit it forgets on its master", async () => {
    const { factory: made, storage } = factory(connect());
    for (const name of ["kept.example.com", "forgotten.example.com"]) await made.getBreaker(name);
    const port = await slotOwner(cluster, await keyslot(storage.keys.channel("forgotten.example.com")));
    expect(await shardChannels(port)).toContain(storage.keys.channel("forgotten.example.com"));
    await made.forget("forgotten.example.com");
    await waitFor(
      "the unsubscription",
      async () => !(await shardChannels(port)).includes(storage.keys.channel("forgotten.example.com")),
    );
    const held = (await Promise.all(cluster.nodes.map(({ port: p }) => shardChannels(p)))).flat();
    expect(held).toEqual([storage.keys.channel("kept.example.com")]);
  });

  it("subscribes again when a master's subscriber connection drops, and hears the transitions after it", async () => {
    // No periodic re-read: the watcher hears of the circuit only through its subscription.
    const watcher = factory(connect(), 2, 0.2, { resyncInterval: 600 });
    const other = factory(connect(), 2, 0.2);
    const name = "reconnected.example.com";
    const watched = await watcher.factory.getBreaker(name);
    const channel = watcher.storage.keys.channel(name);
    const port = await slotOwner(cluster, await keyslot(channel));
    await withNode(port, (node) => node.client("KILL", "TYPE", "pubsub"));
    await waitFor("the subscription again", async () => (await shardChannels(port)).includes(channel));
    const onOther = await other.factory.getBreaker(name);
    for (let i = 0; i < 2; i++) await onOther.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    await waitFor("the trip after the reconnection", () => watched.state === "opened", 5000);
    expect(watcher.recorder.states(name)).toEqual(["opened (remote)"]);
  });
});

describe("a master of the Cluster that restarts empty", () => {
  it("gets its channels subscribed again, and the trip of the circuit it lost is heard", async () => {
    const watcher = factory(connect(), 2, 0.2, { resyncInterval: 600 });
    const name = "restarted-master.example.com";
    const watched = await watcher.factory.getBreaker(name);
    const channel = watcher.storage.keys.channel(name);
    const port = await slotOwner(cluster, await keyslot(channel));
    const key = watcher.storage.keys.circuit(name);
    // Asked on the node itself: the test's Cluster client may still be reconnecting to it after the restart.
    const incarnation = () => withNode(port, (node) => node.hget(key, "i"));
    const lost = await incarnation();
    await cluster.restartMaster(port);
    await waitFor("the subscription again", async () => (await shardChannels(port)).includes(channel), 10_000);

    const other = factory(connect(), 2, 0.2);
    const onOther = await other.factory.getBreaker(name);
    for (let i = 0; i < 2; i++) await onOther.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    expect(onOther.state).toBe("opened");
    await waitFor("the trip after the restart", () => watched.state === "opened", 5000);
    expect(watcher.recorder.states(name)).toEqual(["opened (remote)"]);
    // The key was lost with the restart: the circuit lives on in a new incarnation.
    expect(await incarnation()).not.toBe(lost);
  });
});

describe("a circuit whose slot moves to another master", () => {
  it("keeps being heard by the processes that hold it, with no lost transition", async () => {
    // No periodic re-read: A hears of the circuit only through its subscription.
    const a = factory(connect(), 2, 0.2, { resyncInterval: 600 });
    const b = factory(connect(), 2, 0.2);
    const name = "migrating.example.com";
    const watched = await a.factory.getBreaker(name);
    const onB = await b.factory.getBreaker(name);
    const slot = await keyslot(a.storage.keys.circuit(name));

    const { to } = await moveSlot(cluster, slot);
    expect(await slotOwner(cluster, slot)).toBe(to);
    expect(await keyslot(a.storage.keys.channel(name))).toBe(slot);

    // B trips it on its new master: A, which sent nothing since the move, hears of it.
    for (let i = 0; i < 2; i++) await onB.run(() => Promise.reject(new Error("x"))).catch(() => undefined);
    await waitFor("the trip after the slot moved", () => watched.state === "opened", 5000);
    expect(a.recorder.states(name)).toEqual(["opened (remote)"]);
    // And back: half-open and close, every transition heard.
    await sleep(250);
    await expect(onB.run(() => "probe ok")).resolves.toBe("probe ok");
    await waitFor("the recovery after the slot moved", () => watched.state === "closed", 5000);
    expect(a.recorder.states(name)).toEqual(["opened (remote)", "half-opened (remote)", "closed (remote)"]);
  });

  it("re-reads only the circuits whose channels moved, not every circuit it holds", async () => {
    const a = factory(connect(), 2, 0.2, { resyncInterval: 600 });
    const held = Array.from({ length: 30 }, (_, i) => `tenant-${i}.example.com`);
    await Promise.all(held.map((name) => a.factory.getBreaker(name)));
    const name = held[7] as string;
    const channel = a.storage.keys.channel(name);
    const slot = await keyslot(channel);
    const sameSlot = held.filter((other) => keySlot(a.storage.keys.channel(other)) === slot);
    const before = a.storage.stats().scriptsRun;

    const { to: target } = await moveSlot(cluster, slot);
    await waitFor(
      "the subscription on the new master",
      async () => (await shardChannels(target)).includes(channel),
      5000,
    );
    await waitFor("the re-read", () => a.storage.stats().scriptsRun > before, 5000);
    await sleep(200);
    expect(a.storage.stats().scriptsRun - before).toBe(sameSlot.length);
  });

  it("re-reads only the circuits of a master whose subscriber connection dropped", async () => {
    const a = factory(connect(), 2, 0.2, { resyncInterval: 600 });
    const held = Array.from({ length: 30 }, (_, i) => `tenant-${i}.example.com`);
    await Promise.all(held.map((name) => a.factory.getBreaker(name)));
    const port = cluster.nodes[0]?.port as number;
    const onPort = (await shardChannels(port)).length;
    expect(onPort).toBeGreaterThan(0);
    expect(onPort).toBeLessThan(held.length);
    const before = a.storage.stats().scriptsRun;

    await withNode(port, (node) => node.client("KILL", "TYPE", "pubsub"));
    await waitFor("the re-read", () => a.storage.stats().scriptsRun > before, 5000);
    await sleep(200);
    expect(a.storage.stats().scriptsRun - before).toBe(onPort);
  });

  it("is subscribed on the slot's new master when the process's slot table is stale (MOVED)", async () => {
    // No slot refresh of its own: the table it holds is the one from before the move.
    const stale = new Cluster([...cluster.nodes], {
      slotsRefreshInterval: 600_000,
      redisOptions: { commandTimeout: 1000 },
    });
    clients.push(stale);
    // A subscribe command may take 12 s: a registration that waited for the one answered MOVED
    // (ioredis never settles it) would outlast the wait below.
    const a = factory(stale, 2, 0.2, { resyncInterval: 600, commandTimeout: 3 });
    const b = factory(connect(), 2, 0.2);
    await a.factory.initialize();
    const name = "moved-before-registration.example.com";
    const channel = a.storage.keys.channel(name);
    const { from, to } = await moveSlot(cluster, await keyslot(channel));

    let watched: AsyncCircuitBreaker | undefined;
    void a.factory.getBreaker(name).then((breaker) => (watched = breaker));
    await waitFor("the registration", () => watched !== undefined, 5000);
    await waitFor("the subscription on the new master", async () => (await shardChannels(to)).includes(channel), 5000);
    expect(await shardChannels(from)).not.toContain(channel);
    for (let i = 0; i < 2; i++) await b.factory.run(name, () => Promise.reject(new Error("x"))).catch(() => undefined);
    await waitFor("the trip heard through the new master", () => watched?.state === "opened", 5000);
    expect(a.recorder.states(name)).toEqual(["opened (remote)"]);
  });
});
