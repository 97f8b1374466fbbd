/**
 * The parent's side of the fleet members: spawns `bench/fleet/<role>.ts` as a real OS process
 * (node + tsx), reads its `READY` and `RESULT` lines, sends it `start` / `stop`, and kills it if it
 * has not ended by itself. Every member spawned is killed when the parent exits, whatever happens.
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { MemberConfig, ReadyFigures } from "./member.js";

const FLEET_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(dirname(FLEET_DIR));

const alive = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of alive) child.kill("SIGKILL");
});

/** A member process, as the parent sees it. */
export interface MemberProcess<T> {
  readonly role: string;
  readonly pid: number | undefined;
  /** Its `READY` figures; rejects if it ends first. */
  readonly ready: Promise<ReadyFigures>;
  /** Its `RESULT`; rejects if it ends first. */
  readonly result: Promise<T>;
  /** Resolves once the process has ended, with how. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a line (`start`, `stop`; the quorum role reads a `plan <json>` line). */
  send(line: string): void;
  /** SIGKILL, unless it has ended. */
  kill(): void;
}

/** Rejects with `what` after `ms` unless `promise` settles first. */
export function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${(ms / 1000).toFixed(0)} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Spawns the member of `config.role` with `config`. */
export function spawnMember<T>(config: MemberConfig): MemberProcess<T> {
  const script = join(FLEET_DIR, `${config.role}.ts`);
  const child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  alive.add(child);
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) => {
      alive.delete(child);
      resolve({ code, signal });
    });
  });
  const marks = new Map<string, (payload: unknown) => void>();
  createInterface({ input: child.stdout }).on("line", (text) => {
    for (const [mark, resolve] of marks) if (text.startsWith(mark)) resolve(JSON.parse(text.slice(mark.length)));
  });
  const line = (mark: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      marks.set(mark, resolve);
      void exited.then(({ code, signal }) =>
        reject(
          new Error(
            `fleet member ${config.role} (pid ${child.pid ?? "?"}) ended (${String(code ?? signal)}) before ${mark.trim()}\n${stderr}`,
          ),
        ),
      );
    });
  const ready = line("READY ") as Promise<ReadyFigures>;
  const result = line("RESULT ") as Promise<T>;
  // Each is awaited later (or not, when the run fails first): never an unhandled rejection.
  ready.catch(() => undefined);
  result.catch(() => undefined);
  child.stdin.on("error", () => undefined);
  return {
    role: config.role,
    pid: child.pid,
    ready,
    result,
    exited,
    send: (line) => {
      child.stdin.write(`${line}\n`);
    },
    kill: () => {
      if (alive.has(child)) child.kill("SIGKILL");
    },
  };
}
