/**
 * What telling Redis "this process calls the circuit" costs: one process calls 10 circuits with a
 * `quorum` without pause (one lane per circuit, batches of 100 successes that yield to timers),
 * with a short `callerHorizon` (2 s) so that a few seconds hold several horizons, and counts the
 * scripts it sends. The renewal scales with the horizon (at most every quarter of it), so the
 * count per circuit per horizon is the count per minute at the default horizon of 60 s.
 *
 * Then the same with a `failureRate` window on every circuit, against the same circuits without a
 * quorum in another storage of the same process under the same traffic: the window's flushes
 * carry the presence, so the quorum should add no script.
 * @module
 */
import type { Redis } from "ioredis";
import type { PurgatoryModule } from "../purgatory.js";
import { countsSince, nextTurn, serverCounts, sleep, type ServerCounts } from "./commands.js";
import { DEFAULT_HORIZON_MS, QUORUM } from "./success.js";

/** Circuits called at once. */
export const REPORTING_CIRCUITS = 10;
/** The `callerHorizon` of the measurement, seconds. */
export const REPORTING_HORIZON_S = 2;
/** The steady window without a rate window, seconds (three horizons). */
const STEADY_S = 6;
/** The window with rate windows, seconds. */
const WINDOW_STEADY_S = 4;
/** RedisStorage's default `flushInterval` (0.25 s), in ms. */
const FLUSH_INTERVAL_MS = 250;
/** The rate window of the window run: as short as the horizon, so that renewals would be due often. */
const FAILURE_RATE = { rate: 0.5, minimumCalls: 20, window: REPORTING_HORIZON_S } as const;
const BATCH = 100;

type Factory = InstanceType<PurgatoryModule["AsyncCircuitBreakerFactory"]>;
type Breaker = Awaited<ReturnType<Factory["getBreaker"]>>;
type Storage = InstanceType<PurgatoryModule["RedisStorage"]>;

/** Circuits with a quorum and no rate window. */
export interface PresenceCost {
  readonly circuits: number;
  readonly horizonS: number;
  /** Scripts sent from the first calls to two flush intervals later (the first reports). */
  readonly firstScripts: number;
  /** The steady window that follows, seconds. */
  readonly seconds: number;
  /** Successes made in it, all circuits. */
  readonly calls: number;
  readonly scripts: number;
  readonly server: ServerCounts;
  /** `scripts / circuits / (seconds / horizon)`. */
  readonly scriptsPerCircuitPerHorizon: number;
  /** The same for every command Redis ran (those inside the scripts included). */
  readonly commandsPerCircuitPerHorizon: number;
  /** Circuits whose active callers (`storage.inspect()`) still list the process at the end. */
  readonly stillListed: number;
}

/** Circuits with a `failureRate` window, with and without a quorum, under the same traffic. */
export interface WindowPresenceCost {
  readonly circuits: number;
  readonly seconds: number;
  /** Successes per storage, all circuits. */
  readonly callsQuorum: number;
  readonly callsPlain: number;
  readonly scriptsQuorum: number;
  readonly scriptsPlain: number;
  readonly quorumPerCircuitPerMinute: number;
  readonly plainPerCircuitPerMinute: number;
  /** What the quorum adds: (quorum - plain) per circuit per minute. */
  readonly extraPerCircuitPerMinute: number;
  readonly stillListed: number;
}

export interface ReportingResult {
  readonly presence: PresenceCost;
  readonly window: WindowPresenceCost;
}

/** Lanes of successes, one per breaker, until `stop()`; resolves with the calls made per lane set. */
function callWithoutPause(breakers: readonly Breaker[]): { stop(): Promise<number> } {
  let stopped = false;
  let calls = 0;
  const succeed = async (): Promise<number> => 1;
  const lane = async (breaker: Breaker): Promise<void> => {
    while (!stopped) {
      for (let i = 0; i < BATCH; i++) await breaker.run(succeed);
      calls += BATCH;
      await nextTurn();
    }
  };
  const lanes = Promise.all(breakers.map(lane));
  return {
    stop: async () => {
      stopped = true;
      await lanes;
      return calls;
    },
  };
}

/** How many of `names` list `processName` among their active callers. */
async function listed(storage: Storage, names: readonly string[], processName: string): Promise<number> {
  const infos = await storage.inspect(names);
  return infos.filter((info) => info.quorum?.activeCallers.includes(processName) === true).length;
}

