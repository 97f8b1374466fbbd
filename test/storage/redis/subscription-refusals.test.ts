/**
 * Redis refusing to subscribe a circuit's channel (an ACL user without the channel, or without
 * SSUBSCRIBE/SUBSCRIBE) is said, naming the channel, instead of being swallowed: without the
 * subscription the circuit hears of other processes' changes only at the periodic re-read. It is
 * no outage: commands go on, and a reconnection does not turn the refusal into one. Real ACL users
 * on the Redis the tests share, made and deleted by each test.
 */
import { Redis } from "ioredis";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisConfigurationError, RedisStorage } from "../../../src/index.js";
import { toRedisSettings, type PubSubMode } from "../../../src/storage/redis/options.js";
import {
  RedisTransport,
  SubscriptionRefusedError,
  type TransportListener,
} from "../../../src/storage/redis/transport.js";
import { createAclUser, type AclUser } from "../../support/acl-users.js";
import { deleteKeys, HookRecorder, REDIS_URL, uniquePrefix, waitFor } from "../../support/redis-helpers.js";

let admin: Redis;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  admin = new Redis(REDIS_URL);
  cleanups.push(async () => admin.quit().then(() => undefined));
  return async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
});

const perTest: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of perTest.splice(0).reverse()) await cleanup();
});

/** An ACL user with `rules`, dropped (and its keys under `prefix` deleted) after the test. */
async function user(prefix: string, rules: readonly string[]): Promise<AclUser> {
  const made = await createAclUser(admin, rules);
  perTest.push(async () => {
    await made.drop();
    await deleteKeys(admin, prefix);
  });
  return made;
}

/** May use every command on its keys and channels, except subscribing. */
const withoutSubscribe = (prefix: string) => [`~${prefix}:*`, `&${prefix}:*`, "+@all", "-ssubscribe", "-subscribe"];
/** May use every command on its keys, and no channel at all (nor publish from the scripts). */
const withoutChannels = (prefix: string) => [`~${prefix}:*`, "resetchannels", "+@all"];

/** What a transport told its listener. */
class Told implements TransportListener {
  readonly refusals: SubscriptionRefusedError[] = [];
  readonly downs: unknown[] = [];
  ups = 0;
  message(): void {}
  down(error: unknown): void {
    this.downs.push(error);
  }
  up(): void {
    this.ups += 1;
  }
  resubscribed(): void {}
  refused(channel: string, error: SubscriptionRefusedError): void {
    expect(error.channel).toBe(channel);
    this.refusals.push(error);
  }
}

