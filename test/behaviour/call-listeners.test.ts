/**
 * Call listeners (`factory.addCallListener`): one report per guarded call, with its outcome, how
 * long the guarded function ran and the scope of the state that decided it, for metrics. Runs for
 * every storage kind, with both factories where the storage decides synchronously; the scope of a
 * process open for itself, over a real Redis (the Redis at `REDIS_URL`).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  InMemoryStorage,
  InvalidOptionError,
  RedisStorage,
  SyncCircuitBreakerFactory,
  type Admission,
  type CallOutcome,
  type CircuitRecord,
  type CircuitScope,
} from "../../src/index.js";
import { circuitName, flavours, flavoursFor, throwing, useWorkbench } from "../support/factories.js";
import { deleteKeys, inspector, REDIS_URL, sleep, uniquePrefix, waitFor } from "../support/redis-helpers.js";
import { storageKinds, withRedis } from "../support/storage-kinds.js";

/** What a call listener heard: `[circuit, outcome, durationMs, scope]` per call. */
type Heard = [string, CallOutcome, number, CircuitScope];

function hear(factory: AsyncCircuitBreakerFactory | SyncCircuitBreakerFactory): Heard[] {
  const heard: Heard[] = [];
  factory.addCallListener((name, outcome, durationMs, scope) => heard.push([name, outcome, durationMs, scope]));
  return heard;
}

/** A synchronous function that runs for at least `ms` milliseconds. */
const busyFor = (ms: number) => (): string => {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return "done";
};

/** `[circuit, outcome, scope]` per call heard. */
const outcomes = (heard: Heard[]): [string, CallOutcome, CircuitScope][] =>
  heard.map(([name, outcome, , scope]) => [name, outcome, scope]);

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    it("hear every call once, with its outcome (success, failure, excluded, rejected) and the fleet's scope", async () => {
      const made = bench.make(flavour);
      const heard = hear(made.factory);
      const name = circuitName("heard");
      const breaker = await made.getBreaker(name, { threshold: 2, ttl: 60, exclude: [RangeError] });
      await breaker.run(() => "ok");
      await breaker.run(throwing(new RangeError("excluded"))).catch(() => undefined);
      await breaker.run(throwing(new Error("down"))).catch(() => undefined);
      await breaker.run(throwing(new Error("down"))).catch(() => undefined); // opens
      await breaker.run(() => "rejected").catch(() => undefined);
      expect(outcomes(heard)).toEqual([
        [name, "success", "fleet"],
        [name, "excluded", "fleet"],
        [name, "failure", "fleet"],
        [name, "failure", "fleet"],
        [name, "rejected", "fleet"],
      ]);
    });

    it("hear a result that isFailure flags as a failure, and a failure answered by a fallback as a failure", async () => {
      const made = bench.make(flavour);
      const heard = hear(made.factory);
      const name = circuitName("judged");
      const breaker = await made.getBreaker(name, { isFailure: (result) => result === "bad" });
      await expect(breaker.run(() => "bad")).resolves.toBe("bad");
      await expect(breaker.run(throwing(new Error("down")), { fallback: () => "cached" })).resolves.toBe("cached");
      expect(outcomes(heard)).toEqual([
        [name, "failure", "fleet"],
        [name, "failure", "fleet"],
      ]);
    });

    it("hear how long the guarded function ran, and 0 for a call that never ran", async () => {
      const made = bench.make(flavour);
      const heard = hear(made.factory);
      const name = circuitName("timed");
      await made.getBreaker(name, { threshold: 1, ttl: 60 });
      await made.run(name, busyFor(30));
      await made
        .run(name, () => {
          busyFor(20)();
          throw new Error("slow failure");
        })
        .catch(() => undefined);
      await made.run(name, () => "rejected").catch(() => undefined);
      const [success, failure, rejected] = heard;
      expect(success?.[2]).toBeGreaterThanOrEqual(30);
      expect(failure?.[2]).toBeGreaterThanOrEqual(20);
      expect(rejected).toEqual([name, "rejected", 0, "fleet"]);
    });

    it("are removed by the function addCallListener returns, or by removeCallListener", async () => {
      const made = bench.make(flavour);
      const first: string[] = [];
      const second: string[] = [];
      const stop = made.factory.addCallListener((_, outcome) => first.push(outcome));
      const listener = (_: string, outcome: CallOutcome) => second.push(outcome);
      made.factory.addCallListener(listener);
      const name = circuitName("removed");
      await made.run(name, () => "heard");
      stop();
      stop(); // a second call does nothing
      made.factory.removeCallListener(listener);
      await made.run(name, () => "not heard");
      expect([first, second]).toEqual([["success"], ["success"]]);
      expect(() => made.factory.removeCallListener(listener)).toThrow(InvalidOptionError);
    });

    it("that throw or reject never change the call, and are reported once as a process warning", async () => {
      const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
      const made = bench.make(flavour);
      made.factory.addCallListener(() => {
        throw new Error("listener bug");
      });
      made.factory.addCallListener(() => Promise.reject(new Error("async listener bug")));
      const name = circuitName("listener-bug");
      await expect(made.run(name, () => "value")).resolves.toBe("value");
      const error = new Error("guarded failure");
      await expect(made.run(name, throwing(error))).rejects.toBe(error);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warn).toHaveBeenCalledTimes(2);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/call listener threw on "success" \(listener bug\)/);
      expect(String(warn.mock.calls[1]?.[0])).toMatch(/call listener rejected on "success" \(async listener bug\)/);
      expect(warn.mock.calls[0]?.[1]).toMatchObject({ code: "PURGATORY_HOOK_ERROR" });
    });
  });

  describe("with the async factory", () => {
    it("hear a call that timed out as a timeout, and one its caller cancelled as cancelled", async () => {
      const factory = bench.makeAsync();
      const heard = hear(factory);
      const name = circuitName("timeout");
      await factory.run(name, () => new Promise(() => undefined), { timeout: 0.01 }).catch(() => undefined);
      const controller = new AbortController();
      const cancelled = factory.run(name, () => new Promise(() => undefined), { signal: controller.signal });
      controller.abort(new Error("gone"));
      await cancelled.catch(() => undefined);
      expect(outcomes(heard)).toEqual([
        [name, "timeout", "fleet"],
        [name, "cancelled", "fleet"],
      ]);
      expect(heard[0]?.[2]).toBeGreaterThan(0);
    });
  });
});

