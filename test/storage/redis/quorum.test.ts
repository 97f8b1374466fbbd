/**
 * Quorum over a real Redis, with several RedisStorage instances in this process standing for the
 * processes of a fleet (each with a process name of its own): the fleet's circuit opens only on
 * failures from the effective quorum of distinct processes; a process whose own failures meet the
 * trip rule first opens for itself alone, probes for itself and closes again; active callers are
 * known at no command per closed success. The same rules with real OS processes are in
 * `quorum-processes.test.ts`.
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  type AsyncCircuitBreaker,
  type BreakerOptions,
  type RedisStorageOptions,
} from "../../../src/index.js";
import {
  HookRecorder,
  REDIS_URL,
  deleteKeys,
  inspector,
  sleep,
  uniquePrefix,
  waitFor,
} from "../../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../../support/redis-server.js";

const FLUSH = 0.02;
const fail = () => Promise.reject(new Error("dependency unreachable from here"));
const ok = () => "ok";

let redis: Redis;
let prefix = "";
const made: AsyncCircuitBreakerFactory[] = [];

beforeAll(() => {
  redis = inspector();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  prefix = uniquePrefix("test-quorum");
});
afterEach(async () => {
  await Promise.all(made.splice(0).map((f) => f.close()));
  await deleteKeys(redis, prefix);
});

/** One "process" of the fleet: a factory over a RedisStorage of its own, named `name`. */
interface Proc {
  readonly name: string;
  readonly factory: AsyncCircuitBreakerFactory;
  readonly storage: RedisStorage;
  readonly recorder: HookRecorder;
  breaker: AsyncCircuitBreaker<unknown>;
  /** Calls it made that the circuit rejected, by scope. */
  readonly rejected: { fleet: number; process: number };
  /** Calls that ran. */
  ran: number;
}

async function fleet(
  count: number,
  circuit: BreakerOptions,
  storage: Partial<RedisStorageOptions> = {},
  circuitName = "payments-api",
): Promise<Proc[]> {
  const procs: Proc[] = [];
  for (let n = 0; n < count; n++) {
    const recorder = new HookRecorder();
    const s = new RedisStorage({
      url: REDIS_URL,
      prefix,
      processName: `web-${n}:${1000 + n}`,
      flushInterval: FLUSH,
      ...storage,
    });
    const factory = new AsyncCircuitBreakerFactory({ storage: s, listeners: [recorder.hook] });
    made.push(factory);
    await factory.initialize();
    const breaker = await factory.getBreaker(circuitName, circuit);
    procs.push({
      name: `web-${n}:${1000 + n}`,
      factory,
      storage: s,
      recorder,
      breaker,
      rejected: { fleet: 0, process: 0 },
      ran: 0,
    });
  }
  return procs;
}

/** A hook event's fields that these tests read. */
type Seen = { readonly state?: string; readonly scope?: string; readonly remote?: boolean };

/** A call of `p` that runs `fn`; a rejection is counted by scope, any other error swallowed. */
async function call(p: Proc, fn: () => unknown): Promise<"ran" | "rejected"> {
  try {
    await p.breaker.run(() => {
      p.ran += 1;
      return fn();
    });
    return "ran";
  } catch (error) {
    if (error instanceof CircuitOpenError) {
      p.rejected[error.scope] += 1;
      return "rejected";
    }
    return "ran";
  }
}

/** Every process calls once successfully, then they wait until Redis counts each as an active caller. */
async function allCall(procs: readonly Proc[]): Promise<void> {
  for (const p of procs) await call(p, ok);
  await waitFor(
    `${procs.length} active callers`,
    async () =>
      (await procs[0]!.storage.inspect([procs[0]!.breaker.name]))[0]?.quorum?.activeCallers.length === procs.length,
    3000,
  );
}

const infoOf = async (p: Proc) => (await p.storage.inspect([p.breaker.name]))[0]!;

