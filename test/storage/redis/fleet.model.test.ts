/**
 * Model-based test of the fleet protocol (docs/fleet-protocol.md): fast-check commands drive
 * three `RedisStorage` instances ("processes", each behind a TCP proxy of its own) on one real
 * throw-away redis-server through calls, outcomes, time, lost keys, FLUSHALL, a restart without
 * data, a hung server, killed subscribers and partitions. Commands run one at a time; around each
 * one the test reads the circuit's hash and checks the rules against a reference written here:
 *
 * - an outcome changes Redis exactly as the state machine says when its token is current (the
 *   current generation of a closed circuit, or a live probe lease, in the current incarnation),
 *   and not at all otherwise: a stale, zombie, partitioned or local-epoch outcome decides nothing;
 * - at most `halfOpenMaxCalls` probes admitted through Redis hold a live lease, fleet-wide;
 * - after a partition heals, the process's local trip is pushed only if the shared state has not
 *   moved since, and an outage policy's state is never written;
 * - after every command, every connected replica agrees with Redis within ttl + one resync;
 * - no storage error and no unhandled rejection, ever;
 * - with a quorum of 2 (some runs): a closed circuit opens on a failure exactly when the distinct
 *   processes behind its streak (those whose failures the test saw counted since the streak began,
 *   the failing one, and those Redis lists as open for themselves) reach the effective quorum of
 *   the callers Redis knows; a process open for itself never takes a probe lease of the fleet's,
 *   and its own probes reach Redis as outcomes that count only on a closed circuit.
 *
 * `FLEET_MODEL_RUNS` sets the number of runs (default 16, about 20 s); `FLEET_MODEL_CORNERS=1`
 * prints how often each corner (a stale call, a zombie probe, a pushed trip...) was reached;
 * `FLEET_MODEL_SEED` and `FLEET_MODEL_PATH` replay a failure fast-check reported (its seed and path).
 */
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  RedisStorage,
  type AsyncCircuitBreaker,
  type StorageErrorPolicy,
} from "../../../src/index.js";
import { effectiveQuorum } from "../../../src/core/quorum.js";
import { HookRecorder, sleep, uniquePrefix, waitFor } from "../../support/redis-helpers.js";
import { startProxy, type RedisProxy } from "../../support/redis-proxy.js";
import type { RedisServer } from "../../support/redis-server.js";
import { useThrowawayRedis } from "../../support/throwaway-redis.js";

const TTL_MS = 250;
const THRESHOLD = 2;
const RESYNC_MS = 250;
/** Lease expiries this close to Redis's time when a script ran are ambiguous: either is fine. */
const MARGIN_MS = 40;
/** "Within ttl + one resync interval", plus room for a loaded machine. */
const CONVERGE_MS = TTL_MS + RESYNC_MS * 1.5 + 2_500;
const RUNS = Number(process.env.FLEET_MODEL_RUNS ?? 16);
/** A reported failure to replay (`FLEET_MODEL_SEED`, `FLEET_MODEL_PATH`), else nothing. */
const replay: Partial<fc.Parameters<unknown>> =
  process.env.FLEET_MODEL_SEED === undefined
    ? {}
    : {
        seed: Number(process.env.FLEET_MODEL_SEED),
        numRuns: 1,
        ...(process.env.FLEET_MODEL_PATH === undefined ? {} : { path: process.env.FLEET_MODEL_PATH }),
      };

/** The circuit's hash, as the test reads it. `null`: no key. */
interface Shared {
  readonly i: string;
  readonly st: string;
  readonly g: number;
  readonly f: number;
  readonly leases: readonly { token: number; expiry: number }[];
}

interface Token {
  readonly i: string;
  readonly g: number;
}

/** One guarded call in flight: admitted, waiting for the test to settle it. */
interface Call {
  readonly id: number;
  readonly proc: number;
  /**
   * - `run`/`probe`: admitted through a synced replica, with the token read from Redis;
   * - `shared-closed`: admitted while disconnected, on the closed view of the last shared state;
   * - `local`: admitted in a local epoch (its outcome must never reach Redis);
   * - `own`: a probe of the circuit a process open for itself keeps (quorum): its outcome reaches
   *   Redis as a placeholder's, which counts only on a closed circuit.
   */
  readonly kind: "run" | "probe" | "shared-closed" | "local" | "own";
  readonly token: Token | null;
  /** The process's `breaks` when the call was admitted. */
  readonly breaks: number;
  /** The run's `faults`, and the process's `storage_unavailable` events, when the call was admitted. */
  readonly faults: number;
  readonly outages: number;
  /** Redis time of the admission, ms. */
  readonly admittedAt: number;
  settle(outcome: "success" | "failure"): void;
  readonly done: Promise<void>;
}

interface Proc {
  readonly factory: AsyncCircuitBreakerFactory;
  readonly storage: RedisStorage;
  readonly proxy: RedisProxy;
  readonly recorder: HookRecorder;
  readonly policy: StorageErrorPolicy;
  breaker: AsyncCircuitBreaker;
  partitioned: boolean;
  /** The shared state when the process was cut off. */
  cutFrom: Shared | null;
  /** Whether it decided anything on its own (or held the circuit) in the current outage. */
  decidedLocally: boolean;
  /**
   * Outages in which the process decided on its own or held the circuit: each one makes every
   * token handed out before it stale (the replica's local epoch, then a new numbering).
   */
  breaks: number;
}

