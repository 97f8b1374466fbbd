/**
 * The CLI's own connections to a fleet's Redis, and why one fails: the client options (short
 * timeouts: an operator waits, an application does not) of ioredis or, without it, node-redis,
 * whether a server is a node of a Redis Cluster (then the whole Cluster, through a Cluster client
 * seeded with it), and what a connection that fails says in an operator's words.
 * @module
 */
import { connect, isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { RedisClient } from "../storage/redis/client/client.js";
import type { ClientLibrary } from "../storage/redis/client/detect.js";
import { NodeRedisClusterAdapter, type NodeRedisCluster } from "../storage/redis/client/node-redis.js";

/** The timeouts of the CLI's own connections: see `Fleet.connect`. */
export const TIMEOUTS = { connectTimeout: 1000, disconnectTimeout: 200 } as const;

/** ioredis options for the CLI's own connections to one server. */
export const CONNECTION_OPTIONS = { enableAutoPipelining: true, ...TIMEOUTS } as const;

/**
 * node-redis options for the CLI's own connections to one server (it pipelines the commands of
 * one turn of the event loop by itself).
 */
export const NODE_REDIS_CONNECTION_OPTIONS = { socket: { connectTimeout: TIMEOUTS.connectTimeout } } as const;

/** The options of the CLI's own connections for `library`. */
export function connectionOptions(library: ClientLibrary): Readonly<Record<string, unknown>> {
  return library.kind === "ioredis" ? CONNECTION_OPTIONS : NODE_REDIS_CONNECTION_OPTIONS;
}

/** Node's codes for a certificate it does not trust, and what to do. */
const CERTIFICATE_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME/;

/**
 * Why a connection to the URL's host and port fails, in words: refused, unknown host, no answer,
 * a TLS certificate this machine does not trust (`rediss:`), or taken but never answered (a
 * server that is stopped or overloaded).
 */
export function diagnose(url: string): Promise<string> {
  const { hostname, port, protocol } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, "");
  const secure = protocol === "rediss:";
  return new Promise((resolve) => {
    const socket = secure
      ? tlsConnect({ host, port: Number(port || 6379), servername: isIP(host) === 0 ? host : undefined })
      : connect(Number(port || 6379), host);
    const done = (why: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done("no answer to a connection within 0.5 s"), 500);
    socket.once(secure ? "secureConnect" : "connect", () =>
      done(`it takes ${secure ? "TLS " : ""}connections but does not answer (stopped or overloaded?)`),
    );
    socket.once("error", (error: NodeJS.ErrnoException) => {
      const words: Record<string, string> = {
        ECONNREFUSED: "connection refused",
        ENOTFOUND: "unknown host",
        EHOSTUNREACH: "host unreachable",
      };
      if (error.code !== undefined && CERTIFICATE_CODES.test(error.code)) {
        return done(
          `its TLS certificate is not trusted here: ${error.message} (${error.code}); give the CA's file in NODE_EXTRA_CA_CERTS`,
        );
      }
      done(error.code === undefined ? error.message : `${words[error.code] ?? error.message} (${error.code})`);
    });
  });
}

/**
 * Whether the server at `url` is a node of a Redis Cluster (`INFO cluster`), asked within `ms`;
 * `false` when it cannot tell in time (the storage's own connection then reports why).
 */
export async function isClusterNode(library: ClientLibrary, url: string, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(""), ms)));
  const probe = makeProbe(library, url);
  try {
    const info = await Promise.race([probe.info(), late]);
    return /^cluster_enabled:1/m.test(info);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    probe.end();
  }
}

/** A one-off connection that reads `INFO cluster`, never reconnecting. */
function makeProbe(library: ClientLibrary, url: string): { info(): Promise<string>; end(): void } {
  if (library.kind === "ioredis") {
    const probe = new library.module.Redis(url, {
      ...CONNECTION_OPTIONS,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on("error", () => undefined);
    return { info: () => probe.connect().then(() => probe.info("cluster")), end: () => probe.disconnect() };
  }
  const probe = library.module.createClient({
    url,
    socket: { connectTimeout: TIMEOUTS.connectTimeout, reconnectStrategy: false },
  }) as {
    connect(): Promise<unknown>;
    sendCommand(args: string[]): Promise<unknown>;
    on(event: string, listener: () => void): unknown;
    destroy(): void;
    readonly isOpen: boolean;
  };
  probe.on("error", () => undefined);
  return {
    info: async () => {
      await probe.connect();
      return String(await probe.sendCommand(["INFO", "cluster"]));
    },
    end: () => {
      if (probe.isOpen) probe.destroy();
    },
  };
}

/**
 * A Cluster client seeded with the node at `url`, with the URL's credentials and TLS for every
 * node: an ioredis `Cluster`, or a node-redis cluster behind its adapter.
 */
export function clusterOf(library: ClientLibrary, url: string): RedisClient {
  const { hostname, port, username, password, protocol } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, "");
  const credentials = {
    ...(username === "" ? {} : { username: decodeURIComponent(username) }),
    ...(password === "" ? {} : { password: decodeURIComponent(password) }),
  };
  const tls = protocol === "rediss:";
  if (library.kind === "ioredis") {
    return new library.module.Cluster([{ host, port: Number(port || 6379) }], {
      enableAutoPipelining: true,
      redisOptions: { ...credentials, ...(tls ? { tls: {} } : {}), ...TIMEOUTS },
    });
  }
  const socket = { connectTimeout: TIMEOUTS.connectTimeout, ...(tls ? { tls: true } : {}) };
  const cluster = library.module.createCluster({
    rootNodes: [{ socket: { ...socket, host, port: Number(port || 6379) } }],
    defaults: { ...credentials, socket },
  }) as NodeRedisCluster;
  return new NodeRedisClusterAdapter(cluster, { owned: true, timeoutMs: 0 });
}

/** `url` with its password replaced by `***`. */
export function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = "***";
    return parsed.href;
  } catch {
    return url;
  }
}
