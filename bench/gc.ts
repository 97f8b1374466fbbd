/**
 * Makes `globalThis.gc` available even when node was started without `--expose-gc`.
 * Imported first by `bench/index.ts`: mitata picks its gc function when it loads, and without a real
 * one it falls back to allocating 1 GiB per benchmark.
 * @module
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

if (typeof globalThis.gc !== "function") {
  setFlagsFromString("--expose-gc");
  globalThis.gc = runInNewContext("gc") as NonNullable<typeof globalThis.gc>;
}

/** A full collection, twice so that weak references and finalizers settle. */
export function fullGc(): void {
  globalThis.gc?.();
  globalThis.gc?.();
}
