/**
 * The Redis key layout. With prefix `purgatory` (the default):
 * - `purgatory:circuit:{<name>}`: one hash per circuit; the braces are a Redis Cluster hash tag,
 *   so everything a script touches lives in one slot. `{`, `}` and `%` in names are
 *   percent-encoded, so a name cannot end the hash tag early or collide with another name.
 * - `purgatory:circuits`: a sorted set of circuit names, for listing without SCAN.
 * - `purgatory:events:{<name>}`: one pub/sub channel per circuit, in the slot of the circuit's
 *   hash (sharded pub/sub keeps its messages in that shard), so that a process hears only about
 *   the circuits it holds.
 * - With a quorum, three sorted sets of process names in the same slot:
 *   `purgatory:callers:{<name>}` (the active callers), `purgatory:reporters:{<name>}` (the
 *   processes behind the current streak's or window's failures) and `purgatory:local:{<name>}`
 *   (the processes open for themselves).
 * @module
 */
import { InvalidOptionError } from "../../errors.js";

/** The keys and channels of one prefix. */
export interface RedisKeys {
  /** What every key and channel starts with (`purgatory` by default). */
  readonly prefix: string;
  /** The hash of circuit `name`. */
  circuit(name: string): string;
  /** The pub/sub channel of circuit `name` (same hash tag, so the same Cluster slot). */
  channel(name: string): string;
  /** The circuit name a channel of this prefix belongs to; `undefined` for any other channel. */
  nameOf(channel: string): string | undefined;
  /** The sorted set of every circuit's name. */
  readonly registry: string;
  /**
   * The fleet's telemetry (docs/telemetry.md), under one hash tag (one Cluster slot): the channel
   * watchers announce themselves on, the sorted set of watchers (score: until when), and the
   * channel processes report their traffic on while somebody watches.
   */
  readonly telemetry: {
    /** The channel watchers announce themselves (and leave) on. */
    readonly watch: string;
    /** The sorted set of watchers (score: until when, Redis ms). */
    readonly watchers: string;
    /** The channel processes report their traffic on while somebody watches. */
    readonly reports: string;
  };
  /**
   * Every key a script of circuit `name` touches, in the order the scripts take them (`KEYS`):
   * its hash, then its callers, reporters and processes open for themselves.
   */
  scriptKeys(name: string): readonly [string, string, string, string];
}

const encodeName = (name: string): string =>
  name.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const decodeName = (encoded: string): string =>
  encoded.replace(/%(7B|7D|25)/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** The key layout under `prefix`; a prefix may not contain `{` or `}`. */
export function redisKeys(prefix: string): RedisKeys {
  if (typeof prefix !== "string" || prefix.length === 0 || /[{}]/.test(prefix)) {
    throw new InvalidOptionError("prefix", prefix, "a non-empty string without { or }");
  }
  const channelHead = `${prefix}:events:{`;
  return {
    prefix,
    circuit: (name) => `${prefix}:circuit:{${encodeName(name)}}`,
    channel: (name) => `${channelHead}${encodeName(name)}}`,
    nameOf: (channel) =>
      channel.startsWith(channelHead) && channel.endsWith("}")
        ? decodeName(channel.slice(channelHead.length, -1))
        : undefined,
    registry: `${prefix}:circuits`,
    telemetry: {
      watch: `${prefix}:{telemetry}:watch`,
      watchers: `${prefix}:{telemetry}:watchers`,
      reports: `${prefix}:{telemetry}:reports`,
    },
    scriptKeys: (name) => {
      const tag = `{${encodeName(name)}}`;
      return [
        `${prefix}:circuit:${tag}`,
        `${prefix}:callers:${tag}`,
        `${prefix}:reporters:${tag}`,
        `${prefix}:local:${tag}`,
      ];
    },
  };
}
