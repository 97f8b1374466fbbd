/**
 * The transport of `RedisStorage`: the command client and the pub/sub subscriber, script calls
 * with timeouts, and the connection's health. It moves bytes and reports what happened to the
 * connection; it knows nothing of circuits.
 * @module
 */
import { isReplyError } from "./codec.js";
import { makeClient, type RedisClient, type RedisSettings } from "./options.js";
import { preloadScripts, runScript, withTimeout, type ScriptName } from "./scripts.js";
import { Subscriptions } from "./subscriptions.js";

/** What the transport tells its storage. */
export interface TransportListener {
  /** A message on the channel of a circuit this process holds, or on the telemetry's watch channel. */
  message(message: string, channel: string): void;
  /**
   * Redis stopped answering, or refused us: commands fail until `up`. Called when the outage
   * begins, and again during it if Redis tells why (a `RedisConfigurationError`).
   */
  down(error: unknown): void;
  /** Redis answers again after `down`: commands and the subscription work. */
  up(): void;
  /** `channels` were subscribed again while commands kept working: their messages may have been lost. */
  resubscribed(channels: readonly string[]): void;
  /**
   * Redis refused to subscribe `channel` (an ACL user without it, or without SSUBSCRIBE): changes
   * other processes make to its circuit arrive only by the periodic re-read. Commands still work:
   * this is no outage. Called again each time the subscription is refused (after a reconnection).
   */
  refused?(channel: string, error: SubscriptionRefusedError): void;
}

/**
 * Redis answered the connection with a refusal that retrying will not fix (a wrong password, a
 * user without the permissions the scripts need). The message holds the server's words.
 */
export class RedisConfigurationError extends Error {
  /** Stable error code. */
  readonly code = "PURGATORY_REDIS_CONFIGURATION";
}
Object.defineProperty(RedisConfigurationError.prototype, "name", { value: "RedisConfigurationError" });

/**
 * Redis refused to subscribe a circuit's channel (`NOPERM`: an ACL user without the channel, or
 * without the subscribe command). Its circuit still works, but learns what other processes did
 * only at the periodic re-read. The message names the channel and holds the server's words.
 */
export class SubscriptionRefusedError extends RedisConfigurationError {
  constructor(
    /** The channel refused. */
    readonly channel: string,
    /** `SSUBSCRIBE` or `SUBSCRIBE`. */
    readonly command: string,
    cause: Error,
  ) {
    super(
      `Redis refused ${command} ${channel}: ${cause.message} (changes other processes make to this circuit ` +
        "are seen only at the periodic re-read, resyncInterval)",
      { cause },
    );
  }
}
Object.defineProperty(SubscriptionRefusedError.prototype, "name", { value: "SubscriptionRefusedError" });

const REFUSALS = /^(WRONGPASS|NOAUTH|NOPERM)/;

/** TLS verification failures (Node's codes): a certificate this process does not trust. */
const UNTRUSTED =
  /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** ioredis's words for a connection that ended, whatever ended it. */
const CLOSED = /^Connection is closed\.?$/;

