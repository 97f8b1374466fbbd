/**
 * The registry's upkeep. Every registration scores its circuit's name in the registry (a sorted
 * set) with Redis's time; with `keyTtl`, a circuit's keys expire once no process holds it, but
 * its name would stay listed for ever: names chosen by others (the hosts of URLs) would grow the
 * registry without bound. So every `keyTtl` (jittered +-50 %) the storage looks at the names
 * scored more than `keyTtl` ago, `batch` at a time: a name whose circuit key is gone leaves the
 * registry, one whose key is there is scored again with the current time. Each name is thus
 * checked about once per `keyTtl`, by whichever process looks first (the others then find it
 * fresh), and a name outlives its keys by at most about two `keyTtl`.
 *
 * A name is removed only if its score is still the one read: a process that registers the
 * circuit meanwhile (its key created after our `EXISTS`) scores it anew, and the name stays. The
 * registry is one key, so the removal is one script even in a Cluster.
 * @module
 */
import type { RedisKeys } from "./keys.js";
import type { RedisClient } from "./options.js";

/** Removes the members of `KEYS[1]` named in ARGV (member, score pairs) whose score is unchanged. */
const REMOVE_UNCHANGED = `local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed`;

/** What the upkeep needs from its storage. */
export interface RegistryUpkeepOptions {
  readonly keys: RedisKeys;
  /** The storage's `keyTtl` in ms (> 0). */
  readonly keyTtlMs: number;
  /** Names looked at per round of commands. */
  readonly batch: number;
  /** Redis's time now (epoch ms), as the storage estimates it. */
  readonly now: () => number;
  /** Runs `command` on the command client; rejects while Redis is unavailable. */
  readonly run: <T>(command: (client: RedisClient) => Promise<T>) => Promise<T>;
  /** Whether Redis answers now: a tick is skipped while it does not. */
  readonly available: () => boolean;
}

/**
 * Rounds of `batch` names per tick at most. A tick goes on while it finds full batches, so a flood
 * of names (100,000 hosts) is drained by the next tick; each round leaves its names fresh or
 * removed, so this bound is only a guard.
 */
const ROUNDS_PER_TICK = 1000;

/** The registry's upkeep for one storage: one timer, nothing while there is nothing stale. */
export class RegistryUpkeep {
  readonly #options: RegistryUpkeepOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(options: RegistryUpkeepOptions) {
    this.#options = options;
  }

  /** Schedules the next tick. */
  start(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), this.#options.keyTtlMs * (0.5 + Math.random()));
    this.#timer.unref?.();
  }

  /** Stops the ticks. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  /**
   * Looks at every name scored before `keyTtl` ago, `batch` at a time; resolves with how many left
   * the registry. Errors (Redis unavailable, a refused command) end the tick: the next one tries
   * again.
   */
  async prune(): Promise<number> {
    const { keys, keyTtlMs, batch, now, run } = this.#options;
    let removed = 0;
    for (let round = 0; round < ROUNDS_PER_TICK && !this.#closed; round += 1) {
      const before = now() - keyTtlMs;
      const flat = await run((c) =>
        c.zrangebyscore(keys.registry, "-inf", `(${before}`, "WITHSCORES", "LIMIT", 0, batch),
      );
      if (flat.length === 0) break;
      const pairs: [string, string][] = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i] as string, flat[i + 1] as string]);
      const exists = await Promise.all(pairs.map(([name]) => run((c) => c.exists(keys.circuit(name)))));
      const gone = pairs.filter((_, i) => exists[i] === 0);
      const live = pairs.filter((_, i) => exists[i] !== 0);
      if (live.length > 0) {
        const score = Math.floor(now());
        await run((c) => c.zadd(keys.registry, "XX", ...live.flatMap(([name]) => [score, name])));
      }
      if (gone.length > 0) {
        removed += Number(await run((c) => c.eval(REMOVE_UNCHANGED, 1, keys.registry, ...gone.flat())));
      }
      if (flat.length < 2 * batch) break;
    }
    return removed;
  }

  async #tick(): Promise<void> {
    try {
      if (this.#options.available()) await this.prune();
    } catch {
      // Unavailable (the outage is reported by the transport) or refused: tried again next tick.
    } finally {
      this.start();
    }
  }
}
