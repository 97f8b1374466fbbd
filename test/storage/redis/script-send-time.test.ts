/**
 * The moment a script is sent, as the transport tells it (`script(..., sent)`): the local time the
 * storage pairs with the Redis time of the reply to estimate the clock offset ("Redis TIME when a
 * script ran, minus the local time it was sent", docs/fleet-protocol.md). It is the moment the
 * command that ran is handed to the client, which writes it to the socket at once: after a
 * NOSCRIPT, the EVAL a round trip later, not the caller's `now` nor the first EVALSHA.
 */
import { describe, expect, it } from "vitest";
import { toRedisSettings, type RedisClient } from "../../../src/storage/redis/options.js";
import { RedisTransport, type TransportListener } from "../../../src/storage/redis/transport.js";
import { sleep } from "../../support/redis-helpers.js";

/** What happened, in order: "sent" (the transport's callback) and the commands the client got. */
type Log = string[];

/**
 * A client that is ready at once and answers each EVALSHA with `evalshaReply` (a NOSCRIPT error,
 * or a value) and each EVAL with "ran", after `delayMs`.
 */
function fakeClient(log: Log, evalshaReply: "NOSCRIPT" | "ran", delayMs = 20): RedisClient {
  const answer = (value: unknown) => sleep(delayMs).then(() => value);
  const client = {
    status: "ready",
    evalsha: (...args: unknown[]) => {
      log.push(`evalsha ${String(args[0]).slice(0, 8)}`);
      if (evalshaReply === "ran") return answer("ran");
      return sleep(delayMs).then(() => {
        throw Object.assign(new Error("NOSCRIPT No matching script."), { name: "ReplyError" });
      });
    },
    eval: () => {
      log.push("eval");
      return answer("ran");
    },
    info: () => Promise.resolve("redis_version:7.2.0"),
    ping: () => Promise.resolve("PONG"),
    subscribe: () => Promise.resolve(0),
    unsubscribe: () => Promise.resolve(0),
    ssubscribe: () => Promise.resolve(0),
    sunsubscribe: () => Promise.resolve(0),
    duplicate: () => fakeClient(log, evalshaReply, delayMs),
    connect: () => Promise.resolve(),
    quit: () => Promise.resolve("OK"),
    disconnect: () => undefined,
    on: () => client,
    once: () => client,
    removeListener: () => client,
  };
  return client as unknown as RedisClient;
}

const listener: TransportListener = {
  message: () => undefined,
  down: () => undefined,
  up: () => undefined,
  resubscribed: () => undefined,
};

async function transportOn(client: RedisClient): Promise<RedisTransport> {
  const transport = new RedisTransport(toRedisSettings({ client, prefix: "test-sent", commandTimeout: 1 }), listener);
  await transport.start();
  expect(transport.available).toBe(true);
  return transport;
}

describe("RedisTransport.script tells when the script was sent", () => {
  it("once, as the EVALSHA is handed to the client, when the server has the script", async () => {
    const log: Log = [];
    const transport = await transportOn(fakeClient(log, "ran"));
    log.length = 0;

    const reply = await transport.script("read", ["k"], [], () => log.push("sent"));

    expect(reply).toBe("ran");
    expect(log).toEqual(["sent", expect.stringMatching(/^evalsha /)]);
    await transport.close();
  });

  it("again as the EVAL is handed over after a NOSCRIPT answer: the last call dates the script that ran", async () => {
    const log: Log = [];
    const transport = await transportOn(fakeClient(log, "NOSCRIPT", 30));
    log.length = 0;
    const times: number[] = [];

    const reply = await transport.script("read", ["k"], [], () => {
      log.push("sent");
      times.push(performance.now());
    });

    expect(reply).toBe("ran");
    expect(log).toEqual(["sent", expect.stringMatching(/^evalsha /), "sent", "eval"]);
    // The EVAL went a round trip (the NOSCRIPT answer, 30 ms here) after the EVALSHA.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(25);
    await transport.close();
  });

  it("never, for a script not sent because Redis is unavailable", async () => {
    const log: Log = [];
    const transport = new RedisTransport(toRedisSettings({ client: fakeClient(log, "ran") }), listener);

    await expect(transport.script("read", ["k"], [], () => log.push("sent"))).rejects.toThrow("Redis is unavailable");
    expect(log).toEqual([]);
  });
});
