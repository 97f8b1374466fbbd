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
 *
 * With `tls` (certificate files, e.g. from `makeTestCertificates` of redis-tls.ts), the port takes
 * TLS connections only (`--port 0 --tls-port <port>`) and `url` is `rediss://127.0.0.1:<port>`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";

/** One redis-server process (restartable on the same port). */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` (`rediss://` with `tls`). */
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
  /** Serve TLS only on the port, with these files (clients need no certificate of their own). */
  readonly tls?: RedisServerTls;
  /** The executable to run (e.g. Redis 6's from test/support/redis6.sh). Default `redis-server` in PATH. */
  readonly command?: string;
}

/** The certificate files of a TLS server (`--tls-cert-file`, `--tls-key-file`, `--tls-ca-cert-file`). */
export interface RedisServerTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
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

/**
 * Resolves once `PING` on `port` answers (`+PONG`, or `-NOAUTH` with a password); rejects after
 * `timeoutMs`. `secure`: the port speaks TLS (the readiness check does not verify the certificate).
 */
export async function waitForPong(
  port: number,
  timeoutMs: number,
  alive: () => boolean = () => true,
  secure = false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pingOnce(port, secure)) return;
    if (!alive()) throw new Error(`redis-server on port ${port} exited before answering PING`);
    if (Date.now() > deadline)
      throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pingOnce(port: number, secure: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: net.Socket = secure
      ? tls.connect({ port, host: HOST, rejectUnauthorized: false })
      : net.connect(port, HOST);
    let data = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    socket.on(secure ? "secureConnect" : "connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString();
      // A server started with --requirepass answers NOAUTH: it is up all the same.
      if (data.includes("\r\n")) done(data.startsWith("+PONG") || data.startsWith("-NOAUTH"));
    });
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
  });
}

/** The arguments that make `port` the server's (plain, or TLS only). */
function portArgs(port: number, secure: RedisServerTls | undefined): string[] {
  if (secure === undefined) return ["--port", String(port)];
  return [
    ...["--port", "0", "--tls-port", String(port), "--tls-auth-clients", "no"],
    ...["--tls-cert-file", secure.certFile, "--tls-key-file", secure.keyFile, "--tls-ca-cert-file", secure.caFile],
  ];
}

function spawnServer(
  port: number,
  dir: string,
  args: readonly string[],
  secure: RedisServerTls | undefined,
  command: string,
): { child: ChildProcess; output: () => string } {
  const child = spawn(
    command,
    [...portArgs(port, secure), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", dir, ...args],
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

async function launch(
  port: number,
  dir: string,
  args: readonly string[],
  timeoutMs: number,
  secure?: RedisServerTls,
  command = "redis-server",
): Promise<ChildProcess> {
  const { child, output } = spawnServer(port, dir, args, secure, command);
  let gone = false;
  void exited(child).then(() => (gone = true));
  try {
    await waitForPong(port, timeoutMs, () => !gone, secure !== undefined);
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
      child = await launch(port, dir, args, timeout, options.tls, options.command);
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
    url: `${options.tls === undefined ? "redis" : "rediss"}://${HOST}:${port}`,
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
      current = await launch(port, dir, args, timeout, options.tls, options.command);
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
