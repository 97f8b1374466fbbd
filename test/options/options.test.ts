/**
 * Bad input gets a clear, early `InvalidOptionError` that names the option and the value, never a
 * silent default (docs/design.md, "Bad input"). Storage-independent: runs over the default in-memory storage.
 */
import { describe, expect, it, vi } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  InMemoryStorage,
  InvalidOptionError,
  SyncCircuitBreakerFactory,
  type BreakerOptions,
  type CircuitStorage,
  type FactoryOptions,
} from "../../src/index.js";

/** Asserts that `error` is the InvalidOptionError for `option` and `value`, shown as `shown`. */
function expectInvalid(error: unknown, option: string, value: unknown, shown: string): void {
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect(error).toBeInstanceOf(TypeError);
  const invalid = error as InvalidOptionError;
  expect(invalid.name).toBe("InvalidOptionError");
  expect(invalid.code).toBe("PURGATORY_INVALID_OPTION");
  expect(invalid.option).toBe(option);
  expect(Object.is(invalid.value, value)).toBe(true);
  expect(invalid.message).toContain(`"${option}"`);
  expect(invalid.message).toContain(`got ${shown}`);
}

function thrownBy(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to throw");
}

async function rejectionOf(call: () => Promise<unknown>): Promise<unknown> {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (error) {
    throw new Error(`expected a rejection, got a synchronous throw: ${String(error)}`, { cause: error });
  }
  return promise.then(
    () => {
      throw new Error("expected the call to reject");
    },
    (error: unknown) => error,
  );
}

/** Options typed loosely, as JavaScript callers may pass them. */
const loose = <T>(options: Record<string, unknown>): T => options as T;

const factories = [
  { name: "AsyncCircuitBreakerFactory", make: (o?: FactoryOptions) => new AsyncCircuitBreakerFactory(o) },
  { name: "SyncCircuitBreakerFactory", make: (o?: FactoryOptions) => new SyncCircuitBreakerFactory(o) },
];

const badThresholds: [unknown, string][] = [
  [0, "0"],
  [-1, "-1"],
  [1.5, "1.5"],
  [Number.NaN, "NaN"],
  [Number.POSITIVE_INFINITY, "Infinity"],
  ["3", '"3"'],
  [null, "null"],
  [1e21, "1e+21"],
  [2 ** 53, "9007199254740992"],
];
const badTtls: [unknown, string][] = [
  [0, "0"],
  [-1, "-1"],
  [Number.POSITIVE_INFINITY, "Infinity"],
  [Number.NaN, "NaN"],
  ["30", '"30"'],
  [null, "null"],
  [1e-9, "1e-9"],
  [0.0009, "0.0009"],
  [30_000, "30000"],
  [3600.5, "3600.5"],
  [2_147_484, "2147484"],
];
const badNames: [unknown, string][] = [
  ["", '""'],
  [42, "42"],
  [undefined, "undefined"],
  [null, "null"],
  [{}, "an object ([object Object])"],
];
class SomeError extends Error {}
const badExcludeEntries: { label: string; entry: unknown; shown: string }[] = [
  { label: "a class name", entry: "TypeError", shown: '"TypeError"' },
  { label: "[class]", entry: [SomeError], shown: "an array of length 1" },
  { label: "[class, string]", entry: [SomeError, "status < 500"], shown: "an array of length 2" },
  { label: "[class, function, extra]", entry: [SomeError, () => true, "extra"], shown: "an array of length 3" },
  { label: "[string, function]", entry: ["SomeError", () => true], shown: "an array of length 2" },
  { label: "an object", entry: { SomeError }, shown: "an object ([object Object])" },
  { label: "null", entry: null, shown: "null" },
  {
    label: "an arrow function",
    entry: Object.defineProperty(() => true, "name", { value: "" }),
    shown: "an anonymous function",
  },
  { label: "an async function", entry: async function isTransient() {}, shown: "function isTransient" },
  { label: "[arrow, function]", entry: [(e: unknown) => e, () => true], shown: "an array of length 2" },
];

