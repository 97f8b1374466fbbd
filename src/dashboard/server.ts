/**
 * The dashboard's HTTP server (node:http, nothing else): one page, a stream of server-sent events
 * that follows every circuit of the fleet, a JSON read of the same, and, only when allowed, POST
 * endpoints that isolate, disable or reset a circuit fleet-wide.
 *
 * Routes:
 * - `GET /`: the page (`page.ts`).
 * - `GET /events`: `text/event-stream`: `snapshot` on connect, then `circuit`, `removed` and
 *   `redis` events, only when something changed.
 * - `GET /api/circuits`: `{ now, redis, circuits }` as JSON.
 * - `POST /api/circuits/<name>/isolate|disable|reset`: 403 unless started with `allowControl`.
 *
 * Security: bound to 127.0.0.1 unless told otherwise; on a loopback address every request must
 * name a loopback `Host` (so a DNS-rebinding page cannot read it); a POST must come from the
 * page's own origin (`Origin`, when sent, equal to `http://<Host>`) and carry the
 * `x-purgatory-control` header, which no cross-site form can send and no cross-site script can
 * send without a CORS preflight this server never grants.
 * @module
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ControlAction } from "../core/machine.js";
import { CliError, EXIT } from "../cli/errors.js";
import type { Fleet } from "../cli/fleet.js";
import { pageSecurityPolicy, renderPage } from "./page.js";
import { FleetWatcher, type FleetUpdate } from "./watcher.js";

/** Options of `startDashboard`. */
export interface DashboardOptions {
  /** The fleet to show (and to steer, with `allowControl`). */
  readonly fleet: Fleet;
  /** Port to listen on; 0 for any free one. Default 8080. */
  readonly port?: number;
  /** Address to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** Whether the page gets isolate / disable / reset buttons and the POST endpoints work. */
  readonly allowControl?: boolean;
  /** Milliseconds between two reads of Redis. Default 250. */
  readonly intervalMs?: number;
}

/** A running dashboard. */
export interface Dashboard {
  /** `http://<host>:<port>/`. */
  readonly url: string;
  /** Stops reading Redis, ends every event stream and closes the server (not the fleet). */
  close(): Promise<void>;
}

const ACTIONS: readonly ControlAction[] = ["isolate", "disable", "reset"];
const CONTROL_PATH = /^\/api\/circuits\/([^/]+)\/([a-z]+)$/;
const HEARTBEAT_MS = 15_000;

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);

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
  const intervalMs = options.intervalMs ?? 250;
  const watcher = new FleetWatcher(() => fleet.circuits(), { intervalMs });
  const streams = new Set<ServerResponse>();
  let allowedHosts: ReadonlySet<string> | null = null;

  const send = (response: ServerResponse, event: string, data: unknown): void => {
    response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const snapshot = () => ({ now: Date.now(), redis: watcher.status, circuits: watcher.circuits });
  watcher.subscribe((update: FleetUpdate) => {
    const now = Date.now();
    for (const stream of streams) {
      if (update.type === "circuit") send(stream, "circuit", { now, circuit: update.circuit, added: update.added });
      else if (update.type === "removed") send(stream, "removed", { now, name: update.name });
      else send(stream, "redis", { now, status: update.status });
    }
  });

  const page = { prefix: fleet.prefix, redis: fleet.url, allowControl, intervalMs };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    response.setHeader("x-content-type-options", "nosniff");
    response.setHeader("referrer-policy", "no-referrer");
    response.setHeader("cache-control", "no-store");
    const hostHeader = request.headers.host ?? "";
    if (allowedHosts !== null && !allowedHosts.has(hostHeader.toLowerCase())) {
      return json(response, 403, {
        error: `unknown Host ${JSON.stringify(hostHeader)}: open the dashboard by its loopback address`,
      });
    }
    const path = (request.url ?? "/").split("?")[0] ?? "/";
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
        return void response.end(request.method === "HEAD" ? undefined : renderPage(page, nonce));
      }
      case "/events": {
        response.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store, no-transform",
          connection: "keep-alive",
          "x-accel-buffering": "no",
        });
        if (request.method === "HEAD") return void response.end();
        response.write("retry: 1000\n\n");
        send(response, "snapshot", snapshot());
        streams.add(response);
        request.once("close", () => streams.delete(response));
        return;
      }
      case "/api/circuits":
        return json(response, 200, snapshot());
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
      await watcher.refresh();
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
    for (const stream of streams) stream.write(": keep-alive\n\n");
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
    await watcher.stop();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  if (isLoopback(host)) {
    allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${host}:${port}`]);
  }
  const shown = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${port}/`,
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat);
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
