import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * Two groups, one after the other. The operator tools' tests (the CLI and the dashboard as child
 * processes, a headless browser, the demo with its second process) load a 2-core machine heavily,
 * and the library's fleet tests are timing-sensitive (250 ms command timeouts): the tools run
 * after the library. The global set-up (the Redis check and the Cluster) is the library's; the
 * tools start throw-away servers of their own or use REDIS_URL's.
 */
const TOOLS = [
  "test/cli/**/*.test.ts",
  "test/dashboard/**/*.test.ts",
  "test/examples.test.ts",
  "test/browser/**/*.test.ts",
];

export default defineConfig({
  // The integrations (src/integrations/) import the library by its package name: the source here,
  // as tsconfig.json "paths" says (only the bare name: "purgatory/fetch" is not aliased).
  resolve: { alias: [{ find: /^purgatory$/, replacement: fileURLToPath(new URL("src/index.ts", import.meta.url)) }] },
  test: {
    // Two test files at a time, also on a 2-core machine (vitest's default there is one): most of
    // the suite waits on Redis, child processes and a browser. The full suite took 554 s with one,
    // 335 s with two, all passing.
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: "library",
          include: ["test/**/*.test.ts"],
          // The lint, bundling and packaging checks are CI steps of their own (vitest.checks.config.ts).
          exclude: [...TOOLS, "test/checks/**"],
          globalSetup: ["test/support/global-setup.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: "tools", include: TOOLS, sequence: { groupOrder: 1 } } },
    ],
  },
});