describe.each([
  ["sharded", "SSUBSCRIBE"],
  ["classic", "SUBSCRIBE"],
] as const)("the transport, with pub/sub %s, to a user Redis refuses to subscribe", (pubsub: PubSubMode, command) => {
  async function started(url: string, prefix: string): Promise<{ transport: RedisTransport; told: Told }> {
    const told = new Told();
    const transport = new RedisTransport(
      toRedisSettings({ url, prefix, pubsub, commandTimeout: 1, healthCheckInterval: 0.05 }),
      told,
    );
    perTest.push(() => transport.close());
    await transport.start();
    expect(transport.available).toBe(true);
    return { transport, told };
  }

  it.each([
    ["without the subscribe command", withoutSubscribe, /NOPERM.*command/],
    ["without the channel", withoutChannels, /NOPERM.*channel/],
  ] as const)("%s: reports the refusal naming the channel, and stays available", async (_what, rules, reply) => {
    const prefix = uniquePrefix("test-refused");
    const { url } = await user(prefix, rules(prefix));
    const { transport, told } = await started(url, prefix);

    const channel = `${prefix}:{a}:ch`;
    await transport.subscribe(channel);

    expect(told.refusals.map((error) => error.channel)).toEqual([channel]);
    const [refusal] = told.refusals;
    expect(refusal).toBeInstanceOf(SubscriptionRefusedError);
    expect(refusal).toBeInstanceOf(RedisConfigurationError);
    expect(refusal?.command).toBe(command);
    expect(refusal?.message).toContain(`Redis refused ${command} ${channel}: `);
    expect(refusal?.message).toMatch(reply);
    expect(refusal?.message).toContain("periodic re-read");
    expect((refusal?.cause as Error).name).toBe("ReplyError");
    // No outage: commands still go through.
    expect(told.downs).toEqual([]);
    expect(transport.available).toBe(true);
    await transport.zadd(`${prefix}:registry-test`, [[1, "a"]]);
    expect(await admin.zscore(`${prefix}:registry-test`, "a")).toBe("1");

    // Each refused channel is named, one report each.
    await Promise.all([transport.subscribe(`${prefix}:{b}:ch`), transport.subscribe(`${prefix}:{c}:ch`)]);
    expect(told.refusals.map((error) => error.channel).sort()).toEqual([
      channel,
      `${prefix}:{b}:ch`,
      `${prefix}:{c}:ch`,
    ]);
  });

  it("after its connections are killed: available again, the refusal reported again (not a lasting outage)", async () => {
    const prefix = uniquePrefix("test-refused");
    const { url, name } = await user(prefix, withoutSubscribe(prefix));
    const { transport, told } = await started(url, prefix);
    const channel = `${prefix}:{a}:ch`;
    await transport.subscribe(channel);
    expect(told.refusals).toHaveLength(1);

    await admin.call("CLIENT", "KILL", "USER", name);

    await waitFor("the outage reported", () => told.downs.length > 0);
    await waitFor("the transport available again", () => transport.available && told.ups > 0, 5000);
    await waitFor("the refusal reported again", () => told.refusals.length >= 2, 5000);
    expect(told.refusals.every((error) => error.channel === channel)).toBe(true);
    expect(told.downs).toHaveLength(1);
  });
});

describe("RedisStorage with a user Redis refuses to subscribe", () => {
  it("calls work and share the circuit; another process's trip still arrives, by the periodic re-read", async () => {
    const prefix = uniquePrefix("test-refused");
    const { url } = await user(prefix, withoutSubscribe(prefix));
    const restricted = new HookRecorder();
    const mine = new AsyncCircuitBreakerFactory({
      storage: new RedisStorage({ url, prefix, resyncInterval: 0.2 }),
      defaultThreshold: 2,
      listeners: [restricted.hook],
    });
    const other = new AsyncCircuitBreakerFactory({
      storage: new RedisStorage({ url: REDIS_URL, prefix }),
      defaultThreshold: 2,
    });
    perTest.push(async () => {
      await mine.close();
      await other.close();
    });

    expect(await mine.run("payments", () => Promise.resolve(42))).toBe(42);
    for (let i = 0; i < 2; i++) await other.run("payments", () => Promise.reject(new Error("down"))).catch(() => 0);
    expect((await other.getBreaker("payments")).state).toBe("opened");

    const breaker = await mine.getBreaker("payments");
    await waitFor("the trip heard by the re-read", () => breaker.state === "opened", 3000);
    expect(restricted.of("storage_unavailable")).toEqual([]);
  });

  // Needs storage.ts to pass the transport's `refused` on as a `storage_error` (see the report).
  it("reports a storage_error naming the circuit's channel, and its calls still work", async () => {
    const prefix = uniquePrefix("test-refused");
    for (const rules of [withoutSubscribe(prefix), withoutChannels(prefix)]) {
      const { url } = await user(prefix, rules);
      const hooks = new HookRecorder();
      const storage = new RedisStorage({ url, prefix });
      const factory = new AsyncCircuitBreakerFactory({ storage, listeners: [hooks.hook] });
      perTest.push(() => factory.close());

      expect(await factory.run("payments", () => Promise.resolve(42))).toBe(42);

      const channel = storage.keys.channel("payments");
      const refusals = hooks
        .of("storage_error", "payments")
        .map(([, , event]) => ("error" in event ? event.error : undefined))
        .filter((error) => error instanceof SubscriptionRefusedError);
      expect(refusals.map((error) => error.channel)).toEqual([channel]);
      expect(String(refusals[0])).toContain(channel);
      expect(hooks.of("storage_unavailable")).toEqual([]);
      expect(await factory.run("payments", () => Promise.resolve(43))).toBe(43);
    }
  });
});
