/**
 * What `purgatory` answers before and instead of doing anything: `--help` (exit 0), bad
 * arguments (exit 1, one line naming the option and the value), and a Redis it cannot reach
 * (exit 2): a closed port, a server that takes connections and never answers, and a machine
 * without the ioredis package. Every run must end by itself.
 */
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, runCli, type BuiltCli } from "../support/cli.js";
import { freePort, startRedisServer } from "../support/redis-server.js";

let cli: BuiltCli;
let closedPort: string;

beforeAll(async () => {
  cli = await buildCli();
  closedPort = `redis://127.0.0.1:${await freePort()}`;
});

afterAll(async () => {
  await cli?.remove();
});

const COMMANDS = ["circuits", "show", "isolate", "disable", "reset", "configure", "prune", "dashboard"] as const;

describe("purgatory --help", () => {
  it("lists every command and the exit codes, with exit code 0", async () => {
    const { code, stdout, stderr } = await runCli(cli.path, ["--help"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: purgatory <command> \[NAME\] \[options\]/);
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    expect(stdout).toContain("Exit codes: 0 done, 1 bad argument (or no such circuit), 2 Redis cannot be reached.");
  });

  it.each(COMMANDS)("purgatory %s --help tells that command's usage, needing no Redis", async (command) => {
    const { code, stdout } = await runCli(cli.path, [command, "--help", "--redis", closedPort]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: purgatory ${command}\\b`));
    expect(stdout).toContain("--redis URL");
  });

  it("purgatory help configure is the same as purgatory configure --help", async () => {
    const [viaHelp, viaFlag] = await Promise.all([
      runCli(cli.path, ["help", "configure"]),
      runCli(cli.path, ["configure", "-h"]),
    ]);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(viaHelp.stdout).toContain("--half-open-max-calls N");
    expect(viaHelp.stdout).toContain("--quorum N");
    expect(viaHelp.stdout).toContain("--quorum-fraction F");
  });
});

describe("purgatory --version", () => {
  it.each(["--version", "-V", "version"])("%s prints the package's version, needing no Redis", async (flag) => {
    const { version } = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    const { code, stdout, stderr } = await runCli(cli.path, [flag], { env: { REDIS_URL: closedPort } });
    expect(stderr).toBe("");
    expect(stdout).toBe(`purgatory ${version}\n`);
    expect(code).toBe(0);
  });
});

describe("a bad argument: exit code 1 and one line on stderr", () => {
  const cases: [string, string[], string][] = [
    ["no command", [], "purgatory: a command is missing (purgatory --help lists them)"],
    ["an unknown command", ["list"], 'purgatory: unknown command "list" (purgatory --help lists them)'],
    [
      "an unknown option",
      ["circuits", "--colour"],
      "purgatory: circuits: unknown option --colour (purgatory circuits --help)",
    ],
    [
      "an option without its value",
      ["circuits", "--redis"],
      "purgatory: circuits: option --redis needs a value (purgatory circuits --help)",
    ],
    [
      "a value for a flag",
      ["circuits", "--json=yes"],
      "purgatory: circuits: option --json takes no value (purgatory circuits --help)",
    ],
    ["a missing NAME", ["isolate"], "purgatory: isolate: the circuit NAME is missing (purgatory isolate NAME)"],
    ["two NAMEs", ["reset", "a", "b"], 'purgatory: reset: unexpected argument "b" after NAME "a"'],
    [
      "a NAME where none is taken",
      ["circuits", "payments"],
      'purgatory: circuits: unexpected argument "payments" (circuits takes no NAME)',
    ],
    [
      "a threshold that is not a number",
      ["configure", "a", "--threshold", "five"],
      'purgatory: invalid --threshold "five": expected a number',
    ],
    ["a negative ttl", ["configure", "a", "--ttl=-1"], 'purgatory: invalid --ttl "-1": expected a number'],
    [
      "nothing to configure",
      ["configure", "a"],
      "purgatory: configure: nothing to change: give --threshold N, --ttl SECONDS, --half-open-max-calls N, --quorum N or --quorum-fraction F",
    ],
    [
      "a quorum that is not a whole number of processes",
      ["configure", "a", "--quorum", "1.5"],
      'purgatory: invalid --quorum "1.5": expected a number of processes, an integer from 1 to 1000',
    ],
    [
      "a quorum fraction above 1",
      ["configure", "a", "--quorum-fraction", "2"],
      'purgatory: invalid --quorum-fraction "2": expected a fraction of the active callers from 0 to 1 (0.25: a quarter; 0: none)',
    ],
    [
      "a port out of range",
      ["dashboard", "--port", "70000"],
      'purgatory: invalid --port "70000": expected a port from 0 to 65535 (0: any free port)',
    ],
    [
      "a URL that is not Redis's",
      ["circuits", "--redis", "http://127.0.0.1:6379"],
      'purgatory: invalid --redis "http://127.0.0.1:6379": expected a Redis URL such as "redis://127.0.0.1:6379/0"',
    ],
    [
      // A library user may pass redisOptions: { db }; a CLI user cannot: no such advice.
      "a database beyond 15",
      ["circuits", "--redis", "redis://127.0.0.1:6379/16"],
      'purgatory: invalid --redis "redis://127.0.0.1:6379/16": expected a database number from 0 to 15 after the host',
    ],
    [
      "a dashboard token too short",
      ["dashboard", "--token", "s3cret"],
      "purgatory: invalid --token: expected at least 16 printable characters without spaces (leave it out and the dashboard makes one)",
    ],
    [
      "an --allow-host that is not a host",
      ["dashboard", "--allow-host", "evil/example"],
      'purgatory: invalid --allow-host "evil/example": expected a host name or address',
    ],
    [
      "a prefix with a brace",
      ["circuits", "--prefix", "a{b}"],
      'purgatory: invalid --prefix "a{b}": expected a non-empty string without { or }',
    ],
  ];

  it.each(cases)("%s", async (_what, args, message) => {
    const { code, stdout, stderr } = await runCli(cli.path, args, { env: { REDIS_URL: closedPort } });
    expect(stderr).toBe(`${message}\n`);
    expect(stdout).toBe("");
    expect(code).toBe(1);
  });
});

describe("Redis cannot be reached: exit code 2", () => {
  it.each(["circuits", "show", "isolate", "disable", "reset"])("%s against a closed port", async (command) => {
    const args = command === "circuits" ? [command] : [command, "payments"];
    const { code, stdout, stderr } = await runCli(cli.path, [...args, "--redis", closedPort]);
    expect(stdout).toBe("");
    expect(stderr).toBe(`purgatory: Redis cannot be reached at ${closedPort}: connection refused (ECONNREFUSED)\n`);
    expect(code).toBe(2);
  });

  it("configure and dashboard against REDIS_URL's closed port", async () => {
    for (const args of [
      ["configure", "payments", "--ttl", "5"],
      ["dashboard", "--port", "0"],
    ]) {
      const { code, stderr } = await runCli(cli.path, args, { env: { REDIS_URL: closedPort } });
      expect(stderr).toContain(`Redis cannot be reached at ${closedPort}`);
      expect(code).toBe(2);
    }
  });

  it("a password Redis wants and was not given: the server's words, whole, on one line", async () => {
    const server = await startRedisServer({ args: ["--requirepass", "s3cret-password"] });
    try {
      // Warnings on, as in a user's shell (the test runner may turn them off).
      const env = { NODE_NO_WARNINGS: "0" };
      const { code, stdout, stderr } = await runCli(cli.path, ["circuits", "--redis", server.url], { env });
      expect(stdout).toBe("");
      // One line: no process warning of the storage after it, nothing cut.
      expect(stderr).toBe(
        `purgatory: Redis cannot be reached at ${server.url}: Redis refused the connection: NOAUTH Authentication required.\n`,
      );
      expect(code).toBe(2);
      const wrong = await runCli(cli.path, ["isolate", "payments", "--redis", server.url.replace("//", "//:nope@")], {
        env,
      });
      expect(wrong.stderr).toMatch(
        /^purgatory: Redis cannot be reached at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: Redis refused the connection: WRONGPASS invalid username-password pair or user is disabled\.\n$/,
      );
      expect(wrong.code).toBe(2);
    } finally {
      await server.stop();
    }
  });

  it("masks the password of the URL it names", async () => {
    const url = closedPort.replace("redis://", "redis://ops:s3cret@");
    const { code, stderr } = await runCli(cli.path, ["circuits", "--redis", url]);
    expect(code).toBe(2);
    expect(stderr).toContain(closedPort.replace("redis://", "redis://ops:***@"));
    expect(stderr).not.toContain("s3cret");
  });

  it("a server that takes connections and never answers: exit code 2, and the process ends by itself", async () => {
    const server = await startRedisServer();
    try {
      server.signal("SIGSTOP");
      const { code, stderr } = await runCli(cli.path, ["circuits", "--redis", server.url]);
      expect(stderr).toBe(
        `purgatory: Redis cannot be reached at ${server.url}: it takes connections but does not answer (stopped or overloaded?)\n`,
      );
      expect(code).toBe(2);
    } finally {
      server.signal("SIGCONT");
      await server.stop();
    }
  });

  it("without the ioredis and redis packages: says to install one (exit code 2), while --help still works", async () => {
    // A copy of the executable where no node_modules can be found, as in a project without either.
    const alone = await mkdtemp(join(tmpdir(), "purgatory-cli-"));
    try {
      const copy = join(alone, "cli.js");
      await copyFile(cli.path, copy);
      const missing = await runCli(copy, ["circuits", "--redis", closedPort], { cwd: alone });
      expect(missing.stderr).toBe(
        'purgatory: talking to Redis needs one of the optional peer dependencies "ioredis" or "redis": run `npm install ioredis` (or `npm install redis`)\n',
      );
      expect(missing.code).toBe(2);
      const help = await runCli(copy, ["--help"], { cwd: alone });
      expect(help.code).toBe(0);
    } finally {
      await rm(alone, { recursive: true, force: true });
    }
  });
});