describe("addCallListener", () => {
  it("takes a function, and says so otherwise", () => {
    const factory = new AsyncCircuitBreakerFactory();
    expect(() => factory.addCallListener("not a function" as never)).toThrow(
      /Invalid option "listener": expected a function, got "not a function"/,
    );
  });
});

/**
 * A storage whose decisions on circuits that are not closed are this process's own, as a shared
 * storage's are while the process is open for itself: its admissions carry `scope: "process"`.
 */
class ProcessScopedStorage extends InMemoryStorage {
  override admit(circuit: CircuitRecord, now: number): Admission {
    const admission = super.admit(circuit, now);
    return admission.verdict === "run" ? admission : { ...admission, scope: "process" };
  }
}

describe.each(flavours)("the scope, with the $name factory", (flavour) => {
  it("is the rejection's, and a probe's when the storage admitted it for this process; closed calls are the fleet's", async () => {
    const time = { now: Date.UTC(2030, 0, 1) };
    const made = flavour.create({
      storage: new ProcessScopedStorage(),
      clock: () => time.now,
      defaultThreshold: 1,
      defaultTtl: 1,
    });
    const heard = hear(made.factory);
    const name = circuitName("scoped");
    await made.run(name, throwing(new Error("down"))).catch(() => undefined);
    await expect(made.run(name, () => "rejected")).rejects.toMatchObject({ scope: "process" });
    time.now += 1000;
    await made.run(name, throwing(new Error("probe fails"))).catch(() => undefined);
    time.now += 1000;
    await made.run(name, () => "probe succeeds");
    await made.run(name, () => "closed again");
    expect(outcomes(heard)).toEqual([
      [name, "failure", "fleet"],
      [name, "rejected", "process"],
      [name, "failure", "process"],
      [name, "success", "process"],
      [name, "success", "fleet"],
    ]);
    await made.factory.close();
  });
});

describe.runIf(withRedis)("the scope over Redis, of a circuit with a quorum shared by two processes", () => {
  const prefix = uniquePrefix("test-call-scope");
  const factories: AsyncCircuitBreakerFactory[] = [];
  afterEach(async () => {
    for (const factory of factories.splice(0)) await factory.close();
    const redis = inspector();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  /** A factory standing for the process `processName`, over Redis. */
  function processFactory(processName: string) {
    const storage = new RedisStorage({ url: REDIS_URL, prefix, processName, flushInterval: 0.02 });
    const factory = new AsyncCircuitBreakerFactory({ storage });
    factories.push(factory);
    return { factory, storage, heard: hear(factory) };
  }

  it('is "process" for the calls of the process open for itself (rejected, then its probe), "fleet" for the others', async () => {
    const a = processFactory("a");
    const b = processFactory("b");
    const name = circuitName("quorum");
    const sick = await a.factory.getBreaker(name, { threshold: 2, ttl: 0.2, quorum: 2 });
    const healthy = await b.factory.getBreaker(name, { threshold: 2, ttl: 0.2, quorum: 2 });
    await sick.run(() => "ok");
    await healthy.run(() => "ok");
    await waitFor(
      "both processes are active callers",
      async () => (await a.storage.inspect([name]))[0]?.quorum?.activeCallers.length === 2,
    );

    for (let i = 0; i < 2; i++) await sick.run(throwing(new Error("unreachable from a"))).catch(() => undefined);
    expect([sick.state, sick.scope]).toEqual(["opened", "process"]);
    const rejected: unknown = await sick.run(() => "rejected").catch((error: unknown) => error);
    expect(rejected).toBeInstanceOf(CircuitOpenError);
    expect((rejected as CircuitOpenError).scope).toBe("process");
    await expect(healthy.run(() => "b still calls")).resolves.toBe("b still calls");

    await sleep(250); // the ttl of a's own circuit
    await sick.run(() => "a's probe");
    expect([sick.state, sick.scope]).toEqual(["closed", "fleet"]);
    await sick.run(() => "closed again");

    expect(outcomes(a.heard)).toEqual([
      [name, "success", "fleet"],
      [name, "failure", "fleet"],
      [name, "failure", "fleet"],
      [name, "rejected", "process"],
      [name, "success", "process"],
      [name, "success", "fleet"],
    ]);
    expect(outcomes(b.heard)).toEqual([
      [name, "success", "fleet"],
      [name, "success", "fleet"],
    ]);
  });
});
