import { cpSync } from "node:fs";
import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  // The Redis scripts are read at run time from ./scripts next to the bundle (import.meta.url,
  // shimmed in the CommonJS build), so they ship as .lua files, as in the source tree.
  shims: true,
  external: ["ioredis"],
  async onSuccess() {
    cpSync("src/storage/redis/scripts", "dist/scripts", { recursive: true });
  },
});
