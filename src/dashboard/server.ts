/**
 * The dashboard's HTTP server (node:http, nothing else): one page, a stream of server-sent events
 * that follows every circuit of the fleet, a JSON read of the same, and, only when allowed, POST
 * endpoints that isolate, disable or reset a circuit fleet-wide.
 *
 * Routes:
 * - `GET /`: the page (`page.ts`, its script bundled from `page/`). `GET /?token=T` checks the
 *   token, keeps it in an HttpOnly cookie and redirects to `/`.
 * - `GET /events`: `text/event-stream`: `snapshot` on connect, then `circuit`, `removed` and
 *   `redis` events, only when something changed; and the fleet's traffic (`traffic.ts`):
 *   `traffic-status` on connect and when it changes, `traffic-history` on connect (the histories
 *   kept so far), then `traffic` once a second (`traffic-wire.ts`). The traffic is watched only
 *   while a stream is open: the processes report nothing while nobody looks.
 * - `GET /api/circuits`: `{ now, redis, circuits }` as JSON.
 * - `GET /api/traffic`: `{ now, traffic, t, processes, totals, circuits }` as JSON, the latest
 *   second in full (`?history=1`: with each circuit's history); a read keeps the traffic watched
 *   for `leaseMs` (30 s), so the first read of a script starts it and the next ones see it.
 * - `POST /api/circuits/<name>/isolate|disable|reset`: 403 unless started with `allowControl`.
 *
 * Security:
 * - Bound to 127.0.0.1 unless told otherwise. Bound beyond loopback, every route needs the token
 *   (the cookie, `Authorization: Bearer <token>`, or `?token=` on the page), given or made at
 *   start; a token given on loopback is required too.
 * - The `Host` header must name the bound address, a loopback name, this machine's names and
 *   addresses (beyond loopback) or an `allowHosts` entry, with the port: a DNS-rebinding page gets
 *   403.
 * - A POST must come from the page's own origin (`Origin`, when sent, equal to `http://<Host>`)
 *   and carry the `x-purgatory-control` header, which no cross-site form can send and no
 *   cross-site script can send without a CORS preflight this server never grants.
 * - At most `maxStreams` event streams (503 past it); a stream whose reader does not keep up
 *   (more than `maxBufferedBytes` waiting) is dropped, never buffered without bound; each update
 *   is serialised once for every stream.
 *
 * Past 400 lines because every route sits beside its guards (token, Host allow-list, stream cap,
 * slow readers): what the dashboard exposes is reviewed in one file.
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import type { ControlAction } from "../core/machine.js";
import { CliError, EXIT } from "../fleet/errors.js";
import type { CircuitChange } from "../fleet/fleet.js";
import type { TrafficWatchOptions } from "../storage/redis/traffic-watch.js";
import type { FeedListener, FeedOptions } from "../storage/redis/watch.js";
import { pageScript } from "./script.js";
import { pageSecurityPolicy, renderPage } from "./page.js";
import { TrafficFeed, type DashboardTrafficWatch, type TrafficOptions, type TrafficStats } from "./traffic.js";
import { FleetWatcher, type FleetUpdate, type WatchHandle } from "../fleet/watcher.js";

/** What the dashboard needs of the fleet (a `Fleet` is one). */
export interface DashboardFleet {
  /** The key prefix. */
  readonly prefix: string;
  /** The Redis URL, password masked. */
  readonly url: string;
  /** Follows every circuit (`Fleet.watch`). */
  watch(listener: FeedListener, options: FeedOptions): Promise<WatchHandle>;
  /** An operator's action on an existing circuit (`Fleet.control`). */
  control(name: string, action: ControlAction): Promise<CircuitChange>;
  /** Watches the fleet's traffic (`Fleet.watchTraffic`); without it the page shows states only. */
  watchTraffic?(options: TrafficWatchOptions): Promise<DashboardTrafficWatch>;
}

