/**
 * A factory's life: initialize(), close(), and disposal with `using` / `await using`.
 * Runs for every storage kind and both factories.
 */
import { describe, expect, it, vi } from "vitest";
import { circuitName, flavoursFor, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    it("initializes its storage with initialize()", async () => {
      const initialize = vi.spyOn(bench.harness.storage, "initialize");
      const made = bench.make(flavour);
      await expect(made.factory.initialize()).resolves.toBeUndefined();
      expect(initialize).toHaveBeenCalledTimes(1);
      await expect(made.run(circuitName("after-initialize"), () => "ok")).resolves.toBe("ok");
    });

    it("closes its storage with close()", async () => {
      const close = vi.spyOn(bench.harness.storage, "close");
      const made = bench.make(flavour);
      await made.factory.initialize();
      await expect(made.factory.close()).resolves.toBeUndefined();
      expect(close).toHaveBeenCalled();
    });

    it("closes with Symbol.asyncDispose, for `await using`", async () => {
      const close = vi.spyOn(bench.harness.storage, "close");
      const made = bench.make(flavour);
      await made.factory[Symbol.asyncDispose]();
      expect(close).toHaveBeenCalled();
    });

    it("registers no new circuit once closed", async () => {
      const made = bench.make(flavour);
      await made.factory.close();
      const name = circuitName("after-close");
      await expect(made.getBreaker(name)).rejects.toThrow(/closed/);
      await expect(made.run(name, () => "never")).rejects.toThrow(/closed/);
    });
  });

  describe.skipIf(kind.syncFactory === false)("sync factory", () => {
    it("closes with Symbol.dispose, for `using`", async () => {
      const close = vi.spyOn(bench.harness.storage, "close");
      const factory = bench.makeSync();
      factory[Symbol.dispose]();
      expect(close).toHaveBeenCalled();
      expect(() => factory.getBreaker(circuitName("disposed"))).toThrow(/closed/);
    });
  });

  describe("async factory", () => {
    it("rejects, never throws, when run registers a circuit after close()", async () => {
      const factory = bench.makeAsync();
      await factory.close();
      let result: Promise<unknown> | undefined;
      expect(() => (result = factory.run(circuitName("closed-run"), () => 1))).not.toThrow();
      await expect(result).rejects.toThrow(/closed/);
    });
  });
});
