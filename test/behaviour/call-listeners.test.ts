/**
 * Call listeners (`factory.addCallListener`): one report per guarded call, with its outcome and
 * how long the guarded function ran, for metrics. Runs for every storage kind, with both
 * factories where the storage decides synchronously.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  InvalidOptionError,
  SyncCircuitBreakerFactory,
  type CallOutcome,
} from "../../src/index.js";
import { circuitName, flavoursFor, throwing, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

/** What a call listener heard: `[circuit, outcome, durationMs]` per call. */
type Heard = [string, CallOutcome, number];

function hear(factory: AsyncCircuitBreakerFactory | SyncCircuitBreakerFactory): Heard[] {
  const heard: Heard[] = [];
  factory.addCallListener((name, outcome, durationMs) => heard.push([name, outcome, durationMs]));
  return heard;
}

/** A synchronous function that runs for at least `ms` milliseconds. */
const busyFor = (ms: number) => (): string => {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return "done";
};

const outcomes = (heard: Heard[]): [string, CallOutcome][] => heard.map(([name, outcome]) => [name, outcome]);

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    it("hear every call once, with its outcome: success, failure, excluded, rejected", async () => {
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
        [name, "success"],
        [name, "excluded"],
        [name, "failure"],
        [name, "failure"],
        [name, "rejected"],
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
        [name, "failure"],
        [name, "failure"],
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
      expect(rejected).toEqual([name, "rejected", 0]);
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
        [name, "timeout"],
        [name, "cancelled"],
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