/** Options of `startDashboard`. */
export interface DashboardOptions {
  /** The fleet to show (and to steer, with `allowControl`). */
  readonly fleet: DashboardFleet;
  /** Port to listen on; 0 for any free one. Default 8080. */
  readonly port?: number;
  /** Address to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** Whether the page gets isolate / disable / reset buttons and the POST endpoints work. */
  readonly allowControl?: boolean;
  /**
   * The token every request must carry. Bound beyond loopback without one, the dashboard makes
   * one (`Dashboard.token`, to print once). `null` or absent on loopback: none needed.
   */
  readonly token?: string | null;
  /** More names the `Host` header may give (a proxy's, a DNS name), besides the bound address. */
  readonly allowHosts?: readonly string[];
  /** Event streams at most (503 past it). Default 32. */
  readonly maxStreams?: number;
  /**
   * Bytes waiting for a slow reader at most (beyond its first snapshot) before its stream is
   * dropped. Default 1 MiB.
   */
  readonly maxBufferedBytes?: number;
  /** The watch's intervals and budget (see `CircuitFeed`). */
  readonly feed?: FeedOptions;
  /** The traffic's watch (how long it outlives the last page, the API's lease) and the events' bounds. */
  readonly traffic?: TrafficOptions;
}

/** A running dashboard. */
export interface Dashboard {
  /** `http://<host>:<port>/`. */
  readonly url: string;
  /** The token requests need, or `null` when none is needed. */
  readonly token: string | null;
  /** Whether the dashboard made the token (then it is printed once, at start). */
  readonly tokenMade: boolean;
  /** Whether it listens beyond this machine (not a loopback address). */
  readonly beyondLoopback: boolean;
  /** Event streams open now, and those dropped because their reader did not keep up. */
  stats(): { readonly streams: number; readonly dropped: number };
  /** The traffic's watch: its state, how often it started, the `traffic` events made and their bytes. */
  traffic(): TrafficStats;
  /** Stops following the fleet, ends every event stream and closes the server (not the fleet). */
  close(): Promise<void>;
}

const ACTIONS: readonly ControlAction[] = ["isolate", "disable", "reset"];
const CONTROL_PATH = /^\/api\/circuits\/([^/]+)\/([a-z]+)$/;
const HEARTBEAT_MS = 15_000;
const DEFAULT_MAX_STREAMS = 32;
const DEFAULT_MAX_BUFFERED = 1024 * 1024;

/** Whether `host` (an address or name to listen on, or a Host header's name) is this machine only. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);

/** A Host header's form of an address: IPv6 in brackets. */
const hostForm = (host: string): string => (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host);

/** Compares two secrets in constant time (their digests: any lengths). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The value of cookie `name` in a Cookie header. */
function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return decodeURIComponent(part.slice(at + 1).trim());
  }
  return undefined;
}

/**
 * The Host headers that may reach a dashboard listening on `host`:`port`: loopback names, the bound
 * address, and beyond loopback this machine's names and addresses and `extra`; each with the port
 * (and without it on port 80).
 */
export function allowedHostHeaders(host: string, port: number, extra: readonly string[]): Set<string> {
  const names = new Set(["127.0.0.1", "localhost", "[::1]", hostForm(host.toLowerCase())]);
  if (!isLoopback(host)) {
    const machine = hostname().toLowerCase();
    names.add(machine);
    names.add(machine.split(".")[0] ?? machine);
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) names.add(hostForm(address.address.toLowerCase()));
    }
    for (const name of extra) names.add(hostForm(name.toLowerCase()));
  }
  const allowed = new Set<string>();
  for (const name of names) {
    allowed.add(`${name}:${port}`);
    if (port === 80) allowed.add(name);
  }
  return allowed;
}

