/**
 * The `purgatory` executable for tests: built exactly as `npm run build` builds `dist/cli.js`
 * (the CLI entry of tsup.config.ts, banner included), but into a folder of its own under `.tmp/`,
 * so that no test races another over `dist/` (`npm run test:pack` rebuilds it). The folder is inside
 * the repository so that the bundle finds `ioredis` in its `node_modules`, as an installed
 * package would.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Options } from "tsup";
import configs from "../../tsup.config.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A built CLI: `path` is its `cli.js`. */
export interface BuiltCli {
  readonly path: string;
  /** Removes the build. */
  remove(): Promise<void>;
}

/** Builds the CLI into `.tmp/cli-XXXX/cli.js`. */
export async function buildCli(): Promise<BuiltCli> {
  const list = (Array.isArray(configs) ? configs : [configs]) as Options[];
  const cli = list.find((c) => typeof c.entry === "object" && !Array.isArray(c.entry) && "cli" in c.entry);
  if (cli === undefined) throw new Error("tsup.config.ts has no `cli` entry");
  await mkdir(join(ROOT, ".tmp"), { recursive: true });
  const outDir = await mkdtemp(join(ROOT, ".tmp", "cli-"));
  await build({ ...cli, outDir, sourcemap: false, silent: true, config: false });
  return { path: join(outDir, "cli.js"), remove: () => rm(outDir, { recursive: true, force: true }) };
}

/** How a run of the CLI ended. */
export interface CliOutcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node <cli> ...args` and resolves when the process has ended by itself (killed after
 * `timeoutMs`, a hang guard, never an assertion on time). Colours follow `env` only: NO_COLOR and
 * FORCE_COLOR of the test process are removed.
 */
export function runCli(
  cli: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<CliOutcome> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  delete env.REDIS_URL;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      {
        cwd: options.cwd ?? ROOT,
        env: { ...env, ...options.env },
        timeout: options.timeoutMs ?? 15_000,
        killSignal: "SIGKILL",
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
