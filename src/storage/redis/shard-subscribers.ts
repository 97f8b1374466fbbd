/**
 * Sharded pub/sub on a Redis Cluster: one subscriber connection per master, holding the channels
 * of the slots that master serves, each SSUBSCRIBE naming the channels of one slot (as a Cluster
 * requires). A channel follows its slot: when the master drops it (an unasked SUNSUBSCRIBE) or
 * refuses it (MOVED), or when the Cluster's slot table changes, it is subscribed on the slot's new
 * master, and the storage re-reads.
 * @module
 */
import type { RedisClient } from "./options.js";
import { keySlot, SLOTS } from "./slot.js";
import { inCommands, Subscriber, type SubscriberMode } from "./subscriber.js";

/** What the sharded subscribers tell their owner. */
export interface ShardEvents {
  /** A message on one of the channels. */
  message(message: string, channel: string): void;
  /** `channels` were subscribed again (a reconnection, a slot that moved): their messages may have been lost. */
  resubscribed(channels: readonly string[]): void;
  /** A master's connection could not be made or subscribed again. */
  lost(error: unknown): void;
  /** A master refused to subscribe `channels` (see `SubscriberSource.refused`). */
  refused(channels: readonly string[], error: Error): void;
}

/**
 * The part of a Cluster client the sharded subscribers read: an ioredis `Cluster` has `slots`, the
 * node-redis adapter `slotMaster`; both have `refreshSlotsCache` and emit `refresh` after it.
 */
interface ClusterView {
  /** For each slot, the node keys ("host:port") serving it, the master first. */
  readonly slots?: readonly (readonly string[] | undefined)[];
  /** The master ("host:port") serving `slot`. */
  slotMaster?(slot: number): string | undefined;
  refreshSlotsCache?(): void;
}

/** A master's node client, whose options say where it is. */
interface NodeView {
  readonly options?: { readonly host?: string; readonly port?: number };
}

/** The subscriber connection of one master. */
interface Shard {
  /** The master, "host:port". */
  readonly key: string;
  readonly subscriber: Subscriber;
  /** Its first connection, while under way (it subscribes every channel routed to it so far). */
  connecting: Promise<void> | undefined;
  connected: boolean;
}

/**
 * The wait before asking the Cluster for its slot table again, after a master dropped channels;
 * it doubles, up to `MAX_REFRESH_DELAY_MS`, while subscribing them on their new master fails.
 */
const REFRESH_DELAY_MS = 50;
const MAX_REFRESH_DELAY_MS = 1000;

/** The subscriber connections of a Cluster's masters and the channel each one holds. */
export class ShardSubscribers {
  readonly #cluster: RedisClient;
  readonly #mode: SubscriberMode;
  readonly #events: ShardEvents;
  readonly #options: Record<string, unknown>;
  /** The shard each channel is subscribed on; `null` while no known master serves its slot. */
  readonly #owners = new Map<string, Shard | null>();
  readonly #shards = new Map<string, Shard>();
  /** The master of each slot when the channels were last routed. */
  readonly #table: (string | undefined)[] = [];
  /** Shards whose master dropped or refused channels: every channel is subscribed again there. */
  readonly #suspects = new Set<Shard>();
  #unrouted = 0;
  #started = false;
  #closed = false;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshDelay = REFRESH_DELAY_MS;
  readonly #onRefresh = (): void => this.#reroute();

  /**
   * `cluster` is the ioredis `Cluster`; `options` go to each master's connection (ioredis
   * `RedisOptions`, on top of the node's own).
   */
  constructor(cluster: RedisClient, mode: SubscriberMode, options: Record<string, unknown>, events: ShardEvents) {
    this.#cluster = cluster;
    this.#mode = mode;
    this.#options = options;
    this.#events = events;
  }

