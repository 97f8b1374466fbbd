/**
 * `factory.decorate(nameOrFn, options?)`: a higher-order function, and a class-method decorator in
 * both TypeScript modes (standard TC39 decorators and `experimentalDecorators`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Controller, Get, Post, RequestMethod } from "@nestjs/common";
import { METHOD_METADATA, PATH_METADATA } from "@nestjs/common/constants.js";
import "reflect-metadata";
import ts from "typescript";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  AsyncCircuitBreakerFactory,
  CircuitOpenError,
  InvalidOptionError,
  SyncCircuitBreakerFactory,
} from "../src/index.js";
import { circuitName, listen, throwing } from "./support/factories.js";

describe("decorate, as a higher-order function of the async factory", () => {
  it("guards every call of the wrapped function under the named circuit", async () => {
    const factory = new AsyncCircuitBreakerFactory({ defaultThreshold: 2, defaultTtl: 10 });
    const name = circuitName("hof");
    const fetchPage = vi.fn(async (path: string): Promise<string> => {
      throw new Error(`down: ${path}`);
    });
    const guarded = factory.decorate(name)(fetchPage);
    await expect(guarded("/a")).rejects.toThrow("down: /a");
    await expect(guarded("/b")).rejects.toThrow("down: /b");
    await expect(guarded("/c")).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fetchPage).toHaveBeenCalledTimes(2);
    expect((await factory.getBreaker(name)).state).toBe("opened");
  });

  it("passes the arguments and returns the value", async () => {
    const factory = new AsyncCircuitBreakerFactory();
    const add = factory.decorate(circuitName("args"))(async (a: number, b: number) => a + b);
    await expect(add(2, 3)).resolves.toBe(5);
  });

  it("re-throws the wrapped function's error unchanged", async () => {
    const factory = new AsyncCircuitBreakerFactory();
    const error = new RangeError("exact");
    const fail = factory.decorate(circuitName("rethrow"))(async () => Promise.reject(error));
    await expect(fail()).rejects.toBe(error);
  });

  it("names the circuit from the call's arguments when given a function", async () => {
    const factory = new AsyncCircuitBreakerFactory({ defaultThreshold: 1, defaultTtl: 10 });
    const prefix = circuitName("host");
    const get = factory.decorate((url: string) => `${prefix}:${new URL(url).host}`)(async (url: string) => {
      if (url.includes("down")) throw new Error(url);
      return url;
    });
    await expect(get("https://down.example/")).rejects.toThrow("https://down.example/");
    await expect(get("https://down.example/again")).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(get("https://up.example/")).resolves.toBe("https://up.example/");
    expect(factory.circuitNames()).toEqual([`${prefix}:down.example`, `${prefix}:up.example`]);
  });

  it("keeps `this` for the wrapped function and the name function", async () => {
    const factory = new AsyncCircuitBreakerFactory();
    const prefix = circuitName("this");
    const service = {
      base: "https://api.example",
      get: factory.decorate(function (this: { base: string }, path: string) {
        return `${prefix}:${this.base}${path}`;
      })(async function (this: { base: string }, path: string) {
        return this.base + path;
      }),
    };
    await expect(service.get("/users")).resolves.toBe("https://api.example/users");
    expect(factory.circuitNames()).toEqual([`${prefix}:https://api.example/users`]);
  });

  it("keeps the wrapped function's name and length", () => {
    const factory = new AsyncCircuitBreakerFactory();
    async function fetchUser(_id: string, _retries: number): Promise<void> {}
    const guarded = factory.decorate(circuitName("meta"))(fetchUser);
    expect(guarded.name).toBe("fetchUser");
    expect(guarded.length).toBe(2);
  });

  it("returns a promise, also for a synchronous function, and rejects when it throws", async () => {
    const factory = new AsyncCircuitBreakerFactory();
    const double = factory.decorate(circuitName("sync-fn"))((n: number) => n * 2);
    const result = double(21);
    expect(result).toBeInstanceOf(Promise);
    await expect(result).resolves.toBe(42);
    const error = new Error("sync");
    const fail = factory.decorate(circuitName("sync-throw"))(throwing(error));
    let failed: Promise<unknown> | undefined;
    expect(() => (failed = fail())).not.toThrow();
    await expect(failed).rejects.toBe(error);
  });

  it("rejects, never throws, when the name function throws, and does not call the function", async () => {
    const factory = new AsyncCircuitBreakerFactory();
    const error = new Error("no name");
    const work = vi.fn(async () => "never");
    const guarded = factory.decorate(() => {
      throw error;
    })(work);
    let result: Promise<unknown> | undefined;
    expect(() => (result = guarded())).not.toThrow();
    await expect(result).rejects.toBe(error);
    expect(work).not.toHaveBeenCalled();
  });

  it("rejects, never throws, when the factory is closed", async () => {
    const factory = new AsyncCircuitBreakerFactory();
    const guarded = factory.decorate(circuitName("closed"))(async () => "never");
    await factory.close();
    let result: Promise<unknown> | undefined;
    expect(() => (result = guarded())).not.toThrow();
    await expect(result).rejects.toThrow(/closed/);
  });

  it("applies its options: threshold and ttl on registration, exclude to its calls", async () => {
    class NotFoundError extends Error {}
    const factory = new AsyncCircuitBreakerFactory();
    const name = circuitName("options");
    const guarded = factory.decorate(name, { threshold: 2, ttl: 7, exclude: [NotFoundError] })(async (error: Error) =>
      Promise.reject(error),
    );
    await guarded(new NotFoundError()).catch(() => undefined);
    const breaker = await factory.getBreaker(name);
    expect([breaker.threshold, breaker.ttl, breaker.failureCount]).toEqual([2, 7, 0]);
    await guarded(new Error("counted")).catch(() => undefined);
    expect(breaker.failureCount).toBe(1);
  });

  it("registers its circuit on the first call, not when decorating", async () => {
    const factory = new AsyncCircuitBreakerFactory();
    const log = listen(factory);
    const name = circuitName("lazy");
    const guarded = factory.decorate(name)(async () => 1);
    expect(factory.circuitNames()).toEqual([]);
    await guarded();
    await guarded();
    expect(log.labels(name)).toEqual(["circuit_breaker_created"]);
  });

  it("rejects a name that is neither a non-empty string nor a function, when decorating", () => {
    const factory = new AsyncCircuitBreakerFactory();
    expect(() => factory.decorate("")).toThrow(InvalidOptionError);
    expect(() => factory.decorate(42 as unknown as string)).toThrow(InvalidOptionError);
  });
});

describe("decorate, as a higher-order function of the sync factory", () => {
  it("returns the value synchronously", () => {
    const factory = new SyncCircuitBreakerFactory();
    const parse = factory.decorate(circuitName("parse"))((text: string) => JSON.parse(text) as unknown);
    expect(parse('{"a":1}')).toEqual({ a: 1 });
  });

  it("throws the function's error, then CircuitOpenError, synchronously", () => {
    const factory = new SyncCircuitBreakerFactory({ defaultThreshold: 1, defaultTtl: 10 });
    const parse = vi.fn((text: string) => JSON.parse(text) as unknown);
    const guarded = factory.decorate(circuitName("parse-open"))(parse);
    expect(() => guarded("{")).toThrow(SyntaxError);
    expect(() => guarded("{}")).toThrow(CircuitOpenError);
    expect(parse).toHaveBeenCalledTimes(1);
  });

  it("keeps `this`, name and length, and names circuits from the arguments", () => {
    const factory = new SyncCircuitBreakerFactory();
    const prefix = circuitName("sync-this");
    const scale = {
      factor: 3,
      times: factory.decorate((n: number) => `${prefix}:${n}`)(function times(this: { factor: number }, n: number) {
        return n * this.factor;
      }),
    };
    expect(scale.times(4)).toBe(12);
    expect(scale.times.name).toBe("times");
    expect(scale.times.length).toBe(1);
    expect(factory.circuitNames()).toEqual([`${prefix}:4`]);
  });

  it("throws when the name function throws, without calling the function", () => {
    const factory = new SyncCircuitBreakerFactory();
    const work = vi.fn(() => 1);
    const guarded = factory.decorate(() => {
      throw new Error("no name");
    })(work);
    expect(() => guarded()).toThrow("no name");
    expect(work).not.toHaveBeenCalled();
  });
});

/** The class a compiled decorator source defines; see `CLIENT_SOURCE`. */
interface Client {
  readonly base: string;
  calls: number;
  get(path: string, retries?: number): Promise<string>;
  byHost(host: string, path: string): Promise<string>;
  parse(text: string): unknown;
}
interface ClientClass {
  new (base: string): Client;
  readonly prototype: Client;
  ping(this: void, a: number, b: number): Promise<string>;
}
interface CompiledClientModule {
  readonly make: (
    circuitbreaker: AsyncCircuitBreakerFactory,
    sync: SyncCircuitBreakerFactory,
    names: { get: string; host: string; parse: string; ping: string },
  ) => ClientClass;
}

