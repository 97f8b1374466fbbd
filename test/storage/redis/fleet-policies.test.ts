/**
 * The policies across a fleet of real OS processes (docs/fleet-protocol.md, "Policies"): an
 * operator's isolate and reset in one process hold in all, a reconfigure is seen by all, and a
 * failure rate over the fleet's calls trips once, at the failure that reaches the rate.
 */
import { describe, expect, it } from "vitest";
import { everyone, eventsSince, markEvents, transitions, useFleet, waitStates } from "../../support/fleet-harness.js";
import type { Worker } from "../../support/redis-fleet.js";
import { sleep, waitFor } from "../../support/redis-helpers.js";

const fleet = useFleet();

describe("an operator's control, fleet-wide", () => {
  it("isolates a circuit in every process from one of them, and resets it the same way", async () => {
    const name = "isolated";
    const server = await fleet.server();
    const processes = await fleet.workers(3, { url: server.url, threshold: 5, ttl: 30 });
    const [operator, ...others] = processes as [Worker, Worker, Worker];
    await everyone(processes, { op: "register", name });

    await operator.send({ op: "control", name, action: "isolate" });
    expect(await waitStates(processes, name, "isolated")).toEqual(["isolated", "isolated", "isolated"]);
    for (const member of others) {
      const calls = await member.send({ op: "run", name, calls: 3, outcome: "succeed" });
      expect({ ran: calls.ran, rejected: calls.rejected }).toEqual({ ran: 0, rejected: 3 });
    }

    await others[0].send({ op: "control", name, action: "reset" });
    expect(await waitStates(processes, name, "closed")).toEqual(["closed", "closed", "closed"]);
    const calls = await operator.send({ op: "run", name, calls: 3, outcome: "succeed" });
    expect(calls.succeeded).toBe(3);
  });

  it("disables a circuit in every process: failures are counted fleet-wide and nothing trips", async () => {
    const name = "disabled";
    const server = await fleet.server();
    const processes = await fleet.workers(2, { url: server.url, threshold: 2, ttl: 30 });
    await everyone(processes, { op: "register", name });
    await (processes[0] as Worker).send({ op: "control", name, action: "disable" });
    expect(await waitStates(processes, name, "disabled")).toEqual(["disabled", "disabled"]);
    await everyone(processes, { op: "run", name, calls: 3, outcome: "fail" });
    const states = await everyone(processes, { op: "state", name });
    expect(states.map((s) => s.state)).toEqual(["disabled", "disabled"]);
    expect(await fleet.admin(server.url).hget(fleet.key(name), "f")).toBe("6");
  });
});

describe("reconfigure, fleet-wide", () => {
  it("changes the config every process holding the circuit follows", async () => {
    const name = "reconfigured";
    const server = await fleet.server();
    const processes = await fleet.workers(3, { url: server.url, threshold: 5, ttl: 30 });
    await everyone(processes, { op: "register", name });
    await (processes[0] as Worker).send({ op: "reconfigure", name, changes: { threshold: 2, ttl: 10 } });
    await waitFor("every process to follow the new config", async () => {
      const states = await everyone(processes, { op: "state", name });
      return states.every((s) => s.threshold === 2 && s.ttl === 10);
    });
    // Another process trips it with the new threshold.
    const tripped = await (processes[2] as Worker).send({ op: "run", name, calls: 2, outcome: "fail" });
    expect(tripped.state).toBe("opened");
  });
});

describe("a failure rate over the fleet's calls", () => {
  it("trips once fleet-wide, at the failure that reaches the rate over every process's calls", async () => {
    const name = "rate";
    const server = await fleet.server();
    const processes = await fleet.workers(3, {
      url: server.url,
      threshold: 1000,
      ttl: 30,
      failureRate: { rate: 0.5, minimumCalls: 30, window: 60 },
    });
    await everyone(processes, { op: "register", name });
    // 30 successes across the fleet, handed over by each process's flush (every 0.25 s).
    await everyone(processes, { op: "run", name, calls: 10, outcome: "succeed" });
    await sleep(600);
    const mark = markEvents(processes);
    // 29 failures, round robin: 29 of 59 calls is below 50 %.
    for (let i = 0; i < 29; i++)
      await (processes[i % 3] as Worker).send({ op: "run", name, calls: 1, outcome: "fail" });
    const admin = fleet.admin(server.url);
    expect(await admin.hmget(fleet.key(name), "st", "f")).toEqual(["closed", "29"]);
    // The 30th: 30 of 60, 50 %.
    const last = await (processes[29 % 3] as Worker).send({ op: "run", name, calls: 1, outcome: "fail" });
    expect(last.state).toBe("opened");
    expect(await admin.hmget(fleet.key(name), "st", "f")).toEqual(["opened", "30"]);
    await waitFor("every process to know", async () =>
      (await everyone(processes, { op: "state", name })).every((s) => s.state === "opened"),
    );
    const trips = transitions(eventsSince(mark, name)).filter((t) => t.startsWith("opened"));
    expect(trips.sort()).toEqual(["opened", "opened (remote)", "opened (remote)"]);
  });
});
