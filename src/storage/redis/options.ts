/**
 * Options of `RedisStorage`, and making (or adopting) its clients: ioredis's or node-redis's,
 * behind the adapter of `./client/`.
 * @module
 */
import { InvalidOptionError } from "../../errors.js";
import { checkKeys, checkPositiveInteger, checkSeconds } from "../../options/checks.js";
import type { RedisClient } from "./client/client.js";
import { adaptClient, loadClientLibrary } from "./client/detect.js";
import { defaultProcessName } from "./runtime.js";
import type { NodeRedisClient, NodeRedisCluster } from "./client/node-redis.js";

export type { RedisClient } from "./client/client.js";
export { reconnectDelay } from "./client/client.js";
export { ioredisLoadError, loadRedisClass } from "./client/ioredis.js";
export type { NodeRedisClient, NodeRedisCluster } from "./client/node-redis.js";

/** What to do with guarded calls while Redis cannot be reached. */
export type StorageErrorPolicy = "local" | "fail-open" | "fail-closed";

/**
 * Options of `RedisStorage`. Give a `url`, or a `client` you own (a `Redis` or `Cluster` of
 * ioredis, or a client or cluster of node-redis), not both.
 *
 * @example
 * ```ts
 * new RedisStorage({ url: "redis://127.0.0.1:6379/0", prefix: "myapp", keyTtl: 86_400 });
 * ```
 */
export interface RedisStorageOptions {
  /**
   * `redis://[user:password@]host[:port][/db]` or `rediss://...`, db from 0 to 15. Default
   * `redis://127.0.0.1:6379`.
   */
  readonly url?: string;
  /**
   * A client to use instead of making one: an ioredis (5 or 6) `Redis` or `Cluster`, or a
   * node-redis (`redis` 5) client (`createClient`) or cluster (`createCluster`). You connect
   * (or not: the storage connects one that is not) and close it.
   */
  readonly client?: RedisClient | NodeRedisClient | NodeRedisCluster;
  /**
   * Extra options for the clients made from `url`: ioredis's `RedisOptions`, or node-redis's
   * `RedisClientOptions` when node-redis makes them (ioredis is not installed).
   */
  readonly redisOptions?: Readonly<Record<string, unknown>>;
  /** Prefix of every key and of the channel. Default `"purgatory"`. */
  readonly prefix?: string;
  /** Seconds after which the keys of an unused circuit expire. Default: never. */
  readonly keyTtl?: number;
  /** Seconds a Redis command may take before the storage counts Redis as unavailable. Default 0.25. */
  readonly commandTimeout?: number;
  /**
   * While Redis is unavailable: `"local"` (default) decides on this process's replica, so
   * failures still trip circuits locally; `"fail-open"` runs every call and counts nothing;
   * `"fail-closed"` rejects every call with `CircuitOpenError`.
   */
  readonly onStorageError?: StorageErrorPolicy;
  /**
   * Seconds between two background re-reads of `resyncBatch` known circuits (jittered +-50%): a
   * safety net for a message lost without a reconnection. Default 5. A re-read also renews
   * `keyTtl`: keep `keyTtl` above the time a full round takes (`resyncInterval` x circuits /
   * `resyncBatch`).
   */
  readonly resyncInterval?: number;
  /**
   * Circuits re-read per resync tick, and at once by any re-read (after an outage, a
   * reconnection, a slot move). Default 100.
   */
  readonly resyncBatch?: number;
  /** Seconds between two PINGs while Redis is unavailable. Default 0.5. */
  readonly healthCheckInterval?: number;
  /**
   * Seconds between two hand-overs of a circuit's rate-window counts to Redis (`failureRate`,
   * `slowCall`): successes cost no command, so the fleet's counts lag by at most this. A failure
   * hands over its process's counts at once. Default 0.25.
   */
  readonly flushInterval?: number;
  /**
   * How circuits' channels are published and subscribed: `"sharded"` (SPUBLISH/SSUBSCRIBE, Redis
   * 7+: on a Cluster a message stays in its shard), `"classic"` (PUBLISH/SUBSCRIBE, Redis 6), or
   * `"auto"` (default): sharded when the server is Redis 7 or newer. Every process of a fleet
   * must use the same (with `"auto"`, they do).
   */
  readonly pubsub?: PubSubMode;
  /**
   * This process's name in the fleet, for circuits with a `quorum`: the processes whose failures
   * count toward a quorum, the active callers and the processes open for themselves are told apart
   * (and shown to operators) by it. Give every process of a fleet a name of its own (two that share
   * one count as one). Default `"<hostname>:<pid>"`.
   */
  readonly processName?: string;
  /**
   * Seconds a process counts as an active caller of a circuit with a `quorum` after its last call
   * (at least the circuit's rate window). A calling process says so at most four times per horizon.
   * Default 60.
   */
  readonly callerHorizon?: number;
}

/** How circuits' channels travel; see `RedisStorageOptions.pubsub`. */
export type PubSubMode = "auto" | "sharded" | "classic";

/** Validated options. */
export interface RedisSettings {
  readonly url: string | undefined;
  readonly client: RedisClient | undefined;
  readonly redisOptions: Readonly<Record<string, unknown>>;
  readonly prefix: string;
  readonly keyTtlMs: number;
  /** Milliseconds. */
  readonly commandTimeout: number;
  readonly onStorageError: StorageErrorPolicy;
  /** Milliseconds. */
  readonly resyncInterval: number;
  readonly resyncBatch: number;
  /** Milliseconds. */
  readonly healthCheckInterval: number;
  /** Milliseconds. */
  readonly flushInterval: number;
  readonly pubsub: PubSubMode;
  readonly processName: string;
  /** Milliseconds. */
  readonly callerHorizon: number;
}