/** A module using decorators; it gets the factories as parameters, so it imports nothing. */
const CLIENT_SOURCE = `
export function make(circuitbreaker: any, sync: any, names: any) {
  class Client {
    calls = 0;
    constructor(readonly base: string) {}

    @circuitbreaker.decorate(names.get)
    async get(path: string, retries?: number): Promise<string> {
      this.calls++;
      if (path === "/down") throw new Error("down " + this.base);
      return this.base + path;
    }

    @circuitbreaker.decorate((host: string) => names.host + ":" + host)
    async byHost(host: string, path: string): Promise<string> {
      return host + path + " via " + this.base;
    }

    @sync.decorate(names.parse)
    parse(text: string): unknown {
      this.calls++;
      return JSON.parse(text);
    }

    @circuitbreaker.decorate(names.ping)
    static async ping(a: number, b: number): Promise<string> {
      return this.name + ":" + (a + b);
    }
  }
  return Client;
}
`;

const tempDir = mkdtempSync(join(tmpdir(), "purgatory-decorators-"));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

/** Compiles `source` with TypeScript in one decorator mode and imports it. */
async function compileAndImport<T>(source: string, mode: "standard" | "experimental", file: string): Promise<T> {
  const { outputText, diagnostics } = ts.transpileModule(source, {
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      experimentalDecorators: mode === "experimental",
      emitDecoratorMetadata: mode === "experimental",
      useDefineForClassFields: true,
    },
    reportDiagnostics: true,
  });
  expect(diagnostics ?? []).toEqual([]);
  const path = join(tempDir, `${file}-${mode}.mjs`);
  writeFileSync(path, outputText);
  return (await import(/* @vite-ignore */ pathToFileURL(path).href)) as T;
}

