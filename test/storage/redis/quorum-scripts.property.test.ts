/**
 * Differential test of the quorum in the Lua scripts, driving them directly on a real Redis:
 * random sequences of successes, failures and hand-overs (some with failures a window counted) from
 * five named processes (some saying they are open for themselves, or closed again), each reply
 * checked against a reference written here: which processes are active callers, which back the
 * current streak (reporters since the failure that started it, and processes open for themselves,
 * each once; a window's hand-over backs the window, not the streak), the effective quorum of
 * `core/quorum`, and whether the circuit opened for the fleet. The core's state machine itself is
 * held to the scripts by `scripts.property.test.ts`; this file holds the quorum's bookkeeping.
 */
import fc from "fast-check";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CircuitConfig, QuorumPolicy } from "../../../src/core/circuit.js";
import { effectiveQuorum } from "../../../src/core/quorum.js";
import { encodeConfig, parseReply, type ScriptReply } from "../../../src/storage/redis/codec.js";
import { redisKeys, type RedisKeys } from "../../../src/storage/redis/keys.js";
import { runScript, type ScriptName } from "../../../src/storage/redis/scripts.js";
import { deleteKeys, inspector, uniquePrefix } from "../../support/redis-helpers.js";

const PROCESSES = ["web-0:10", "web-1:11", "web-2:12", "web-3:13", "web-4:14"];
const HORIZON_MS = 60_000;

/** What a process says of its own opening (ARGV[13]). */
type Own = "" | "open" | "open-now" | "closed";

interface Op {
  readonly script: Extract<ScriptName, "success" | "failure" | "flush">;
  readonly proc: number;
  readonly own: Own;
  /** A flush that hands over a failure its window counted (on a circuit with a window). */
  readonly failed?: boolean;
}

/** The reference: what Redis should hold for the circuit, in the scripts' own terms. */
interface Model {
  state: "closed" | "opened";
  f: number;
  /** The version of the failure that started the streak (0: none). */
  fs: number;
  readonly callers: Set<string>;
  /** Process -> version of its latest failure. */
  readonly reporters: Map<string, number>;
  readonly local: Set<string>;
}

let redis: Redis;
let keys: RedisKeys;
let prefix = "";

beforeAll(() => {
  redis = inspector();
  prefix = uniquePrefix("test-quorum-scripts");
  keys = redisKeys(prefix);
});
afterAll(async () => {
  await deleteKeys(redis, prefix);
  await redis.quit();
});

const ownArgument = (own: Own): string =>
  own === "open" ? "30000" : own === "open-now" ? "+30000" : own === "closed" ? "-1" : "";

async function run(name: string, config: CircuitConfig, op: Op, handOver = ""): Promise<ScriptReply> {
  const raw = await runScript(redis, op.script, keys.scriptKeys(name), [
    keys.channel(name),
    0,
    encodeConfig(config),
    "",
    -1,
    "test",
    name,
    "PUBLISH",
    handOver,
    "",
    PROCESSES[op.proc] as string,
    HORIZON_MS,
    ownArgument(op.own),
    "",
  ]);
  return parseReply(raw);
}

/**
 * What the reference expects of `op` on `m` (mutated), given the version the script wrote: whether
 * it opened the circuit, and the effective quorum and backers the reply counts (as the trip was
 * decided when the failure met the threshold, else as they stand after the script).
 */
function apply(
  m: Model,
  config: CircuitConfig,
  op: Op,
  version: number,
): { opened: boolean; need: number; backers: number } {
  const who = PROCESSES[op.proc] as string;
  const windowed = config.failureRate !== undefined;
  m.callers.add(who);
  if (m.state === "closed" && op.script === "flush" && op.failed === true && windowed) {
    // It backs the window, not the streak: dated before the streak began, if one runs.
    const at = m.fs > 0 ? Math.min(version, m.fs - 1) : version;
    if ((m.reporters.get(who) ?? -1) < at) m.reporters.set(who, at);
  }
  const need = effectiveQuorum(config.quorum, m.callers.size);
  let opened = false;
  let decided: number | null = null;
  if (m.state === "closed" && op.script === "failure") {
    m.f += 1;
    if (m.f === 1 || m.fs === 0) m.fs = version;
    m.reporters.set(who, version);
    if (m.f >= config.threshold) {
      decided = backersOf(m);
      if (decided >= need) {
        m.state = "opened";
        m.fs = 0;
        m.reporters.clear();
        opened = true;
      }
    }
  } else if (m.state === "closed" && op.script === "success" && m.f > 0) {
    m.f = 0;
    m.fs = 0;
    // Those of the window (all of them, in a run this short) stay.
    if (!windowed) m.reporters.clear();
  }
  if (op.own === "closed" || (op.own === "open-now" && opened)) m.local.delete(who);
  else if (op.own === "open" || op.own === "open-now") m.local.add(who);
  return { opened, need, backers: decided ?? Math.max(backersOf(m), windowed ? windowBackersOf(m) : 0) };
}

/** The distinct processes behind the window (every reporter, in a run this short) and those open for themselves. */
function windowBackersOf(m: Model): number {
  return new Set([...m.reporters.keys(), ...m.local]).size;
}

