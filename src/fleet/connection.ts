/**
 * The CLI's own connections to a fleet's Redis, and why one fails: the ioredis options (short
 * timeouts: an operator waits, an application does not), whether a server is a node of a Redis
 * Cluster (then the whole Cluster, through an ioredis `Cluster` seeded with it), and what a
 * connection that fails says in an operator's words.
 * @module
 */
import { connect, isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Cluster } from "ioredis";

/** The timeouts of the CLI's own connections: see `Fleet.connect`. */
export const TIMEOUTS = { connectTimeout: 1000, disconnectTimeout: 200 } as const;

/** ioredis options for the CLI's own connections to one server. */
export const CONNECTION_OPTIONS = { enableAutoPipelining: true, ...TIMEOUTS } as const;

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
export async function isClusterNode(ioredis: typeof import("ioredis"), url: string, ms: number): Promise<boolean> {
  const probe = new ioredis.Redis(url, {
    ...CONNECTION_OPTIONS,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on("error", () => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(""), ms)));
  try {
    const info = await Promise.race([probe.connect().then(() => probe.info("cluster")), late]);
    return /^cluster_enabled:1/m.test(info);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
}

/** An ioredis Cluster seeded with the node at `url`, with the URL's credentials and TLS for every node. */
export function clusterOf(ioredis: typeof import("ioredis"), url: string): Cluster {
  const { hostname, port, username, password, protocol } = new URL(url);
  const credentials = {
    ...(username === "" ? {} : { username: decodeURIComponent(username) }),
    ...(password === "" ? {} : { password: decodeURIComponent(password) }),
    ...(protocol === "rediss:" ? { tls: {} } : {}),
  };
  return new ioredis.Cluster([{ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port || 6379) }], {
    enableAutoPipelining: true,
    redisOptions: { ...credentials, ...TIMEOUTS },
  });
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
