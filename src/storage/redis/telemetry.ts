/**
 * A process's side of the fleet's telemetry (docs/telemetry.md): it reports its circuits'
 * traffic, one message a second for all of them, only while somebody watches.
 *
 * - The process is subscribed to the watch channel with its circuits' channels (no command more).
 *   A watcher (the dashboard, `purgatory top`) announces itself there every few seconds and keeps
 *   its entry in the watchers' sorted set (score: until when it watches), which a process reads
 *   once when it connects or subscribes again, so that one that was away learns of a watcher
 *   without waiting for its next announcement.
 * - While a watcher's `until` has not passed, the process counts its calls (the factory's
 *   recorder, `TrafficSource`) and, at each second of Redis's clock, publishes one report of every
 *   circuit that counted something, on the reports channel: one command a second, whatever the
 *   number of circuits. Once every announcement has run out it stops counting and publishing.
 * - Nobody watching: no command at all, and no timer.
 * @module
 */
import type { TrafficSource } from "../storage.js";
import { decodeAnnouncement, encodeReport } from "./traffic-codec.js";
import type { RedisKeys } from "./keys.js";
import type { RedisClient } from "./options.js";

/** What the telemetry needs from its storage. */
export interface TelemetryOptions {
  readonly keys: RedisKeys;
  /** This process's name in reports. */
  readonly processName: string;
  /** Redis's time now (epoch ms), as the storage estimates it. */
  readonly now: () => number;
  /** Runs a command on the command client; rejects while Redis is unavailable. */
  readonly run: <T>(command: (client: RedisClient) => Promise<T>) => Promise<T>;
  /** `SPUBLISH` or `PUBLISH`, as the circuits' messages travel. */
  readonly publishCommand: () => string;
  /** Whether this process is open for itself on circuit `name` (added to its entry of a report). */
  readonly openForItself: (name: string) => boolean;
}

/** Publishes a message on a channel, routed by the channel's slot on a Cluster (the channel is the key). */
const PUBLISH = "return redis.call(ARGV[1], KEYS[1], ARGV[2])";

/** The process's side of the telemetry of one storage. */
export class Telemetry {
  readonly #options: TelemetryOptions;
  #source: TrafficSource | undefined;
  /** Until when somebody watches, on this process's clock of Redis (epoch ms); 0: nobody. */
  #until = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the interval being counted began (Redis time). */
  #since = 0;
  #closed = false;
  /** Reports sent, for tests and benchmarks. */
  reports = 0;

  constructor(options: TelemetryOptions) {
    this.#options = options;
  }

  /** Whether somebody watches now. */
  get watched(): boolean {
    return this.#timer !== undefined;
  }

  /** Attaches the counter of the calls (one per storage); returns what detaches it. */
  attach(source: TrafficSource): () => void {
    this.#source = source;
    if (this.watched) source.watched(true);
    return () => {
      if (this.#source !== source) return;
      if (this.watched) source.watched(false);
      this.#source = undefined;
    };
  }

  /**
   * A message on the watch channel: a watcher's announcement, or its leaving (an announcement
   * that has run out), after which the watchers' set says whether anybody still watches.
   */
  heard(message: string): void {
    const announcement = decodeAnnouncement(message);
    if (announcement === undefined) return;
    if (announcement.until > this.#options.now()) this.#watchUntil(announcement.until);
    else if (this.watched) this.check(true).catch(() => undefined);
  }

  /**
   * Reads the watchers' set (at a connection, a resubscription, a watcher's leaving): a watcher
   * there is watching. With `exact`, the latest `until` there replaces the one known: nobody
   * left, the reports stop at the next second.
   */
  async check(exact = false): Promise<void> {
    const { keys, now, run } = this.#options;
    const entries = await run((c) =>
      c.zrangebyscore(keys.telemetry.watchers, String(Math.floor(now())), "+inf", "WITHSCORES"),
    );
    if (exact) this.#until = 0;
    for (let i = 1; i < entries.length; i += 2) this.#watchUntil(Number(entries[i]));
  }

  /** Stops for good. */
  close(): void {
    this.#closed = true;
    this.#stop();
  }

  #watchUntil(until: number): void {
    if (this.#closed || !(until > this.#options.now())) return;
    if (until > this.#until) this.#until = until;
    if (this.#timer !== undefined) return;
    this.#since = this.#options.now();
    this.#source?.watched(true);
    this.#schedule();
  }

  /** The next tick: just after the next whole second of Redis's clock. */
  #schedule(): void {
    const now = this.#options.now();
    const delay = 1000 - (now % 1000) + 5;
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref?.();
  }

  #stop(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#until = 0;
    this.#source?.watched(false);
  }

  async #tick(): Promise<void> {
    const { now, keys, processName, run, publishCommand, openForItself } = this.#options;
    const end = Math.floor(now() / 1000) * 1000;
    const since = this.#since;
    this.#since = end;
    const circuits = this.#source?.take() ?? [];
    const flagged = circuits.map((c) => ({ ...c, openForItself: openForItself(c.name) }));
    if (end >= this.#until) this.#stop();
    else this.#schedule();
    if (flagged.length === 0) return;
    const message = encodeReport({
      process: processName,
      end,
      intervalMs: Math.max(1, end - since),
      circuits: flagged,
    });
    try {
      await run((c) => c.eval(PUBLISH, 1, keys.telemetry.reports, publishCommand(), message));
      this.reports += 1;
    } catch {
      // Unavailable (the transport reports the outage) or refused: this interval is lost, the next is sent.
    }
  }
}
