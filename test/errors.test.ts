/**
 * The error classes: stable names, codes and fields, and messages that stay short whatever they
 * echo (a circuit name, an option, a value).
 */
import { describe, expect, it, vi } from "vitest";
import {
  CallTimeoutError,
  CircuitLimitError,
  CircuitOpenError,
  InvalidOptionError,
  isCallTimeoutError,
  isCircuitLimitError,
  isCircuitOpenError,
  isInvalidOptionError,
  isStorageUnavailableError,
  StorageUnavailableError,
} from "../src/index.js";

/** A second copy of the errors module, as the CommonJS build is next to the ESM one. */
async function anotherCopy(): Promise<typeof import("../src/errors.js")> {
  vi.resetModules();
  const copy = await import("../src/errors.js");
  expect(copy.CircuitOpenError).not.toBe(CircuitOpenError);
  return copy;
}

describe("errors from two copies of the package (dual package hazard)", () => {
  it("are instanceof each other's classes, both ways", async () => {
    const copy = await anotherCopy();
    const theirs = new copy.CircuitOpenError("svc", 1, 2);
    const ours = new CircuitOpenError("svc", 1, 2);
    expect(theirs instanceof CircuitOpenError).toBe(true);
    expect(ours instanceof copy.CircuitOpenError).toBe(true);
    expect(new copy.InvalidOptionError("o", 1, "x") instanceof InvalidOptionError).toBe(true);
    expect(theirs instanceof InvalidOptionError).toBe(false);
  });

  it("are recognised by isCircuitOpenError and isInvalidOptionError", async () => {
    const copy = await anotherCopy();
    expect(isCircuitOpenError(new copy.CircuitOpenError("svc", 1, 2))).toBe(true);
    expect(isInvalidOptionError(new copy.InvalidOptionError("o", 1, "x"))).toBe(true);
    expect(isCircuitOpenError(new copy.InvalidOptionError("o", 1, "x"))).toBe(false);
    for (const value of [new Error("Circuit svc is open"), { name: "CircuitOpenError" }, null, undefined, "x"]) {
      expect(isCircuitOpenError(value)).toBe(false);
      expect(value instanceof CircuitOpenError).toBe(false);
    }
  });

  it("keep ordinary instanceof for a subclass", () => {
    class ServiceDownError extends CircuitOpenError {}
    const sub = new ServiceDownError("svc", 1, 2);
    expect(sub instanceof CircuitOpenError).toBe(true);
    expect(sub instanceof ServiceDownError).toBe(true);
    expect(isCircuitOpenError(sub)).toBe(true);
    expect(new CircuitOpenError("svc", 1, 2) instanceof ServiceDownError).toBe(false);
  });
});

describe("CallTimeoutError", () => {
  it("has a stable name and code, the circuit and the timeout, and a short message", () => {
    const error = new CallTimeoutError("payments-api", 2_500);
    expect([error.name, error.code, error.circuitName, error.timeoutMs]).toEqual([
      "CallTimeoutError",
      "PURGATORY_CALL_TIMEOUT",
      "payments-api",
      2_500,
    ]);
    expect(error.message).toBe("Call on circuit payments-api timed out after 2500 ms");
    expect(error).toBeInstanceOf(Error);
    expect(new CallTimeoutError("n".repeat(100_000), 1).message.length).toBeLessThan(300);
  });

  it("carries no stack frames, as CircuitOpenError: it is made by a timer", () => {
    expect(new CallTimeoutError("svc", 1).stack?.split("\n")).toHaveLength(1);
  });

  it("is instanceof, and recognised by isCallTimeoutError, across copies of the package", async () => {
    const copy = await anotherCopy();
    const theirs = new copy.CallTimeoutError("svc", 5);
    expect(theirs instanceof CallTimeoutError).toBe(true);
    expect(new CallTimeoutError("svc", 5) instanceof copy.CallTimeoutError).toBe(true);
    expect(isCallTimeoutError(theirs)).toBe(true);
    expect(isCallTimeoutError(new CircuitOpenError("svc", 1, 2))).toBe(false);
    expect(theirs instanceof CircuitOpenError).toBe(false);
    for (const value of [new Error("timed out"), { name: "CallTimeoutError" }, null, undefined]) {
      expect(isCallTimeoutError(value)).toBe(false);
      expect(value instanceof CallTimeoutError).toBe(false);
    }
    class SlowError extends CallTimeoutError {}
    expect(new SlowError("svc", 1) instanceof CallTimeoutError).toBe(true);
    expect(new CallTimeoutError("svc", 1) instanceof SlowError).toBe(false);
  });
});

describe("CircuitOpenError", () => {
  it("says Circuit <name> is open, exactly, for a usual name", () => {
    const error = new CircuitOpenError("www.example.com", 1_000, 250);
    expect(error.message).toBe("Circuit www.example.com is open");
    expect([error.name, error.code, error.circuitName, error.openedAt, error.retryAfterMs]).toEqual([
      "CircuitOpenError",
      "PURGATORY_CIRCUIT_OPEN",
      "www.example.com",
      1_000,
      250,
    ]);
  });

  it("shortens a name longer than 200 characters in its message only", () => {
    const name = "n".repeat(100_000);
    const error = new CircuitOpenError(name, 0, 1);
    expect(error.message).toBe(`Circuit ${"n".repeat(197)}... is open`);
    expect(error.circuitName).toBe(name);
    expect(new CircuitOpenError("m".repeat(200), 0, 1).message).toBe(`Circuit ${"m".repeat(200)} is open`);
  });
});

