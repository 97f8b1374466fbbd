/**
 * `decorate`: one function that is a higher-order function, a standard (TC39) method decorator
 * and a legacy (`experimentalDecorators`) method decorator.
 * @module
 */
import { InvalidOptionError } from "./errors.js";

/** A circuit name, or a function of the wrapped call's arguments (and `this`) returning it. */
export type CircuitNameSource = string | ((...args: never[]) => string);

/**
 * What a wrapped function returns: a promise for the async factory, the value for the sync one;
 * or what the decorator's `fallback` returns (`F`, `never` without one).
 */
export type DecoratedFunction<M extends "async" | "sync", This, A extends unknown[], R, F = never> = M extends "async"
  ? (this: This, ...args: A) => Promise<Awaited<R> | Awaited<F>>
  : (this: This, ...args: A) => R | F;

/**
 * What a method decorated by a factory of mode `M` must return: a promise (any `PromiseLike`) for
 * the async factory, whose wrapper returns a promise; anything for the sync factory.
 */
export type DecoratableResult<M extends "async" | "sync"> = M extends "async" ? PromiseLike<unknown> : unknown;

/**
 * What `factory.decorate(name)` returns. Call it with a function to wrap it, or use it as a method
 * decorator in either TypeScript decorator mode. As a decorator of the async factory it accepts
 * only methods that return a promise: the wrapper returns one, so a synchronous method would
 * change type silently (a compile error instead). `F` is what its `fallback` returns (`never`
 * without one): a method decorated with a fallback must declare a result type that includes it.
 *
 * @typeParam M - `"async"` for an async factory's decorator, `"sync"` for a sync factory's.
 * @typeParam F - What the `fallback` returns (`never` without one).
 *
 * @example
 * ```ts
 * const guarded = circuitbreaker.decorate("api")(async (id: string) => fetchUser(id));
 * class Client {
 *   @circuitbreaker.decorate("api") async getUser(id: string) { return fetchUser(id); }
 * }
 * ```
 */
export interface CircuitDecorator<M extends "async" | "sync", F = never> {
  /**
   * Wraps `fn` (any function: the async factory's wrapper returns a promise of its result). The
   * second parameter, never given, keeps this signature from matching a decorator call.
   */
  <This, A extends unknown[], R>(
    fn: (this: This, ...args: A) => R,
    context?: undefined,
  ): DecoratedFunction<M, This, A, R, F>;
  /** As a standard (TC39) method decorator; `context` is the method's decorator context. */
  <This, A extends unknown[], R extends DecoratableResult<M>>(
    method: (this: This, ...args: A) => R,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
  ): DecoratedFunction<M, This, A, R, F>;
  /**
   * As a legacy (`experimentalDecorators`) method decorator: replaces `descriptor.value`, keeping
   * the method's own properties and reflect-metadata (e.g. NestJS's route metadata).
   * @typeParam F - The method's type.
   */
  <F extends (...args: never[]) => DecoratableResult<M>>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<F>,
  ): void;
}

type Runner = (name: unknown, fn: () => unknown) => unknown;

/** @internal Builds the decorator of a factory; `run` runs a thunk under a named circuit. */
export function makeDecorator<M extends "async" | "sync">(
  nameOrFn: CircuitNameSource,
  run: Runner,
  mode: M,
): CircuitDecorator<M> {
  if (typeof nameOrFn !== "function" && (typeof nameOrFn !== "string" || nameOrFn.length === 0)) {
    throw new InvalidOptionError("name", nameOrFn, "a non-empty string or a function returning one");
  }
  const wrap = (fn: (...args: unknown[]) => unknown) => wrapFunction(fn, nameOrFn, run, mode);
  function decorator(target: unknown, context?: unknown, descriptor?: unknown): unknown {
    if (typeof target === "function" && context === undefined) return wrap(target as never);
    if (typeof target === "function" && isStandardContext(context)) {
      if (context.kind !== "method") {
        throw new InvalidOptionError("decorate", context.kind, 'a decorator on a method (kind "method")');
      }
      return wrap(target as never);
    }
    if (isMethodDescriptor(descriptor)) {
      descriptor.value = wrap(descriptor.value);
      return descriptor;
    }
    throw new InvalidOptionError("decorate", target, "a function, or a class method when used as a decorator");
  }
  return decorator as CircuitDecorator<M>;
}

function wrapFunction(
  fn: (...args: unknown[]) => unknown,
  nameOrFn: CircuitNameSource,
  run: Runner,
  mode: "async" | "sync",
): (...args: unknown[]) => unknown {
  const nameOf = nameOrFn as string | ((...args: unknown[]) => unknown);
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    const call = () => fn.apply(this, args);
    if (typeof nameOf === "string") return run(nameOf, call);
    if (mode === "sync") return run(nameOf.apply(this, args), call);
    try {
      return run(nameOf.apply(this, args), call);
    } catch (error) {
      return Promise.reject(error);
    }
  };
  Object.defineProperty(wrapped, "name", { value: fn.name, configurable: true });
  Object.defineProperty(wrapped, "length", { value: fn.length, configurable: true });
  copyMetadata(fn, wrapped);
  return wrapped;
}

/** Own properties a function has by nature; the wrapper has its own. */
const NATIVE_KEYS = new Set<PropertyKey>(["name", "length", "prototype", "arguments", "caller"]);

/** The part of reflect-metadata's API that copying needs, when it is installed. */
interface ReflectMetadata {
  getOwnMetadataKeys(target: object): unknown[];
  getOwnMetadata(key: unknown, target: object): unknown;
  defineMetadata(key: unknown, value: unknown, target: object): void;
}

/**
 * Gives the wrapper what other decorators stored on the function it replaces: its own properties,
 * and its reflect-metadata when the `reflect-metadata` polyfill is loaded (NestJS stores routes
 * there: `@circuitbreaker.decorate(...)` above `@Get()` keeps the route). Nothing is imported:
 * without the polyfill there is no such metadata to copy.
 */
function copyMetadata(from: object, to: object): void {
  for (const key of Reflect.ownKeys(from)) {
    if (NATIVE_KEYS.has(key) || Object.hasOwn(to, key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(from, key);
    if (descriptor !== undefined) Object.defineProperty(to, key, descriptor);
  }
  const metadata = Reflect as unknown as Partial<ReflectMetadata>;
  if (
    typeof metadata.getOwnMetadataKeys !== "function" ||
    typeof metadata.getOwnMetadata !== "function" ||
    typeof metadata.defineMetadata !== "function"
  ) {
    return;
  }
  for (const key of metadata.getOwnMetadataKeys(from)) {
    metadata.defineMetadata(key, metadata.getOwnMetadata(key, from), to);
  }
}

function isStandardContext(value: unknown): value is { kind: string } {
  return typeof value === "object" && value !== null && typeof (value as { kind?: unknown }).kind === "string";
}

function isMethodDescriptor(value: unknown): value is { value: (...args: unknown[]) => unknown } {
  return typeof value === "object" && value !== null && typeof (value as { value?: unknown }).value === "function";
}
