/**
 * A real terminal for tests: a program run in a tmux pane of a given size, on a tmux server of the
 * test's own (its own socket, no user configuration), driven with `send-keys` and read with
 * `capture-pane`. The program runs under a small `sh` wrapper that records, once it ends, its exit
 * code and whether the terminal's settings (`stty -g`) are as they were before it started, then
 * prints `[exit N]` and waits: the pane stays, so the screen after the exit can be read too.
 *
 * @example
 * ```ts
 * const pane = await TmuxPane.start(["node", "cli.js", "top"], { width: 100, height: 30 });
 * await pane.waitForScreen((screen) => screen.includes("CIRCUIT"));
 * await pane.sendKeys("q");
 * expect(await pane.exited()).toEqual({ code: 0, sttyRestored: true });
 * await pane.close();
 * ```
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why tmux cannot be used here, or `null` when it can. */
export function tmuxMissing(): string | null {
  try {
    execFileSync("tmux", ["-V"], { stdio: "pipe" });
    return null;
  } catch (error) {
    return `tmux cannot be run here (${(error as Error).message.split("\n")[0]}): install it (apt-get install -y tmux; .ci/run does)`;
  }
}

/** Quotes `word` for `sh`. */
const shellQuote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How the program in a pane ended. */
export interface PaneExit {
  readonly code: number;
  /** Whether `stty -g` after it ended was what it was before it started. */
  readonly sttyRestored: boolean;
}

/** A program in a tmux pane. */
export class TmuxPane {
  readonly #socket: string;
  readonly #dir: string;
  readonly #target = "test";

  private constructor(socket: string, dir: string) {
    this.#socket = socket;
    this.#dir = dir;
  }

  /**
   * Runs `command` (argv) in a new detached session `width` x `height`, in `cwd`, with `env` set
   * on top of the test process's environment (a `null` value unsets a variable).
   */
  static async start(
    command: readonly string[],
    options: {
      readonly width: number;
      readonly height: number;
      readonly cwd?: string;
      readonly env?: Readonly<Record<string, string | null>>;
    },
  ): Promise<TmuxPane> {
    const dir = await mkdtemp(join(tmpdir(), "purgatory-tmux-"));
    const pane = new TmuxPane(join(dir, "socket"), dir);
    const env = Object.entries(options.env ?? {});
    const unset = env.filter(([, v]) => v === null).map(([k]) => `-u ${shellQuote(k)}`);
    const set = env.filter(([, v]) => v !== null).map(([k, v]) => shellQuote(`${k}=${v ?? ""}`));
    const program = ["env", ...unset, ...set, ...command.map(shellQuote)].join(" ");
    const code = shellQuote(join(dir, "code"));
    const stty = shellQuote(join(dir, "stty"));
    const script = [
      `cd ${shellQuote(options.cwd ?? process.cwd())}`,
      "before=$(stty -g)",
      program,
      "code=$?",
      `if [ "$(stty -g)" = "$before" ]; then echo same > ${stty}; else echo changed > ${stty}; fi`,
      `echo "$code" > ${code}`,
      `printf '[exit %s]\\n' "$code"`,
      "sleep 600",
    ].join("; ");
    await pane.#tmux([
      "new-session",
      "-d",
      "-s",
      pane.#target,
      "-x",
      String(options.width),
      "-y",
      String(options.height),
      `sh -c ${shellQuote(script)}`,
    ]);
    return pane;
  }

  /** Runs `tmux -S <socket> -f /dev/null ...args` and resolves with its stdout. */
  #tmux(args: readonly string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        "tmux",
        ["-S", this.#socket, "-f", "/dev/null", ...args],
        { timeout: 10_000 },
        (error, stdout, stderr) =>
          error === null ? resolve(stdout) : reject(new Error(`tmux ${args[0]}: ${stderr || error.message}`)),
      );
    });
  }

  /** The screen as text, one line per row (trailing spaces dropped); with `colors`, SGR codes kept. */
  async screen(colors = false): Promise<string> {
    const text = await this.#tmux(["capture-pane", "-p", ...(colors ? ["-e"] : []), "-t", this.#target]);
    return text
      .split("\n")
      .map((line) => line.trimEnd())
      .join("\n")
      .replace(/\n+$/, "");
  }

  /** Polls the screen until `match` says yes (resolving with that screen); throws after `timeoutMs`. */
  async waitForScreen(match: (screen: string) => boolean, timeoutMs = 15_000, colors = false): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = await this.screen(colors);
      if (match(last)) return last;
      if (Date.now() > deadline) throw new Error(`the pane never showed what was awaited; it shows:\n${last}`);
      await sleep(100);
    }
  }

  /** Types `keys` (tmux key names: `q`, `C-c`). */
  async sendKeys(...keys: string[]): Promise<void> {
    await this.#tmux(["send-keys", "-t", this.#target, ...keys]);
  }

  /** Resizes the window to `width` x `height` (the program gets SIGWINCH). */
  async resize(width: number, height: number): Promise<void> {
    await this.#tmux(["resize-window", "-t", this.#target, "-x", String(width), "-y", String(height)]);
  }

  /** Whether the terminal shows its cursor (a program may hide it, and should show it again). */
  async cursorVisible(): Promise<boolean> {
    return (await this.#tmux(["display-message", "-p", "-t", this.#target, "#{cursor_flag}"])).trim() === "1";
  }

  /** The pid of the program (the wrapper's child). */
  async programPid(): Promise<number> {
    const shell = Number((await this.#tmux(["display-message", "-p", "-t", this.#target, "#{pane_pid}"])).trim());
    const children = await new Promise<string>((resolve) =>
      execFile("ps", ["-o", "pid=", "--ppid", String(shell)], (_error, stdout) => resolve(stdout)),
    );
    const pid = Number(children.trim().split(/\s+/)[0]);
    if (!(pid > 0)) throw new Error(`no program running under the pane's shell ${shell}`);
    return pid;
  }

  /** Resolves once the program has ended: its exit code, and whether the terminal was restored. */
  async exited(timeoutMs = 10_000): Promise<PaneExit> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const code = await readFile(join(this.#dir, "code"), "utf8").catch(() => "");
      if (code.trim() !== "") {
        const stty = await readFile(join(this.#dir, "stty"), "utf8").catch(() => "");
        return { code: Number(code.trim()), sttyRestored: stty.trim() === "same" };
      }
      if (Date.now() > deadline) throw new Error(`the program did not end within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Ends the tmux server (and whatever still runs in it) and removes its folder. */
  async close(): Promise<void> {
    await this.#tmux(["kill-server"]).catch(() => undefined);
    await rm(this.#dir, { recursive: true, force: true });
  }
}
