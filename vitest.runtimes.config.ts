import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * `npm run test:bun` and `npm run test:deno` (scripts/runtimes/run-tests.mjs): what runs under
 * Bun and Deno. The behaviour suite over the in-memory storage (every scenario of the contract,
 * both factories), the Redis storage suite against the Redis at `REDIS_URL`, and test/runtimes/,
 * which proves that the tests run in the runtime asked for. `PURGATORY_TEST_STORAGES` may name
 * more storage kinds for the behaviour suite (`memory,redis`); the Cluster kind needs the global
 * set-up of vitest.config.ts, which this configuration does not start.
 */
export default defineConfig({
  resolve: { alias: [{ find: /^purgatory$/, replacement: fileURLToPath(new URL("src/index.ts", import.meta.url)) }] },
  test: {
    testTimeout: 20_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "runtime", include: ["test/runtimes/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "behaviour",
          include: ["test/behaviour/**/*.test.ts"],
          env: { PURGATORY_TEST_STORAGES: process.env.PURGATORY_TEST_STORAGES ?? "memory" },
        },
      },
      {
        extends: true,
        test: {
          name: "redis-storage",
          include: ["test/storage/redis/storage.test.ts"],
          globalSetup: ["test/runtimes/global-setup.ts"],
        },
      },
    ],
  },
});