async function presenceCost(
  purgatory: PurgatoryModule,
  admin: Redis,
  url: string,
  prefix: string,
): Promise<PresenceCost> {
  const processName = "bench-reporter";
  const storage = new purgatory.RedisStorage({
    url,
    prefix,
    processName,
    callerHorizon: REPORTING_HORIZON_S,
    resyncInterval: 3600,
  });
  const factory = new purgatory.AsyncCircuitBreakerFactory({ storage, defaultThreshold: 5, defaultTtl: 1 });
  try {
    await factory.initialize();
    const names = Array.from({ length: REPORTING_CIRCUITS }, (_, i) => `reporting-${i}`);
    const breakers = await Promise.all(names.map((name) => factory.getBreaker(name, { quorum: QUORUM })));
    await sleep(FLUSH_INTERVAL_MS); // the registrations' own writes are done

    const scripts0 = storage.stats().scriptsRun;
    const traffic = callWithoutPause(breakers);
    await sleep(2 * FLUSH_INTERVAL_MS);
    const scripts1 = storage.stats().scriptsRun;
    const server1 = await serverCounts(admin);
    const start = performance.now();
    await sleep(STEADY_S * 1000);
    const scripts2 = storage.stats().scriptsRun;
    const server2 = await serverCounts(admin);
    const seconds = (performance.now() - start) / 1000;
    const calls = await traffic.stop();
    const stillListed = await listed(storage, names, processName);
    for (const breaker of breakers) {
      if (breaker.state !== "closed") throw new Error(`${breaker.name}: ${breaker.state}, expected closed`);
    }

    const scripts = scripts2 - scripts1;
    const server = countsSince(server1, server2);
    const horizons = seconds / REPORTING_HORIZON_S;
    return {
      circuits: REPORTING_CIRCUITS,
      horizonS: REPORTING_HORIZON_S,
      firstScripts: scripts1 - scripts0,
      seconds,
      calls,
      scripts,
      server,
      scriptsPerCircuitPerHorizon: scripts / REPORTING_CIRCUITS / horizons,
      commandsPerCircuitPerHorizon: server.commands / REPORTING_CIRCUITS / horizons,
      stillListed,
    };
  } finally {
    await factory.close();
  }
}

async function windowCost(purgatory: PurgatoryModule, url: string, prefix: string): Promise<WindowPresenceCost> {
  const make = (processName: string) => {
    const storage = new purgatory.RedisStorage({
      url,
      prefix,
      processName,
      callerHorizon: REPORTING_HORIZON_S,
      resyncInterval: 3600,
    });
    const factory = new purgatory.AsyncCircuitBreakerFactory({ storage, defaultThreshold: 5, defaultTtl: 1 });
    return { storage, factory };
  };
  const quorum = make("bench-reporter-window");
  const plain = make("bench-plain-window");
  try {
    await Promise.all([quorum.factory.initialize(), plain.factory.initialize()]);
    const names = (base: string) => Array.from({ length: REPORTING_CIRCUITS }, (_, i) => `${base}-${i}`);
    const quorumNames = names("window-quorum");
    const quorumBreakers = await Promise.all(
      quorumNames.map((name) => quorum.factory.getBreaker(name, { quorum: QUORUM, failureRate: FAILURE_RATE })),
    );
    const plainBreakers = await Promise.all(
      names("window-plain").map((name) => plain.factory.getBreaker(name, { failureRate: FAILURE_RATE })),
    );
    await sleep(FLUSH_INTERVAL_MS);
    const traffic = { quorum: callWithoutPause(quorumBreakers), plain: callWithoutPause(plainBreakers) };
    await sleep(2 * FLUSH_INTERVAL_MS); // past the first reports
    const q0 = quorum.storage.stats().scriptsRun;
    const p0 = plain.storage.stats().scriptsRun;
    const start = performance.now();
    await sleep(WINDOW_STEADY_S * 1000);
    const scriptsQuorum = quorum.storage.stats().scriptsRun - q0;
    const scriptsPlain = plain.storage.stats().scriptsRun - p0;
    const seconds = (performance.now() - start) / 1000;
    const [callsQuorum, callsPlain] = await Promise.all([traffic.quorum.stop(), traffic.plain.stop()]);
    const stillListed = await listed(quorum.storage, quorumNames, "bench-reporter-window");
    const perMinute = (scripts: number): number => scripts / REPORTING_CIRCUITS / (seconds / 60);
    return {
      circuits: REPORTING_CIRCUITS,
      seconds,
      callsQuorum,
      callsPlain,
      scriptsQuorum,
      scriptsPlain,
      quorumPerCircuitPerMinute: perMinute(scriptsQuorum),
      plainPerCircuitPerMinute: perMinute(scriptsPlain),
      extraPerCircuitPerMinute: perMinute(scriptsQuorum - scriptsPlain),
      stillListed,
    };
  } finally {
    await Promise.all([quorum.factory.close(), plain.factory.close()]);
  }
}

/** Runs both measurements on the server at `url` (`admin` counts its commands). */
export async function measureReporting(
  purgatory: PurgatoryModule,
  admin: Redis,
  url: string,
  prefix: string,
): Promise<ReportingResult> {
  const presence = await presenceCost(purgatory, admin, url, `${prefix}-presence`);
  const window = await windowCost(purgatory, url, `${prefix}-window`);
  return { presence, window };
}

/** Scales a count per horizon of the measurement to a count per minute at the default 60 s horizon. */
export function perMinuteAtDefaultHorizon(perHorizon: number): number {
  return perHorizon * (60_000 / DEFAULT_HORIZON_MS);
}