interface Real {
  readonly name: string;
  readonly key: string;
  /** The circuit's sorted sets: its active callers and the processes open for themselves. */
  readonly callersKey: string;
  readonly localKey: string;
  readonly hm: number;
  /** The circuit's quorum (processes), 1 for none. */
  readonly quorum: number;
  readonly procs: Proc[];
  readonly calls: Call[];
  nextId: number;
  /** Commands run so far that make an outage (a partition, a hung or restarted server...). */
  faults: number;
  /**
   * The processes whose failures the test saw counted in the current streak (`null`: not known,
   * after a fault that may have changed the count out of the test's sight).
   */
  streak: Set<number> | null;
}

interface Model {
  pending: number;
  partitioned: boolean[];
}

let server: RedisServer;
let admin: Redis;
/** The corners the runs went through, to check that the generator reaches them. */
const seen = new Map<string, number>();
const see = (corner: string) => seen.set(corner, (seen.get(corner) ?? 0) + 1);

const redis = useThrowawayRedis();
const unhandled = redis.unhandled;
beforeAll(() => {
  server = redis.server;
  admin = redis.admin;
});

// --- reading Redis and the reference rules -----------------------------------------------------

async function read(key: string): Promise<Shared | null> {
  const [i, st, g, f, l] = await admin.hmget(key, "i", "st", "g", "f", "l");
  if (i === null || i === undefined || st === null || st === undefined) return null;
  const leases = (l ?? "")
    .split(",")
    .filter((x) => x !== "")
    .map((pair) => {
      const [token, expiry] = pair.split(":").map(Number);
      return { token: token as number, expiry: expiry as number };
    });
  return { i, st, g: Number(g), f: Number(f), leases };
}

