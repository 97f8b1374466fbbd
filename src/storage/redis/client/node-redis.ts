/**
 * node-redis (the `redis` package, v5) behind the storage's seam: a client (`createClient`) or a
 * cluster (`createCluster`) wrapped to `RedisClient`. Commands go through `sendCommand` with
 * RESP2-shaped replies whatever the protocol; reply errors (`ErrorReply`) become
 * `ServerReplyError`s; events are forwarded only while the storage listens, so that a client you
 * passed keeps none of the storage's listeners once it closed. Declared structurally: the package
 * needs node-redis installed only to make clients from a URL. One file past 400 lines because the
 * client's, the cluster's and a master's adapters share one base and its private forwarding.
 * @module
 */
import { EventEmitter } from "../emitter.js";
import { reconnectDelay, ServerReplyError, type FeedClient, type RedisClient } from "./client.js";

/**
 * A node-redis client (`createClient()` of the `redis` package, v5), as `RedisStorageOptions.client`
 * takes it. Only its shape is checked here; the storage uses it through an adapter.
 */
export interface NodeRedisClient {
  /** Whether the client is connected or connecting. */
  readonly isOpen: boolean;
  /** Whether the client is connected and ready for commands. */
  readonly isReady: boolean;
  /** Sends a command given as its words. */
  readonly sendCommand: (...args: never[]) => unknown;
  /** A new client with the same options. */
  readonly duplicate: (...args: never[]) => unknown;
}

/**
 * A node-redis cluster (`createCluster()` of the `redis` package, v5), as
 * `RedisStorageOptions.client` takes it.
 */
export interface NodeRedisCluster {
  /** Whether the cluster is connected or connecting. */
  readonly isOpen: boolean;
  /** The masters it knows. */
  readonly masters: readonly unknown[];
  /** The master that serves a hash slot. */
  readonly getSlotMaster: (...args: never[]) => unknown;
  /** Sends a command, routed by its first key. */
  readonly sendCommand: (...args: never[]) => unknown;
}

type Listener = (...args: unknown[]) => void;
type PubSubListener = (message: string, channel: string) => void;

/** What the adapters use of a node-redis client. */
interface NodeClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly options?: { readonly socket?: Readonly<Record<string, unknown>> };
  sendCommand(args: string[]): Promise<unknown>;
  connect(): Promise<unknown>;
  close?(): Promise<unknown>;
  quit?(): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<unknown>;
  duplicate(overrides?: Record<string, unknown>): NodeClient;
  subscribe(channels: string[], listener: PubSubListener): Promise<unknown>;
  unsubscribe(channels: string[], listener: PubSubListener): Promise<unknown>;
  sSubscribe(channels: string[], listener: PubSubListener): Promise<unknown>;
  sUnsubscribe(channels: string[], listener: PubSubListener): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
}

/** A master of a node-redis cluster. */
interface MasterNode {
  readonly host: string;
  readonly port: number;
  readonly client?: NodeClient;
}

/** What the adapters use of a node-redis cluster. */
interface NodeCluster {
  readonly isOpen: boolean;
  readonly masters: readonly MasterNode[];
  readonly _slots?: { rediscover(startWith: NodeClient): Promise<void> };
  getSlotMaster(slot: number): MasterNode | undefined;
  nodeClient(node: MasterNode): Promise<NodeClient> | NodeClient;
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  connect(): Promise<unknown>;
  close?(): Promise<unknown>;
  quit?(): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<unknown>;
  duplicate(overrides?: Record<string, unknown>): NodeCluster;
  subscribe(channels: string[], listener: PubSubListener): Promise<unknown>;
  unsubscribe(channels: string[], listener: PubSubListener): Promise<unknown>;
  sSubscribe(channels: string[], listener: PubSubListener): Promise<unknown>;
  sUnsubscribe(channels: string[], listener: PubSubListener): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
}

/** Whether `value` looks like a node-redis client: `isOpen`, `isReady`, `sendCommand`, `duplicate`. */
export function isNodeRedisClient(value: unknown): value is NodeRedisClient {
  const client = value as Partial<Record<keyof NodeRedisClient, unknown>> | null;
  return (
    typeof value === "object" &&
    value !== null &&
    typeof client?.isOpen === "boolean" &&
    typeof client.isReady === "boolean" &&
    typeof client.sendCommand === "function" &&
    typeof client.duplicate === "function"
  );
}

