import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * `npm run test:unit`: what needs no Redis, no Cluster and no browser — the pure core, the
 * options, the breakers and factories, the behaviour suite over the in-memory storage (time moved
 * by an injected clock, never slept), the Redis storage's pure parts (codec, keys, slots, the
 * replica, the own circuit, the re-read rounds, the clock offset, the telemetry's counting and
 * messages). No global set-up: nothing is started and nothing is asked of the network.
 */
export default defineConfig({
  resolve: { alias: [{ find: /^purgatory$/, replacement: fileURLToPath(new URL("src/index.ts", import.meta.url)) }] },
  test: {
    name: "unit",
    env: { PURGATORY_TEST_STORAGES: "memory" },
    include: [
      "test/core/**/*.test.ts",
      "test/behaviour/**/*.test.ts",
      "test/storage/memory.test.ts",
      "test/storage/redis/{codec,keys,slot,own,replica,resync,clock-offset,options,traffic-codec,admission,window-flush,circuit-config,outage,replica-updates}.test.ts",
      "test/{breaker,factory,options,timing}/**/*.test.ts",
      "test/{decorate,errors}.test.ts",
      "test/cli/{top-view,table}.test.ts",
      "test/dashboard/{traffic-render,render}.test.ts",
      "test/fleet/history.test.ts",
    ],
  },
});