describe("InvalidOptionError", () => {
  it("names the option and the value, shortening both", () => {
    const error = new InvalidOptionError("o".repeat(1000), "v".repeat(1000), "something");
    expect(error.message).toBe(`Invalid option "${"o".repeat(77)}...": expected something, got "${"v".repeat(77)}..."`);
    expect(error.option).toBe("o".repeat(1000));
    expect(error.value).toBe("v".repeat(1000));
  });

  it("renders values that are hard to show without throwing", () => {
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error("trap");
        },
        getPrototypeOf: () => {
          throw new Error("trap");
        },
      },
    );
    expect(new InvalidOptionError("x", hostile, "y").message).toMatch(/got (a value|an object.*)$/);
    expect(new InvalidOptionError("x", 10n ** 200n, "y").message.length).toBeLessThan(120);
    expect(new InvalidOptionError("x", Promise.resolve(1), "y").message).toBe(
      'Invalid option "x": expected y, got a promise',
    );
  });
});

describe("CircuitLimitError", () => {
  it("has a stable name and code, the circuit and the limit, and a short message", () => {
    const error = new CircuitLimitError("h12345.example.com", 1_000);
    expect([error.name, error.code, error.circuitName, error.limit]).toEqual([
      "CircuitLimitError",
      "PURGATORY_CIRCUIT_LIMIT",
      "h12345.example.com",
      1_000,
    ]);
    expect(error.message).toBe(
      "Cannot register circuit h12345.example.com: 1000 circuits are held (maxCircuits) and none is closed and idle",
    );
    expect(error).toBeInstanceOf(Error);
    expect(new CircuitLimitError("n".repeat(100_000), 1).message.length).toBeLessThan(400);
  });

  it("carries no stack frames: a flood of new names makes one per refused call", () => {
    expect(new CircuitLimitError("svc", 1).stack?.split("\n")).toHaveLength(1);
  });

  it("is instanceof, and recognised by isCircuitLimitError, across copies of the package", async () => {
    const copy = await anotherCopy();
    const theirs = new copy.CircuitLimitError("svc", 5);
    expect(theirs instanceof CircuitLimitError).toBe(true);
    expect(new CircuitLimitError("svc", 5) instanceof copy.CircuitLimitError).toBe(true);
    expect(isCircuitLimitError(theirs)).toBe(true);
    expect(isCircuitLimitError(new CircuitOpenError("svc", 1, 2))).toBe(false);
    expect(theirs instanceof CircuitOpenError).toBe(false);
    for (const value of [new Error("limit"), { name: "CircuitLimitError", code: "PURGATORY_CIRCUIT_LIMIT" }, null]) {
      expect(isCircuitLimitError(value)).toBe(false);
      expect(value instanceof CircuitLimitError).toBe(false);
    }
    class HostLimitError extends CircuitLimitError {}
    expect(new HostLimitError("svc", 1) instanceof CircuitLimitError).toBe(true);
    expect(new CircuitLimitError("svc", 1) instanceof HostLimitError).toBe(false);
  });
});

describe("StorageUnavailableError", () => {
  it("has a stable name and code, names the storage, and keeps the cause", () => {
    const cause = new Error("connect ECONNREFUSED 127.0.0.1:6390");
    const error = new StorageUnavailableError("redis://127.0.0.1:6390/0", cause);
    expect([error.name, error.code, error.storage, error.cause]).toEqual([
      "StorageUnavailableError",
      "PURGATORY_STORAGE_UNAVAILABLE",
      "redis://127.0.0.1:6390/0",
      cause,
    ]);
    expect(error.message).toBe(
      "The storage redis://127.0.0.1:6390/0 is unavailable: connect ECONNREFUSED 127.0.0.1:6390",
    );
  });

  it("says why without a cause, and reads the first error of an AggregateError (Node's connection attempts)", () => {
    expect(new StorageUnavailableError("RedisStorage").message).toBe(
      "The storage RedisStorage is unavailable: it could not reach its server",
    );
    const tried = new AggregateError([new Error("connect ECONNREFUSED ::1:6379")], "");
    expect(new StorageUnavailableError("RedisStorage", tried).message).toBe(
      "The storage RedisStorage is unavailable: connect ECONNREFUSED ::1:6379",
    );
    expect(new StorageUnavailableError("x", "down").message).toBe('The storage x is unavailable: "down"');
  });

  it("is instanceof, and recognised by isStorageUnavailableError, across copies of the package", async () => {
    const copy = await anotherCopy();
    const theirs = new copy.StorageUnavailableError("redis://h:1");
    expect(theirs instanceof StorageUnavailableError).toBe(true);
    expect(isStorageUnavailableError(theirs)).toBe(true);
    expect(isStorageUnavailableError(new Error("unavailable"))).toBe(false);
    expect(theirs instanceof CircuitLimitError).toBe(false);
  });
});
