/**
 * The pub/sub side of the transport: subscribed to the channel of each circuit this process holds
 * (never to the others'), in batches, and again after every reconnection. Sharded pub/sub
 * (SSUBSCRIBE, Redis 7+) keeps a Cluster's messages in their shard, through one subscriber
 * connection per master; classic pub/sub serves Redis 6.
 * @module
 */
import { makeClient, reconnectDelay, type RedisClient, type RedisSettings } from "./options.js";
import { ShardSubscribers } from "./shard-subscribers.js";
import { inCommands, Subscriber, type SubscriberMode } from "./subscriber.js";

/** What the subscriptions tell the transport. */
export interface SubscriptionListener {
  /** A message on one of the channels. */
  message(message: string, channel: string): void;
  /** `channels` were subscribed again (a reconnection, a slot that moved): their messages may have been lost meanwhile. */
  resubscribed(channels: readonly string[]): void;
  /** Subscribing again after a reconnection failed. */
  lost(error: unknown): void;
  /**
   * The server refused to subscribe `channels` with `error` (an ACL without them): their messages
   * do not arrive. Tried again at every reconnection.
   */
  refused(channels: readonly string[], error: Error): void;
}

/** The wait that gathers a burst of resubscriptions (every master of a Cluster) into one re-read. */
const RESUBSCRIBED_DELAY_MS = 20;

/** A Cluster client of ioredis (it has `isCluster`). */
const isCluster = (client: RedisClient): boolean => (client as { readonly isCluster?: boolean }).isCluster === true;

