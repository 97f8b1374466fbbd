/**
 * Real OS processes for the fleet tests: each runs `test/support/redis-worker.ts` under tsx, with
 * its own factory and RedisStorage, and is driven by JSON commands over stdin.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { WorkerCommand, WorkerConfig } from "./redis-worker.js";

const WORKER = fileURLToPath(new URL("./redis-worker.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A line a worker printed. */
export interface WorkerLine {
  readonly type: string;
  readonly [field: string]: unknown;
}

/** A hook call a worker printed. */
export interface WorkerEvent {
  readonly pid: number;
  readonly circuit: string;
  readonly eventType: string;
  readonly event: { readonly state?: string; readonly remote?: boolean; readonly openedAt?: number | null };
}

/** A reply to a command. */
export type WorkerReply = WorkerLine & { readonly ok: boolean; readonly pid: number };

type Command = WorkerCommand extends infer C ? (C extends { id: number } ? Omit<C, "id"> : never) : never;

/** One worker process. */
export interface Worker {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Hook calls printed so far. */
  readonly events: WorkerEvent[];
  /** Sends a command and resolves with its reply. */
  send(command: Command): Promise<WorkerReply>;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
  /** Kills the process (SIGKILL) unless it has ended. */
  kill(): void;
}

const all = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of all) child.kill("SIGKILL");
});

/** Spawns `node --import tsx redis-worker.ts <config>`; stdin is closed for mode `lifecycle`. */
export function spawnWorker(config: WorkerConfig): { child: ChildProcess; lines: WorkerLine[]; stderr: () => string; exited: Promise<number | null>; onLine: (f: (l: WorkerLine) => void) => void } {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER, JSON.stringify(config)], {
    cwd: ROOT,
    stdio: [config.mode === "serve" ? "pipe" : "ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  all.add(child);
  const lines: WorkerLine[] = [];
  const listeners: ((l: WorkerLine) => void)[] = [];
  let stderr = "";
  let buffered = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (text.trim() === "") continue;
      let line: WorkerLine;
      try {
        line = JSON.parse(text) as WorkerLine;
      } catch {
        line = { type: "text", text };
      }
      lines.push(line);
      for (const listener of listeners) listener(line);
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      all.delete(child);
      resolve(code);
    });
    child.once("error", () => {
      all.delete(child);
      resolve(null);
    });
  });
  return { child, lines, stderr: () => stderr, exited, onLine: (f) => listeners.push(f) };
}

/** Starts a `serve` worker and waits until it is ready. */
export async function startWorker(config: Omit<WorkerConfig, "mode">, readyTimeoutMs = 20_000): Promise<Worker> {
  const { child, lines, stderr, exited, onLine } = spawnWorker({ ...config, mode: "serve" });
  const events: WorkerEvent[] = [];
  const waiting = new Map<number, (reply: WorkerReply) => void>();
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const handle = (line: WorkerLine) => {
    if (line.type === "ready") ready();
    if (line.type === "event") events.push(line as unknown as WorkerEvent);
    if (line.type === "reply") waiting.get(line.id as number)?.(line as WorkerReply);
  };
  for (const line of lines) handle(line);
  onLine(handle);
  let sequence = 0;
  const died = exited.then((code) => {
    throw new Error(`worker ${child.pid} exited with ${code}: ${stderr()}`);
  });
  died.catch(() => undefined);
  const timeout = (ms: number, what: string) =>
    new Promise<never>((_, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${child.pid}: no ${what} within ${ms} ms; stderr: ${stderr()}`)), ms);
      timer.unref();
    });
  try {
    await Promise.race([isReady, died, timeout(readyTimeoutMs, "ready line")]);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    pid: child.pid ?? -1,
    child,
    events,
    exited,
    send(command) {
      const id = ++sequence;
      const reply = new Promise<WorkerReply>((resolve) => waiting.set(id, resolve));
      child.stdin?.write(`${JSON.stringify({ ...command, id })}\n`);
      return Promise.race([reply, died, timeout(30_000, `reply to ${command.op}`)]);
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
