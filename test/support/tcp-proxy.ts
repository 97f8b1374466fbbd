/**
 * A TCP proxy in front of any loopback port, standing for one process's network path to a
 * dependency (or for the dependency itself), switched at will between:
 * - `forward`: passes bytes both ways;
 * - `refuse`: not listening, so a connection attempt fails at once (ECONNREFUSED);
 * - `blackhole`: accepts connections and never forwards nor answers a byte;
 * - `reset`: accepts each connection and closes it at once (a dependency that is down but whose
 *   port is reachable), counting them: the calls that reached it.
 * Switching mode drops the connections open so far (pooled keep-alive sockets included).
 */
import net from "node:net";

/** What the proxy does with connections. */
export type ProxyMode = "forward" | "refuse" | "blackhole" | "reset";

/** A running proxy. */
export interface TcpProxy {
  readonly port: number;
  /** `http://127.0.0.1:<port>/`. */
  readonly url: string;
  readonly mode: ProxyMode;
  /** Connections accepted in each mode so far (none in `refuse`: the kernel refuses them). */
  readonly accepted: Readonly<Record<ProxyMode, number>>;
  /** Switches mode, dropping every open connection; resolves once the port is listening (or not) as the mode says. */
  set(mode: ProxyMode): Promise<void>;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/** A proxy on a free port of 127.0.0.1 to `targetPort` of 127.0.0.1, in mode `mode`. */
export async function startTcpProxy(targetPort: number, mode: ProxyMode = "forward"): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const accepted: Record<ProxyMode, number> = { forward: 0, refuse: 0, blackhole: 0, reset: 0 };
  let current: ProxyMode = mode;
  let port = 0;
  let server: net.Server | undefined;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  };
  const onConnection = (client: net.Socket) => {
    accepted[current] += 1;
    track(client);
    if (current === "reset") {
      client.resetAndDestroy();
      return;
    }
    if (current !== "forward") return; // blackhole: keep it open, silent
    const upstream = net.connect(targetPort, "127.0.0.1");
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  };
  // A new server per listening period: `refuse` closes the listening socket, the others listen again on the same port.
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const made = net.createServer(onConnection);
      made.once("error", reject);
      made.listen(port, "127.0.0.1", () => {
        port = (made.address() as net.AddressInfo).port;
        server = made;
        resolve();
      });
    });
  const unlisten = () =>
    new Promise<void>((resolve) => {
      const closing = server;
      server = undefined;
      if (closing === undefined) resolve();
      else closing.close(() => resolve());
    });
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  await listen();
  if (mode === "refuse") await unlisten();
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    get mode() {
      return current;
    },
    accepted,
    async set(next) {
      current = next;
      dropAll();
      if (next === "refuse") await unlisten();
      else if (server === undefined) await listen();
    },
    async close() {
      dropAll();
      await unlisten();
    },
  };
}
