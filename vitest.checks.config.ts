import { defineConfig } from "vitest/config";

/**
 * The checks that CI runs as steps of their own, outside `npm test`: the lint rules fire and
 * comments point inside the repository (`npm run test:lint-rules`), and an app bundled with esbuild
 * as docs/bundling.md says works (`npm run test:bundle`). The package's own check is a script
 * (`npm run test:pack`).
 */
export default defineConfig({
  test: {
    name: "checks",
    include: ["test/checks/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