/** Where the channels are subscribed: one connection, or one per Cluster master. */
interface ChannelSink {
  connect(): Promise<void>;
  subscribe(channels: readonly string[]): Promise<void>;
  unsubscribe(channels: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

interface Batch {
  readonly add: Set<string>;
  readonly remove: Set<string>;
  readonly done: Promise<void>;
  finish(): void;
}

/** The subscriber connections and the channels they should be subscribed to. */
export class Subscriptions {
  readonly #settings: RedisSettings;
  readonly #listener: SubscriptionListener;
  readonly #channels = new Set<string>();
  #sink: ChannelSink | undefined;
  #sharded = false;
  #batch: Batch | undefined;
  #closed = false;
  #resubscribing: ReturnType<typeof setTimeout> | undefined;
  /** The channels subscribed again since the last report. */
  readonly #resubscribed = new Set<string>();

  constructor(settings: RedisSettings, listener: SubscriptionListener) {
    this.#settings = settings;
    this.#listener = listener;
  }

  /** Whether messages travel by sharded pub/sub (SPUBLISH), decided at the first connection. */
  get sharded(): boolean {
    return this.#sharded;
  }

  /** Whether this process wants `channel`. */
  has(channel: string): boolean {
    return this.#channels.has(channel);
  }

  /** How many channels this process wants. */
  get size(): number {
    return this.#channels.size;
  }

  /**
   * Makes the subscriber connections on the first call (the pub/sub mode depends on the server
   * `client` answers for), connects them, and subscribes every channel they lack. Rejects when
   * it cannot.
   */
  async connect(client: RedisClient): Promise<void> {
    if (this.#sink === undefined) {
      const made = await this.#make(client);
      // Closed while they were made (or made twice at once): never connected, nor left behind.
      if (this.#closed || this.#sink !== undefined) await made.close();
      else this.#sink = made;
    }
    if (!this.#closed) await this.#sink?.connect();
  }

  /** Wants `channel`; resolves once it is subscribed (at once while disconnected: `connect` will). */
  add(channel: string): Promise<void> {
    if (this.#channels.has(channel)) return Promise.resolve();
    this.#channels.add(channel);
    const batch = this.#nextBatch();
    batch.remove.delete(channel);
    batch.add.add(channel);
    return batch.done;
  }

  /** No longer wants `channel`. */
  remove(channel: string): void {
    if (!this.#channels.delete(channel)) return;
    const batch = this.#nextBatch();
    batch.add.delete(channel);
    batch.remove.add(channel);
  }

  /** Closes the subscriber connections. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#resubscribing);
    await this.#sink?.close();
  }

  async #make(client: RedisClient): Promise<ChannelSink> {
    const cluster = isCluster(client);
    this.#sharded =
      this.#settings.pubsub === "auto" ? await shardedPubSubIn(client) : this.#settings.pubsub === "sharded";
    const timeoutMs = this.#settings.commandTimeout * 4;
    const events = {
      message: (message: string, channel: string) => this.#listener.message(message, channel),
      resubscribed: (channels: Iterable<string>) => this.#resubscribedSoon(channels),
      lost: (error: unknown) => this.#listener.lost(error),
      refused: (channels: readonly string[], error: Error) => {
        // Those still wanted: one unsubscribed meanwhile is no loss.
        const wanted = channels.filter((channel) => this.#channels.has(channel));
        if (!this.#closed && wanted.length > 0) this.#listener.refused(wanted, error);
      },
    };
    // The connections the storage makes (one per master of a Cluster with sharded pub/sub, or one
    // for a single server) resubscribe by its hand, awaited, never by ioredis's, unawaited. A
    // Cluster's classic subscriber is ioredis's to move and resubscribe.
    if (cluster && this.#sharded) {
      const options = {
        autoResubscribe: false,
        enableOfflineQueue: false,
        retryStrategy: reconnectDelay,
        commandTimeout: undefined,
      };
      return new ShardSubscribers(client, { sharded: true, resubscribesItself: false, timeoutMs }, options, events);
    }
    let connection: RedisClient;
    if (this.#settings.client === undefined) connection = await makeClient(this.#settings, "subscriber");
    // A copy of a client you passed, with your options, but resubscribed by the storage, awaited
    // (ioredis's own resubscription is not awaited: its timeout would be an unhandled rejection).
    // A Cluster's classic subscriber is ioredis's to move and resubscribe.
    else
      connection = cluster
        ? client.duplicate()
        : client.duplicate({ autoResubscribe: false, commandTimeout: undefined });
    const mode: SubscriberMode = { sharded: this.#sharded, resubscribesItself: cluster, timeoutMs };
    const subscriber = new Subscriber(connection, mode, {
      commands: () => inCommands([...this.#channels]),
      ...events,
      resubscribed: () => this.#resubscribedSoon(this.#channels),
      // One server serves every channel: none can move.
      moved: () => undefined,
    });
    return {
      connect: () => subscriber.connect(),
      subscribe: (channels) => subscriber.subscribe(inCommands(channels)),
      unsubscribe: (channels) => subscriber.unsubscribe(inCommands(channels)),
      close: () => subscriber.close(),
    };
  }

  /** `channels` were subscribed again: reported once for a burst of resubscriptions. */
  #resubscribedSoon(channels: Iterable<string>): void {
    if (this.#closed) return;
    for (const channel of channels) this.#resubscribed.add(channel);
    clearTimeout(this.#resubscribing);
    this.#resubscribing = setTimeout(() => {
      const resubscribed = [...this.#resubscribed];
      this.#resubscribed.clear();
      this.#listener.resubscribed(resubscribed);
    }, RESUBSCRIBED_DELAY_MS);
    this.#resubscribing.unref?.();
  }

  #nextBatch(): Batch {
    if (this.#batch !== undefined) return this.#batch;
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const batch: Batch = { add: new Set(), remove: new Set(), done, finish };
    this.#batch = batch;
    // Every registration of this turn of the event loop goes in one batch.
    queueMicrotask(() => void this.#flush(batch));
    return batch;
  }

  async #flush(batch: Batch): Promise<void> {
    this.#batch = undefined;
    try {
      // A sink that is not made yet subscribes every channel when it connects.
      if (this.#sink !== undefined && !this.#closed) {
        await this.#sink.subscribe([...batch.add]);
        await this.#sink.unsubscribe([...batch.remove]);
      }
    } catch {
      // A connection is lost: its reconnection subscribes every channel.
    } finally {
      batch.finish();
    }
  }
}

/** Whether the server answering `client` has sharded pub/sub (Redis or Valkey 7 and newer). */
async function shardedPubSubIn(client: RedisClient): Promise<boolean> {
  const info = await client.info("server");
  const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
  return major >= 7;
}
