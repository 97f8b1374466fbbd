/**
 * Who may decide a circuit's state (docs/fleet-protocol.md): outcomes of calls admitted on a
 * partitioned replica or by a probe whose lease ran out never decide the fleet's state, a process
 * that starts never runs calls on a placeholder, and the synchronous factory trips and probes over
 * Redis. Real processes: worker processes (async and sync factories) on throw-away redis-servers.
 */
import { describe, expect, it } from "vitest";
import {
  eventOf,
  eventsSince,
  everyone,
  markEvents,
  transitions,
  useFleet,
  waitStates,
} from "../../support/fleet-harness.js";
import type { Worker } from "../../support/redis-fleet.js";
import { sleep, waitFor } from "../../support/redis-helpers.js";

const fleet = useFleet();

describe('a partitioned process (onStorageError "local")', () => {
  it("does not decide the fleet's circuit with a probe it admitted on its own replica", async () => {
    const name = "split";
    const server = await fleet.server();
    const admin = fleet.admin(server.url);
    const proxy = await fleet.proxy(server.port);
    const config = { threshold: 2, ttl: 2, halfOpenMaxCalls: 1 };
    const [cutOff, fleetSide] = await Promise.all([
      fleet.worker({ ...config, url: proxy.url }),
      fleet.worker({ ...config, url: server.url }),
    ]);
    await everyone([cutOff, fleetSide], { op: "register", name });

    proxy.cut();
    expect((await cutOff.send({ op: "run", name, calls: 2, outcome: "fail" })).state).toBe("opened");
    await eventOf(cutOff, "storage_unavailable");
    expect((await fleetSide.send({ op: "run", name, calls: 2, outcome: "fail" })).state).toBe("opened");
    expect(await admin.hget(fleet.key(name), "st")).toBe("opened");

    // Each side admits a probe once its ttl is over: one on the cut-off replica, one leased by Redis.
    const localProbe = fleet.hold(cutOff, name, { timeoutMs: 8000 });
    await localProbe.running;
    const leasedProbe = fleet.hold(fleetSide, name, { timeoutMs: 8000 });
    await leasedProbe.running;

    proxy.restore();
    await eventOf(cutOff, "storage_recovered");
    expect((await localProbe.release("succeed")).settled).toBe("resolved");
    expect(await admin.hget(fleet.key(name), "st")).not.toBe("closed");
    expect((await leasedProbe.release("fail")).settled).toBe("rejected");
    expect(await admin.hget(fleet.key(name), "st")).toBe("opened");
  });
});

describe("a probe whose process froze past its lease", () => {
  it("is ignored when it fails late; the in-lease probe of another process decides", async () => {
    const name = "zombie";
    const server = await fleet.server();
    const admin = fleet.admin(server.url);
    const processes = await fleet.workers(2, { url: server.url, threshold: 1, ttl: 1.5, halfOpenMaxCalls: 1 });
    const [frozen, live] = processes as [Worker, Worker];
    await everyone(processes, { op: "register", name });
    await frozen.send({ op: "run", name, calls: 1, outcome: "fail" });
    expect(await waitStates([live], name, "opened")).toEqual(["opened"]);
    const mark = markEvents(processes);

    const zombie = fleet.hold(frozen, name, { timeoutMs: 5000 });
    await zombie.running;
    frozen.child.kill("SIGSTOP");
    try {
      // The next probe is the live process's, once the frozen one's lease (= ttl) has run out.
      const probe = fleet.hold(live, name, { timeoutMs: 5000, everyMs: 50 });
      await probe.running;
      frozen.child.kill("SIGCONT");
      expect((await zombie.release("fail")).settled).toBe("rejected");
      expect(await admin.hget(fleet.key(name), "st")).not.toBe("opened");
      expect((await probe.release("succeed")).settled).toBe("resolved");
    } finally {
      frozen.child.kill("SIGCONT");
    }
    expect(await admin.hget(fleet.key(name), "st")).toBe("closed");
    expect(await waitStates(processes, name, "closed")).toEqual(["closed", "closed"]);
    // One probe decided: the zombie's failure reopened nothing, in Redis or in any process's events.
    const decided = transitions(eventsSince(mark, name)).filter((t) => !t.endsWith("(remote)"));
    expect(decided).not.toContain("opened");
    expect(decided.at(-1)).toBe("closed");
  });
});

describe("a process that starts while the fleet has the circuit opened", () => {
  it("rejects its first concurrent calls; none runs", async () => {
    const name = "cold";
    const server = await fleet.server();
    const config = { url: server.url, threshold: 2, ttl: 30 };
    const veteran = await fleet.worker(config);
    expect((await veteran.send({ op: "run", name, calls: 2, outcome: "fail" })).state).toBe("opened");

    const newcomer = await fleet.worker(config);
    const burst = await newcomer.send({ op: "run", name, calls: 4, concurrency: 4, outcome: "succeed" });
    expect({ ran: burst.ran, rejected: burst.rejected }).toEqual({ ran: 0, rejected: 4 });
  });
});

describe("the synchronous factory over Redis", () => {
  it("trips within a few calls of a synchronous loop of failures", async () => {
    const name = "sync-loop";
    const server = await fleet.server();
    const admin = fleet.admin(server.url);
    const member = await fleet.worker({ url: server.url, factory: "sync", threshold: 3, ttl: 30 });
    await member.send({ op: "register", name });
    await waitFor("the registration", async () => (await admin.exists(fleet.key(name))) === 1);
    // Until its registration's reply arrives the process's replica follows nothing yet, and a
    // synchronous loop has no view to count on (the loop below would then run every call).
    await waitFor(
      "the replica to follow Redis",
      async () => (await member.send({ op: "replica", name })).mode === "synced",
    );

    const loop = await member.send({ op: "run", name, calls: 100, outcome: "fail" });
    expect(loop.ran).toBeLessThan(10);
    expect(loop.rejected).toBe(100 - (loop.ran as number));
    await waitFor("the trip to reach Redis", async () => (await admin.hget(fleet.key(name), "st")) === "opened");
  });

  it("uses the probe Redis granted on one of the next calls, while no other process may probe", async () => {
    const name = "sync-probe";
    const ttlMs = 1500;
    const server = await fleet.server();
    const admin = fleet.admin(server.url);
    const config = { url: server.url, threshold: 1, ttl: ttlMs / 1000, halfOpenMaxCalls: 1 };
    const [sync, other] = await Promise.all([fleet.worker({ ...config, factory: "sync" }), fleet.worker(config)]);
    await sync.send({ op: "register", name });
    await waitFor("the registration", async () => (await admin.exists(fleet.key(name))) === 1);
    await other.send({ op: "register", name });
    const trip = await other.send({ op: "run", name, calls: 1, outcome: "fail" });
    expect(trip.state).toBe("opened");
    expect(await waitStates([sync], name, "opened")).toEqual(["opened"]);

    // Once the ttl is over, the synchronous breaker polls: its probe runs within ttl / 2.
    await sleep((trip.openedAt as number) + ttlMs + 20 - Date.now());
    const probe = fleet.hold(sync, name, { timeoutMs: ttlMs / 2, everyMs: 10 });
    await probe.running;
    const meanwhile = await other.send({ op: "run", name, calls: 1, outcome: "succeed" });
    expect({ ran: meanwhile.ran, rejected: meanwhile.rejected }).toEqual({ ran: 0, rejected: 1 });
    expect((await probe.release("succeed")).settled).toBe("resolved");
    await waitFor(
      "the probe's success to close the circuit",
      async () => (await admin.hget(fleet.key(name), "st")) === "closed",
    );
  });
});