/** The distinct processes behind the streak: reporters since it started, and those open for themselves. */
function backersOf(m: Model): number {
  const streak = [...m.reporters].filter(([, at]) => m.fs > 0 && at >= m.fs).map(([who]) => who);
  return new Set([...streak, ...m.local]).size;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  script: fc.constantFrom<Op["script"]>("failure", "failure", "failure", "success", "flush", "flush"),
  proc: fc.integer({ min: 0, max: PROCESSES.length - 1 }),
  own: fc.constantFrom<Own>("", "", "", "open", "open-now", "closed"),
  failed: fc.boolean(),
});

const quorumArb: fc.Arbitrary<QuorumPolicy> = fc.oneof(
  fc.integer({ min: 2, max: 4 }).map((processes) => ({ processes })),
  fc.record({ processes: fc.integer({ min: 1, max: 3 }), fraction: fc.constantFrom(0.25, 0.3, 0.5, 1) }).map((q) => q),
);

let circuits = 0;
const seen = new Map<string, number>();
const see = (corner: string) => seen.set(corner, (seen.get(corner) ?? 0) + 1);

/** A window hand-over of one failed call in the current bucket of a `windowMs` window, at Redis time. */
async function oneFailureInWindow(windowMs: number): Promise<string> {
  const [seconds, micros] = await redis.time();
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const width = windowMs / 10;
  return `${Math.floor(now / width) * width}:1:1:0`;
}

describe("the quorum in the scripts, against a reference", () => {
  it("does not count a process that hands over window failures in the middle of a streak as a backer of that streak", async () => {
    // A process hands over failures its window counted (while Redis was away, or a zombie probe's
    // that Redis ignored) while another process's streak runs: they are not failures of the streak,
    // so the streak still has one process behind it and a quorum of 2 keeps the circuit closed.
    const name = `circuit-${++circuits}`;
    const config: CircuitConfig = {
      threshold: 2,
      ttl: 30,
      halfOpenMaxCalls: 1,
      quorum: { processes: 2 },
      failureRate: { rate: 1, minimumCalls: 100, window: 60 },
    };
    await run(name, config, { script: "failure", proc: 0, own: "" }, await oneFailureInWindow(60_000));
    const handOver = await run(name, config, { script: "flush", proc: 1, own: "" }, await oneFailureInWindow(60_000));
    expect(handOver.quorum?.reporters, "the window's backers count the hand-over").toBe(2);
    const second = await run(name, config, { script: "failure", proc: 0, own: "" }, await oneFailureInWindow(60_000));
    expect(second.after.snapshot.failureCount).toBe(2);
    expect(second.quorum, "the streak's backers: the failing process alone").toMatchObject({ reporters: 1, need: 2 });
    expect(second.after.snapshot.state).toBe("closed");
  });

  it("counts callers, backers and the effective quorum as the reference, and opens exactly when they meet", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        quorumArb,
        fc.boolean(),
        fc.array(opArb, { minLength: 1, maxLength: 30 }),
        async (threshold, quorum, windowed, ops) => {
          const name = `circuit-${++circuits}`;
          // A window that never trips by its rate: its hand-overs report failures all the same.
          const config: CircuitConfig = {
            threshold,
            ttl: 30,
            halfOpenMaxCalls: 1,
            quorum,
            ...(windowed ? { failureRate: { rate: 1, minimumCalls: 10_000, window: 60 } } : {}),
          };
          const m: Model = { state: "closed", f: 0, fs: 0, callers: new Set(), reporters: new Map(), local: new Set() };
          for (const [step, op] of ops.entries()) {
            const handOver = op.script === "flush" && op.failed === true ? await oneFailureInWindow(60_000) : "";
            const reply = await run(name, config, op, handOver);
            const where = `step ${step} ${JSON.stringify(op)} (threshold ${threshold}, quorum ${JSON.stringify(quorum)})`;
            const before = { ...m, callers: new Set(m.callers), local: new Set(m.local) };
            const expected = apply(m, config, op, reply.after.version);
            expect(reply.after.snapshot.state, `${where}: state`).toBe(m.state);
            expect(reply.after.snapshot.failureCount, `${where}: failures`).toBe(m.f);
            const q = reply.quorum;
            expect(q, `${where}: a reply with a quorum says what it counted`).not.toBeNull();
            expect(q?.callers, `${where}: active callers`).toBe(m.callers.size);
            expect(q?.need, `${where}: effective quorum`).toBe(expected.need);
            expect(q?.reporters, `${where}: backers`).toBe(expected.backers);
            expect(q?.met, `${where}: met`).toBe(expected.backers >= expected.need);
            const local = await redis.zrange(keys.scriptKeys(name)[3], 0, -1);
            expect(new Set(local), `${where}: processes open for themselves`).toEqual(m.local);
            if (expected.opened) see(before.local.size > 0 ? "opened with a process open for itself" : "opened");
            else if (op.script === "failure" && before.state === "closed" && m.f >= threshold)
              see("streak past the threshold, quorum not met");
            if (op.own === "open-now" && expected.opened) see("own opening dropped for the fleet's");
            if (handOver !== "" && windowed && before.f > 0 && before.state === "closed")
              see("window hand-over during a streak");
            if (m.state === "opened") break;
          }
        },
      ),
      { numRuns: 150 },
    );
    expect([...seen.keys()].sort()).toEqual(
      [
        "opened",
        "opened with a process open for itself",
        "own opening dropped for the fleet's",
        "streak past the threshold, quorum not met",
        "window hand-over during a streak",
      ].sort(),
    );
  }, 120_000);
});
