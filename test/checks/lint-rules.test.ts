/**
 * The lint configuration catches what it is there for: promises that are dropped or passed where a
 * plain value is expected (type-aware rules of typescript-eslint). Lints code given in place, as
 * the content of this very file, so that the project service types it with the repository's
 * tsconfig.
 */
import { ESLint } from "eslint";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The rules `code` breaks. */
async function rulesBroken(code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: fileURLToPath(import.meta.url) });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe("the lint configuration", () => {
  it(
    "reports a floating promise, and an async callback where a void one is expected",
    { timeout: 60_000 },
    async () => {
      const broken = await rulesBroken(`
import { AsyncCircuitBreakerFactory } from "../../src/index.js";
const circuitbreaker = new AsyncCircuitBreakerFactory();
export function forgotten(): void {
  circuitbreaker.run("api", () => 1);
}
export function misused(names: string[]): void {
  names.forEach(async (name) => {
    await circuitbreaker.run(name, () => 1);
  });
}
`);
      expect(broken).toContain("@typescript-eslint/no-floating-promises");
      expect(broken).toContain("@typescript-eslint/no-misused-promises");
    },
  );
});

/** The repository's own source files (no dependencies, no build output). */
function sourceFiles(dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if ([".git", "node_modules", "dist", ".tmp", "coverage"].includes(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|cts|js|mjs|lua)$/.test(entry.name) ? [path] : [];
  });
}

describe("comments", () => {
  it("point at documents inside the repository, which exist", () => {
    // Documents of the team's workspace, not of this repository (spelled in pieces so that this
    // file does not match itself).
    const outside = new RegExp(["DES" + "IGN\\.md", "STY" + "LE\\.md", "\\.\\./sha" + "red"].join("|"));
    const offenders: string[] = [];
    for (const file of sourceFiles()) {
      const text = readFileSync(file, "utf8");
      if (outside.test(text)) offenders.push(relative(root, file));
      for (const [doc] of text.matchAll(/docs\/[\w.-]+\.md/g)) {
        if (!existsSync(join(root, doc))) offenders.push(`${relative(root, file)} -> ${doc}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
