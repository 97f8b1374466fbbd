/**
 * `initialize({ requireStorage: true })`: an application that would rather not start than run on
 * local circuit state only. Against a real Redis, and against a closed port (nothing listens).
 */
import net from "node:net";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  FactoryClosedError,
  InMemoryStorage,
  InvalidOptionError,
  isStorageUnavailableError,
  RedisStorage,
  StorageUnavailableError,
  SyncCircuitBreakerFactory,
  type FactoryOptions,
} from "../../src/index.js";
import { REDIS_URL } from "../support/redis-helpers.js";
import { withRedis } from "../support/storage-kinds.js";

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A storage whose `location` leaves its password in: the factory masks it all the same. */
class LocatedRedisStorage extends RedisStorage {
  constructor(readonly url: string) {
    super({ url, healthCheckInterval: 60 });
  }

  override get location(): string {
    return this.url;
  }
}

const factories: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const factory of factories.splice(0)) await factory.close();
});

function factoryWith(options: FactoryOptions): AsyncCircuitBreakerFactory {
  const factory = new AsyncCircuitBreakerFactory(options);
  factories.push(factory);
  return factory;
}

/** What `initialize` rejected with (fails the test if it resolved). */
async function rejection(promise: Promise<void>): Promise<unknown> {
  return promise.then(
    () => expect.fail("initialize resolved"),
    (error: unknown) => error,
  );
}

describe("initialize({ requireStorage: true })", () => {
  it("rejects with StorageUnavailableError, with the cause, when Redis cannot be reached", async () => {
    const port = await closedPort();
    const storage = new RedisStorage({ url: `redis://127.0.0.1:${port}/0`, healthCheckInterval: 60 });
    const factory = factoryWith({ storage });
    const error = await rejection(factory.initialize({ requireStorage: true }));
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect(isStorageUnavailableError(error)).toBe(true);
    const unavailable = error as StorageUnavailableError;
    expect([unavailable.name, unavailable.code]).toEqual(["StorageUnavailableError", "PURGATORY_STORAGE_UNAVAILABLE"]);
    expect(unavailable.cause).toBeInstanceOf(Error);
    expect(unavailable.message).toContain((unavailable.cause as Error).message);
    expect(unavailable.message).toMatch(/^The storage \S+ is unavailable: /);
    expect(storage.available).toBe(false);
  });

  it("names the storage by its location, the URL, with its password masked", async () => {
    const port = await closedPort();
    const factory = factoryWith({ storage: new LocatedRedisStorage(`redis://app:s3cret@127.0.0.1:${port}/2`) });
    const error = (await rejection(factory.initialize({ requireStorage: true }))) as StorageUnavailableError;
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect(error.storage).toBe(`redis://app:***@127.0.0.1:${port}/2`);
    expect(error.message).toContain(`redis://app:***@127.0.0.1:${port}/2`);
    expect(JSON.stringify({ message: error.message, storage: error.storage })).not.toContain("s3cret");
  });

  it("names RedisStorage's own URL, password masked, and the refused socket as the cause", async () => {
    const port = await closedPort();
    const factory = factoryWith({ storage: new RedisStorage(`redis://app:s3cret@127.0.0.1:${port}/0`) });
    const error = (await rejection(factory.initialize({ requireStorage: true }))) as StorageUnavailableError;
    expect(error.storage).toBe(`redis://app:***@127.0.0.1:${port}/0`);
    expect(error.message).not.toContain("s3cret");
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("names a storage over a client passed in by its class: it does not know the address", async () => {
    const port = await closedPort();
    const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 });
    const factory = factoryWith({ storage: new RedisStorage({ client, healthCheckInterval: 60 }) });
    const error = (await rejection(factory.initialize({ requireStorage: true }))) as StorageUnavailableError;
    expect(error.storage).toBe("RedisStorage");
    client.disconnect();
  });

  it.runIf(withRedis)("resolves when Redis answers", async () => {
    const factory = factoryWith({ storage: new RedisStorage(REDIS_URL) });
    await expect(factory.initialize({ requireStorage: true })).resolves.toBeUndefined();
  });

  it("resolves in memory, which has no server", async () => {
    await expect(factoryWith({ storage: new InMemoryStorage() }).initialize({ requireStorage: true })).resolves.toBe(
      undefined,
    );
    const sync = new SyncCircuitBreakerFactory();
    factories.push(sync);
    await expect(sync.initialize({ requireStorage: true })).resolves.toBeUndefined();
  });

  it("checks again when called again: the storage kept reconnecting", async () => {
    const port = await closedPort();
    const factory = factoryWith({
      storage: new RedisStorage({ url: `redis://127.0.0.1:${port}`, healthCheckInterval: 60 }),
    });
    await expect(factory.initialize({ requireStorage: true })).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(factory.initialize({ requireStorage: true })).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  it("without requireStorage, resolves and lets the storage run degraded, as before", async () => {
    const port = await closedPort();
    const factory = factoryWith({
      storage: new RedisStorage({ url: `redis://127.0.0.1:${port}`, healthCheckInterval: 60 }),
    });
    await expect(factory.initialize()).resolves.toBeUndefined();
    await expect(factory.initialize({ requireStorage: false })).resolves.toBeUndefined();
    await expect(factory.initialize({})).resolves.toBeUndefined();
    await expect(factory.run("works-degraded", () => "ok")).resolves.toBe("ok");
  });

  it("rejects after close() with FactoryClosedError", async () => {
    const factory = factoryWith({});
    await factory.close();
    await expect(factory.initialize({ requireStorage: true })).rejects.toBeInstanceOf(FactoryClosedError);
  });
});

describe("initialize(options): bad input", () => {
  const factory = new AsyncCircuitBreakerFactory();

  it.each([
    [{ requireStorage: "yes" }, "requireStorage", "yes"],
    [{ requireStorage: 1 }, "requireStorage", 1],
    [{ requireStorage: null }, "requireStorage", null],
    [{ requiredStorage: true }, "requiredStorage", true],
    [{ timeout: 5 }, "timeout", 5],
    ["requireStorage", "options", "requireStorage"],
    [null, "options", null],
    [[true], "options", [true]],
  ])("rejects %j with an InvalidOptionError naming %s", async (options, option, value) => {
    const error = await factory.initialize(options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ option, value });
  });

  it("rejects, never throws", () => {
    let promise: Promise<void> | undefined;
    expect(() => {
      promise = factory.initialize({ requireStorage: "yes" } as never);
    }).not.toThrow();
    return expect(promise).rejects.toBeInstanceOf(InvalidOptionError);
  });
});