/** The command client, the subscriber and the health of the connection to Redis. */
export class RedisTransport {
  readonly #settings: RedisSettings;
  readonly #listener: TransportListener;
  readonly #subscriptions: Subscriptions;
  #client: RedisClient | undefined;
  #available = false;
  /** Whether `down` was reported and `up` not yet. */
  #outage = false;
  #closed = false;
  #refusal: RedisConfigurationError | undefined;
  /** The last error the connection reported (a refused socket, a TLS failure): an outage's cause. */
  #lastError: Error | undefined;
  #checking: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The listeners this transport adds to the command client, removed on `close`. */
  readonly #onError = (error: unknown): void => {
    if (error instanceof Error) this.#lastError = error;
    this.#noticeRefusal(error);
  };
  readonly #onClose = (): void => {
    if (this.#available) this.#down(new Error("the connection to Redis closed"));
  };

  constructor(settings: RedisSettings, listener: TransportListener) {
    this.#settings = settings;
    this.#listener = listener;
    this.#subscriptions = new Subscriptions(settings, {
      message: (message, channel) => listener.message(message, channel),
      resubscribed: (channels) => {
        if (this.#available) listener.resubscribed(channels);
        else void this.#healthCheck();
      },
      lost: (error) => this.#down(error),
      refused: (channels, error) => {
        const command = this.#subscriptions.sharded ? "SSUBSCRIBE" : "SUBSCRIBE";
        for (const channel of channels) {
          if (this.#closed) return;
          listener.refused?.(channel, new SubscriptionRefusedError(channel, command, error));
        }
      },
    });
  }

  /** Whether Redis answers now. */
  get available(): boolean {
    return this.#available;
  }

  /** The command that publishes a circuit's state from a script: `SPUBLISH` or `PUBLISH`. */
  get publishCommand(): "SPUBLISH" | "PUBLISH" {
    return this.#subscriptions.sharded ? "SPUBLISH" : "PUBLISH";
  }

  /** The channels this process is subscribed to. */
  get subscriptions(): number {
    return this.#subscriptions.size;
  }

  /** Whether this process is subscribed to `channel` (or will be once connected). */
  subscribedTo(channel: string): boolean {
    return this.#subscriptions.has(channel);
  }

  /**
   * Makes (or adopts) the clients and connects. Resolves even when Redis is down: the transport
   * then reports `down` and checks the connection every `healthCheckInterval` until it is back.
   * Rejects only for set-up errors (ioredis missing).
   */
  async start(): Promise<void> {
    if (this.#closed) return;
    const client = this.#settings.client ?? (await makeClient(this.#settings));
    // Closed while ioredis loaded: the client was never connected, and nobody will close it.
    if (this.#closed) return;
    this.#client = client;
    client.on("error", this.#onError);
    client.on("close", this.#onClose);
    try {
      if (this.#settings.client === undefined) await client.connect();
      else await whenReady(client, Math.max(1000, this.#settings.commandTimeout * 4));
      await this.#subscriptions.connect(client);
      this.#available = true;
      this.#preload(client);
    } catch (error) {
      this.#noticeRefusal(error);
      this.#down(error);
    }
  }

  /**
   * Ends the health checks, the subscriber and the client it made; a client you passed stays open,
   * with none of the listeners this transport added to it.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#subscriptions.close();
    const client = this.#client;
    if (client === undefined) return;
    if (this.#settings.client !== undefined) {
      client.removeListener("error", this.#onError);
      client.removeListener("close", this.#onClose);
      return;
    }
    try {
      await withTimeout(client.quit(), this.#settings.commandTimeout);
    } catch {
      client.disconnect();
    }
  }

  /** Subscribes `channel` (batched with the others of this turn); resolves once it is. */
  subscribe(channel: string): Promise<void> {
    return this.#subscriptions.add(channel);
  }

  /** Unsubscribes `channel` (batched). */
  unsubscribe(channel: string): void {
    this.#subscriptions.remove(channel);
  }

  /**
   * Runs a script on one circuit's `keys`. Rejects when Redis is unavailable, does not answer in time (then it
   * also reports `down`), or answers with an error (a reply error: Redis is there, the data is not
   * what the script expects).
   *
   * `sent` is called as each command of the script is handed to the client, which writes it to the
   * socket at once: the EVALSHA, and the EVAL that follows a NOSCRIPT answer (a round trip later).
   * Its last call is when the script that ran was sent: the local time to pair with the Redis time
   * the reply gives, for the clock offset. Not called when Redis is known to be unavailable.
   */
  async script(
    name: ScriptName,
    keys: readonly string[],
    args: readonly (string | number)[],
    sent?: () => void,
  ): Promise<unknown> {
    if (sent === undefined) return this.#call((client) => runScript(client, name, keys, args));
    return this.#call((client) => runScript(announcing(client, sent), name, keys, args));
  }

  /** Adds `[score, member]` pairs to the sorted set `key`, in one command. */
  async zadd(key: string, entries: readonly (readonly [number, string])[]): Promise<void> {
    await this.#call((client) => client.zadd(key, ...entries.flat()));
  }

  /** Runs `command` on the command client, as the scripts are: rejects while Redis is unavailable. */
  run<T>(command: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.#call(command);
  }

  /** The command client, once started (for reading the registry). */
  get client(): RedisClient | undefined {
    return this.#client;
  }

  async #call<T>(command: (client: RedisClient) => Promise<T>): Promise<T> {
    const client = this.#client;
    if (client === undefined || !this.#available) throw new Error("Redis is unavailable");
    try {
      // A client we made has ioredis's commandTimeout; one you pass gets ours.
      const sent = command(client);
      return await (this.#settings.client === undefined ? sent : withTimeout(sent, this.#settings.commandTimeout));
    } catch (error) {
      if (!isReplyError(error)) this.#down(error);
      throw error;
    }
  }

  /** Loads the scripts in the background; a failure only means the EVAL fallback serves. */
  #preload(client: RedisClient): void {
    withTimeout(preloadScripts(client), this.#settings.commandTimeout * 8).catch(() => undefined);
  }

  /** Remembers a refusal (wrong password, missing permission), reported with the outage. */
  #noticeRefusal(error: unknown): void {
    if (error instanceof Error && UNTRUSTED.test(String((error as { code?: unknown }).code))) {
      this.#refuse(
        new RedisConfigurationError(
          `Redis's TLS certificate is not trusted (${String((error as { code?: unknown }).code)}): give its CA ` +
            "(ioredis's tls.ca in redisOptions, or NODE_EXTRA_CA_CERTS)",
          { cause: error },
        ),
      );
      return;
    }
    if (!(error instanceof Error) || !REFUSALS.test(error.message)) return;
    if (this.#refusal?.message.includes(error.message) === true) return;
    this.#refuse(new RedisConfigurationError(`Redis refused the connection: ${error.message}`, { cause: error }));
  }

  #refuse(refusal: RedisConfigurationError): void {
    if (this.#refusal?.message === refusal.message) return;
    this.#refusal = refusal;
    if (this.#outage) this.#listener.down(refusal);
  }

  #down(error: unknown): void {
    if (this.#closed) return;
    const reported = this.#outage;
    this.#available = false;
    this.#outage = true;
    // ioredis says "Connection is closed." whatever closed it: the connection's own error says why.
    const cause = error instanceof Error && CLOSED.test(error.message) && this.#lastError ? this.#lastError : error;
    if (!reported) this.#listener.down(this.#refusal ?? cause);
    this.#scheduleCheck();
  }

  #scheduleCheck(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#healthCheck(), this.#settings.healthCheckInterval);
    this.#timer.unref?.();
  }

  /** One health check at a time (the timer and a reconnected subscriber both start one). */
  #healthCheck(): Promise<void> {
    this.#checking ??= this.#checkHealth().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #checkHealth(): Promise<void> {
    const client = this.#client;
    if (this.#closed || this.#available || client === undefined) return;
    try {
      try {
        await withTimeout(client.ping(), this.#settings.commandTimeout);
      } catch (error) {
        // A refused PING (an ACL without it) is a server that answers: reported, not waited for.
        if (!isReplyError(error)) throw error;
        this.#noticeRefusal(error);
      }
      await this.#subscriptions.connect(client);
    } catch (error) {
      this.#noticeRefusal(error);
      this.#scheduleCheck();
      return;
    }
    this.#refusal = undefined;
    this.#available = true;
    this.#outage = false;
    this.#preload(client);
    this.#listener.up();
  }
}

/**
 * `client` for `runScript`, calling `sent` as it hands over each EVALSHA or EVAL (the only
 * commands `runScript` sends).
 */
function announcing(client: RedisClient, sent: () => void): RedisClient {
  const scriptCommands: Pick<RedisClient, "evalsha" | "eval"> = {
    evalsha: (...args) => {
      sent();
      return client.evalsha(...args);
    },
    eval: (...args) => {
      sent();
      return client.eval(...args);
    },
  };
  return scriptCommands as RedisClient;
}

/**
 * Waits, at most `ms`, until a client you passed is ready (connecting a lazy one): without an
 * offline queue, a command sent while it still connects fails, and the storage would start
 * unavailable for nothing. A connection that fails (or a client not ready in time) is left to
 * the first command, which reports the outage, and to the health checks.
 */
async function whenReady(client: RedisClient, ms: number): Promise<void> {
  if (client.status === "ready" || client.status === "end") return;
  let settle: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const events = ["ready", "close", "end"];
  for (const event of events) client.once(event, settle);
  try {
    if (client.status === "wait") client.connect().catch(() => undefined);
    await withTimeout(settled, ms);
  } catch {
    // Not ready in time.
  } finally {
    for (const event of events) client.removeListener(event, settle);
  }
}
