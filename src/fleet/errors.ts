/**
 * The exit codes of `purgatory` and the error that carries one.
 * @module
 */

/**
 * Exit codes: `ok` 0, `usage` 1 (a bad argument: unknown command or option, a missing NAME, a bad
 * number, a circuit that does not exist), `unreachable` 2 (Redis cannot be reached, or ioredis is
 * not installed).
 */
export const EXIT = Object.freeze({ ok: 0, usage: 1, unreachable: 2 });

/** An error the CLI reports in one line and ends with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    /** The process's exit code for it. */
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Redis cannot be reached (or ioredis is missing): exit code 2. */
export class UnreachableError extends CliError {
  constructor(message: string) {
    super(message, EXIT.unreachable);
    this.name = "UnreachableError";
  }
}
