/**
 * What every process of the fleet section shares: its config (one JSON argument), its
 * RedisStorage and factory on the deployment it is given (a URL, or an ioredis `Cluster` passed as
 * `client`: one code path for both), the lines it exchanges with the parent, and the figures of its
 * measurement window.
 *
 * Protocol: a member registers its circuits, prints `READY <json>` once its storage is healthy,
 * then reads `start` and `stop` lines on stdin; after `stop` (or when its own work ends) it prints
 * `RESULT <json>`, closes its factory and ends by itself. It exits at once if stdin closes (its
 * parent is gone). The startup member only registers, measures and prints its `RESULT`.
 * @module
 */
import { PerformanceObserver } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Cluster } from "ioredis";
import { sendResult } from "../child.js";
import { loadPurgatory, type PurgatoryModule } from "../purgatory.js";
import type { Target } from "./deployment.js";

/** A member's role; each has its script, `bench/fleet/<role>.ts`. */
export type Role = "storm" | "watcher" | "idle" | "startup" | "quorum";

/** The JSON argument of every member script. */
export interface MemberConfig {
  readonly role: Role;
  readonly target: Target;
  readonly prefix: string;
  /** The member holds circuits `<names>-0` to `<names>-<circuits - 1>`. */
  readonly names: string;
  readonly circuits: number;
  /** Consecutive failures that trip a circuit. */
  readonly threshold: number;
  /** Seconds a tripped circuit stays opened. */
  readonly ttl: number;
  /** storm: how many of its circuits fail (lanes), and for how many seconds. */
  readonly failing?: number;
  readonly seconds?: number;
  /** The factory's `defaultQuorum` (default none: every circuit opens on any process's failures). */
  readonly quorum?: number;
  /** The storage's `processName` (default `"<hostname>:<pid>"`). */
  readonly processName?: string;
}

/** A member's figures over its measurement window (`start` to `stop`). */
export interface WindowFigures {
  readonly wallMs: number;
  /** process.cpuUsage() (user + system) over the window, as a percentage of one core. */
  readonly cpuPercent: number;
  /** Main-thread gc pauses over the window, ms (part of the CPU above). */
  readonly gcMs: number;
  /** storage.stats().messagesReceived over the window. */
  readonly messages: number;
  /** storage.stats().scriptsRun over the window (for a member that makes no call: its background re-reads). */
  readonly scripts: number;
}

/** A `storage_unavailable` or `storage_error` a member saw, and when. */
export interface StorageProblem {
  readonly role: Role;
  readonly pid: number;
  /** Before the window (registering), during it, or after it. */
  readonly phase: "registration" | "window" | "after";
  readonly event: "storage_unavailable" | "storage_error";
  readonly error: string;
}

/** What every member reports once registered. */
export interface ReadyFigures {
  readonly pid: number;
  readonly subscriptions: number;
  readonly circuits: number;
}

/** A member's storage, factory and the module they come from. */
export interface Member {
  readonly config: MemberConfig;
  readonly purgatory: PurgatoryModule;
  readonly storage: InstanceType<PurgatoryModule["RedisStorage"]>;
  readonly factory: InstanceType<PurgatoryModule["AsyncCircuitBreakerFactory"]>;
  /** The names of the circuits this member holds. */
  readonly names: readonly string[];
  /** `storage_unavailable` / `storage_error` events seen so far (the first `MAX_PROBLEMS`). */
  readonly problems: readonly StorageProblem[];
  /** Resolves once no outage is under way (every `storage_unavailable` followed by `storage_recovered`). */
  healthy(): Promise<void>;
  /** Closes the factory, then the Cluster client if the member made one. */
  close(): Promise<void>;
}

/** Storage problems a member keeps, to report. */
const MAX_PROBLEMS = 20;

/** The phase problems are filed under; `startWindow` moves it on. */
let phase: StorageProblem["phase"] = "registration";

/** The member's config, from its one command-line argument. */
export function memberConfig(): MemberConfig {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error("usage: <role>.ts '<json MemberConfig>'");
  return JSON.parse(arg) as MemberConfig;
}

