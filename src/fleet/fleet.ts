/**
 * The fleet as an operator sees it: the circuits one Redis holds under one prefix, read with
 * `RedisStorage.inspect` and changed with `RedisStorage.controlExisting` / `configureExisting`:
 * each change is one atomic, published script that acts only on a circuit Redis holds (an
 * operator's tool never creates a circuit, not even one deleted while it acted), and every process
 * holding the circuit hears of it at once. `watch` follows every circuit at a bounded cost
 * (`CircuitFeed`). The CLI and the dashboard both work through it.
 * @module
 */
import type { CircuitConfig } from "../core/circuit.js";
import type { ControlAction } from "../core/machine.js";
import { InvalidOptionError } from "../errors.js";
import { applyChanges, type ConfigChanges } from "../options/policies.js";
import type { FeedClient, RedisClient } from "../storage/redis/client/client.js";
import { loadClientLibrary, NO_CLIENT_LIBRARY, type ClientLibrary } from "../storage/redis/client/detect.js";
import { isReplyError } from "../storage/redis/codec.js";
import type { CircuitInfo } from "../storage/redis/inspect.js";
import { makeClient, toRedisSettings, type RedisSettings } from "../storage/redis/options.js";
import { RedisStorage } from "../storage/redis/storage.js";
import { TrafficWatch, type TrafficWatchOptions } from "../storage/redis/traffic-watch.js";
import { CircuitFeed, plainReason, type FeedListener, type FeedOptions } from "../storage/redis/watch.js";
import { clusterOf, connectionOptions, diagnose, isClusterNode, maskPassword } from "./connection.js";
import { CliError, EXIT, UnreachableError } from "./errors.js";

/** Where the fleet's state lives. */
export interface FleetOptions {
  /** `redis://...` or `rediss://...`. */
  readonly url: string;
  /** The key prefix of the fleet's `RedisStorage` (default `"purgatory"`). */
  readonly prefix?: string;
  /** Seconds a Redis command may take before Redis counts as unreachable. Default 1. */
  readonly commandTimeout?: number;
}

/** A circuit before and after an operator changed it. */
export interface CircuitChange {
  readonly before: CircuitInfo;
  readonly after: CircuitInfo;
}

/** A running watch of the fleet (`Fleet.watch`). */
export interface FleetFeed {
  /** Reads `names` now: right after an operator changed one, say. */
  refresh(names: readonly string[]): Promise<void>;
  /** Stops watching. */
  close(): Promise<void>;
}

/**
 * A connection to a fleet's Redis for reading and changing its circuits.
 *
 * @example
 * ```ts
 * const fleet = await Fleet.connect({ url: "redis://127.0.0.1:6379", prefix: "purgatory" });
 * for (const circuit of await fleet.circuits()) console.log(circuit.name, circuit.state);
 * await fleet.control("payments", "isolate");
 * await fleet.close();
 * ```
 */
export class Fleet {
  readonly #storage: RedisStorage;
  /** The settings of the storage's connections (for a watch's own connections). */
  readonly #settings: RedisSettings;
  /** The Cluster client made for a Cluster's node, closed with the fleet. */
  readonly #cluster: RedisClient | undefined;
  /** Stops listening to the storage's health. */
  readonly #unsubscribe: () => void;
  /** The latest outage (and refusal of a command) the storage reported, for messages. */
  readonly #outage: { error: unknown; refusal: unknown };
  /** The command client of the watches of a single server, made by the first watch. */
  #watchClient: FeedClient | undefined;
  readonly #feeds = new Set<CircuitFeed>();
  readonly #traffic = new Set<TrafficWatch>();
  /** The URL with its password masked, for messages. */
  readonly url: string;
  readonly prefix: string;

  private constructor(
    storage: RedisStorage,
    settings: RedisSettings,
    url: string,
    prefix: string,
    cluster: RedisClient | undefined,
    outage: { error: unknown; refusal: unknown },
    unsubscribe: () => void,
  ) {
    this.#storage = storage;
    this.#settings = settings;
    this.#cluster = cluster;
    this.#outage = outage;
    this.#unsubscribe = unsubscribe;
    this.url = url;
    this.prefix = prefix;
  }