/** Whether `value` looks like a node-redis cluster: `isOpen`, `masters`, `getSlotMaster`, `sendCommand`. */
export function isNodeRedisCluster(value: unknown): value is NodeRedisCluster {
  const cluster = value as Partial<Record<keyof NodeRedisCluster, unknown>> | null;
  return (
    typeof value === "object" &&
    value !== null &&
    typeof cluster?.isOpen === "boolean" &&
    Array.isArray(cluster.masters) &&
    typeof cluster.getSlotMaster === "function" &&
    typeof cluster.sendCommand === "function"
  );
}

/** Whether `error` is node-redis's `ErrorReply` (or a subclass): the server's answer, not the connection's. */
function isErrorReply(error: unknown): error is Error {
  for (let proto: unknown = error; proto !== null && proto !== undefined; proto = Object.getPrototypeOf(proto)) {
    if ((proto as { readonly constructor?: { readonly name?: unknown } }).constructor?.name === "ErrorReply") {
      return true;
    }
  }
  return false;
}

/** `error` as the seam says: a reply error becomes a `ServerReplyError` with the server's words. */
function asSeamError(error: unknown): unknown {
  return isErrorReply(error) ? new ServerReplyError(error.message, { cause: error }) : error;
}

/** A reply as RESP2 gives it: RESP3's pairs (`ZRANGE ... WITHSCORES`) flattened, doubles as strings. */
function flatStrings(reply: unknown): string[] {
  if (!Array.isArray(reply)) return [];
  return reply.flat().map((item: unknown) => (typeof item === "string" ? item : String(item)));
}

const noop = (): void => undefined;

/** What closing needs of a node-redis client or cluster (v5's names, v4's as fallbacks). */
interface Closable {
  readonly isOpen: boolean;
  close?(): Promise<unknown>;
  quit?(): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<unknown>;
}

/** Closes `connection` once its commands in flight are answered (nothing when it is not open). */
function closeGently(connection: Closable): Promise<unknown> | undefined {
  if (!connection.isOpen) return undefined;
  return connection.close === undefined ? connection.quit?.() : connection.close();
}

/** Closes `connection` at once, dropping its commands in flight (nothing when it is not open). */
function closeAtOnce(connection: Closable): void {
  if (!connection.isOpen) return;
  if (connection.destroy === undefined) connection.disconnect?.().catch(noop);
  else connection.destroy();
}

/** How an adapter was made. */
interface AdapterOptions {
  /** Whether the storage made the client (then it also listens to its errors, so none is unhandled). */
  readonly owned: boolean;
  /** Milliseconds a command may take before it rejects; `0`: no limit of the adapter's. */
  readonly timeoutMs: number;
  /**
   * Milliseconds `connect()` waits for the client to be ready before it rejects (a server that
   * accepts connections and never answers); `0` or absent: no limit of the adapter's.
   */
  readonly connectTimeoutMs?: number;
}

/**
 * What both adapters share: the commands (one `sendCommand` each), the events (forwarded from the
 * library's while somebody listens) and the subscriptions.
 */
abstract class NodeRedisAdapter extends EventEmitter {
  readonly #timeoutMs: number;
  /** The library's events each of ours comes from, with their forwarders, while attached. */
  readonly #attached = new Map<string, [string, Listener][]>();
  protected readonly onMessage: PubSubListener = (message, channel) => this.emit("message", channel, message);
  protected readonly onShardMessage: PubSubListener = (message, channel) => this.emit("smessage", channel, message);

  constructor(options: AdapterOptions) {
    super();
    this.#timeoutMs = options.timeoutMs;
    // The storage listens to `error` on the clients it makes; another listener added here would
    // keep the library from throwing an unhandled one between two of its own.
    super.on("error", noop);
  }

  /** The library object whose events are forwarded. */
  protected abstract get source(): {
    on(event: string, l: Listener): unknown;
    removeListener(event: string, l: Listener): unknown;
  };

  /** The library's events that make `event`, and what each forwards. */
  protected abstract forwards(event: string): [string, Listener][];

  /** Sends one command (`firstKey` routes it on a cluster). */
  protected abstract send(firstKey: string | undefined, args: string[]): Promise<unknown>;

