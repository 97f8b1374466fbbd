/**
 * The operators' `Fleet` (what the CLI and the dashboard act through) never creates a circuit: an
 * action or a config change on a circuit deleted while it acts does nothing, rather than write it
 * anew with default settings (checking that it exists and then acting, as before, left a window
 * where a deletion was undone). Raced many times against a real Redis.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncCircuitBreakerFactory, RedisStorage } from "../../src/index.js";
import { Fleet } from "../../src/fleet/fleet.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";

let server: RedisServer;
let admin: Redis;
let holder: AsyncCircuitBreakerFactory;
let reader: RedisStorage;
let fleet: Fleet;
const prefix = "atomic";

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
  holder = new AsyncCircuitBreakerFactory({
    storage: new RedisStorage({ url: server.url, prefix, resyncInterval: 3600 }),
    defaultThreshold: 7,
  });
  reader = new RedisStorage({ url: server.url, prefix });
  await holder.initialize();
  fleet = await Fleet.connect({ url: server.url, prefix });
}, 30_000);

afterAll(async () => {
  await fleet?.close();
  await holder?.close();
  await reader?.close();
  admin?.disconnect();
  await server?.stop();
});

describe("an operator's action on a circuit deleted meanwhile", () => {
  it.each([
    ["isolate", (name: string) => fleet.control(name, "isolate")],
    ["configure", (name: string) => fleet.configure(name, { ttl: 9 })],
  ])(
    "%s never writes it anew (200 races)",
    async (_what, act) => {
      let recreated = 0;
      for (let i = 0; i < 200; i++) {
        const name = `race-${_what}-${i}`;
        await holder.getBreaker(name);
        const [held] = await reader.inspect([name]);
        // The holder forgets it: nothing but the operator's tool could write it again.
        await holder.forget(name);
        const acting = act(name).catch((error: unknown) => error);
        // Deleted at some point while the tool acts (before it looks, in between, or after).
        await new Promise((r) => setTimeout(r, i % 4));
        await admin.del(`${prefix}:circuit:{${name}}`);
        const outcome = await acting;
        if (outcome instanceof Error) expect(outcome.message).toMatch(/^no circuit named "race-/);
        const [after] = await reader.inspect([name]);
        if (after !== undefined && after.incarnation !== held?.incarnation) recreated += 1;
      }
      expect(recreated).toBe(0);
    },
    60_000,
  );
});
