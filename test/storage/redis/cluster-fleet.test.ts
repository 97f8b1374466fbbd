/**
 * Real worker processes on a real 3-master Redis Cluster while slots move under them
 * (docs/fleet-protocol.md, "Channels"): each process follows its channels to their new masters,
 * hears every trip after the moves, and re-reads only the circuits whose channels moved, not all
 * it holds.
 */
import { describe, expect, it } from "vitest";
import { keySlot } from "../../../src/storage/redis/slot.js";
import { useFleet, waitStates } from "../../support/fleet-harness.js";
import { sleep, waitFor } from "../../support/redis-helpers.js";
import { moveSlot, withNode } from "../../support/redis-cluster.js";
import { useThrowawayCluster } from "../../support/throwaway-redis.js";

const fleet = useFleet();
const redisCluster = useThrowawayCluster();

/** How many connections subscribe `channel` on the master on `port`. */
const subscribers = (port: number, channel: string): Promise<number> =>
  withNode(port, async (node) => Number(((await node.call("PUBSUB", "SHARDNUMSUB", channel)) as [string, number])[1]));

describe("worker processes on a Cluster whose slots move", () => {
  it("follow their channels to the new masters, hear every trip, and re-read only the moved circuits", async () => {
    const cluster = redisCluster();
    const names = Array.from({ length: 150 }, (_, i) => `tenant-${i}.example.com`);
    const config = { url: "", cluster: cluster.nodes, threshold: 2, ttl: 30 };
    const workers = await Promise.all([fleet.worker(config), fleet.worker(config), fleet.worker(config)]);
    for (const worker of workers) await worker.send({ op: "registerMany", names });
    const channel = (name: string) => `${fleet.prefix}:events:{${name}}`;

    // Three circuits of three different slots, each moved to another master.
    const moved = [names[3], names[70], names[141]] as string[];
    expect(new Set(moved.map((name) => keySlot(channel(name)))).size).toBe(3);
    const sameSlots = names.filter((name) => moved.some((m) => keySlot(channel(m)) === keySlot(channel(name))));
    const scripts = async () =>
      Promise.all(workers.map(async (worker) => (await worker.send({ op: "stats" })).scriptsRun as number));
    const before = await scripts();
    for (const name of moved) {
      const { to } = await moveSlot(cluster, keySlot(channel(name)));
      await waitFor(
        `${name}'s subscribers on its new master`,
        async () => (await subscribers(to, channel(name))) === 3,
        10_000,
      );
    }

    // The trips made after the moves reach every process through the new masters.
    const [tripper, ...listeners] = workers;
    for (const name of moved) {
      expect((await tripper.send({ op: "run", name, calls: 2, outcome: "fail" })).state).toBe("opened");
      expect(await waitStates(listeners, name, "opened")).toEqual(["opened", "opened"]);
    }
    // The listeners made no call: their scripts are the re-reads the moves caused, each one once
    // its channel is subscribed on the new master (the last one may come after the trip).
    const rereads = async () => (await scripts()).map((count, i) => count - (before[i] as number)).slice(1);
    await waitFor("the re-reads", async () => (await rereads()).every((n) => n >= sameSlots.length));
    await sleep(200);
    for (const reread of await rereads()) expect(reread).toBeLessThanOrEqual(2 * sameSlots.length);
  });
});
