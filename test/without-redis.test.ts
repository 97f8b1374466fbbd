/**
 * `npm test` on a machine where no Redis answers: the run stops at once with one line that says
 * what to do, instead of every Redis test failing slowly amid ioredis's reconnection errors.
 * Runs vitest itself in a child process with `REDIS_URL` pointing at a port nothing listens on.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freePort } from "./support/redis-server.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Runs `vitest run <args>` in a child process with `env`; resolves with its exit code and output. */
function vitest(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  // The child must not think it is a worker of this run.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST")));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["node_modules/vitest/vitest.mjs", "run", ...args],
      { cwd: root, env: { ...inherited, NO_COLOR: "1", FORCE_COLOR: "0", ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, output: `${stdout}\n${stderr}` });
      },
    );
  });
}

describe("npm test without Redis", () => {
  it("fails with one line that says Redis does not answer, and runs no test", { timeout: 70_000 }, async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const { code, output } = await vitest(["test/core/machine.test.ts"], { REDIS_URL: url });
    expect(code).toBe(1);
    const lines = output.split("\n").filter((line) => line.includes("Redis"));
    expect(lines).toEqual([`Redis does not answer at ${url}: start one (see README "Try it") or set REDIS_URL`]);
    expect(output).not.toContain("Unhandled error event");
    expect(output).not.toMatch(/Test Files|No test files found/);
  });
});
