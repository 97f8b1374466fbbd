/**
 * Watching every circuit of a prefix at a bounded cost, for operators (the dashboard and
 * `purgatory circuits --watch`): a circuit is read when it changed, not on a timer.
 *
 * - **Changes** come from the circuits' own channels (`<prefix>:events:{name}`, SSUBSCRIBE on
 *   Redis 7, through the storage's `Subscriptions`): every script that changes what a replica
 *   needs publishes there (a transition, a probe, a failure count leaving or reaching zero, a new
 *   config, a new incarnation). A message marks its circuit; the marked circuits are read
 *   together a few milliseconds later (`readCircuits`).
 * - **New names** come from the registry: `ZCARD` and `ZRANGEBYSCORE (<highest score seen> +inf`
 *   every `registryInterval` (a registration scores its name with Redis's time), and the whole
 *   registry every `relistInterval` or when its size says it moved. A known name scored anew (its
 *   key written again) is read again, its message having been missed perhaps.
 * - **What changes silently** (a failure count going from 2 to 3, the window's counts, the active
 *   callers of a quorum) and **a lost message** are caught by a sweep that re-reads a few
 *   circuits at a time within `sweepCommandsPerSecond`: two thirds of it for the circuits whose
 *   last read showed such counts, one third round-robin over every circuit.
 *
 * Cost with nothing changing: about 2 commands a second for the registry plus the sweep's budget
 * (10 by default), whatever the number of circuits. The watcher holds no circuit: it writes
 * nothing and renews no `keyTtl`.
 *
 * Past 400 lines because the three sources above mark one set of circuits and share one
 * connection's ups and downs; the reads are `inspect.ts`'s, the messages `codec.ts`'s.
 * @module
 */
import { parseMessage } from "./codec.js";
import { readCircuits, readCost, type CircuitInfo } from "./inspect.js";
import type { RedisKeys } from "./keys.js";
import type { RedisClient, RedisSettings } from "./options.js";
import { Subscriptions } from "./subscriptions.js";

/** The command client of a feed: a `RedisClient` that also counts a sorted set. */
export type FeedClient = RedisClient & { zcard(key: string): Promise<number> };

/** Whether Redis answers the feed, and why not in plain words. */
export interface FeedStatus {
  readonly available: boolean;
  /** Why Redis cannot be read (`"connection refused"`, `"no answer within 1 s"`), or `null`. */
  readonly error: string | null;
}

/** What a feed tells its owner. */
export interface FeedListener {
  /**
   * `circuits` were read (new, changed, or re-read by the sweep); `gone` are names Redis no longer
   * holds (their key is gone, or the registry dropped them); `offset` is Redis's clock minus this
   * machine's (ms) as the read measured it, `null` when nothing was read.
   */
  read(circuits: readonly CircuitInfo[], gone: readonly string[], offset: number | null): void;
  /** Redis stopped or started answering. */
  status(status: FeedStatus): void;
}

/** Intervals and budgets of a feed (defaults: the figures in the module's comment). */
export interface FeedOptions {
  /** Milliseconds between two looks at the registry (`ZCARD`, `ZRANGEBYSCORE`). Default 1000. */
  readonly registryIntervalMs?: number;
  /** Milliseconds between two reads of the whole registry. Default 30,000. */
  readonly relistIntervalMs?: number;
  /** Commands per second the sweep may send. Default 10. */
  readonly sweepCommandsPerSecond?: number;
  /** Milliseconds a message waits for others before its circuit is read. Default 20. */
  readonly debounceMs?: number;
}

/** What a feed did since it started, for tests and benchmarks. */
export interface FeedStats {
  readonly circuits: number;
  readonly messages: number;
  /** Circuits read, by cause. */
  readonly changedReads: number;
  readonly sweepReads: number;
}

/** Circuits read at once at most (a burst after a resubscription is read in chunks). */
const CHUNK = 500;

/** What the feed knows of a name of the registry. */
interface Known {
  /** Its score in the registry (Redis time of its latest registration). */
  score: number;
  /** Commands a read of it costs (3 with a quorum). */
  cost: number;
  /** Whether its last read showed counts that change without a message. */
  silent: boolean;
}

