/**
 * Which client library is behind a `client` option, and which one makes the storage's own
 * connections from a URL: ioredis when it is installed, else node-redis (`redis`).
 * @module
 */
import { InvalidOptionError } from "../../../errors.js";
import type { RedisClient } from "./client.js";
import {
  isIoredisClient,
  isNotInstalled,
  loadRedisClass,
  makeIoredisClient,
  type ConnectionSettings,
  type IoredisModule,
} from "./ioredis.js";
import {
  isNodeRedisClient,
  isNodeRedisCluster,
  makeNodeRedisClient,
  NodeRedisClientAdapter,
  NodeRedisClusterAdapter,
  type NodeRedisModule,
} from "./node-redis.js";

/**
 * The storage's client for what the user passed as `client`: an ioredis `Redis` or `Cluster` as it
 * is, a node-redis client or cluster behind its adapter (whose commands the transport limits to
 * `commandTimeout`, as it does an ioredis client's you pass). Throws `InvalidOptionError` naming
 * `client` for anything else.
 */
export function adaptClient(value: unknown): RedisClient {
  if (isIoredisClient(value)) return value;
  if (isNodeRedisCluster(value)) return new NodeRedisClusterAdapter(value, { owned: false, timeoutMs: 0 });
  if (isNodeRedisClient(value)) return new NodeRedisClientAdapter(value, { owned: false, timeoutMs: 0 });
  throw new InvalidOptionError(
    "client",
    value,
    "an ioredis Redis or Cluster, or a node-redis client (createClient) or cluster (createCluster) of the redis package",
  );
}

/** A library that makes clients from a URL: its module, and the storage's connections. */
export type ClientLibrary =
  | {
      readonly kind: "ioredis";
      readonly module: IoredisModule;
      make(settings: ConnectionSettings, role: "commands" | "subscriber"): RedisClient;
    }
  | {
      readonly kind: "node-redis";
      readonly module: NodeRedisModule;
      make(settings: ConnectionSettings, role: "commands" | "subscriber"): RedisClient;
    };

/** A `Cannot find package 'redis'` (ESM) or `Cannot find module 'redis'` (CommonJS). */
const REDIS_NOT_FOUND = /^Cannot find (?:package|module) ['"]redis['"]/;

/** The message when neither library is installed. */
export const NO_CLIENT_LIBRARY =
  'RedisStorage needs one of the optional peer dependencies "ioredis" or "redis": run `npm install ioredis` or `npm install redis`';

let library: Promise<ClientLibrary> | undefined;

/**
 * `import(name)` left for Node to resolve when it runs, never followed by a bundler: an app that
 * bundles the library with esbuild (docs/bundling.md) and talks to Redis through ioredis neither
 * fails to build for want of `redis` nor gets node-redis bundled in. node-redis is loaded from
 * `node_modules` where the app runs.
 */
function importAtRunTime(name: string): Promise<unknown> {
  return import(name) as Promise<unknown>;
}

/**
 * The environment variable that picks the library making the connections from a URL when both
 * are installed: `redis` (node-redis) or `ioredis` (the default).
 */
export const CLIENT_ENV = "PURGATORY_REDIS_CLIENT";

/**
 * The library that makes the storage's connections from a URL: ioredis if it loads; else
 * node-redis (`redis`) if it is installed; node-redis first when `PURGATORY_REDIS_CLIENT` is
 * `redis`. Rejects when neither is installed (`NO_CLIENT_LIBRARY`), or with what failed when
 * ioredis is there but does not load.
 */
export function loadClientLibrary(
  loadIoredis: () => Promise<unknown> = () => import("ioredis"),
  loadRedis: () => Promise<unknown> = () => importAtRunTime("redis"),
): Promise<ClientLibrary> {
  const defaults = arguments.length === 0;
  if (defaults && library !== undefined) return library;
  const wanted = typeof process === "undefined" ? undefined : process.env[CLIENT_ENV];
  if (wanted !== undefined && wanted !== "" && wanted !== "ioredis" && wanted !== "redis") {
    return Promise.reject(
      new InvalidOptionError(
        CLIENT_ENV,
        wanted,
        '"ioredis" or "redis" (the package that makes connections from a URL)',
      ),
    );
  }
  const loading = (async (): Promise<ClientLibrary> => {
    if (wanted === "redis") return await nodeRedisLibrary(loadRedis, undefined);
    try {
      const ioredis = await ioredisLibrary(loadIoredis);
      return ioredis;
    } catch (error) {
      // ioredis is installed but broken: say so, never fall back silently.
      if (!isNotInstalled((error as Error).cause)) throw error;
      return await nodeRedisLibrary(loadRedis, error);
    }
  })();
  if (defaults) {
    library = loading;
    // A failure is not remembered: an install made meanwhile is found at the next try.
    loading.catch(() => {
      library = undefined;
    });
  }
  return loading;
}

async function ioredisLibrary(load: () => Promise<unknown>): Promise<ClientLibrary> {
  let module: unknown;
  const RedisClass = await loadRedisClass(async () => (module = await load()));
  return {
    kind: "ioredis",
    module: module as IoredisModule,
    make: (settings, role) => makeIoredisClient(RedisClass, settings, role),
  };
}

/** node-redis; `ioredisError` is why ioredis was not used (the cause when neither is installed). */
async function nodeRedisLibrary(load: () => Promise<unknown>, ioredisError: unknown): Promise<ClientLibrary> {
  let redis: Partial<NodeRedisModule> | undefined;
  try {
    redis = (await load()) as Partial<NodeRedisModule> | undefined;
  } catch (error) {
    // The causes: why ioredis was not used (when it was tried), and why node-redis was not.
    if (isNotInstalled(error, REDIS_NOT_FOUND)) {
      const missing = new Error(NO_CLIENT_LIBRARY, { cause: error });
      if (ioredisError !== undefined) Object.defineProperty(missing, "ioredisError", { value: ioredisError });
      throw missing;
    }
    throw new Error(`RedisStorage could not load "redis": ${(error as Error).message}`, { cause: error });
  }
  if (typeof redis?.createClient !== "function" || typeof redis.createCluster !== "function") {
    throw new Error(
      'RedisStorage could not use "redis": the module loaded has no createClient (RedisStorage needs redis 5)',
    );
  }
  const module = redis as NodeRedisModule;
  return { kind: "node-redis", module, make: (settings, role) => makeNodeRedisClient(module, settings, role) };
}
