/**
 * A caller's `signal`: cancellation is neutral (docs/design.md, "Outcomes"). The call rejects at
 * once with the abort reason, the guarded function's signal aborts too, nothing is counted, and a
 * probe slot the call held is freed at once where the storage can (`CircuitStorage.release`).
 * Async factory only (the sync factory rejects the option: see test/options.test.ts). Runs for
 * every storage kind.
 */
import { describe, expect, it, vi, type TestContext } from "vitest";
import { CircuitOpenError } from "../../src/index.js";
import { circuitName, Deferred, listen, throwing, useWorkbench, type Workbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

/** A guarded function that never settles. */
const hanging = (): Promise<never> => new Promise<never>(() => undefined);

/** Lets the promise jobs queued so far run (no timer, no I/O). */
const microtasks = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

/** Whether the storage under test frees a cancelled probe's slot itself (`release`). */
const releases = (bench: Workbench): boolean => typeof bench.harness.storage.release === "function";

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe("a call cancelled by its caller", () => {
    it("rejects at once with the abort reason, and aborts the guarded function's signal too", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("cancelled"));
      const controller = new AbortController();
      let signal: AbortSignal | undefined;
      const call = breaker.run((s) => ((signal = s), hanging()), { signal: controller.signal });
      let outcome: unknown;
      call.catch((e: unknown) => (outcome = e));
      const reason = new Error("the user went away");
      controller.abort(reason);
      await microtasks(); // no timer, no I/O: the rejection does not wait for the function
      expect(outcome).toBe(reason);
      expect(signal?.aborted).toBe(true);
      expect(signal?.reason).toBe(reason);
    });

    it("shares one long-lived signal among 100 calls at once: no listener warning, each rejected by its abort", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("shared-signal"));
      const warnings: string[] = [];
      const onWarning = (warning: Error): void => void warnings.push(warning.name);
      process.on("warning", onWarning);
      try {
        const shutdown = new AbortController();
        // Calls that settled before leave nothing behind on the signal.
        for (let i = 0; i < 50; i++) await breaker.run(() => Promise.resolve(i), { signal: shutdown.signal });
        const calls = Array.from({ length: 100 }, () =>
          breaker.run(hanging, { signal: shutdown.signal }).catch((e: unknown) => e),
        );
        const reason = new Error("shutting down");
        shutdown.abort(reason);
        expect(await Promise.all(calls)).toEqual(Array.from({ length: 100 }, () => reason));
        await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
        expect(warnings).not.toContain("MaxListenersExceededWarning");
      } finally {
        process.off("warning", onWarning);
      }
    });

    it("counts nothing: neither a failure nor a success, also when the function settles later", async () => {
      const factory = bench.makeAsync();
      const log = listen(factory);
      const breaker = await factory.getBreaker(circuitName("neutral"), { threshold: 3 });
      await breaker.run(throwing(new Error("one"))).catch(() => undefined);
      for (const late of [
        (d: Deferred<string>) => d.resolve("late"),
        (d: Deferred<string>) => d.reject(new Error("late")),
      ]) {
        const controller = new AbortController();
        const deferred = new Deferred<string>();
        const call = breaker.run(() => deferred.promise, { signal: controller.signal });
        controller.abort();
        await expect(call).rejects.toMatchObject({ name: "AbortError" });
        late(deferred);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(breaker.failureCount).toBe(1);
      expect(log.labels(breaker.name)).toEqual(["circuit_breaker_created", "failed 1"]);
    });

    it("rejects at once without calling the function, or counting, when the signal is already aborted", async () => {
      const factory = bench.makeAsync();
      const log = listen(factory);
      const breaker = await factory.getBreaker(circuitName("already"));
      const fn = vi.fn(() => "ran");
      const reason = new Error("aborted before");
      await expect(breaker.run(fn, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      await expect(factory.run(breaker.name, fn, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      expect(fn).not.toHaveBeenCalled();
      expect(log.labels(breaker.name)).toEqual(["circuit_breaker_created"]);
    });

    it("takes no probe slot when the signal is already aborted: the next call probes", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.05 });
      const breaker = await factory.getBreaker(circuitName("no-slot"));
      await breaker.run(throwing(new Error("down"))).catch(() => undefined);
      await bench.advance(60);
      await expect(breaker.run(() => "x", { signal: AbortSignal.abort() })).rejects.toMatchObject({
        name: "AbortError",
      });
      await expect(breaker.run(() => "probe")).resolves.toBe("probe");
      expect(breaker.state).toBe("closed");
    });

    it("works through factory.run(name, fn, { signal })", async () => {
      const factory = bench.makeAsync();
      const name = circuitName("one-liner");
      const controller = new AbortController();
      let signal: AbortSignal | undefined;
      const call = factory.run(name, (s) => ((signal = s), hanging()), { signal: controller.signal });
      await vi.waitFor(() => expect(signal).toBeDefined(), { interval: 1 });
      controller.abort("stop");
      await expect(call).rejects.toBe("stop");
      expect(signal?.aborted).toBe(true);
      expect((await factory.getBreaker(name)).failureCount).toBe(0);
    });

    it("is still cancellable with a timeout too, and then counts nothing", async () => {
      const factory = bench.makeAsync();
      const breaker = await factory.getBreaker(circuitName("both"), { timeout: 0.05 });
      const controller = new AbortController();
      let signal: AbortSignal | undefined;
      const call = breaker.run((s) => ((signal = s), hanging()), { signal: controller.signal });
      controller.abort("cancelled first");
      await expect(call).rejects.toBe("cancelled first");
      expect(signal?.reason).toBe("cancelled first");
      await new Promise((resolve) => setTimeout(resolve, 80)); // past the timeout: it must not count
      expect(breaker.failureCount).toBe(0);
    });

    it("never runs the function when cancelled while it waits for its admission", async () => {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.05 });
      const breaker = await factory.getBreaker(circuitName("admitting"));
      await breaker.run(throwing(new Error("down"))).catch(() => undefined);
      await bench.advance(60);
      const fn = vi.fn(() => "ran");
      const controller = new AbortController();
      const call = breaker.run(fn, { signal: controller.signal }); // a probe: admitted asynchronously
      controller.abort("gone");
      await expect(call).rejects.toBe("gone");
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(fn).not.toHaveBeenCalled();
    });
  });

  describe("a cancelled probe", () => {
    /** Trips a circuit (ttl 0.3 s: its probe's lease outlives the test's steps in real time) and starts a probe. */
    async function cancelledProbe() {
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.3 });
      const log = listen(factory);
      const breaker = await factory.getBreaker(circuitName("probe"));
      await breaker.run(throwing(new Error("down"))).catch(() => undefined);
      await bench.advance(310);
      const controller = new AbortController();
      const started = vi.fn();
      const late = new Deferred<string>();
      const probe = breaker.run(() => (started(), late.promise), { signal: controller.signal });
      await vi.waitFor(() => expect(started).toHaveBeenCalled(), { interval: 1 });
      expect(breaker.state).toBe("half-opened");
      controller.abort("cancelled");
      await expect(probe).rejects.toBe("cancelled");
      return { breaker, late, log };
    }

    it("decides nothing: the circuit stays half-opened, also when the probe fails later", async () => {
      const { breaker, late, log } = await cancelledProbe();
      late.reject(new Error("late failure"));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(breaker.state).toBe("half-opened");
      // What this process decided (a storage's remote echoes are the concern of its own tests).
      expect(log.labels(breaker.name).filter((label) => !label.endsWith("(remote)"))).toEqual([
        "circuit_breaker_created",
        "failed 1",
        "state_changed opened",
        "state_changed half-opened",
      ]);
    });

    it("frees its slot at once: the next call probes without waiting for the lease to expire", async (context: TestContext) => {
      if (!releases(bench)) {
        context.skip(
          `${kind.name}: the storage has no release(), so a cancelled probe's lease expires by itself (next test)`,
        );
      }
      const { breaker } = await cancelledProbe();
      await expect(breaker.run(() => "next probe")).resolves.toBe("next probe");
      expect(breaker.state).toBe("closed");
    });

    it("without release(), holds its slot until its lease expires, then the next call probes", async (context: TestContext) => {
      if (releases(bench)) context.skip(`${kind.name}: the storage frees the slot at once (previous test)`);
      const { breaker } = await cancelledProbe();
      await expect(breaker.run(() => "too soon")).rejects.toBeInstanceOf(CircuitOpenError);
      await bench.advance(310);
      await expect(breaker.run(() => "next probe")).resolves.toBe("next probe");
      expect(breaker.state).toBe("closed");
    });

    it("gives back the slot it took while waiting for its admission", async (context: TestContext) => {
      if (!releases(bench)) context.skip(`${kind.name}: the storage has no release(); the lease expires by itself`);
      const factory = bench.makeAsync({ defaultThreshold: 1, defaultTtl: 0.3 });
      const breaker = await factory.getBreaker(circuitName("admission"));
      await breaker.run(throwing(new Error("down"))).catch(() => undefined);
      await bench.advance(310);
      const controller = new AbortController();
      const call = breaker.run(() => "never", { signal: controller.signal });
      controller.abort("gone");
      await expect(call).rejects.toBe("gone");
      await vi.waitFor(() => expect(breaker.state).toBe("half-opened"), { interval: 1 });
      await expect(breaker.run(() => "next probe")).resolves.toBe("next probe");
    });
  });
});
