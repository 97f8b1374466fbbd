/**
 * The seam between `RedisStorage` and a Redis client library: the few commands, events and
 * connection states the storage, the operators' reads and the telemetry use. An ioredis `Redis`
 * or `Cluster` has this shape already; a node-redis client or cluster is wrapped to it
 * (`./node-redis.ts`). Nothing else of either library is used outside this folder.
 *
 * What the storage relies on, whatever the library:
 * - `status` is `"wait"` (never connected: `connect()` starts it), `"ready"`, `"end"` (closed),
 *   or anything else while it connects or reconnects;
 * - events `"ready"` (connected, again after each reconnection), `"error"` (a connection error),
 *   `"close"` (the connection was lost or closed), `"end"` (closed for good), `"message"` and
 *   `"smessage"` (`channel, message`) on a subscriber, `"sunsubscribed"` (`channel`: the server
 *   dropped a sharded channel, its slot moved), and on a Cluster `"refresh"` (the slot table was
 *   read again);
 * - a reply error (NOSCRIPT, NOPERM, WRONGTYPE, a script's error) is an `Error` named
 *   `"ReplyError"` whose message is the server's words; anything else is the connection's;
 * - replies in RESP2's shapes (arrays of strings, integers, `null`), whatever the protocol.
 * @module
 */

/**
 * The part of a Redis client that `RedisStorage` uses: an ioredis `Redis` or `Cluster` as it is,
 * or a node-redis client or cluster through its adapter. Declared here so that the package's
 * types need neither library installed.
 */
export interface RedisClient {
  /** The connection's state: `"wait"` (never connected), `"ready"`, `"end"` (closed), or another while it connects. */
  readonly status: string;
  /** `EVALSHA`: runs a loaded script by its SHA-1. */
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** `EVAL`: runs a script sent whole. */
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** `ZADD`: adds members with their scores to a sorted set. */
  zadd(key: string, ...scoresAndMembers: (string | number)[]): Promise<unknown>;
  // ioredis 6 types `stop` as `string | Buffer` only; this union (a method's parameters compare
  // both ways) fits ioredis 5's and 6's signatures and still takes the -1 that is passed.
  /** `ZRANGE`: members of a sorted set by rank. */
  zrange(key: string, start: number, stop: number | string | Uint8Array): Promise<string[]>;
  /** `ZREM`: removes members from a sorted set. */
  zrem(key: string, ...members: string[]): Promise<unknown>;
  /** `ZRANGEBYSCORE ... WITHSCORES`: members of a sorted set by score, with their scores. */
  zrangebyscore(key: string, min: string, max: string, withScores: "WITHSCORES"): Promise<string[]>;
  /** `ZRANGEBYSCORE ... WITHSCORES LIMIT offset count`: a page of them. */
  zrangebyscore(
    key: string,
    min: string,
    max: string,
    withScores: "WITHSCORES",
    limit: "LIMIT",
    offset: number,
    count: number,
  ): Promise<string[]>;
  /** `EXISTS`: whether a key exists (1) or not (0). */
  exists(key: string): Promise<number>;
  /** `HMGET`: fields of a hash (`null` for a missing one). */
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  /** `TIME`: the server's clock, `[seconds, microseconds]`. */
  time(): Promise<unknown[]>;
  /** `PING`: whether the server answers. */
  ping(): Promise<unknown>;
  /** `SCRIPT LOAD` and friends (optional: only to load the scripts ahead of use). */
  script?(subcommand: string, ...args: string[]): Promise<unknown>;
  /** A Cluster's node clients (optional: only a Cluster has it). */
  nodes?(role: "master"): RedisClient[];
  /** `INFO section`: the server's information, as text. */
  info(section: string): Promise<string>;
  /** `SUBSCRIBE`: listens to channels (a subscriber connection). */
  subscribe(...channels: string[]): Promise<unknown>;
  /** `UNSUBSCRIBE`: stops listening to channels. */
  unsubscribe(...channels: string[]): Promise<unknown>;
  /** `SSUBSCRIBE`: listens to sharded channels (Redis 7). */
  ssubscribe(...channels: string[]): Promise<unknown>;
  /** `SUNSUBSCRIBE`: stops listening to sharded channels. */
  sunsubscribe(...channels: string[]): Promise<unknown>;
  /**
   * A new client with the same options (a Cluster's takes startup nodes and options). `overrides`
   * are ioredis options; a node-redis adapter ignores them (its copies resubscribe by themselves
   * and have no command timeout unless you gave one).
   */
  duplicate(...overrides: unknown[]): RedisClient;
  /** Connects a client made without connecting (status `"wait"`). */
  connect(): Promise<void>;
  /** Closes the connection once the commands sent are answered. */
  quit(): Promise<unknown>;
  /** Closes the connection at once. */
  disconnect(): void;
  /** Adds a listener for an event (`ready`, `error`, `close`, `end`, `message`...). */
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Adds a listener for the next occurrence of an event. */
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Removes a listener. */
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** A sorted set's size: the operators' feed counts the registry with it. */
export type FeedClient = RedisClient & { zcard(key: string): Promise<number> };

/**
 * The server answered a command with an error (its words are the message): Redis is there, the
 * command or the data is not what was expected. The name is ioredis's, so that both libraries'
 * reply errors read alike.
 */
export class ServerReplyError extends Error {}
Object.defineProperty(ServerReplyError.prototype, "name", { value: "ReplyError" });

/** The reconnection delays of the connections the storage makes: 100 ms, doubling up to 1 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** attempt, 1000);
}
