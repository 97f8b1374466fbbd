/**
 * The runtime tests run where they say they run: `npm run test:bun` and `npm run test:deno` set
 * `PURGATORY_TEST_RUNTIME` (scripts/runtimes/run-tests.mjs), and these tests fail unless vitest's
 * worker, the library loaded in it, and the processes that the Redis storage suite spawns are Bun
 * or Deno. Under `npm test` (no such variable) they hold for Node.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CallTimeoutError,
  CircuitLimitError,
  CircuitOpenError,
  InMemoryStorage,
} from "../../src/index.js";
import { currentRuntime, type RuntimeName } from "./runtime.js";

const expected = (process.env.PURGATORY_TEST_RUNTIME ?? "node") as RuntimeName;
const root = fileURLToPath(new URL("../..", import.meta.url));

/** Runs `file` as test/support/redis-fleet.ts runs the storage suite's workers; resolves its stdout. */
function runChild(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", file], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
  });
}

describe(`the tests of this run (PURGATORY_TEST_RUNTIME=${expected})`, () => {
  it(`run in ${expected}`, () => {
    const runtime = currentRuntime();
    console.log(`runtime: ${runtime.name} ${runtime.version}`);
    expect(runtime.name).toBe(expected);
  });

  it(`spawn their child processes in ${expected}, as the storage suite's workers are`, async () => {
    const line = await runChild(fileURLToPath(new URL("runtime-child.ts", import.meta.url)));
    expect((JSON.parse(line) as { name: string }).name).toBe(expected);
  });

  it(`load and run the library in ${expected}: a circuit trips and rejects`, async () => {
    const factory = new AsyncCircuitBreakerFactory({ storage: new InMemoryStorage(), defaultThreshold: 2 });
    await factory.initialize();
    const fail = () => Promise.reject(new Error("down"));
    await expect(factory.run("api", fail)).rejects.toThrow("down");
    await expect(factory.run("api", fail)).rejects.toThrow("down");
    await expect(factory.run("api", () => "ok")).rejects.toBeInstanceOf(CircuitOpenError);
    await factory.close();
  });
});

describe(`the errors made on every refused call, in ${expected}`, () => {
  it.each([
    ["CircuitOpenError", () => new CircuitOpenError("api", 0, 1000)],
    ["CallTimeoutError", () => new CallTimeoutError("api", 50)],
    ["CircuitLimitError", () => new CircuitLimitError("api", 10)],
  ])("%s has a stack of one line, its name and message, and no frames", (name, make) => {
    const error = make();
    expect(error.stack).toBe(`${name}: ${error.message}`);
  });
});
