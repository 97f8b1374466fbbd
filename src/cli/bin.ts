/**
 * The `purgatory` executable (the package's `bin`, built to `dist/cli.js` with a
 * `#!/usr/bin/env node` line): runs `main` with the process's arguments and sets the exit code.
 * @module
 */
import { main } from "./main.js";

/** Exit code of a bug in purgatory itself (sysexits' EX_SOFTWARE), printed with its stack. */
const BUG = 70;
/** How long the process may linger after the command ended before it is made to exit. */
const LINGER_MS = 3000;

// The storage's own warnings (PURGATORY_STORAGE_UNAVAILABLE, ...) are for applications: the CLI
// says in its own words, and with its exit code, that Redis cannot be reached. Node prints
// warnings through its default "warning" listener; it is replaced by one that skips those.
const printWarning = process.listeners("warning");
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code?.startsWith("PURGATORY_STORAGE_") === true) return;
  for (const listener of printWarning) listener(warning);
});

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(
    `purgatory: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  code = BUG;
}
process.exitCode = code;
// Everything was closed, so the process ends by itself. Should a connection linger anyway (a
// network that swallows the goodbye), it must not hold the operator's shell: say so and exit.
const linger = setTimeout(() => {
  process.stderr.write(`purgatory: still running ${LINGER_MS} ms after the command ended; exiting\n`);
  process.exit(code);
}, LINGER_MS);
linger.unref();