/**
 * Watches the circuits of one prefix. `start()` reads them all once; from then on `listener`
 * hears of each change.
 *
 * @example
 * ```ts
 * const feed = new CircuitFeed(client, settings, redisKeys("purgatory"), {
 *   read: (circuits, gone) => console.log(circuits.map((c) => c.name), gone),
 *   status: (status) => console.log(status),
 * });
 * await feed.start();
 * await feed.close();
 * ```
 */
export class CircuitFeed {
  readonly #client: FeedClient;
  readonly #keys: RedisKeys;
  readonly #listener: FeedListener;
  readonly #subscriptions: Subscriptions;
  readonly #registryMs: number;
  readonly #relistMs: number;
  readonly #sweepRate: number;
  readonly #debounceMs: number;
  readonly #names = new Map<string, Known>();
  /** The highest registry score seen: names scored above it are new (or registered again). */
  #watermark = 0;
  #lastRelist = 0;
  /** Names marked by a message (or a resubscription), to read soon. */
  readonly #dirty = new Set<string>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #registryTimer: ReturnType<typeof setInterval> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** The round-robin positions of the sweep's two lanes. */
  #cursor = 0;
  #silentCursor = 0;
  #lastSweep = 0;
  /** Operations on Redis, one after the other (so that a later read is never overtaken). */
  #tail: Promise<void> = Promise.resolve();
  #status: FeedStatus = { available: true, error: null };
  /** The latest connection error the client reported (`ECONNREFUSED`...), for the status. */
  #cause: unknown;
  #subscribed = false;
  #closed = false;
  #messages = 0;
  #changedReads = 0;
  #sweepReads = 0;
  readonly #onError = (error: unknown): void => {
    this.#cause = error;
  };

  constructor(
    client: FeedClient,
    settings: RedisSettings,
    keys: RedisKeys,
    listener: FeedListener,
    options: FeedOptions = {},
  ) {
    this.#client = client;
    this.#keys = keys;
    this.#listener = listener;
    this.#registryMs = options.registryIntervalMs ?? 1000;
    this.#relistMs = options.relistIntervalMs ?? 30_000;
    this.#sweepRate = options.sweepCommandsPerSecond ?? 10;
    this.#debounceMs = options.debounceMs ?? 20;
    this.#subscriptions = new Subscriptions(settings, {
      message: (message) => this.#message(message),
      resubscribed: (channels) => this.#mark(channels.map((c) => keys.nameOf(c)).filter((n) => n !== undefined)),
      lost: (error) => this.#down(error),
      // A channel the ACL refuses: its circuit is seen by the sweep only.
      refused: () => undefined,
    });
    client.on("error", this.#onError);
  }

  /** Whether Redis answered the feed's last command. */
  get status(): FeedStatus {
    return this.#status;
  }

  /** What the feed did so far. */
  stats(): FeedStats {
    return {
      circuits: this.#names.size,
      messages: this.#messages,
      changedReads: this.#changedReads,
      sweepReads: this.#sweepReads,
    };
  }

  /**
   * Subscribes every circuit's channel and reads every circuit once (the listener hears of them),
   * then follows them. Resolves even when Redis cannot be reached (the listener hears `status`,
   * and the feed catches up once it answers).
   */
  async start(): Promise<void> {
    await this.#run(() => this.#connect());
    await this.#run(() => this.#relist());
    await this.#flushAll();
    const now = Date.now();
    this.#lastSweep = now;
    this.#registryTimer = setInterval(() => void this.#run(() => this.#pollRegistry()), this.#registryMs);
    this.#sweepTimer = setInterval(() => void this.#run(() => this.#sweep()), 1000);
    this.#registryTimer.unref?.();
    this.#sweepTimer.unref?.();
  }

  /** Reads `names` now (after the operations under way), e.g. right after an operator changed one. */
  refresh(names: readonly string[]): Promise<void> {
    return this.#run(() => this.#read(names, "changed"));
  }

  /** Stops watching and closes the subscriber connections (not the command client). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#flushTimer);
    clearInterval(this.#registryTimer);
    clearInterval(this.#sweepTimer);
    this.#client.removeListener("error", this.#onError);
    await this.#tail;
    await this.#subscriptions.close();
  }

  /** Runs `operation` after the others; a failure marks Redis down, a success up. */
  #run(operation: () => Promise<void>): Promise<void> {
    const next = this.#tail.then(async () => {
      if (this.#closed) return;
      try {
        await operation();
      } catch (error) {
        this.#down(error);
        return;
      }
      if (!this.#status.available) await this.#up();
    });
    this.#tail = next;
    return next;
  }

  async #connect(): Promise<void> {
    if (this.#client.status === "wait") await this.#client.connect();
    await this.#subscriptions.connect(this.#client);
    this.#subscribed = true;
  }

  /** Redis answers again: subscribe what is missing, read the whole registry and every circuit. */
  async #up(): Promise<void> {
    try {
      if (!this.#subscribed) await this.#connect();
      // Answering again is said before the circuits read now are: never circuits under a "down" banner.
      this.#cause = undefined;
      this.#status = { available: true, error: null };
      this.#listener.status(this.#status);
      await this.#relist();
    } catch (error) {
      this.#down(error);
      return;
    }
    // Messages may have been lost meanwhile: every circuit is read again.
    this.#mark(this.#names.keys());
  }

  #down(error: unknown): void {
    if (this.#closed) return;
    const said = plainReason(this.#cause ?? error);
    if (!this.#status.available && this.#status.error === said) return;
    this.#status = { available: false, error: said };
    this.#listener.status(this.#status);
  }

  #message(message: string): void {
    this.#messages += 1;
    let name: string;
    try {
      name = parseMessage(message).name;
    } catch {
      return;
    }
    if (this.#names.has(name)) this.#mark([name]);
  }

  /** Marks names to read soon (they changed, or their messages may have been lost). */
  #mark(names: Iterable<string>): void {
    for (const name of names) this.#dirty.add(name);
    if (this.#dirty.size === 0 || this.#flushTimer !== undefined || this.#closed) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.#flushAll();
    }, this.#debounceMs);
    this.#flushTimer.unref?.();
  }

  /** Reads the marked names, a chunk at a time, until none is left. */
  async #flushAll(): Promise<void> {
    while (this.#dirty.size > 0 && !this.#closed && this.#status.available) {
      const names = [...this.#dirty].slice(0, CHUNK);
      for (const name of names) this.#dirty.delete(name);
      await this.#run(() => this.#read(names, "changed"));
    }
  }

  /** Reads `names` and tells the listener; a name whose key is gone is `gone`. */
  async #read(names: readonly string[], cause: "changed" | "sweep"): Promise<void> {
    if (names.length === 0) return;
    const { offset, circuits } = await readCircuits(this.#client, this.#keys, names);
    if (cause === "changed") this.#changedReads += names.length;
    else this.#sweepReads += names.length;
    const found = new Set<string>();
    for (const circuit of circuits) {
      found.add(circuit.name);
      const known = this.#names.get(circuit.name);
      if (known === undefined) continue;
      known.cost = readCost(circuit);
      known.silent = circuit.failureCount > 0 || circuit.window !== null || circuit.quorum !== null;
    }
    const gone = names.filter((name) => !found.has(name));
    if (circuits.length > 0 || gone.length > 0) this.#listener.read(circuits, gone, offset);
  }

  /** New names (scored above the watermark), and the whole registry when its size moved. */
  async #pollRegistry(): Promise<void> {
    const registry = this.#keys.registry;
    const [count, fresh] = await Promise.all([
      this.#client.zcard(registry),
      this.#client.zrangebyscore(registry, `(${this.#watermark}`, "+inf", "WITHSCORES"),
    ]);
    const added = this.#learn(fresh);
    if (count !== this.#names.size || Date.now() - this.#lastRelist >= this.#relistMs) await this.#relist();
    else await this.#adopt(added);
  }

  /** Reads the whole registry: subscribes and reads the names it did not know, forgets those gone. */
  async #relist(): Promise<void> {
    const all = await this.#client.zrangebyscore(this.#keys.registry, "-inf", "+inf", "WITHSCORES");
    this.#lastRelist = Date.now();
    const listed = new Set<string>();
    for (let i = 0; i + 1 < all.length; i += 2) listed.add(all[i] as string);
    const gone = [...this.#names.keys()].filter((name) => !listed.has(name));
    for (const name of gone) {
      this.#names.delete(name);
      this.#dirty.delete(name);
      this.#subscriptions.remove(this.#keys.channel(name));
    }
    if (gone.length > 0) this.#listener.read([], gone, null);
    await this.#adopt(this.#learn(all));
  }

  /**
   * Takes `[name, score, ...]`: returns the names it did not know, marks those scored anew (a
   * registration wrote the key anew: its message may have been missed); raises the watermark.
   */
  #learn(withScores: readonly string[]): string[] {
    const added: string[] = [];
    const rescored: string[] = [];
    for (let i = 0; i + 1 < withScores.length; i += 2) {
      const name = withScores[i] as string;
      const score = Number(withScores[i + 1]);
      if (score > this.#watermark) this.#watermark = score;
      const known = this.#names.get(name);
      if (known !== undefined) {
        if (known.score !== score) rescored.push(name);
        known.score = score;
        continue;
      }
      this.#names.set(name, { score, cost: 1, silent: false });
      added.push(name);
    }
    this.#mark(rescored);
    return added;
  }

  /** Subscribes new names' channels, then reads them (no change falls between the two). */
  async #adopt(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    await Promise.all(names.map((name) => this.#subscriptions.add(this.#keys.channel(name))));
    this.#mark(names);
  }

  /**
   * The safety net: re-reads circuits within the budget, two thirds for those with counts that
   * change silently, the rest round-robin over all.
   */
  async #sweep(): Promise<void> {
    if (!this.#status.available) return;
    const now = Date.now();
    const seconds = Math.min(2, Math.max(0, (now - this.#lastSweep) / 1000));
    this.#lastSweep = now;
    // One command of the budget is the read's TIME.
    let budget = Math.floor(this.#sweepRate * seconds) - 1;
    if (budget <= 0 || this.#names.size === 0) return;
    const names = [...this.#names.keys()];
    const picked = new Set<string>();
    const silent = names.filter((name) => this.#names.get(name)?.silent === true);
    let silentBudget = silent.length === 0 ? 0 : Math.ceil((budget * 2) / 3);
    for (let tried = 0; tried < silent.length && silentBudget > 0; tried++) {
      const name = silent[this.#silentCursor++ % silent.length] as string;
      const cost = this.#names.get(name)?.cost ?? 1;
      if (cost > silentBudget && picked.size > 0) break;
      picked.add(name);
      silentBudget -= cost;
      budget -= cost;
    }
    for (let tried = 0; tried < names.length && budget > 0; tried++) {
      const name = names[this.#cursor++ % names.length] as string;
      if (picked.has(name)) continue;
      const cost = this.#names.get(name)?.cost ?? 1;
      if (cost > budget) break;
      picked.add(name);
      budget -= cost;
    }
    if (this.#cursor >= names.length) this.#cursor = 0;
    if (silent.length > 0) this.#silentCursor %= silent.length;
    await this.#read([...picked], "sweep");
  }
}

/** Why Redis cannot be read, in an operator's words: no client internals. */
export function plainReason(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === "string" ? message : String(error);
  const words: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "the connection was reset",
    ENOTFOUND: "unknown host",
    EHOSTUNREACH: "host unreachable",
    ETIMEDOUT: "no answer in time",
    EPIPE: "the connection was closed",
  };
  if (typeof code === "string" && words[code] !== undefined) return words[code];
  if (/^(NOAUTH|WRONGPASS|NOPERM)/.test(text)) return `Redis refused the connection: ${text.split("\n")[0] ?? text}`;
  if (/Redis refused/.test(text)) return text.split("\n")[0] ?? text;
  if (/timed? ?out/i.test(text)) return "no answer in time";
  if (/closed|isn't writeable|not connected|enableOfflineQueue/i.test(text)) return "the connection is down";
  if (/LOADING/.test(text)) return "Redis is loading its data";
  return (text.split("\n")[0] ?? text).slice(0, 300);
}
