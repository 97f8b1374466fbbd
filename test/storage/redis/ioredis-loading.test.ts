/**
 * How `RedisStorage` loads ioredis (`loadRedisClass`, used by `makeClient`): "not installed" only
 * when ioredis itself cannot be found; any other failure says what failed, with the original error
 * as the cause. The real bundles and installs are in test/checks/bundle.test.ts (npm run test:bundle); here, the errors Node
 * itself throws for `require`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRedisClass } from "../../../src/storage/redis/options.js";

let empty = "";
beforeAll(async () => {
  empty = await mkdtemp(join(tmpdir(), "purgatory-no-modules-"));
});
afterAll(async () => {
  await rm(empty, { recursive: true, force: true });
});

/** What `require(name)` throws in a folder with no node_modules (Node's own MODULE_NOT_FOUND). */
function requireFromNowhere(name: string): () => Promise<unknown> {
  return async () => createRequire(join(empty, "app.js"))(name) as unknown;
}

async function failure(load: () => Promise<unknown>): Promise<Error> {
  const error: unknown = await loadRedisClass(load).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe("loading ioredis", () => {
  it("gives ioredis's Redis class when it loads", async () => {
    expect(await loadRedisClass()).toBe(Redis);
  });

  it("says to install it when ioredis itself is not found, the MODULE_NOT_FOUND as the cause", async () => {
    const error = await failure(requireFromNowhere("ioredis"));
    expect(error.message).toBe('RedisStorage needs the optional peer dependency "ioredis": run `npm install ioredis`');
    expect((error.cause as { code?: string }).code).toBe("MODULE_NOT_FOUND");
  });

  it("says what failed when another module is not found (a dependency of ioredis, a broken install)", async () => {
    const error = await failure(requireFromNowhere("ioredis-helper"));
    expect(error.message).toMatch(/^RedisStorage could not load "ioredis": Cannot find module 'ioredis-helper'/);
    expect(error.message).not.toContain("npm install ioredis");
    expect((error.cause as { code?: string }).code).toBe("MODULE_NOT_FOUND");
  });

  it("says what failed for any other error, with a hint for an ES module bundle's dynamic require", async () => {
    const cause = new Error('Dynamic require of "events" is not supported');
    const error = await failure(() => Promise.reject(cause));
    expect(error.message).toMatch(
      /^RedisStorage could not load "ioredis": Dynamic require of "events" is not supported \(/,
    );
    expect(error.message).toContain("--external:ioredis");
    expect(error.cause).toBe(cause);

    const syntax = new SyntaxError("Unexpected token '?'");
    const other = await failure(() => Promise.reject(syntax));
    expect(other.message).toBe(`RedisStorage could not load "ioredis": Unexpected token '?'`);
    expect(other.cause).toBe(syntax);
  });

  it("says so when the module loaded has no Redis class", async () => {
    const error = await failure(() => Promise.resolve({ version: "3.0.0" }));
    expect(error.message).toContain("has no Redis class (RedisStorage needs ioredis 5 or 6)");
  });
});