  abstract readonly status: string;
  abstract connect(): Promise<void>;
  abstract quit(): Promise<unknown>;
  abstract disconnect(): void;
  abstract duplicate(...overrides: unknown[]): RedisClient;
  abstract subscribe(...channels: string[]): Promise<unknown>;
  abstract unsubscribe(...channels: string[]): Promise<unknown>;
  abstract ssubscribe(...channels: string[]): Promise<unknown>;
  abstract sunsubscribe(...channels: string[]): Promise<unknown>;

  override on(event: string, listener: Listener): this {
    super.on(event, listener);
    this.#attach(event);
    return this;
  }

  override once(event: string, listener: Listener): this {
    super.once(event, listener);
    this.#attach(event);
    return this;
  }

  override removeListener(event: string, listener: Listener): this {
    super.removeListener(event, listener);
    this.#detachIfUnused(event);
    return this;
  }

  override off(event: string, listener: Listener): this {
    return this.removeListener(event, listener);
  }

  /** Emits `event` to the storage's listeners (an `error` only when somebody listens besides us). */
  protected forward(event: string, ...args: unknown[]): void {
    if (event === "error" && this.listenerCount("error") <= 1) return;
    this.emit(event, ...args);
    this.#detachIfUnused(event);
  }

  #attach(event: string): void {
    if (this.#attached.has(event)) return;
    const forwards = this.forwards(event);
    if (forwards.length === 0) return;
    this.#attached.set(event, forwards);
    for (const [from, forwarder] of forwards) this.source.on(from, forwarder);
  }

