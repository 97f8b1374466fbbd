/**
 * `RedisStorage` as a Redis user restricted by an ACL to the rule of docs/redis-setups.md (read
 * from the page, so that the page says what runs): a fleet of two storages does everything a fleet
 * does (trips heard by the other, a quorum, a probe, operators' actions, a new config, the
 * registry, `keyTtl`, scripts lost and sent again) with nothing denied in the server's `ACL LOG`,
 * once with the rule given by `ACL SETUSER` and once from an `aclfile`, over sharded and classic
 * pub/sub. Then users that each lack one permission: the storage must say what is missing with
 * the server's words, never fall back silently.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { Cluster, Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisConfigurationError,
  RedisStorage,
  type CircuitHookArgs,
  type RedisStorageOptions,
} from "../../../src/index.js";
import { aclDenials, allowedCommands, documentedAclRule, type AclDenial } from "../../support/redis-acl.js";
import { HookRecorder, sleep, uniquePrefix, waitFor } from "../../support/redis-helpers.js";
import { startRedisServer, type RedisServer } from "../../support/redis-server.js";

const PASSWORD = "acl-test-Secret";
const PREFIX = uniquePrefix("acl");
const SCRIPTS = new URL("../../../src/storage/redis/scripts/", import.meta.url);
const CLIENT_TS = new URL("../../../src/storage/redis/client/client.ts", import.meta.url);

let server: RedisServer;
let admin: Redis;
let aclDir: string;

beforeAll(async () => {
  // The user "purgatory" comes from an aclfile holding the page's aclfile line; other users are
  // made with ACL SETUSER as the tests go.
  aclDir = await mkdtemp(join(tmpdir(), "purgatory-acl-"));
  const aclfile = join(aclDir, "users.acl");
  const line = ["user", "purgatory", ...documentedAclRule("aclfile", { prefix: PREFIX, password: PASSWORD })];
  await writeFile(aclfile, `user default on nopass ~* &* +@all\n${line.join(" ")}\n`);
  server = await startRedisServer({ args: ["--aclfile", aclfile] });
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
  if (aclDir !== undefined) await rm(aclDir, { recursive: true, force: true });
});

const made: AsyncCircuitBreakerFactory[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((f) => f.close()));
});

/** `redis://user:password@...` of the server. */
const urlOf = (user: string): string => `redis://${user}:${PASSWORD}@127.0.0.1:${server.port}`;

/** Makes (or replaces) `user` with `rule`, and empties the ACL LOG. */
async function setUser(user: string, rule: readonly string[]): Promise<string> {
  await admin.call("ACL", "SETUSER", user, "reset", ...rule);
  await admin.call("ACL", "LOG", "RESET");
  return urlOf(user);
}

/** One process of the fleet: a factory over a RedisStorage of its own. */
interface Member {
  readonly factory: AsyncCircuitBreakerFactory;
  readonly storage: RedisStorage;
  readonly hooks: HookRecorder;
}

/** A member connected by `url`, or through a client (a `Cluster`) it is given. */
async function member(
  connection: string | Cluster,
  processName: string,
  options: Partial<RedisStorageOptions> = {},
): Promise<Member> {
  const hooks = new HookRecorder();
  const storage = new RedisStorage({
    ...(typeof connection === "string" ? { url: connection } : { client: connection }),
    prefix: PREFIX,
    processName,
    // Generous: a slow answer on a loaded machine must not pass for an outage here.
    commandTimeout: 2,
    flushInterval: 0.02,
    healthCheckInterval: 0.05,
    ...options,
  });
  const factory = new AsyncCircuitBreakerFactory({ storage, listeners: [hooks.hook] });
  made.push(factory);
  await factory.initialize();
  return { factory, storage, hooks };
}

/** The storage events a member's hooks saw: `type circuit: message`. */
function storageEvents(m: Member): string[] {
  return m.hooks.calls.flatMap(([name, type, event]: CircuitHookArgs) => {
    if (type !== "storage_error" && type !== "storage_unavailable") return [];
    const error = (event as { error?: unknown }).error;
    return [`${type} ${name}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`];
  });
}

