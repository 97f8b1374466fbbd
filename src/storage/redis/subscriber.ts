/**
 * One subscriber connection and the channels it should hold: it subscribes them when it
 * connects, again after every reconnection, and reports what the server did behind its back.
 * @module
 */
import type { RedisClient } from "./options.js";
import { withTimeout } from "./scripts.js";

/** What a subscriber connection asks of its owner and tells it. */
export interface SubscriberSource {
  /** Every channel this connection should hold, as the argument lists of its subscribe commands. */
  commands(): readonly (readonly string[])[];
  /** A message on one of the channels. */
  message(message: string, channel: string): void;
  /** It reconnected and subscribed again: messages may have been lost meanwhile. */
  resubscribed(): void;
  /** Subscribing again after a reconnection failed. */
  lost(error: unknown): void;
  /**
   * The server dropped or refused channels by itself: a Cluster slot moved (an unasked
   * SUNSUBSCRIBE, or a MOVED answer to SSUBSCRIBE, after which ioredis never settles the command).
   * `channels` are those concerned, or `null` when they cannot be told: any of the connection's.
   */
  moved(channels: readonly string[] | null): void;
  /**
   * The server refused to subscribe `channels` (one subscribe command's) with `error`: a user
   * without the permission (`NOPERM`), a server without the command. The connection stays up and
   * holds the other channels; these are tried again at the next (re)subscription of every channel.
   */
  refused(channels: readonly string[], error: Error): void;
}

/** How a subscriber connection subscribes. */
export interface SubscriberMode {
  /** SSUBSCRIBE / SUNSUBSCRIBE rather than SUBSCRIBE / UNSUBSCRIBE. */
  readonly sharded: boolean;
  /** The client subscribes again by itself after a reconnection (an ioredis `Cluster`). */
  readonly resubscribesItself: boolean;
  /** The longest wait for a connection or one subscribe command, ms. */
  readonly timeoutMs: number;
}

/** Channels per subscribe command at most. */
const CHUNK = 1000;

/** `channels` as the argument lists of subscribe commands of at most `CHUNK` channels each. */
export function inCommands(channels: readonly string[]): string[][] {
  const commands: string[][] = [];
  for (let i = 0; i < channels.length; i += CHUNK) commands.push(channels.slice(i, i + CHUNK));
  return commands;
}

/** ioredis's words for a reply no command waited for (a SUNSUBSCRIBE the server sent by itself). */
const UNASKED_REPLY = /Command queue state error/;

/** The channel of an unasked SUNSUBSCRIBE, as ioredis prints the reply (`sunsubscribe,<channel>,<count>`). */
const UNASKED_SUNSUBSCRIBE = /Last reply: sunsubscribe,(.*),\d+$/s;

/**
 * Whether a subscribe command's error is the server refusing it: a reply that retrying on this
 * connection will not change (`NOPERM`: an ACL without the channel or the command; `ERR`: an
 * unknown command), not a lost connection or a slot that moved.
 */
export function isRefusal(error: unknown): error is Error {
  return error instanceof Error && error.name === "ReplyError" && /^(NOPERM|ERR)\b/.test(error.message);
}

/** Resolves once `client` is ready, has ended, or `ms` have passed. */
async function untilReady(client: RedisClient, ms: number): Promise<void> {
  let settle: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const events = ["ready", "close", "end"];
  for (const event of events) client.once(event, settle);
  try {
    await withTimeout(settled, ms);
  } catch {
    // Not ready in time: the caller decides.
  } finally {
    for (const event of events) client.removeListener(event, settle);
  }
}

/** A subscribe command under way: its channels, and how to stop waiting for it. */
interface Pending {
  readonly commands: readonly (readonly string[])[];
  abandon(error: Error): void;
}

/** A subscriber connection. */
export class Subscriber {
  readonly #client: RedisClient;
  readonly #mode: SubscriberMode;
  readonly #source: SubscriberSource;
  /** Whether the connection holds every channel of `source.commands()`. */
  #current = false;
  /** Whether `connect` is under way: its own "ready" is not a reconnection. */
  #connecting = false;
  #closed = false;
  /** The commands waited for now: ioredis never settles one the server answered MOVED. */
  readonly #pending = new Set<Pending>();

