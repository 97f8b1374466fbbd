/**
 * The error classes: stable names, codes and fields, and messages that stay short whatever they
 * echo (a circuit name, an option, a value).
 */
import { describe, expect, it } from "vitest";
import { CircuitOpenError, InvalidOptionError } from "../src/index.js";

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
    const hostile = new Proxy({}, { get: () => { throw new Error("trap"); }, getPrototypeOf: () => { throw new Error("trap"); } });
    expect(new InvalidOptionError("x", hostile, "y").message).toMatch(/got (a value|an object.*)$/);
    expect(new InvalidOptionError("x", 10n ** 200n, "y").message.length).toBeLessThan(120);
    expect(new InvalidOptionError("x", Promise.resolve(1), "y").message).toBe('Invalid option "x": expected y, got a promise');
  });
});
