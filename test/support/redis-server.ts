/**
 * Throw-away `redis-server` processes for tests: each on a free loopback port, in its own
 * temporary folder, without persistence. Every server started here is killed when the test
 * process exits, even if a test forgot to stop it.
 *
 * @example
 * ```ts
 * const server = await startRedisServer();
 * const storage = new RedisStorage({ url: server.url });
 * await server.kill();       // SIGKILL, mid-run
 * await server.restart();    // same port, empty data
 * await server.stop();
 * ```
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One redis-server process (restartable on the same port). */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The server's working folder (removed by `stop`). */
  readonly dir: string;
  /** The running process, if any. */
  readonly process: ChildProcess | undefined;
  /** Sends `signal` (default SIGKILL) and waits until the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Sends a signal without waiting (e.g. SIGSTOP / SIGCONT). */
  signal(signal: NodeJS.Signals): void;
  /** Starts the server again on the same port (after `kill`); waits until it answers PING. */
  restart(): Promise<void>;
  /** Kills the server and removes its folder. */
  stop(): Promise<void>;
}

/** Options of `startRedisServer`. */
export interface RedisServerOptions {
  /** A port to use; default a free one. */
  readonly port?: number;
  /** Extra `redis-server` arguments, e.g. `["--cluster-enabled", "yes"]`. */
  readonly args?: readonly string[];
  /** Milliseconds to wait for the first PONG. Default 10 000. */
  readonly startTimeout?: number;
}

const HOST = "127.0.0.1";
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `PING` on `port` answers (`+PONG`, or `-NOAUTH` with a password); rejects after `timeoutMs`. */
export async function waitForPong(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pingOnce(port)) return;
    if (!alive()) throw new Error(`redis-server on port ${port} exited before answering PING`);
    if (Date.now() > deadline)
      throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST);
    let data = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      // A server started with --requirepass answers NOAUTH: it is up all the same.
      if (data.includes("\r\n")) done(data.startsWith("+PONG") || data.startsWith("-NOAUTH"));
    });
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
  });
}

function spawnServer(
  port: number,
  dir: string,
  args: readonly string[],
): { child: ChildProcess; output: () => string } {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", dir, ...args],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  installExitHook();
  running.add(child);
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  child.on("exit", () => running.delete(child));
  child.on("error", (error) => {
    output += `\n${String(error)}`;
    running.delete(child);
  });
  return { child, output: () => output };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function launch(port: number, dir: string, args: readonly string[], timeoutMs: number): Promise<ChildProcess> {
  const { child, output } = spawnServer(port, dir, args);
  let gone = false;
  void exited(child).then(() => (gone = true));
  try {
    await waitForPong(port, timeoutMs, () => !gone);
  } catch (error) {
    child.kill("SIGKILL");
    await exited(child);
    throw new Error(`${(error as Error).message}\n${output()}`, { cause: error });
  }
  return child;
}

/** Starts a redis-server on a free (or the given) loopback port in a new temporary folder. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const args = options.args ?? [];
  const timeout = options.startTimeout ?? 10_000;
  const dir = await mkdtemp(join(tmpdir(), "purgatory-redis-"));
  let port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  for (let attempt = 1; child === undefined; attempt++) {
    try {
      child = await launch(port, dir, args, timeout);
    } catch (error) {
      // Another process may have taken the free port meanwhile: try another one.
      if (options.port !== undefined || attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
      port = await freePort();
    }
  }
  let current: ChildProcess | undefined = child;
  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    const proc = current;
    if (proc === undefined) return;
    proc.kill(signal);
    await exited(proc);
    current = undefined;
  };
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    get process() {
      return current;
    },
    kill,
    signal(signal) {
      current?.kill(signal);
    },
    async restart() {
      await kill();
      current = await launch(port, dir, args, timeout);
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
