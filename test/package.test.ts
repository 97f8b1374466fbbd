/**
 * The package as npm publishes it: builds, packs, lints (publint, attw), installs the tarball in a
 * fresh project and imports/requires it. The work is done by `scripts/check-pack.mjs`
 * (also `npm run test:pack`); this test runs it so CI does.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("the published package", () => {
  it(
    "builds, packs, passes publint and attw, works from import and require (metrics subpaths included), and its bin runs",
    { timeout: 120_000 },
    async () => {
      const outcome = await new Promise<{ code: number | null; output: string }>((resolve) => {
        execFile(
          process.execPath,
          ["scripts/check-pack.mjs"],
          { cwd: root, timeout: 110_000, maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) => {
            const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
            resolve({ code, output: `${stdout}\n${stderr}` });
          },
        );
      });
      expect(outcome.code, outcome.output).toBe(0);
      for (const check of [
        "✓ zero runtime dependencies",
        "✓ publint --strict",
        "✓ attw (strict profile): no problems",
        '✓ require("purgatory") works (CommonJS)',
        "✓ errors are instanceof across the ESM and CommonJS copies (dual package hazard)",
        "✓ the README's Quick start compiles under tsc --strict, and wrong predicate types do not",
        "✓ legacy decorators (experimentalDecorators) type-check, and the async factory refuses a synchronous method",
        "✓ node_modules/.bin/purgatory --help prints the usage (exit code 0)",
        "✓ without ioredis, purgatory circuits says to install it, exit code 2",
        "✓ every peer (ioredis, prom-client, @opentelemetry/api) is optional",
        "✓ tarball contains dist/prometheus.d.cts",
        "✓ tarball contains dist/otel.cjs",
        '✓ without prom-client, require of "purgatory/prometheus" fails naming it',
        '✓ without @opentelemetry/api, import of "purgatory/otel" fails naming it',
        '✓ import of "purgatory/prometheus" and "purgatory/otel" works (ESM), with a factory of either build',
        '✓ require("purgatory/prometheus") and require("purgatory/otel") work (CommonJS)',
        "✓ TypeScript (module node16, .mts and .cts) type-checks a consumer, the metrics subpaths included",
      ]) {
        expect(outcome.output).toContain(check);
      }
      expect(outcome.output).toContain("all checks passed");
    },
  );
});