async function redisNow(): Promise<number> {
  const [s, us] = await admin.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/** Whether `token` may decide on `c` at a time between `from` and `to`: `true`, `false` or `"maybe"`. */
function current(c: Shared | null, token: Token | null, from: number, to: number): boolean | "maybe" {
  if (c === null || token === null || token.i !== c.i) return false;
  if (c.st === "closed") return token.g === c.g;
  if (c.st !== "half-opened") return false;
  const lease = c.leases.find((l) => l.token === token.g);
  if (lease === undefined || lease.expiry <= from - MARGIN_MS) return false;
  return lease.expiry > to + MARGIN_MS ? true : "maybe";
}

/**
 * The state machine's answer: what `outcome` does to `c` when its token is current; `backed`:
 * whether enough processes back a trip (always without a quorum).
 */
function applied(c: Shared, outcome: "success" | "failure", backed = true): Pick<Shared, "i" | "st" | "g" | "f"> {
  if (c.st === "closed") {
    if (outcome === "success") return { i: c.i, st: c.st, g: c.g, f: 0 };
    const f = c.f + 1;
    return f >= THRESHOLD && backed ? { i: c.i, st: "opened", g: c.g + 1, f } : { i: c.i, st: c.st, g: c.g, f };
  }
  return outcome === "success"
    ? { i: c.i, st: "closed", g: c.g + 1, f: 0 }
    : { i: c.i, st: "opened", g: c.g + 1, f: c.f + 1 };
}

const essentials = (c: Shared | null) => (c === null ? null : { i: c.i, st: c.st, g: c.g, f: c.f });

const connected = (p: Proc) => !p.partitioned;

/** The process names of the run: `p0`, `p1`, `p2`. */
const procName = (n: number) => `p${n}`;

/**
 * Whether a failure of process `proc` on the closed circuit `c`, if it reaches the threshold, is
 * backed by enough processes: `true`, `false`, or `"maybe"` when the test lost track of the streak.
 * The callers and the processes open for themselves are what Redis lists before the failure is
 * sent; the answer is given once the test knows when its script ran (between `from` and `to`,
 * Redis time): a process open for itself until then, or the 2 s after a lost key ending then, make
 * it `"maybe"` when they would change it; and so does a process whose own circuit opened or closed
 * again that Redis has not heard of yet (its next flush or call says so, maybe before the failure).
 */
async function backing(real: Real, proc: number, c: Shared): Promise<(from: number, to: number) => boolean | "maybe"> {
  if (real.quorum === 1) return () => true;
  if (real.streak === null) return () => "maybe";
  const streak = real.streak;
  const now = await redisNow();
  const [callers, local, created] = await Promise.all([
    admin.zrangebyscore(real.callersKey, `(${now}`, "+inf"),
    admin.zrangebyscore(real.localKey, `(${now}`, "+inf", "WITHSCORES"),
    admin.hget(real.key, "ct"),
  ]);
  const callerCount = new Set([...callers, procName(proc)]).size;
  const locals = new Map<string, number>();
  for (let n = 0; n < local.length; n += 2) locals.set(local[n] as string, Number(local[n + 1]));
  // An incarnation that replaced a lost one counts at least `processes` callers for 2 s.
  const ct = Number(created ?? 0);
  // Processes whose own circuit says otherwise than Redis's list: about to say so.
  const saying = real.procs
    .map((q, n) => procName(n))
    .filter((name, n) => ownOpen(real.procs[n] as Proc, real.name) !== locals.has(name));
  const met = (at: number, said: boolean): boolean => {
    const counted = ct > 0 && at - ct < 2_000 ? Math.max(callerCount, real.quorum) : callerCount;
    const need = effectiveQuorum({ processes: real.quorum }, counted);
    const listed = [...locals].filter(([, until]) => until > at).map(([name]) => name);
    const open = said
      ? [...listed.filter((name) => !saying.includes(name)), ...saying.filter((name) => !locals.has(name))]
      : listed;
    return new Set([...[...streak].map(procName), procName(proc), ...open]).size >= need;
  };
  if (c.f + 1 >= THRESHOLD) see(met(now, false) ? "a trip backed by the quorum" : "a trip not backed by the quorum");
  // The answer changes only where the grace ends or a process stops being open for itself.
  const changes = [ct + 2_000, ...locals.values()];
  return (from, to) => {
    const [low, high] = [from - MARGIN_MS, to + MARGIN_MS];
    const times = [low, high, ...changes.filter((at) => at > low && at < high)];
    const answers = new Set(times.flatMap((at) => [met(at, false), met(at, true)]));
    return answers.size === 1 ? met(low, false) : "maybe";
  };
}

/** After a settled call of `proc`, who is behind the streak: it grew, ended, or stayed. */
function follow(real: Real, proc: number, before: Shared | null, after: Shared | null): void {
  if (real.streak === null) return;
  if (after === null || before === null || after.i !== before.i || after.st !== "closed" || after.f === 0) {
    real.streak = new Set();
  } else if (after.f > before.f) {
    real.streak.add(proc);
  }
}

/** Whether process `p` is open for itself (the circuit it keeps for itself is not closed). */
function ownOpen(p: Proc, name: string): boolean {
  const record = p.storage.get(name) as unknown as { own?: { snapshot: { state: string } } | null };
  return record.own !== null && record.own !== undefined && record.own.snapshot.state !== "closed";
}

/** The state of the fleet's circuit as a process's replica shows it (not its own circuit's). */
function fleetView(p: Proc, name: string): { state: string; failureCount: number } {
  const record = p.storage.get(name) as unknown as { replica?: { view: { state: string; failureCount: number } } };
  return record.replica?.view ?? { state: "missing", failureCount: -1 };
}

/**
 * The incarnation a process's replica follows. Not public: the state and counts a breaker shows
 * are the same in an old and a new incarnation of a closed circuit, and a replica still on the old
 * one hands out tokens Redis rightly ignores (the model's tokens are Redis's at admission).
 */
function heldIncarnation(p: Proc, name: string): string | undefined {
  const record = p.storage.get(name) as unknown as { replica?: { shared: { incarnation: string } | null } } | undefined;
  return record?.replica?.shared?.incarnation;
}

/** Waits until every connected replica shows what Redis holds (the key exists again if it was lost). */
async function converge(real: Real, where: string): Promise<void> {
  await waitFor(
    `${where}: every connected replica agrees with Redis`,
    async () => {
      const c = await read(real.key);
      if (c === null) return false;
      return real.procs.filter(connected).every((p) => {
        const view = fleetView(p, real.name);
        return (
          p.storage.available &&
          heldIncarnation(p, real.name) === c.i &&
          view.state === c.st &&
          (c.st !== "closed" || view.failureCount === c.f)
        );
      });
    },
    CONVERGE_MS,
    10,
  );
}

/** At most halfOpenMaxCalls probes admitted through Redis hold a live lease. */
async function checkProbes(real: Real, where: string): Promise<void> {
  const now = await redisNow();
  const live = real.calls.filter((c) => c.kind === "probe" && c.admittedAt + TTL_MS > now + MARGIN_MS);
  expect(live.length, `${where}: live probes ${JSON.stringify(live.map((c) => c.id))}`).toBeLessThanOrEqual(real.hm);
}

function checkHealth(real: Real, where: string): void {
  for (const [n, p] of real.procs.entries()) {
    const errors = p.recorder.of("storage_error");
    expect(errors, `${where}: process ${n} storage errors`).toEqual([]);
  }
  expect(unhandled, `${where}: unhandled rejections`).toEqual([]);
}

// --- commands ----------------------------------------------------------------------------------

type Cmd = fc.AsyncCommand<Model, Real>;

/** Process `proc` starts a call that stays in flight until a `Settle`. */
class Start implements Cmd {
  constructor(readonly proc: number) {}
  check = (m: Readonly<Model>) => m.pending < 6;
  async run(m: Model, real: Real): Promise<void> {
    const p = real.procs[this.proc] as Proc;
    const before = await read(real.key);
    const viewBefore = fleetView(p, real.name).state;
    // A process open for itself (quorum): its own circuit decides, and never takes a fleet probe.
    const ownBefore = p.breaker.scope === "process" || (viewBefore !== "closed" && ownOpen(p, real.name));
    let settle: (outcome: "success" | "failure") => void = () => undefined;
    let admitted: () => void = () => undefined;
    const entered = new Promise<void>((resolve) => (admitted = resolve));
    const result = p.breaker.run(
      () =>
        new Promise<string>((resolve, reject) => {
          settle = (outcome) => (outcome === "success" ? resolve("ok") : reject(new Error("downstream failed")));
          admitted();
        }),
    );
    const rejected = result.then(
      () => false,
      (error: unknown) => error instanceof CircuitOpenError,
    );
    const outcome = await Promise.race([
      entered.then(() => "admitted" as const),
      rejected.then((r) => (r ? ("rejected" as const) : ("failed" as const))),
    ]);
    expect(outcome, `${this.toString()}: a call is admitted or rejected with CircuitOpenError`).not.toBe("failed");
    see(`start ${outcome}${connected(p) ? "" : " while cut off"}`);
    if (outcome === "rejected") return;
    const after = await read(real.key);
    const admittedAt = await redisNow();
    let kind: Call["kind"];
    let token: Token | null = null;
    if (ownBefore) {
      expect(
        essentials(after),
        `${this.toString()}: a process open for itself takes no probe of the fleet's (Redis before ${JSON.stringify(before)})`,
      ).toEqual(essentials(before));
      kind = "own";
      see(`own probe admitted${connected(p) ? "" : " while cut off"}`);
    } else if (connected(p)) {
      if (viewBefore === "closed") {
        kind = "run";
        token = before === null ? null : { i: before.i, g: before.g };
      } else {
        kind = "probe";
        see("probe admitted");
        expect(after?.st, `${this.toString()}: a probe admitted through Redis half-opens it`).toBe("half-opened");
        token = { i: (after as Shared).i, g: (after as Shared).g };
        expect(
          (after as Shared).leases.map((l) => l.token),
          `${this.toString()}: the probe holds a lease`,
        ).toContain(token.g);
      }
    } else if (viewBefore === "closed" && !p.decidedLocally && p.cutFrom !== null) {
      kind = "shared-closed";
      see("call admitted while cut off");
      token = { i: p.cutFrom.i, g: p.cutFrom.g };
    } else {
      kind = "local";
    }
    const done = result.then(
      () => undefined,
      () => undefined,
    );
    real.calls.push({
      id: real.nextId++,
      proc: this.proc,
      kind,
      token,
      breaks: p.breaks,
      faults: real.faults,
      outages: p.recorder.of("storage_unavailable").length,
      admittedAt,
      settle: (o) => settle(o),
      done,
    });
    m.pending += 1;
  }
  toString = () => `Start(p${this.proc})`;
}

/** The `pick`-th call in flight settles with `outcome`. */
class Settle implements Cmd {
  constructor(
    readonly pick: number,
    readonly outcome: "success" | "failure",
  ) {}
  check = (m: Readonly<Model>) => m.pending > 0;
  async run(m: Model, real: Real): Promise<void> {
    await this.settle(m, real, this.pick % real.calls.length);
  }

  /** Settles the call at `index` of the calls in flight and checks what it did to Redis. */
  async settle(m: Model, real: Real, index: number): Promise<void> {
    const [call] = real.calls.splice(index, 1) as [Call];
    m.pending -= 1;
    const p = real.procs[call.proc] as Proc;
    const cut = !connected(p);
    const before = await read(real.key);
    const backs =
      !cut && this.outcome === "failure" && before?.st === "closed" ? await backing(real, call.proc, before) : null;
    const from = await redisNow();
    call.settle(this.outcome);
    await call.done;
    const to = await redisNow();
    const backed = backs === null ? true : backs(from, to);
    const after = await read(real.key);
    const events = JSON.stringify(
      p.recorder.calls.slice(-6).map(([, type, event]) => [type, "state" in event ? event.state : ""]),
    );
    const where = `${this.toString()} of call ${call.id} (${call.kind}, p${call.proc}${cut ? ", cut off" : ""}; token ${JSON.stringify(call.token)}; Redis before ${JSON.stringify(before)}, after ${JSON.stringify(after)}; its last events ${events})`;
    if (cut) {
      expect(essentials(after), `${where}: a cut-off process changes nothing in Redis`).toEqual(essentials(before));
      return;
    }
    if (real.faults === call.faults && p.recorder.of("storage_unavailable").length !== call.outages) {
      // An outage the test did not make: on a loaded machine a command outlived the 100 ms
      // timeout, and the process went on without Redis for a while. Its outcome may or may not
      // have reached Redis; the test no longer knows who is behind the streak.
      real.streak = null;
      see("an outage the test did not make");
      const options =
        before === null
          ? [null]
          : [essentials(before), applied(before, this.outcome, true), applied(before, this.outcome, false)];
      expect(options, `${where}: during an outage of its own`).toContainEqual(essentials(after));
      return;
    }
    if (call.kind === "own") {
      // A placeholder's outcome, if its own circuit took it (its lease live, no other probe of its
      // own decided first): it counts only while the fleet's circuit is closed, and a failure
      // opens it only when enough processes back it.
      if (before === null || before.st !== "closed") {
        expect(essentials(after), `${where}: an own probe's outcome changes no circuit that is not closed`).toEqual(
          essentials(before),
        );
      } else {
        const counted = backed === "maybe" ? [true, false] : [backed];
        const options = [essentials(before), ...counted.map((b) => applied(before, this.outcome, b))];
        expect(options, `${where}: an own probe's outcome counts on a closed circuit, or not at all`).toContainEqual(
          essentials(after),
        );
        see(
          `own probe ${this.outcome} on closed${isDeepStrictEqual(essentials(after), essentials(before)) ? " ignored" : ""}`,
        );
      }
      follow(real, call.proc, before, after);
      return;
    }
    const stale = call.kind === "local" || call.breaks !== p.breaks;
    const decides = stale ? false : current(before, call.token, from, to);
    if (decides === false) {
      see(`stale ${call.kind} ${this.outcome} ignored`);
      if (call.kind === "probe" && before?.st === "half-opened") see("a zombie probe ignored");
      if (call.kind === "run" || call.kind === "shared-closed") see("a stale call ignored");
      expect(essentials(after), `${where}: a stale token changes nothing`).toEqual(essentials(before));
    } else if (decides === true && backed !== "maybe") {
      see(`${call.kind} ${this.outcome} on ${before?.st} decided`);
      expect(essentials(after), `${where}: a current token decides`).toEqual(
        applied(before as Shared, this.outcome, backed),
      );
    } else {
      const options = [
        essentials(before),
        applied(before as Shared, this.outcome, true),
        applied(before as Shared, this.outcome, false),
      ];
      expect(options, `${where}: a token at the end of its lease`).toContainEqual(essentials(after));
    }
    follow(real, call.proc, before, after);
  }
  toString = () => `Settle(#${this.pick}, ${this.outcome})`;
}

/** Process `proc` makes a whole call: `Start`, then `Settle` with `outcome` if it was admitted. */
class Call1 implements Cmd {
  constructor(
    readonly proc: number,
    readonly outcome: "success" | "failure",
  ) {}
  check = (m: Readonly<Model>) => m.pending < 6;
  async run(m: Model, real: Real): Promise<void> {
    const pending = m.pending;
    await new Start(this.proc).run(m, real);
    if (m.pending > pending) await new Settle(0, this.outcome).settle(m, real, real.calls.length - 1);
  }
  toString = () => `Call(p${this.proc}, ${this.outcome})`;
}

/** Process `proc` fails calls until its view opens (at most `THRESHOLD` calls). */
class Trip implements Cmd {
  constructor(readonly proc: number) {}
  check = (m: Readonly<Model>) => m.pending < 6;
  async run(m: Model, real: Real): Promise<void> {
    const p = real.procs[this.proc] as Proc;
    for (let i = 0; i < THRESHOLD && p.breaker.state === "closed"; i++)
      await new Call1(this.proc, "failure").run(m, real);
  }
  toString = () => `Trip(p${this.proc})`;
}

/** Past the ttl, process `proc` makes a call (a probe, if the circuit was opened). */
class Probe implements Cmd {
  constructor(
    readonly proc: number,
    readonly outcome: "success" | "failure",
  ) {}
  check = (m: Readonly<Model>) => m.pending < 6;
  async run(m: Model, real: Real): Promise<void> {
    await sleep(TTL_MS + 60);
    await new Call1(this.proc, this.outcome).run(m, real);
  }
  toString = () => `Probe(p${this.proc}, ${this.outcome})`;
}

/** Process `proc` trips the circuit and closes it again with a good probe: the shared state moves on. */
class Cycle implements Cmd {
  constructor(readonly proc: number) {}
  check = (m: Readonly<Model>) => m.pending < 5;
  async run(m: Model, real: Real): Promise<void> {
    await new Trip(this.proc).run(m, real);
    await new Probe(this.proc, "success").run(m, real);
  }
  toString = () => `Cycle(p${this.proc})`;
}

/** Time passes: a little, or past the ttl (and every lease). */
class Wait implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(): Promise<void> {
    await sleep(this.ms);
  }
  toString = () => `Wait(${this.ms})`;
}

