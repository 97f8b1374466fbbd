/**
 * A reply this process cannot use is not an outage: a bug in decoding a script's reply (planted
 * here in the codec) is reported as `storage_error` with its cause, never as `storage_unavailable`,
 * and the user's call keeps its own outcome. Against a real Redis.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage } from "../../../src/index.js";
import { HookRecorder, REDIS_URL, deleteKeys, inspector, uniquePrefix } from "../../support/redis-helpers.js";

const plant = vi.hoisted(() => ({ broken: false }));
vi.mock("../../../src/storage/redis/codec.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../../src/storage/redis/codec.js")>();
  return {
    ...original,
    parseReply: (raw: unknown) => {
      if (plant.broken) throw new TypeError("a bug while decoding the reply");
      return original.parseReply(raw);
    },
  };
});

const prefix = uniquePrefix("test-reply-errors");
const made: AsyncCircuitBreakerFactory[] = [];
afterEach(async () => {
  plant.broken = false;
  await Promise.all(made.splice(0).map((f) => f.close()));
  const redis = inspector();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe("a reply RedisStorage cannot use", () => {
  it("is a storage_error with its cause, not an outage, and the call keeps its outcome", async () => {
    const recorder = new HookRecorder();
    const factory = new AsyncCircuitBreakerFactory({
      storage: new RedisStorage({ url: REDIS_URL, prefix }),
      listeners: [recorder.hook],
    });
    made.push(factory);
    const breaker = await factory.getBreaker("decoded", { threshold: 5 });
    plant.broken = true;
    const error = new Error("the dependency failed");
    await expect(breaker.run(() => Promise.reject(error))).rejects.toBe(error);
    const [report] = recorder.of("storage_error");
    expect(report?.[2]).toMatchObject({ name: "decoded", storage: "redis" });
    expect(((report?.[2] as { error?: unknown }).error as Error).message).toBe("a bug while decoding the reply");
    expect(recorder.of("storage_unavailable")).toEqual([]);
  });
});
