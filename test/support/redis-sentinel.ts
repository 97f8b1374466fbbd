/**
 * A throw-away Redis Sentinel set-up for tests, all on loopback, without persistence: one master,
 * one replica (`--replicaof`) and three sentinels (`redis-server <conf> --sentinel`, each with
 * its own config file in its own temporary folder: `sentinel monitor <name> 127.0.0.1 <port> 2`,
 * short `down-after-milliseconds` and `failover-timeout`). Every process started here is killed
 * when the test process exits, even if a test forgot to stop it.
 *
 * @example
 * ```ts
 * const sentinel = await startRedisSentinel();
 * const client = new Redis({ sentinels: sentinel.sentinels, name: sentinel.name });
 * const storage = new RedisStorage({ client });
 * await sentinel.failover();     // SENTINEL FAILOVER: the replica becomes the master
 * await sentinel.killMaster();   // SIGKILL of the master: the sentinels elect the replica
 * await sentinel.stop();
 * ```
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, startRedisServer, waitForPong, type RedisServer } from "./redis-server.js";

const HOST = "127.0.0.1";
/** A new replica (or a former master turned replica) syncs at once, not after Redis's default 5 s. */
const DATA_ARGS = ["--repl-diskless-sync-delay", "0"];

/** A `host:port` pair, as ioredis takes sentinels. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** Options of `startRedisSentinel`. */
export interface RedisSentinelOptions {
  /** The monitored master's name. Default `"mymaster"`. */
  readonly name?: string;
  /** `sentinel down-after-milliseconds`. Default 500. */
  readonly downAfterMs?: number;
  /** `sentinel failover-timeout`. Default 2000. */
  readonly failoverTimeoutMs?: number;
  /** Milliseconds to wait for the set-up to be ready (or a failover to end). Default 20 000. */
  readonly timeout?: number;
}

/** One sentinel process. */
interface SentinelProcess {
  readonly port: number;
  readonly dir: string;
  readonly child: ChildProcess;
  readonly output: () => string;
}

/** A running Sentinel set-up. */
export interface RedisSentinel {
  /** The monitored master's name, for `new Redis({ sentinels, name })`. */
  readonly name: string;
  /** The sentinels' addresses. */
  readonly sentinels: readonly Address[];
  /** The data servers (the first master and its replica), whatever their roles now. */
  readonly servers: readonly RedisServer[];
  /** The master as the sentinels report it now (every sentinel asked; the majority's answer). */
  master(): Promise<RedisServer>;
  /** The data server that is not `master` (the replica while both are up). */
  other(master: RedisServer): RedisServer;
  /**
   * A forced failover (`SENTINEL FAILOVER <name>` to one sentinel): resolves once every sentinel
   * reports the former replica as the master and it answers `ROLE` as a master. The former master
   * is still up and still a master then: the sentinels turn it into a replica some seconds later
   * (`waitSettled`).
   */
  failover(): Promise<{ readonly from: RedisServer; readonly to: RedisServer }>;
  /**
   * SIGKILLs the master and waits until the sentinels elected the replica and it answers as a
   * master. The killed server stays down (`restartAsReplica` brings it back).
   */
  killMaster(): Promise<{ readonly from: RedisServer; readonly to: RedisServer }>;
  /**
   * Starts a killed data server again, empty, as a replica of the current master (a new
   * `RedisServer` on the same port; `servers` is updated).
   */
  restartAsReplica(server: RedisServer): Promise<RedisServer>;
  /**
   * Waits until the set-up is ready for another failover: every sentinel agrees on the master,
   * knows the two other sentinels and a replica in good health, and the replica's link to the
   * master is up.
   */
  waitSettled(timeoutMs?: number): Promise<void>;
  /** A plain client to one data server (closed by `stop`). */
  admin(server: RedisServer): Redis;
  /** The sentinels' logs (the last few KB each), for a failing test's message. */
  logs(): string;
  /** Kills the sentinels, then the servers, and removes their folders. */
  stop(): Promise<void>;
}

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

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function startSentinelProcess(
  name: string,
  masterPort: number,
  options: Required<RedisSentinelOptions>,
): Promise<SentinelProcess> {
  const dir = await mkdtemp(join(tmpdir(), "purgatory-sentinel-"));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = join(dir, "sentinel.conf");
    // A sentinel rewrites its config file (the replicas and sentinels it learns): it must be its own.
    await writeFile(
      conf,
      [
        `port ${port}`,
        `bind ${HOST}`,
        `dir ${dir}`,
        `sentinel monitor ${name} ${HOST} ${masterPort} 2`,
        `sentinel down-after-milliseconds ${name} ${options.downAfterMs}`,
        `sentinel failover-timeout ${name} ${options.failoverTimeoutMs}`,
        `sentinel parallel-syncs ${name} 1`,
        "",
      ].join("\n"),
    );
    const child = spawn("redis-server", [conf, "--sentinel"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    installExitHook();
    running.add(child);
    child.on("exit", () => running.delete(child));
    let output = "";
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-6000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    child.on("error", (error) => (output += `\n${String(error)}`));
    let gone = false;
    void exited(child).then(() => (gone = true));
    try {
      await waitForPong(port, 10_000, () => !gone);
      return { port, dir, child, output: () => output };
    } catch (error) {
      child.kill("SIGKILL");
      await exited(child);
      // Another process may have taken the free port meanwhile: try another one.
      if (attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw new Error(`${(error as Error).message}\n${output}`, { cause: error });
      }
    }
  }
}

/** A client that fails fast (no retries, no offline queue), for asking a server or a sentinel. */
function quickClient(port: number): Redis {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 500,
    commandTimeout: 1000,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined);
  return client;
}

