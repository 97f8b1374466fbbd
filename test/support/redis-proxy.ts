/**
 * TCP stand-ins for network faults between one process and Redis:
 * - `startProxy(port)`: forwards to a Redis; `cut()` drops every connection and refuses new ones
 *   (for this process only, the server keeps running for the others), `restore()` ends that.
 * - `startSilentServer()`: accepts connections and never answers a byte.
 */
import net from "node:net";

/** A running proxy. */
export interface RedisProxy {
  readonly port: number;
  readonly url: string;
  /** Drops every connection; new ones are closed at once until `restore()`. */
  cut(): void;
  /** Forwards new connections again. */
  restore(): void;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/** A server that accepts connections and never answers. */
export interface SilentServer {
  readonly port: number;
  readonly url: string;
  /** How many connections it accepted. */
  readonly accepted: number;
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A proxy to the Redis on `targetPort` of 127.0.0.1. */
export async function startProxy(targetPort: number): Promise<RedisProxy> {
  const sockets = new Set<net.Socket>();
  let isCut = false;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    track(client);
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, "127.0.0.1");
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  const port = await listen(server);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut() {
      isCut = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      isCut = false;
    },
    close: () => closeServer(server, sockets),
  };
}

/** A TCP server on a free loopback port that accepts and never answers. */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  const port = await listen(server);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    close: () => closeServer(server, sockets),
  };
}
