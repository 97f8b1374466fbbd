/**
 * The errors Purgatory throws. Each has a stable `name` and `code`; messages name the circuit, the
 * option and the value.
 * @module
 */

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
  /** Milliseconds until a call may run as a probe. */
  readonly retryAfterMs: number;

  /**
   * Builds the error for circuit `circuitName`. The message is `Circuit <name> is open`; a name
   * longer than 200 characters is shortened there (with "..."), never in `circuitName`.
   */
  constructor(circuitName: string, openedAt: number, retryAfterMs: number) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`Circuit ${clipName(circuitName)} is open`);
    Error.stackTraceLimit = limit;
    this.circuitName = circuitName;
    this.openedAt = openedAt;
    this.retryAfterMs = retryAfterMs;
  }
}
Object.defineProperty(CircuitOpenError.prototype, "name", {
  value: "CircuitOpenError",
  enumerable: false,
});

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
}
Object.defineProperty(InvalidOptionError.prototype, "name", {
  value: "InvalidOptionError",
  enumerable: false,
});

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