describe.each(factories)("$name options", ({ make }) => {
  it("accept every documented option", () => {
    expect(() =>
      make({
        defaultThreshold: 3,
        defaultTtl: 0.5,
        halfOpenMaxCalls: 2,
        exclude: [SomeError, [TypeError, () => true]],
        storage: new InMemoryStorage(),
        idleTtl: 60,
        clock: () => 0,
        listeners: [() => undefined],
      }),
    ).not.toThrow();
    expect(() => make()).not.toThrow();
    expect(() => make({})).not.toThrow();
  });

  it("expose the validated defaults", () => {
    expect(make().defaults).toEqual({ threshold: 5, ttl: 30, halfOpenMaxCalls: 1 });
    expect(make({ defaultThreshold: 2, defaultTtl: 0.25, halfOpenMaxCalls: 3 }).defaults).toEqual({
      threshold: 2,
      ttl: 0.25,
      halfOpenMaxCalls: 3,
    });
  });

  it("accept the bounds: ttl from 0.001 to 3600 s, threshold up to 2^53 - 1, halfOpenMaxCalls up to 1,000", () => {
    for (const defaultTtl of [0.001, 3600]) expect(make({ defaultTtl }).defaults.ttl).toBe(defaultTtl);
    expect(make({ defaultThreshold: Number.MAX_SAFE_INTEGER }).defaults.threshold).toBe(Number.MAX_SAFE_INTEGER);
    expect(make({ halfOpenMaxCalls: 1000 }).defaults.halfOpenMaxCalls).toBe(1000);
  });

  it("reject a ttl out of bounds with the bounds, and a hint about milliseconds", () => {
    const error = thrownBy(() => make({ defaultTtl: 30_000 }));
    expect((error as Error).message).toBe(
      'Invalid option "defaultTtl": expected a number of seconds from 0.001 to 3600 (ttl is in seconds, not milliseconds), got 30000',
    );
  });

  it("reject a threshold or halfOpenMaxCalls above its bound, naming the bound", () => {
    expect((thrownBy(() => make({ defaultThreshold: 1e21 })) as Error).message).toBe(
      'Invalid option "defaultThreshold": expected an integer from 1 to Number.MAX_SAFE_INTEGER, got 1e+21',
    );
    expectInvalid(
      thrownBy(() => make({ halfOpenMaxCalls: 1001 })),
      "halfOpenMaxCalls",
      1001,
      "1001",
    );
  });

  it.each(badThresholds)("reject defaultThreshold %s: not an integer from 1 to 2^53 - 1", (value, shown) => {
    expectInvalid(
      thrownBy(() => make(loose({ defaultThreshold: value }))),
      "defaultThreshold",
      value,
      shown,
    );
  });

  it.each(badTtls)("reject defaultTtl %s: not seconds from 0.001 to 3600", (value, shown) => {
    expectInvalid(
      thrownBy(() => make(loose({ defaultTtl: value }))),
      "defaultTtl",
      value,
      shown,
    );
  });

  it.each([
    [0, "0"],
    [2.5, "2.5"],
    [Number.NaN, "NaN"],
  ] as [unknown, string][])("reject halfOpenMaxCalls %s: not an integer from 1 to 1,000", (value, shown) => {
    expectInvalid(
      thrownBy(() => make(loose({ halfOpenMaxCalls: value }))),
      "halfOpenMaxCalls",
      value,
      shown,
    );
  });

  it.each([
    [0, "0"],
    [-5, "-5"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    ["60", '"60"'],
  ] as [unknown, string][])("reject idleTtl %s: not a finite number > 0", (value, shown) => {
    expectInvalid(
      thrownBy(() => make(loose({ idleTtl: value }))),
      "idleTtl",
      value,
      shown,
    );
  });

  it.each(badExcludeEntries)(
    "reject the exclude entry $label: not a class or [class, function]",
    ({ entry, shown }) => {
      const error = thrownBy(() => make(loose({ exclude: [SomeError, entry] })));
      expectInvalid(error, "exclude[1]", entry, shown);
    },
  );

  it("reject an exclude that is not an array", () => {
    expectInvalid(
      thrownBy(() => make(loose({ exclude: SomeError }))),
      "exclude",
      SomeError,
      "function SomeError",
    );
  });

  it("reject a Python option name, suggesting the TypeScript one", () => {
    const error = thrownBy(() => make(loose({ default_ttl: 30 })));
    expectInvalid(error, "default_ttl", 30, "30");
    expect((error as Error).message).toBe('Unknown option "default_ttl" (did you mean "defaultTtl"?), got 30');
    expect(String(thrownBy(() => make(loose({ default_threshold: 5 }))))).toContain('"defaultThreshold"');
    expect(String(thrownBy(() => make(loose({ uow: {} }))))).toContain('"storage"');
  });

  it("reject an option spelled in the wrong case, suggesting the right one", () => {
    const error = thrownBy(() => make(loose({ defaultttl: 30 })));
    expectInvalid(error, "defaultttl", 30, "30");
    expect((error as Error).message).toContain('did you mean "defaultTtl"?');
  });

  it("reject a breaker's option given to the factory, suggesting the factory's default", () => {
    const error = thrownBy(() => make(loose({ threshold: 3 })));
    expectInvalid(error, "threshold", 3, "3");
    expect((error as Error).message).toBe('Unknown option "threshold" (did you mean "defaultThreshold"?), got 3');
    expect(String(thrownBy(() => make(loose({ ttl: 10 }))))).toContain('did you mean "defaultTtl"?');
  });

  it("reject defaults whose backoff caps openings below the ttl, naming both", () => {
    const error = thrownBy(() => make({ defaultTtl: 60, defaultBackoff: { multiplier: 2, maxTtl: 30 } }));
    expectInvalid(error, "defaultBackoff.maxTtl", 30, "30");
    expect((error as Error).message).toContain("cannot be below defaultTtl (60 s)");
  });

  it("reject an unknown option, listing the known ones", () => {
    const error = thrownBy(() => make(loose({ retries: 5 })));
    expectInvalid(error, "retries", 5, "5");
    expect((error as Error).message).toMatch(
      /^Unknown option "retries" \(expected one of "defaultThreshold", "defaultTtl", .* and \d+ more\), got 5$/,
    );
  });

  it("keep messages short: a huge unknown key or value is shortened, the error keeps it whole", () => {
    const key = "k".repeat(100_000);
    const error = thrownBy(() => make(loose({ [key]: "v".repeat(100_000) }))) as InvalidOptionError;
    expect(error.option).toBe(key);
    expect(error.message.length).toBeLessThan(400);
    expect(error.message).toContain(`"${"k".repeat(77)}..."`);
    const ttl = thrownBy(() => make(loose({ defaultTtl: "9".repeat(100_000) }))) as InvalidOptionError;
    expect(ttl.message.length).toBeLessThan(400);
  });

  it.each([
    [5, "5"],
    [null, "null"],
    [[1], "an array of length 1"],
  ] as [unknown, string][])("reject options %s that are not an object", (options, shown) => {
    expectInvalid(
      thrownBy(() => make(options as FactoryOptions)),
      "options",
      options,
      shown,
    );
  });

  it("reject a storage that lacks methods of CircuitStorage, naming them", () => {
    const partial = { initialize: async () => undefined, close: async () => undefined };
    const error = thrownBy(() => make({ storage: partial as unknown as CircuitStorage }));
    expectInvalid(error, "storage", partial, "an object ([object Object])");
    expect((error as Error).message).toMatch(
      /missing register, admit, recordSuccess, recordFailure, forget, get, names/,
    );
  });

  it("reject a storage given as a URL string", () => {
    const url = "redis://127.0.0.1:6379/0";
    const error = thrownBy(() => make({ storage: url as unknown as CircuitStorage }));
    expectInvalid(error, "storage", url, JSON.stringify(url));
  });

  it("reject a clock that is not a function", () => {
    expectInvalid(
      thrownBy(() => make(loose({ clock: 1_700_000_000_000 }))),
      "clock",
      1_700_000_000_000,
      "1700000000000",
    );
  });

  it("reject listeners that are not an array of functions", () => {
    const hook = (): void => undefined;
    expectInvalid(
      thrownBy(() => make(loose({ listeners: hook }))),
      "listeners",
      hook,
      "function hook",
    );
    expectInvalid(
      thrownBy(() => make(loose({ listeners: [hook, "log"] }))),
      "listeners[1]",
      "log",
      '"log"',
    );
  });
});

const badTimeouts: [unknown, string][] = [
  [0, "0"],
  [-1, "-1"],
  [Number.POSITIVE_INFINITY, "Infinity"],
  [Number.NaN, "NaN"],
  ["5", '"5"'],
  [null, "null"],
  [0.0005, "0.0005"],
  [5000, "5000"],
];

describe("timeout, fallback and signal (async factory)", () => {
  const factory = new AsyncCircuitBreakerFactory();

  it.each(badTimeouts)(
    "reject timeout %s in getBreaker, run, decorate, a call, and as defaultTimeout",
    async (value, shown) => {
      const options = loose<BreakerOptions>({ timeout: value });
      expectInvalid(await rejectionOf(() => factory.getBreaker("t", options)), "timeout", value, shown);
      expectInvalid(await rejectionOf(() => factory.run("t", () => 1, options)), "timeout", value, shown);
      expectInvalid(
        thrownBy(() => factory.decorate("t", options)),
        "timeout",
        value,
        shown,
      );
      const breaker = await factory.getBreaker("t");
      expectInvalid(await rejectionOf(() => breaker.run(() => 1, loose({ timeout: value }))), "timeout", value, shown);
      expectInvalid(
        thrownBy(() => new AsyncCircuitBreakerFactory(loose<FactoryOptions>({ defaultTimeout: value }))),
        "defaultTimeout",
        value,
        shown,
      );
    },
  );

  it("say that a timeout is in seconds, with its bounds", () => {
    const error = thrownBy(() => new AsyncCircuitBreakerFactory({ defaultTimeout: 5000 }));
    expect((error as Error).message).toBe(
      'Invalid option "defaultTimeout": expected a number of seconds from 0.001 to 3600 (timeout is in seconds, not milliseconds), got 5000',
    );
  });

  it("accept a timeout from 0.001 to 3600 s, fractions allowed", async () => {
    expect(() => new AsyncCircuitBreakerFactory({ defaultTimeout: 0.001 })).not.toThrow();
    await expect(factory.getBreaker("bounds", { timeout: 3600 })).resolves.toBeDefined();
    await expect(factory.run("bounds", () => 1, { timeout: 2.5 })).resolves.toBe(1);
  });

  it("reject a retryAfter that is not a function", async () => {
    const options = loose<BreakerOptions>({ retryAfter: 30 });
    expectInvalid(await rejectionOf(() => factory.getBreaker("t", options)), "retryAfter", 30, "30");
    expectInvalid(await rejectionOf(() => factory.run("t", () => 1, options)), "retryAfter", 30, "30");
  });

  it("reject a fallback that is not a function", async () => {
    const options = loose<BreakerOptions>({ fallback: "cached" });
    expectInvalid(await rejectionOf(() => factory.getBreaker("t", options)), "fallback", "cached", '"cached"');
    expectInvalid(await rejectionOf(() => factory.run("t", () => 1, options)), "fallback", "cached", '"cached"');
    const breaker = await factory.getBreaker("t");
    expectInvalid(await rejectionOf(() => breaker.run(() => 1, loose({ fallback: 1 }))), "fallback", 1, "1");
  });

  it("reject a signal that is not an AbortSignal, in run and in a call", async () => {
    const fake = { aborted: "no" };
    expectInvalid(
      await rejectionOf(() => factory.run("t", () => 1, loose<BreakerOptions>({ signal: fake }))),
      "signal",
      fake,
      "an object ([object Object])",
    );
    const breaker = await factory.getBreaker("t");
    expectInvalid(await rejectionOf(() => breaker.run(() => 1, loose({ signal: true }))), "signal", true, "true");
  });

  it("reject a signal given to getBreaker or decorate: it belongs to one call", async () => {
    const signal = new AbortController().signal;
    const error = await rejectionOf(() => factory.getBreaker("t", loose<BreakerOptions>({ signal })));
    expectInvalid(error, "signal", signal, "an object ([object AbortSignal])");
    expect((error as Error).message).toContain("a signal belongs to one call, pass it to breaker.run(fn, { signal })");
    expectInvalid(
      thrownBy(() => factory.decorate("t", loose<BreakerOptions>({ signal }))),
      "signal",
      signal,
      "an object ([object AbortSignal])",
    );
  });

  it("reject an unknown option of a call, naming it, without running the function or counting", async () => {
    const breaker = await factory.getBreaker("unknown-call-option");
    const fn = vi.fn(() => 1);
    const error = await rejectionOf(() => breaker.run(fn, loose({ threshold: 3 })));
    expectInvalid(error, "threshold", 3, "3");
    expect((error as Error).message).toContain('"signal", "timeout", "fallback"');
    expect(fn).not.toHaveBeenCalled();
    expect(breaker.failureCount).toBe(0);
  });
});

describe("the sync factory, for which timeout and signal make no sense", () => {
  const factory = new SyncCircuitBreakerFactory();
  const signal = new AbortController().signal;

  it("rejects timeout in getBreaker, run, decorate and a call, saying why", () => {
    const options = loose<BreakerOptions>({ timeout: 5 });
    const errors = [
      thrownBy(() => factory.getBreaker("t", options)),
      thrownBy(() => factory.run("t", () => 1, options)),
      thrownBy(() => factory.decorate("t", options)),
      thrownBy(() => factory.getBreaker("t").run(() => 1, loose({ timeout: 5 }))),
    ];
    for (const error of errors) {
      expectInvalid(error, "timeout", 5, "5");
      expect((error as Error).message).toBe(
        'Invalid option "timeout": a synchronous call cannot time out (it holds the thread until it returns, so no timer ' +
          "can fire before); use AsyncCircuitBreakerFactory for calls that may hang, got 5",
      );
    }
  });

  it("rejects defaultTimeout, saying why", () => {
    const error = thrownBy(() => new SyncCircuitBreakerFactory(loose<FactoryOptions>({ defaultTimeout: 1 })));
    expectInvalid(error, "defaultTimeout", 1, "1");
    expect((error as Error).message).toContain("a synchronous call cannot time out");
  });

  it("rejects signal in run and a call, saying why", () => {
    const errors = [
      thrownBy(() => factory.run("t", () => 1, loose<BreakerOptions>({ signal }))),
      thrownBy(() => factory.getBreaker("t").run(() => 1, loose({ signal }))),
    ];
    for (const error of errors) {
      expectInvalid(error, "signal", signal, "an object ([object AbortSignal])");
      expect((error as Error).message).toContain(
        "a synchronous call cannot be cancelled (nothing else runs until it returns)",
      );
    }
  });

  it("does not run the function nor count anything for a rejected option", () => {
    const fn = vi.fn(() => 1);
    thrownBy(() => factory.run("never-run", fn, loose<BreakerOptions>({ timeout: 1 })));
    thrownBy(() => factory.getBreaker("never-run").run(fn, loose({ signal })));
    expect(fn).not.toHaveBeenCalled();
    expect(factory.getBreaker("never-run").failureCount).toBe(0);
  });

  it("accepts a fallback, and rejects one that is not a function", () => {
    expect(factory.run("t", () => 1, { fallback: () => 2 })).toBe(1);
    expectInvalid(
      thrownBy(() => factory.getBreaker("t").run(() => 1, loose({ fallback: 2 }))),
      "fallback",
      2,
      "2",
    );
  });
});

describe("AsyncCircuitBreakerFactory arguments", () => {
  const factory = new AsyncCircuitBreakerFactory();

  const badQuorums: [unknown, string, string][] = [
    [0, "quorum", "0"],
    [1.5, "quorum", "1.5"],
    [-1, "quorum", "-1"],
    [1001, "quorum", "1001"],
    ["2", "quorum", '"2"'],
    [null, "quorum", "null"],
    [{}, "quorum", "an object"],
    [{ fraction: 2 }, "quorum.fraction", "2"],
    [{ fraction: 0 }, "quorum.fraction", "0"],
    [{ processes: 0 }, "quorum.processes", "0"],
    [{ processes: 2, process: 3 }, "quorum.process", "3"],
  ];
  it.each(badQuorums)("reject quorum %j, naming %s and the value", async (value, option, shown) => {
    const options = loose<BreakerOptions>({ quorum: value });
    const bad = option === "quorum" ? value : (Object.values(value as object).at(-1) as unknown);
    expectInvalid(await rejectionOf(() => factory.getBreaker("q", options)), option, bad, shown);
    // (reconfigure takes null: it removes the quorum)
    if (value !== null) {
      expectInvalid(await rejectionOf(() => factory.reconfigure("q", { quorum: value as never })), option, bad, shown);
    }
    expectInvalid(
      thrownBy(() => new AsyncCircuitBreakerFactory({ defaultQuorum: value as never })),
      option.replace("quorum", "defaultQuorum"),
      bad,
      shown,
    );
  });

  it("rejects a backoff whose jitter is 1 or more, or whose maxTtl is below the ttl, naming both", async () => {
    const jitter = loose<BreakerOptions>({ backoff: { multiplier: 2, maxTtl: 60, jitter: 1 } });
    expectInvalid(await rejectionOf(() => factory.getBreaker("j", jitter)), "backoff.jitter", 1, "1");
    expectInvalid(
      await rejectionOf(() =>
        factory.reconfigure("j2", { ttl: 30, backoff: { multiplier: 2, maxTtl: 10, jitter: 0 } }),
      ),
      "backoff.maxTtl",
      10,
      "10",
    );
    await expect(
      factory.reconfigure("j3", { ttl: 30, backoff: { multiplier: 2, maxTtl: 10, jitter: 0 } }),
    ).rejects.toThrow(/cannot be below ttl \(30 s\)/);
  });

  it("rejects a breaker's backoff below the factory's ttl, or a ttl above the factory's backoff, naming where each came from", async () => {
    const made = new AsyncCircuitBreakerFactory({ defaultTtl: 60 });
    const own = await rejectionOf(() => made.getBreaker("b", { backoff: { multiplier: 2, maxTtl: 30 } }));
    expectInvalid(own, "backoff.maxTtl", 30, "30");
    expect((own as Error).message).toContain("cannot be below defaultTtl (60 s)");
    const withDefault = new AsyncCircuitBreakerFactory({ defaultBackoff: { multiplier: 2, maxTtl: 30 } });
    const ttl = await rejectionOf(() => withDefault.getBreaker("c", { ttl: 45 }));
    expectInvalid(ttl, "defaultBackoff.maxTtl", 30, "30");
    expect((ttl as Error).message).toContain("cannot be below ttl (45 s)");
    await expect(withDefault.getBreaker("d", { ttl: 20 })).resolves.toBeDefined();
  });

  it("suggests a breaker's option for a factory default given to a breaker", async () => {
    const error = await rejectionOf(() => factory.getBreaker("a", loose<BreakerOptions>({ defaultTtl: 10 })));
    expectInvalid(error, "defaultTtl", 10, "10");
    expect((error as Error).message).toContain('did you mean "ttl"?');
  });

  it("takes a quorum as a number of processes or { processes, fraction }", async () => {
    const made = new AsyncCircuitBreakerFactory({ defaultQuorum: { fraction: 0.25 } });
    expect((await made.getBreaker("a")).threshold).toBe(5);
    expect(made.toJSON().circuits[0]?.config.quorum).toEqual({ processes: 1, fraction: 0.25 });
    await made.getBreaker("b", { quorum: 3 });
    expect(made.toJSON().circuits.find((c) => c.name === "b")?.config.quorum).toEqual({ processes: 3 });
    await made.reconfigure("b", { quorum: null });
    expect(made.toJSON().circuits.find((c) => c.name === "b")?.config.quorum).toBeUndefined();
  });

  it.each(badNames)("reject the circuit name %s in getBreaker, run and decorate", async (name, shown) => {
    expectInvalid(await rejectionOf(() => factory.getBreaker(name as string)), "name", name, shown);
    expectInvalid(await rejectionOf(() => factory.run(name as string, () => 1)), "name", name, shown);
    expectInvalid(
      thrownBy(() => factory.decorate(name as string)),
      "name",
      name,
      shown,
    );
  });

  it.each(badThresholds)("reject threshold %s in getBreaker, run and decorate", async (value, shown) => {
    const options = loose<BreakerOptions>({ threshold: value });
    expectInvalid(await rejectionOf(() => factory.getBreaker("t", options)), "threshold", value, shown);
    expectInvalid(await rejectionOf(() => factory.run("t", () => 1, options)), "threshold", value, shown);
    expectInvalid(
      thrownBy(() => factory.decorate("t", options)),
      "threshold",
      value,
      shown,
    );
  });

  it.each(badTtls)("reject ttl %s in getBreaker, run and decorate", async (value, shown) => {
    const options = loose<BreakerOptions>({ ttl: value });
    expectInvalid(await rejectionOf(() => factory.getBreaker("t", options)), "ttl", value, shown);
    expectInvalid(await rejectionOf(() => factory.run("t", () => 1, options)), "ttl", value, shown);
    expectInvalid(
      thrownBy(() => factory.decorate("t", options)),
      "ttl",
      value,
      shown,
    );
  });

  it.each(badExcludeEntries)("reject the exclude entry $label in getBreaker", async ({ entry, shown }) => {
    const options = loose<BreakerOptions>({ exclude: [entry] });
    expectInvalid(await rejectionOf(() => factory.getBreaker("t", options)), "exclude[0]", entry, shown);
  });

  it("reject an unknown breaker option, naming it", async () => {
    const options = loose<BreakerOptions>({ treshold: 3 });
    expectInvalid(await rejectionOf(() => factory.getBreaker("t", options)), "treshold", 3, "3");
  });

  it("reject a factory option given to getBreaker without suggesting it", async () => {
    const error = await rejectionOf(() => factory.getBreaker("t", loose<BreakerOptions>({ default_ttl: 3 })));
    expectInvalid(error, "default_ttl", 3, "3");
    expect((error as Error).message).not.toContain("defaultTtl");
  });

  it("validate options before registering the circuit", async () => {
    const name = "never-registered";
    await rejectionOf(() => factory.getBreaker(name, loose<BreakerOptions>({ threshold: 0 })));
    expect(factory.circuitNames()).not.toContain(name);
  });

  it("keep messages short for odd or huge arguments, keeping the value whole", async () => {
    const name = { toString: () => "x" };
    const huge = "n".repeat(100_000);
    const error = (await rejectionOf(() => factory.getBreaker(name as unknown as string))) as InvalidOptionError;
    expect(error.message).toBe(
      'Invalid option "name": expected a non-empty string circuit name, got an object ([object Object])',
    );
    const run = (await rejectionOf(() =>
      factory.run("t", () => 1, loose<BreakerOptions>({ ttl: huge })),
    )) as InvalidOptionError;
    expect(run.value).toBe(huge);
    expect(run.message.length).toBeLessThan(200);
  });

  it("reject a circuit name computed from the arguments that is empty, when called", async () => {
    const get = factory.decorate((id: string) => id)(async (id: string) => id);
    expectInvalid(await rejectionOf(() => get("")), "name", "", '""');
  });
});

describe("SyncCircuitBreakerFactory arguments", () => {
  const factory = new SyncCircuitBreakerFactory();

  it.each(badNames)("reject the circuit name %s in getBreaker, run and decorate", (name, shown) => {
    expectInvalid(
      thrownBy(() => factory.getBreaker(name as string)),
      "name",
      name,
      shown,
    );
    expectInvalid(
      thrownBy(() => factory.run(name as string, () => 1)),
      "name",
      name,
      shown,
    );
    expectInvalid(
      thrownBy(() => factory.decorate(name as string)),
      "name",
      name,
      shown,
    );
  });

  it.each(badThresholds)("reject threshold %s in getBreaker and run", (value, shown) => {
    const options = loose<BreakerOptions>({ threshold: value });
    expectInvalid(
      thrownBy(() => factory.getBreaker("t", options)),
      "threshold",
      value,
      shown,
    );
    expectInvalid(
      thrownBy(() => factory.run("t", () => 1, options)),
      "threshold",
      value,
      shown,
    );
  });

  it.each(badTtls)("reject ttl %s in getBreaker and run", (value, shown) => {
    const options = loose<BreakerOptions>({ ttl: value });
    expectInvalid(
      thrownBy(() => factory.getBreaker("t", options)),
      "ttl",
      value,
      shown,
    );
    expectInvalid(
      thrownBy(() => factory.run("t", () => 1, options)),
      "ttl",
      value,
      shown,
    );
  });

  it("reject a circuit name computed from the arguments that is not a string, when called", () => {
    const parse = factory.decorate(() => 7 as unknown as string)((text: string) => text);
    expectInvalid(
      thrownBy(() => parse("x")),
      "name",
      7,
      "7",
    );
  });
});
