/**
 * The fleet as an operator sees it: the circuits one Redis holds under one prefix, read with
 * `RedisStorage.inspect` and changed through the library itself (an `AsyncCircuitBreakerFactory`
 * over a `RedisStorage`: `getBreaker(name).isolate()`, `factory.reconfigure(...)`), so that every
 * change is the same atomic, published script an application's own call would run. The CLI and
 * the dashboard both work through it.
 * @module
 */
import { connect } from "node:net";
import type { Cluster } from "ioredis";
import type { CircuitConfig } from "../core/circuit.js";
import type { ControlAction } from "../core/machine.js";
import { InvalidOptionError } from "../errors.js";
import { AsyncCircuitBreakerFactory } from "../factory.js";
import type { ConfigChanges } from "../policies.js";
import type { CircuitInfo } from "../storage/redis/inspect.js";
import { RedisStorage } from "../storage/redis/storage.js";
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

/** The ioredis package, loaded when first needed (an optional peer dependency). */
const loadIoredis = (): Promise<typeof import("ioredis")> => import("ioredis");

/** The timeouts of the CLI's own connections: see `Fleet.connect`. */
const TIMEOUTS = { connectTimeout: 1000, disconnectTimeout: 200 } as const;

/** ioredis options for the CLI's own connections to one server. */
const CONNECTION_OPTIONS = { enableAutoPipelining: true, ...TIMEOUTS } as const;

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
  readonly #factory: AsyncCircuitBreakerFactory;
  /** The Cluster client made for a Cluster's node, closed with the fleet. */
  readonly #cluster: Cluster | undefined;
  /** The URL with its password masked, for messages. */
  readonly url: string;
  readonly prefix: string;

  private constructor(
    storage: RedisStorage,
    factory: AsyncCircuitBreakerFactory,
    url: string,
    prefix: string,
    cluster: Cluster | undefined,
  ) {
    this.#storage = storage;
    this.#factory = factory;
    this.#cluster = cluster;
    this.url = url;
    this.prefix = prefix;
  }

  /**
   * Connects, or throws: a `CliError` with exit code 1 for a bad URL or prefix, an
   * `UnreachableError` (exit code 2) when Redis does not answer within the command timeout or
   * ioredis is not installed. Never waits longer than about a second for a dead server.
   */
  static async connect(options: FleetOptions): Promise<Fleet> {
    const prefix = options.prefix ?? "purgatory";
    const commandTimeout = options.commandTimeout ?? 1;
    let storage: RedisStorage;
    try {
      storage = new RedisStorage({
        url: options.url,
        prefix,
        commandTimeout,
        // inspect() reads every circuit at once: one pipeline instead of one round trip each.
        // A server that takes connections and never answers is given a second, not four; and
        // ioredis keeps a process alive for disconnectTimeout after closing a connection that
        // never opened (its timer waits for a "close" that already happened): a short one.
        redisOptions: CONNECTION_OPTIONS,
      });
    } catch (error) {
      throw asUsageError(error);
    }
    const url = maskPassword(options.url);
    let ioredis: typeof import("ioredis");
    try {
      ioredis = await loadIoredis();
    } catch {
      throw new UnreachableError(
        'talking to Redis needs the optional peer dependency "ioredis": run `npm install ioredis`',
      );
    }
    // A node of a Redis Cluster: the whole Cluster, through an ioredis Cluster seeded with it
    // (the storage made above checked the URL and the prefix, and connected nothing).
    const cluster = (await isClusterNode(ioredis, options.url, commandTimeout * 1000))
      ? clusterOf(ioredis, options.url)
      : undefined;
    if (cluster !== undefined) storage = new RedisStorage({ client: cluster, prefix, commandTimeout });
    let why: unknown;
    const factory = new AsyncCircuitBreakerFactory({
      storage,
      listeners: [
        (_name, eventType, event) => {
          if (eventType === "storage_unavailable" || eventType === "storage_error")
            why ??= (event as { error?: unknown }).error;
        },
      ],
    });
    await factory.initialize();
    if (!storage.available) {
      await factory.close();
      cluster?.disconnect();
      const said = why === undefined ? "" : reason(why);
      // ioredis only says "Connection is closed."; the socket tells why.
      const detail = said === "" || said === "Connection is closed." ? await diagnose(options.url) : said;
      throw new UnreachableError(`Redis cannot be reached at ${url}: ${detail}`);
    }
    return new Fleet(storage, factory, url, prefix, cluster);
  }

  /** Whether Redis answered the last command. */
  get available(): boolean {
    return this.#storage.available;
  }

  /** Every circuit of the prefix (its registry), sorted by name, as Redis holds them. */
  circuits(): Promise<CircuitInfo[]> {
    return this.#guard(() => this.#storage.inspect());
  }

  /** Circuit `name` as Redis holds it; `undefined` if there is none. */
  async find(name: string): Promise<CircuitInfo | undefined> {
    const [info] = await this.#guard(() => this.#storage.inspect([name]));
    return info;
  }

  /** Circuit `name`, or a `CliError` (exit code 1) saying there is no such circuit. */
  async get(name: string): Promise<CircuitInfo> {
    const info = await this.find(name);
    if (info === undefined) {
      throw new CliError(
        `no circuit named ${JSON.stringify(name)} under prefix "${this.prefix}" (purgatory circuits lists them)`,
        EXIT.usage,
      );
    }
    return info;
  }

  /**
   * Isolates, disables or resets an existing circuit, fleet-wide (see `AsyncCircuitBreaker.isolate`).
   * A name Redis does not hold is refused rather than created by the registration.
   */
  async control(name: string, action: ControlAction): Promise<CircuitChange> {
    const before = await this.get(name);
    await this.#guard(async () => {
      const breaker = await this.#factory.getBreaker(name);
      await breaker[action]();
    });
    return { before, after: await this.#release(name) };
  }

  /**
   * Changes an existing circuit's config, fleet-wide (see `AsyncCircuitBreakerFactory.reconfigure`).
   * `changes` may be worked out from the config Redis holds before the change (to change one part
   * of a policy and keep the rest).
   */
  async configure(
    name: string,
    changes: ConfigChanges | ((config: CircuitConfig) => ConfigChanges),
  ): Promise<CircuitChange> {
    const before = await this.get(name);
    const given = typeof changes === "function" ? changes(before.config) : changes;
    await this.#guard(() => this.#factory.reconfigure(name, given));
    return { before, after: await this.#release(name) };
  }

  /** Closes the connections; the process can then end by itself. */
  async close(): Promise<void> {
    await this.#factory.close();
    await this.#cluster?.quit().catch(() => this.#cluster?.disconnect());
  }

  /** Forgets the circuit in this process (no subscription kept, no keyTtl renewed), then reads it. */
  async #release(name: string): Promise<CircuitInfo> {
    await this.#factory.forget(name);
    return this.get(name);
  }

  /** Runs a Redis operation; an error while Redis is away becomes an `UnreachableError`. */
  async #guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof CliError) throw error;
      if (error instanceof InvalidOptionError) throw asUsageError(error);
      if (!this.#storage.available)
        throw new UnreachableError(`Redis stopped answering at ${this.url}: ${reason(error)}`);
      throw new UnreachableError(`Redis at ${this.url} failed: ${reason(error)}`);
    }
  }
}

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
  return new CliError(`invalid ${flag} ${JSON.stringify(String(error.value))}: ${expected}`, EXIT.usage);
}

