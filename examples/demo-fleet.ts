/**
 * The demo's second act: two processes share one circuit through Redis.
 *
 * When a Redis answers (`REDIS_URL`, else 127.0.0.1:6379; half a second to say so), this process
 * starts the dashboard on a free port for the act's duration and prints its URL, then spawns a
 * second process (`examples/demo-member.ts`) that holds the same circuit. This process trips it
 * with three failures; the member hears of it (a `state_changed` with `remote: true`) and its
 * next call is rejected fast. At the end, the CLI's `purgatory circuits` lists what Redis holds.
 * The act writes under a prefix of its own and deletes its keys when it ends (they would expire
 * after a minute anyway). Without a Redis, the act is skipped with one line.
 * `npm run demo -- --hold` keeps the dashboard open until Ctrl-C.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { Fleet } from "../src/fleet/fleet.js";
import { main as purgatoryCli } from "../src/cli/main.js";
import { startDashboard } from "../src/dashboard/server.js";
import { AsyncCircuitBreakerFactory, RedisStorage } from "../src/index.js";

/** How the demo prints: its phases, and one timeline line per happening. */
export interface Teller {
  phase(title: string): void;
  /** `who` did or heard `what`, with `detail`. */
  say(who: string, what: string, detail: string): void;
  readonly paint: (style: "bold" | "red" | "green" | "yellow" | "gray" | "magenta", text: string) => string;
}

const CIRCUIT = "inventory-api";
const MEMBER = fileURLToPath(new URL("./demo-member.ts", import.meta.url));

/** Whether something answers a Redis PING at `url` within `timeoutMs`. */
function redisAnswers(url: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return resolve(false);
    }
    if (parsed.protocol !== "redis:") return resolve(false);
    const socket = net.connect(Number(parsed.port || 6379), parsed.hostname || "127.0.0.1");
    const done = (answered: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (chunk: Buffer) => done(chunk[0] === 0x2b || chunk[0] === 0x2d));
    socket.once("error", () => done(false));
  });
}

/** A line the member printed. */
type MemberLine =
  | { type: "ready"; pid: number; state: string }
  | { type: "event"; name: string; state: string; remote: boolean }
  | { type: "call"; outcome: string; retryAfterMs?: number };

/**
 * Runs act two, or says in one line why it cannot. With `hold`, the dashboard stays open until
 * SIGINT (Ctrl-C) before the act cleans up.
 */
export async function actTwo(tell: Teller, hold = false): Promise<void> {
  const url = process.env.REDIS_URL || "redis://127.0.0.1:6379";
  if (!(await redisAnswers(url))) {
    console.log(
      `\nact two skipped: no Redis answers at ${url} (start one, or set REDIS_URL, to see two processes share a circuit)`,
    );
    return;
  }
  const prefix = `purgatory-demo-${randomBytes(4).toString("hex")}`;
  tell.phase("act two: two processes share one circuit through Redis");
  console.log(`  redis:     ${url}, prefix ${prefix}`);

  const fleet = await Fleet.connect({ url, prefix });
  const dashboard = await startDashboard({ fleet, port: 0 });
  console.log(`  dashboard: ${tell.paint("bold", dashboard.url)} (live while act two runs)`);

  const me = `demo ${process.pid}`;
  const storage = new RedisStorage({ url, prefix, keyTtl: 60 });
  const factory = new AsyncCircuitBreakerFactory({ storage, defaultThreshold: 3, defaultTtl: 5 });
  factory.addListener((_name, eventType, event) => {
    if (eventType === "failed") tell.say(me, "⚡ failed", tell.paint("red", `failureCount=${event.failureCount}`));
    if (eventType === "state_changed") tell.say(me, "⚡ state_changed", `→ ${event.state}`);
  });
  const member = spawn(process.execPath, ["--import", "tsx", MEMBER, url, prefix, CIRCUIT], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => member.once("exit", resolve));
  try {
    await factory.initialize();
    // Registered here first, so this process's config (threshold 3, ttl 5 s) is the fleet's.
    const breaker = await factory.getBreaker(CIRCUIT);
    const lines = createInterface({ input: member.stdout });
    const { promise: ready, resolve: isReady } = withResolvers<void>();
    const who = `member ${member.pid}`;
    lines.on("line", (text) => {
      const line = JSON.parse(text) as MemberLine;
      if (line.type === "ready") {
        tell.say(who, "holds the circuit", `state=${line.state}`);
        isReady();
      } else if (line.type === "event") {
        tell.say(
          who,
          "⚡ state_changed",
          `→ ${line.state}${line.remote ? tell.paint("magenta", " (remote: opened by another process)") : ""}`,
        );
      } else {
        const detail =
          line.outcome === "rejected"
            ? `rejected fast: CircuitOpenError, retryAfterMs=${line.retryAfterMs}`
            : line.outcome;
        tell.say(who, `call ${CIRCUIT}`, tell.paint("yellow", detail));
      }
    });
    await Promise.race([ready, exited.then((code) => Promise.reject(new Error(`the member exited with ${code}`)))]);
    for (let i = 0; i < 3; i++) {
      await breaker.run(() => Promise.reject(new Error(`${CIRCUIT} answered 503`))).catch(() => undefined);
    }
    // The member heard of the trip, called, and ended: every line it printed is told by now.
    const [code] = await Promise.all([exited, new Promise((resolve) => lines.once("close", resolve))]);
    if (code !== 0) throw new Error(`the member exited with ${code}`);

    const command = `purgatory circuits --redis ${url} --prefix ${prefix}`;
    console.log(`\n${tell.paint("gray", `$ ${command}`)}`);
    await purgatoryCli(["circuits", "--redis", url, "--prefix", prefix], {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
    });
    if (hold) {
      console.log(`\nholding the dashboard open at ${dashboard.url}: Ctrl-C ends the demo`);
      await new Promise((resolve) => process.once("SIGINT", resolve));
    }
  } finally {
    if (member.exitCode === null) member.kill();
    await dashboard.close();
    await fleet.close();
    await factory.close();
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    await redis.del(storage.keys.circuit(CIRCUIT), storage.keys.registry);
    await redis.quit();
  }
}

/** `Promise.withResolvers` (Node 22) for Node 20. */
function withResolvers<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