const KNOWN: Record<keyof RedisStorageOptions, true> = {
  url: true,
  client: true,
  redisOptions: true,
  prefix: true,
  keyTtl: true,
  commandTimeout: true,
  onStorageError: true,
  resyncInterval: true,
  resyncBatch: true,
  healthCheckInterval: true,
  flushInterval: true,
  pubsub: true,
  processName: true,
  callerHorizon: true,
};

/** An optional number of seconds > 0 (at most an hour), or its default, in milliseconds. */
const ms = (value: unknown, option: string, fallbackSeconds: number): number => {
  if (value === undefined) return fallbackSeconds * 1000;
  if (typeof value !== "number" || !(value > 0 && value <= 3600)) {
    throw new InvalidOptionError(
      option,
      value,
      "a number of seconds above 0 and at most 3600 (durations are in seconds)",
    );
  }
  return Math.round(value * 1e6) / 1e3;
};

/** The highest database number a URL may select: Redis's default `databases 16` gives 0 to 15. */
export const MAX_URL_DB = 15;

/**
 * Checks a Redis URL: it must parse, use redis: or rediss:, name a host, and select no database
 * or one from 0 to 15 (a server configured with more databases: leave the db out of the URL and
 * pass `redisOptions: { db }`). A password in the URL is masked in the error.
 */
export function checkRedisUrl(url: unknown): string {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === "string" ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  const invalid = (expected: string) =>
    new InvalidOptionError("url", parsed === undefined || parsed.password === "" ? url : masked(parsed), expected);
  if (parsed === undefined || (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")) {
    throw invalid('a Redis URL such as "redis://127.0.0.1:6379/0"');
  }
  if (parsed.hostname === "") throw invalid('a Redis URL with a host, such as "redis://127.0.0.1:6379/0"');
  const db = parsed.pathname.replace(/^\//, "");
  if (db !== "" && !(/^\d{1,5}$/.test(db) && Number(db) <= MAX_URL_DB)) {
    throw invalid(
      `a database number from 0 to ${MAX_URL_DB} after the host (for more, leave it out and pass redisOptions: { db })`,
    );
  }
  return url as string;
}

/** The URL with its password replaced by "***", for errors. */
function masked(url: URL): string {
  const copy = new URL(url.href);
  copy.password = "***";
  return copy.href;
}

/** Validates `new RedisStorage(...)`'s argument. */
export function toRedisSettings(input: unknown): RedisSettings {
  const options: Record<string, unknown> =
    typeof input === "string" ? { url: input } : input === undefined ? {} : (input as Record<string, unknown>);
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidOptionError("options", input, "a Redis URL or an options object");
  }
  checkKeys(options, KNOWN);
  if (options.url !== undefined && options.client !== undefined) {
    throw new InvalidOptionError("client", options.client, "either url or client, not both");
  }
  const client = options.client === undefined ? undefined : adaptClient(options.client);
  const policy = options.onStorageError ?? "local";
  if (policy !== "local" && policy !== "fail-open" && policy !== "fail-closed") {
    throw new InvalidOptionError("onStorageError", policy, '"local", "fail-open" or "fail-closed"');
  }
  const pubsub = options.pubsub ?? "auto";
  if (pubsub !== "auto" && pubsub !== "sharded" && pubsub !== "classic") {
    throw new InvalidOptionError("pubsub", pubsub, '"auto", "sharded" or "classic"');
  }
  const redisOptions = options.redisOptions ?? {};
  if (typeof redisOptions !== "object" || redisOptions === null) {
    throw new InvalidOptionError("redisOptions", redisOptions, "an ioredis options object");
  }
  return {
    url: options.url === undefined ? undefined : checkRedisUrl(options.url),
    client,
    redisOptions: redisOptions as Readonly<Record<string, unknown>>,
    prefix: (options.prefix as string | undefined) ?? "purgatory",
    keyTtlMs: options.keyTtl === undefined ? 0 : Math.ceil(checkSeconds(options.keyTtl, "keyTtl") * 1000),
    commandTimeout: ms(options.commandTimeout, "commandTimeout", 0.25),
    onStorageError: policy,
    resyncInterval: ms(options.resyncInterval, "resyncInterval", 5),
    resyncBatch: options.resyncBatch === undefined ? 100 : checkPositiveInteger(options.resyncBatch, "resyncBatch"),
    healthCheckInterval: ms(options.healthCheckInterval, "healthCheckInterval", 0.5),
    flushInterval: ms(options.flushInterval, "flushInterval", 0.25),
    pubsub,
    processName: options.processName === undefined ? defaultProcessName() : checkProcessName(options.processName),
    callerHorizon: ms(options.callerHorizon, "callerHorizon", 60),
  };
}

/** Checks a process name: a string of 1 to 200 characters. */
function checkProcessName(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 200) {
    throw new InvalidOptionError("processName", value, "a non-empty string of at most 200 characters");
  }
  return value;
}

/**
 * Makes a client from the settings, with ioredis if it is installed, else with node-redis: no
 * offline queue, tight timeouts, lazy connect. The subscriber resubscribes itself (the storage
 * does it, awaiting the answer) and has no command timeout. Rejects when neither library loads.
 */
export async function makeClient(
  settings: RedisSettings,
  role: "commands" | "subscriber" = "commands",
): Promise<RedisClient> {
  const library = await loadClientLibrary();
  return library.make(settings, role);
}