  /** Routes every channel to its master and connects (and subscribes) every master's connection. */
  async connect(): Promise<void> {
    if (!this.#started) {
      this.#started = true;
      this.#cluster.on("refresh", this.#onRefresh);
    }
    this.#reroute();
    await Promise.all([...this.#shards.values()].map((shard) => this.#connect(shard)));
  }

  /** Subscribes `channels`, each on its slot's master. */
  async subscribe(channels: readonly string[]): Promise<void> {
    const groups = new Map<Shard, Map<number, string[]>>();
    for (const channel of channels) {
      const slot = keySlot(channel);
      const shard = this.#shardOf(slot);
      if (this.#owners.get(channel) === null) this.#unrouted -= 1;
      this.#owners.set(channel, shard);
      if (shard === null) this.#unrouted += 1;
      else addTo(groups, shard, slot, channel);
    }
    if (this.#unrouted > 0) this.#refreshSoon();
    if (!this.#started) return;
    await Promise.all([...groups].map(([shard, bySlot]) => this.#subscribeOn(shard, bySlot)));
  }

  /** Unsubscribes `channels` from their masters. */
  async unsubscribe(channels: readonly string[]): Promise<void> {
    const groups = new Map<Shard, Map<number, string[]>>();
    for (const channel of channels) {
      const shard = this.#owners.get(channel);
      if (shard === undefined) continue;
      this.#owners.delete(channel);
      if (shard === null) this.#unrouted -= 1;
      else addTo(groups, shard, keySlot(channel), channel);
    }
    await Promise.all([...groups].map(([shard, bySlot]) => shard.subscriber.unsubscribe(chunked(bySlot))));
  }

  /** Closes every master's connection and stops following the Cluster's slot table. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    if (this.#started) this.#cluster.removeListener("refresh", this.#onRefresh);
    await Promise.all([...this.#shards.values()].map((shard) => shard.subscriber.close()));
  }

  #view(): ClusterView {
    return this.#cluster as unknown as ClusterView;
  }

  /** The master ("host:port") serving `slot` now, as the Cluster client knows it. */
  #masterOf(slot: number): string | undefined {
    const view = this.#view();
    return view.slotMaster === undefined ? view.slots?.[slot]?.[0] : view.slotMaster(slot);
  }

  /** The shard of the master serving `slot` (made when first needed); `null` if none is known. */
  #shardOf(slot: number): Shard | null {
    const key = this.#masterOf(slot);
    if (key === undefined) return null;
    return this.#shards.get(key) ?? this.#makeShard(key);
  }

  #makeShard(key: string): Shard | null {
    const node = this.#cluster.nodes?.("master").find((n) => {
      const where = (n as NodeView).options;
      return `${where?.host ?? ""}:${where?.port ?? ""}` === key;
    });
    if (node === undefined) return null;
    const subscriber: Subscriber = new Subscriber(node.duplicate(this.#options), this.#mode, {
      commands: () => this.#commandsOf(shard),
      message: (message, channel) => this.#events.message(message, channel),
      resubscribed: () => this.#events.resubscribed(this.#channelsOf(shard)),
      lost: (error) => this.#events.lost(error),
      refused: (channels, error) => this.#events.refused(channels, error),
      moved: (channels) => this.#moved(shard, channels),
    });
    const shard: Shard = { key, subscriber, connecting: undefined, connected: false };
    this.#shards.set(key, shard);
    return shard;
  }

  /**
   * Subscribes channels routed to `shard`. Its first connection subscribes every channel routed
   * to it so far; one routed while that connection is under way is subscribed after it.
   */
  async #subscribeOn(shard: Shard, bySlot: ReadonlyMap<number, readonly string[]>): Promise<void> {
    if (!shard.connected && shard.connecting === undefined) return this.#connect(shard);
    await shard.connecting;
    return shard.subscriber.subscribe(chunked(bySlot));
  }

  /** Connects a shard (once at a time); a failure is the owner's to hear of as `lost`. */
  #connect(shard: Shard): Promise<void> {
    shard.connecting ??= shard.subscriber.connect().then(
      () => {
        shard.connecting = undefined;
        shard.connected = true;
      },
      (error: unknown) => {
        shard.connecting = undefined;
        throw error;
      },
    );
    return shard.connecting;
  }

  /**
   * `shard`'s master dropped or refused `channels` (`null`: some of its channels, which ones
   * cannot be told): they go to their slot's master once the Cluster has read its slot table.
   */
  #moved(shard: Shard, channels: readonly string[] | null): void {
    if (channels === null) this.#suspects.add(shard);
    else {
      for (const channel of channels) {
        if (this.#owners.get(channel) !== shard) continue;
        this.#owners.set(channel, null);
        this.#unrouted += 1;
      }
    }
    this.#refreshSoon();
  }