  /**
   * Connects, or throws: a `CliError` with exit code 1 for a bad URL or prefix, an
   * `UnreachableError` (exit code 2) when Redis does not answer within the command timeout or
   * neither ioredis nor node-redis (`redis`) is installed (ioredis is used when both are). Never
   * waits longer than about a second for a dead server.
   */
  static async connect(options: FleetOptions): Promise<Fleet> {
    const prefix = options.prefix ?? "purgatory";
    const commandTimeout = options.commandTimeout ?? 1;
    let storage: RedisStorage;
    let settings: RedisSettings;
    try {
      // The URL and the prefix are checked first (a storage connects nothing until initialized):
      // a bad argument says so whatever is installed.
      void new RedisStorage({ url: options.url, prefix, commandTimeout });
    } catch (error) {
      throw asUsageError(error);
    }
    const url = maskPassword(options.url);
    let library: ClientLibrary;
    try {
      library = await loadClientLibrary();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new UnreachableError(
        message === NO_CLIENT_LIBRARY
          ? 'talking to Redis needs one of the optional peer dependencies "ioredis" or "redis": run `npm install ioredis` (or `npm install redis`)'
          : message,
      );
    }
    // inspect() reads every circuit at once: one pipeline instead of one round trip each. A
    // server that takes connections and never answers is given a second, not four; and ioredis
    // keeps a process alive for disconnectTimeout after closing a connection that never opened
    // (its timer waits for a "close" that already happened): a short one.
    const given = { url: options.url, prefix, commandTimeout, redisOptions: connectionOptions(library) };
    settings = toRedisSettings(given);
    storage = new RedisStorage(given);
    // A node of a Redis Cluster: the whole Cluster, through a Cluster client seeded with it (the
    // storage made above connected nothing).
    const cluster = (await isClusterNode(library, options.url, commandTimeout * 1000))
      ? clusterOf(library, options.url)
      : undefined;
    if (cluster !== undefined) {
      settings = toRedisSettings({ client: cluster, prefix, commandTimeout });
      storage = new RedisStorage({ client: cluster, prefix, commandTimeout });
    }
    const outage: { error: unknown; refusal: unknown } = { error: undefined, refusal: undefined };
    const unsubscribe = storage.subscribe((_name, eventType, event) => {
      if (eventType !== "storage_unavailable" && eventType !== "storage_error") return;
      const { error } = event as { error?: unknown };
      outage.error = error;
      // Redis answered a script with an error (NOPERM for a user without the permission): the
      // storage says only that it could not act; this says why.
      if (eventType === "storage_error" && isReplyError(error)) outage.refusal = error;
    });
    await storage.initialize();
    if (!storage.available) {
      unsubscribe();
      await storage.close();
      cluster?.disconnect();
      const said = outage.error === undefined ? "" : reason(outage.error);
      // Redis's own words (a refused password, an unknown database) say why; a client's ("connect
      // ECONNREFUSED 10.0.0.5:6379", "Command timed out", "Connection is closed.") do not say it
      // in an operator's words: the socket tells why.
      const serverSaid =
        /^(Redis refused|[A-Z]+ )/.test(said) && !/^E(CONN|TIMEDOUT|HOST|NOTFOUND|PIPE|AI_)/.test(said);
      const detail = serverSaid ? said : await diagnose(options.url);
      throw new UnreachableError(`Redis cannot be reached at ${url}: ${detail}`);
    }
    return new Fleet(storage, settings, url, prefix, cluster, outage, unsubscribe);
  }

  /** Whether Redis answered the last command. */
  get available(): boolean {
    return this.#storage.available;
  }

  /** Every circuit of the prefix (its registry), sorted by name, as Redis holds them. */
  circuits(): Promise<CircuitInfo[]> {
    return this.#guard(() => this.#storage.inspect(), "list the circuits");
  }

  /** Circuit `name` as Redis holds it; `undefined` if there is none. */
  async find(name: string): Promise<CircuitInfo | undefined> {
    const [info] = await this.#guard(() => this.#storage.inspect([name]), `read ${quoted(name)}`);
    return info;
  }

  /** Circuit `name`, or a `CliError` (exit code 1) saying there is no such circuit. */
  async get(name: string): Promise<CircuitInfo> {
    const info = await this.find(name);
    if (info === undefined) throw this.#noSuchCircuit(name);
    return info;
  }

  /**
   * Isolates, disables or resets an existing circuit, fleet-wide (see `AsyncCircuitBreaker.isolate`),
   * in one atomic script that refuses a name Redis does not hold (`CliError`, exit code 1) rather
   * than create it.
   */
  async control(name: string, action: ControlAction): Promise<CircuitChange> {
    const doing = `${action} ${quoted(name)}`;
    const [before] = await this.#guard(() => this.#storage.inspect([name]), doing);
    const done = await this.#guard(() => this.#storage.controlExisting(name, action), doing);
    if (!done) throw this.#noSuchCircuit(name);
    const [after] = await this.#guard(() => this.#storage.inspect([name]), doing);
    // Deleted right after the action: what the action left is all there is to say.
    if (after === undefined) throw this.#noSuchCircuit(name);
    return { before: before ?? after, after };
  }

  /**
   * Changes an existing circuit's config, fleet-wide (see `AsyncCircuitBreakerFactory.reconfigure`):
   * the new config is worked out from the one Redis holds (`changes` may be too: to change one
   * part of a policy and keep the rest), then written only if Redis still holds the circuit.
   */
  async configure(
    name: string,
    changes: ConfigChanges | ((config: CircuitConfig) => ConfigChanges),
  ): Promise<CircuitChange> {
    const before = await this.get(name);
    const given = typeof changes === "function" ? changes(before.config) : changes;
    let config: CircuitConfig;
    try {
      config = applyChanges(before.config, given);
    } catch (error) {
      throw asUsageError(error);
    }
    const done = await this.#guard(() => this.#storage.configureExisting(name, config), `reconfigure ${quoted(name)}`);
    if (!done) throw this.#noSuchCircuit(name);
    return { before, after: await this.get(name) };
  }

