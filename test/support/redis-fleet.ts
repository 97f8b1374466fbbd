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
  readonly event: {
    readonly state?: string;
    readonly remote?: boolean;
    /** `"process"` for a circuit open for this process alone (a quorum), `"fleet"` otherwise. */
    readonly scope?: string;
    readonly openedAt?: number | null;
    readonly error?: string;
  };
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
  /** Every line printed so far. */
  readonly lines: WorkerLine[];
  /** See `LineProcess.waitForLine`. */
  waitForLine: LineProcess["waitForLine"];
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

/** A child process that prints one JSON object a line. */
export interface LineProcess {
  readonly child: ChildProcess;
  /** Every line printed so far (a line that is not JSON becomes `{ type: "text", text }`). */
  readonly lines: WorkerLine[];
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
  /** Calls `f` with each line printed from now on. */
  readonly onLine: (f: (line: WorkerLine) => void) => void;
  /** Resolves with the first line (printed so far or later) that `match`es; rejects after `timeoutMs`. */
  readonly waitForLine: (match: (line: WorkerLine) => boolean, timeoutMs?: number) => Promise<WorkerLine>;
}

/** Spawns `node <args>` (killed when the test process exits) and collects the JSON lines it prints. */
export function spawnLines(
  args: readonly string[],
  options: { readonly stdin?: boolean; readonly cwd?: string } = {},
): LineProcess {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    stdio: [options.stdin === true ? "pipe" : "ignore", "pipe", "pipe"],
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
  const onLine = (f: (l: WorkerLine) => void) => listeners.push(f);
  const waitForLine = (match: (line: WorkerLine) => boolean, timeoutMs = 10_000) =>
    new Promise<WorkerLine>((resolve, reject) => {
      const found = lines.find(match);
      if (found !== undefined) return resolve(found);
      const timer = setTimeout(
        () => reject(new Error(`process ${child.pid}: no matching line within ${timeoutMs} ms; stderr: ${stderr}`)),
        timeoutMs,
      );
      timer.unref();
      onLine((line) => {
        if (!match(line)) return;
        clearTimeout(timer);
        resolve(line);
      });
      void exited.then((code) => reject(new Error(`process ${child.pid} exited with ${code}: ${stderr}`)));
    });
  return { child, lines, stderr: () => stderr, exited, onLine, waitForLine };
}

/** Spawns `node --import tsx redis-worker.ts <config>`; stdin is closed for mode `lifecycle`. */
export function spawnWorker(config: WorkerConfig): LineProcess {
  return spawnLines(["--import", "tsx", WORKER, JSON.stringify(config)], { stdin: config.mode === "serve" });
}

/** Starts a `serve` worker and waits until it is ready. */
export async function startWorker(config: Omit<WorkerConfig, "mode">, readyTimeoutMs = 20_000): Promise<Worker> {
  const spawned = spawnWorker({ ...config, mode: "serve" });
  const { child, lines, stderr, exited, onLine } = spawned;
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
      const timer = setTimeout(
        () => reject(new Error(`worker ${child.pid}: no ${what} within ${ms} ms; stderr: ${stderr()}`)),
        ms,
      );
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
    lines,
    waitForLine: spawned.waitForLine,
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
