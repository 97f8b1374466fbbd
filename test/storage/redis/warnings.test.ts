/**
 * A degraded storage is loud without any hook: one process warning per outage
 * (`PURGATORY_STORAGE_UNAVAILABLE`, naming the URL without its password and the cause), however
 * many health checks fail, and one when Redis answers again (`PURGATORY_STORAGE_RECOVERED`).
 * Against a real redis-server started on a port that first refuses.
 */
import { afterEach, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage } from "../../../src/index.js";
import { sleep, waitFor } from "../../support/redis-helpers.js";
import { freePort, startRedisServer, type RedisServer } from "../../support/redis-server.js";

const warnings: { code: string | undefined; message: string }[] = [];
const onWarning = (warning: Error & { code?: string }) => {
  if (warning.message.startsWith("purgatory: Redis")) warnings.push({ code: warning.code, message: warning.message });
};

let server: RedisServer | undefined;
const made: AsyncCircuitBreakerFactory[] = [];
afterEach(async () => {
  process.off("warning", onWarning);
  warnings.length = 0;
  await Promise.all(made.splice(0).map((f) => f.close()));
  await server?.stop();
  server = undefined;
});

describe("a RedisStorage whose Redis is away", () => {
  it("warns once per outage, without the password, and once when Redis is back", async () => {
    process.on("warning", onWarning);
    const port = await freePort();
    const factory = new AsyncCircuitBreakerFactory({
      storage: new RedisStorage({ url: `redis://user:s3cret@127.0.0.1:${port}`, healthCheckInterval: 0.02 }),
    });
    made.push(factory);
    await factory.initialize();
    await waitFor("the warning", () => warnings.length > 0);
    await sleep(200); // about ten failed health checks
    expect(warnings.map((w) => w.code)).toEqual(["PURGATORY_STORAGE_UNAVAILABLE"]);
    expect(warnings[0]?.message).toContain(`redis://user:***@127.0.0.1:${port}`);
    expect(warnings[0]?.message).toMatch(/\(connect ECONNREFUSED [^)]*\); circuits go on under onStorageError "local"/);
    expect(warnings[0]?.message).not.toContain("s3cret");
    server = await startRedisServer({ port, args: ["--user", "user", "on", ">s3cret", "~*", "&*", "+@all"] });
    await waitFor("the recovery", () => warnings.length === 2, 5_000);
    expect(warnings.map((w) => w.code)).toEqual(["PURGATORY_STORAGE_UNAVAILABLE", "PURGATORY_STORAGE_RECOVERED"]);
    expect(warnings[1]?.message).not.toContain("s3cret");
  });
});
