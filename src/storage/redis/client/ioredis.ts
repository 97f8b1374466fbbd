/**
 * ioredis behind the storage's seam: its `Redis` and `Cluster` already have the shape of
 * `RedisClient`, so a client you pass is used as it is; this loads the library (an optional peer
 * dependency) and makes the clients the storage owns.
 * @module
 */
import { reconnectDelay, type RedisClient } from "./client.js";

/** The ioredis module, as `import("ioredis")` gives it. */
export type IoredisModule = typeof import("ioredis");

/** A `Cannot find package 'ioredis'` (ESM) or `Cannot find module 'ioredis'` (CommonJS). */
const IOREDIS_NOT_FOUND = /^Cannot find (?:package|module) ['"]ioredis['"]/;

/** Whether `error` says that the package `name` itself is not installed (not one of its own imports). */
export function isNotInstalled(error: unknown, name: RegExp = IOREDIS_NOT_FOUND): boolean {
  const code = (error as { readonly code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && name.test(message);
}

/**
 * The error to throw when `import("ioredis")` failed with `error`: "not installed" only when
 * ioredis itself could not be found; anything else (an ESM bundle that cannot `require` Node's
 * built-in modules, a broken install, a missing dependency of ioredis) says what failed. The
 * original error is the `cause` either way.
 */
export function ioredisLoadError(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (isNotInstalled(error)) {
    return new Error('RedisStorage needs the optional peer dependency "ioredis": run `npm install ioredis`', {
      cause: error,
    });
  }
  const hint = /Dynamic require of /.test(message)
    ? " (an ES module bundle cannot require Node's built-in modules for ioredis, which is CommonJS:" +
      " leave ioredis out of the bundle, e.g. esbuild --external:ioredis, or define require with" +
      " createRequire in a banner)"
    : "";
  return new Error(`RedisStorage could not load "ioredis": ${message}${hint}`, { cause: error });
}

/**
 * Loads ioredis's `Redis` class. Rejects with what failed (see `ioredisLoadError`), or when the
 * module that loads has no `Redis` class (not ioredis 5 or 6).
 */
export async function loadRedisClass(
  load: () => Promise<unknown> = () => import("ioredis"),
): Promise<IoredisModule["Redis"]> {
  let ioredis: Partial<IoredisModule> | undefined;
  try {
    ioredis = (await load()) as Partial<IoredisModule> | undefined;
  } catch (error) {
    throw ioredisLoadError(error);
  }
  const RedisClass = ioredis?.Redis ?? ioredis?.default;
  if (typeof RedisClass !== "function") {
    throw new Error(
      'RedisStorage could not use "ioredis": the module loaded has no Redis class (RedisStorage needs ioredis 5 or 6)',
    );
  }
  return RedisClass;
}

/** What the storage's own connections are made from. */
export interface ConnectionSettings {
  readonly url: string | undefined;
  /** Milliseconds. */
  readonly commandTimeout: number;
  /** The library's own options, on top of the storage's. */
  readonly redisOptions: Readonly<Record<string, unknown>>;
}

/**
 * Makes an ioredis client: no offline queue, tight timeouts, lazy connect. The subscriber
 * resubscribes itself (the storage does it, awaiting the answer) and has no command timeout:
 * ioredis's own resubscription would reject with nobody to catch it.
 */
export function makeIoredisClient(
  RedisClass: IoredisModule["Redis"],
  settings: ConnectionSettings,
  role: "commands" | "subscriber",
): RedisClient {
  return new RedisClass(settings.url ?? "redis://127.0.0.1:6379", {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(1000, settings.commandTimeout * 4),
    commandTimeout: settings.commandTimeout,
    // A socket that never closes (a server that stopped answering) must not hold connect() or
    // the process's exit for ioredis's default 2 s.
    disconnectTimeout: settings.commandTimeout,
    retryStrategy: reconnectDelay,
    ...settings.redisOptions,
    ...(role === "subscriber" ? { autoResubscribe: false, commandTimeout: undefined } : {}),
  });
}

/** Whether `value` looks like an ioredis `Redis` or `Cluster` (a `status` string and `evalsha`). */
export function isIoredisClient(value: unknown): value is RedisClient {
  const client = value as { readonly status?: unknown; readonly evalsha?: unknown } | null;
  return (
    typeof value === "object" &&
    value !== null &&
    typeof client?.evalsha === "function" &&
    typeof client.status === "string"
  );
}
