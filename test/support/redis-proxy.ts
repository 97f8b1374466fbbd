/**
 * TCP stand-ins for network faults between one process and Redis:
 * - `startProxy(port)`: forwards to a Redis; `cut()` drops every connection and refuses new ones
 *   (for this process only, the server keeps running for the others), `restore()` ends that.
 *   Its pub/sub connections (those that sent a SUBSCRIBE) can be cut alone, or muted (messages
 *   lost while the connection stays up). `dropOn("zadd")` drops the connection that sends the next
 *   such command, before the command reaches Redis (once); `dropReplyTo` after it ran, before its
 *   answer comes back.
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
  /**
   * Drops the pub/sub connections and, until `restoreSubscribers()`, any connection as soon as it
   * subscribes: the subscriber is down, the command connections go on.
   */
  cutSubscribers(): void;
  /** Keeps the pub/sub connections up but drops the messages the server pushes to them (replies still pass). */
  muteSubscribers(): void;
  /**
   * Drops the connection that sends the next `command` (a command name, any case), before the
   * command reaches Redis; once. Other connections, and later ones, pass.
   */
  dropOn(command: string): void;
  /**
   * Passes the next `command` (a command name or several, `"evalsha|eval"`) to Redis and drops its
   * connection as the answer comes back, instead of the answer; once.
   */
  dropReplyTo(command: string): void;
  /** Ends `cutSubscribers()` and `muteSubscribers()`. */
  restoreSubscribers(): void;
  /** How many pub/sub messages the server pushed to this proxy's connections (muted ones too). */
  readonly messages: number;
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

/** Length of the RESP2/RESP3 value that starts at `at` in `buf`, or -1 while it is incomplete. */
function respLength(buf: Buffer, at: number): number {
  const lineEnd = buf.indexOf("\r\n", at);
  if (lineEnd < 0) return -1;
  const type = String.fromCharCode(buf[at] ?? 0);
  const n = Number(buf.toString("latin1", at + 1, lineEnd));
  let next = lineEnd + 2;
  if ("$=!".includes(type)) return n < 0 ? next - at : buf.length >= next + n + 2 ? next + n + 2 - at : -1;
  if (!"*>~%|".includes(type)) return next - at; // a one-line value: + - : , # _ (
  const elements = n < 0 ? 0 : "%|".includes(type) ? 2 * n : n;
  for (let i = 0; i < elements; i++) {
    const length = respLength(buf, next);
    if (length < 0) return -1;
    next += length;
  }
  return next - at;
}

/** Whether a RESP frame is a pub/sub message (`message`, `pmessage` or `smessage` push). */
function isPubSubMessage(frame: Buffer): boolean {
  return /^[*>][34]\r\n\$[78]\r\n[ps]?message\r\n/.test(frame.toString("latin1", 0, 24));
}

/** Splits a stream of RESP values into whole frames. */
function frames(): (chunk: Buffer) => Buffer[] {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const out: Buffer[] = [];
    for (let length = respLength(pending, 0); length > 0; length = respLength(pending, 0)) {
      out.push(pending.subarray(0, length));
      pending = pending.subarray(length);
      if (pending.length === 0) break;
    }
    return out;
  };
}

/** Matches a RESP command that names `command` (`"evalsha|eval"`: either), in any case. */
function commandPattern(command: string): RegExp {
  return new RegExp(`\\r\\n(?:${command})\\r\\n`, "i");
}

/** A proxy to the Redis on `targetPort` of 127.0.0.1. */
export async function startProxy(targetPort: number): Promise<RedisProxy> {
  const sockets = new Set<net.Socket>();
  /** Client sockets of the connections that subscribed. */
  const subscribers = new Set<net.Socket>();
  let isCut = false;
  let subscriberMode: "pass" | "cut" | "mute" = "pass";
  let messages = 0;
  /** The command whose next sending drops its connection (`dropOn`). */
  let dropping: RegExp | undefined;
  /** The same for `dropReplyTo`, and the connection whose next answer is dropped. */
  let droppingReply: RegExp | undefined;
  let dropAtReply: net.Socket | undefined;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      sockets.delete(socket);
      subscribers.delete(socket);
    });
  };
  const server = net.createServer((client) => {
    track(client);
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, "127.0.0.1");
    track(upstream);
    client.on("data", (chunk: Buffer) => {
      // RESP carries command names as plain text: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE.
      const text = chunk.toString("latin1");
      if (!subscribers.has(client) && /subscribe/i.test(text)) {
        subscribers.add(client);
        if (subscriberMode === "cut") {
          client.destroy();
          return;
        }
      }
      if (dropping?.test(text) === true) {
        dropping = undefined;
        client.destroy();
        upstream.destroy();
        return;
      }
      if (droppingReply?.test(text) === true) {
        droppingReply = undefined;
        dropAtReply = client;
      }
      upstream.write(chunk);
    });
    // Whole frames, so that a muted subscriber loses its messages but still gets every reply.
    const split = frames();
    upstream.on("data", (chunk: Buffer) => {
      if (dropAtReply === client) {
        dropAtReply = undefined;
        client.destroy();
        upstream.destroy();
        return;
      }
      for (const frame of split(chunk)) {
        const message = subscribers.has(client) && isPubSubMessage(frame);
        if (message) messages += 1;
        if (subscriberMode === "mute" && message) continue;
        client.write(frame);
      }
    });
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
    cutSubscribers() {
      subscriberMode = "cut";
      for (const client of subscribers) client.destroy();
    },
    muteSubscribers() {
      subscriberMode = "mute";
    },
    dropOn(command) {
      dropping = commandPattern(command);
    },
    dropReplyTo(command) {
      droppingReply = commandPattern(command);
    },
    restoreSubscribers() {
      subscriberMode = "pass";
    },
    get messages() {
      return messages;
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
