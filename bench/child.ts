/**
 * Runs a bench script in a fresh node process with `--expose-gc` and tsx, and reads back the one
 * `RESULT <json>` line it prints. A fresh process per measurement keeps heap figures clean.
 * @module
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const MARK = "RESULT ";

export interface ChildOutcome<T> {
  readonly result: T;
  /** The process ended on its own (no `process.exit`), with code 0, before the time limit. */
  readonly exitedByItself: boolean;
}

/** Prints the child's result for the parent; the child must then end on its own. */
export function sendResult(result: unknown): void {
  process.stdout.write(`${MARK}${JSON.stringify(result)}\n`);
}

/** Runs `bench/<script>` with `args`; rejects if it prints no result. */
export function runChild<T>(script: string, args: readonly string[], timeoutMs = 120_000): Promise<ChildOutcome<T>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", join(BENCH_DIR, script), ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const line = stdout.split("\n").find((l) => l.startsWith(MARK));
      if (line === undefined) {
        reject(
          new Error(
            `${script} ${args.join(" ")}: no result (exit ${String(code)}${timedOut ? ", timed out" : ""})\n${stderr}`,
          ),
        );
        return;
      }
      resolve({ result: JSON.parse(line.slice(MARK.length)) as T, exitedByItself: code === 0 && !timedOut });
    });
  });
}
