/**
 * Errors that are not failures: classes, and classes with a predicate.
 * @module
 */
import { InvalidOptionError } from "./errors.js";

/** Any class (constructor) whose instances, of type `E`, may be thrown. */
export type ErrorClass<E = unknown> = abstract new (...args: never[]) => E;

/**
 * One `exclude` entry: a class (its instances are never failures), or `[class, predicate]` (its
 * instances are not failures when the predicate returns `true`). `E` is the class's instance
 * type; `ExcludeEntry` alone (`E` unknown) accepts any class and any predicate.
 *
 * @example
 * ```ts
 * const clientError: ExcludeEntry<HTTPStatusError> = [HTTPStatusError, (err) => err.status < 500];
 * const exclude: ExcludeEntry[] = [NotFoundError, clientError];
 * ```
 */
export type ExcludeEntry<E = unknown> =
  ErrorClass<E> | readonly [ErrorClass<E>, (error: unknown extends E ? never : E) => boolean];

/**
 * An `exclude` list whose predicates are typed by their classes: `X` is the tuple of the entries'
 * instance types, inferred from the list written in place, so that in
 * `[NotFoundError, [HTTPStatusError, (err) => err.status < 500]]` the predicate's `err` is an
 * `HTTPStatusError` without an annotation, and a predicate typed for another class is an error.
 * `ExcludeList` alone is a list of `ExcludeEntry`.
 *
 * @example
 * ```ts
 * const options: FactoryOptions = { exclude: [NotFoundError] }; // ExcludeList, X unknown[]
 * ```
 */
export type ExcludeList<X extends readonly unknown[] = readonly unknown[]> = {
  readonly [K in keyof X]: ExcludeEntry<X[K]>;
};

/** A validated exclude list: class and optional predicate, in order. */
export type ExcludeRules = readonly (readonly [ErrorClass, ((error: never) => boolean) | null])[];

/** The empty list of rules, shared. */
export const NO_EXCLUDE: ExcludeRules = Object.freeze([]);

/** Checks an `exclude` option and returns its rules; throws `InvalidOptionError` when malformed. */
export function toExcludeRules(value: unknown, option: string): ExcludeRules {
  if (value === undefined) return NO_EXCLUDE;
  if (!Array.isArray(value)) {
    throw new InvalidOptionError(option, value, "an array of classes or [class, predicate] pairs");
  }
  return value.map((entry: unknown, index) => {
    const where = `${option}[${index}]`;
    if (isClass(entry)) return [entry, null] as const;
    if (Array.isArray(entry) && entry.length === 2 && isClass(entry[0]) && typeof entry[1] === "function") {
      return [entry[0], entry[1] as (error: never) => boolean] as const;
    }
    const arrow = typeof entry === "function" || (Array.isArray(entry) && typeof entry[0] === "function");
    const why = arrow ? " (an arrow function or a method is not a class: it has no prototype to match)" : "";
    throw new InvalidOptionError(where, entry, `a class or a [class, predicate] pair${why}`);
  });
}

/** A function `instanceof` can match against: one with a prototype object (a class). */
function isClass(value: unknown): value is ErrorClass {
  if (typeof value !== "function") return false;
  const prototype: unknown = (value as { prototype?: unknown }).prototype;
  return typeof prototype === "object" && prototype !== null;
}

/**
 * Whether `error` is excluded: the first rule whose class matches decides, per-call rules before
 * global ones. A predicate that throws makes the error a failure (the original error is kept).
 */
export function isExcluded(error: unknown, first: ExcludeRules, then: ExcludeRules): boolean {
  if (first.length === 0 && then.length === 0) return false;
  const decided = decide(error, first);
  return decided ?? decide(error, then) ?? false;
}

function decide(error: unknown, rules: ExcludeRules): boolean | undefined {
  for (const [cls, predicate] of rules) {
    if (!isInstance(error, cls)) continue;
    if (predicate === null) return true;
    try {
      return predicate(error as never) === true;
    } catch {
      return false;
    }
  }
  return undefined;
}

function isInstance(error: unknown, cls: ErrorClass): boolean {
  try {
    return error instanceof cls;
  } catch {
    return false;
  }
}
