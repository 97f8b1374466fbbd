/**
 * The Redis key layout. With prefix `purgatory` (the default):
 * - `purgatory:circuit:{<name>}`: one hash per circuit; the braces are a Redis Cluster hash tag,
 *   so everything a script touches lives in one slot. `{`, `}` and `%` in names are
 *   percent-encoded, so a name cannot end the hash tag early or collide with another name.
 * - `purgatory:circuits`: a set of circuit names, for listing without SCAN.
 * - `purgatory:events`: the pub/sub channel of state changes.
 * @module
 */
import { InvalidOptionError } from "../../errors.js";

/** The keys and channel of one prefix. */
export interface RedisKeys {
  readonly prefix: string;
  circuit(name: string): string;
  readonly registry: string;
  readonly channel: string;
}

const encodeName = (name: string): string => name.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The key layout under `prefix`; a prefix may not contain `{` or `}`. */
export function redisKeys(prefix: string): RedisKeys {
  if (typeof prefix !== "string" || prefix.length === 0 || /[{}]/.test(prefix)) {
    throw new InvalidOptionError("prefix", prefix, "a non-empty string without { or }");
  }
  return {
    prefix,
    circuit: (name) => `${prefix}:circuit:{${encodeName(name)}}`,
    registry: `${prefix}:circuits`,
    channel: `${prefix}:events`,
  };
}
