/**
 * Type-level checks of the guarded function's signal, `timeout`, `signal` and `fallback`,
 * compiled by `tsc --noEmit` (`npm run typecheck`) and never run: the async breaker's `fn` gets
 * an `AbortSignal` (a zero-argument function is still fine), a result type includes what the
 * fallback returns, the inference of `exclude` and `isFailure` survives next to them, and the sync
 * factory's options have no `timeout` or `signal`.
 */
import {
  AsyncCircuitBreakerFactory,
  SyncCircuitBreakerFactory,
  type AsyncCircuitBreaker,
  type SyncCircuitBreaker,
} from "../../src/index.js";

/** `true` only when `A` and `B` are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(check: Equal<A, B>): Equal<A, B> => check;
/** Compiles only when `value`'s type is exactly `T`: `exactly<number>()(1)`. */
const exactly =
  <T>() =>
  <V>(value: V, ..._check: Equal<V, T> extends true ? [] : [mismatch: never]): V =>
    value;

class HTTPStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}
interface Reply {
  readonly status: number;
}
declare const reply: Promise<Reply>;
declare const request: { readonly signal: AbortSignal };

const circuitbreaker = new AsyncCircuitBreakerFactory();
const sync = new SyncCircuitBreakerFactory();

export async function asyncBreaker(): Promise<void> {
  const breaker = await circuitbreaker.getBreaker("api");
  // The function gets an AbortSignal; one that takes no argument is still accepted.
  void exactly<Promise<number>>()(breaker.run(async () => 1));
  void exactly<Promise<Reply>>()(breaker.run((signal) => (exactly<AbortSignal>()(signal), reply)));
  // Call options: a caller's signal, a timeout, a fallback, whose type joins the result's.
  void exactly<Promise<number | string>>()(
    breaker.run(async () => 1, { signal: request.signal, timeout: 2, fallback: () => "cached" }),
  );
  void exactly<Promise<number | null>>()(breaker.run(async () => 1, { fallback: async () => null }));
  void exactly<Promise<number>>()(
    breaker.run(async () => 1, {
      fallback: (error) => {
        throw exactly<unknown>()(error);
      },
    }),
  );
  // @ts-expect-error: a timeout is a number of seconds.
  void breaker.run(async () => 1, { timeout: "2s" });
  // @ts-expect-error: exclude belongs to getBreaker, run and decorate, not to one breaker call.
  void breaker.run(async () => 1, { exclude: [TypeError] });
}

export async function breakerDefaults(): Promise<void> {
  // A breaker's fallback types every call of that breaker; a call's own replaces it.
  const breaker = await circuitbreaker.getBreaker("api", { timeout: 5, fallback: () => null });
  exactly<AsyncCircuitBreaker<null>>()(breaker);
  void exactly<Promise<number | null>>()(breaker.run(async () => 1));
  void exactly<Promise<number | string>>()(breaker.run(async () => 1, { fallback: () => "call's" }));
  // Without a fallback, nothing joins the result.
  const bare = await circuitbreaker.getBreaker("api", { timeout: 5 });
  exactly<AsyncCircuitBreaker>()(bare);
  // A breaker without a fallback may stand for one with; not the other way round, whose calls
  // would claim never to resolve with the fallback's value.
  const wider: AsyncCircuitBreaker<null> = bare;
  // @ts-expect-error: this breaker's calls may resolve with null.
  const narrower: AsyncCircuitBreaker = breaker;
  void [wider, narrower];
  // @ts-expect-error: a signal belongs to one call, not to a breaker.
  await circuitbreaker.getBreaker("api", { signal: request.signal });
}

export async function oneLiner(): Promise<void> {
  // isFailure is still typed from fn's result, exclude's predicates from their classes, with a
  // signal, a timeout and a fallback next to them.
  const res = await circuitbreaker.run("api", (signal) => (exactly<AbortSignal>()(signal), reply), {
    isFailure: (r) => same<typeof r, Reply>(true) && r.status >= 500,
    exclude: [[HTTPStatusError, (err) => same<typeof err, HTTPStatusError>(true) && err.status === 404]],
    signal: request.signal,
    timeout: 2,
    fallback: () => undefined,
  });
  exactly<Reply | undefined>()(res);
  void exactly<Promise<number>>()(circuitbreaker.run("api", () => 1));
  // @ts-expect-error: isFailure judges what fn resolves to (a Reply), which has no `ok`.
  void circuitbreaker.run("api", () => reply, { isFailure: (r) => r.ok === true, fallback: () => null });
}

// A decorated function's result includes its decorator's fallback.
const find = circuitbreaker.decorate("users", { fallback: () => null })(async (id: string) => ({ id }));
exactly<(id: string) => Promise<{ id: string } | null>>()(find);

export class Client {
  // A method decorated with a fallback its declared result type includes is fine...
  @circuitbreaker.decorate("users", { timeout: 1, fallback: () => null })
  async find(id: string): Promise<{ id: string } | null> {
    return { id };
  }

  // @ts-expect-error: ...one whose result type leaves the fallback's out is not: callers would be misled.
  @circuitbreaker.decorate("users", { fallback: () => null })
  async get(id: string): Promise<{ id: string }> {
    return { id };
  }
}

export function syncFactory(): void {
  exactly<number | string>()(sync.run("parser", () => 1, { fallback: () => "default" }));
  const breaker = sync.getBreaker("parser", { fallback: () => 0 });
  exactly<SyncCircuitBreaker<number>>()(breaker);
  // @ts-expect-error: this breaker's calls may return the fallback's number.
  const narrower: SyncCircuitBreaker = breaker;
  void narrower;
  exactly<string | boolean>()(breaker.run(() => "1", { fallback: () => false }));
  const parse = sync.decorate("parser", { fallback: () => null })((text: string) => Number(text));
  exactly<(text: string) => number | null>()(parse);
  // The sync factory has no timeouts and no signals: nothing can interrupt synchronous code.
  // @ts-expect-error: no timeout for synchronous code.
  sync.getBreaker("parser", { timeout: 1 });
  // @ts-expect-error: no timeout in the one-liner either.
  sync.run("parser", () => 1, { timeout: 1 });
  // @ts-expect-error: no signal.
  sync.run("parser", () => 1, { signal: request.signal });
  // @ts-expect-error: nor in a call.
  breaker.run(() => 1, { signal: request.signal });
  // @ts-expect-error: a synchronous function gets no signal.
  sync.run("parser", (signal: AbortSignal) => signal.aborted);
}
