/**
 * Spawned by test/runtimes/runtime.test.ts as the Redis storage suite spawns its workers
 * (`process.execPath --import tsx <file>`): prints the runtime that runs it, as one JSON line.
 */
import { currentRuntime } from "./runtime.js";

process.stdout.write(`${JSON.stringify(currentRuntime())}\n`);
