/**
 * Processes whose local clocks disagree by an hour share one circuit: time comes from Redis, so
 * they agree on when it opened and when it half-opens.
 */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  SyncCircuitBreakerFactory,
} from "../../../src/index.js";
import {
  HookRecorder,
  REDIS_URL,
  deleteKeys,
  inspector,
  redisTime,
  sleep,
  uniquePrefix,
  waitFor,
} from "../../support/redis-helpers.js";

const HOUR = 3_600_000;
const TTL = 0.3;
const boom = () => Promise.reject(new Error("boom"));

let redis: Redis;
let prefix = "";
const open: { close(): Promise<void> }[] = [];

beforeAll(() => {
  redis = inspector();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  prefix = uniquePrefix("test-skew");
});
afterEach(async () => {
  for (const made of open.splice(0)) await made.close();
  await deleteKeys(redis, prefix);
});

/** A "host" whose clock is `skew` ms off. */
function host(skew: number) {
  const recorder = new HookRecorder();
  const factory = new AsyncCircuitBreakerFactory({
    storage: new RedisStorage({ url: REDIS_URL, prefix, resyncInterval: 600 }),
    clock: () => Date.now() + skew,
    defaultThreshold: 1,
    defaultTtl: TTL,
    listeners: [recorder.hook],
  });
  open.push(factory);
  return { factory, recorder };
}

/** Waits until Redis's clock is past `openedAt + ttl` (plus a margin). */
async function untilTtlPassed(openedAt: number): Promise<void> {
  const wait = openedAt + TTL * 1000 + 30 - (await redisTime(redis));
  if (wait > 0) await sleep(wait);
}

const rejection = async (run: Promise<unknown>): Promise<CircuitOpenError> => {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CircuitOpenError);
  return error as CircuitOpenError;
};

describe("hosts with clocks an hour apart", () => {
  it("agree on openedAt and neither half-opens early nor late", async () => {
    const exact = host(0);
    const ahead = host(HOUR);
    const behind = host(-HOUR);
    const name = "skewed";
    const hosts = [exact, ahead, behind];
    const breakers = await Promise.all(hosts.map((h) => h.factory.getBreaker(name)));
    const [onExact, onAhead, onBehind] = breakers as [(typeof breakers)[0], (typeof breakers)[0], (typeof breakers)[0]];

    for (const [opener, prober] of [
      [onAhead, onBehind],
      [onBehind, onAhead],
      [onExact, onAhead],
    ] as const) {
      await opener.run(boom).catch(() => undefined);
      expect(opener.state).toBe("opened");
      await waitFor("every host to see the trip", () => breakers.every((b) => b.state === "opened"));
      const stored = Number(await redis.hget(new RedisStorage({ prefix }).keys.circuit(name), "o"));
      expect(breakers.map((b) => b.openedAt)).toEqual([stored, stored, stored]);
      expect(Math.abs(stored - (await redisTime(redis)))).toBeLessThan(5000);

      // Within the ttl every host rejects: the one an hour ahead does not half-open early.
      for (const breaker of breakers) {
        const error = await rejection(breaker.run(() => "too early"));
        expect(error.openedAt).toBe(stored);
        expect(error.retryAfterMs).toBeGreaterThan(0);
        expect(error.retryAfterMs).toBeLessThanOrEqual(TTL * 1000);
      }
      expect(hosts.flatMap((h) => h.recorder.states(name)).filter((s) => s.startsWith("half-opened"))).toEqual([]);

      // Right after the ttl the host an hour behind (or ahead) may probe: nobody half-opens late.
      await untilTtlPassed(stored);
      await expect(prober.run(() => "probe ok")).resolves.toBe("probe ok");
      await waitFor("every host to see the close", () => breakers.every((b) => b.state === "closed"));
      for (const h of hosts) h.recorder.calls.length = 0;
    }
  });

  it("let exactly one of them probe after the ttl, whichever clock it has", async () => {
    const ahead = host(HOUR);
    const behind = host(-HOUR);
    const a = await ahead.factory.getBreaker("race");
    const b = await behind.factory.getBreaker("race");
    await a.run(boom).catch(() => undefined);
    await waitFor("the trip to reach the other host", () => b.state === "opened");
    const openedAt = a.openedAt as number;
    await untilTtlPassed(openedAt);
    let probes = 0;
    const probe = async () => {
      probes += 1;
      await sleep(50);
      return "ok";
    };
    const outcomes = await Promise.allSettled([a.run(probe), b.run(probe)]);
    expect(probes).toBe(1);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    const rejected = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(CircuitOpenError);
  });

  it("keep a synchronous host's rejections and probes on Redis time", async () => {
    const ahead = new SyncCircuitBreakerFactory({
      storage: new RedisStorage({ url: REDIS_URL, prefix, resyncInterval: 600 }),
      clock: () => Date.now() + HOUR,
      defaultThreshold: 1,
      defaultTtl: TTL,
    });
    open.push(ahead);
    await ahead.initialize();
    const exact = host(0);
    const asyncBreaker = await exact.factory.getBreaker("sync-skew");
    const breaker = ahead.getBreaker("sync-skew");
    await waitFor("the registration", async () => (await redis.exists(`${prefix}:circuit:{sync-skew}`)) === 1);
    await asyncBreaker.run(boom).catch(() => undefined);
    await waitFor("the sync host to see the trip", () => breaker.state === "opened");
    // An hour ahead, yet still within the ttl on Redis's clock: no probe is even asked for.
    for (let i = 0; i < 5; i++) expect(() => breaker.run(() => "early")).toThrow(CircuitOpenError);
    await sleep(30);
    expect(await redis.hget(`${prefix}:circuit:{sync-skew}`, "st")).toBe("opened");
    await untilTtlPassed(asyncBreaker.openedAt as number);
    // The first call asks Redis in the background; a later one runs the granted probe.
    const result = await waitFor("a probe", () => {
      try {
        return breaker.run(() => "probe ok");
      } catch (error) {
        if (!(error instanceof CircuitOpenError)) throw error;
        return undefined;
      }
    });
    expect(result).toBe("probe ok");
    await waitFor("the close", () => asyncBreaker.state === "closed");
  });
});
