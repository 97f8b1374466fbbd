/**
 * Local HTTP servers for the tests of `purgatory/fetch` and `purgatory/undici`: each listens on
 * 127.0.0.1 on a free port, records the requests it gets, and is closed by `closeServers()` (its
 * keep-alive sockets and hanging responses included) after each test.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** A local HTTP server: its base URL, its `host` (`127.0.0.1:<port>`) and the requests it got. */
export interface Served {
  readonly url: string;
  readonly host: string;
  readonly requests: IncomingMessage[];
  /** Resolves with the next request the server receives. */
  nextRequest(): Promise<IncomingMessage>;
}

/** What a server does with each request. */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];

/** Starts `server` on 127.0.0.1 on a free port (closed by `closeServers`); resolves with the port. */
export async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Closes every server started since the last call, dropping what their sockets still hold. */
export async function closeServers(): Promise<void> {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections(); // keep-alive sockets, and responses left hanging
          server.close(() => resolve());
        }),
    ),
  );
}

/** A server that answers each request with `handler`. */
export async function serve(handler: Handler): Promise<Served> {
  const requests: IncomingMessage[] = [];
  const waiting: ((req: IncomingMessage) => void)[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    waiting.splice(0).forEach((resolve) => resolve(req));
    handler(req, res);
  });
  const host = `127.0.0.1:${await listen(server)}`;
  return {
    url: `http://${host}`,
    host,
    requests,
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

/** A server answering each request with the next status of `statuses` (then the last one again). */
export function serveStatuses(statuses: number[], headers: Record<string, string> = {}): Promise<Served> {
  const queue = [...statuses];
  return serve((_req, res) => {
    const status = queue.length > 1 ? (queue.shift() as number) : (queue[0] as number);
    res.writeHead(status, { "content-type": "text/plain", ...headers });
    res.end(`status ${status}`);
  });
}

/** A server that never answers: each request hangs until the client gives up. */
export const serveNothing = (): Promise<Served> => serve(() => undefined);

/** Resolves when the server side of `req` closes: the client aborted it (or the server went). */
export const closed = (req: IncomingMessage): Promise<void> => new Promise((resolve) => req.once("close", resolve));

/** A port nothing listens on: a server's, once it has closed. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

/** A clock the test moves: a whole second (HTTP-dates have no milliseconds). */
export function testClock(): { now: number; readonly clock: () => number } {
  const state = { now: Date.UTC(2030, 0, 1, 12, 0, 0), clock: () => state.now };
  return state;
}