/** The errors (not their words) of a member's storage events. */
function storageErrors(m: Member): unknown[] {
  return m.hooks.calls.flatMap(([, type, event]: CircuitHookArgs) =>
    type === "storage_error" || type === "storage_unavailable" ? [(event as { error?: unknown }).error] : [],
  );
}

/** Waits until a member reports a storage event whose words match `words`; returns them. */
function reported(m: Member, words: RegExp, timeoutMs = 3000): Promise<string> {
  return waitFor(
    `a storage event matching ${String(words)}`,
    () => storageEvents(m).find((e) => words.test(e)),
    timeoutMs,
  );
}

const fail = (): Promise<never> => Promise.reject(new Error("dependency down"));
const ok = async (): Promise<string> => "ok";

const denied = (denials: readonly AclDenial[]): string[] =>
  denials.map((d) => `${d.reason} ${d.context} ${d.object} (user ${d.username}, ${d.count}x)`);

describe("the documented rule", () => {
  it("allows every command the Lua scripts call and every command the storage's client sends", async () => {
    const rule = documentedAclRule("setuser", { prefix: PREFIX, password: PASSWORD });
    const allowed = allowedCommands(rule);
    // The scripts: every redis.call('X' / redis.pcall('X', and the publish command they are given.
    const { readdir } = await import("node:fs/promises");
    const fromScripts = new Set<string>(["spublish", "publish"]);
    for (const file of await readdir(SCRIPTS)) {
      const source = await readFile(new URL(file, SCRIPTS), "utf8");
      for (const match of source.matchAll(/redis\.p?call\(\s*'([A-Za-z]+)'/g)) fromScripts.add(match[1]!.toLowerCase());
    }
    expect([...fromScripts].filter((c) => !allowed.has(c))).toEqual([]);
    // The storage's client: each method of the RedisClient interface that is a Redis command.
    const source = await readFile(CLIENT_TS, "utf8");
    const body = /export interface RedisClient \{([\s\S]*?)\n\}/.exec(source)?.[1] ?? "";
    const methods = [...body.matchAll(/^\s{2}([a-z]+)\??\(/gm)].map((m) => m[1]!);
    expect(methods.length).toBeGreaterThan(10);
    const NOT_COMMANDS = new Set(["duplicate", "connect", "disconnect", "on", "once", "removeListener", "nodes"]);
    const AS_COMMAND: Record<string, string> = { script: "script|load", quit: "quit" };
    const needed = methods.filter((m) => !NOT_COMMANDS.has(m)).map((m) => AS_COMMAND[m] ?? m);
    // QUIT needs no permission (the connection ends either way).
    expect(needed.filter((c) => c !== "quit" && !allowed.has(c))).toEqual([]);
  });

  it("reads the same in its ACL SETUSER and aclfile forms", () => {
    const options = { prefix: PREFIX, password: PASSWORD };
    expect(documentedAclRule("aclfile", options)).toEqual(documentedAclRule("setuser", options));
    expect(documentedAclRule("setuser", options)).toContain(`~${PREFIX}:*`);
    expect(documentedAclRule("setuser", options)).toContain(`&${PREFIX}:*`);
  });
});

describe.each([
  { pubsub: "auto" as const, form: "aclfile" as const, label: "sharded pub/sub, user from an aclfile" },
  { pubsub: "classic" as const, form: "setuser" as const, label: "classic pub/sub, user from ACL SETUSER" },
])("a fleet of two as a user restricted to the documented rule ($label)", ({ pubsub, form }) => {
  it("registers, trips, hears, probes, obeys operators, keeps a quorum and lists its circuits, with nothing denied", async () => {
    const user = `purgatory-${pubsub}`;
    const url =
      form === "aclfile"
        ? urlOf("purgatory")
        : await setUser(user, documentedAclRule("setuser", { prefix: PREFIX, password: PASSWORD }));
    await admin.call("ACL", "LOG", "RESET");
    await admin.call("SCRIPT", "FLUSH");
    const options = { pubsub, keyTtl: 600 } as const;
    const a = await member(url, "web-a", options);
    const b = await member(url, "web-b", options);
    expect(a.storage.available && b.storage.available).toBe(true);
    const circuit = `payments-${pubsub}`;

    // A trip in one process reaches the other.
    const payA = await a.factory.getBreaker(circuit, { threshold: 2, ttl: 0.3 });
    const payB = await b.factory.getBreaker(circuit);
    for (let i = 0; i < 2; i++) await payA.run(fail).catch(() => undefined);
    expect(payA.state).toBe("opened");
    await waitFor("B hears A's trip", () => b.hooks.states(circuit).includes("opened (remote)"));
    await expect(payB.run(ok)).rejects.toBeInstanceOf(CircuitOpenError);

    // A probe after the ttl closes it for both.
    await sleep(350);
    await expect(payA.run(ok)).resolves.toBe("ok");
    expect(payA.state).toBe("closed");
    await waitFor("B hears the probe's close", () => payB.state === "closed");

    // Operators' actions and a new config, after the server lost its scripts (EVAL sends them again).
    await admin.call("SCRIPT", "FLUSH");
    await payA.isolate();
    await waitFor("B hears the isolation", () => payB.state === "isolated");
    await payA.reset();
    await waitFor("B hears the reset", () => payB.state === "closed");
    await a.factory.reconfigure(circuit, { threshold: 7 });
    await waitFor("B takes the new config", () => payB.threshold === 7);

    // A rate window, handed over to Redis and opening the circuit for both.
    const rated = `rated-${pubsub}`;
    const rateA = await a.factory.getBreaker(rated, {
      threshold: 100,
      failureRate: { rate: 0.5, minimumCalls: 4, window: 10 },
    });
    const rateB = await b.factory.getBreaker(rated);
    await rateB.run(ok);
    await rateB.run(ok);
    await sleep(60);
    await rateA.run(fail).catch(() => undefined);
    await rateA.run(fail).catch(() => undefined);
    await waitFor(
      "the rate window opens the circuit for both",
      () => rateA.state === "opened" && rateB.state === "opened",
    );

    // A quorum of two: one process's failures open it for that process alone; the second's, for the fleet.
    const quorum = `quorum-${pubsub}`;
    const qA = await a.factory.getBreaker(quorum, { threshold: 2, quorum: 2 });
    const qB = await b.factory.getBreaker(quorum, { threshold: 2, quorum: 2 });
    await qA.run(ok);
    await qB.run(ok);
    await waitFor("both are active callers", async () => {
      const [info] = await a.storage.inspect([quorum]);
      return info?.quorum?.activeCallers.length === 2;
    });
    for (let i = 0; i < 2; i++) await qA.run(fail).catch(() => undefined);
    await expect(qA.run(ok)).rejects.toMatchObject({ scope: "process" });
    await expect(qB.run(ok)).resolves.toBe("ok");
    for (let i = 0; i < 2; i++) await qB.run(fail).catch(() => undefined);
    await waitFor("the fleet opens on the second process's failures", async () => {
      const [info] = await a.storage.inspect([quorum]);
      return info?.state === "opened";
    });
    await expect(qB.run(ok)).rejects.toMatchObject({ scope: "fleet" });
    await waitFor("A hears the fleet's opening", () => a.hooks.states(quorum).includes("opened (remote)"));

    // Operators' reads, and the registry's upkeep.
    const infos = await b.storage.inspect();
    const ours = infos.map((i) => i.name).filter((name) => name.endsWith(`-${pubsub}`));
    expect(ours.sort()).toEqual([circuit, quorum, rated].sort());
    expect(infos.find((i) => i.name === quorum)?.quorum?.activeCallers).toEqual(["web-a", "web-b"]);
    await b.factory.forget(rated);
    await admin.del(b.storage.keys.circuit(rated));
    expect(await b.storage.pruneRegistry()).toEqual([rated]);

    expect([...storageEvents(a), ...storageEvents(b)]).toEqual([]);
    await Promise.all(made.splice(0).map((f) => f.close()));
    // Nothing denied, the optional commands (SCRIPT LOAD) included, up to the goodbye.
    expect(denied(await aclDenials(admin))).toEqual([]);
  });
});

describe("over a Redis Cluster, as a user with the documented rule and its Cluster additions", () => {
  it("a fleet of two hears each other's trips on every master, with nothing denied on any node", async () => {
    const nodes = inject("redisClusterNodes");
    const user = `purgatory-cluster-${randomUUID()}`;
    const prefix = uniquePrefix("acl-cluster");
    const rule = [
      ...documentedAclRule("setuser", { prefix, password: PASSWORD }),
      ...documentedAclRule("cluster", { prefix, password: PASSWORD }),
    ];
    const admins = nodes.map((n) => new Redis(n.port, n.host, { maxRetriesPerRequest: 1 }));
    const clients: Cluster[] = [];
    try {
      for (const node of admins) await node.call("ACL", "SETUSER", user, "reset", ...rule);
      const fleet: Member[] = [];
      for (const name of ["a", "b"]) {
        const client = new Cluster(nodes, {
          redisOptions: { username: user, password: PASSWORD },
          enableOfflineQueue: false,
        });
        clients.push(client);
        fleet.push(await member(client, name, { prefix }));
      }
      const [a, b] = fleet as [Member, Member];
      // Names in several slots, so on several masters.
      for (const circuit of ["alpha", "bravo", "charlie", "delta"]) {
        const breakerA = await a.factory.getBreaker(circuit, { threshold: 2 });
        await b.factory.getBreaker(circuit);
        for (let i = 0; i < 2; i++) await breakerA.run(fail).catch(() => undefined);
        await waitFor(`B hears A's trip of ${circuit}`, () => b.hooks.states(circuit).includes("opened (remote)"));
      }
      expect((await a.storage.inspect()).map((c) => c.state)).toEqual(["opened", "opened", "opened", "opened"]);
      expect([...storageEvents(a), ...storageEvents(b)]).toEqual([]);
      await Promise.all(made.splice(0).map((f) => f.close()));
      for (const node of admins) {
        const ours = (await aclDenials(node)).filter((d) => d.username === user);
        expect(denied(ours)).toEqual([]);
      }
    } finally {
      await Promise.all(made.splice(0).map((f) => f.close()));
      for (const client of clients) client.disconnect();
      for (const node of admins) {
        await node.call("ACL", "DELUSER", user).catch(() => undefined);
        node.disconnect();
      }
    }
  });
});

describe("a user that lacks one permission is told what is missing", () => {
  const rule = () => documentedAclRule("setuser", { prefix: PREFIX, password: PASSWORD });
  const without = (...words: string[]) => rule().filter((w) => !words.includes(w));
  let users = 0;
  /** A user with `words` of the rule taken out (and `extra` added); its URL. */
  const lacking = (words: string[], extra: string[] = []) =>
    setUser(`lacking-${++users}`, [...without(...words), ...extra]);

  it("EVALSHA: storage_error with the server's NOPERM words", async () => {
    const m = await member(await lacking(["+evalsha"]), "p");
    await m.factory.getBreaker("evalsha-circuit");
    expect(await reported(m, /^storage_error evalsha-circuit: .*NOPERM .*'evalsha'/)).toBeTruthy();
  });

  it("EVAL: storage_error once the server has lost its scripts", async () => {
    const m = await member(await lacking(["+eval"]), "p");
    const breaker = await m.factory.getBreaker("eval-circuit");
    expect(storageEvents(m)).toEqual([]);
    await admin.call("SCRIPT", "FLUSH");
    await breaker.run(fail).catch(() => undefined);
    expect(await reported(m, /^storage_error eval-circuit: .*NOPERM .*'eval'/)).toBeTruthy();
  });

  it("a command only the scripts call (TIME): storage_error, and the ACL LOG names it", async () => {
    const m = await member(await lacking(["+time"]), "p");
    await m.factory.getBreaker("time-circuit");
    // Redis 7.0 names the script's line, not the command; its ACL LOG names the command.
    expect(await reported(m, /^storage_error time-circuit: .*can't run this command/)).toBeTruthy();
    expect(denied(await aclDenials(admin))).toContainEqual(expect.stringMatching(/^command lua time /));
  });

  it("the keys: storage_error with NOPERM", async () => {
    const m = await member(await lacking([`~${PREFIX}:*`], ["~elsewhere:*"]), "p");
    await m.factory.getBreaker("keys-circuit");
    expect(await reported(m, /^storage_error keys-circuit: .*NOPERM .*keys/)).toBeTruthy();
  });

  it("INFO: storage_unavailable with NOPERM 'info', and the storage stays unavailable", async () => {
    const m = await member(await lacking(["+info"]), "p");
    expect(await reported(m, /^storage_unavailable \*: .*NOPERM .*'info'/)).toBeTruthy();
    await sleep(200);
    expect(m.storage.available).toBe(false);
  });

  it("the channels, for a process that publishes: storage_error naming the channel", async () => {
    const m = await member(await lacking([`&${PREFIX}:*`], ["&elsewhere:*"]), "p");
    await m.factory.getBreaker("channel-circuit");
    expect(await reported(m, /^storage_error channel-circuit: .*can't publish to the channel/)).toBeTruthy();
  });

  it("the channels, for a process that only listens: its refused SSUBSCRIBE is reported", async () => {
    // The circuit exists already: registering it publishes nothing, it only subscribes.
    const full = await member(await setUser("full", rule()), "full");
    await full.factory.getBreaker("listening-circuit");
    const m = await member(await lacking([`&${PREFIX}:*`], ["&elsewhere:*"]), "p");
    await m.factory.getBreaker("listening-circuit");
    expect(denied(await aclDenials(admin))).toContainEqual(expect.stringMatching(/^channel toplevel /));
    // Today nothing is reported: the process never hears the fleet and never says so.
    expect(
      await reported(
        m,
        /(NOPERM|channel).*events:\{listening-circuit\}|events:\{listening-circuit\}.*(NOPERM|channel)/,
        1500,
      ),
    ).toBeTruthy();
  });

  it("SSUBSCRIBE: a refused subscription is reported", async () => {
    const full = await member(await setUser("full", rule()), "full");
    await full.factory.getBreaker("ssubscribe-circuit");
    const m = await member(await lacking(["+ssubscribe"]), "p");
    await m.factory.getBreaker("ssubscribe-circuit");
    expect(denied(await aclDenials(admin))).toContainEqual(expect.stringMatching(/^command toplevel ssubscribe /));
    expect(await reported(m, /NOPERM .*'ssubscribe'/, 1500)).toBeTruthy();
  });

  it("PING: after a disconnection, the refused health check is reported (RedisConfigurationError)", async () => {
    const m = await member(await lacking(["+ping"]), "p");
    await m.factory.getBreaker("ping-circuit");
    expect(m.storage.available).toBe(true);
    await admin.call("CLIENT", "KILL", "USER", `lacking-${users}`);
    await waitFor("the outage", () => !m.storage.available);
    await sleep(500);
    expect(denied(await aclDenials(admin))).toContainEqual(expect.stringMatching(/^command toplevel ping /));
    // Today: only "the connection to Redis closed", and the storage stays unavailable for good.
    expect(storageErrors(m).some((e) => e instanceof RedisConfigurationError && /'ping'/.test(e.message))).toBe(true);
  });

  it("ZADD: a registry that cannot be written is reported", async () => {
    const m = await member(await lacking(["+zadd"]), "p");
    await m.factory.getBreaker("zadd-circuit");
    await waitFor("the refused ZADD", async () =>
      denied(await aclDenials(admin)).some((d) => d.startsWith("command toplevel zadd ")),
    );
    // Today nothing is reported: operators' tools list no circuit.
    expect(await reported(m, /NOPERM .*'zadd'/, 1500)).toBeTruthy();
  });

  it("an operator's action refused by Redis rejects with the server's words, not 'Redis is unavailable'", async () => {
    const full = await member(await setUser("full", rule()), "full");
    await full.factory.getBreaker("control-circuit");
    const m = await member(await lacking(["+evalsha", "+eval"]), "p");
    const breaker = await m.factory.getBreaker("control-circuit");
    expect(m.storage.available).toBe(true);
    // Today: "Redis is unavailable: cannot isolate circuit control-circuit fleet-wide".
    await expect(breaker.isolate()).rejects.toThrow(/NOPERM/);
  });
});