  /**
   * Drops from the registry the names whose keys are gone (expired by `keyTtl`, or deleted): the
   * maintenance write that listing never does. Resolves with the names dropped, sorted.
   */
  prune(): Promise<string[]> {
    return this.#guard(() => this.#storage.pruneRegistry(), "prune the registry");
  }

  /**
   * Follows every circuit of the prefix (see `CircuitFeed`): `listener` hears of every circuit
   * once, then of each change. Resolves once every circuit was read (or Redis was found away:
   * `listener.status` says so, and the watch catches up when it answers).
   */
  async watch(listener: FeedListener, options: FeedOptions = {}): Promise<FleetFeed> {
    const client = (this.#cluster ??
      (this.#watchClient ??= (await makeClient(this.#settings)) as FeedClient)) as FeedClient;
    const feed = new CircuitFeed(client, this.#settings, this.#storage.keys, listener, options);
    this.#feeds.add(feed);
    await feed.start();
    return {
      refresh: (names) => feed.refresh(names),
      close: async () => {
        this.#feeds.delete(feed);
        await feed.close();
      },
    };
  }

  /**
   * Watches the fleet's traffic (see `TrafficWatch`): every process of the prefix reports its
   * calls once a second while this watch lasts. Rejects when Redis cannot be reached.
   */
  async watchTraffic(options: TrafficWatchOptions = {}): Promise<TrafficWatch> {
    const client = this.#cluster ?? (this.#watchClient ??= (await makeClient(this.#settings)) as FeedClient);
    const watch = new TrafficWatch(client, this.#settings, this.#storage.keys, options);
    this.#traffic.add(watch);
    try {
      await this.#guard(() => watch.start(), "watch the fleet's traffic");
    } catch (error) {
      this.#traffic.delete(watch);
      await watch.close();
      throw error;
    }
    return watch;
  }

  /** Closes the connections (and the watches); the process can then end by itself. */
  async close(): Promise<void> {
    await Promise.all([...this.#feeds].map((feed) => feed.close()));
    this.#feeds.clear();
    await Promise.all([...this.#traffic].map((watch) => watch.close()));
    this.#traffic.clear();
    this.#unsubscribe();
    await this.#storage.close();
    const client = this.#watchClient;
    if (client !== undefined) await client.quit().catch(() => client.disconnect());
    await this.#cluster?.quit().catch(() => this.#cluster?.disconnect());
  }

  #noSuchCircuit(name: string): CliError {
    return new CliError(
      `no circuit named ${quoted(name)} under prefix ${quoted(this.prefix)} (purgatory circuits lists them)`,
      EXIT.usage,
    );
  }

  /**
   * Runs a Redis operation; an error while Redis is away becomes an `UnreachableError` that says
   * what could not be done (`doing`, circuit names quoted) and why, in plain words.
   */
  async #guard<T>(operation: () => Promise<T>, doing: string): Promise<T> {
    this.#outage.refusal = undefined;
    try {
      return await operation();
    } catch (error) {
      if (error instanceof CliError) throw error;
      if (error instanceof InvalidOptionError) throw asUsageError(error);
      // Redis answered with an error (a permission, data it cannot use): its words, whole.
      const refusal = isReplyError(error) ? error : this.#outage.refusal;
      if (refusal !== undefined)
        throw new UnreachableError(`cannot ${doing}: Redis at ${this.url} refused: ${reason(refusal)}`);
      const why = plainReason(this.#storage.available ? error : (this.#outage.error ?? error));
      throw new UnreachableError(`cannot ${doing}: Redis stopped answering at ${this.url} (${why})`);
    }
  }
}

/** A circuit name (or any text from Redis or the command line) in quotes, escaped as JSON. */
export const quoted = (text: string): string => JSON.stringify(text);

/** The flag of the CLI that sets each library option, for messages. */
const FLAGS: Readonly<Record<string, string>> = {
  url: "--redis",
  prefix: "--prefix",
  threshold: "--threshold",
  ttl: "--ttl",
  halfOpenMaxCalls: "--half-open-max-calls",
  quorum: "--quorum",
  "quorum.processes": "--quorum",
  "quorum.fraction": "--quorum-fraction",
};

/** An `InvalidOptionError` said in the CLI's words (its flags); anything else as it is. */
function asUsageError(error: unknown): unknown {
  if (!(error instanceof InvalidOptionError)) return error;
  const flag = FLAGS[error.option] ?? error.option;
  const at = error.message.indexOf(": expected ");
  const end = error.message.lastIndexOf(", got ");
  const expected = at < 0 ? error.message : error.message.slice(at + 2, end > at ? end : undefined);
  // Advice for library users (pass `redisOptions: { db }`) is no use on a command line.
  const said = expected.replace(/\s*\([^()]*redisOptions[^()]*\)/g, "");
  return new CliError(`invalid ${flag} ${JSON.stringify(String(error.value))}: ${said}`, EXIT.usage);
}

/** Why something failed, in one line (the server's words kept whole: a NOAUTH is never cut). */
function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] ?? "";
}