/** The circuit's key is lost (DEL, or FLUSHALL of the whole server). */
class LoseKey implements Cmd {
  constructor(readonly how: "del" | "flushall") {}
  check = () => true;
  async run(_m: Model, real: Real): Promise<void> {
    if (this.how === "del") await admin.del(real.key);
    else await admin.flushall();
  }
  toString = () => `LoseKey(${this.how})`;
}

/** Every subscriber connection is killed; a failure elsewhere meanwhile may be a lost message. */
class KillSubscribers implements Cmd {
  check = () => true;
  async run(): Promise<void> {
    const before = await subscriptions();
    await admin.client("KILL", "TYPE", "pubsub");
    // The messages published while a subscriber reconnects are lost; the re-read after its
    // resubscription covers them. Until then its process's view lags (a success may find its count
    // at zero and send nothing), which the protocol allows: the run goes on once every subscriber
    // holds its channels again.
    await waitFor(`${this.toString()}: every subscriber back`, async () => (await subscriptions()) >= before, 10_000);
  }
  toString = () => "KillSubscribers";
}

/** How many channels the server's pub/sub connections hold (classic and sharded). */
async function subscriptions(): Promise<number> {
  const list = String(await admin.call("CLIENT", "LIST", "TYPE", "pubsub"));
  let total = 0;
  for (const match of list.matchAll(/\b(?:sub|ssub)=(\d+)/g)) total += Number(match[1]);
  return total;
}

