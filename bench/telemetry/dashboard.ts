/**
 * `purgatory dashboard` for the telemetry section (`bench/telemetry/index.ts`): the CLI from the
 * sources (node + tsx) on the deployment, a page connected to it (its event stream, `GET
 * /events`, read to the end and counted by event), its CPU read from `/proc/<pid>/stat` (it does
 * not answer the section's `sample` lines), and a clean stop (SIGTERM: it closes its watches).
 * @module
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Target } from "../fleet/deployment.js";
import { deadline } from "../fleet/members.js";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const CLI = join(ROOT, "src/cli/bin.ts");
/** Clock ticks a second of `/proc/<pid>/stat` (`getconf CLK_TCK`: 100 on Linux). */
const TICKS = 100;

/** A page's event stream: the bytes and events it received so far, by event name. */
export interface PageCounts {
  readonly bytes: number;
  readonly events: Readonly<Record<string, number>>;
  readonly bytesByEvent: Readonly<Record<string, number>>;
}

/** A page connected to the dashboard. */
export interface Page {
  counts(): PageCounts;
  /** Disconnects. */
  close(): Promise<void>;
}

/** A running dashboard. */
export interface DashboardProcess {
  readonly pid: number;
  readonly url: string;
  /** Its CPU seconds so far (user + system), or NaN where `/proc` cannot be read. */
  cpuSeconds(): number;
  /** Connects a page (its event stream). */
  page(): Promise<Page>;
  /** SIGTERM, and SIGKILL if it has not ended within 10 s. */
  stop(): Promise<void>;
}

/** Starts `purgatory dashboard --redis <url> --prefix <prefix> --port 0` on `target` (a Cluster: its first node). */
export async function startDashboardProcess(target: Target, prefix: string): Promise<DashboardProcess> {
  const url = target.kind === "standalone" ? target.url : `redis://${target.nodes[0]?.host}:${target.nodes[0]?.port}`;
  const child = spawn(
    process.execPath,
    ["--import", "tsx", CLI, "dashboard", "--redis", url, "--prefix", prefix, "--port", "0"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", kill);
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const listening = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const found = /^purgatory dashboard: (http:\/\/\S+)/.exec(line)?.[1];
      if (found !== undefined) resolve(found);
    });
    void exited.then(() => reject(new Error(`purgatory dashboard ended before listening\n${stderr}`)));
  });
  let base: string;
  try {
    base = await deadline(listening, 60_000, "purgatory dashboard: listening");
  } catch (error) {
    kill();
    throw error;
  }
  return {
    pid: child.pid ?? -1,
    url: base,
    cpuSeconds() {
      try {
        // After "(comm)": state is field 3; utime and stime are fields 14 and 15.
        const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return (Number(fields[11]) + Number(fields[12])) / TICKS;
      } catch {
        return Number.NaN;
      }
    },
    async page() {
      const abort = new AbortController();
      const response = await fetch(new URL("events", base), { signal: abort.signal });
      if (!response.ok || response.body === null) throw new Error(`GET /events: ${response.status}`);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let bytes = 0;
      const events: Record<string, number> = {};
      const bytesByEvent: Record<string, number> = {};
      let text = "";
      const reading = (async () => {
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            bytes += value.byteLength;
            text += decoder.decode(value, { stream: true });
            let end: number;
            while ((end = text.indexOf("\n\n")) >= 0) {
              const frame = text.slice(0, end);
              text = text.slice(end + 2);
              const name = /^event: (\S+)/m.exec(frame)?.[1] ?? "message";
              events[name] = (events[name] ?? 0) + 1;
              bytesByEvent[name] = (bytesByEvent[name] ?? 0) + Buffer.byteLength(frame) + 2;
            }
          }
        } catch {
          // disconnected
        }
      })();
      return {
        counts: () => ({ bytes, events: { ...events }, bytesByEvent: { ...bytesByEvent } }),
        close: async () => {
          abort.abort();
          await reading;
        },
      };
    },
    async stop() {
      child.kill("SIGTERM");
      await deadline(exited, 10_000, "purgatory dashboard: stopping").catch(kill);
      process.off("exit", kill);
    },
  };
}