/** Why something failed, in one short line. */
function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]?.slice(0, 200) ?? "";
}

/**
 * Why a TCP connection to the URL's host and port fails, in words: refused, unknown host, no
 * answer, or taken but never answered (a server that is stopped or overloaded).
 */
function diagnose(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port || 6379), hostname.replace(/^\[|\]$/g, ""));
    const done = (why: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done("no answer to a connection within 0.5 s"), 500);
    socket.once("connect", () => done("it takes connections but does not answer (stopped or overloaded?)"));
    socket.once("error", (error: NodeJS.ErrnoException) => {
      const words: Record<string, string> = {
        ECONNREFUSED: "connection refused",
        ENOTFOUND: "unknown host",
        EHOSTUNREACH: "host unreachable",
      };
      done(error.code === undefined ? error.message : `${words[error.code] ?? error.message} (${error.code})`);
    });
  });
}

/**
 * Whether the server at `url` is a node of a Redis Cluster (`INFO cluster`), asked within `ms`;
 * `false` when it cannot tell in time (the storage's own connection then reports why).
 */
async function isClusterNode(ioredis: typeof import("ioredis"), url: string, ms: number): Promise<boolean> {
  const probe = new ioredis.Redis(url, {
    ...CONNECTION_OPTIONS,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on("error", () => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(""), ms)));
  try {
    const info = await Promise.race([probe.connect().then(() => probe.info("cluster")), late]);
    return /^cluster_enabled:1/m.test(info);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
}

/** An ioredis Cluster seeded with the node at `url`, with the URL's credentials and TLS for every node. */
function clusterOf(ioredis: typeof import("ioredis"), url: string): Cluster {
  const { hostname, port, username, password, protocol } = new URL(url);
  const credentials = {
    ...(username === "" ? {} : { username: decodeURIComponent(username) }),
    ...(password === "" ? {} : { password: decodeURIComponent(password) }),
    ...(protocol === "rediss:" ? { tls: {} } : {}),
  };
  return new ioredis.Cluster([{ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port || 6379) }], {
    enableAutoPipelining: true,
    redisOptions: { ...credentials, ...TIMEOUTS },
  });
}

/** `url` with its password replaced by `***`. */
export function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = "***";
    return parsed.href;
  } catch {
    return url;
  }
}