describe.each(["standard", "experimental"] as const)("decorate, as a %s method decorator", (mode) => {
  async function setup() {
    const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 2, defaultTtl: 10 });
    const sync = new SyncCircuitBreakerFactory({ defaultThreshold: 1, defaultTtl: 10 });
    const names = {
      get: circuitName("get"),
      host: circuitName("host"),
      parse: circuitName("parse"),
      ping: circuitName("ping"),
    };
    const { make } = await compileAndImport<CompiledClientModule>(CLIENT_SOURCE, mode, "client");
    return { circuitbreaker, sync, names, Client: make(circuitbreaker, sync, names) };
  }

  it("is compiled by TypeScript in this mode", () => {
    const js = ts.transpileModule(CLIENT_SOURCE, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, experimentalDecorators: mode === "experimental" },
    }).outputText;
    expect(js).toContain(mode === "experimental" ? "__decorate" : "__esDecorate");
  });

  it("guards the method under the named circuit", async () => {
    const { circuitbreaker, names, Client } = await setup();
    const client = new Client("https://a.example");
    await expect(client.get("/down")).rejects.toThrow("down https://a.example");
    await expect(client.get("/down")).rejects.toThrow("down https://a.example");
    await expect(client.get("/up")).rejects.toBeInstanceOf(CircuitOpenError);
    expect(client.calls).toBe(2);
    expect((await circuitbreaker.getBreaker(names.get)).state).toBe("opened");
  });

  it("keeps `this`, and resolves with the method's value", async () => {
    const { Client } = await setup();
    const a = new Client("https://a.example");
    const b = new Client("https://b.example");
    await expect(a.get("/x")).resolves.toBe("https://a.example/x");
    await expect(b.get("/y")).resolves.toBe("https://b.example/y");
    expect([a.calls, b.calls]).toEqual([1, 1]);
  });

  it("keeps the method's name and length", async () => {
    const { Client } = await setup();
    expect(Client.prototype.get.name).toBe("get");
    expect(Client.prototype.get.length).toBe(2);
    expect(Client.prototype.byHost.length).toBe(2);
    expect(Client.ping.name).toBe("ping");
  });

  it("names the circuit from the method's arguments", async () => {
    const { circuitbreaker, names, Client } = await setup();
    const client = new Client("proxy");
    await expect(client.byHost("h1", "/p")).resolves.toBe("h1/p via proxy");
    await client.byHost("h2", "/p");
    expect(circuitbreaker.circuitNames()).toEqual([`${names.host}:h1`, `${names.host}:h2`]);
  });

  it("guards a static method, keeping `this` as the class", async () => {
    const { circuitbreaker, names, Client } = await setup();
    await expect(Client.ping(1, 2)).resolves.toBe("Client:3");
    expect(circuitbreaker.circuitNames()).toEqual([names.ping]);
  });

  it("guards a method of the sync factory, returning synchronously", async () => {
    const { sync, names, Client } = await setup();
    const client = new Client("sync");
    expect(client.parse("[1]")).toEqual([1]);
    expect(() => client.parse("[")).toThrow(SyntaxError);
    expect(() => client.parse("[2]")).toThrow(CircuitOpenError);
    expect(client.calls).toBe(2);
    expect(sync.getBreaker(names.parse).state).toBe("opened");
  });

  it("refuses to decorate a field", async () => {
    const source = `
      export function make(circuitbreaker: any) {
        class Holder { @circuitbreaker.decorate("field") value = 1; }
        return new Holder();
      }`;
    const { make } = await compileAndImport<{ make: (cb: AsyncCircuitBreakerFactory) => unknown }>(
      source,
      mode,
      "field",
    );
    expect(() => make(new AsyncCircuitBreakerFactory())).toThrow(InvalidOptionError);
  });
});