/** Sends one command on a connection of its own; rejects when the server does not answer. */
async function ask(port: number, ...args: string[]): Promise<unknown> {
  const client = quickClient(port);
  try {
    await client.connect();
    return await client.call(args[0] as string, ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

/** A flat `[key, value, ...]` reply as an object. */
function pairs(reply: unknown): Record<string, string> {
  const list = reply as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i] as string] = list[i + 1] as string;
  return out;
}

/** `INFO replication` of a data server as an object (`{}` when it does not answer). */
async function replication(port: number): Promise<Record<string, string>> {
  try {
    const text = (await ask(port, "INFO", "replication")) as string;
    return Object.fromEntries(
      text
        .split(/\r?\n/)
        .filter((line) => line.includes(":"))
        .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)]),
    );
  } catch {
    return {};
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, logs: () => string) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`Sentinel set-up: timed out after ${timeoutMs} ms waiting for ${what}\n${logs()}`);
    await sleep(50);
  }
}

/** Starts one master, one replica and three sentinels on free loopback ports; resolves once they are ready. */
export async function startRedisSentinel(input: RedisSentinelOptions = {}): Promise<RedisSentinel> {
  const options: Required<RedisSentinelOptions> = {
    name: input.name ?? "mymaster",
    downAfterMs: input.downAfterMs ?? 500,
    failoverTimeoutMs: input.failoverTimeoutMs ?? 2000,
    timeout: input.timeout ?? 20_000,
  };
  const { name, timeout } = options;
  const servers: RedisServer[] = [];
  const sentinels: SentinelProcess[] = [];
  const admins: Redis[] = [];
  const logs = () =>
    sentinels.map((s) => `--- sentinel ${s.port} ---\n${s.output().split("\n").slice(-25).join("\n")}`).join("\n");

  const stop = async () => {
    for (const admin of admins.splice(0)) admin.disconnect();
    // The sentinels first: a master killed under their eyes would start a failover meanwhile.
    await Promise.all(
      sentinels.map(async (s) => {
        s.child.kill("SIGKILL");
        await exited(s.child);
        await rm(s.dir, { recursive: true, force: true });
      }),
    );
    sentinels.splice(0);
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  };

  try {
    const first = await startRedisServer({ args: DATA_ARGS });
    servers.push(first);
    servers.push(await startRedisServer({ args: [...DATA_ARGS, "--replicaof", HOST, String(first.port)] }));
    // The sentinels learn the replica from the master's INFO at their first look: it is there already.
    await until(
      "the replica to be in sync",
      async () => (await replication(first.port)).connected_slaves === "1",
      timeout,
      () => "",
    );
    for (let i = 0; i < 3; i++) sentinels.push(await startSentinelProcess(name, first.port, options));
  } catch (error) {
    await stop();
    throw error;
  }

  const byPort = (port: number): RedisServer => {
    const server = servers.find((s) => s.port === port);
    if (server === undefined) throw new Error(`no data server on port ${port}`);
    return server;
  };

  /** The master port each sentinel reports (`null` for one that does not answer). */
  const reported = async (): Promise<(number | null)[]> =>
    Promise.all(
      sentinels.map(async (s) => {
        try {
          const reply = (await ask(s.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)) as string[] | null;
          return reply === null ? null : Number(reply[1]);
        } catch {
          return null;
        }
      }),
    );

  const masterPort = async (): Promise<number> => {
    const ports = (await reported()).filter((p): p is number => p !== null);
    const counts = new Map<number, number>();
    for (const port of ports) counts.set(port, (counts.get(port) ?? 0) + 1);
    const [best] = [...counts].sort((a, b) => b[1] - a[1]);
    if (best === undefined) throw new Error(`no sentinel answers\n${logs()}`);
    return best[0];
  };

  /** Every sentinel reports `port`, and that server is a master. */
  const switchedTo = async (port: number) =>
    (await reported()).every((p) => p === port) && (await replication(port)).role === "master";

  const waitSettled = async (timeoutMs = timeout) => {
    await until(
      "every sentinel to agree on a master with a healthy replica and two other sentinels",
      async () => {
        const port = await masterPort();
        if (!(await switchedTo(port))) return false;
        const replica = servers.find((s) => s.port !== port);
        if (replica === undefined) return false;
        const info = await replication(replica.port);
        if (info.role !== "slave" || info.master_port !== String(port) || info.master_link_status !== "up")
          return false;
        for (const s of sentinels) {
          const master = pairs(await ask(s.port, "SENTINEL", "MASTER", name));
          if (master["num-other-sentinels"] !== "2" || master.flags !== "master") return false;
          const replicas = (await ask(s.port, "SENTINEL", "REPLICAS", name)) as unknown[];
          // Its flags say it answers (no s_down, no disconnected); its link as of its last INFO
          // (every 10 s) may be older than the server's own answer above.
          const healthy = replicas.map(pairs).some((r) => r.port === String(replica.port) && r.flags === "slave");
          if (!healthy) return false;
        }
        return true;
      },
      timeoutMs,
      logs,
    );
  };

  try {
    await waitSettled();
  } catch (error) {
    await stop();
    throw error;
  }

  const other = (master: RedisServer) => {
    const found = servers.find((s) => s !== master);
    if (found === undefined) throw new Error("no other data server");
    return found;
  };

  return {
    name,
    sentinels: sentinels.map((s) => ({ host: HOST, port: s.port })),
    get servers() {
      return [...servers];
    },
    master: async () => byPort(await masterPort()),
    other,
    async failover() {
      const from = byPort(await masterPort());
      const to = other(from);
      await ask(sentinels[0]?.port as number, "SENTINEL", "FAILOVER", name);
      await until(`the sentinels to switch to ${to.port}`, () => switchedTo(to.port), timeout, logs);
      return { from, to };
    },
    async killMaster() {
      const from = byPort(await masterPort());
      const to = other(from);
      await from.kill("SIGKILL");
      await until(`the sentinels to elect ${to.port}`, () => switchedTo(to.port), timeout, logs);
      return { from, to };
    },
    async restartAsReplica(server) {
      const master = await masterPort();
      await server.stop();
      const again = await startRedisServer({
        port: server.port,
        args: [...DATA_ARGS, "--replicaof", HOST, String(master)],
      });
      servers[servers.indexOf(server)] = again;
      return again;
    },
    waitSettled,
    admin(server) {
      const client = new Redis({ host: HOST, port: server.port, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
      client.on("error", () => undefined);
      admins.push(client);
      return client;
    },
    logs,
    stop,
  };
}
