/**
 * The pub/sub side of the transport: one subscriber, subscribed to the channel of each circuit
 * this process holds (never to the others'), in batches, and again after every reconnection.
 * Sharded pub/sub (SSUBSCRIBE, Redis 7+) keeps a Cluster's messages in their shard; classic
 * pub/sub serves Redis 6.
 * @module
 */
import { makeClient, type RedisClient, type RedisSettings } from "./options.js";
import { withTimeout } from "./scripts.js";

/** What the subscriptions tell the transport. */
export interface SubscriptionListener {
  /** A message on one of the channels. */
  message(message: string): void;
  /** The subscriber reconnected and subscribed again: messages may have been lost meanwhile. */
  resubscribed(): void;
  /** Subscribing again after a reconnection failed. */
  lost(error: unknown): void;
}

/** Channels per SUBSCRIBE command. */
const CHUNK = 1000;

/** A Cluster client of ioredis (it has `isCluster`). */
const isCluster = (client: RedisClient): boolean => (client as { readonly isCluster?: boolean }).isCluster === true;

interface Batch {
  readonly add: Set<string>;
  readonly remove: Set<string>;
  readonly done: Promise<void>;
  finish(): void;
}

/** The subscriber and the channels it should be subscribed to. */
export class Subscriptions {
  readonly #settings: RedisSettings;
  readonly #listener: SubscriptionListener;
  readonly #channels = new Set<string>();
  #subscriber: RedisClient | undefined;
  #sharded = false;
  #cluster = false;
  /** Whether the subscriber's current connection holds every channel. */
  #current = false;
  /** Whether `connect` has succeeded once: a later "ready" is a reconnection. */
  #connectedOnce = false;
  #batch: Batch | undefined;
  #closed = false;
  #resubscribing: ReturnType<typeof setTimeout> | undefined;

  constructor(settings: RedisSettings, listener: SubscriptionListener) {
    this.#settings = settings;
    this.#listener = listener;
  }

  /** Whether messages travel by sharded pub/sub (SPUBLISH), decided at the first connection. */
  get sharded(): boolean {
    return this.#sharded;
  }

  /** How many channels this process wants. */
  get size(): number {
    return this.#channels.size;
  }

  /**
   * Makes the subscriber on the first call (the pub/sub mode depends on the server `client`
   * answers for), connects it, and subscribes every channel its connection lacks. Rejects when
   * it cannot.
   */
  async connect(client: RedisClient): Promise<void> {
    if (this.#subscriber === undefined) {
      this.#cluster = isCluster(client);
      this.#sharded =
        this.#settings.pubsub === "auto" ? await shardedPubSubIn(client) : this.#settings.pubsub === "sharded";
      this.#subscriber = await this.#make(client);
    }
    const subscriber = this.#subscriber;
    if (subscriber.status === "wait") await withTimeout(subscriber.connect(), this.#settings.commandTimeout * 4);
    if (subscriber.status === "end" || subscriber.status === "close")
      throw new Error("the subscriber is not connected");
    if (!this.#current) {
      await this.#send("subscribe", [...this.#channels]);
      this.#current = true;
    }
    this.#connectedOnce = true;
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

  /** Closes the subscriber. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#resubscribing);
    const subscriber = this.#subscriber;
    if (subscriber === undefined) return;
    try {
      await withTimeout(subscriber.quit(), this.#settings.commandTimeout);
    } catch {
      subscriber.disconnect();
    }
  }

  async #make(client: RedisClient): Promise<RedisClient> {
    let subscriber: RedisClient;
    if (this.#settings.client === undefined) {
      // Ours: it resubscribes by our hand (awaited), never by ioredis's (unawaited).
      subscriber = await makeClient(this.#settings, "subscriber");
    } else if (this.#cluster && this.#sharded) {
      // One sharded subscriber per master, which ioredis moves along with the slots.
      subscriber = client.duplicate([], { shardedSubscribers: true });
    } else {
      subscriber = client.duplicate();
    }
    subscriber.on("error", () => undefined);
    subscriber.on("message", (_channel, message) => this.#message(message));
    subscriber.on("smessage", (_channel, message) => this.#message(message));
    subscriber.on("close", () => {
      if (!this.#cluster) this.#current = false;
    });
    subscriber.on("ready", () => this.#reconnected());
    if (this.#cluster && this.#sharded) {
      // A slot that moves to another master unsubscribes its channels there (ioredis reports the
      // unexpected SUNSUBSCRIBE as a node error): the Cluster re-reads its slots, moves its
      // sharded subscribers and subscribes them again, then the storage re-reads.
      subscriber.on("nodeError", (error) => {
        if (/sunsubscribe/i.test(String((error as Error | undefined)?.message))) refreshSlots(subscriber);
      });
      subscriber.on("subscribersReady", () => this.#resubscribedSoon());
    }
    return subscriber;
  }

  #message(message: unknown): void {
    if (typeof message === "string") this.#listener.message(message);
  }

  /** A reconnected subscriber (not its first connection) subscribes every channel again. */
  #reconnected(): void {
    if (this.#closed || this.#current || this.#cluster || !this.#connectedOnce) return;
    this.#send("subscribe", [...this.#channels]).then(
      () => {
        this.#current = true;
        this.#listener.resubscribed();
      },
      (error: unknown) => this.#listener.lost(error),
    );
  }

  /** A Cluster subscribed its sharded subscribers again: re-read (once for a burst of them). */
  #resubscribedSoon(): void {
    if (this.#closed || !this.#current) return;
    clearTimeout(this.#resubscribing);
    this.#resubscribing = setTimeout(() => this.#listener.resubscribed(), 20);
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
      // A subscriber that is not connected subscribes every channel when it connects.
      if (this.#current && !this.#closed) {
        await this.#send("subscribe", [...batch.add]);
        await this.#send("unsubscribe", [...batch.remove]);
      }
    } catch {
      // Its connection is lost: the reconnection subscribes every channel.
    } finally {
      batch.finish();
    }
  }

  /** (Un)subscribes `channels`: in chunks on one connection, one by one on a Cluster's shards. */
  async #send(kind: "subscribe" | "unsubscribe", channels: readonly string[]): Promise<void> {
    const subscriber = this.#subscriber;
    if (subscriber === undefined || channels.length === 0) return;
    const command = (chunk: readonly string[]) => {
      if (this.#sharded)
        return kind === "subscribe" ? subscriber.ssubscribe(...chunk) : subscriber.sunsubscribe(...chunk);
      return kind === "subscribe" ? subscriber.subscribe(...chunk) : subscriber.unsubscribe(...chunk);
    };
    // On a Cluster, each SSUBSCRIBE names channels of one slot: each circuit's is its own.
    const size = this.#cluster && this.#sharded ? 1 : CHUNK;
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < channels.length; i += size) sent.push(command(channels.slice(i, i + size)));
    await withTimeout(Promise.all(sent), this.#settings.commandTimeout * 4 + channels.length / 100);
  }
}

/** Asks an ioredis Cluster to re-read its slots (and so to move its sharded subscribers). */
function refreshSlots(cluster: RedisClient): void {
  (cluster as { refreshSlotsCache?: () => void }).refreshSlotsCache?.();
}

/** Whether the server answering `client` has sharded pub/sub (Redis or Valkey 7 and newer). */
async function shardedPubSubIn(client: RedisClient): Promise<boolean> {
  const info = await client.info("server");
  const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
  return major >= 7;
}
