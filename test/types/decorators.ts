/**
 * Type-level checks of `decorate`, compiled by `tsc --noEmit` (this project uses standard TC39
 * decorators) and never run: the test runner cannot execute decorator syntax itself, so
 * `test/decorate.test.ts` runs TypeScript's output of both decorator modes instead.
 */
import { AsyncCircuitBreakerFactory, SyncCircuitBreakerFactory } from "../../src/index.js";

const circuitbreaker = new AsyncCircuitBreakerFactory();
const sync = new SyncCircuitBreakerFactory();

export class Client {
  constructor(readonly base: string) {}

  @circuitbreaker.decorate("www.example.com")
  async getPage(path: string): Promise<string> {
    return this.base + path;
  }

  @circuitbreaker.decorate((host: string) => host)
  async byHost(host: string, path: string): Promise<string> {
    return host + path;
  }

  @sync.decorate("parser")
  parse(text: string): unknown {
    return JSON.parse(text);
  }
}

// The async factory decorates only methods that return a promise: its wrapper returns one.
export class Mistakes {
  // @ts-expect-error: parse returns a value, the wrapper would return a promise of it.
  @circuitbreaker.decorate("parser")
  parse(text: string): unknown {
    return JSON.parse(text);
  }

  // @ts-expect-error: a void method too: callers would not know it now returns a promise.
  @circuitbreaker.decorate("logger")
  log(line: string): void {
    console.log(line);
  }

  // A method declared to return a PromiseLike is fine: the wrapper's promise is one.
  @circuitbreaker.decorate("thenable")
  later(): PromiseLike<number> {
    return Promise.resolve(1);
  }
}

// A higher-order function keeps the parameter types and returns a promise (async factory) or
// the value (sync factory).
const get: (url: string) => Promise<number> = circuitbreaker.decorate((url: string) => new URL(url).host)(
  async (url: string) => url.length,
);
const parse: (text: string) => number = sync.decorate("parser")((text: string) => Number(text));
// @ts-expect-error: the async wrapper returns a promise, not the value.
const notAValue: (url: string) => number = circuitbreaker.decorate("x")((url: string) => url.length);

export const used = [get, parse, notAValue];