  #detachIfUnused(event: string): void {
    const forwards = this.#attached.get(event);
    if (forwards === undefined || this.listenerCount(event) > (event === "error" ? 1 : 0)) return;
    this.#attached.delete(event);
    for (const [from, forwarder] of forwards) this.source.removeListener(from, forwarder);
  }

  /** Runs a command within the adapter's timeout; a reply error becomes a `ServerReplyError`. */
  protected async command(firstKey: string | undefined, args: string[]): Promise<unknown> {
    const sent = this.send(firstKey, args);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (this.#timeoutMs <= 0) return await sent;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Command timed out after ${this.#timeoutMs} ms`)), this.#timeoutMs);
      });
      return await Promise.race([sent, late]);
    } catch (error) {
      throw asSeamError(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A subscribe command, its reply error as the seam says. */
  protected async pubsub(run: () => Promise<unknown>): Promise<unknown> {
    try {
      return await run();
    } catch (error) {
      throw asSeamError(error);
    }
  }

  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown> {
    const strings = args.map(String);
    return this.command(numKeys > 0 ? strings[0] : undefined, ["EVALSHA", sha, String(numKeys), ...strings]);
  }

  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown> {
    const strings = args.map(String);
    return this.command(numKeys > 0 ? strings[0] : undefined, ["EVAL", script, String(numKeys), ...strings]);
  }

  zadd(key: string, ...scoresAndMembers: (string | number)[]): Promise<unknown> {
    return this.command(key, ["ZADD", key, ...scoresAndMembers.map(String)]);
  }

  async zrange(key: string, start: number, stop: number | string | Uint8Array): Promise<string[]> {
    return flatStrings(await this.command(key, ["ZRANGE", key, String(start), String(stop)]));
  }

  zrem(key: string, ...members: string[]): Promise<unknown> {
    return this.command(key, ["ZREM", key, ...members]);
  }

  async zrangebyscore(key: string, min: string, max: string, ...rest: (string | number)[]): Promise<string[]> {
    return flatStrings(await this.command(key, ["ZRANGEBYSCORE", key, min, max, ...rest.map(String)]));
  }

  async zcard(key: string): Promise<number> {
    return Number(await this.command(key, ["ZCARD", key]));
  }

  async exists(key: string): Promise<number> {
    return Number(await this.command(key, ["EXISTS", key]));
  }

  async hmget(key: string, ...fields: string[]): Promise<(string | null)[]> {
    const reply = await this.command(key, ["HMGET", key, ...fields]);
    if (!Array.isArray(reply)) return [];
    return (reply as unknown[]).map((v) =>
      typeof v === "string" ? v : v === null || v === undefined ? null : String(v as number),
    );
  }

  async time(): Promise<unknown[]> {
    const reply = await this.command(undefined, ["TIME"]);
    return Array.isArray(reply) ? (reply as unknown[]) : [];
  }

  ping(): Promise<unknown> {
    return this.command(undefined, ["PING"]);
  }

  script(subcommand: string, ...args: string[]): Promise<unknown> {
    return this.command(undefined, ["SCRIPT", subcommand, ...args]);
  }

  async info(section: string): Promise<string> {
    return String(await this.command(undefined, ["INFO", section]));
  }
}

/** A node-redis client (`createClient`) as a `RedisClient`. */
export class NodeRedisClientAdapter extends NodeRedisAdapter implements FeedClient {
  readonly #client: NodeClient;
  readonly #owned: boolean;
  readonly #connectTimeoutMs: number;
  /** Whether it was ever connected (or asked to): a closed client is then `"end"`, not `"wait"`. */
  #opened = false;

  constructor(client: NodeRedisClient, options: AdapterOptions) {
    super(options);
    this.#client = client as unknown as NodeClient;
    this.#owned = options.owned;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 0;
    if (options.owned) this.#client.on("error", noop);
  }

  protected get source(): NodeClient {
    return this.#client;
  }

  protected forwards(event: string): [string, Listener][] {
    const client = this.#client;
    switch (event) {
      case "ready":
        return [["ready", () => this.forward("ready")]];
      case "error":
        return [["error", (error) => this.forward("error", error)]];
      // node-redis reports a lost connection as an error, then reconnects; `end` when closed.
      case "close":
        return [
          [
            "error",
            () => {
              if (!client.isReady) this.forward("close");
            },
          ],
          ["end", () => this.forward("close")],
        ];
      case "end":
        return [["end", () => this.forward("end")]];
      // The server dropped a sharded channel (its slot moved): node-redis forgot its listeners.
      case "sunsubscribed":
        return [["sharded-channel-moved", (channel) => this.forward("sunsubscribed", String(channel))]];
      default:
        return [];
    }
  }

  protected send(_firstKey: string | undefined, args: string[]): Promise<unknown> {
    return this.#client.sendCommand(args);
  }

  get status(): string {
    const client = this.#client;
    if (client.isOpen) this.#opened = true;
    if (client.isReady) return "ready";
    if (client.isOpen) return "connecting";
    return this.#opened ? "end" : "wait";
  }

  /**
   * Connects, resolving once ready, rejecting at the first connection error (node-redis goes on
   * reconnecting by itself, and says `ready` when it is).
   */
  async connect(): Promise<void> {
    const client = this.#client;
    this.#opened = true;
    if (client.isReady) return;
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => settle();
      const onError = (error: unknown): void => settle(error ?? new Error("the connection to Redis failed"));
      // A server that accepts the connection and never answers would keep it from being ready.
      const limit = this.#connectTimeoutMs;
      const timer =
        limit > 0
          ? setTimeout(() => onError(new Error(`Connection to Redis not ready after ${limit} ms`)), limit)
          : undefined;
      timer?.unref?.();
      const settle = (error?: unknown): void => {
        clearTimeout(timer);
        client.removeListener("ready", onReady);
        client.removeListener("error", onError);
        if (error === undefined) resolve();
        else reject(asSeamError(error));
      };
      client.on("ready", onReady);
      client.on("error", onError);
      if (!client.isOpen) client.connect().catch(onError);
    });
  }

  async quit(): Promise<unknown> {
    this.#opened = true;
    return closeGently(this.#client);
  }

  disconnect(): void {
    this.#opened = true;
    closeAtOnce(this.#client);
  }

  /** A new client with the same options, owned by the storage. */
  duplicate(): NodeRedisClientAdapter {
    return new NodeRedisClientAdapter(this.#client.duplicate(), {
      owned: true,
      timeoutMs: 0,
      connectTimeoutMs: this.#connectTimeoutMs,
    });
  }

  subscribe(...channels: string[]): Promise<unknown> {
    return this.pubsub(() => this.#client.subscribe(channels, this.onMessage));
  }

  unsubscribe(...channels: string[]): Promise<unknown> {
    return this.pubsub(() => this.#client.unsubscribe(channels, this.onMessage));
  }

  ssubscribe(...channels: string[]): Promise<unknown> {
    return this.pubsub(() => this.#client.sSubscribe(channels, this.onShardMessage));
  }

  sunsubscribe(...channels: string[]): Promise<unknown> {
    return this.pubsub(() => this.#client.sUnsubscribe(channels, this.onShardMessage));
  }

  /** Where it connects, for a Cluster's master (`ShardSubscribers` finds it by `host:port`). */
  get options(): { readonly host?: string | undefined; readonly port?: number | undefined } {
    const socket = this.#client.options?.socket as { readonly host?: string; readonly port?: number } | undefined;
    return { host: socket?.host, port: socket?.port };
  }

  /** Whether the client is owned by the storage (made from a URL, or a copy). */
  get owned(): boolean {
    return this.#owned;
  }
}

/**
 * A node-redis cluster (`createCluster`) as a `RedisClient`: commands routed by their first key,
 * the masters' clients for loading scripts and for sharded subscribers of their own, the slot
 * table read from the cluster (`slotMaster`), and `refresh` after the table was read again.
 */
export class NodeRedisClusterAdapter extends NodeRedisAdapter {
  readonly #cluster: NodeCluster;
  readonly isCluster = true;
  #opened = false;

  constructor(cluster: NodeRedisCluster, options: AdapterOptions) {
    super(options);
    this.#cluster = cluster as unknown as NodeCluster;
    if (options.owned) this.#cluster.on("error", noop);
  }

  protected get source(): NodeCluster {
    return this.#cluster;
  }

  protected forwards(event: string): [string, Listener][] {
    switch (event) {
      case "ready":
        return [["connect", () => this.forward("ready")]];
      case "error":
        return [["error", (error) => this.forward("error", error)]];
      case "close":
        return [["disconnect", () => this.forward("close")]];
      case "end":
        return [["disconnect", () => this.forward("end")]];
      default:
        return [];
    }
  }

  protected send(firstKey: string | undefined, args: string[]): Promise<unknown> {
    return this.#cluster.sendCommand(firstKey, false, args);
  }

  get status(): string {
    if (this.#cluster.isOpen) {
      this.#opened = true;
      return "ready";
    }
    return this.#opened ? "end" : "wait";
  }

  async connect(): Promise<void> {
    this.#opened = true;
    if (!this.#cluster.isOpen) await this.#cluster.connect();
  }

  async quit(): Promise<unknown> {
    this.#opened = true;
    return closeGently(this.#cluster);
  }

  disconnect(): void {
    this.#opened = true;
    closeAtOnce(this.#cluster);
  }

  /** A new cluster with the same options (classic pub/sub's subscriber), owned by the storage. */
  duplicate(): NodeRedisClusterAdapter {
    return new NodeRedisClusterAdapter(this.#cluster.duplicate(), {
      owned: true,
      timeoutMs: 0,
    });
  }

  /** The master serving `slot`, as `"host:port"`; `undefined` while none is known. */
  slotMaster(slot: number): string | undefined {
    const master = this.#cluster.getSlotMaster(slot);
    return master === undefined ? undefined : `${master.host}:${master.port}`;
  }

  /** Reads the slot table again, then emits `refresh`. */
  refreshSlotsCache(): void {
    const client = this.#cluster.masters.find((master) => master.client?.isReady === true)?.client;
    const slots = this.#cluster._slots;
    if (client === undefined || slots === undefined) {
      this.forward("refresh");
      return;
    }
    slots.rediscover(client).then(
      () => this.forward("refresh"),
      () => this.forward("refresh"),
    );
  }

  /**
   * The masters, each as a client: commands go to that master (`SCRIPT LOAD`), and `duplicate`
   * makes a connection of its own to it (a sharded subscriber), with the options of the
   * cluster's node connections.
   */
  nodes(_role: "master"): RedisClient[] {
    const template = this.#cluster.masters.find((master) => master.client !== undefined)?.client;
    return this.#cluster.masters.map((master) => new NodeRedisMasterAdapter(this.#cluster, master, template));
  }

  subscribe(...channels: string[]): Promise<unknown> {
    return this.pubsub(() => this.#cluster.subscribe(channels, this.onMessage));
  }

  unsubscribe(...channels: string[]): Promise<unknown> {
    return this.pubsub(() => this.#cluster.unsubscribe(channels, this.onMessage));
  }

  ssubscribe(...channels: string[]): Promise<unknown> {
    return this.pubsub(() => this.#cluster.sSubscribe(channels, this.onShardMessage));
  }

  sunsubscribe(...channels: string[]): Promise<unknown> {
    return this.pubsub(() => this.#cluster.sUnsubscribe(channels, this.onShardMessage));
  }
}

/**
 * One master of a node-redis cluster: its commands go to its node client (made by the cluster
 * when needed); `duplicate` is a new client of the storage's own, with the options of the
 * cluster's node clients, pointed at this master.
 */
class NodeRedisMasterAdapter extends NodeRedisAdapter {
  readonly #cluster: NodeCluster;
  readonly #master: MasterNode;
  readonly #template: NodeClient | undefined;

  constructor(cluster: NodeCluster, master: MasterNode, template: NodeClient | undefined) {
    super({ owned: false, timeoutMs: 0 });
    this.#cluster = cluster;
    this.#master = master;
    this.#template = template;
  }

  protected get source(): NodeCluster {
    return this.#cluster;
  }

  protected forwards(): [string, Listener][] {
    return [];
  }

  protected async send(_firstKey: string | undefined, args: string[]): Promise<unknown> {
    const client = await this.#cluster.nodeClient(this.#master);
    return client.sendCommand(args);
  }

  get status(): string {
    return this.#master.client?.isReady === true ? "ready" : "connecting";
  }

  get options(): { readonly host: string; readonly port: number } {
    return { host: this.#master.host, port: this.#master.port };
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  quit(): Promise<unknown> {
    return Promise.resolve();
  }

  disconnect(): void {}

  duplicate(): NodeRedisClientAdapter {
    const template = this.#master.client ?? this.#template;
    if (template === undefined)
      throw new Error(`no client of the cluster to copy for ${this.#master.host}:${this.#master.port}`);
    const socket = { ...template.options?.socket, host: this.#master.host, port: this.#master.port };
    return new NodeRedisClientAdapter(template.duplicate({ socket }), {
      owned: true,
      timeoutMs: 0,
    });
  }

  subscribe(): Promise<unknown> {
    return Promise.reject(new Error("subscribe on a master's own connection (duplicate)"));
  }

  unsubscribe(): Promise<unknown> {
    return this.subscribe();
  }

  ssubscribe(): Promise<unknown> {
    return this.subscribe();
  }

  sunsubscribe(): Promise<unknown> {
    return this.subscribe();
  }
}

/** The `redis` module, as `import("redis")` gives it (only what is used). */
export interface NodeRedisModule {
  createClient(options?: Record<string, unknown>): unknown;
  createCluster(options: Record<string, unknown>): unknown;
}

/**
 * Makes a node-redis client that the storage owns: no offline queue, the storage's reconnection
 * delays, a connect timeout of the larger of 1 s and 4 x `commandTimeout`, and the command
 * timeout enforced by the adapter (none for a subscriber). `redisOptions` are node-redis
 * `RedisClientOptions`, merged on top (their `socket` too).
 */
export function makeNodeRedisClient(
  redis: NodeRedisModule,
  settings: {
    readonly url: string | undefined;
    readonly commandTimeout: number;
    readonly redisOptions: Readonly<Record<string, unknown>>;
  },
  role: "commands" | "subscriber",
): NodeRedisClientAdapter {
  const { socket, ...rest } = settings.redisOptions as { socket?: Record<string, unknown> };
  const client = redis.createClient({
    url: settings.url ?? "redis://127.0.0.1:6379",
    disableOfflineQueue: true,
    ...rest,
    socket: {
      connectTimeout: Math.max(1000, settings.commandTimeout * 4),
      reconnectStrategy: (retries: number) => reconnectDelay(retries + 1),
      ...socket,
    },
  });
  if (!isNodeRedisClient(client))
    throw new Error('the "redis" module made no node-redis client (RedisStorage needs redis 5)');
  return new NodeRedisClientAdapter(client, {
    owned: true,
    timeoutMs: role === "subscriber" ? 0 : settings.commandTimeout,
    connectTimeoutMs: Math.max(1000, settings.commandTimeout * 4),
  });
}
