/**
 * The lint configuration catches what it is there for: promises that are dropped or passed where a
 * plain value is expected (type-aware rules of typescript-eslint). Lints code given in place, as
 * the content of this very file, so that the project service types it with the repository's
 * tsconfig.
 */
import { ESLint } from "eslint";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The rules `code` breaks. */
async function rulesBroken(code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: fileURLToPath(import.meta.url) });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe("the lint configuration", () => {
  it("reports a floating promise, and an async callback where a void one is expected", { timeout: 60_000 }, async () => {
    const broken = await rulesBroken(`
import { AsyncCircuitBreakerFactory } from "../src/index.js";
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
  });
});
