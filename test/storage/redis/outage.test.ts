/**
 * What a RedisStorage says of its own health (src/storage/redis/outage.ts), alone: once per outage,
 * to its subscribers and as a process warning, with where Redis is (its password masked). The
 * storage's subscribers and warnings are recorded here; no Redis.
 */
import { describe, expect, it } from "vitest";
import type { CircuitHookArgs } from "../../../src/events.js";
import { Outage, redisLocation, type OutageOptions } from "../../../src/storage/redis/outage.js";
import { RedisConfigurationError } from "../../../src/storage/redis/transport.js";

/** An outage's reports over `settings`, with what it emitted and warned. */
function reports(settings: Partial<OutageOptions["settings"]> = {}) {
  const events: CircuitHookArgs[] = [];
  const warnings: { message: string; code: string }[] = [];
  const outage = new Outage({
    settings: { url: undefined, client: undefined, onStorageError: "local", ...settings },
    emit: (...args) => events.push(args),
    warn: (message, code) => warnings.push({ message, code }),
  });
  return { outage, events, warnings };
}

describe("where Redis is, in messages", () => {
  it("is the default server when neither a URL nor a client was given", () => {
    expect(redisLocation({ url: undefined, client: undefined })).toBe("redis://127.0.0.1:6379");
  });

  it("is the URL, with its password masked", () => {
    expect(redisLocation({ url: "redis://app:s3cret@cache.internal:6380/2", client: undefined })).toBe(
      "redis://app:***@cache.internal:6380/2",
    );
    expect(redisLocation({ url: "rediss://cache.internal:6380", client: undefined })).toBe(
      "rediss://cache.internal:6380",
    );
  });

  it("is the client passed, when one was", () => {
    const client = {} as NonNullable<Parameters<typeof redisLocation>[0]["client"]>;
    expect(redisLocation({ url: undefined, client })).toBe("the client passed");
  });
});

describe("an outage, as the storage reports it", () => {
  it("is reported once, as storage_unavailable and a warning naming where Redis is and the policy", () => {
    const { outage, events, warnings } = reports({ url: "redis://:pw@cache:6379", onStorageError: "fail-closed" });
    const error = new Error("connect ECONNREFUSED");
    outage.down(error);
    outage.down(new Error("connect ECONNREFUSED again"));
    expect(events).toEqual([["*", "storage_unavailable", { name: "*", storage: "redis", error }]]);
    expect(warnings).toEqual([
      {
        message:
          'Redis is unavailable at redis://:***@cache:6379 (connect ECONNREFUSED); circuits go on under onStorageError "fail-closed" until it answers again',
        code: "PURGATORY_STORAGE_UNAVAILABLE",
      },
    ]);
    expect(outage.reported).toBe(true);
  });

  it("says a cause that is not an Error as it is", () => {
    const { outage, warnings } = reports();
    outage.down("timed out");
    expect(warnings[0]?.message).toContain("(timed out)");
  });

  it("reports a refusal of the configuration met during it once, as storage_error", () => {
    const { outage, events } = reports();
    outage.down(new Error("connect ECONNREFUSED"));
    const refusal = new RedisConfigurationError("NOPERM this user has no permissions to run the 'evalsha' command");
    outage.down(refusal);
    outage.down(refusal);
    expect(events.map(([, type]) => type)).toEqual(["storage_unavailable", "storage_error"]);
    expect(events[1]).toEqual(["*", "storage_error", { name: "*", storage: "redis", error: refusal }]);
  });

  it("that begins with a refusal reports it as the outage only", () => {
    const { outage, events } = reports();
    outage.down(new RedisConfigurationError("NOPERM"));
    outage.down(new RedisConfigurationError("NOPERM again"));
    expect(events.map(([, type]) => type)).toEqual(["storage_unavailable"]);
  });
});

describe("the recovery", () => {
  it("of a reported outage is reported once, as storage_recovered and a warning", () => {
    const { outage, events, warnings } = reports({ url: "redis://cache:6379" });
    outage.down(new Error("down"));
    outage.recovered();
    outage.recovered();
    expect(events.map(([, type]) => type)).toEqual(["storage_unavailable", "storage_recovered"]);
    expect(events[1]).toEqual(["*", "storage_recovered", { name: "*", storage: "redis" }]);
    expect(warnings[1]).toEqual({
      message: "Redis answers again at redis://cache:6379; circuits follow it again",
      code: "PURGATORY_STORAGE_RECOVERED",
    });
    expect(outage.reported).toBe(false);
  });

  it("is not reported when no outage was (a first connection)", () => {
    const { outage, events, warnings } = reports();
    outage.recovered();
    expect(events).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it("ends the outage: the next failure is a new outage, reported again, refusals included", () => {
    const { outage, events } = reports();
    outage.down(new Error("down"));
    outage.down(new RedisConfigurationError("NOPERM"));
    outage.recovered();
    outage.down(new Error("down again"));
    outage.down(new RedisConfigurationError("NOPERM again"));
    expect(events.map(([, type]) => type)).toEqual([
      "storage_unavailable",
      "storage_error",
      "storage_recovered",
      "storage_unavailable",
      "storage_error",
    ]);
  });
});
