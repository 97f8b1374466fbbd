/**
 * `factory.toJSON()` reads the circuits a storage holds in this process through the storage's
 * `names()` and `get()`, whatever the storage: over Redis, this process's replicas. (Restoring is
 * the memory storage's: see test/factory.test.ts and test/storage/memory.test.ts.) Runs for every
 * storage kind and both factories.
 */
import { describe, expect, it } from "vitest";
import { circuitName, flavoursFor, throwing, trip, useWorkbench } from "../support/factories.js";
import { storageKinds } from "../support/storage-kinds.js";

describe.each(storageKinds)("$name storage", (kind) => {
  const bench = useWorkbench(kind);

  describe.each(flavoursFor(kind))("$name factory", (flavour) => {
    it("toJSON lists this process's circuits with their config and state, as JSON", async () => {
      const made = bench.make(flavour);
      const opened = await made.getBreaker(circuitName("opened"), { threshold: 2, ttl: 60 });
      await trip(opened);
      const counting = await made.getBreaker(circuitName("counting"), { threshold: 3, ttl: 5 });
      await counting.run(throwing(new Error("one"))).catch(() => undefined);
      const saved = JSON.parse(JSON.stringify(made.factory.toJSON())) as ReturnType<typeof made.factory.toJSON>;
      expect(saved.version).toBe(1);
      const byName = new Map(saved.circuits.map((c) => [c.name, c]));
      expect(byName.get(opened.name)).toMatchObject({
        config: { threshold: 2, ttl: 60, halfOpenMaxCalls: 1 },
        snapshot: { state: "opened", failureCount: 2, openedAt: opened.openedAt },
      });
      expect(byName.get(counting.name)).toMatchObject({
        config: { threshold: 3, ttl: 5 },
        snapshot: { state: "closed", failureCount: 1 },
      });
    });
  });
});
