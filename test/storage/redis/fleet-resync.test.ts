/**
 * How a replica catches up on pub/sub messages it lost (docs/fleet-protocol.md, "Recovery and liveness"): a
 * reconnect of the subscriber connection alone re-reads Redis, and the periodic re-read goes on
 * whatever a subscriber function does. The lost messages are made by a proxy between one worker
 * process and a throw-away redis-server that cuts or mutes only its pub/sub connection.
 */
import { describe, expect, it } from "vitest";
import { useFleet, waitStates } from "../../support/fleet-harness.js";
import { waitFor } from "../../support/redis-helpers.js";

const fleet = useFleet();

describe("a subscriber connection that reconnects", () => {
  it("re-reads Redis: a change made while it was down arrives long before the periodic re-read", async () => {
    const name = "unheard";
    const server = await fleet.server();
    const proxy = await fleet.proxy(server.port);
    const config = { threshold: 1, ttl: 30, resyncInterval: 60 };
    const [listener, writer] = await Promise.all([
      fleet.worker({ ...config, url: proxy.url }),
      fleet.worker({ ...config, url: server.url }),
    ]);
    await listener.send({ op: "register", name });
    await writer.send({ op: "register", name });

    proxy.cutSubscribers();
    expect((await writer.send({ op: "run", name, calls: 1, outcome: "fail" })).state).toBe("opened");
    proxy.restoreSubscribers();
    expect(await waitStates([listener], name, "opened")).toEqual(["opened"]);
  });
});

describe("a subscriber function (storage.subscribe) that throws", () => {
  it("does not stop the periodic re-read: changes whose messages were lost keep arriving", async () => {
    const name = "throwing";
    const server = await fleet.server();
    const admin = fleet.admin(server.url);
    const proxy = await fleet.proxy(server.port);
    const config = { threshold: 1, ttl: 0.3 };
    const listener = await fleet.worker({ ...config, url: proxy.url, resyncInterval: 0.1, throwingSubscriber: true });
    const writer = await fleet.worker({ ...config, url: server.url });
    await listener.send({ op: "register", name });
    await writer.send({ op: "register", name });
    proxy.muteSubscribers();

    // First change: a trip, learned by a re-read whose remote state_changed reaches the throwing subscriber.
    await writer.send({ op: "run", name, calls: 1, outcome: "fail" });
    expect(await waitStates([listener], name, "opened")).toEqual(["opened"]);

    // Second change: a good probe closes it; only a later re-read can tell the listener.
    const probe = fleet.hold(writer, name, { timeoutMs: 5000 });
    await probe.running;
    await probe.release("succeed");
    await waitFor("the circuit to close", async () => (await admin.hget(fleet.key(name), "st")) === "closed");
    expect(await waitStates([listener], name, "closed")).toEqual(["closed"]);
  });
});
