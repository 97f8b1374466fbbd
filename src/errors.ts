/**
 * The errors Purgatory throws. Each has a stable `name` and `code`; messages name the circuit, the
 * option and the value.
 *
 * `instanceof` works across copies of the package: an application that loads both the ESM and the
 * CommonJS build (the dual package hazard), or two versions, gets errors from either copy. Each
 * class's prototype carries a brand under a registered symbol (`Symbol.for`, shared by every copy
 * in the process), and each class's `Symbol.hasInstance` checks the brand.
 *
 * Past 400 lines because every error a user may catch is here, beside the branding they all
 * share: one place to read what can be thrown, each class short and mostly its documentation.
 * @module
 */
import type { CircuitScope } from "./core/circuit.js";

/** The registered symbol under which an error's prototype names its kind. */
const KIND = Symbol.for("purgatory.error.kind");

type ErrorKind =
  | "CircuitOpenError"
  | "InvalidOptionError"
  | "FactoryClosedError"
  | "CallTimeoutError"
  | "CircuitLimitError"
  | "StorageUnavailableError";

/** Whether `value` is an error of `kind` made by any copy of this package. */
function hasKind(value: unknown, kind: ErrorKind): boolean {
  return typeof value === "object" && value !== null && (value as { [KIND]?: unknown })[KIND] === kind;
}

/** `instanceof` for a class `cls` of kind `kind`: by brand for the class itself, by prototype for subclasses. */
function isInstance(
  cls: abstract new (...args: never[]) => unknown,
  self: unknown,
  kind: ErrorKind,
  value: unknown,
): boolean {
  return self === cls ? hasKind(value, kind) : Function.prototype[Symbol.hasInstance].call(self, value);
}

/** Gives the prototype of an error class its stable `name` and its brand. */
function brand(cls: { prototype: object }, kind: ErrorKind): void {
  Object.defineProperty(cls.prototype, "name", { value: kind, enumerable: false });
  Object.defineProperty(cls.prototype, KIND, { value: kind, enumerable: false });
}

/**
 * Gives an error built under `Error.stackTraceLimit = 0` the stack V8 writes then, its first line
 * alone (`Name: message`): JavaScriptCore (Bun) writes no stack at all, and a logger printing
 * `error.stack` would print `undefined`. Where V8 made one (Node, Deno), it is left unread: reading
 * it would format it, on every rejected call.
 */
function keepFirstLine(error: Error): void {
  if (!Object.hasOwn(error, "stack")) error.stack = `${error.name}: ${error.message}`;
}

/**
 * Thrown (or rejected with) instead of running the guarded code when a circuit is opened, or when
 * it is half-opened and every probe slot is taken.
 *
 * It carries no stack frames: it is built on every rejected call, and where it was thrown is told
 * by `circuitName`, not by a stack. That keeps fail-fast calls cheap.
 *
 * @example
 * ```ts
 * try {
 *   await breaker.run(() => fetch(url));
 * } catch (err) {
 *   if (err instanceof CircuitOpenError) setTimeout(retry, err.retryAfterMs);
 * }
 * ```
 */
export class CircuitOpenError extends Error {
  /** Stable error code. */
  readonly code = "PURGATORY_CIRCUIT_OPEN";
  /** The circuit that rejected the call. */
  readonly circuitName: string;
  /** When the circuit opened, epoch ms. */
  readonly openedAt: number;
  /**
   * Milliseconds until a call may run as a probe. For an isolated circuit no time is known: it is
   * the circuit's ttl, a polite interval to ask again.
   */
  readonly retryAfterMs: number;
  /** Whether an operator isolated the circuit (`breaker.isolate()`): it opens only by a reset. */
  readonly isolated: boolean;
  /**
   * `"fleet"`: the circuit is open (for every process sharing it). `"process"`: the circuit has a
   * `quorum`, the failures of this process alone met its trip rule, and it is open for this process
   * only; the other processes keep calling.
   */
  readonly scope: CircuitScope;