/** Process `proc` is cut off from Redis (its proxy drops every connection). */
class Partition implements Cmd {
  constructor(readonly proc: number) {}
  check = (m: Readonly<Model>) => !m.partitioned[this.proc] && m.partitioned.filter(Boolean).length < 2;
  async run(m: Model, real: Real): Promise<void> {
    const p = real.procs[this.proc] as Proc;
    p.cutFrom = await read(real.key);
    p.proxy.cut();
    p.partitioned = true;
    m.partitioned[this.proc] = true;
    await waitFor(`${this.toString()}: the process notices`, () => !p.storage.available, 5_000);
  }
  toString = () => `Partition(p${this.proc})`;
}

/** Process `proc` reaches Redis again; its local trip is pushed only if nothing moved. */
class Heal implements Cmd {
  constructor(readonly proc: number) {}
  check = (m: Readonly<Model>) => m.partitioned[this.proc] === true;
  async run(m: Model, real: Real): Promise<void> {
    const p = real.procs[this.proc] as Proc;
    const before = await read(real.key);
    const view = fleetView(p, real.name).state;
    const decided = p.decidedLocally;
    const recovered = p.recorder.of("storage_recovered").length;
    p.proxy.restore();
    await waitFor(
      `${this.toString()}: storage_recovered`,
      () => p.recorder.of("storage_recovered").length > recovered,
      10_000,
    );
    p.partitioned = false;
    m.partitioned[this.proc] = false;
    const after = await read(real.key);
    const cutFrom = p.cutFrom;
    const unmoved =
      before !== null && cutFrom !== null && before.i === cutFrom.i && before.g === cutFrom.g && before.st !== "opened";
    // With a quorum, a closed circuit is never opened on one process's word: no push then.
    const lone = real.quorum > 1 && before?.st === "closed";
    const pushes = p.policy === "local" && view === "opened" && decided && unmoved && !lone;
    see(`heal ${p.policy}${decided ? " after local decisions" : ""}${pushes ? ": trip pushed" : ""}`);
    if (view === "opened" && decided && !unmoved && p.policy === "local")
      see("heal: a local trip yields to a moved state");
    if (pushes) {
      expect(essentials(after), `${this.toString()}: the local trip is pushed`).toEqual({
        i: before.i,
        st: "opened",
        g: before.g + 1,
        f: Math.max(before.f, THRESHOLD),
      });
    } else if (before !== null) {
      expect(essentials(after), `${this.toString()}: nothing of the outage reaches Redis`).toEqual(essentials(before));
    }
  }
  toString = () => `Heal(p${this.proc})`;
}