/**
 * Starts the dashboard and resolves once it listens (and has read the fleet once).
 *
 * @example
 * ```ts
 * const fleet = await Fleet.connect({ url: "redis://127.0.0.1:6379" });
 * const dashboard = await startDashboard({ fleet, port: 0 });
 * console.log(dashboard.url);
 * await dashboard.close();
 * await fleet.close();
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { fleet } = options;
  const host = options.host ?? "127.0.0.1";
  const allowControl = options.allowControl === true;
  const beyondLoopback = !isLoopback(host);
  const tokenMade = beyondLoopback && (options.token ?? null) === null;
  const token = tokenMade ? randomBytes(24).toString("base64url") : (options.token ?? null);
  const maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
  const watcher = new FleetWatcher((listener, feedOptions) => fleet.watch(listener, feedOptions), options.feed);
  const streams = new Set<ServerResponse>();
  let dropped = 0;
  let allowedHosts: ReadonlySet<string> = new Set();
  let cookieName = "purgatory-token";

  /** Bytes a stream may let wait: `maxBuffered`, plus its snapshot (a large fleet's is large). */
  const allowance = new WeakMap<ServerResponse, number>();
  /** Writes a frame; a reader that lets more than its allowance wait is dropped. */
  const writeFrame = (stream: ServerResponse, frame: string): void => {
    if (stream.destroyed) return void streams.delete(stream);
    stream.write(frame);
    if (stream.writableLength > (allowance.get(stream) ?? maxBuffered)) {
      streams.delete(stream);
      dropped += 1;
      stream.destroy();
    }
  };
  const frameOf = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  const snapshot = () => ({ now: watcher.now(), redis: watcher.status, circuits: watcher.circuits });
  const broadcast = (frame: string): void => {
    for (const stream of streams) writeFrame(stream, frame);
  };
  const trafficStatusFrame = () => frameOf("traffic-status", { now: watcher.now(), ...traffic.status });
  const traffic = new TrafficFeed(fleet.watchTraffic?.bind(fleet), options.traffic ?? {}, {
    now: () => watcher.now(),
    // Serialised once (by the feed), whatever the number of streams.
    frame: (json) => broadcast(`event: traffic\ndata: ${json}\n\n`),
    status: () => broadcast(trafficStatusFrame()),
  });
  watcher.subscribe((update: FleetUpdate) => {
    if (streams.size === 0) return;
    const now = watcher.now();
    // Serialised once, whatever the number of streams.
    const frame =
      update.type === "circuit"
        ? frameOf("circuit", { now, circuit: update.circuit, added: update.added })
        : update.type === "removed"
          ? frameOf("removed", { now, name: update.name })
          : frameOf("redis", { now, status: update.status });
    for (const stream of streams) writeFrame(stream, frame);
  });

  const script = await pageScript();
  const page = { prefix: fleet.prefix, redis: fleet.url, allowControl };

  /** Whether the request carries the token (cookie, bearer, or `?token=`): `"missing"`, `"wrong"` or `"ok"`. */
  const authorization = (request: IncomingMessage, query: URLSearchParams): "ok" | "missing" | "wrong" => {
    if (token === null) return "ok";
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "")?.[1];
    const given = bearer ?? query.get("token") ?? cookie(request.headers.cookie, cookieName);
    if (given === undefined || given === null || given === "") return "missing";
    return sameSecret(given, token) ? "ok" : "wrong";
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    response.setHeader("x-content-type-options", "nosniff");
    response.setHeader("referrer-policy", "no-referrer");
    response.setHeader("cache-control", "no-store");
    const hostHeader = (request.headers.host ?? "").toLowerCase();
    if (!allowedHosts.has(hostHeader)) {
      return json(response, 403, {
        error: `unknown Host ${JSON.stringify(request.headers.host ?? "")}: open the dashboard by its address${beyondLoopback ? " (or start it with --allow-host NAME)" : ""}`,
      });
    }
    const url = new URL(request.url ?? "/", "http://dashboard");
    const path = url.pathname;
    const auth = authorization(request, url.searchParams);
    if (auth !== "ok") {
      const why =
        auth === "missing"
          ? "this dashboard needs its token: open the URL it printed at start (…/?token=…), or send Authorization: Bearer <token>"
          : "wrong token";
      if (path === "/" && request.method === "GET") {
        response.writeHead(401, { "content-type": "text/plain; charset=utf-8" });
        return void response.end(`purgatory dashboard: ${why}\n`);
      }
      return json(response, 401, { error: why });
    }
    if (path === "/" && url.searchParams.has("token")) {
      // Kept in a cookie, out of the address bar and the history.
      response.writeHead(303, {
        location: "/",
        "set-cookie": `${cookieName}=${encodeURIComponent(token ?? "")}; Path=/; HttpOnly; SameSite=Strict`,
      });
      return void response.end();
    }
    const control = CONTROL_PATH.exec(path);
    if (control !== null) {
      if (request.method !== "POST") return json(response, 405, { error: "use POST" }, { allow: "POST" });
      request.resume();
      return controlCircuit(request, response, control[1] ?? "", control[2] ?? "");
    }
    if (request.method !== "GET" && request.method !== "HEAD")
      return json(response, 405, { error: "use GET" }, { allow: "GET, HEAD" });
    switch (path) {
      case "/": {
        const nonce = randomBytes(16).toString("base64");
        response.writeHead(200, {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": pageSecurityPolicy(nonce),
          "x-frame-options": "DENY",
        });
        return void response.end(request.method === "HEAD" ? undefined : renderPage(page, script, nonce));
      }
      case "/events": {
        if (streams.size >= maxStreams) {
          return json(
            response,
            503,
            { error: `too many event streams (${maxStreams}): close another page of this dashboard` },
            { "retry-after": "5" },
          );
        }
        response.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store, no-transform",
          connection: "keep-alive",
          "x-accel-buffering": "no",
        });
        if (request.method === "HEAD") return void response.end();
        // The traffic is watched while a page is open (and starts now for the first).
        const release = traffic.hold();
        streams.add(response);
        const leave = () => {
          streams.delete(response);
          release();
        };
        request.once("close", leave);
        response.once("close", leave);
        const history = traffic.historyJson();
        const first =
          `retry: 1000\n\n${frameOf("snapshot", snapshot())}${trafficStatusFrame()}` +
          (history === undefined ? "" : `event: traffic-history\ndata: ${history}\n\n`);
        allowance.set(response, maxBuffered + Buffer.byteLength(first));
        writeFrame(response, first);
        return;
      }
      case "/api/circuits":
        return json(response, 200, snapshot());
      case "/api/traffic":
        traffic.lease();
        return json(response, 200, traffic.api(url.searchParams.get("history") === "1"));
      default:
        return json(response, 404, { error: `no such page: ${path}` });
    }
  };

  const controlCircuit = async (
    request: IncomingMessage,
    response: ServerResponse,
    encoded: string,
    action: string,
  ): Promise<void> => {
    if (!allowControl)
      return json(response, 403, { error: "control is off: start the dashboard with --allow-control" });
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${request.headers.host ?? ""}`) {
      return json(response, 403, { error: `cross-site request refused (Origin ${JSON.stringify(origin)})` });
    }
    if (request.headers["x-purgatory-control"] === undefined) {
      return json(response, 403, { error: "missing header x-purgatory-control (send it from the dashboard's page)" });
    }
    if (!ACTIONS.includes(action as ControlAction))
      return json(response, 404, { error: `no action ${JSON.stringify(action)}: isolate, disable or reset` });
    let name: string;
    try {
      name = decodeURIComponent(encoded);
    } catch {
      return json(response, 400, { error: "the circuit name is not well encoded" });
    }
    try {
      const { after } = await fleet.control(name, action as ControlAction);
      await watcher.refresh([name]);
      return json(response, 200, { action, circuit: after });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const status = error instanceof CliError && error.exitCode === EXIT.usage ? 404 : 503;
      return json(response, status, { error: message });
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) json(response, 500, { error: String(error) });
      else response.destroy();
    });
  });
  const heartbeat = setInterval(() => {
    for (const stream of streams) writeFrame(stream, ": keep-alive\n\n");
  }, HEARTBEAT_MS);
  heartbeat.unref();

  await watcher.start();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 8080, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    clearInterval(heartbeat);
    await traffic.close();
    await watcher.stop();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  allowedHosts = allowedHostHeaders(host, port, options.allowHosts ?? []);
  cookieName = `purgatory-token-${port}`;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostForm(host)}:${port}/`,
    token,
    tokenMade,
    beyondLoopback,
    stats: () => ({ streams: streams.size, dropped }),
    traffic: () => traffic.stats(),
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat);
        await traffic.close();
        await watcher.stop();
        for (const stream of streams) stream.end();
        streams.clear();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}

function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  response.end(JSON.stringify(body));
}
