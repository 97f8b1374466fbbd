/**
 * The parent's side of the telemetry section's processes: spawns `bench/telemetry/<script>.ts`
 * as a real OS process (node + tsx), reads its `READY` line and the `SAMPLE` line that answers
 * each `sample`, and kills it if it has not ended by itself. Every process spawned is killed when
 * the parent exits, whatever happens.
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(dirname(DIR));

const alive = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of alive) child.kill("SIGKILL");
});

/** A process of the section, as the parent sees it. */
export interface SectionProcess<R, S> {
  readonly label: string;
  /** Its `READY` figures; rejects if it ends first. */
  readonly ready: Promise<R>;
  /** Asks for its counters (`SAMPLE`); rejects if it ends first. */
  sample(): Promise<S>;
  /** Asks it to close and end by itself. */
  exit(): void;
  /** Resolves once it has ended. */
  readonly exited: Promise<void>;
  /** SIGKILL, unless it has ended. */
  kill(): void;
}

/** Spawns `bench/telemetry/<script>.ts` with `config` as its one argument. */
export function spawnProcess<R, S>(script: string, label: string, config: unknown): SectionProcess<R, S> {
  const child = spawn(process.execPath, ["--import", "tsx", join(DIR, `${script}.ts`), JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  alive.add(child);
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => {
    child.once("close", () => {
      alive.delete(child);
      resolve();
    });
  });
  const ended = (what: string): Error =>
    new Error(`${label} (pid ${child.pid ?? "?"}) ended before ${what}\n${stderr}`);
  let onReady: (value: R) => void = () => undefined;
  const ready = new Promise<R>((resolve, reject) => {
    onReady = resolve;
    void exited.then(() => reject(ended("READY")));
  });
  ready.catch(() => undefined);
  const samples: { resolve: (value: S) => void; reject: (error: Error) => void }[] = [];
  void exited.then(() => {
    for (const waiting of samples.splice(0)) waiting.reject(ended("SAMPLE"));
  });
  createInterface({ input: child.stdout }).on("line", (text) => {
    if (text.startsWith("READY ")) onReady(JSON.parse(text.slice(6)) as R);
    if (text.startsWith("SAMPLE ")) samples.shift()?.resolve(JSON.parse(text.slice(7)) as S);
  });
  child.stdin.on("error", () => undefined);
  return {
    label,
    ready,
    sample: () =>
      new Promise<S>((resolve, reject) => {
        if (!alive.has(child)) return reject(ended("SAMPLE"));
        samples.push({ resolve, reject });
        child.stdin.write("sample\n");
      }),
    exit: () => {
      if (alive.has(child)) child.stdin.write("exit\n");
    },
    exited,
    kill: () => {
      if (alive.has(child)) child.kill("SIGKILL");
    },
  };
}