/** Process `proc` starts a call, process `other` trips the circuit, then the call settles: stale. */
class Overtaken implements Cmd {
  constructor(
    readonly proc: number,
    readonly other: number,
    readonly outcome: "success" | "failure",
  ) {}
  check = (m: Readonly<Model>) => m.pending < 5;
  async run(m: Model, real: Real): Promise<void> {
    const pending = m.pending;
    await new Start(this.proc).run(m, real);
    if (m.pending === pending) return;
    const call = real.calls[real.calls.length - 1] as Call;
    await new Trip(this.other).run(m, real);
    await new Settle(0, this.outcome).settle(m, real, real.calls.indexOf(call));
  }
  toString = () => `Overtaken(p${this.proc} by p${this.other}, ${this.outcome})`;
}

/**
 * Process `proc` takes a probe and outlives its lease; process `other` takes the next probe;
 * the zombie settles with `outcome` (ignored), then the other probe with the opposite.
 */
class Zombie implements Cmd {
  constructor(
    readonly proc: number,
    readonly other: number,
    readonly outcome: "success" | "failure",
  ) {}
  check = (m: Readonly<Model>) => m.pending < 4;
  async run(m: Model, real: Real): Promise<void> {
    await new Trip(this.proc).run(m, real);
    await sleep(TTL_MS + 60);
    const pending = m.pending;
    await new Start(this.proc).run(m, real);
    if (m.pending === pending) return;
    const zombie = real.calls[real.calls.length - 1] as Call;
    await sleep(TTL_MS + 60);
    await new Start(this.other).run(m, real);
    const taker = real.calls[real.calls.length - 1] as Call;
    await new Settle(0, this.outcome).settle(m, real, real.calls.indexOf(zombie));
    if (taker !== zombie && real.calls.includes(taker)) {
      await new Settle(0, this.outcome === "success" ? "failure" : "success").settle(
        m,
        real,
        real.calls.indexOf(taker),
      );
    }
  }
  toString = () => `Zombie(p${this.proc}, then p${this.other}, ${this.outcome})`;
}

/**
 * Process `proc` is cut off, trips the circuit on its own (and, with `probe`, closes it again with
 * a local probe), while process `other` makes a call (or not), and then reaches Redis again.
 */
class Isolated implements Cmd {
  readonly other: Cmd | null;
  constructor(
    readonly proc: number,
    readonly probe: boolean,
    meanwhile: "trip" | "cycle" | "call" | null,
    offset: 1 | 2,
  ) {
    const q = (proc + offset) % PROCS;
    this.other =
      meanwhile === "trip"
        ? new Trip(q)
        : meanwhile === "cycle"
          ? new Cycle(q)
          : meanwhile === "call"
            ? new Call1(q, "success")
            : null;
  }
  check = (m: Readonly<Model>) => !m.partitioned.some(Boolean) && m.pending < 4;
  async run(m: Model, real: Real): Promise<void> {
    await new Partition(this.proc).run(m, real);
    await new Trip(this.proc).run(m, real);
    if (this.probe) await new Probe(this.proc, "success").run(m, real);
    await this.other?.run(m, real);
    await new Heal(this.proc).run(m, real);
  }
  toString = () => `Isolated(p${this.proc}${this.probe ? ", local probe" : ""}, meanwhile ${String(this.other)})`;
}

/** The server stops answering for a while (SIGSTOP), and a call starts and settles meanwhile. */
class Hang implements Cmd {
  constructor(
    readonly proc: number,
    readonly ms: number,
  ) {}
  check = (m: Readonly<Model>) => !m.partitioned.some(Boolean);
  async run(_m: Model, real: Real): Promise<void> {
    const p = real.procs[this.proc] as Proc;
    // Its failure may or may not reach Redis (a command that timed out may still run): the test
    // no longer knows who is behind the streak, until it ends.
    real.streak = null;
    server.signal("SIGSTOP");
    try {
      await p.breaker.run(() => Promise.reject(new Error("while Redis hangs"))).catch(() => undefined);
      await sleep(this.ms);
    } finally {
      server.signal("SIGCONT");
    }
    // Whoever noticed the outage reports its end.
    await waitFor(
      `${this.toString()}: recovery`,
      () =>
        real.procs.every(
          (q) =>
            q.storage.available &&
            q.recorder.of("storage_recovered").length === q.recorder.of("storage_unavailable").length,
        ),
      10_000,
    );
  }
  toString = () => `Hang(p${this.proc}, ${this.ms} ms)`;
}