/** `<base>-0` to `<base>-<count - 1>`. */
export function circuitNames(base: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${base}-${i}`);
}

/**
 * Makes the member's storage and factory on its deployment, with the storage's default options,
 * and initializes them (connected and subscribed, no circuit yet). A Cluster target gets an
 * ioredis `Cluster` passed as `client`.
 */
export async function joinFleet(config: MemberConfig): Promise<Member> {
  const purgatory = await loadPurgatory();
  const { target } = config;
  let cluster: Cluster | undefined;
  const where =
    target.kind === "standalone"
      ? { url: target.url }
      : { client: (cluster = new Cluster([...target.nodes], { redisOptions: { commandTimeout: 1000 } })) };
  const storage = new purgatory.RedisStorage({
    ...where,
    prefix: config.prefix,
    ...(config.processName === undefined ? {} : { processName: config.processName }),
  });
  const factory = new purgatory.AsyncCircuitBreakerFactory({
    storage,
    defaultThreshold: config.threshold,
    defaultTtl: config.ttl,
    ...(config.quorum === undefined ? {} : { defaultQuorum: config.quorum }),
  });
  const problems: StorageProblem[] = [];
  let outage = false;
  let recovered: (() => void)[] = [];
  factory.addListener((_name, eventType, event) => {
    if (eventType === "storage_recovered") {
      outage = false;
      for (const resolve of recovered.splice(0)) resolve();
    }
    if (eventType !== "storage_unavailable" && eventType !== "storage_error") return;
    if (eventType === "storage_unavailable") outage = true;
    const error = event.error instanceof Error ? event.error.message : String(event.error);
    if (problems.length < MAX_PROBLEMS)
      problems.push({ role: config.role, pid: process.pid, phase, event: eventType, error });
  });
  await factory.initialize();
  return {
    config,
    purgatory,
    storage,
    factory,
    names: circuitNames(config.names, config.circuits),
    problems,
    healthy: () => (outage ? new Promise<void>((resolve) => recovered.push(resolve)) : Promise.resolve()),
    close: async () => {
      recovered = [];
      await factory.close();
      await cluster?.quit().catch(() => cluster.disconnect());
    },
  };
}

/**
 * A fleet member registers its circuits `FLEET_CHUNK` at a time: its own start-up is not what is
 * measured (the startup member measures that, alone), and 16 processes each sending 10,000 scripts
 * at once to one Redis on 2 cores would only measure the queue behind them.
 */
export const FLEET_CHUNK = 500;

/**
 * Registers the member's circuits, waits until its storage has recovered from any outage the
 * registration caused (so that the window starts on a healthy fleet), and prints `READY <json>`.
 */
export async function getReady(member: Member): Promise<void> {
  const { names, factory } = member;
  for (let i = 0; i < names.length; i += FLEET_CHUNK) {
    await Promise.all(names.slice(i, i + FLEET_CHUNK).map((name) => factory.getBreaker(name)));
  }
  await member.healthy();
  const stats = member.storage.stats();
  const ready: ReadyFigures = { pid: process.pid, subscriptions: stats.subscriptions, circuits: stats.circuits };
  process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
}

/** Prints the member's result (`RESULT <json>`) for the parent. */
export const sayResult = sendResult;

/** The `start` / `stop` lines of the parent, read from stdin. */
export interface ParentLines {
  /** Resolves when the parent sends `word` on a line of its own. */
  heard(word: "start" | "stop"): Promise<void>;
  /** Stops reading stdin, so that the member can end by itself once closed. */
  done(): void;
}

/**
 * Starts reading the parent's lines. If stdin closes before `done()` (the parent is gone), the
 * member exits at once: nothing is left to measure for.
 */
export function parentLines(): ParentLines {
  const lines = createInterface({ input: process.stdin });
  const waiting = new Map<string, () => void>();
  const early = new Set<string>();
  lines.on("line", (line) => {
    const word = line.trim();
    const resolve = waiting.get(word);
    if (resolve === undefined) early.add(word);
    else resolve();
    waiting.delete(word);
  });
  const orphaned = (): never => process.exit(2);
  lines.on("close", orphaned);
  return {
    heard: (word) =>
      new Promise((resolve) => {
        if (early.delete(word)) resolve();
        else waiting.set(word, resolve);
      }),
    done: () => {
      lines.off("close", orphaned);
      lines.close();
      process.stdin.destroy();
    },
  };
}

/** Starts a measurement window; the function it returns ends it and gives its figures. */
export function startWindow(member: Member): () => WindowFigures {
  phase = "window";
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  gc.observe({ entryTypes: ["gc"] });
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  const before = member.storage.stats();
  return () => {
    const wallMs = performance.now() - wall0;
    phase = "after";
    const cpu = process.cpuUsage(cpu0);
    const after = member.storage.stats();
    gc.disconnect();
    return {
      wallMs,
      cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      gcMs,
      messages: after.messagesReceived - before.messagesReceived,
      scripts: after.scriptsRun - before.scriptsRun,
    };
  };
}

/** Wall-clock time in ms with sub-ms precision, comparable between the processes of one machine. */
export const epochMs = (): number => performance.timeOrigin + performance.now();
