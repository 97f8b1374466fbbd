/**
 * Type-level checks of `exclude`, compiled by `tsc --noEmit` (`npm run typecheck`) and never run:
 * a `[class, predicate]` pair types its predicate's argument as an instance of its class, with no
 * annotation, and a predicate typed for another class does not compile.
 */
import {
  AsyncCircuitBreakerFactory,
  SyncCircuitBreakerFactory,
  type ExcludeEntry,
  type FactoryOptions,
} from "../../src/index.js";

class NotFoundError extends Error {}
class HTTPStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}
class DatabaseError extends Error {
  constructor(readonly query: string) {
    super(query);
  }
}

/** `true` only when `A` and `B` are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(check: Equal<A, B>): Equal<A, B> => check;

// The Quick start's list: err is an HTTPStatusError, inferred, for both factories.
const circuitbreaker = new AsyncCircuitBreakerFactory({
  exclude: [NotFoundError, [HTTPStatusError, (err) => same<typeof err, HTTPStatusError>(true) && err.status < 500]],
});
new SyncCircuitBreakerFactory({ exclude: [[HTTPStatusError, (err) => err.status < 500]] });

// The same inference in every per-call option.
export async function perCall(): Promise<void> {
  await circuitbreaker.getBreaker("a", {
    exclude: [[DatabaseError, (err) => same<typeof err, DatabaseError>(true) && err.query !== ""]],
  });
  await circuitbreaker.run("a", async () => 1, {
    exclude: [TypeError, [HTTPStatusError, (err) => err.status === 404]],
  });
  circuitbreaker.decorate("a", { exclude: [[HTTPStatusError, (err) => err.status === 409]] });
  new SyncCircuitBreakerFactory().run("s", () => 1, { exclude: [[HTTPStatusError, (err) => err.status > 1]] });
}

// A predicate typed for another class, or for a subclass of the entry's class, does not compile.
// @ts-expect-error: DatabaseError is not what HTTPStatusError's instances are.
new AsyncCircuitBreakerFactory({ exclude: [[HTTPStatusError, (err: DatabaseError) => err.query === ""]] });
// @ts-expect-error: the same in a per-call option.
void circuitbreaker.getBreaker("b", { exclude: [[HTTPStatusError, (err: DatabaseError) => err.query === ""]] });
// @ts-expect-error: a predicate for HTTPStatusError cannot judge every Error.
void circuitbreaker.run("b", () => 1, { exclude: [[Error, (err: HTTPStatusError) => err.status === 1]] });
// @ts-expect-error: the inferred argument has no such field.
new SyncCircuitBreakerFactory({ exclude: [[HTTPStatusError, (err) => err.query === ""]] });
// @ts-expect-error: an arrow function is not a class.
new AsyncCircuitBreakerFactory({ exclude: [(err: unknown) => err instanceof HTTPStatusError] });
// @ts-expect-error: a class name is not a class.
new AsyncCircuitBreakerFactory({ exclude: ["NotFoundError"] });

// A predicate for a wider type (Error) is fine: it can judge any HTTPStatusError.
new AsyncCircuitBreakerFactory({ exclude: [[HTTPStatusError, (err: Error) => err.message === ""]] });

// Lists built beforehand: typed entries, `as const` pairs, and `ExcludeEntry[]`.
const clientError: ExcludeEntry<HTTPStatusError> = [HTTPStatusError, (err) => err.status < 500];
const asConst = [HTTPStatusError, (err: HTTPStatusError) => err.status < 500] as const;
const prebuilt: ExcludeEntry[] = [NotFoundError, clientError, asConst];
new AsyncCircuitBreakerFactory({ exclude: prebuilt });
new AsyncCircuitBreakerFactory({ exclude: [clientError, asConst, NotFoundError] });
const options: FactoryOptions = { defaultThreshold: 3, exclude: [NotFoundError, asConst] };
new AsyncCircuitBreakerFactory(options);

// The inferred type parameter does not leak: a factory is an AsyncCircuitBreakerFactory.
export const factory: AsyncCircuitBreakerFactory = circuitbreaker;