/** The server is killed and starts again without its data. */
class RestartEmpty implements Cmd {
  check = (m: Readonly<Model>) => !m.partitioned.some(Boolean);
  async run(_m: Model, real: Real): Promise<void> {
    const recovered = real.procs.map((p) => p.recorder.of("storage_recovered").length);
    await server.restart();
    await waitFor(
      `${this.toString()}: every process recovers`,
      () =>
        real.procs.every(
          (p, n) => p.storage.available && p.recorder.of("storage_recovered").length > (recovered[n] as number),
        ),
      10_000,
    );
    // Every process re-read Redis: the lost circuit is a new incarnation, closed, whatever any
    // process decided while Redis was away.
    const after = await read(real.key);
    expect(
      after === null ? null : { st: after.st, g: after.g, f: after.f },
      `${this.toString()}: a lost circuit starts closed`,
    ).toEqual({ st: "closed", g: 0, f: 0 });
  }
  toString = () => "RestartEmpty";
}

/** The commands that make an outage. */
const FAULTS = [KillSubscribers, Partition, Heal, Isolated, Hang, RestartEmpty];

const PROCS = 3;
const procArb = fc.integer({ min: 0, max: PROCS - 1 });
const outcomeArb = fc.constantFrom<"success" | "failure">("success", "failure", "failure");
const commandArbs: fc.Arbitrary<Cmd>[] = [
  procArb.map((p) => new Start(p)),
  procArb.map((p) => new Start(p)),
  fc.tuple(procArb, outcomeArb).map(([p, o]) => new Call1(p, o)),
  fc.tuple(procArb, outcomeArb).map(([p, o]) => new Call1(p, o)),
  procArb.map((p) => new Trip(p)),
  procArb.map((p) => new Trip(p)),
  fc.tuple(procArb, fc.constantFrom<"success" | "failure">("success", "failure")).map(([p, o]) => new Probe(p, o)),
  fc.tuple(procArb, fc.constantFrom<"success" | "failure">("success", "failure")).map(([p, o]) => new Probe(p, o)),
  procArb.map((p) => new Partition(p)),
  fc.tuple(fc.nat(), outcomeArb).map(([k, o]) => new Settle(k, o)),
  fc.tuple(fc.nat(), outcomeArb).map(([k, o]) => new Settle(k, o)),
  fc.constantFrom(5, TTL_MS + 60).map((ms) => new Wait(ms)),
  fc.constantFrom<"del" | "flushall">("del", "flushall").map((how) => new LoseKey(how)),
  fc.constant(new KillSubscribers()),
  procArb.map((p) => new Partition(p)),
  procArb.map((p) => new Heal(p)),
  fc.tuple(procArb, procArb, outcomeArb).map(([p, q, o]) => new Overtaken(p, q, o)),
  fc.tuple(procArb, procArb, outcomeArb).map(([p, q, o]) => new Zombie(p, q, o)),
  fc
    .tuple(procArb, fc.boolean(), fc.constantFrom("trip", "cycle", "call", null), fc.constantFrom<1 | 2>(1, 2))
    .map(([p, probe, meanwhile, offset]) => new Isolated(p, probe, meanwhile, offset)),
  fc.tuple(procArb, fc.constantFrom(150, 400)).map(([p, ms]) => new Hang(p, ms)),
  fc.constant(new RestartEmpty()),
];

/** Runs without a quorum, and with a quorum of 2 of the 3 processes. */
const quorumArb = fc.constantFrom(1, 2);

const policiesArb = fc.array(fc.constantFrom<StorageErrorPolicy>("local", "local", "fail-closed", "fail-open"), {
  minLength: PROCS,
  maxLength: PROCS,
});

async function setUp(policies: readonly StorageErrorPolicy[], hm: number, quorum: number): Promise<Real> {
  const prefix = uniquePrefix("test-fleet-model");
  const name = "api.example.com";
  const procs: Proc[] = [];
  for (const [n, policy] of policies.entries()) {
    const proxy = await startProxy(server.port);
    const recorder = new HookRecorder();
    // Set below, once the process exists: the hook needs it.
    const ref: { proc?: Proc } = {};
    const storage = new RedisStorage({
      url: proxy.url,
      prefix,
      onStorageError: policy,
      commandTimeout: 0.1,
      healthCheckInterval: 0.04,
      resyncInterval: RESYNC_MS / 1000,
      processName: procName(n),
      flushInterval: 0.02,
    });
    const factory = new AsyncCircuitBreakerFactory({
      storage,
      defaultThreshold: THRESHOLD,
      defaultTtl: TTL_MS / 1000,
      halfOpenMaxCalls: hm,
      listeners: [
        recorder.hook,
        (_circuit, eventType, event) => {
          const proc = ref.proc;
          if (proc === undefined) return;
          if (eventType === "storage_recovered") proc.decidedLocally = false;
          // A decision of its own while Redis is away (policy local), or a held circuit (fail-closed).
          // (Those of the circuit a process keeps for itself, scope "process", leave the replica be.)
          const fleetScope = !("scope" in event) || event.scope !== "process";
          const local =
            fleetScope &&
            (eventType === "failed" ||
              eventType === "recovered" ||
              (eventType === "state_changed" && event.remote !== true));
          const held =
            eventType === "state_changed" && event.remote === true && policy === "fail-closed" && !storage.available;
          if ((local || held) && !storage.available && !proc.decidedLocally) {
            proc.decidedLocally = true;
            proc.breaks += 1;
          }
        },
      ],
    });
    await factory.initialize();
    const breaker = await factory.getBreaker(name, quorum > 1 ? { quorum } : {});
    ref.proc = {
      factory,
      storage,
      proxy,
      recorder,
      policy,
      breaker,
      partitioned: false,
      cutFrom: null,
      decidedLocally: false,
      breaks: 0,
    };
    procs.push(ref.proc);
  }
  const [key, callersKey, , localKey] = (procs[0] as Proc).storage.keys.scriptKeys(name);
  if (quorum > 1) {
    // Every process calls once, and Redis knows them all as active callers before the commands.
    // (On a loaded machine a command may outlive the 100 ms timeout: a fail-closed process then
    // holds the circuit until Redis answers again, and calls again after.)
    for (const [n, p] of procs.entries()) {
      await waitFor(
        `process ${n} calls once`,
        () =>
          p.breaker
            .run(() => "hello")
            .then(
              () => true,
              (error: unknown) => {
                if (error instanceof CircuitOpenError) return false;
                throw error;
              },
            ),
        10_000,
        20,
      );
    }
    await waitFor("every process is an active caller", async () => (await admin.zcard(callersKey)) === procs.length);
  }
  return { name, key, callersKey, localKey, hm, quorum, procs, calls: [], nextId: 0, faults: 0, streak: new Set() };
}

