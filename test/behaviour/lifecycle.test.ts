/**
 * A factory's life: initialize(), close(), and disposal with `using` / `await using`.
 * Runs for every storage kind and both factories.
 */
import { describe, expect, it, vi } from "vitest";
import { FactoryClosedError, isFactoryClosedError } from "../../src/index.js";
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

    it("rejects calls on a new circuit once closed, with FactoryClosedError", async () => {
      const made = bench.make(flavour);
      await made.factory.close();
      const name = circuitName("after-close");
      const error = await made.getBreaker(name).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FactoryClosedError);
      expect(isFactoryClosedError(error)).toBe(true);
      expect(error).toMatchObject({
        name: "FactoryClosedError",
        code: "PURGATORY_FACTORY_CLOSED",
        circuitName: name,
        message: `Cannot use circuit ${name}: the factory is closed`,
      });
      const run = vi.fn(() => "never");
      await expect(made.run(name, run)).rejects.toBeInstanceOf(FactoryClosedError);
      expect(run).not.toHaveBeenCalled();
    });

    it("rejects calls on circuits known before close: getBreaker, run, decorated functions, breakers handed out", async () => {
      const made = bench.make(flavour);
      const name = circuitName("known");
      const breaker = await made.getBreaker(name);
      const withExclude = await made.getBreaker(name, { exclude: [RangeError] });
      const decorated = made.factory.decorate(name)(() => "decorated");
      await made.run(name, () => "before");
      await decorated();
      await made.factory.close();
      const guarded = vi.fn(() => "never");
      await expect(made.getBreaker(name)).rejects.toBeInstanceOf(FactoryClosedError);
      await expect(made.run(name, guarded)).rejects.toBeInstanceOf(FactoryClosedError);
      await expect(breaker.run(guarded)).rejects.toBeInstanceOf(FactoryClosedError);
      await expect(withExclude.run(guarded)).rejects.toBeInstanceOf(FactoryClosedError);
      await expect(Promise.resolve().then(() => decorated())).rejects.toBeInstanceOf(FactoryClosedError);
      expect(guarded).not.toHaveBeenCalled();
    });

    it("rejects initialize() after close() with FactoryClosedError, with no circuit name", async () => {
      const made = bench.make(flavour);
      await made.factory.initialize();
      await made.factory.close();
      const error = await made.factory.initialize().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FactoryClosedError);
      expect((error as FactoryClosedError).circuitName).toBeUndefined();
      expect((error as Error).message).toBe("The factory is closed");
    });

    it("may be closed twice", async () => {
      const close = vi.spyOn(bench.harness.storage, "close");
      const made = bench.make(flavour);
      await made.factory.close();
      await expect(made.factory.close()).resolves.toBeUndefined();
      expect(close).toHaveBeenCalledTimes(1);
    });
  });

  describe.skipIf(kind.syncFactory === false)("sync factory", () => {
    it("closes with Symbol.dispose, for `using`", async () => {
      const close = vi.spyOn(bench.harness.storage, "close");
      const factory = bench.makeSync();
      factory[Symbol.dispose]();
      expect(close).toHaveBeenCalled();
      expect(() => factory.getBreaker(circuitName("disposed"))).toThrow(FactoryClosedError);
    });
  });

  describe("async factory", () => {
    it("rejects, never throws, when run registers a circuit after close()", async () => {
      const factory = bench.makeAsync();
      await factory.close();
      let result: Promise<unknown> | undefined;
      expect(() => (result = factory.run(circuitName("closed-run"), () => 1))).not.toThrow();
      await expect(result).rejects.toBeInstanceOf(FactoryClosedError);
    });
  });
});