  constructor(client: RedisClient, mode: SubscriberMode, source: SubscriberSource) {
    this.#client = client;
    this.#mode = mode;
    this.#source = source;
    client.on("error", (error) => {
      const message = String((error as Error | undefined)?.message);
      if (!UNASKED_REPLY.test(message)) return;
      // A SUNSUBSCRIBE that came while a command waited was taken for its answer: which channel
      // it dropped cannot be told then.
      const channel = UNASKED_SUNSUBSCRIBE.exec(message)?.[1];
      if (channel === undefined) this.#moved();
      else source.moved([channel]);
    });
    client.on("message", (channel, message) => this.#message(channel, message));
    client.on("smessage", (channel, message) => this.#message(channel, message));
    client.on("moved", () => this.#moved());
    // node-redis's word for a SUNSUBSCRIBE the server sent by itself (the channel's slot moved).
    client.on("sunsubscribed", (channel) => source.moved([String(channel)]));
    client.on("close", () => {
      if (!mode.resubscribesItself) this.#current = false;
    });
    client.on("ready", () => this.#reconnected());
  }

  /** Connects (on the first call) and subscribes every channel the connection lacks; rejects when it cannot. */
  async connect(): Promise<void> {
    const client = this.#client;
    this.#connecting = true;
    try {
      if (client.status === "wait") await withTimeout(client.connect(), this.#mode.timeoutMs);
      // A copy of a client you passed connects by itself: wait for it (without an offline queue a
      // command sent meanwhile would fail, and a Cluster would not subscribe it again).
      if (client.status !== "ready") await untilReady(client, this.#mode.timeoutMs);
      if (client.status === "end" || client.status === "close") throw new Error("the subscriber is not connected");
      if (client.status !== "ready" && this.#mode.resubscribesItself) throw new Error("the subscriber is not ready");
      // A connection not ready after it held the channels lost them, even before its "close" event.
      if (client.status !== "ready" && !this.#mode.resubscribesItself) this.#current = false;
      // One still connecting (a client you passed, duplicated while it connects) cannot take a
      // command without an offline queue: its "ready" subscribes every channel (`#reconnected`).
      if (client.status !== "ready" && !this.#mode.resubscribesItself) return;
      if (!this.#current) {
        await this.#send("subscribe", this.#source.commands());
        this.#current = true;
      }
    } finally {
      this.#connecting = false;
    }
  }

  /**
   * Subscribes the channels of `commands` now if the connection holds its channels; otherwise
   * does nothing, since `connect` or the reconnection subscribes every channel.
   */
  async subscribe(commands: readonly (readonly string[])[]): Promise<void> {
    if (!this.#current || this.#closed) return;
    try {
      await this.#send("subscribe", commands);
    } catch (error) {
      // Sent on a connection that was not ready: it does not hold its channels any more, and its
      // "ready" subscribes them all.
      if (this.#client.status !== "ready" && !this.#mode.resubscribesItself) this.#current = false;
      throw error;
    }
  }

  /** Unsubscribes the channels of `commands` if the connection holds its channels. */
  async unsubscribe(commands: readonly (readonly string[])[]): Promise<void> {
    if (this.#current && !this.#closed) await this.#send("unsubscribe", commands);
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    try {
      await withTimeout(this.#client.quit(), this.#mode.timeoutMs);
    } catch {
      // It did not say goodbye in time: disconnected below.
    }
    // Also after a quit: a Sentinel client with `failoverDetector` keeps its connections to the
    // sentinels open through a quit (and the process alive); a disconnect ends them.
    this.#client.disconnect();
  }

  /**
   * The server refused a subscription (MOVED) or answered out of turn: stop waiting for the
   * commands under way (their channels are the ones concerned), or any channel if none was.
   */
  #moved(): void {
    const error = new Error("a channel's slot moved to another master");
    const channels: string[] = [];
    for (const pending of this.#pending) {
      for (const command of pending.commands) channels.push(...command);
      pending.abandon(error);
    }
    this.#pending.clear();
    this.#source.moved(channels.length > 0 ? channels : null);
  }

  #message(channel: unknown, message: unknown): void {
    if (typeof message === "string") this.#source.message(message, String(channel));
  }

  /** A subscriber that reconnected by itself (not within `connect`) subscribes every channel again. */
  #reconnected(): void {
    if (this.#closed || this.#current || this.#mode.resubscribesItself || this.#connecting) return;
    this.#send("subscribe", this.#source.commands()).then(
      () => {
        this.#current = true;
        this.#source.resubscribed();
      },
      (error: unknown) => this.#source.lost(error),
    );
  }

  /**
   * Sends the commands at once (ioredis writes them back to back) and waits for every answer. A
   * subscribe command the server refuses is reported (`refused`), not thrown: the connection holds
   * the other channels. An unsubscribe the server refuses leaves a channel whose messages nobody
   * reads.
   */
  async #send(kind: "subscribe" | "unsubscribe", commands: readonly (readonly string[])[]): Promise<void> {
    const client = this.#client;
    const sharded = this.#mode.sharded;
    const sent: Promise<unknown>[] = [];
    const refusals: [readonly string[], Error][] = [];
    let channels = 0;
    for (const command of commands) {
      if (command.length === 0) continue;
      channels += command.length;
      const reply =
        kind === "subscribe"
          ? sharded
            ? client.ssubscribe(...command)
            : client.subscribe(...command)
          : sharded
            ? client.sunsubscribe(...command)
            : client.unsubscribe(...command);
      sent.push(
        reply.catch((error: unknown) => {
          if (!isRefusal(error)) throw error;
          if (kind === "subscribe") refusals.push([command, error]);
        }),
      );
    }
    if (sent.length === 0) return;
    let abandon: (error: Error) => void = () => undefined;
    const abandoned = new Promise<never>((_resolve, reject) => (abandon = reject));
    const pending: Pending = { commands: kind === "subscribe" ? commands : [], abandon };
    this.#pending.add(pending);
    try {
      await withTimeout(Promise.race([Promise.all(sent), abandoned]), this.#mode.timeoutMs + channels / 100);
    } finally {
      this.#pending.delete(pending);
    }
    if (this.#closed) return;
    for (const [command, error] of refusals) this.#source.refused(command, error);
  }
}