async function tearDown(real: Real): Promise<void> {
  for (const call of real.calls) call.settle("success");
  await Promise.all(real.calls.map((c) => c.done));
  for (const p of real.procs) {
    await p.factory.close();
    await p.proxy.close();
  }
  await admin.del(real.key, real.callersKey, real.localKey, real.key.replace(":circuit:", ":reporters:"));
}

/** Runs `commands` on a fresh fleet, each followed by the checks that hold after every step. */
async function runChecked(
  policies: StorageErrorPolicy[],
  hm: number,
  quorum: number,
  commands: Iterable<Cmd>,
): Promise<void> {
  const real = await setUp(policies, hm, quorum);
  try {
    const checked = [...commands].map((command): Cmd => ({
      check: (m) => command.check(m),
      run: async (m, r) => {
        if (FAULTS.some((fault) => command instanceof fault)) r.faults += 1;
        await command.run(m, r);
        // A count that ended (or a new state) ends the streak the test follows; a count that moved
        // out of its sight (a failure while Redis hung) leaves it unknown.
        const now = await read(r.key);
        if (now === null || now.st !== "closed" || now.f === 0) r.streak = new Set();
        await checkProbes(r, String(command));
        await converge(r, String(command));
        checkHealth(r, String(command));
      },
      toString: () => String(command),
    }));
    await fc.asyncModelRun(() => ({ model: { pending: 0, partitioned: policies.map(() => false) }, real }), checked);
  } finally {
    await tearDown(real);
  }
}

describe("the fleet protocol, model-based, on a real Redis", () => {
  it("counterexample: a call right after a lost key, on a replica that has not heard of the new incarnation yet", async () => {
    // Found by the model: a run call's token was taken as Redis's, while its process still
    // followed the lost incarnation (a closed circuit looks the same in both); Redis rightly ignored
    // its failure. The step checks now wait for every replica to follow Redis's incarnation.
    await runChecked(["fail-closed", "local", "local"], 2, 1, [
      new Zombie(0, 1, "failure"),
      new LoseKey("del"),
      new Trip(1),
    ]);
  }, 60_000);

  it("counterexample: a window's hand-over in the middle of another process's streak, after a restart without data", async () => {
    // Found by the model over node-redis on a loaded machine: a process handed over the failures
    // its window counted (a zombie probe's, which Redis ignored) while another process's streak
    // ran, and Redis counted it as a backer of that streak, opening the circuit for the fleet on
    // one process's failures. A window's hand-over now backs the window only. (The same run also
    // showed the test's own race: a process open for itself whose opening ends while the failure
    // is sent; the test now decides with the time the script ran.)
    await runChecked(["local", "local", "local"], 2, 2, [
      new Overtaken(2, 2, "failure"),
      new RestartEmpty(),
      new Zombie(1, 1, "failure"),
      new Start(2),
      new Zombie(0, 1, "failure"),
    ]);
  }, 60_000);

  it("keeps its rules through calls, outcomes, time, lost keys, outages and partitions", async () => {
    // The commands reach every corner below: RUNS random runs, then RUNS more (three batches at
    // most) while one is still missing, since a rare one may need them.
    const corners = [
      "probe admitted",
      "run failure on closed decided",
      "probe failure on half-opened decided",
      "probe success on half-opened decided",
      "a zombie probe ignored",
      "start admitted while cut off",
      "a trip backed by the quorum",
      "a trip not backed by the quorum",
      "own probe admitted",
    ];
    const missing = () => corners.filter((corner) => !seen.has(corner));
    let batches = 0;
    do {
      batches += 1;
      await fc.assert(
        fc.asyncProperty(
          policiesArb,
          fc.constantFrom(1, 2),
          quorumArb,
          fc.commands(commandArbs, { maxCommands: 24, size: "max" }),
          runChecked,
        ),
        { numRuns: RUNS, endOnFailure: true, ...replay },
      );
    } while (batches < 3 && missing().length > 0);
    if (process.env.FLEET_MODEL_CORNERS !== undefined) console.log(Object.fromEntries(seen));
    expect(missing()).toEqual([]);
  }, 600_000);
});
