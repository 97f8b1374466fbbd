/**
 * A healthy dependency for the tests whose worker processes make real HTTP calls: a `node:http`
 * server on a free loopback port that answers every request `200 ok` and counts them.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

/** A running HTTP server. */
export interface HttpServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>/`. */
  readonly url: string;
  /** How many requests it answered. */
  readonly requests: number;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1, port 0, answering `200 ok` to everything. */
export async function startHttpServer(): Promise<HttpServer> {
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests += 1;
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