  /**
   * Builds the error for circuit `circuitName`. The message is `Circuit <name> is open` (or
   * `is isolated`, or `is open in this process`); a name longer than 200 characters is shortened
   * there (with "..."), never in `circuitName`.
   */
  constructor(
    circuitName: string,
    openedAt: number,
    retryAfterMs: number,
    isolated = false,
    scope: CircuitScope = "fleet",
  ) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    const state = isolated ? "isolated" : scope === "process" ? "open in this process" : "open";
    super(`Circuit ${clipName(circuitName)} is ${state}`);
    Error.stackTraceLimit = limit;
    keepFirstLine(this);
    this.circuitName = circuitName;
    this.openedAt = openedAt;
    this.retryAfterMs = retryAfterMs;
    this.isolated = isolated;
    this.scope = scope;
  }

  /** `instanceof` that also recognises a `CircuitOpenError` from another copy of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(CircuitOpenError, this, "CircuitOpenError", value);
  }
}
brand(CircuitOpenError, "CircuitOpenError");

/**
 * Whether `value` is a `CircuitOpenError` (or a subclass), from this copy of the package or any
 * other (ESM and CommonJS builds loaded side by side). Same answer as `instanceof`.
 *
 * @example
 * ```ts
 * const result = await breaker.run(() => fetch(url)).catch((err: unknown) => {
 *   if (isCircuitOpenError(err)) return cached;
 *   throw err;
 * });
 * ```
 */
export function isCircuitOpenError(value: unknown): value is CircuitOpenError {
  return hasKind(value, "CircuitOpenError");
}

/**
 * Thrown at once for bad input: a bad option, argument or circuit name. `option` names what was
 * wrong and `value` holds what was passed.
 *
 * @example
 * ```ts
 * new AsyncCircuitBreakerFactory({ defaultThreshold: 0 });
 * // InvalidOptionError: Invalid option "defaultThreshold": expected an integer from 1 to
 * // Number.MAX_SAFE_INTEGER, got 0
 * ```
 */
export class InvalidOptionError extends TypeError {
  /** Stable error code. */
  readonly code = "PURGATORY_INVALID_OPTION";
  /** The option or argument that was wrong. */
  readonly option: string;
  /** The value that was passed. */
  readonly value: unknown;

  /**
   * Builds the error: `expected` says what would have been accepted. The message is
   * `Invalid option "<option>": expected <expected>, got <value>`, with the option and the value
   * shortened to keep it short; `message`, when given, replaces it whole.
   */
  constructor(option: string, value: unknown, expected: string, message?: string) {
    super(message ?? `Invalid option ${quote(option)}: expected ${expected}, got ${describeValue(value)}`);
    this.option = option;
    this.value = value;
  }

  /** `instanceof` that also recognises an `InvalidOptionError` from another copy of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(InvalidOptionError, this, "InvalidOptionError", value);
  }
}
brand(InvalidOptionError, "InvalidOptionError");

/**
 * Whether `value` is an `InvalidOptionError`, from any copy of the package; see
 * `isCircuitOpenError`.
 *
 * @example
 * ```ts
 * try { new AsyncCircuitBreakerFactory(options); } catch (err) { if (isInvalidOptionError(err)) console.error(err.option); }
 * ```
 */
export function isInvalidOptionError(value: unknown): value is InvalidOptionError {
  return hasKind(value, "InvalidOptionError");
}

/**
 * Thrown (or rejected with) by a factory after `close()`: by `initialize()`, and by every call that
 * would use a circuit, new or known, through `getBreaker`, `run`, a decorated function or a
 * breaker handed out before (its storage is closed). `close()` itself may be called again.
 *
 * @example
 * ```ts
 * await circuitbreaker.close();
 * await circuitbreaker.run("api", () => fetch(url)); // rejects: FactoryClosedError
 * ```
 */
export class FactoryClosedError extends Error {
  /** Stable error code. */
  readonly code = "PURGATORY_FACTORY_CLOSED";
  /** The circuit the call named, or `undefined` for `initialize()`. */
  readonly circuitName: string | undefined;

  /**
   * Builds the error: `Cannot use circuit <name>: the factory is closed`, or `The factory is
   * closed` without a circuit.
   */
  constructor(circuitName?: string) {
    super(
      circuitName === undefined
        ? "The factory is closed"
        : `Cannot use circuit ${clipName(circuitName)}: the factory is closed`,
    );
    this.circuitName = circuitName;
  }