describe("decorate, as a function's replacement", () => {
  it("keeps the function's own properties", () => {
    const factory = new AsyncCircuitBreakerFactory();
    const handler = Object.assign(async () => "ok", { route: "/items", [Symbol.for("roles")]: ["admin"] });
    const guarded = factory.decorate(circuitName("own-props"))(handler) as typeof handler;
    expect(guarded.route).toBe("/items");
    expect(guarded[Symbol.for("roles")]).toEqual(["admin"]);
  });

  it("keeps the function's reflect-metadata", () => {
    const factory = new SyncCircuitBreakerFactory();
    const handler = (n: number) => n;
    Reflect.defineMetadata("custom:key", { cached: true }, handler);
    const guarded = factory.decorate(circuitName("metadata"))(handler);
    expect(Reflect.getMetadata("custom:key", guarded)).toEqual({ cached: true });
  });
});

/** The controller a compiled Nest source defines; see `NEST_SOURCE`. */
interface ItemsController {
  readonly find: (id: string) => Promise<string>;
  readonly create: () => Promise<string>;
}
interface ItemsControllerClass {
  new (): ItemsController;
  readonly prototype: ItemsController;
}
interface CompiledNestModule {
  readonly make: (
    circuitbreaker: AsyncCircuitBreakerFactory,
    nest: Record<string, unknown>,
    name: string,
  ) => ItemsControllerClass;
}

/** A NestJS controller, with `@circuitbreaker.decorate` above and below the route decorators. */
const NEST_SOURCE = `
export function make(circuitbreaker: any, nest: any, name: string) {
  const { Controller, Get, Post } = nest;
  @Controller("items")
  class ItemsController {
    @circuitbreaker.decorate(name)
    @Get(":id")
    async find(id: string): Promise<string> {
      if (id === "down") throw new Error("down");
      return "item " + id;
    }

    @Post()
    @circuitbreaker.decorate(name)
    async create(): Promise<string> {
      return "created";
    }
  }
  return ItemsController;
}
`;

describe("decorate, with NestJS route decorators (experimentalDecorators, emitDecoratorMetadata)", () => {
  async function setup() {
    const circuitbreaker = new AsyncCircuitBreakerFactory({ defaultThreshold: 1, defaultTtl: 10 });
    const name = circuitName("nest");
    const { make } = await compileAndImport<CompiledNestModule>(NEST_SOURCE, "experimental", "nest");
    return { circuitbreaker, name, Items: make(circuitbreaker, { Controller, Get, Post }, name) };
  }

  it("keeps Nest's route metadata when placed above @Get()", async () => {
    const { Items } = await setup();
    const find = Items.prototype.find;
    expect(Reflect.getMetadata(PATH_METADATA, find)).toBe(":id");
    expect(Reflect.getMetadata(METHOD_METADATA, find)).toBe(RequestMethod.GET);
  });

  it("keeps it when placed below @Post()", async () => {
    const { Items } = await setup();
    expect(Reflect.getMetadata(PATH_METADATA, Items.prototype.create)).toBe("/");
    expect(Reflect.getMetadata(METHOD_METADATA, Items.prototype.create)).toBe(RequestMethod.POST);
  });

  it("still guards the route handler", async () => {
    const { circuitbreaker, name, Items } = await setup();
    const items = new Items();
    await expect(items.find("1")).resolves.toBe("item 1");
    await expect(items.find("down")).rejects.toThrow("down");
    await expect(items.create()).rejects.toBeInstanceOf(CircuitOpenError);
    expect((await circuitbreaker.getBreaker(name)).state).toBe("opened");
  });
});
