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

// A higher-order function keeps the parameter types and returns a promise (async factory) or
// the value (sync factory).
const get: (url: string) => Promise<number> = circuitbreaker.decorate((url: string) => new URL(url).host)(
  async (url: string) => url.length,
);
const parse: (text: string) => number = sync.decorate("parser")((text: string) => Number(text));
// @ts-expect-error: the async wrapper returns a promise, not the value.
const notAValue: (url: string) => number = circuitbreaker.decorate("x")((url: string) => url.length);

export const used = [get, parse, notAValue];