  /** Every channel routed to `shard`. */
  #channelsOf(shard: Shard): string[] {
    const channels: string[] = [];
    for (const [channel, owner] of this.#owners) if (owner === shard) channels.push(channel);
    return channels;
  }

  /** Every channel routed to `shard`, one SSUBSCRIBE per slot. */
  #commandsOf(shard: Shard): string[][] {
    const bySlot = new Map<number, string[]>();
    for (const channel of this.#channelsOf(shard)) pushTo(bySlot, keySlot(channel), channel);
    return chunked(bySlot);
  }

  /** Asks the Cluster for its slot table soon (its "refresh" event then reroutes). */
  #refreshSoon(): void {
    if (this.#closed || this.#refreshTimer !== undefined) return;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      this.#view().refreshSlotsCache?.();
    }, this.#refreshDelay);
    this.#refreshTimer.unref?.();
  }

  /**
   * After the Cluster read its slot table: if a slot changed master, or a master dropped or
   * refused channels, or a channel waits for a master, every channel goes to its slot's master
   * (subscribed there), the masters left without channels are closed, and the owner re-reads
   * the circuits of the channels subscribed again.
   */
  #reroute(): void {
    if (this.#closed || !this.#started) return;
    const changed = this.#tableChanged();
    if (!changed && this.#suspects.size === 0 && this.#unrouted === 0) return;
    const suspects = new Set(this.#suspects);
    this.#suspects.clear();
    const moved = new Map<Shard, Map<number, string[]>>();
    this.#unrouted = 0;
    for (const [channel, owner] of this.#owners) {
      const slot = keySlot(channel);
      const shard = this.#shardOf(slot);
      if (shard === null) this.#unrouted += 1;
      if (shard === owner && (shard === null || !suspects.has(shard))) continue;
      this.#owners.set(channel, shard);
      if (shard !== null) addTo(moved, shard, slot, channel);
    }
    if (this.#unrouted > 0) this.#refreshSoon();
    this.#closeUnused();
    if (moved.size === 0) return;
    const resubscribed = [...moved.values()].flatMap((bySlot) => [...bySlot.values()].flat());
    let failed = false;
    void Promise.all(
      [...moved].map(async ([shard, bySlot]) => {
        try {
          await this.#subscribeOn(shard, bySlot);
        } catch {
          // A stale slot table (MOVED, never answered) or a master not reached yet: these
          // channels wait for a later refresh; a lost connection subscribes all of its own when
          // it is back.
          failed = true;
          this.#refreshDelay = Math.min(this.#refreshDelay * 2, MAX_REFRESH_DELAY_MS);
          this.#moved(shard, [...bySlot.values()].flat());
        }
      }),
    ).then(() => {
      if (!failed) this.#refreshDelay = REFRESH_DELAY_MS;
      this.#events.resubscribed(resubscribed);
    });
  }

  /** Whether a slot changed master since the last call (which remembers the table). */
  #tableChanged(): boolean {
    let changed = false;
    for (let slot = 0; slot < SLOTS; slot++) {
      const key = this.#masterOf(slot);
      if (this.#table[slot] === key) continue;
      this.#table[slot] = key;
      changed = true;
    }
    return changed;
  }

  /** Closes the connections of the masters that hold no channel any more. */
  #closeUnused(): void {
    const used = new Set<Shard | null>(this.#owners.values());
    for (const [key, shard] of this.#shards) {
      if (used.has(shard)) continue;
      this.#shards.delete(key);
      void shard.subscriber.close();
    }
  }
}

/** Adds `channel` to `shard`'s channels of `slot` in `groups`. */
function addTo(groups: Map<Shard, Map<number, string[]>>, shard: Shard, slot: number, channel: string): void {
  let bySlot = groups.get(shard);
  if (bySlot === undefined) groups.set(shard, (bySlot = new Map<number, string[]>()));
  pushTo(bySlot, slot, channel);
}

function pushTo<K>(lists: Map<K, string[]>, key: K, value: string): void {
  const list = lists.get(key);
  if (list === undefined) lists.set(key, [value]);
  else list.push(value);
}

/** The subscribe commands of channels grouped by slot: a Cluster takes one slot's channels per command. */
function chunked(bySlot: ReadonlyMap<number, readonly string[]>): string[][] {
  return [...bySlot.values()].flatMap(inCommands);
}