describe("a circuit with a quorum, shared by several processes", () => {
  it("opens for the sick process alone: the others keep calling and are never rejected", async () => {
    const procs = await fleet(4, { threshold: 3, ttl: 30, quorum: 2 });
    const [sick, ...healthy] = procs as [Proc, ...Proc[]];
    await allCall(procs);
    for (let i = 0; i < 10; i++) {
      await call(sick, fail);
      for (const p of healthy) await call(p, ok);
    }
    expect(sick.breaker.state).toBe("opened");
    expect(sick.breaker.scope).toBe("process");
    expect(sick.rejected).toEqual({ fleet: 0, process: 7 });
    expect(sick.ran).toBe(1 + 3);
    for (const p of healthy) {
      expect(p.rejected).toEqual({ fleet: 0, process: 0 });
      expect(p.breaker.state).toBe("closed");
    }
    const info = await infoOf(sick);
    expect(info.state).toBe("closed");
    expect(info.quorum?.openLocally.map((o) => o.process)).toEqual([sick.name]);
    expect(info.quorum?.activeCallers).toHaveLength(4);
    expect(sick.recorder.states(sick.breaker.name)).toEqual(["opened"]);
    const opened = sick.recorder.of("state_changed").at(-1)?.[2];
    expect(opened).toMatchObject({ state: "opened", scope: "process" });
    for (const p of healthy) expect(p.recorder.of("state_changed")).toEqual([]);
  });

  it("opens for the fleet once the quorum of processes failed, and the others reject without calling", async () => {
    const procs = await fleet(4, { threshold: 3, ttl: 30, quorum: 2 });
    const [a, b, c, d] = procs as [Proc, Proc, Proc, Proc];
    await allCall(procs);
    for (let i = 0; i < 3; i++) await call(a, fail);
    expect(a.breaker.scope).toBe("process");
    expect((await infoOf(a)).state).toBe("closed");
    // A second process's failure meets the quorum: the fleet's streak (4 >= 3) has two reporters.
    await call(b, fail);
    expect((await infoOf(b)).state).toBe("opened");
    expect(b.breaker.state).toBe("opened");
    expect(b.breaker.scope).toBe("fleet");
    await waitFor("every process hears the trip", () => procs.every((p) => p.breaker.state === "opened"));
    const before = [c.ran, d.ran];
    expect(await call(c, ok)).toBe("rejected");
    expect(await call(d, ok)).toBe("rejected");
    expect([c.ran, d.ran]).toEqual(before);
    expect(c.rejected).toEqual({ fleet: 1, process: 0 });
    // b's own failure opened the fleet: b is not open for itself on top of it; a still is.
    expect((await infoOf(a)).quorum?.openLocally.map((o) => o.process)).toEqual([a.name]);
    expect(
      b.recorder
        .of("state_changed")
        .map(([, , e]) => [(e as Seen).state, (e as Seen).scope, (e as Seen).remote === true]),
    ).toEqual([["opened", "fleet", false]]);
  });

  it("trips as without a quorum when only one process calls it (quorum 3, one active caller)", async () => {
    const [lone] = (await fleet(1, { threshold: 2, ttl: 30, quorum: 3 })) as [Proc];
    await call(lone, ok);
    await call(lone, fail);
    await call(lone, fail);
    expect(lone.breaker.state).toBe("opened");
    expect(lone.breaker.scope).toBe("fleet");
    const info = await infoOf(lone);
    expect(info.state).toBe("opened");
    expect(info.quorum?.effective).toBe(1);
  });

  it("needs ceil(fraction x active callers) processes: with 10 callers and { processes: 2, fraction: 0.3 }, 2 do not open it, 3 do", async () => {
    const procs = await fleet(10, { threshold: 2, ttl: 30, quorum: { processes: 2, fraction: 0.3 } });
    await allCall(procs);
    expect((await infoOf(procs[0]!)).quorum?.effective).toBe(3);
    for (const p of procs.slice(0, 2)) {
      await call(p, fail);
      await call(p, fail);
    }
    expect((await infoOf(procs[0]!)).state).toBe("closed");
    expect(procs.slice(0, 2).map((p) => p.breaker.scope)).toEqual(["process", "process"]);
    await call(procs[2]!, fail);
    expect((await infoOf(procs[0]!)).state).toBe("opened");
  });

  it("lets the process open for itself probe for itself after its ttl, and close once its probe succeeds", async () => {
    const procs = await fleet(2, { threshold: 2, ttl: 0.2, quorum: 2 });
    const [sick, other] = procs as [Proc, Proc];
    await allCall(procs);
    await call(sick, fail);
    await call(sick, fail);
    expect(sick.breaker.scope).toBe("process");
    await sleep(250);
    // Its first probe fails: opened for itself again; the fleet's circuit never moved.
    expect(await call(sick, fail)).toBe("ran");
    expect(sick.breaker.state).toBe("opened");
    expect(sick.breaker.scope).toBe("process");
    await sleep(250);
    expect(await call(sick, ok)).toBe("ran");
    expect(sick.breaker.state).toBe("closed");
    expect(
      sick.recorder.calls
        .filter(([, t]) => t !== "failed" && t !== "circuit_breaker_created")
        .map(([, t, e]) => [t, (e as Seen).state ?? "", (e as Seen).scope]),
    ).toEqual([
      ["state_changed", "opened", "process"],
      ["state_changed", "half-opened", "process"],
      ["state_changed", "opened", "process"],
      ["state_changed", "half-opened", "process"],
      ["recovered", "", "process"],
      ["state_changed", "closed", "process"],
    ]);
    await waitFor("Redis forgets the local opening", async () => (await infoOf(sick)).quorum?.openLocally.length === 0);
    expect((await infoOf(other)).state).toBe("closed");
    expect(other.rejected).toEqual({ fleet: 0, process: 0 });
  });

  it("never lets a process open for itself take the fleet's probe", async () => {
    const procs = await fleet(3, { threshold: 2, ttl: 0.2, quorum: 2 });
    const [sick, b, c] = procs as [Proc, Proc, Proc];
    await allCall(procs);
    await call(sick, fail);
    await call(sick, fail);
    await call(b, fail);
    await call(b, fail);
    await waitFor("every process hears the trip", () =>
      procs.every((p) => p.breaker.scope === "fleet" && p.breaker.state === "opened"),
    );
    await sleep(250);
    // The fleet's circuit half-opens: the sick process is refused the probe (scope process), the others may take it.
    expect(await call(sick, ok)).toBe("rejected");
    expect(sick.rejected.process).toBeGreaterThan(0);
    expect(await call(c, ok)).toBe("ran");
    await waitFor("the fleet closes", async () => (await infoOf(c)).state === "closed");
  });

  it("counts a process as an active caller within one flush interval of its first call, with no command per closed success", async () => {
    const procs = await fleet(2, { threshold: 3, quorum: 2 });
    const [a, b] = procs as [Proc, Proc];
    await call(a, ok);
    await waitFor("a is an active caller", async () => (await infoOf(a)).quorum?.activeCallers.includes(a.name));
    const before = a.storage.stats().scriptsRun;
    for (let i = 0; i < 500; i++) await call(a, ok);
    await sleep(FLUSH * 1000 * 4);
    expect(a.storage.stats().scriptsRun - before).toBe(0);
    expect((await infoOf(b)).quorum?.activeCallers).toEqual([a.name]);
  });

  it("knows a process as an active caller right after its first call, not one flush interval later", async () => {
    // Hand-overs every 0.3 s: were the first calls said with them, the sick process below would be
    // the only caller Redis knows, and its two failures would open the circuit for everyone.
    const procs = await fleet(3, { threshold: 2, ttl: 30, quorum: 2 }, { flushInterval: 0.3 });
    const [sick, ...healthy] = procs as [Proc, ...Proc[]];
    for (const p of healthy) await call(p, ok);
    await sleep(20);
    await call(sick, fail);
    await call(sick, fail);
    expect(sick.breaker.scope).toBe("process");
    const info = await infoOf(sick);
    expect(info.state).toBe("closed");
    expect(info.quorum?.activeCallers).toHaveLength(3);
  });

  it("says again that it calls every quarter of its caller horizon, and leaves the active callers once it stops", async () => {
    const procs = await fleet(2, { threshold: 3, quorum: 2 }, { callerHorizon: 0.4 });
    const [a, b] = procs as [Proc, Proc];
    await allCall(procs);
    const started = a.storage.stats().scriptsRun;
    const from = Date.now();
    const end = from + 1_000;
    while (Date.now() < end) {
      await call(a, ok);
      await sleep(5);
    }
    const elapsed = Date.now() - from;
    // a kept calling: it said so again about every 100 ms (a quarter of 0.4 s), never more often
    // (a report is due one renewal tick after the last, then goes with the next hand-over).
    const reports = a.storage.stats().scriptsRun - started;
    expect(reports).toBeGreaterThanOrEqual(2);
    expect(reports).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1);
    const info = await infoOf(b);
    expect(info.quorum?.activeCallers).toEqual([a.name]);
  });

  it("learns the callers again after Redis lost them, and no single process opens it meanwhile", async () => {
    // Hand-overs every 0.3 s: the others say again that they call it well after the failures below.
    const procs = await fleet(3, { threshold: 2, ttl: 30, quorum: 2 }, { flushInterval: 0.3 });
    const [sick] = procs as [Proc];
    await allCall(procs);
    // Every key of the circuit is lost, as after a FLUSHALL (not run here: other tests share this Redis).
    await deleteKeys(redis, prefix);
    // The sick process makes the new incarnation (a reconfigure writes the missing key) and fails
    // at once, before the others said again that they call it: Redis knows one caller only.
    await sick.factory.reconfigure(sick.breaker.name, { ttl: 30 });
    await call(sick, fail);
    await call(sick, fail);
    expect(sick.breaker.scope).toBe("process");
    expect((await infoOf(sick)).state).toBe("closed");
    await waitFor("3 active callers again", async () => (await infoOf(sick)).quorum?.activeCallers.length === 3);
  });

  it("trips by a failure rate once the quorum of processes have failures in the window", async () => {
    const failureRate = { rate: 0.5, minimumCalls: 4, window: 10 };
    const procs = await fleet(3, { threshold: 1000, ttl: 30, quorum: 2, failureRate });
    const [a, b] = procs as [Proc, Proc];
    await allCall(procs);
    for (let i = 0; i < 4; i++) await call(a, fail);
    expect(a.breaker.scope).toBe("process");
    expect((await infoOf(b)).state).toBe("closed");
    for (let i = 0; i < 3; i++) await call(b, fail);
    await waitFor("the fleet opens", async () => (await infoOf(b)).state === "opened");
  });
});

describe("a circuit with a quorum across an outage (a private redis-server)", () => {
  let server: RedisServer;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it("says that it calls once Redis answers again, when it called during the outage, without another call", async () => {
    const procs = await fleet(2, { threshold: 2, ttl: 30, quorum: 2 }, { url: server.url, commandTimeout: 0.1 });
    const [a, b] = procs as [Proc, Proc];
    // Redis holds every write for 500 ms: a's registration of another circuit times out, and a finds
    // Redis away; then a calls, and cannot say so while Redis is away.
    await admin.client("PAUSE", 500, "WRITE");
    await a.factory.getBreaker("another-api");
    await waitFor("a to find Redis away", () => a.recorder.of("storage_unavailable").length > 0, 5000);
    await call(a, ok);
    // a calls no more: it is an active caller all the same (it called within the horizon).
    await waitFor(
      "a among the active callers",
      async () => (await infoOf(b)).quorum?.activeCallers.includes(a.name) === true,
      5000,
    );
  });
});