  /** `instanceof` that also recognises a `FactoryClosedError` from another copy of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(FactoryClosedError, this, "FactoryClosedError", value);
  }
}
brand(FactoryClosedError, "FactoryClosedError");

/**
 * Whether `value` is a `FactoryClosedError`, from any copy of the package; see
 * `isCircuitOpenError`.
 *
 * @example
 * ```ts
 * await circuitbreaker.run("api", call).catch((err: unknown) => (isFactoryClosedError(err) ? null : Promise.reject(err)));
 * ```
 */
export function isFactoryClosedError(value: unknown): value is FactoryClosedError {
  return hasKind(value, "FactoryClosedError");
}

/**
 * Rejected with when a guarded call has not settled within its `timeout` (async factory). The call
 * counts as a failure (a probe that times out opens the circuit again), the signal handed to the
 * guarded function aborts with this error as its `reason`, and whatever the function does later is
 * ignored. A `fallback` is called with it.
 *
 * Like `CircuitOpenError`, it carries no stack frames: it is made by the factory's timer, whose
 * stack says nothing, and a burst of timeouts stays cheap. `circuitName` tells where it came from.
 *
 * @example
 * ```ts
 * try {
 *   await breaker.run((signal) => fetch(url, { signal }), { timeout: 2 });
 * } catch (err) {
 *   if (err instanceof CallTimeoutError) console.warn(`${err.circuitName}: no answer in ${err.timeoutMs} ms`);
 * }
 * ```
 */
export class CallTimeoutError extends Error {
  /** Stable error code. */
  readonly code = "PURGATORY_CALL_TIMEOUT";
  /** The circuit whose call timed out. */
  readonly circuitName: string;
  /** The timeout the call had, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Builds the error: `Call on circuit <name> timed out after <timeoutMs> ms`, the name shortened
   * as in `CircuitOpenError`'s message.
   */
  constructor(circuitName: string, timeoutMs: number) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`Call on circuit ${clipName(circuitName)} timed out after ${timeoutMs} ms`);
    Error.stackTraceLimit = limit;
    keepFirstLine(this);
    this.circuitName = circuitName;
    this.timeoutMs = timeoutMs;
  }

  /** `instanceof` that also recognises a `CallTimeoutError` from another copy of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(CallTimeoutError, this, "CallTimeoutError", value);
  }
}
brand(CallTimeoutError, "CallTimeoutError");

/**
 * Whether `value` is a `CallTimeoutError`, from any copy of the package; see `isCircuitOpenError`.
 *
 * @example
 * ```ts
 * const page = await breaker.run((signal) => fetch(url, { signal }), { timeout: 2 }).catch((err: unknown) => {
 *   if (isCallTimeoutError(err)) return cachedPage;
 *   throw err;
 * });
 * ```
 */
export function isCallTimeoutError(value: unknown): value is CallTimeoutError {
  return hasKind(value, "CallTimeoutError");
}

/**
 * Thrown (or rejected with) instead of registering a new circuit when the factory already holds
 * `maxCircuits` circuits and none of them can be forgotten to make room: every one is opened,
 * half-opened, isolated, disabled or busy (used since the factory last looked). The call does not
 * run and nothing is counted. Circuits already registered keep working.
 *
 * Like `CircuitOpenError`, it carries no stack frames: under a flood of new names (hosts chosen
 * by whoever controls the URLs) it is made for every refused call, and it must stay cheap.
 *
 * @example
 * ```ts
 * const circuitbreaker = new AsyncCircuitBreakerFactory({ maxCircuits: 10_000 });
 * try {
 *   await circuitbreaker.run(new URL(url).host, () => fetch(url));
 * } catch (err) {
 *   if (err instanceof CircuitLimitError) console.warn(`${err.circuitName}: ${err.limit} circuits already`);
 * }
 * ```
 */
export class CircuitLimitError extends Error {
  /** Stable error code. */
  readonly code = "PURGATORY_CIRCUIT_LIMIT";
  /** The circuit that could not be registered. */
  readonly circuitName: string;
  /** The bound that was reached (the factory's `maxCircuits`, or `circuitFetch`'s). */
  readonly limit: number;

  /**
   * Builds the error: `Cannot register circuit <name>: <limit> circuits are held (maxCircuits)
   * and none is closed and idle`, the name shortened as in `CircuitOpenError`'s message.
   */
  constructor(circuitName: string, limit: number) {
    const stackLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(
      `Cannot register circuit ${clipName(circuitName)}: ${limit} circuits are held (maxCircuits) ` +
        "and none is closed and idle",
    );
    Error.stackTraceLimit = stackLimit;
    keepFirstLine(this);
    this.circuitName = circuitName;
    this.limit = limit;
  }

  /** `instanceof` that also recognises a `CircuitLimitError` from another copy of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(CircuitLimitError, this, "CircuitLimitError", value);
  }
}
brand(CircuitLimitError, "CircuitLimitError");

/**
 * Whether `value` is a `CircuitLimitError`, from any copy of the package; see
 * `isCircuitOpenError`.
 *
 * @example
 * ```ts
 * const res = await get(url).catch((err: unknown) => {
 *   if (isCircuitLimitError(err)) return new Response(null, { status: 503 });
 *   throw err;
 * });
 * ```
 */
export function isCircuitLimitError(value: unknown): value is CircuitLimitError {
  return hasKind(value, "CircuitLimitError");
}

/**
 * Rejected with by `factory.initialize({ requireStorage: true })` when the storage could not reach
 * its server (Redis down, a wrong address, a refused password): for an application that would
 * rather not start than run on local circuit state only. `storage` names the storage (its
 * `location`, a URL with the password masked, when it tells one; else its class name), and
 * `cause` holds why it could not connect, when the storage said.
 *
 * Without `requireStorage`, `initialize()` resolves in that case and the storage works degraded
 * (see `RedisStorage`), reconnecting by itself; so it does after this rejection too: call
 * `initialize({ requireStorage: true })` again to check again, or `close()`.
 *
 * @example
 * ```ts
 * try {
 *   await circuitbreaker.initialize({ requireStorage: true });
 * } catch (err) {
 *   if (err instanceof StorageUnavailableError) {
 *     console.error(`cannot start: ${err.message}`);
 *     process.exit(1);
 *   }
 *   throw err;
 * }
 * ```
 */
export class StorageUnavailableError extends Error {
  /** Stable error code. */
  readonly code = "PURGATORY_STORAGE_UNAVAILABLE";
  /** The storage: its `location` (a URL, password masked) when it has one, else its class name. */
  readonly storage: string;

  /**
   * Builds the error: `The storage <storage> is unavailable: <the cause's message>`; `cause`, when
   * given, is also kept as the standard `cause`.
   */
  constructor(storage: string, cause?: unknown) {
    const why = cause === undefined ? "it could not reach its server" : describeCause(cause);
    super(`The storage ${clip(storage, NAME_MAX)} is unavailable: ${why}`, cause === undefined ? undefined : { cause });
    this.storage = storage;
  }

  /** `instanceof` that also recognises a `StorageUnavailableError` from another copy of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(StorageUnavailableError, this, "StorageUnavailableError", value);
  }
}
brand(StorageUnavailableError, "StorageUnavailableError");

/**
 * Whether `value` is a `StorageUnavailableError`, from any copy of the package; see
 * `isCircuitOpenError`.
 *
 * @example
 * ```ts
 * await circuitbreaker.initialize({ requireStorage: true }).catch((err: unknown) => {
 *   if (isStorageUnavailableError(err)) process.exitCode = 2;
 *   throw err;
 * });
 * ```
 */
export function isStorageUnavailableError(value: unknown): value is StorageUnavailableError {
  return hasKind(value, "StorageUnavailableError");
}

/** A cause in a message: an error's message (an `AggregateError`'s first one), else the value. */
function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const first: unknown = cause instanceof AggregateError ? cause.errors[0] : undefined;
    const message = cause.message || (first instanceof Error ? first.message : "") || cause.name;
    return clip(message, NAME_MAX);
  }
  return describeValue(cause);
}

/** The longest a value is shown in an error message, in characters. */
const SHOWN_MAX = 80;
/** The longest a circuit name is shown in an error message, in characters. */
const NAME_MAX = 200;

/** `text`, cut to `max` characters with "..." when longer. */
export function clip(text: string, max = SHOWN_MAX): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** A circuit name as shown in a message: whole unless longer than 200 characters. */
export function clipName(name: string): string {
  return name.length > NAME_MAX ? clip(name, NAME_MAX) : name;
}

/** An option name in double quotes, shortened like a value. */
export function quote(option: string): string {
  return `"${clip(option)}"`;
}

/**
 * A short, safe rendering of any value for an error message, at most about 80 characters; never
 * throws (a getter or a proxy that throws renders as "a value").
 *
 * @example
 * ```ts
 * describeValue("x"); // '"x"'
 * ```
 */
export function describeValue(value: unknown): string {
  try {
    return clip(render(value), SHOWN_MAX + 2);
  } catch {
    return "a value";
  }
}

function render(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(clip(value));
    case "function":
      return value.name ? `function ${clip(String(value.name))}` : "an anonymous function";
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "object":
      if (value === null) return "null";
      if (Array.isArray(value)) return `an array of length ${value.length}`;
      if (typeof (value as { then?: unknown }).then === "function") return "a promise";
      return `an object (${Object.prototype.toString.call(value)})`;
    default:
      return String(value);
  }
}
